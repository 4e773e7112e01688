//! Pictures: an RGB frame ([`Rgb`]), what is drawn into it ([`draw`], [`font`]), what is hidden
//! in it ([`privacy`]), how it is stored ([`codec`]) and the plot of a track for cameras without
//! pictures ([`trajectory`]). Pure functions on pixel buffers: no I/O, no engine types, so the
//! engine's evidence writer and its HTTP frame endpoint share them, and tests check pixels.

pub mod codec;
pub mod draw;
pub mod font;
pub mod privacy;
pub mod scene;
pub mod trajectory;

/// An RGB24 picture, row-major, `3 × width × height` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub data: Vec<u8>,
}

impl Rgb {
    /// A picture of one colour.
    pub fn filled(width: u32, height: u32, color: Color) -> Rgb {
        // `repeat` copies in doubling blocks; a byte-wise `cycle().take().collect()` was a third
        // of the CPU of a detections replay that draws a trajectory per violation.
        let data = color.0.repeat(width as usize * height as usize);
        Rgb { width, height, data }
    }

    /// A copy of `rgb` (`3 × width × height` bytes; `None` if the length does not match).
    pub fn from_slice(width: u32, height: u32, rgb: &[u8]) -> Option<Rgb> {
        (rgb.len() == 3 * width as usize * height as usize).then(|| Rgb { width, height, data: rgb.to_vec() })
    }

    /// The pixel at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> Color {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        Color([self.data[i], self.data[i + 1], self.data[i + 2]])
    }

    /// Sets the pixel at (x, y) when it lies inside the picture.
    pub fn put(&mut self, x: i64, y: i64, color: Color) {
        if x >= 0 && y >= 0 && (x as u64) < u64::from(self.width) && (y as u64) < u64::from(self.height) {
            let i = 3 * (y as usize * self.width as usize + x as usize);
            self.data[i..i + 3].copy_from_slice(&color.0);
        }
    }
}

/// An RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color(pub [u8; 3]);

impl Color {
    /// Red: the object under violation.
    pub const RED: Color = Color([230, 40, 40]);
    /// Yellow: lines.
    pub const YELLOW: Color = Color([250, 210, 40]);
    /// Cyan: zones.
    pub const CYAN: Color = Color([40, 200, 230]);
    /// Green: other tracked objects.
    pub const GREEN: Color = Color([60, 210, 90]);
    /// White: labels.
    pub const WHITE: Color = Color([255, 255, 255]);
    /// Black: label backgrounds.
    pub const BLACK: Color = Color([0, 0, 0]);
    /// Dark grey: the background of plots.
    pub const SLATE: Color = Color([28, 32, 40]);
}

/// A box in pixels: `[x1, y1, x2, y2]`.
pub type BoxPx = [f32; 4];
