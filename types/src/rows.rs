//! Rows of the output tables (see DESIGN.md "Tables"). Sinks turn them into Arrow batches.

use crate::ObjectClass;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A row of the `detections` table: one input detection after tracking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionRow {
    /// Camera id (shared by all rows of a frame).
    #[serde(with = "crate::serde_arc::arc_str")]
    pub camera_id: Arc<str>,
    /// Event time of the frame.
    pub ts_ms: u64,
    /// Frame number.
    pub frame: u64,
    /// Id of the confirmed track this detection belongs to; `None` while untracked or unconfirmed.
    pub track_id: Option<u64>,
    /// Class as detected in this frame.
    pub class: ObjectClass,
    /// Detector confidence.
    pub confidence: f32,
    /// Box left.
    pub x1: f32,
    /// Box top.
    pub y1: f32,
    /// Box right.
    pub x2: f32,
    /// Box bottom.
    pub y2: f32,
    /// Ground position east in metres (needs calibration).
    pub ground_x: Option<f64>,
    /// Ground position north in metres (needs calibration).
    pub ground_y: Option<f64>,
    /// Smoothed speed of the track in km/h (needs calibration and a track).
    pub speed_kmh: Option<f64>,
    /// Width and height of its frame, px (0: unknown), which tell a box clipped by the image
    /// border. Not a column.
    #[serde(default)]
    pub frame_size: [u32; 2],
    /// The model that detected it (`detections.model_version`); `None` for pushed detections.
    #[serde(default, with = "crate::serde_arc::opt_arc_str")]
    pub model_version: Option<Arc<str>>,
}

impl DetectionRow {
    /// Its box.
    pub fn bbox(&self) -> crate::BBox {
        crate::BBox { x1: self.x1, y1: self.y1, x2: self.x2, y2: self.y2 }
    }
}

/// A row of the `tracks` table: one confirmed track, written when it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackRow {
    /// Camera id.
    pub camera_id: String,
    /// Track id, unique per camera within a run.
    pub track_id: u64,
    /// Majority class over the track's detections.
    pub class: ObjectClass,
    /// Event time of the first detection (including the frames before confirmation).
    pub first_ts_ms: u64,
    /// Event time of the last matched detection.
    pub last_ts_ms: u64,
    /// Number of frames with a matched detection.
    pub frames: u64,
    /// Mean speed in km/h (needs calibration).
    pub mean_speed_kmh: Option<f64>,
    /// Maximum speed in km/h (needs calibration).
    pub max_speed_kmh: Option<f64>,
    /// The models whose detections the track matched, sorted and joined by `,`
    /// (`tracks.model_versions`); `None` when none came from a model.
    #[serde(default)]
    pub model_versions: Option<String>,
}

/// A row of the `errors` table: input the engine rejected, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRow {
    /// Where the input came from (`detections:path`, `stdin`, …).
    pub source: String,
    /// 1-based line number within the source, when the source has lines.
    pub line: Option<u64>,
    /// Camera the input was for, when it could be read.
    pub camera_id: Option<String>,
    /// Event time of the input, when it could be read.
    pub ts_ms: Option<u64>,
    /// Why, in one machine-readable word (the `errors.kind` column).
    pub kind: ErrorKind,
    /// Human-readable reason.
    pub reason: String,
    /// Wall-clock time of the rejection, milliseconds since the Unix epoch.
    pub rejected_at_ms: u64,
}

/// A line of a pushed body that was refused, as an HTTP answer lists it (the same line is an
/// [`ErrorRow`] in `errors`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedLine {
    /// 1-based line number within the body.
    pub line: u64,
    /// The `errors.kind` it was written with.
    pub kind: String,
    /// Why.
    pub reason: String,
}

impl From<&ErrorRow> for RejectedLine {
    fn from(row: &ErrorRow) -> RejectedLine {
        RejectedLine { line: row.line.unwrap_or(0), kind: row.kind.as_str().to_string(), reason: row.reason.clone() }
    }
}

/// The kind of an [`ErrorRow`]: written to the `errors.kind` column in snake_case
/// (`malformed_json`, `late`, …), the same spellings as [`ErrorKind::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A line that is not one JSON object of the expected shape (or not UTF-8, or an empty
    /// Kafka message).
    MalformedJson,
    /// A frame whose fields are out of range (empty camera id or frame size).
    InvalidFrame,
    /// A detection whose class, confidence or box is invalid.
    InvalidDetection,
    /// A frame for a camera not configured with its source.
    UnknownCamera,
    /// A frame behind its source's watermark (`lateness_ms`).
    Late,
    /// A source could not be opened or read.
    IoError,
    /// The detector failed on a batch of frames.
    InferenceFailed,
    /// Video: the ffmpeg/ffprobe binary is not there.
    ToolMissing,
    /// Video: the ffmpeg/ffprobe binary could not be started.
    ToolFailed,
    /// Video: the file does not exist.
    FileMissing,
    /// Video: the file exists but cannot be read.
    FileUnreadable,
    /// Video: the input holds no decodable video.
    NotVideo,
    /// Video: the stream could not be opened (retries exhausted).
    OpenFailed,
    /// Video: decoding failed.
    DecodeFailed,
    /// Video: no frame arrived within the stall timeout.
    Stalled,
    /// Video: the source is not a video file or RTSP URL.
    NotVideoSource,
    /// Signals: a line for another signal than the file's.
    UnknownSignal,
    /// Signals: a line that is not a signal state.
    MalformedSignal,
    /// A frame whose `(camera_id, ts_ms)` was accepted already, with other content (an exact
    /// repeat is dropped and counted, not reported).
    DuplicateFrame,
    /// A line longer than `[input] max_line_bytes`, or a frame with more detections than
    /// `max_detections_per_frame`.
    TooLarge,
}

impl ErrorKind {
    /// The snake_case name, as written to the `errors` table.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MalformedJson => "malformed_json",
            ErrorKind::InvalidFrame => "invalid_frame",
            ErrorKind::InvalidDetection => "invalid_detection",
            ErrorKind::UnknownCamera => "unknown_camera",
            ErrorKind::Late => "late",
            ErrorKind::IoError => "io_error",
            ErrorKind::InferenceFailed => "inference_failed",
            ErrorKind::ToolMissing => "tool_missing",
            ErrorKind::ToolFailed => "tool_failed",
            ErrorKind::FileMissing => "file_missing",
            ErrorKind::FileUnreadable => "file_unreadable",
            ErrorKind::NotVideo => "not_video",
            ErrorKind::OpenFailed => "open_failed",
            ErrorKind::DecodeFailed => "decode_failed",
            ErrorKind::Stalled => "stalled",
            ErrorKind::NotVideoSource => "not_video_source",
            ErrorKind::UnknownSignal => "unknown_signal",
            ErrorKind::MalformedSignal => "malformed_signal",
            ErrorKind::DuplicateFrame => "duplicate_frame",
            ErrorKind::TooLarge => "too_large",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::MalformedJson,
        ErrorKind::InvalidFrame,
        ErrorKind::InvalidDetection,
        ErrorKind::UnknownCamera,
        ErrorKind::Late,
        ErrorKind::IoError,
        ErrorKind::InferenceFailed,
        ErrorKind::ToolMissing,
        ErrorKind::ToolFailed,
        ErrorKind::FileMissing,
        ErrorKind::FileUnreadable,
        ErrorKind::NotVideo,
        ErrorKind::OpenFailed,
        ErrorKind::DecodeFailed,
        ErrorKind::Stalled,
        ErrorKind::NotVideoSource,
        ErrorKind::UnknownSignal,
        ErrorKind::MalformedSignal,
        ErrorKind::DuplicateFrame,
        ErrorKind::TooLarge,
    ];
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Quality figures of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameQuality {
    /// Variance of the 4-neighbour Laplacian of the grey image (higher = sharper).
    pub sharpness: f32,
    /// Mean grey level, 0..255.
    pub brightness: f32,
    /// Share of pixels at or below 8 or at or above 247.
    pub clipped: f32,
    /// Mean absolute grey difference from the camera's previous frame (255 for the first).
    pub change: f32,
    /// `change` below the frozen threshold.
    pub frozen: bool,
    /// 0..1: the worst of the sharpness and exposure scores; 0 when frozen.
    pub score: f32,
}

/// A row of the `frame_quality` table: the quality gate's measurements of one video frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityRow {
    /// Camera id.
    pub camera_id: String,
    /// Event time of the frame.
    pub ts_ms: u64,
    /// Frame number.
    pub frame: u64,
    /// The measurements.
    pub quality: FrameQuality,
    /// Whether the gate skipped the frame (score below `[quality].min_score`).
    pub skipped: bool,
}

/// What the tracker emits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Tracked {
    /// One input detection with its confirmed track id (or none).
    Detection(DetectionRow),
    /// A confirmed track that ended (lost too long, end of input, or its camera changed).
    Ended(TrackRow),
    /// The camera's scene changed at this time, while the pipeline ran, and what follows uses
    /// the new configuration (`None`: the camera was removed). When its calibration changed or
    /// it was removed, its tracks have ended just before (their `Ended` rows come first); a
    /// change of lines or zones keeps them.
    Scene(Box<CameraChange>),
}

/// A camera added, changed or removed while the pipeline runs, as the tracker passes it on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraChange {
    /// The camera.
    pub camera_id: String,
    /// Its configuration from now on; `None` once removed.
    pub camera: Option<crate::config::CameraConfig>,
}

impl Tracked {
    /// The camera it belongs to.
    pub fn camera_id(&self) -> &str {
        match self {
            Tracked::Detection(d) => &d.camera_id,
            Tracked::Ended(t) => &t.camera_id,
            Tracked::Scene(c) => &c.camera_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn error_kinds_serialize_as_their_table_spelling() {
        for kind in ErrorKind::ALL {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&format!("\"{kind}\"")).unwrap(), kind);
        }
    }
}
