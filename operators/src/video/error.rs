//! Errors of the video path; every message names the input so a log line is enough to act on.

use std::path::PathBuf;

/// Why a video could not be opened or decoded. Every message names the input.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The ffmpeg/ffprobe binary is not there.
    #[error("{tool} not found (tried {path:?}): install ffmpeg (Debian: apt-get install ffmpeg)")]
    ToolMissing {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The path or name that was tried.
        path: PathBuf,
    },
    /// The binary exists but could not be started.
    #[error("cannot start {tool} ({path:?}): {reason}")]
    Spawn {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The path or name that was tried.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The video file does not exist.
    #[error("video file {} does not exist", path.display())]
    FileMissing {
        /// The path from the config.
        path: PathBuf,
    },
    /// The video file exists but cannot be read.
    #[error("cannot read video file {}: {reason}", path.display())]
    Unreadable {
        /// The path from the config.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// ffprobe read the file but found no decodable video in it.
    #[error("{input} is not a video: {detail}")]
    NotVideo {
        /// Source label.
        input: String,
        /// What ffprobe said.
        detail: String,
    },
    /// A stream could not be opened (RTSP refused, timed out, …); worth retrying.
    #[error("cannot open {input}: {detail}")]
    Open {
        /// Source label.
        input: String,
        /// What ffprobe/ffmpeg said.
        detail: String,
    },
    /// ffmpeg stopped with an error, or the stream ended where it must not (live).
    #[error("decoding {input} failed: {detail}")]
    Decode {
        /// Source label.
        input: String,
        /// ffmpeg's exit status and last error lines.
        detail: String,
    },
    /// No frame arrived within the stall timeout.
    #[error("no frame from {input} for {ms} ms")]
    Stalled {
        /// Source label.
        input: String,
        /// The timeout that passed.
        ms: u64,
    },
    /// The source is not a video file or RTSP URL.
    #[error("{0} is not a video source (expected file:PATH or rtsp://…)")]
    NotVideoSource(String),
}

impl VideoError {
    /// True when retrying cannot help (missing tool, missing/unreadable file, not a video).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, VideoError::Open { .. } | VideoError::Decode { .. } | VideoError::Stalled { .. })
    }
}


impl VideoError {
    /// The `errors.kind` of this failure.
    pub fn kind(&self) -> &'static str {
        match self {
            VideoError::ToolMissing { .. } => "tool_missing",
            VideoError::Spawn { .. } => "tool_failed",
            VideoError::FileMissing { .. } => "file_missing",
            VideoError::Unreadable { .. } => "file_unreadable",
            VideoError::NotVideo { .. } => "not_video",
            VideoError::Open { .. } => "open_failed",
            VideoError::Decode { .. } => "decode_failed",
            VideoError::Stalled { .. } => "stalled",
            VideoError::NotVideoSource(_) => "not_video_source",
        }
    }
}
