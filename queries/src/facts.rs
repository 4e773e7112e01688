//! The records that flow through the differential collections. Differential data must be
//! `Ord + Hash + Serialize`, so speeds are fixed-point integers: centi-km/h (`_ck`).

use itscam_types::analytics::Direction;
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
    /// Ground speed, once the filter has warmed up (calibrated cameras): the causal filter's,
    /// or the smoother's where `readers` is [`Readers::Speed`].
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
    /// Which rules read it.
    pub readers: Readers,
}

/// Which rules read a zone fact. With `[analytics.speed] speed_rules_smoothed` (the default)
/// each point of a calibrated camera comes twice: at once with the causal filter's speed for
/// the rules that do not call `speed_over` ([`Readers::NotSpeed`]), and as its detection row
/// leaves the fixed-lag smoother, `smooth_lag_ms` after `ts`, with the smoothed speed (and the
/// stay's entries and exits as those rows see them) for the rules that do ([`Readers::Speed`]).
/// Without it, or on a camera without calibration, once, at once, for every rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Readers {
    /// Every rule.
    Every,
    /// The rules that do not call `speed_over`.
    NotSpeed,
    /// The rules that call `speed_over`.
    Speed,
}

impl Readers {
    /// Whether a rule that calls `speed_over` (or not) reads the fact.
    pub fn include(self, calls_speed_over: bool) -> bool {
        match self {
            Readers::Every => true,
            Readers::NotSpeed => !calls_speed_over,
            Readers::Speed => calls_speed_over,
        }
    }
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

/// A point of a confirmed track, for the rules that read `track_points`; or its end
/// (`ended`: the other fields repeat its last point). It stays on its camera's worker.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackPoint {
    /// Track id.
    pub track: u64,
    /// Event time.
    pub ts: u64,
    /// Class of the track (majority so far).
    pub class: ObjectClass,
    /// Ground point, m (calibrated cameras).
    pub ground: Option<(f64, f64)>,
    /// The causal filter's speed, centi-km/h, once warm.
    pub speed_ck: Option<i64>,
    /// Its standard deviation, centi-km/h.
    pub speed_std_ck: Option<i64>,
    /// Whether the track is moving.
    pub moving: bool,
    /// Direction of motion in the image, unit vector × 1000.
    pub dir: (i32, i32),
    /// The zones it stays in (with the exit grace).
    pub zones: Vec<Arc<str>>,
    /// The track ended at `ts`.
    pub ended: bool,
}

impl TrackPoint {
    /// The point without its zones (the junction tables do not read them): a copy that
    /// allocates nothing.
    pub fn without_zones(&self) -> TrackPoint {
        let TrackPoint { track, ts, class, ground, speed_ck, speed_std_ck, moving, dir, zones: _, ended } = *self;
        TrackPoint { track, ts, class, ground, speed_ck, speed_std_ck, moving, dir, zones: Vec::new(), ended }
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

/// A junction lane's queue, for the rules that read `queue_samples` (a sample every
/// `queue_sample_ms`) or `queues` (a finished cycle of the lane's signal). It stays on its
/// camera's worker.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneFact {
    /// Approach id.
    pub approach: Arc<str>,
    /// Lane id.
    pub lane: Arc<str>,
    /// The sample's time, or the cycle's end.
    pub ts: u64,
    /// Queue length (of the cycle: the longest), m.
    pub queue_m: f64,
    /// Queued vehicles (of the cycle: the most).
    pub queue_veh: u32,
    /// A finished cycle (`queues`); `None` for a sample.
    pub cycle: Option<CycleFact>,
}

/// What a finished signal cycle of a lane adds.
#[derive(Clone, Debug, PartialEq)]
pub struct CycleFact {
    /// Red start.
    pub start_ms: u64,
    /// The queue was empty at some sample of the green.
    pub cleared: bool,
    /// Not cleared, and the lane occupied at the start of red.
    pub split_failure: bool,
}
