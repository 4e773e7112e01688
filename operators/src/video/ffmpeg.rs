//! What the ffmpeg tools share: where they are ([`FfmpegConfig`]), how an input is named to
//! them, and how a failed start is reported.

use super::error::VideoError;
use itscam_types::config::Source;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the ffmpeg tools are and how long they may take.
#[derive(Clone, Debug)]
pub struct FfmpegConfig {
    /// The `ffmpeg` binary (default: `ffmpeg` on `PATH`).
    pub ffmpeg: PathBuf,
    /// The `ffprobe` binary (default: `ffprobe` on `PATH`).
    pub ffprobe: PathBuf,
    /// RTSP socket I/O timeout handed to ffmpeg/ffprobe as `-timeout` (default 5 s), so a
    /// silent server ends the child instead of hanging it.
    pub rtsp_io_timeout: Duration,
    /// Wall-clock limit for one `ffprobe` run (default 20 s); it is killed after that.
    pub probe_timeout: Duration,
}

impl Default for FfmpegConfig {
    fn default() -> Self {
        FfmpegConfig {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            rtsp_io_timeout: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(20),
        }
    }
}

/// ffmpeg/ffprobe input arguments (`[options] -i INPUT`). Files are checked first (so a missing
/// file is named as such) and get the `file:` protocol, so a name with a colon or a leading dash
/// is never taken for a protocol or an option.
pub(super) fn input_args(source: &Source, cfg: &FfmpegConfig) -> Result<Vec<OsString>, VideoError> {
    match source {
        Source::VideoFile(path) => {
            check_readable(path)?;
            let mut arg = OsString::from("file:");
            arg.push(path.as_os_str());
            Ok(vec!["-i".into(), arg])
        }
        Source::Rtsp(url) => {
            let us = cfg.rtsp_io_timeout.as_micros().max(1).to_string();
            Ok(["-rtsp_transport", "tcp", "-timeout", &us, "-i", url].map(OsString::from).to_vec())
        }
        other => Err(VideoError::NotVideoSource(other.label())),
    }
}

fn check_readable(path: &Path) -> Result<(), VideoError> {
    match std::fs::File::open(path) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => {
            Err(VideoError::Unreadable { path: path.into(), reason: "it is a directory".into() })
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(VideoError::FileMissing { path: path.into() }),
        Err(e) => Err(VideoError::Unreadable { path: path.into(), reason: e.to_string() }),
    }
}

pub(super) fn spawn_error(tool: &'static str, path: &Path, e: std::io::Error) -> VideoError {
    if e.kind() == std::io::ErrorKind::NotFound {
        VideoError::ToolMissing { tool, path: path.into() }
    } else {
        VideoError::Spawn { tool, path: path.into(), reason: e.to_string() }
    }
}
