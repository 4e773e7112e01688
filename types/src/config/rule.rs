//! `[[rule]]`: rule queries. Rules are data: the same shape arrives from the config or over HTTP.

use super::{PipelineConfig, Point, Problem, is_valid_id};
use crate::ObjectClass;
use serde::{Deserialize, Serialize};

/// The kinds of rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Speed above `limit_kmh + tolerance_kmh` for `min_duration_ms` inside `zone`.
    Speeding,
    /// Sustained heading against `allowed_direction` inside `zone`.
    WrongWay,
    /// Crossing `line` while `signal` is red.
    RedLight,
    /// A class in `classes` inside `zone`.
    ZoneIntrusion,
    /// Speed below `max_speed_kmh` for `min_duration_ms` inside `zone`.
    StoppedVehicle,
    /// Crossing the solid `line`.
    LaneViolation,
}

/// Severity of a rule's violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Escalated when not acknowledged.
    High,
    /// Escalated when not acknowledged.
    Critical,
}

/// `[[rule]]`: common keys (`id kind camera severity`) and the kind's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleConfig {
    /// Rule id, unique.
    pub id: String,
    /// Rule kind.
    pub kind: RuleKind,
    /// Camera the rule watches.
    pub camera: String,
    /// Severity of its violations.
    #[serde(default)]
    pub severity: Severity,
    /// Zone id (speeding, wrong_way, zone_intrusion, stopped_vehicle).
    #[serde(default)]
    pub zone: Option<String>,
    /// Line id (red_light, lane_violation).
    #[serde(default)]
    pub line: Option<String>,
    /// Signal id (red_light).
    #[serde(default)]
    pub signal: Option<String>,
    /// Speed limit in km/h (speeding).
    #[serde(default)]
    pub limit_kmh: Option<f64>,
    /// Tolerance above the limit in km/h (speeding; default 0).
    #[serde(default)]
    pub tolerance_kmh: Option<f64>,
    /// Speed below which a vehicle counts as stopped, km/h (stopped_vehicle; default 1).
    #[serde(default)]
    pub max_speed_kmh: Option<f64>,
    /// How long the condition must hold, ms (speeding, wrong_way, stopped_vehicle).
    #[serde(default)]
    pub min_duration_ms: Option<u64>,
    /// Allowed direction of travel `[from, to]` in pixels (wrong_way).
    #[serde(default)]
    pub allowed_direction: Option<Vec<Point>>,
    /// Classes not allowed in the zone (zone_intrusion).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

impl RuleConfig {
    /// Every problem of this rule against the pipeline's cameras, zones, lines and signals
    /// (used for rules that arrive over HTTP; keys are relative to the rule).
    pub fn problems(&self, config: &PipelineConfig) -> Vec<Problem> {
        let mut out = Vec::new();
        self.check("rule", config, &mut out);
        out
    }

    pub(crate) fn check(&self, at: &str, config: &PipelineConfig, out: &mut Vec<Problem>) {
        let mut bad = |key: &str, msg: String| out.push(Problem::new(format!("{at}.{key}"), msg));
        if !is_valid_id(&self.id) {
            bad("id", format!("{:?} is not a valid id", self.id));
        }
        let Some(cam) = config.camera(&self.camera) else {
            bad("camera", format!("no camera {:?}", self.camera));
            return;
        };
        use RuleKind::*;
        let needs_zone = matches!(self.kind, Speeding | WrongWay | ZoneIntrusion | StoppedVehicle);
        let needs_line = matches!(self.kind, RedLight | LaneViolation);
        match (&self.zone, needs_zone) {
            (None, true) => bad("zone", format!("{:?} rules need a zone", self.kind)),
            (Some(z), true) if !cam.zone.iter().any(|c| &c.id == z) => {
                bad("zone", format!("camera {:?} has no zone {z:?}", cam.id))
            }
            (Some(_), false) => bad("zone", format!("{:?} rules take no zone", self.kind)),
            _ => {}
        }
        match (&self.line, needs_line) {
            (None, true) => bad("line", format!("{:?} rules need a line", self.kind)),
            (Some(l), true) if !cam.line.iter().any(|c| &c.id == l) => {
                bad("line", format!("camera {:?} has no line {l:?}", cam.id))
            }
            (Some(_), false) => bad("line", format!("{:?} rules take no line", self.kind)),
            _ => {}
        }
        if self.kind == RedLight {
            match &self.signal {
                None => bad("signal", "red_light rules need a signal".into()),
                Some(s) if !config.signal.iter().any(|c| &c.id == s) => bad("signal", format!("no signal {s:?}")),
                _ => {}
            }
        } else if self.signal.is_some() {
            bad("signal", format!("{:?} rules take no signal", self.kind));
        }
        let positive = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v >= 0.0);
        if matches!(self.kind, Speeding | StoppedVehicle) && cam.calibration.is_none() {
            bad("kind", format!("{} rules need speeds: camera {:?} has no [camera.calibration]", self.kind.as_str(), cam.id));
        }
        if self.kind == Speeding && self.limit_kmh.is_none() {
            bad("limit_kmh", "speeding rules need limit_kmh".into());
        }
        for (key, v) in [("limit_kmh", self.limit_kmh), ("tolerance_kmh", self.tolerance_kmh), ("max_speed_kmh", self.max_speed_kmh)] {
            if !positive(v) {
                bad(key, "must be a finite number ≥ 0".into());
            }
        }
        if self.kind == WrongWay {
            match &self.allowed_direction {
                None => bad("allowed_direction", "wrong_way rules need allowed_direction = [[x, y], [x, y]]".into()),
                Some(d) if d.len() != 2 || d[0] == d[1] || d.iter().flatten().any(|v| !v.is_finite()) => {
                    bad("allowed_direction", "needs two distinct finite points [from, to]".into())
                }
                _ => {}
            }
        }
        if self.kind == ZoneIntrusion {
            match &self.classes {
                None => bad("classes", "zone_intrusion rules need classes (those not allowed in the zone)".into()),
                Some(cs) if cs.is_empty() => bad("classes", "must not be empty".into()),
                Some(cs) => {
                    for c in cs {
                        if ObjectClass::from_name(c).is_none() {
                            bad("classes", format!("{c:?} is not a COCO class name"));
                        }
                    }
                }
            }
        }
    }
}

impl RuleKind {
    /// Every kind.
    pub const ALL: [RuleKind; 6] =
        [RuleKind::Speeding, RuleKind::WrongWay, RuleKind::RedLight, RuleKind::ZoneIntrusion, RuleKind::StoppedVehicle, RuleKind::LaneViolation];

    /// The name in config, tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Speeding => "speeding",
            RuleKind::WrongWay => "wrong_way",
            RuleKind::RedLight => "red_light",
            RuleKind::ZoneIntrusion => "zone_intrusion",
            RuleKind::StoppedVehicle => "stopped_vehicle",
            RuleKind::LaneViolation => "lane_violation",
        }
    }
}

impl Severity {
    /// The name in config, tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

