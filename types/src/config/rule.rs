//! `[[rule]]`: rule queries. Rules are data: the same shape arrives from the config or over HTTP.

use super::{CameraConfig, PipelineConfig, Point, Problem, is_valid_id};
use crate::ObjectClass;
use serde::{Deserialize, Serialize};

/// The kinds of rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(Default)]
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
    /// A rule written in the rule language (`sql`): see `docs/rules.md`. The kind of a rule
    /// that names none.
    #[default]
    Sql,
}

/// Severity of a rule's violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default, utoipa::ToSchema)]
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

/// `[[rule]]`: the common keys (`id kind camera severity`) and the kind's parameters.
///
/// The file and JSON shape is flat (`kind` beside the parameters, as in [`RuleKeys`]); in
/// code the parameters are tagged by kind ([`RuleParams`]). A parameter key of another kind
/// is kept aside and reported by validation, naming the kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RuleKeys", into = "RuleKeys")]
pub struct RuleConfig {
    /// Rule id, unique.
    pub id: String,
    /// Camera the rule watches.
    pub camera: String,
    /// Severity of its violations.
    pub severity: Severity,
    /// The kind and its parameters.
    pub params: RuleParams,
    /// Parameter keys given that belong to other kinds (validation reports each).
    other_kinds_keys: Vec<&'static str>,
}

/// A rule's schema is its flat shape's ([`RuleKeys`]), the one it is read and written as.
impl utoipa::PartialSchema for RuleConfig {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <RuleKeys as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for RuleConfig {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <RuleKeys as utoipa::ToSchema>::schemas(schemas);
    }
}

/// A rule's kind with its parameters. A key the kind needs is an `Option` all the same: a rule
/// without it is a validation problem, reported with every other problem at once.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleParams {
    /// See [`SpeedingRule`].
    Speeding(SpeedingRule),
    /// See [`WrongWayRule`].
    WrongWay(WrongWayRule),
    /// See [`RedLightRule`].
    RedLight(RedLightRule),
    /// See [`ZoneIntrusionRule`].
    ZoneIntrusion(ZoneIntrusionRule),
    /// See [`StoppedVehicleRule`].
    StoppedVehicle(StoppedVehicleRule),
    /// See [`LaneViolationRule`].
    LaneViolation(LaneViolationRule),
    /// See [`SqlRule`].
    Sql(SqlRule),
}

/// `sql`: a rule in the rule language (`SELECT … FROM track_points WHERE … FOR 5 s`, or a whole
/// `CREATE RULE` statement). The text is checked against the pipeline by the rule compiler
/// (`itscam_queries::rules::sql`), which reports each problem with its line and column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqlRule {
    /// The rule's text (needed).
    pub sql: Option<String>,
}

/// `speeding`: speed above `limit_kmh + tolerance_kmh` for `min_duration_ms` inside `zone`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpeedingRule {
    /// Zone id (needed).
    pub zone: Option<String>,
    /// Speed limit in km/h (needed).
    pub limit_kmh: Option<f64>,
    /// Tolerance above the limit in km/h ([`SpeedingRule::tolerance`]).
    pub tolerance_kmh: Option<f64>,
    /// How long the speed must stay above, ms ([`SpeedingRule::min_duration`]).
    pub min_duration_ms: Option<u64>,
}

/// `wrong_way`: sustained heading against `allowed_direction` inside `zone`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrongWayRule {
    /// Zone id (needed).
    pub zone: Option<String>,
    /// Allowed direction of travel `[from, to]` in pixels (needed).
    pub allowed_direction: Option<Vec<Point>>,
    /// How long the heading must last, ms ([`WrongWayRule::min_duration`]).
    pub min_duration_ms: Option<u64>,
}

/// `red_light`: crossing `line` while `signal` is red.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedLightRule {
    /// Line id (needed).
    pub line: Option<String>,
    /// Signal id (needed).
    pub signal: Option<String>,
}

/// `zone_intrusion`: a class in `classes` inside `zone`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneIntrusionRule {
    /// Zone id (needed).
    pub zone: Option<String>,
    /// Classes not allowed in the zone, COCO names (needed).
    pub classes: Option<Vec<String>>,
    /// How long the track must stay, ms ([`ZoneIntrusionRule::min_duration`]).
    pub min_duration_ms: Option<u64>,
}

/// `stopped_vehicle`: speed at or below `max_speed_kmh` for `min_duration_ms` inside `zone`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoppedVehicleRule {
    /// Zone id (needed).
    pub zone: Option<String>,
    /// Speed at or below which a vehicle counts as stopped, km/h ([`StoppedVehicleRule::max_speed`]).
    pub max_speed_kmh: Option<f64>,
    /// How long it must stay stopped, ms ([`StoppedVehicleRule::min_duration`]).
    pub min_duration_ms: Option<u64>,
}

/// `lane_violation`: crossing the solid `line`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneViolationRule {
    /// Line id (needed).
    pub line: Option<String>,
}

impl SpeedingRule {
    /// Tolerance above the limit, km/h: `tolerance_kmh`, by default 0.
    pub fn tolerance(&self) -> f64 {
        self.tolerance_kmh.unwrap_or(0.0)
    }
    /// `min_duration_ms`, by default 1000.
    pub fn min_duration(&self) -> u64 {
        self.min_duration_ms.unwrap_or(1_000)
    }
}

impl WrongWayRule {
    /// `min_duration_ms`, by default 1000.
    pub fn min_duration(&self) -> u64 {
        self.min_duration_ms.unwrap_or(1_000)
    }
}

impl ZoneIntrusionRule {
    /// `min_duration_ms`, by default 0 (any point inside).
    pub fn min_duration(&self) -> u64 {
        self.min_duration_ms.unwrap_or(0)
    }
}

impl StoppedVehicleRule {
    /// `max_speed_kmh`, by default 1.
    pub fn max_speed(&self) -> f64 {
        self.max_speed_kmh.unwrap_or(1.0)
    }
    /// `min_duration_ms`, by default 10000.
    pub fn min_duration(&self) -> u64 {
        self.min_duration_ms.unwrap_or(10_000)
    }
}

impl RuleParams {
    /// The kind.
    pub fn kind(&self) -> RuleKind {
        match self {
            RuleParams::Speeding(_) => RuleKind::Speeding,
            RuleParams::WrongWay(_) => RuleKind::WrongWay,
            RuleParams::RedLight(_) => RuleKind::RedLight,
            RuleParams::ZoneIntrusion(_) => RuleKind::ZoneIntrusion,
            RuleParams::StoppedVehicle(_) => RuleKind::StoppedVehicle,
            RuleParams::LaneViolation(_) => RuleKind::LaneViolation,
            RuleParams::Sql(_) => RuleKind::Sql,
        }
    }

    /// The id of the zone or line the rule watches (which one: [`RuleKind::watches_line`]).
    pub fn place_id(&self) -> Option<&str> {
        match self {
            RuleParams::Speeding(SpeedingRule { zone, .. })
            | RuleParams::WrongWay(WrongWayRule { zone, .. })
            | RuleParams::ZoneIntrusion(ZoneIntrusionRule { zone, .. })
            | RuleParams::StoppedVehicle(StoppedVehicleRule { zone, .. }) => zone.as_deref(),
            RuleParams::RedLight(RedLightRule { line, .. }) | RuleParams::LaneViolation(LaneViolationRule { line }) => line.as_deref(),
            RuleParams::Sql(_) => None,
        }
    }

    /// How long the condition must hold, ms (0 for the line kinds: one crossing each).
    pub fn min_duration(&self) -> u64 {
        match self {
            RuleParams::Speeding(r) => r.min_duration(),
            RuleParams::WrongWay(r) => r.min_duration(),
            RuleParams::ZoneIntrusion(r) => r.min_duration(),
            RuleParams::StoppedVehicle(r) => r.min_duration(),
            RuleParams::RedLight(_) | RuleParams::LaneViolation(_) | RuleParams::Sql(_) => 0,
        }
    }
}

impl RuleConfig {
    /// A rule of medium severity.
    pub fn new(id: impl Into<String>, camera: impl Into<String>, params: RuleParams) -> RuleConfig {
        RuleConfig { id: id.into(), camera: camera.into(), severity: Severity::default(), params, other_kinds_keys: Vec::new() }
    }

    /// With this severity.
    pub fn with_severity(self, severity: Severity) -> RuleConfig {
        RuleConfig { severity, ..self }
    }

    /// The kind.
    pub fn kind(&self) -> RuleKind {
        self.params.kind()
    }
}

/// The flat shape of `[[rule]]` in the file and in JSON: every kind's keys side by side.
/// [`RuleConfig`] is read and written through it, so the keys, their order and the JSON stay
/// as they are, and unknown keys and wrong types are reported at their own key path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleKeys {
    /// Rule id, unique.
    pub id: String,
    /// Rule kind (`sql` when left out).
    #[serde(default)]
    pub kind: RuleKind,
    /// Camera the rule watches (an `sql` rule may leave it out: its text says which cameras).
    #[serde(default)]
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
    /// How long the condition must hold, ms (speeding, wrong_way, zone_intrusion, stopped_vehicle).
    #[serde(default, deserialize_with = "crate::whole_number::opt_u64")]
    pub min_duration_ms: Option<u64>,
    /// Allowed direction of travel `[from, to]` in pixels (wrong_way).
    #[serde(default)]
    #[schema(value_type = Option<Vec<super::PointSchema>>)]
    pub allowed_direction: Option<Vec<Point>>,
    /// Classes not allowed in the zone (zone_intrusion).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// The rule's text in the rule language (sql; `docs/rules.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl From<RuleKeys> for RuleConfig {
    fn from(k: RuleKeys) -> RuleConfig {
        let RuleKeys { id, kind, camera, severity, mut zone, mut line, mut signal, mut limit_kmh, mut tolerance_kmh, mut max_speed_kmh, mut min_duration_ms, mut allowed_direction, mut classes, mut sql } = k;
        let params = match kind {
            RuleKind::Speeding => RuleParams::Speeding(SpeedingRule {
                zone: zone.take(),
                limit_kmh: limit_kmh.take(),
                tolerance_kmh: tolerance_kmh.take(),
                min_duration_ms: min_duration_ms.take(),
            }),
            RuleKind::WrongWay => RuleParams::WrongWay(WrongWayRule { zone: zone.take(), allowed_direction: allowed_direction.take(), min_duration_ms: min_duration_ms.take() }),
            RuleKind::RedLight => RuleParams::RedLight(RedLightRule { line: line.take(), signal: signal.take() }),
            RuleKind::ZoneIntrusion => RuleParams::ZoneIntrusion(ZoneIntrusionRule { zone: zone.take(), classes: classes.take(), min_duration_ms: min_duration_ms.take() }),
            RuleKind::StoppedVehicle => {
                RuleParams::StoppedVehicle(StoppedVehicleRule { zone: zone.take(), max_speed_kmh: max_speed_kmh.take(), min_duration_ms: min_duration_ms.take() })
            }
            RuleKind::LaneViolation => RuleParams::LaneViolation(LaneViolationRule { line: line.take() }),
            RuleKind::Sql => RuleParams::Sql(SqlRule { sql: sql.take() }),
        };
        // What the kind did not take belongs to other kinds.
        let left = [
            ("zone", zone.is_some()),
            ("line", line.is_some()),
            ("signal", signal.is_some()),
            ("limit_kmh", limit_kmh.is_some()),
            ("tolerance_kmh", tolerance_kmh.is_some()),
            ("max_speed_kmh", max_speed_kmh.is_some()),
            ("min_duration_ms", min_duration_ms.is_some()),
            ("allowed_direction", allowed_direction.is_some()),
            ("classes", classes.is_some()),
            ("sql", sql.is_some()),
        ];
        let other_kinds_keys = left.into_iter().filter(|(_, given)| *given).map(|(key, _)| key).collect();
        RuleConfig { id, camera, severity, params, other_kinds_keys }
    }
}

impl RuleKeys {
    /// The common keys of a rule, with no parameter set.
    pub fn bare(id: String, kind: RuleKind, camera: String, severity: Severity) -> RuleKeys {
        RuleKeys {
            id,
            kind,
            camera,
            severity,
            zone: None,
            line: None,
            signal: None,
            limit_kmh: None,
            tolerance_kmh: None,
            max_speed_kmh: None,
            min_duration_ms: None,
            allowed_direction: None,
            classes: None,
            sql: None,
        }
    }
}

impl From<RuleConfig> for RuleKeys {
    fn from(r: RuleConfig) -> RuleKeys {
        let mut k = RuleKeys::bare(r.id, r.params.kind(), r.camera, r.severity);
        match r.params {
            RuleParams::Speeding(p) => {
                (k.zone, k.limit_kmh, k.tolerance_kmh, k.min_duration_ms) = (p.zone, p.limit_kmh, p.tolerance_kmh, p.min_duration_ms);
            }
            RuleParams::WrongWay(p) => (k.zone, k.allowed_direction, k.min_duration_ms) = (p.zone, p.allowed_direction, p.min_duration_ms),
            RuleParams::RedLight(p) => (k.line, k.signal) = (p.line, p.signal),
            RuleParams::ZoneIntrusion(p) => (k.zone, k.classes, k.min_duration_ms) = (p.zone, p.classes, p.min_duration_ms),
            RuleParams::StoppedVehicle(p) => (k.zone, k.max_speed_kmh, k.min_duration_ms) = (p.zone, p.max_speed_kmh, p.min_duration_ms),
            RuleParams::LaneViolation(p) => k.line = p.line,
            RuleParams::Sql(p) => k.sql = p.sql,
        }
        k
    }
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
        if let RuleParams::Sql(r) = &self.params {
            self.check_sql(r, config, &mut bad);
            return;
        }
        if self.camera.is_empty() {
            bad("camera", format!("{} rules need a camera", self.kind().as_str()));
            return;
        }
        let Some(cam) = config.camera(&self.camera) else {
            bad("camera", format!("no camera {:?}", self.camera));
            return;
        };
        self.check_references(cam, config, &mut bad);
        self.check_parameters(cam, &mut bad);
    }

    /// An `sql` rule's keys: its text (checked in full by the rule compiler), its camera when
    /// given, and no key of the other kinds.
    fn check_sql(&self, r: &SqlRule, config: &PipelineConfig, bad: &mut impl FnMut(&str, String)) {
        match r.sql.as_deref().map(str::trim) {
            None => bad("sql", "a rule needs a kind (one of speeding, wrong_way, red_light, zone_intrusion, stopped_vehicle, lane_violation) or sql".into()),
            Some("") => bad("sql", "must not be empty".into()),
            Some(text) if text.len() > MAX_SQL_BYTES => bad("sql", format!("is {} bytes; at most {MAX_SQL_BYTES}", text.len())),
            Some(_) => {}
        }
        if !self.camera.is_empty() && config.camera(&self.camera).is_none() {
            bad("camera", format!("no camera {:?}", self.camera));
        }
        for key in self.other_kinds_keys.iter().filter(|k| **k != "sql") {
            bad(key, format!("sql rules take no {key}: the rule's text says it"));
        }
    }

    /// The zone or line, and the signal, against the pipeline.
    fn check_references(&self, cam: &CameraConfig, config: &PipelineConfig, bad: &mut impl FnMut(&str, String)) {
        let kind = self.kind();
        let name = kind.as_str();
        let foreign = |key: &str| self.other_kinds_keys.contains(&key);
        let place = self.params.place_id();
        if kind.watches_line() {
            if foreign("zone") {
                bad("zone", format!("{name} rules take no zone"));
            }
            match place {
                None => bad("line", format!("{name} rules need a line")),
                Some(l) if !cam.line.iter().any(|c| c.id == l) => bad("line", format!("camera {:?} has no line {l:?}", cam.id)),
                Some(_) => {}
            }
        } else {
            match place {
                None => bad("zone", format!("{name} rules need a zone")),
                Some(z) if !cam.zone.iter().any(|c| c.id == z) => bad("zone", format!("camera {:?} has no zone {z:?}", cam.id)),
                Some(_) => {}
            }
            if foreign("line") {
                bad("line", format!("{name} rules take no line"));
            }
        }
        if let RuleParams::RedLight(r) = &self.params {
            match &r.signal {
                None => bad("signal", "red_light rules need a signal".into()),
                Some(s) if !config.signal.iter().any(|c| &c.id == s) => bad("signal", format!("no signal {s:?}")),
                _ => {}
            }
        } else if foreign("signal") {
            bad("signal", format!("{name} rules take no signal"));
        }
    }

    /// The kind's parameters, and the keys of other kinds.
    fn check_parameters(&self, cam: &CameraConfig, bad: &mut impl FnMut(&str, String)) {
        let kind = self.kind();
        let name = kind.as_str();
        if matches!(kind, RuleKind::Speeding | RuleKind::StoppedVehicle) && cam.calibration.is_none() {
            bad("kind", format!("{name} rules need speeds: camera {:?} has no [camera.calibration]", cam.id));
        }
        let speeds: &[(&str, Option<f64>)] = match &self.params {
            RuleParams::Speeding(r) => {
                if r.limit_kmh.is_none() {
                    bad("limit_kmh", "speeding rules need limit_kmh".into());
                }
                &[("limit_kmh", r.limit_kmh), ("tolerance_kmh", r.tolerance_kmh)]
            }
            RuleParams::StoppedVehicle(r) => &[("max_speed_kmh", r.max_speed_kmh)],
            _ => &[],
        };
        for (key, v) in speeds {
            if !v.is_none_or(|v| v.is_finite() && v >= 0.0) {
                bad(key, "must be a finite number ≥ 0".into());
            }
        }
        if let RuleParams::WrongWay(r) = &self.params {
            match &r.allowed_direction {
                None => bad("allowed_direction", "wrong_way rules need allowed_direction = [[x, y], [x, y]]".into()),
                Some(d) if d.len() != 2 || d[0] == d[1] || d.iter().flatten().any(|v| !v.is_finite()) => {
                    bad("allowed_direction", "needs two distinct finite points [from, to]".into())
                }
                _ => {}
            }
        }
        if let RuleParams::ZoneIntrusion(r) = &self.params {
            match &r.classes {
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
        for key in self.other_kinds_keys.iter().filter(|k| !matches!(**k, "zone" | "line" | "signal")) {
            bad(key, format!("{name} rules take no {key}: it belongs to {}", kinds_with(key)));
        }
    }
}

/// Longest rule text, bytes.
pub const MAX_SQL_BYTES: usize = 16 * 1024;

/// The kinds that take a parameter key, for the message about a key given to another kind.
fn kinds_with(key: &str) -> &'static str {
    match key {
        "limit_kmh" | "tolerance_kmh" => "speeding rules",
        "max_speed_kmh" => "stopped_vehicle rules",
        "min_duration_ms" => "speeding, wrong_way, zone_intrusion and stopped_vehicle rules",
        "allowed_direction" => "wrong_way rules",
        "classes" => "zone_intrusion rules",
        "sql" => "sql rules",
        _ => "other kinds",
    }
}

impl RuleKind {
    /// Every kind.
    pub const ALL: [RuleKind; 6] =
        [RuleKind::Speeding, RuleKind::WrongWay, RuleKind::RedLight, RuleKind::ZoneIntrusion, RuleKind::StoppedVehicle, RuleKind::LaneViolation];

    /// Whether rules of this kind watch a line (`red_light`, `lane_violation`), else a zone.
    pub fn watches_line(self) -> bool {
        matches!(self, RuleKind::RedLight | RuleKind::LaneViolation)
    }

    /// The name in config, tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Speeding => "speeding",
            RuleKind::WrongWay => "wrong_way",
            RuleKind::RedLight => "red_light",
            RuleKind::ZoneIntrusion => "zone_intrusion",
            RuleKind::StoppedVehicle => "stopped_vehicle",
            RuleKind::LaneViolation => "lane_violation",
            RuleKind::Sql => "sql",
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


#[cfg(test)]
mod tests {
    use super::*;

    const CAMERA: &str = r#"
[[camera]]
id = "cam-1"
source = "detections:-"
[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
world = [[0, 50], [50, 50], [50, 0], [0, 0]]
[[camera.zone]]
id = "approach"
polygon = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
[[camera.line]]
id = "stop-1"
points = [[0, 500], [1000, 500]]
"#;

    fn problems(rule: &str) -> Vec<String> {
        let text = format!("{CAMERA}\n[[rule]]\n{rule}");
        match PipelineConfig::from_toml(&text) {
            Ok(_) => Vec::new(),
            Err(ps) => ps.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn the_json_shape_is_flat_with_every_key() {
        let json = r#"{"id":"slow","kind":"speeding","camera":"cam-1","zone":"approach","limit_kmh":30,"severity":"high"}"#;
        let rule: RuleConfig = serde_json::from_str(json).unwrap();
        let RuleParams::Speeding(s) = &rule.params else { panic!("{rule:?}") };
        assert_eq!((s.limit_kmh, s.tolerance(), s.min_duration()), (Some(30.0), 0.0, 1_000));
        assert_eq!(
            serde_json::to_string(&rule).unwrap(),
            r#"{"id":"slow","kind":"speeding","camera":"cam-1","severity":"high","zone":"approach","line":null,"signal":null,"limit_kmh":30.0,"tolerance_kmh":null,"max_speed_kmh":null,"min_duration_ms":null,"allowed_direction":null,"classes":null}"#
        );
        let back: RuleConfig = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
    }

    #[test]
    fn defaults_are_the_kinds() {
        let stopped = StoppedVehicleRule::default();
        assert_eq!((stopped.max_speed(), stopped.min_duration()), (1.0, 10_000));
        assert_eq!(WrongWayRule::default().min_duration(), 1_000);
        assert_eq!(ZoneIntrusionRule::default().min_duration(), 0);
        assert_eq!(RuleParams::RedLight(RedLightRule::default()).min_duration(), 0);
    }

    #[test]
    fn a_key_of_another_kind_is_reported_naming_the_kind() {
        let shown = problems("id = \"r\"\nkind = \"lane_violation\"\ncamera = \"cam-1\"\nline = \"stop-1\"\nzone = \"approach\"\nlimit_kmh = 50\nsignal = \"tl-1\"\n");
        assert_eq!(
            shown,
            [
                "rule[0].zone: lane_violation rules take no zone",
                "rule[0].signal: lane_violation rules take no signal",
                "rule[0].limit_kmh: lane_violation rules take no limit_kmh: it belongs to speeding rules",
            ]
        );
        let shown = problems("id = \"r\"\nkind = \"speeding\"\ncamera = \"cam-1\"\nline = \"stop-1\"\n");
        assert_eq!(shown, ["rule[0].zone: speeding rules need a zone", "rule[0].line: speeding rules take no line", "rule[0].limit_kmh: speeding rules need limit_kmh"]);
    }

    #[test]
    fn unknown_keys_and_wrong_types_keep_their_place() {
        let shown = problems("id = \"r\"\nkind = \"speeding\"\ncamera = \"cam-1\"\nzone = \"approach\"\nlimit_kmh = \"fast\"\ncolour = \"red\"\n");
        assert!(shown.iter().any(|s| s.ends_with("rule[0].colour: unknown key")), "{shown:#?}");
        assert!(shown.iter().any(|s| s.contains("rule[0].limit_kmh: invalid type")), "{shown:#?}");
        let shown = problems("id = \"r\"\nkind = \"speeding\"\ncamera = \"cam-1\"\nzone = \"approach\"\nlimit_kmh = 50\ntolerance_kmh = -1\n");
        assert_eq!(shown, ["rule[0].tolerance_kmh: must be a finite number ≥ 0"]);
    }
}
