//! Detections as they enter the engine: one [`Frame`] per camera frame.

use crate::ObjectClass;
use serde::{Deserialize, Serialize};

/// An axis-aligned box in pixels, `x1 < x2`, `y1 < y2`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

/// A box edge this close (px) to the image border touches it, at the least.
const BORDER_PX: f32 = 1.0;
/// Standard deviations of a box edge's pixel noise within which an edge may be the border's.
const BORDER_SIGMAS: f64 = 3.0;

/// How close (px) to the image border a box edge touches it, for a detector whose box edges
/// jitter by `pixel_std` (1σ): three of those, at least one pixel. The detector (or the frame)
/// clips a box at the border and then jitters it, so an edge a pixel or two inside the border
/// is as clipped as one on it.
pub fn border_margin_px(pixel_std: f64) -> f32 {
    ((BORDER_SIGMAS * pixel_std) as f32).max(BORDER_PX)
}

impl BBox {
    /// Whether the box comes within `margin` px ([`border_margin_px`]) of the border of a
    /// `width x height` frame (a size of 0 is unknown: that side never touches). Such a box is
    /// clipped: its bottom centre is not the object's ground point.
    pub fn touches_border(&self, width: u32, height: u32, margin: f32) -> bool {
        let (w, h) = (width as f32, height as f32);
        self.x1 <= margin || self.y1 <= margin || (width > 0 && self.x2 >= w - margin) || (height > 0 && self.y2 >= h - margin)
    }

    /// Width in pixels.
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    /// Height in pixels.
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
    /// Intersection over union with another box (0 when either is empty).
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
    /// The box's ground contact point: its bottom centre.
    pub fn bottom_centre(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, self.y2)
    }
}

/// One detected object in a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// COCO class.
    pub class: ObjectClass,
    /// Detector confidence in `[0, 1]`.
    pub confidence: f32,
    /// Box in pixels.
    pub bbox: BBox,
}

/// One camera frame and everything detected in it. Frames without detections still flow so
/// that event time advances.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Frame {
    /// Camera id from the pipeline config.
    pub camera_id: String,
    /// Capture time, milliseconds since the Unix epoch (the engine's event time).
    pub ts_ms: u64,
    /// Frame number within the camera's stream.
    pub frame: u64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Detections in this frame.
    pub detections: Vec<Detection>,
    /// The model that detected them (`name@version` of the registry, or the `[model] path`
    /// file's name); `None` for detections that came in as detections.
    #[serde(default, with = "crate::serde_arc::opt_arc_str")]
    pub model_version: Option<std::sync::Arc<str>>,
}

/// JSON leaves out an absent `model_version` (the detections format has none); a binary
/// format — timely's exchange between the processes of a cluster (bincode) — writes every
/// field, since it reads fields by position.
impl Serialize for Frame {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let skip = s.is_human_readable() && self.model_version.is_none();
        let mut frame = s.serialize_struct("Frame", if skip { 6 } else { 7 })?;
        frame.serialize_field("camera_id", &self.camera_id)?;
        frame.serialize_field("ts_ms", &self.ts_ms)?;
        frame.serialize_field("frame", &self.frame)?;
        frame.serialize_field("width", &self.width)?;
        frame.serialize_field("height", &self.height)?;
        frame.serialize_field("detections", &self.detections)?;
        if skip {
            frame.skip_field("model_version")?;
        } else {
            frame.serialize_field("model_version", &self.model_version.as_deref())?;
        }
        frame.end()
    }
}
