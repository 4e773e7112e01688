//! What one video camera is: its source, its options and its shared status.

use super::ffmpeg::FfmpegConfig;
use super::health::{Backoff, CameraStatus};
use itscam_types::config::{Pacing, Source};
use std::sync::Arc;
use std::time::Duration;

/// Per-camera options; `Default` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct VideoOptions {
    /// Where ffmpeg/ffprobe are, and their timeouts.
    pub ffmpeg: FfmpegConfig,
    /// Files: release pacing — `fast` (default: as fast as decoding and the engine allow; a
    /// full channel stops the reader, nothing is dropped) or `realtime` (each frame waits, on the
    /// reader thread, until its due time after the first frame, as a live camera would deliver it).
    pub pacing: Pacing,
    /// Files: event time of frame 0, ms since the Unix epoch. `None` (default) uses the file's
    /// modification time (0 if unknown): recordings land near when they were made, so the
    /// lake's date partitions mean something, and a re-run over the same file is deterministic.
    pub start_ms: Option<u64>,
    /// Live: reconnect policy.
    pub backoff: Backoff,
    /// No frame for this long, once frames flow, counts as a failure (live: reconnect; file:
    /// error). Default 5 s.
    pub stall_timeout: Duration,
    /// The first frame of a connection may take this long (default 15 s): ffmpeg analyses a
    /// stream for a second or more before it decodes, so the stall timeout would be too short.
    pub connect_timeout: Duration,
    /// Live: while not up, the capability is held at `now − lateness_ms` (default 1000 ms), which
    /// leaves room for frames stamped just before a reconnect is noticed.
    pub lateness_ms: u64,
}

impl Default for VideoOptions {
    fn default() -> Self {
        VideoOptions {
            ffmpeg: FfmpegConfig::default(),
            pacing: Pacing::default(),
            start_ms: None,
            backoff: Backoff::default(),
            stall_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(15),
            lateness_ms: 1000,
        }
    }
}

/// One camera for [`video_source`](super::video_source).
#[derive(Clone, Debug)]
pub struct VideoFeedSpec {
    /// Camera id, copied into every frame.
    pub camera_id: String,
    /// [`Source::VideoFile`] or [`Source::Rtsp`]; anything else ends the feed with an error row.
    pub source: Source,
    /// Options.
    pub options: VideoOptions,
    /// Live health and counters, shared with the engine.
    pub status: Arc<CameraStatus>,
}

impl VideoFeedSpec {
    /// A feed with default options and a fresh status.
    pub fn new(camera_id: impl Into<String>, source: Source) -> VideoFeedSpec {
        let camera_id = camera_id.into();
        VideoFeedSpec { status: CameraStatus::new(camera_id.clone()), camera_id, source, options: VideoOptions::default() }
    }

    /// True for sources whose event time is the wall clock (RTSP).
    pub fn is_live(&self) -> bool {
        matches!(self.source, Source::Rtsp(_))
    }
}

/// The cameras whose frames the inference operator may drop under overload: the live ones
/// (RTSP), whose frames lose their worth with age. Cameras added or removed while the pipeline
/// runs come and go. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct LiveCameras(Arc<std::sync::RwLock<std::collections::HashSet<Arc<str>>>>);

impl LiveCameras {
    /// The live cameras among `feeds`.
    pub fn of(feeds: &[VideoFeedSpec]) -> LiveCameras {
        let set = feeds.iter().filter(|f| f.is_live()).map(|f| Arc::from(f.camera_id.as_str())).collect();
        LiveCameras(Arc::new(std::sync::RwLock::new(set)))
    }

    /// Whether `camera` is live.
    pub fn contains(&self, camera: &str) -> bool {
        self.0.read().unwrap_or_else(|p| p.into_inner()).contains(camera)
    }

    /// Adds `feed`'s camera when it is live.
    pub fn add(&self, feed: &VideoFeedSpec) {
        if feed.is_live() {
            self.0.write().unwrap_or_else(|p| p.into_inner()).insert(Arc::from(feed.camera_id.as_str()));
        }
    }

    /// Removes `camera`.
    pub fn remove(&self, camera: &str) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).remove(camera);
    }
}

impl FromIterator<Arc<str>> for LiveCameras {
    fn from_iter<I: IntoIterator<Item = Arc<str>>>(ids: I) -> Self {
        LiveCameras(Arc::new(std::sync::RwLock::new(ids.into_iter().collect())))
    }
}
