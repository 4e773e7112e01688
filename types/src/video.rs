//! Decoded video frames, as they travel from a video source to the inference operator.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One decoded frame: packed RGB24, row-major, `width * height * 3` bytes.
/// The pixels are shared (`Arc`), so fan-out and in-process exchange copy no image data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoFrame {
    /// Camera id from the pipeline config.
    #[serde(with = "crate::serde_arc::arc_str")]
    pub camera_id: Arc<str>,
    /// Capture time, milliseconds since the Unix epoch (the engine's event time).
    pub ts_ms: u64,
    /// Frame number within the camera's stream (counts every decoded frame, 0-based).
    pub frame: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB24 pixels.
    #[serde(with = "crate::serde_arc::arc_bytes")]
    pub rgb: Arc<[u8]>,
}

/// Health of a camera's connection, as the engine logs and exposes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraHealth {
    /// Opening the stream for the first time.
    Connecting,
    /// Frames are flowing.
    Up,
    /// The stream broke; retrying with backoff.
    Reconnecting,
    /// Given up (file ended, or retries exhausted); the source no longer holds time back.
    Down,
}
