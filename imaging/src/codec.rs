//! Storing pictures: JPEG (`jpeg-encoder`, `zune-jpeg`) for frames, snapshots and clips, PNG
//! (`png`) for plots, whose flat colours JPEG would smear.

use crate::Rgb;

/// Why a picture could not be coded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The picture is larger than JPEG allows (65535 pixels a side) or empty.
    #[error("a {width}×{height} picture cannot be stored as JPEG (1 to 65535 pixels a side)")]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The encoder failed.
    #[error("cannot encode the picture: {0}")]
    Encode(String),
    /// The bytes are not a JPEG picture this decoder reads.
    #[error("not a readable JPEG picture: {0}")]
    Decode(String),
}

/// `img` as a baseline JPEG of `quality` (1–100).
pub fn encode_jpeg(img: &Rgb, quality: u8) -> Result<Vec<u8>, CodecError> {
    let (Ok(w), Ok(h)) = (u16::try_from(img.width), u16::try_from(img.height)) else {
        return Err(CodecError::Size { width: img.width, height: img.height });
    };
    if w == 0 || h == 0 {
        return Err(CodecError::Size { width: img.width, height: img.height });
    }
    let mut out = Vec::with_capacity(img.data.len() / 10);
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

/// A JPEG picture as RGB.
pub fn decode_jpeg(bytes: &[u8]) -> Result<Rgb, CodecError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    let data = decoder.decode().map_err(|e| CodecError::Decode(format!("{e:?}")))?;
    let info = decoder.info().ok_or_else(|| CodecError::Decode("no header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    Rgb::from_slice(width, height, &data).ok_or_else(|| CodecError::Decode(format!("{} bytes for {width}×{height}", data.len())))
}

/// `img` as a PNG.
pub fn encode_png(img: &Rgb) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width, img.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // fdeflate: our pictures are plots (flat colour, lines, text), which it codes several
    // times faster than zlib's default level.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(|e| CodecError::Encode(e.to_string()))?;
    writer.write_image_data(&img.data).map_err(|e| CodecError::Encode(e.to_string()))?;
    writer.finish().map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

/// A PNG of 8-bit RGB pixels (as [`encode_png`] writes them).
pub fn decode_png(bytes: &[u8]) -> Result<Rgb, CodecError> {
    let mut reader = png::Decoder::new(bytes).read_info().map_err(|e| CodecError::Decode(e.to_string()))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| CodecError::Decode(e.to_string()))?;
    if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
        return Err(CodecError::Decode(format!("{:?} {:?}: not 8-bit RGB", info.color_type, info.bit_depth)));
    }
    buf.truncate(info.buffer_size());
    Rgb::from_slice(info.width, info.height, &buf).ok_or_else(|| CodecError::Decode(format!("{} bytes for {}×{}", buf.len(), info.width, info.height)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Color;

    #[test]
    fn a_jpeg_round_trip_keeps_size_and_colours_close() {
        let mut img = Rgb::filled(96, 64, Color([20, 120, 220]));
        crate::draw::fill(&mut img, 0, 0, 48, 64, Color([240, 240, 10]));
        let bytes = encode_jpeg(&img, 90).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
        let back = decode_jpeg(&bytes).unwrap();
        assert_eq!((back.width, back.height), (96, 64));
        for (x, y, want) in [(10, 10, [240, 240, 10]), (80, 50, [20, 120, 220])] {
            let got = back.pixel(x, y).0;
            assert!(got.iter().zip(want).all(|(g, w)| (i32::from(*g) - w).abs() < 12), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert!(matches!(decode_jpeg(b"not a jpeg"), Err(CodecError::Decode(_))));
        assert!(matches!(encode_jpeg(&Rgb::filled(70_000, 1, Color::BLACK), 80), Err(CodecError::Size { .. })));
        assert!(encode_png(&Rgb::filled(4, 4, Color::RED)).unwrap().starts_with(&[0x89, b'P', b'N', b'G']));
        let mut img = Rgb::filled(50, 30, Color::SLATE);
        crate::draw::fill(&mut img, 5, 5, 10, 10, Color::RED);
        assert_eq!(decode_png(&encode_png(&img).unwrap()).unwrap().data, img.data, "lossless");
        assert!(decode_png(b"not a png").is_err());
    }
}
