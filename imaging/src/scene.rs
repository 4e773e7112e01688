//! What a camera's pictures are annotated with: its counting lines and zones ([`Scene`]) and
//! boxes with labels ([`Mark`]), drawn by [`overlay`] at any picture size.

use crate::draw::{label, line, polygon, rect, scale_for};
use crate::{BoxPx, Color, Rgb};

/// A camera's lines and zones, in the pixels of its frames.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scene {
    /// Frame width the coordinates refer to (0: the picture's own).
    pub width: u32,
    /// Frame height the coordinates refer to (0: the picture's own).
    pub height: u32,
    /// Counting lines: id, from, to.
    pub lines: Vec<(String, [f32; 2], [f32; 2])>,
    /// Zones: id, polygon.
    pub zones: Vec<(String, Vec<[f32; 2]>)>,
}

/// A box to draw, with its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// The box, in the scene's pixels.
    pub bbox: BoxPx,
    /// Its label (`#12 car 54 km/h`).
    pub label: String,
    /// Its colour.
    pub color: Color,
    /// Drawn thicker (the object under violation).
    pub bold: bool,
}

/// Draws `scene` (zones, then lines, each with its id; `highlight`: the id of the rule's line
/// or zone, drawn in red) and `marks` into `img`, scaled from the scene's size to the picture's.
pub fn overlay(img: &mut Rgb, scene: &Scene, marks: &[Mark], highlight: Option<&str>) {
    let sx = if scene.width == 0 { 1.0 } else { img.width as f32 / scene.width as f32 };
    let sy = if scene.height == 0 { 1.0 } else { img.height as f32 / scene.height as f32 };
    let p = |q: [f32; 2]| [q[0] * sx, q[1] * sy];
    let scale = scale_for(img.height);
    let thick = 2 * scale;
    for (id, poly) in &scene.zones {
        let color = if highlight == Some(id.as_str()) { Color::RED } else { Color::CYAN };
        let pts: Vec<[f32; 2]> = poly.iter().map(|q| p(*q)).collect();
        polygon(img, &pts, color, thick);
        if let Some(first) = pts.first() {
            label(img, first[0] + 3.0, first[1] + 3.0, id, color, scale);
        }
    }
    for (id, a, b) in &scene.lines {
        let color = if highlight == Some(id.as_str()) { Color::RED } else { Color::YELLOW };
        line(img, p(*a), p(*b), color, thick);
        label(img, p(*a)[0] + 3.0, p(*a)[1] - 12.0 * scale as f32, id, color, scale);
    }
    for m in marks {
        let b = [m.bbox[0] * sx, m.bbox[1] * sy, m.bbox[2] * sx, m.bbox[3] * sy];
        rect(img, b, m.color, if m.bold { 2 * thick } else { thick });
        if !m.label.is_empty() {
            label(img, b[0], b[1] - 10.0 * scale as f32, &m.label, m.color, scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_scales_the_scene_to_the_picture_and_highlights_the_rules_place() {
        let scene = Scene { width: 200, height: 100, lines: vec![("stop".into(), [0.0, 50.0], [200.0, 50.0])], zones: vec![] };
        let mut img = Rgb::filled(100, 50, Color::BLACK);
        overlay(&mut img, &scene, &[], Some("stop"));
        assert_eq!(img.pixel(50, 25), Color::RED, "the line is at half height of the half-size picture");
        let mut img = Rgb::filled(100, 50, Color::BLACK);
        let mark = Mark { bbox: [20.0, 20.0, 80.0, 60.0], label: String::new(), color: Color::GREEN, bold: false };
        overlay(&mut img, &scene, &[mark], None);
        assert_eq!(img.pixel(50, 25), Color::YELLOW);
        assert_eq!(img.pixel(10, 15), Color::GREEN, "the box's corner, scaled");
    }
}
