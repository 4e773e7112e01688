//! The evidence of a camera without pictures: the track's path over the camera's lines and
//! zones, drawn from its boxes' ground points (bottom centres), with its speed along the way
//! and the point of the violation marked.

use crate::draw::{fill, label, line, rect, scale_for};
use crate::scene::{Scene, overlay};
use crate::{BoxPx, Color, Rgb};

/// One observation of the track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackPoint {
    /// Event time, ms.
    pub ts_ms: u64,
    /// Its box, in the camera's pixels.
    pub bbox: BoxPx,
    /// Its speed, when calibrated.
    pub speed_kmh: Option<f64>,
}

/// What to plot.
#[derive(Clone, Debug)]
pub struct Plot<'a> {
    /// The camera's lines and zones (and frame size).
    pub scene: &'a Scene,
    /// The track, in time order.
    pub points: &'a [TrackPoint],
    /// The time of the violation (its point is marked in red).
    pub at_ms: u64,
    /// The rule's line or zone.
    pub highlight: Option<&'a str>,
    /// The heading (`speeding · cam-1 · track 7 · 62.0 km/h`).
    pub title: &'a str,
}

/// Longest side of a plot, pixels.
pub const MAX_SIDE: u32 = 960;

/// The plot as a picture (at most [`MAX_SIDE`] pixels a side, the scene's aspect ratio).
pub fn render(plot: &Plot<'_>) -> Rgb {
    let (fw, fh) = (plot.scene.width.max(1), plot.scene.height.max(1));
    let k = (MAX_SIDE as f32 / fw.max(fh) as f32).min(1.0);
    let (w, h) = (((fw as f32 * k) as u32).max(64), ((fh as f32 * k) as u32).max(64));
    let mut img = Rgb::filled(w, h, Color::SLATE);
    overlay(&mut img, plot.scene, &[], plot.highlight);
    let (sx, sy) = (w as f32 / fw as f32, h as f32 / fh as f32);
    let foot = |b: &BoxPx| [(b[0] + b[2]) / 2.0 * sx, b[3] * sy];
    let scale = scale_for(h);
    for pair in plot.points.windows(2) {
        line(&mut img, foot(&pair[0].bbox), foot(&pair[1].bbox), Color::GREEN, 2 * scale);
    }
    // Speed labels at about eight places along the path.
    let every = (plot.points.len() / 8).max(1);
    for p in plot.points.iter().step_by(every) {
        let f = foot(&p.bbox);
        fill(&mut img, f[0] as i64 - 2, f[1] as i64 - 2, 5, 5, Color::WHITE);
        if let Some(v) = p.speed_kmh {
            label(&mut img, f[0] + 4.0, f[1] - 4.0, &format!("{v:.0}"), Color::WHITE, scale);
        }
    }
    if let Some(p) = plot.points.iter().min_by_key(|p| p.ts_ms.abs_diff(plot.at_ms)) {
        let b = [p.bbox[0] * sx, p.bbox[1] * sy, p.bbox[2] * sx, p.bbox[3] * sy];
        rect(&mut img, b, Color::RED, 2 * scale);
        let speed = p.speed_kmh.map(|v| format!(" {v:.1} km/h")).unwrap_or_default();
        label(&mut img, b[0], b[3] + 3.0, &format!("violation{speed}"), Color::RED, scale);
    }
    label(&mut img, 4.0, 4.0, plot.title, Color::WHITE, scale);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_and_the_violation_are_drawn_where_the_track_went() {
        let scene = Scene { width: 1920, height: 1080, lines: vec![], zones: vec![] };
        let points: Vec<TrackPoint> =
            (0..20).map(|i| TrackPoint { ts_ms: i * 100, bbox: [100.0 + 80.0 * i as f32, 500.0, 180.0 + 80.0 * i as f32, 600.0], speed_kmh: Some(50.0) }).collect();
        let img = render(&Plot { scene: &scene, points: &points, at_ms: 1000, highlight: None, title: "speeding" });
        assert_eq!((img.width, img.height), (960, 540));
        // The path at half scale: y = 600 / 2 = 300, between the first feet at x = 70 and 110.
        assert_eq!(img.pixel(90, 300), Color::GREEN);
        // The violation box (point 10: x 900..980, y 500..600 → 450..490, 250..300).
        assert_eq!(img.pixel(450, 270), Color::RED);
        assert_eq!(img.pixel(900, 100), Color::SLATE, "nothing drawn far from the track");
    }
}
