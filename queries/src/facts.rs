//! The records that flow through the differential collections. Differential data must be
//! `Ord + Hash + Serialize`, so speeds are fixed-point integers: centi-km/h (`_ck`).

use itscam_types::analytics::Direction;
use itscam_types::config::{RuleConfig, RuleKind, RuleParams, Severity};
use itscam_types::ObjectClass;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// km/h → centi-km/h.
pub fn to_ck(kmh: f64) -> i64 {
    (kmh * 100.0).round() as i64
}

/// centi-km/h → km/h.
pub fn from_ck(ck: i64) -> f64 {
    ck as f64 / 100.0
}

/// Whether a [`Place`] is a zone or a line (ids are unique per kind within a camera).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PlaceKind {
    /// A `[[camera.zone]]`.
    Zone,
    /// A `[[camera.line]]`.
    Line,
}

/// A zone or a line of a camera: the key rules and facts are matched on. Its names are shared
/// (`Arc<str>`): the scene builds each place once and every fact carries a clone of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Place {
    /// Camera id.
    #[serde(with = "itscam_types::serde_arc::arc_str")]
    pub camera: Arc<str>,
    /// Zone or line.
    pub kind: PlaceKind,
    /// Zone or line id.
    #[serde(with = "itscam_types::serde_arc::arc_str")]
    pub id: Arc<str>,
}

/// A confirmed track's point inside a zone, or its leaving the zone (`left`). Transient: it
/// exists in the collection only at its own time, so joining it with a rule added later never
/// revisits history.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ZonePoint {
    /// Track id.
    pub track: u64,
    /// Event time.
    pub ts: u64,
    /// Class of the track (majority so far).
    pub class: ObjectClass,
    /// Smoothed ground speed, once the filter has warmed up (calibrated cameras).
    pub speed_ck: Option<i64>,
    /// Standard deviation of `speed_ck` as the filter models it (measurement noise and possible
    /// manoeuvres), centi-km/h; with `speed_ck`.
    pub speed_std_ck: Option<i64>,
    /// Whether the track is moving (speed ≥ 3 km/h, or ≥ 5 px/s without calibration).
    pub moving: bool,
    /// Direction of motion in the image, unit vector × 1000.
    pub dir: (i32, i32),
    /// The track left the zone (or ended) at `ts`; the other fields repeat its last point.
    pub left: bool,
}

/// A confirmed track crossing a line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CrossPoint {
    /// Track id.
    pub track: u64,
    /// Event time of the first point on the new side.
    pub ts: u64,
    /// Class.
    pub class: ObjectClass,
    /// Which way.
    pub direction: Direction,
    /// Speed at the crossing.
    pub speed_ck: Option<i64>,
}

/// A signal's state, as a collection `(signal_id, state)` that holds one state per signal at
/// any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalState {
    /// Stop.
    Red,
    /// Clear the junction.
    Yellow,
    /// Go.
    Green,
}

/// An update of the signal-state collection: `((signal_id, state), time, diff)`.
pub type SignalUpdate = ((String, SignalState), u64, isize);

/// A rule as data: the config's [`RuleConfig`] with its parameters resolved to integers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Rule id (unique in the pipeline).
    #[serde(with = "itscam_types::serde_arc::arc_str")]
    pub id: Arc<str>,
    /// Kind.
    pub kind: RuleKind,
    /// Zone or line it watches.
    pub place: Place,
    /// Severity of its violations.
    pub severity: Severity,
    /// Signal (red_light).
    pub signal: Option<String>,
    /// Speeding: limit + tolerance; stopped_vehicle: the speed at or below which a vehicle is
    /// stopped. Centi-km/h.
    pub threshold_ck: i64,
    /// The limit reported in `violations.limit_value`, centi-km/h or ms (see [`RuleSpec::limit_value`]).
    pub limit: Option<i64>,
    /// How long the condition must hold.
    pub min_duration_ms: u64,
    /// wrong_way: allowed direction, unit vector × 1000.
    pub allowed_dir: (i32, i32),
    /// zone_intrusion: classes not allowed, sorted.
    pub classes: Vec<ObjectClass>,
}

impl RuleSpec {
    /// Resolves a validated rule (defaults from the config's [`RuleParams`]).
    pub fn from_config(r: &RuleConfig) -> RuleSpec {
        let kind = r.kind();
        let place_kind = if kind.watches_line() { PlaceKind::Line } else { PlaceKind::Zone };
        let (mut threshold_ck, mut limit, mut allowed_dir, mut classes, mut signal) = (0, None, (0, 0), Vec::new(), None);
        match &r.params {
            RuleParams::Speeding(s) => {
                let l = s.limit_kmh.unwrap_or(0.0);
                (threshold_ck, limit) = (to_ck(l + s.tolerance()), Some(to_ck(l)));
            }
            RuleParams::StoppedVehicle(s) => {
                threshold_ck = to_ck(s.max_speed());
                limit = Some(threshold_ck);
            }
            RuleParams::WrongWay(w) => {
                if let Some(d) = w.allowed_direction.as_ref().filter(|d| d.len() == 2) {
                    allowed_dir = unit_milli(d[1][0] - d[0][0], d[1][1] - d[0][1]);
                }
            }
            RuleParams::ZoneIntrusion(z) => {
                classes = z.classes.iter().flatten().filter_map(|c| ObjectClass::from_name(c)).collect();
                classes.sort();
                classes.dedup();
            }
            RuleParams::RedLight(l) => signal = l.signal.clone(),
            RuleParams::LaneViolation(_) => {}
        }
        RuleSpec {
            id: r.id.as_str().into(),
            kind,
            place: Place { camera: r.camera.as_str().into(), kind: place_kind, id: r.params.place_id().unwrap_or_default().into() },
            severity: r.severity,
            signal,
            threshold_ck,
            limit,
            min_duration_ms: r.params.min_duration(),
            allowed_dir,
            classes,
        }
    }

    /// `violations.limit_value` in the table's units (km/h for speeds, s for durations).
    pub fn limit_value(&self) -> Option<f64> {
        match self.kind {
            RuleKind::Speeding | RuleKind::StoppedVehicle => self.limit.map(from_ck),
            RuleKind::WrongWay | RuleKind::ZoneIntrusion => Some(self.min_duration_ms as f64 / 1000.0),
            RuleKind::RedLight | RuleKind::LaneViolation => None,
        }
    }
}

/// A direction as a unit vector × 1000 (`(0, 0)` for a zero vector).
pub fn unit_milli(dx: f64, dy: f64) -> (i32, i32) {
    let n = (dx * dx + dy * dy).sqrt();
    if n < 1e-9 || !n.is_finite() {
        return (0, 0);
    }
    ((dx / n * 1000.0).round() as i32, (dy / n * 1000.0).round() as i32)
}
