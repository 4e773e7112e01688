//! `[[camera]]` (with its calibration, lines and zones) and `[[signal]]`.

use super::shapes::{Point, PointSchema, check_polygon};
use super::{Problem, is_valid_id};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;

/// `[[camera]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraConfig {
    /// Camera id: `[A-Za-z0-9][A-Za-z0-9_.-]*`, unique; the `camera_id` partition of every table.
    pub id: String,
    /// Where frames come from: `detections:PATH.jsonl` (`detections:-` = stdin), `file:PATH`,
    /// `rtsp://…` or `kafka:TOPIC`. Several cameras may share one detections source; its lines
    /// are routed by `camera_id`. Written and read as that string.
    #[schema(value_type = String)]
    pub source: Source,
    /// Video files: `fast` (default: as fast as decoding and inference allow, nothing dropped)
    /// or `realtime` (frames released at their capture pace, like a live camera).
    #[serde(default)]
    pub pacing: Pacing,
    /// Video files: capture time of the first frame, ms since the Unix epoch (default: the
    /// file's modification time).
    #[serde(default, deserialize_with = "crate::whole_number::opt_u64")]
    pub start_ms: Option<u64>,
    /// Image ↔ ground point pairs.
    #[serde(default)]
    pub calibration: Option<CalibrationConfig>,
    /// Metres of road the camera watches (all lanes counted once), for `density_veh_per_km`;
    /// without it density and congestion are null.
    #[serde(default)]
    pub road_length_m: Option<f64>,
    /// Counting lines.
    #[serde(default)]
    pub line: Vec<LineConfig>,
    /// Zones.
    #[serde(default)]
    pub zone: Vec<ZoneConfig>,
    /// Junction legs (ground geometry; needs the calibration): `movements`, `turning_counts`,
    /// `queues`, `lane_metrics` and `signal_performance` are computed for a camera with
    /// approaches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approach: Vec<super::junction::ApproachConfig>,
    /// Crosswalks (ground polygons): pedestrians per direction in `turning_counts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crosswalk: Vec<super::junction::CrosswalkConfig>,
    /// Video cameras: pin a registry version (`name@version`, such as `detector@1.2.0`)
    /// instead of following `[model]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What is hidden in this camera's pictures (default: `[evidence] blur`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur: Option<super::Blur>,
}

/// Release pacing of a video file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// As fast as the engine allows.
    #[default]
    Fast,
    /// At the file's frame rate.
    Realtime,
}

/// `[camera.calibration]`: ≥ 4 image points (pixels) and the ground points (metres) they show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CalibrationConfig {
    /// Image points in pixels.
    #[schema(value_type = Vec<PointSchema>)]
    pub image: Vec<Point>,
    /// Ground points in metres, same order.
    #[schema(value_type = Vec<PointSchema>)]
    pub world: Vec<Point>,
}

/// `[[camera.line]]`: a line; its direction is the side of `a → b` an object crosses from/to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineConfig {
    /// Line id, unique within the camera.
    pub id: String,
    /// Two points `[a, b]` in pixels.
    #[schema(value_type = Vec<PointSchema>)]
    pub points: Vec<Point>,
}

/// `[[camera.zone]]`: a simple polygon in pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ZoneConfig {
    /// Zone id, unique within the camera.
    pub id: String,
    /// ≥ 3 vertices in pixels, in order, not self-intersecting.
    #[schema(value_type = Vec<PointSchema>)]
    pub polygon: Vec<Point>,
}

/// `[[signal]]`: a traffic signal whose states come from an input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalConfig {
    /// Signal id.
    pub id: String,
    /// `signals:PATH.jsonl`, or `push` (changes posted to `POST /api/v1/signals`).
    pub source: String,
}

/// A camera source, parsed from its config string (`detections:PATH`, `detections:-`,
/// `file:PATH`, `rtsp://…`, `kafka:TOPIC`) and written back as the same string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Detections JSON Lines from a file.
    DetectionsFile(PathBuf),
    /// Detections JSON Lines from standard input.
    DetectionsStdin,
    /// A video file (vision path).
    VideoFile(PathBuf),
    /// An RTSP camera (vision path).
    Rtsp(String),
    /// A Kafka topic of detections JSON Lines.
    Kafka(String),
    /// Detections JSON Lines pushed over HTTP (`POST /api/v1/cameras/{id}/detections`,
    /// `POST /api/v1/ingest`); needs the HTTP API (`itscam serve`, `itscam run --http`).
    Push,
}

/// Which part of the engine reads a [`Source`]: the one place the family of a source is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceFamily {
    /// Detections JSON Lines from a file or stdin, read by the detections source.
    Detections,
    /// Detections JSON Lines from a Kafka topic, read by the detections source's Kafka reader.
    Kafka,
    /// Video (file or RTSP), decoded and run through the detector by the vision path.
    Video,
}

impl SourceFamily {
    /// True for the families whose input is detections JSON Lines (files, stdin, Kafka).
    pub fn carries_detections(self) -> bool {
        matches!(self, SourceFamily::Detections | SourceFamily::Kafka)
    }
}

impl Source {
    /// Parses `detections:PATH`, `detections:-`, `file:PATH`, `rtsp://…`, `kafka:TOPIC`, `push`.
    pub fn parse(s: &str) -> Result<Source, String> {
        if s == "push" {
            return Ok(Source::Push);
        }
        if let Some(p) = s.strip_prefix("detections:") {
            return match p {
                "" => Err("detections: needs a path (or - for stdin)".into()),
                "-" => Ok(Source::DetectionsStdin),
                p => Ok(Source::DetectionsFile(PathBuf::from(p))),
            };
        }
        if let Some(p) = s.strip_prefix("file:") {
            return if p.is_empty() { Err("file: needs a path".into()) } else { Ok(Source::VideoFile(PathBuf::from(p))) };
        }
        if s.starts_with("rtsp://") || s.starts_with("rtsps://") {
            return Ok(Source::Rtsp(s.to_string()));
        }
        if let Some(t) = s.strip_prefix("kafka:") {
            return if t.is_empty() { Err("kafka: needs a topic".into()) } else { Ok(Source::Kafka(t.to_string())) };
        }
        Err(format!("unknown source {s:?}: expected detections:PATH.jsonl, detections:-, file:PATH, rtsp://…, kafka:TOPIC or push"))
    }

    /// Which part of the engine reads this source.
    pub fn family(&self) -> SourceFamily {
        match self {
            Source::DetectionsFile(_) | Source::DetectionsStdin | Source::Push => SourceFamily::Detections,
            Source::Kafka(_) => SourceFamily::Kafka,
            Source::VideoFile(_) | Source::Rtsp(_) => SourceFamily::Video,
        }
    }

    /// The config string of this source; also the name in logs and the `errors.source` column.
    pub fn label(&self) -> String {
        match self {
            Source::DetectionsFile(p) => format!("detections:{}", p.display()),
            Source::DetectionsStdin => "detections:-".into(),
            Source::VideoFile(p) => format!("file:{}", p.display()),
            Source::Rtsp(u) => u.clone(),
            Source::Kafka(t) => format!("kafka:{t}"),
            Source::Push => "push".into(),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Source, String> {
        Source::parse(s)
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Source, D::Error> {
        let text = String::deserialize(deserializer)?;
        Source::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl CameraConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if !is_valid_id(&self.id) {
            out.push(Problem::new(format!("{at}.id"), format!(
                "{:?} is not a valid id: use letters, digits, '_', '-', '.', starting with a letter or digit, at most 64", self.id)));
        }
        match &self.source {
            Source::DetectionsFile(p) => {
                if !p.is_file() {
                    out.push(Problem::new(format!("{at}.source"), format!("file {} does not exist", p.display())));
                }
            }
            Source::VideoFile(p) => {
                if !p.is_file() {
                    out.push(Problem::new(format!("{at}.source"), format!("video file {} does not exist", p.display())));
                }
            }
            Source::Kafka(topic) => {
                if let Err(why) = super::check_topic_name(topic) {
                    out.push(Problem::new(format!("{at}.source"), why));
                }
            }
            Source::DetectionsStdin | Source::Rtsp(_) | Source::Push => {}
        }
        if let Some(c) = &self.calibration {
            let key = format!("{at}.calibration");
            if c.image.len() != c.world.len() {
                out.push(Problem::new(&key, format!("image has {} points but world has {}", c.image.len(), c.world.len())));
            }
            if c.image.len() < 4 {
                out.push(Problem::new(&key, format!("needs at least 4 point pairs, got {}", c.image.len())));
            }
            for (name, pts) in [("image", &c.image), ("world", &c.world)] {
                if pts.iter().flatten().any(|v| !v.is_finite()) {
                    out.push(Problem::new(format!("{key}.{name}"), "points must be finite numbers"));
                }
            }
        }
        if let Some(len) = self.road_length_m
            && !(len > 0.0 && len.is_finite())
        {
            out.push(Problem::new(format!("{at}.road_length_m"), "must be a positive number of metres"));
        }
        let mut ids = HashSet::new();
        for (j, l) in self.line.iter().enumerate() {
            let key = format!("{at}.line[{j}]");
            if !is_valid_id(&l.id) {
                out.push(Problem::new(format!("{key}.id"), format!("{:?} is not a valid id", l.id)));
            } else if !ids.insert(("line", l.id.as_str())) {
                out.push(Problem::new(format!("{key}.id"), format!("duplicate line id {:?}", l.id)));
            }
            if l.points.len() != 2 {
                out.push(Problem::new(format!("{key}.points"), format!("a line needs exactly 2 points, got {}", l.points.len())));
            } else if l.points.iter().flatten().any(|v| !v.is_finite()) {
                out.push(Problem::new(format!("{key}.points"), "points must be finite numbers"));
            } else if l.points[0] == l.points[1] {
                out.push(Problem::new(format!("{key}.points"), "the two points are the same"));
            }
        }
        for (j, z) in self.zone.iter().enumerate() {
            let key = format!("{at}.zone[{j}]");
            if !is_valid_id(&z.id) {
                out.push(Problem::new(format!("{key}.id"), format!("{:?} is not a valid id", z.id)));
            } else if !ids.insert(("zone", z.id.as_str())) {
                out.push(Problem::new(format!("{key}.id"), format!("duplicate zone id {:?}", z.id)));
            }
            if let Err(e) = check_polygon(&z.polygon) {
                out.push(Problem::new(format!("{key}.polygon"), e));
            }
        }
    }
}

impl CameraConfig {
    /// Checks the junction geometry against the configured signal ids (also done for a camera
    /// changed at runtime).
    pub fn check_junction(&self, at: &str, signals: &HashSet<&str>, out: &mut Vec<Problem>) {
        super::junction::check_junction(at, &self.approach, &self.crosswalk, self.calibration.is_some(), signals, out);
    }
}

impl SignalConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if !is_valid_id(&self.id) {
            out.push(Problem::new(format!("{at}.id"), format!("{:?} is not a valid id", self.id)));
        }
        if self.source == "push" {
            return;
        }
        match self.source.strip_prefix("signals:") {
            Some(p) if !p.is_empty() => {
                if !std::path::Path::new(p).is_file() {
                    out.push(Problem::new(format!("{at}.source"), format!("file {p} does not exist")));
                }
            }
            _ => out.push(Problem::new(format!("{at}.source"), format!("{:?}: expected signals:PATH.jsonl or push", self.source))),
        }
    }
}
