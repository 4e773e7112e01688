//! Frame → model input: resize (stretch or letterbox) with `fast_image_resize` into a reused
//! buffer, then write the pixels into the batch tensor in the model's layout and value range.
//! Steady state allocates nothing.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use itscam_types::VideoFrame;

/// How a frame is fitted to the model input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// Scale each axis independently to fill the input (CenterNet's training setup).
    Stretch,
    /// Keep the aspect ratio and pad with grey 114 (YOLO's).
    Letterbox,
}

/// Tensor layout of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[H, W, 3]`.
    Nhwc,
    /// `[3, H, W]`.
    Nchw,
}

/// Where a frame landed in the model input: `input = frame * scale + pad`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    /// Frame width.
    pub frame_width: u32,
    /// Frame height.
    pub frame_height: u32,
    /// Horizontal scale, frame → input.
    pub scale_x: f32,
    /// Vertical scale, frame → input.
    pub scale_y: f32,
    /// Left padding in input pixels.
    pub pad_x: f32,
    /// Top padding in input pixels.
    pub pad_y: f32,
}

impl Geometry {
    /// Maps a point in model-input pixels back to frame pixels, clamped to the frame.
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        let fx = ((x - self.pad_x) / self.scale_x).clamp(0.0, self.frame_width as f32);
        let fy = ((y - self.pad_y) / self.scale_y).clamp(0.0, self.frame_height as f32);
        (fx, fy)
    }
}

/// Why a frame could not be prepared. Both are bugs: the video source delivers frames of
/// their stated size, and the resizer is given matching buffers.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PreprocessError {
    /// The frame's buffer does not match its size (a bug upstream).
    #[error("frame {width}x{height} has {len} bytes, expected {expected} (this is a bug)")]
    BadFrame {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes present.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The resizer refused its buffers.
    #[error("resize failed: {0} (this is a bug)")]
    Resize(String),
}

impl itscam_types::Blamed for PreprocessError {
    fn blame(&self) -> itscam_types::Blame {
        itscam_types::Blame::Bug
    }
}

/// Prepares frames for one model input size.
pub struct Preprocessor {
    resizer: Resizer,
    options: ResizeOptions,
    resized: Vec<u8>,
    input_width: u32,
    input_height: u32,
    mode: ResizeMode,
    layout: Layout,
    value_scale: f32,
}

impl std::fmt::Debug for Preprocessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preprocessor").field("input", &(self.input_width, self.input_height)).field("mode", &self.mode).finish()
    }
}

/// Grey used for letterbox padding.
const PAD: u8 = 114;

impl Preprocessor {
    /// A preprocessor for `input_width × input_height`; pixel values are multiplied by `value_scale`.
    pub fn new(input_width: u32, input_height: u32, mode: ResizeMode, layout: Layout, value_scale: f32) -> Self {
        Preprocessor {
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
            resized: Vec::with_capacity(input_width as usize * input_height as usize * 3),
            input_width,
            input_height,
            mode,
            layout,
            value_scale,
        }
    }

    /// Model input `(width, height)`.
    pub fn input_size(&self) -> (usize, usize) {
        (self.input_width as usize, self.input_height as usize)
    }

    /// Floats one image takes in the batch tensor.
    pub fn image_len(&self) -> usize {
        self.input_width as usize * self.input_height as usize * 3
    }

    /// Writes `frame` into `dst` (`image_len()` floats) and returns where it landed.
    pub fn prepare(&mut self, frame: &VideoFrame, dst: &mut [f32]) -> Result<Geometry, PreprocessError> {
        let (fw, fh) = (frame.width, frame.height);
        let expected = fw as usize * fh as usize * 3;
        if frame.rgb.len() != expected || fw == 0 || fh == 0 {
            return Err(PreprocessError::BadFrame { width: fw, height: fh, len: frame.rgb.len(), expected });
        }
        let (iw, ih) = (self.input_width, self.input_height);
        let (nw, nh, geometry) = match self.mode {
            ResizeMode::Stretch => {
                (iw, ih, Geometry { frame_width: fw, frame_height: fh, scale_x: iw as f32 / fw as f32, scale_y: ih as f32 / fh as f32, pad_x: 0.0, pad_y: 0.0 })
            }
            ResizeMode::Letterbox => {
                let s = (iw as f32 / fw as f32).min(ih as f32 / fh as f32);
                let nw = ((fw as f32 * s).round() as u32).clamp(1, iw);
                let nh = ((fh as f32 * s).round() as u32).clamp(1, ih);
                let (px, py) = ((iw - nw) / 2, (ih - nh) / 2);
                (nw, nh, Geometry { frame_width: fw, frame_height: fh, scale_x: nw as f32 / fw as f32, scale_y: nh as f32 / fh as f32, pad_x: px as f32, pad_y: py as f32 })
            }
        };
        self.resized.resize(nw as usize * nh as usize * 3, 0);
        let resized: &[u8] = if (nw, nh) == (fw, fh) {
            &frame.rgb
        } else {
            let src = ImageRef::new(fw, fh, &frame.rgb, PixelType::U8x3).map_err(|e| PreprocessError::Resize(e.to_string()))?;
            let mut dst_img = Image::from_slice_u8(nw, nh, &mut self.resized, PixelType::U8x3).map_err(|e| PreprocessError::Resize(e.to_string()))?;
            self.resizer.resize(&src, &mut dst_img, &self.options).map_err(|e| PreprocessError::Resize(e.to_string()))?;
            &self.resized
        };
        write_tensor(resized, nw, nh, &geometry, iw, ih, self.layout, self.value_scale, dst);
        Ok(geometry)
    }
}

/// Copies `nw × nh` RGB pixels at the geometry's padding into a `iw × ih` tensor, padding with grey.
#[allow(clippy::too_many_arguments)]
fn write_tensor(rgb: &[u8], nw: u32, nh: u32, g: &Geometry, iw: u32, ih: u32, layout: Layout, scale: f32, dst: &mut [f32]) {
    let (iw, ih, nw, nh) = (iw as usize, ih as usize, nw as usize, nh as usize);
    let (px, py) = (g.pad_x as usize, g.pad_y as usize);
    let pad = PAD as f32 * scale;
    match layout {
        Layout::Nhwc => {
            if (nw, nh) != (iw, ih) {
                dst.fill(pad);
            }
            for y in 0..nh {
                let src = &rgb[y * nw * 3..(y + 1) * nw * 3];
                let out = &mut dst[((y + py) * iw + px) * 3..((y + py) * iw + px + nw) * 3];
                for (o, s) in out.iter_mut().zip(src) {
                    *o = *s as f32 * scale;
                }
            }
        }
        Layout::Nchw => {
            if (nw, nh) != (iw, ih) {
                dst.fill(pad);
            }
            let plane = iw * ih;
            for y in 0..nh {
                let row = &rgb[y * nw * 3..(y + 1) * nw * 3];
                let base = (y + py) * iw + px;
                for (x, px3) in row.chunks_exact(3).enumerate() {
                    dst[base + x] = px3[0] as f32 * scale;
                    dst[plane + base + x] = px3[1] as f32 * scale;
                    dst[2 * plane + base + x] = px3[2] as f32 * scale;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> VideoFrame {
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(&f(x, y));
            }
        }
        VideoFrame { camera_id: "c".into(), ts_ms: 0, frame: 0, width: w, height: h, rgb: Arc::from(rgb) }
    }

    #[test]
    fn letterbox_pads_and_maps_points_back() {
        let mut p = Preprocessor::new(64, 64, ResizeMode::Letterbox, Layout::Nchw, 1.0 / 255.0);
        let f = frame(128, 64, |_, _| [255, 0, 0]);
        let mut dst = vec![0.0; p.image_len()];
        let g = p.prepare(&f, &mut dst).unwrap();
        assert_eq!((g.scale_x, g.scale_y, g.pad_x, g.pad_y), (0.5, 0.5, 0.0, 16.0));
        // Top rows are padding grey, the middle is red.
        assert!((dst[0] - 114.0 / 255.0).abs() < 1e-6);
        assert!((dst[32 * 64 + 10] - 1.0).abs() < 1e-6);
        assert!(dst[64 * 64 + 32 * 64 + 10].abs() < 1e-6);
        assert_eq!(g.to_frame(32.0, 48.0), (64.0, 64.0));
    }

    #[test]
    fn stretch_fills_nhwc_in_0_255() {
        let mut p = Preprocessor::new(32, 32, ResizeMode::Stretch, Layout::Nhwc, 1.0);
        let f = frame(96, 64, |x, _| if x < 48 { [10, 20, 30] } else { [200, 100, 50] });
        let mut dst = vec![0.0; p.image_len()];
        let g = p.prepare(&f, &mut dst).unwrap();
        assert_eq!((g.pad_x, g.pad_y), (0.0, 0.0));
        assert_eq!(&dst[0..3], &[10.0, 20.0, 30.0]);
        let last = (32 * 32 - 1) * 3;
        assert_eq!(&dst[last..last + 3], &[200.0, 100.0, 50.0]);
        assert_eq!(g.to_frame(16.0, 16.0), (48.0, 32.0));
    }

    #[test]
    fn steady_state_reuses_the_buffer() {
        let mut p = Preprocessor::new(64, 64, ResizeMode::Letterbox, Layout::Nchw, 1.0);
        let f = frame(320, 240, |x, y| [(x % 256) as u8, (y % 256) as u8, 7]);
        let mut dst = vec![0.0; p.image_len()];
        p.prepare(&f, &mut dst).unwrap();
        let ptr = p.resized.as_ptr();
        for _ in 0..3 {
            p.prepare(&f, &mut dst).unwrap();
        }
        assert_eq!(ptr, p.resized.as_ptr());
        assert!(matches!(p.prepare(&VideoFrame { rgb: Arc::from(vec![0u8; 5]), ..f }, &mut dst), Err(PreprocessError::BadFrame { .. })));
    }
}
