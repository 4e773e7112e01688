//! Hiding people: a person's whole box is pixelated with blocks large enough that no face or
//! figure can be recognised (a block is a fifth of the box's shorter side, at least 8 pixels),
//! which, unlike a light blur, cannot be undone by sharpening.

use crate::{BoxPx, Rgb};

/// Pixelates the box `b` (clipped to the picture): each block takes its mean colour.
pub fn pixelate(img: &mut Rgb, b: BoxPx) {
    let (w, h) = (img.width as i64, img.height as i64);
    let x1 = (b[0].floor() as i64).clamp(0, w);
    let y1 = (b[1].floor() as i64).clamp(0, h);
    let x2 = (b[2].ceil() as i64).clamp(0, w);
    let y2 = (b[3].ceil() as i64).clamp(0, h);
    if x2 <= x1 || y2 <= y1 {
        return;
    }
    let block = ((x2 - x1).min(y2 - y1) / 5).max(8);
    let stride = img.width as usize * 3;
    let mut by = y1;
    while by < y2 {
        let ey = (by + block).min(y2);
        let mut bx = x1;
        while bx < x2 {
            let ex = (bx + block).min(x2);
            let mut sum = [0u64; 3];
            for y in by..ey {
                let row = y as usize * stride;
                for x in bx..ex {
                    let i = row + x as usize * 3;
                    for c in 0..3 {
                        sum[c] += u64::from(img.data[i + c]);
                    }
                }
            }
            let n = ((ey - by) * (ex - bx)) as u64;
            let mean = sum.map(|s| (s / n) as u8);
            for y in by..ey {
                let row = y as usize * stride;
                for x in bx..ex {
                    let i = row + x as usize * 3;
                    img.data[i..i + 3].copy_from_slice(&mean);
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Color;

    #[test]
    fn a_pixelated_box_keeps_no_detail_and_nothing_outside_changes() {
        // A checkerboard: every pixel differs from its neighbours.
        let mut img = Rgb::filled(64, 64, Color::BLACK);
        for y in 0..64 {
            for x in 0..64 {
                if (x + y) % 2 == 0 {
                    img.put(x, y, Color::WHITE);
                }
            }
        }
        let before = img.clone();
        pixelate(&mut img, [8.0, 8.0, 48.0, 48.0]);
        // Inside: 8×8 blocks of one colour (grey, the mean of black and white).
        for y in 8..16 {
            for x in 8..16 {
                assert_eq!(img.pixel(x, y), img.pixel(8, 8));
            }
        }
        assert!((120..=135).contains(&img.pixel(8, 8).0[0]));
        // Outside: untouched.
        for (x, y) in [(0, 0), (7, 30), (48, 48), (63, 10)] {
            assert_eq!(img.pixel(x, y), before.pixel(x, y));
        }
        // Boxes partly or wholly outside are clipped.
        pixelate(&mut img, [-10.0, 60.0, 200.0, 300.0]);
        pixelate(&mut img, [100.0, 100.0, 120.0, 120.0]);
    }
}
