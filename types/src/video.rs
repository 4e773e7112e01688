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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraHealth {
    /// Opening the stream for the first time.
    Connecting,
    /// Frames are flowing.
    Up,
    /// The stream broke; retrying with backoff.
    Reconnecting,
    /// Given up (retries exhausted, a permanent failure, or stopped); the source no longer
    /// holds time back.
    Down,
    /// A video file that was read to its end: done, not dead. No longer holds time back.
    Finished,
}

impl CameraHealth {
    /// `connecting`, `up`, `reconnecting`, `down`, `finished`: the spelling in logs, the run
    /// summary and the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraHealth::Connecting => "connecting",
            CameraHealth::Up => "up",
            CameraHealth::Reconnecting => "reconnecting",
            CameraHealth::Down => "down",
            CameraHealth::Finished => "finished",
        }
    }
}

impl std::fmt::Display for CameraHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::CameraHealth;

    #[test]
    fn health_serializes_as_its_name() {
        use CameraHealth::*;
        for h in [Connecting, Up, Reconnecting, Down, Finished] {
            assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{}\"", h.as_str()));
        }
    }
}
