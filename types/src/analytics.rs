//! Rows of the analytics tables (`line_crossings`, `zone_events`, `traffic_metrics`,
//! `violations`, `anomalies`): what the differential queries emit and the sinks and alert
//! channels consume. DESIGN.md "Tables" names the columns tests rely on.

use crate::ObjectClass;
use crate::config::{RuleKind, Severity};
use serde::{Deserialize, Serialize};

/// Side of a counting line a track crossed to: `a→b` seen from `a`, a track moving from the
/// right-hand side to the left-hand side is `Forward` (see `[[camera.line]]` in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the right of `a→b` to its left.
    Forward,
    /// From the left of `a→b` to its right.
    Backward,
}

impl Direction {
    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// A row of `line_crossings`: one confirmed track crossing one line once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineCrossingRow {
    /// Camera id.
    pub camera_id: String,
    /// Line id.
    pub line_id: String,
    /// Track id.
    pub track_id: u64,
    /// Class of the track at the crossing.
    pub class: ObjectClass,
    /// Event time of the first point on the new side.
    pub ts_ms: u64,
    /// Which way it crossed.
    pub direction: Direction,
    /// Smoothed speed at the crossing, when calibrated.
    pub speed_kmh: Option<f64>,
}

/// A row of `zone_events`: one stay of a confirmed track in a zone, written when it leaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneEventRow {
    /// Camera id.
    pub camera_id: String,
    /// Zone id.
    pub zone_id: String,
    /// Track id.
    pub track_id: u64,
    /// Class of the track.
    pub class: ObjectClass,
    /// Event time of the first point inside.
    pub enter_ts_ms: u64,
    /// Event time of the last point inside.
    pub exit_ts_ms: u64,
    /// `exit − enter`.
    pub dwell_ms: u64,
}

/// Congestion level of a window, from density thresholds (`[metrics.congestion]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Congestion {
    /// Below `light`.
    Free,
    /// From `light`.
    Light,
    /// From `moderate`.
    Moderate,
    /// From `heavy`.
    Heavy,
    /// From `jam`.
    Jam,
}

impl Congestion {
    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Congestion::Free => "free",
            Congestion::Light => "light",
            Congestion::Moderate => "moderate",
            Congestion::Heavy => "heavy",
            Congestion::Jam => "jam",
        }
    }
}

/// A row of `traffic_metrics`: one camera × window × class (and one `all` row per window for
/// every vehicle class together: all but `person`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficMetricRow {
    /// Camera id.
    pub camera_id: String,
    /// Window start (inclusive), event time.
    pub window_start_ms: u64,
    /// Window end (exclusive).
    pub window_end_ms: u64,
    /// COCO class name, or `all` (every class but `person`).
    pub class: String,
    /// Distinct confirmed tracks seen in the window.
    pub vehicle_count: u64,
    /// Mean of the tracks' mean speeds in the window, when calibrated.
    pub avg_speed_kmh: Option<f64>,
    /// Mean number of tracks present per instant, per km of road (`road_length_m`).
    pub density_veh_per_km: Option<f64>,
    /// Level from the density.
    pub congestion_level: Option<Congestion>,
    /// 0 for the first emission; a correction (late data changed the window) is a new row with
    /// the next revision.
    pub revision: u32,
}

/// A row of `violations`: one episode of one rule on one track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViolationRow {
    /// Deterministic: `rule:camera:track:episode start`.
    pub violation_id: String,
    /// Rule id.
    pub rule_id: String,
    /// Rule kind.
    pub kind: RuleKind,
    /// Camera id.
    pub camera_id: String,
    /// Track id.
    pub track_id: u64,
    /// Class of the track.
    pub class: ObjectClass,
    /// Event time the condition started to hold.
    pub ts_start_ms: u64,
    /// Event time it last held (so far, while `ongoing`).
    pub ts_end_ms: u64,
    /// The measured value: max speed (speeding), min speed (stopped_vehicle), duration in s
    /// (wrong_way, zone_intrusion), speed at the crossing (red_light, lane_violation; 0 when
    /// uncalibrated).
    pub value: f64,
    /// The rule's limit the value is compared with, when it has one.
    pub limit_value: Option<f64>,
    /// The rule's severity.
    pub severity: Severity,
    /// Zone or line of the rule.
    pub place: String,
    /// `true` when emitted at confirmation (for alerts); the `violations` table holds the row
    /// emitted when the episode closed (`false`).
    pub ongoing: bool,
    /// The lake objects of its evidence (set by the engine on the way out; empty without).
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// What an anomaly is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Vehicles per window far below the baseline (blocked road, incident).
    CountCollapse,
    /// Mean speed far below the baseline (congestion onset).
    SpeedCollapse,
    /// A zone's mean dwell far above its baseline.
    UnusualDwell,
    /// A camera's detections per frame under one model far from its baseline (either way);
    /// `zone_id` holds the model version.
    ModelDrift,
    /// The canary guard rolled a canary model back; `zone_id` holds the model version.
    CanaryRollback,
}

impl AnomalyKind {
    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::CountCollapse => "count_collapse",
            AnomalyKind::SpeedCollapse => "speed_collapse",
            AnomalyKind::UnusualDwell => "unusual_dwell",
            AnomalyKind::ModelDrift => "model_drift",
            AnomalyKind::CanaryRollback => "canary_rollback",
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row of `anomalies`: a metric far from its rolling baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRow {
    /// Deterministic: `kind:camera:zone:window start`.
    pub anomaly_id: String,
    /// What it is about.
    pub kind: AnomalyKind,
    /// Camera id.
    pub camera_id: String,
    /// Zone id (unusual_dwell), else `None`.
    pub zone_id: Option<String>,
    /// Window of the metric.
    pub window_start_ms: u64,
    /// Window end.
    pub window_end_ms: u64,
    /// The metric's value in the window.
    pub value: f64,
    /// Baseline mean (EWMA) before this window.
    pub baseline: f64,
    /// Baseline standard deviation (EWMA) before this window.
    pub baseline_std: f64,
    /// Signed deviation in standard deviations.
    pub score: f64,
    /// From |score|: medium, high (≥ 2× threshold).
    pub severity: Severity,
}

/// What raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// A rule violation (`violations`).
    Violation,
    /// An anomaly (`anomalies`).
    Anomaly,
}

impl AlertSource {
    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Violation => "violation",
            AlertSource::Anomaly => "anomaly",
        }
    }
}

/// An alert as published to Kafka, webhooks and SSE (JSON, documented in the README "Alerts").
/// Everything but `emitted_at_ms` is a function of the input, so a retry or a replay after a
/// crash produces the same alert: consumers dedupe on `alert_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// Deterministic id: the violation id (`rule:camera:track:start`) or anomaly id.
    pub alert_id: String,
    /// Violation or anomaly.
    pub source: AlertSource,
    /// `violation_id` or `anomaly_id` of the source row.
    pub source_id: String,
    /// Rule kind (`speeding`, …) or anomaly kind (`count_collapse`, …).
    pub kind: String,
    /// Rule id for violations.
    pub rule_id: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Camera id (the Kafka key).
    pub camera_id: String,
    /// Track id for violations.
    pub track_id: Option<u64>,
    /// Zone or line id, when the source has one.
    pub place: Option<String>,
    /// Event time the condition started (violation start, anomaly window start).
    pub ts_start_ms: u64,
    /// Event time the alert was raised (violation confirmed, anomaly window end).
    pub ts_ms: u64,
    /// Measured value.
    pub value: f64,
    /// Limit or baseline it was compared with.
    pub limit_value: Option<f64>,
    /// One line for people.
    pub message: String,
    /// Wall-clock time this copy was emitted (not part of the identity).
    pub emitted_at_ms: u64,
    /// Violations of video and detection cameras with `[evidence] enabled`: the lake objects
    /// of the evidence (a snapshot and a clip, or the trajectory), relative to the lake root.
    /// They are committed a few seconds after the alert (the clip needs the frames after the
    /// confirmation); `GET /api/v1/alerts/{id}/evidence` serves them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl Alert {
    /// The alert for a violation (raised when confirmed; the same id when it closes).
    pub fn from_violation(v: &ViolationRow, emitted_at_ms: u64) -> Alert {
        let kind = v.kind.as_str().to_string();
        let limit = v.limit_value.map(|l| format!(" (limit {l:.1})")).unwrap_or_default();
        Alert {
            alert_id: v.violation_id.clone(),
            source: AlertSource::Violation,
            source_id: v.violation_id.clone(),
            message: format!("{kind} by {} track {} at {} on {}: {:.1}{limit}", v.class.name(), v.track_id, v.place, v.camera_id, v.value),
            kind,
            rule_id: Some(v.rule_id.clone()),
            severity: v.severity,
            camera_id: v.camera_id.clone(),
            track_id: Some(v.track_id),
            place: Some(v.place.clone()),
            ts_start_ms: v.ts_start_ms,
            ts_ms: v.ts_end_ms,
            value: v.value,
            limit_value: v.limit_value,
            emitted_at_ms,
            evidence: v.evidence.clone(),
        }
    }

    /// The alert for an anomaly.
    pub fn from_anomaly(a: &AnomalyRow, emitted_at_ms: u64) -> Alert {
        let place = a.zone_id.clone();
        Alert {
            alert_id: a.anomaly_id.clone(),
            source: AlertSource::Anomaly,
            source_id: a.anomaly_id.clone(),
            kind: a.kind.as_str().to_string(),
            rule_id: None,
            severity: a.severity,
            camera_id: a.camera_id.clone(),
            track_id: None,
            message: format!(
                "{} on {}{}: {:.1} against a baseline of {:.1} ± {:.1} (score {:.1})",
                a.kind,
                a.camera_id,
                place.as_deref().map(|z| format!(" zone {z}")).unwrap_or_default(),
                a.value,
                a.baseline,
                a.baseline_std,
                a.score
            ),
            place,
            ts_start_ms: a.window_start_ms,
            ts_ms: a.window_end_ms,
            value: a.value,
            limit_value: Some(a.baseline),
            emitted_at_ms,
            evidence: Vec::new(),
        }
    }
}

/// Status of an alert in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Raised, nobody has acknowledged it.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Done.
    Resolved,
}

impl AlertStatus {
    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// A row of `alerts`: one change of an alert (raised, escalated, acknowledged, resolved, a repeat
/// suppressed onto it). The current state of an alert is its row with the latest `changed_at_ms`
/// (strictly increasing per alert).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    /// The alert's id.
    pub alert_id: String,
    /// Violation or anomaly.
    pub source: AlertSource,
    /// `violation_id` or `anomaly_id`.
    pub source_id: String,
    /// Rule or anomaly kind.
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// Camera id.
    pub camera_id: String,
    /// Status after this change.
    pub status: AlertStatus,
    /// Whether the alert has been escalated (by this change or before).
    pub escalated: bool,
    /// Repeats suppressed onto this alert so far (see `[alerts.lifecycle] suppress_ms`).
    pub suppressed_count: u64,
    /// Event time the alert was raised.
    pub ts_ms: u64,
    /// Wall-clock time of this change.
    pub changed_at_ms: u64,
    /// Who made the change (`engine` for raise/escalation, else the caller's name).
    pub changed_by: String,
    /// Free text given with an acknowledge/resolve.
    pub note: Option<String>,
}
