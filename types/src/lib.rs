//! Shared types of itscam: detections, output rows, the pipeline config and its validation.
//! Every other crate depends on this one; it depends on none of them.
#![warn(missing_docs)]

pub mod analytics;
pub mod blame;
mod coco;
pub mod config;
mod detection;
pub mod jsonl;
pub mod junction_rows;
pub mod kafka;
pub mod model_rows;
mod rows;
pub mod serde_arc;
pub mod time;
mod whole_number;
mod video;

pub use blame::{Blame, Blamed};
pub use coco::{COCO_CLASSES, ObjectClass};
pub use detection::{BBox, Detection, Frame, border_margin_px};
pub use rows::{CameraChange, DetectionRow, ErrorKind, ErrorRow, FrameQuality, RejectedLine, QualityRow, TrackRow, Tracked};
pub use video::{CameraHealth, VideoFrame};

/// Routes a camera id to a worker: every per-camera state lives on exactly one worker.
pub fn camera_route(camera_id: &str) -> u64 {
    // FNV-1a: stable across runs and processes (std's hasher is randomly seeded).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in camera_id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
