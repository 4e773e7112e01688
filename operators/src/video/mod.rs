//! Video sources: video files and RTSP cameras decoded to RGB24 [`itscam_types::VideoFrame`]s.
//!
//! Why the ffmpeg CLI as a child process (`ffmpeg -v error [-rtsp_transport tcp -timeout µs]
//! -i IN -f rawvideo -pix_fmt rgb24 -`) and not libav bindings: no C bindings to build (the
//! workspace stays pure Rust), process isolation (a crashing demuxer or decoder takes down one
//! child, not a worker), and one code path for files and RTSP. `ffprobe` gives width, height and
//! frame rate; the cost — one process per camera and an extra probe per connection — is small
//! next to decoding. Blocking pipe reads happen on reader threads, never on a timely worker.
//!
//! - `ffmpeg`: where the tools are ([`FfmpegConfig`]) and how inputs are named to them;
//! - `probe`: `ffprobe` for size and rate ([`probe`], [`StreamInfo`]);
//! - [`decoder`]: the ffmpeg child ([`Decoder`]); failures are [`VideoError`]s;
//! - [`health`]: [`CameraStatus`] (the shared health handle) and the reconnect [`Backoff`];
//! - `spec`: one camera ([`VideoFeedSpec`], [`VideoOptions`]);
//! - `reader`: the thread per camera that probes, decodes, paces and reconnects;
//! - [`source`]: the timely operator [`video_source`], and [`VideoCameras`] for cameras added
//!   and removed while it runs.
//!
//! ```no_run
//! use itscam_operators::source::SourceControl;
//! use itscam_operators::video::{VideoFeedSpec, video_source};
//! use itscam_types::config::Source;
//!
//! let cam = VideoFeedSpec::new("cam-1", Source::Rtsp("rtsp://10.0.0.7/stream1".into()));
//! let health = cam.status.clone(); // poll health.snapshot() from the HTTP layer
//! timely::execute_directly(move |worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let (frames, errors) = video_source(scope, vec![cam], SourceControl::default(), None);
//!         // frames → quality gate → inference …; errors → the `errors` table
//!     });
//! });
//! ```

pub mod decoder;
mod error;
mod ffmpeg;
pub mod health;
mod probe;
mod reader;
pub mod source;
mod spec;

pub use decoder::Decoder;
pub use error::VideoError;
pub use ffmpeg::FfmpegConfig;
pub use health::{Backoff, CameraStatus, CameraStatuses, StatusSnapshot, Transition};
pub use probe::{StreamInfo, probe};
pub use source::{VideoCameras, VideoStreams, video_source};
pub use spec::{LiveCameras, VideoFeedSpec, VideoOptions};
