//! Errors of the video path; every message names the input so a log line is enough to act on.

use super::health::Backoff;
use itscam_types::{Blame, Blamed, ErrorKind};
use std::path::PathBuf;
use std::time::Duration;

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
    /// The source is not a video file or RTSP URL: the engine routes only video sources to the
    /// video path, so this is an invariant broken.
    #[error("{0} is not a video source (expected file:PATH or rtsp://…); this is a bug: only video sources reach the video path")]
    NotVideoSource(String),
}

impl VideoError {
    /// True when retrying cannot help (missing tool, missing/unreadable file, not a video).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, VideoError::Open { .. } | VideoError::Decode { .. } | VideoError::Stalled { .. })
    }
}

impl Blamed for VideoError {
    /// The config's paths and tools are the user's (`ToolMissing`, `FileMissing`, `Unreadable`,
    /// `NotVideo`); a camera or an ffmpeg that fails is external; a non-video source is a bug.
    fn blame(&self) -> Blame {
        match self {
            VideoError::ToolMissing { .. } | VideoError::FileMissing { .. } | VideoError::Unreadable { .. } | VideoError::NotVideo { .. } => Blame::User,
            VideoError::Spawn { .. } | VideoError::Open { .. } | VideoError::Decode { .. } | VideoError::Stalled { .. } => Blame::External,
            VideoError::NotVideoSource(_) => Blame::Bug,
        }
    }

    /// The failures a live camera retries (see [`VideoError::is_permanent`]): after the first
    /// delay of the default [`Backoff`].
    fn retry_after(&self) -> Option<Duration> {
        (!self.is_permanent()).then(|| Backoff::default().base)
    }
}


impl VideoError {
    /// The `errors.kind` of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VideoError::ToolMissing { .. } => ErrorKind::ToolMissing,
            VideoError::Spawn { .. } => ErrorKind::ToolFailed,
            VideoError::FileMissing { .. } => ErrorKind::FileMissing,
            VideoError::Unreadable { .. } => ErrorKind::FileUnreadable,
            VideoError::NotVideo { .. } => ErrorKind::NotVideo,
            VideoError::Open { .. } => ErrorKind::OpenFailed,
            VideoError::Decode { .. } => ErrorKind::DecodeFailed,
            VideoError::Stalled { .. } => ErrorKind::Stalled,
            VideoError::NotVideoSource(_) => ErrorKind::NotVideoSource,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_paths_are_the_users_cameras_are_external_and_retried_and_a_wrong_source_is_a_bug() {
        let missing = VideoError::FileMissing { path: "/no/cam.mp4".into() };
        assert_eq!((missing.blame(), missing.retry_after()), (Blame::User, None));
        let tool = VideoError::ToolMissing { tool: "ffmpeg", path: "ffmpeg".into() };
        assert_eq!((tool.blame(), tool.retry_after()), (Blame::User, None));
        let stalled = VideoError::Stalled { input: "rtsp://cam".into(), ms: 5000 };
        assert_eq!((stalled.blame(), stalled.retry_after()), (Blame::External, Some(Backoff::default().base)));
        let wrong = VideoError::NotVideoSource("kafka:frames".into());
        assert_eq!(wrong.blame(), Blame::Bug);
        assert!(wrong.to_string().contains("this is a bug"), "{wrong}");
    }
}
