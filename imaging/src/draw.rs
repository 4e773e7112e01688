//! Lines, boxes, polygons and labels drawn into an [`Rgb`] picture; everything outside the
//! picture is clipped.

use crate::{BoxPx, Color, Rgb, font};

/// A line from `a` to `b` (pixels), `thickness` pixels wide (Bresenham with a square pen).
pub fn line(img: &mut Rgb, a: [f32; 2], b: [f32; 2], color: Color, thickness: u32) {
    let (mut x0, mut y0) = (a[0].round() as i64, a[1].round() as i64);
    let (x1, y1) = (b[0].round() as i64, b[1].round() as i64);
    // A segment far outside the picture is not walked pixel by pixel.
    let limit = 4 * i64::from(img.width.max(img.height)) + 16;
    if [x0, y0, x1, y1].iter().any(|v| v.abs() > limit) {
        return;
    }
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let mut err = dx + dy;
    let half = i64::from(thickness.max(1)) / 2;
    let pen = i64::from(thickness.max(1));
    loop {
        for oy in 0..pen {
            for ox in 0..pen {
                img.put(x0 + ox - half, y0 + oy - half, color);
            }
        }
        if x0 == x1 && y0 == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x0 += sx;
        }
        if e2 <= dx {
            err += dx;
            y0 += sy;
        }
    }
}

/// The outline of a box.
pub fn rect(img: &mut Rgb, b: BoxPx, color: Color, thickness: u32) {
    let [x1, y1, x2, y2] = b;
    polygon(img, &[[x1, y1], [x2, y1], [x2, y2], [x1, y2]], color, thickness);
}

/// The closed outline of a polygon.
pub fn polygon(img: &mut Rgb, points: &[[f32; 2]], color: Color, thickness: u32) {
    for (i, a) in points.iter().enumerate() {
        let b = points[(i + 1) % points.len()];
        line(img, *a, b, color, thickness);
    }
}

/// A filled rectangle, clipped.
pub fn fill(img: &mut Rgb, x: i64, y: i64, w: u32, h: u32, color: Color) {
    for yy in y.max(0)..(y + i64::from(h)).min(i64::from(img.height)) {
        for xx in x.max(0)..(x + i64::from(w)).min(i64::from(img.width)) {
            img.put(xx, yy, color);
        }
    }
}

/// `text` in `color` on a black band, its top-left corner at (x, y), kept inside the picture.
pub fn label(img: &mut Rgb, x: f32, y: f32, text: &str, color: Color, scale: u32) {
    let (w, h) = font::size(text, scale);
    let pad = i64::from(scale);
    let x = (x.round() as i64).clamp(0, (i64::from(img.width) - i64::from(w) - 2 * pad).max(0));
    let y = (y.round() as i64).clamp(0, (i64::from(img.height) - i64::from(h) - 2 * pad).max(0));
    fill(img, x, y, w + 2 * pad as u32, h + 2 * pad as u32, Color::BLACK);
    font::text(img, x + pad, y + pad, text, color, scale);
}

/// A scale that suits a picture `height` pixels high (1 up to 480 px, then larger).
pub fn scale_for(height: u32) -> u32 {
    (height / 480).clamp(1, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_outline_colours_its_edges_and_leaves_its_inside() {
        let mut img = Rgb::filled(40, 30, Color::BLACK);
        rect(&mut img, [5.0, 5.0, 30.0, 20.0], Color::RED, 1);
        for (x, y) in [(5, 5), (30, 5), (30, 20), (5, 20), (17, 5), (5, 12)] {
            assert_eq!(img.pixel(x, y), Color::RED, "({x}, {y})");
        }
        assert_eq!(img.pixel(17, 12), Color::BLACK);
        assert_eq!(img.pixel(0, 0), Color::BLACK);
    }

    #[test]
    fn lines_outside_the_picture_are_clipped_not_drawn_forever() {
        let mut img = Rgb::filled(10, 10, Color::BLACK);
        line(&mut img, [-5.0, 5.0], [20.0, 5.0], Color::YELLOW, 3);
        assert_eq!(img.pixel(0, 5), Color::YELLOW);
        assert_eq!(img.pixel(9, 4), Color::YELLOW);
        line(&mut img, [-1e9, 0.0], [1e9, 0.0], Color::RED, 1);
        assert_eq!(img.pixel(3, 0), Color::BLACK);
    }

    #[test]
    fn labels_stay_inside_the_picture() {
        let mut img = Rgb::filled(60, 20, Color::SLATE);
        label(&mut img, 55.0, 15.0, "#12", Color::WHITE, 1);
        let lit = (0..60).flat_map(|x| (0..20).map(move |y| (x, y))).filter(|&(x, y)| img.pixel(x, y) == Color::WHITE).count();
        assert!(lit > 10, "the text is drawn ({lit} pixels)");
    }
}
