//! Per-frame quality: sharpness (variance of the Laplacian), exposure (mean grey level and the
//! share of clipped pixels) and frozen frames (mean absolute difference from the previous
//! frame). All on a half-resolution grey image, reusing the camera's buffers.

pub use itscam_types::FrameQuality;

/// Laplacian variance at which sharpness scores 1 (typical focused street scenes reach several hundred).
const SHARP_ENOUGH: f32 = 60.0;

/// Measures frames of one camera.
#[derive(Debug, Default)]
pub struct QualityMeter {
    grey: Vec<u8>,
    previous: Vec<u8>,
    frozen_threshold: f32,
}

impl QualityMeter {
    /// A meter; frames changing less than `frozen_threshold` grey levels on average are frozen.
    pub fn new(frozen_threshold: f32) -> Self {
        QualityMeter { grey: Vec::new(), previous: Vec::new(), frozen_threshold }
    }

    /// Measures an RGB24 frame.
    pub fn measure(&mut self, rgb: &[u8], width: u32, height: u32) -> FrameQuality {
        let (gw, gh) = ((width / 2) as usize, (height / 2) as usize);
        let stride = width as usize * 3;
        self.grey.clear();
        let (mut sum, mut clipped) = (0u64, 0u64);
        for y in 0..gh {
            let row = &rgb[2 * y * stride..];
            for x in 0..gw {
                let p = &row[6 * x..6 * x + 3];
                // ITU-R BT.601 luma in integer arithmetic.
                let g = ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8) as u8;
                sum += g as u64;
                clipped += (g <= 8 || g >= 247) as u64;
                self.grey.push(g);
            }
        }
        let n = (gw * gh).max(1) as f32;
        let brightness = sum as f32 / n;
        let clipped = clipped as f32 / n;
        let sharpness = laplacian_variance(&self.grey, gw, gh);
        let change = if self.previous.len() == self.grey.len() {
            self.grey.iter().zip(&self.previous).map(|(a, b)| a.abs_diff(*b) as u64).sum::<u64>() as f32 / n
        } else {
            255.0
        };
        std::mem::swap(&mut self.grey, &mut self.previous);
        let frozen = change < self.frozen_threshold;
        let sharp_score = (sharpness / SHARP_ENOUGH).min(1.0);
        // Exposure: penalise clipping and means far from mid-grey.
        let exposure_score = ((1.0 - 2.0 * clipped) * (1.0 - ((brightness - 128.0).abs() / 128.0).powi(2))).clamp(0.0, 1.0);
        let score = if frozen { 0.0 } else { sharp_score.min(exposure_score) };
        FrameQuality { sharpness, brightness, clipped, change, frozen, score }
    }
}

fn laplacian_variance(g: &[u8], w: usize, h: usize) -> f32 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let (mut sum, mut sum2, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = g[y * w + x] as i32;
            let l = g[y * w + x - 1] as i32 + g[y * w + x + 1] as i32 + g[(y - 1) * w + x] as i32 + g[(y + 1) * w + x] as i32 - 4 * c;
            sum += l as f64;
            sum2 += (l * l) as f64;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum2 / n - mean * mean) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let f = &f;
        (0..h).flat_map(|y| (0..w).flat_map(move |x| [f(x, y); 3])).collect()
    }

    #[test]
    fn sharp_scenes_score_high_and_flat_ones_low() {
        let mut m = QualityMeter::new(0.5);
        let sharp = image(160, 120, |x, y| if (x / 4 + y / 4) % 2 == 0 { 40 } else { 200 });
        let q = m.measure(&sharp, 160, 120);
        assert!(q.sharpness > SHARP_ENOUGH && q.score > 0.5, "{q:?}");
        let flat = image(160, 120, |x, _| 100 + (x / 40) as u8);
        let q = m.measure(&flat, 160, 120);
        assert!(q.score < 0.1, "{q:?}");
    }

    #[test]
    fn dark_and_blown_out_frames_fail_exposure() {
        let mut m = QualityMeter::new(0.5);
        let dark = image(160, 120, |x, y| if (x / 4 + y / 4) % 2 == 0 { 0 } else { 6 });
        assert!(m.measure(&dark, 160, 120).score < 0.1);
        let white = image(160, 120, |x, y| if (x / 4 + y / 4) % 2 == 0 { 250 } else { 255 });
        assert!(m.measure(&white, 160, 120).score < 0.1);
    }

    #[test]
    fn a_repeated_frame_is_frozen() {
        let mut m = QualityMeter::new(0.5);
        let a = image(160, 120, |x, y| ((x * 7 + y * 13) % 251) as u8);
        let first = m.measure(&a, 160, 120);
        assert!(!first.frozen && first.change == 255.0);
        let again = m.measure(&a, 160, 120);
        assert!(again.frozen && again.score == 0.0);
        let b = image(160, 120, |x, y| ((x * 7 + y * 13 + 40) % 251) as u8);
        assert!(!m.measure(&b, 160, 120).frozen);
    }
}
