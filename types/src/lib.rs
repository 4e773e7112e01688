//! Shared types of itscam: detections, output rows, the pipeline config and its validation.
//! Every other crate depends on this one; it depends on none of them.
#![warn(missing_docs)]

pub mod analytics;
mod coco;
pub mod config;
mod detection;
pub mod jsonl;
mod rows;
mod serde_arc;
pub mod time;
mod video;

pub use coco::{COCO_CLASSES, ObjectClass};
pub use detection::{BBox, Detection, Frame};
pub use rows::{DetectionRow, ErrorRow, FrameQuality, QualityRow, TrackRow};
pub use video::{CameraHealth, VideoFrame};
