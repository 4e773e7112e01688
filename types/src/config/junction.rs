//! The junction geometry of a camera (`[[camera.approach]]`, `[[camera.crosswalk]]`) and the
//! settings of the junction tables (`[analytics.junction]`). Geometry is on the ground, in the
//! calibration's frame (metres): a camera with approaches needs a calibration.

use super::shapes::{Point, PointSchema, check_polygon};
use super::{Problem, is_valid_id};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A movement through a junction, from the entry approach to the exit approach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Turn to the left (counter-clockwise on a map).
    Left,
    /// Straight on.
    Through,
    /// Turn to the right.
    Right,
    /// Back out on the approach's own leg.
    UTurn,
    /// The track left the view (or ended) between the stop line and any exit gate.
    Unknown,
}

impl Movement {
    /// The name in tables and configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::Left => "left",
            Movement::Through => "through",
            Movement::Right => "right",
            Movement::UTurn => "u_turn",
            Movement::Unknown => "unknown",
        }
    }
}

/// Which way the ground frame's y axis points when x points east (to the right on a map).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YAxis {
    /// x east, y north: a map (right-handed). Left turns are counter-clockwise.
    #[default]
    North,
    /// x east, y south: like image coordinates (left-handed). Left turns are clockwise.
    South,
}

/// `[analytics.junction]`: settings of `movements`, `turning_counts`, `queues`,
/// `queue_samples`, `lane_metrics` and `signal_performance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JunctionConfig {
    /// Bin of `turning_counts`, `lane_metrics` and the `bin` rows of `signal_performance`, ms
    /// (aligned to the Unix epoch; 15 min by default, the traffic engineers' interval).
    pub bin_ms: u64,
    /// Free-flow (posted) speed, km/h: arrivals on green project a vehicle from the entry gate
    /// to the stop line at this speed, and control delay counts the time lost below it.
    pub free_flow_speed_kmh: f64,
    /// A vehicle slower than this is queued (SUMO's `--queue-output` uses 5 km/h) and has
    /// stopped (`movements.stops`).
    pub queue_speed_kmh: f64,
    /// A stopped vehicle counts a new stop only after it was faster than this again.
    pub stop_rearm_kmh: f64,
    /// Queued vehicles further apart than this (front of one to the back of the next, m) end
    /// the queue: the chain back from the stop line stops there.
    pub queue_gap_m: f64,
    /// `queue_samples` interval, ms.
    pub queue_sample_ms: u64,
    /// Lane occupancy at the start of red from which a cycle whose queue did not clear is a
    /// split failure (0..1).
    pub split_failure_occupancy: f64,
    /// A track that stays this long between its stop line and any exit gate is closed as
    /// `unknown` (a vehicle parked in the junction must not hold state forever), ms.
    pub max_crossing_ms: u64,
    /// Direction of the ground frame's y axis, for left and right.
    pub y_axis: YAxis,
}

impl Default for JunctionConfig {
    fn default() -> Self {
        JunctionConfig {
            bin_ms: 900_000,
            free_flow_speed_kmh: 50.0,
            queue_speed_kmh: 5.0,
            stop_rearm_kmh: 10.0,
            queue_gap_m: 15.0,
            queue_sample_ms: 1_000,
            split_failure_occupancy: 0.8,
            max_crossing_ms: 300_000,
            y_axis: YAxis::North,
        }
    }
}

impl JunctionConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        let at = "analytics.junction";
        if self.bin_ms < 1_000 {
            out.push(Problem::new(format!("{at}.bin_ms"), "must be at least 1000 (1 s)"));
        }
        if self.queue_sample_ms < 100 || self.queue_sample_ms > self.bin_ms.max(100) {
            out.push(Problem::new(format!("{at}.queue_sample_ms"), "must be between 100 and bin_ms"));
        }
        for (key, v) in [("free_flow_speed_kmh", self.free_flow_speed_kmh), ("queue_speed_kmh", self.queue_speed_kmh), ("stop_rearm_kmh", self.stop_rearm_kmh), ("queue_gap_m", self.queue_gap_m)] {
            if !(v > 0.0 && v.is_finite()) {
                out.push(Problem::new(format!("{at}.{key}"), "must be a positive number"));
            }
        }
        if self.stop_rearm_kmh < self.queue_speed_kmh {
            out.push(Problem::new(format!("{at}.stop_rearm_kmh"), "must be at least queue_speed_kmh"));
        }
        if !(0.0..=1.0).contains(&self.split_failure_occupancy) {
            out.push(Problem::new(format!("{at}.split_failure_occupancy"), "must be between 0 and 1"));
        }
        if self.max_crossing_ms < 1_000 {
            out.push(Problem::new(format!("{at}.max_crossing_ms"), "must be at least 1000"));
        }
    }
}

/// A lane of an approach or of an exit: a ground polygon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LaneConfig {
    /// Lane id, unique within the camera (such as `north-1`, 1 = the curb lane).
    pub id: String,
    /// ≥ 3 ground vertices (m), in order, not self-intersecting. An approach lane should reach
    /// back from the stop line as far as queues are to be measured.
    #[schema(value_type = Vec<PointSchema>)]
    pub polygon: Vec<Point>,
    /// The signal that controls this lane when it is not the approach's (a protected left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// An entry–exit pair whose movement is not what the geometry says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MovementOverride {
    /// The exit approach's id.
    pub to: String,
    /// The movement of this approach → `to`.
    pub movement: Movement,
}

/// `[[camera.approach]]`: one leg of a junction, in the calibration's ground frame (m).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApproachConfig {
    /// Approach id, unique within the camera (such as `north`: the leg vehicles come from).
    pub id: String,
    /// The signal of the approach's through movement: cycles, arrivals on green, queues of its
    /// lanes (unless a lane names its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Entry gate: a ground polyline across the approach's lanes upstream of the stop line
    /// (also the advance detector of arrivals on green). Crossing it towards the stop line
    /// enters the approach.
    #[schema(value_type = Vec<PointSchema>)]
    pub entry: Vec<Point>,
    /// Exit gate: a ground polyline across this leg's outbound lanes, past the junction.
    /// Crossing it away from the junction ends a movement with this approach as its exit.
    #[schema(value_type = Vec<PointSchema>)]
    pub exit: Vec<Point>,
    /// Stop line: a ground polyline across the approach's lanes. Required when a signal is
    /// given; without it the movement's stop-line time is the time it left its lane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<PointSchema>>)]
    pub stop_line: Option<Vec<Point>>,
    /// The approach's lanes (towards the junction).
    #[serde(default)]
    pub lanes: Vec<LaneConfig>,
    /// The leg's outbound lanes (away from the junction), for `movements.exit_lane`.
    #[serde(default)]
    pub exit_lanes: Vec<LaneConfig>,
    /// Movements the geometry gets wrong (a skewed junction), per exit approach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub movement: Vec<MovementOverride>,
}

/// `[[camera.crosswalk]]`: a ground polygon; people crossing it are counted per direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CrosswalkConfig {
    /// Crosswalk id, unique within the camera.
    pub id: String,
    /// ≥ 3 ground vertices (m).
    #[schema(value_type = Vec<PointSchema>)]
    pub polygon: Vec<Point>,
    /// Its pedestrian signal, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// Checks a gate or stop line: ≥ 2 finite points, no zero-length segment.
fn check_polyline(p: &[Point]) -> Result<(), String> {
    if p.len() < 2 {
        return Err(format!("a gate needs at least 2 points, got {}", p.len()));
    }
    if p.iter().flatten().any(|v| !v.is_finite()) {
        return Err("points must be finite numbers".into());
    }
    if p.windows(2).any(|w| w[0] == w[1]) {
        return Err("two consecutive points are the same".into());
    }
    Ok(())
}

/// Whether a polyline crosses or touches a polygon (a vertex inside, or an edge crossing one
/// of the polygon's edges).
fn polyline_meets_polygon(line: &[Point], polygon: &[Point]) -> bool {
    let Ok(poly) = itscam_geo::Polygon::new(polygon) else { return false };
    if line.iter().any(|p| poly.contains(p[0], p[1])) {
        return true;
    }
    let n = polygon.len();
    line.windows(2).any(|w| (0..n).any(|i| itscam_geo::segments_intersect(w[0], w[1], polygon[i], polygon[(i + 1) % n])))
}

/// What the checks of one camera's junction share: the known ids so far and the signals.
struct JunctionCheck<'a> {
    signals: &'a HashSet<&'a str>,
    approach_ids: HashSet<&'a str>,
    /// Approach and crosswalk ids (one namespace).
    ids: HashSet<&'a str>,
    lane_ids: HashSet<&'a str>,
}

impl<'a> JunctionCheck<'a> {
    fn signal(&self, s: &Option<String>, key: String, out: &mut Vec<Problem>) {
        if let Some(s) = s
            && !self.signals.contains(s.as_str())
        {
            out.push(Problem::new(key, format!("signal {s:?} is not a configured [[signal]]")));
        }
    }

    fn id(&mut self, id: &'a str, key: String, what: &str, out: &mut Vec<Problem>) {
        if !is_valid_id(id) {
            out.push(Problem::new(key, format!("{id:?} is not a valid id")));
        } else if !self.ids.insert(id) {
            out.push(Problem::new(key, format!("duplicate id {id:?} ({what} and crosswalk ids share one namespace)")));
        }
    }

    fn approach(&mut self, key: &str, a: &'a ApproachConfig, out: &mut Vec<Problem>) {
        self.id(&a.id, format!("{key}.id"), "approach", out);
        self.signal(&a.signal, format!("{key}.signal"), out);
        for (name, line) in [("entry", Some(&a.entry)), ("exit", Some(&a.exit)), ("stop_line", a.stop_line.as_ref())] {
            if let Some(line) = line
                && let Err(e) = check_polyline(line)
            {
                out.push(Problem::new(format!("{key}.{name}"), e));
            }
        }
        if a.signal.is_some() && a.stop_line.is_none() {
            out.push(Problem::new(format!("{key}.stop_line"), "an approach with a signal needs a stop line (cycles, queues and arrivals on green are measured at it)"));
        }
        if a.lanes.is_empty() {
            out.push(Problem::new(format!("{key}.lanes"), "an approach needs at least one lane polygon"));
        }
        for (group, lanes) in [("lanes", &a.lanes), ("exit_lanes", &a.exit_lanes)] {
            for (k, l) in lanes.iter().enumerate() {
                self.lane(&format!("{key}.{group}[{k}]"), l, out);
            }
        }
        gates_cross_lanes(key, a, out);
        for (k, m) in a.movement.iter().enumerate() {
            if !self.approach_ids.contains(m.to.as_str()) {
                out.push(Problem::new(format!("{key}.movement[{k}].to"), format!("{:?} is not an approach of this camera", m.to)));
            }
            if m.movement == Movement::Unknown {
                out.push(Problem::new(format!("{key}.movement[{k}].movement"), "unknown is not a movement to configure"));
            }
        }
    }

    fn lane(&mut self, key: &str, l: &'a LaneConfig, out: &mut Vec<Problem>) {
        if !is_valid_id(&l.id) {
            out.push(Problem::new(format!("{key}.id"), format!("{:?} is not a valid id", l.id)));
        } else if !self.lane_ids.insert(l.id.as_str()) {
            out.push(Problem::new(format!("{key}.id"), format!("duplicate lane id {:?}", l.id)));
        }
        if let Err(e) = check_polygon(&l.polygon) {
            out.push(Problem::new(format!("{key}.polygon"), e));
        }
        self.signal(&l.signal, format!("{key}.signal"), out);
    }
}

/// A gate must cross the lanes it gates (checked when the gate and some lane are well formed).
fn gates_cross_lanes(key: &str, a: &ApproachConfig, out: &mut Vec<Problem>) {
    let meets = |line: &[Point], lanes: &[LaneConfig]| -> Option<bool> {
        let valid: Vec<&LaneConfig> = lanes.iter().filter(|l| check_polygon(&l.polygon).is_ok()).collect();
        (check_polyline(line).is_ok() && !valid.is_empty()).then(|| valid.iter().any(|l| polyline_meets_polygon(line, &l.polygon)))
    };
    if meets(&a.entry, &a.lanes) == Some(false) {
        out.push(Problem::new(format!("{key}.entry"), "the entry gate does not cross any of the approach's lanes"));
    }
    if let Some(stop) = &a.stop_line
        && meets(stop, &a.lanes) == Some(false)
    {
        out.push(Problem::new(format!("{key}.stop_line"), "the stop line does not touch any of the approach's lanes"));
    }
    if meets(&a.exit, &a.exit_lanes) == Some(false) {
        out.push(Problem::new(format!("{key}.exit"), "the exit gate does not cross any of the leg's exit lanes"));
    }
}

/// Checks a camera's junction geometry; `at` is the camera's key, `calibrated` whether it has a
/// calibration, `signals` the configured signal ids.
pub(crate) fn check_junction(at: &str, approaches: &[ApproachConfig], crosswalks: &[CrosswalkConfig], calibrated: bool, signals: &HashSet<&str>, out: &mut Vec<Problem>) {
    if (!approaches.is_empty() || !crosswalks.is_empty()) && !calibrated {
        out.push(Problem::new(format!("{at}.approach"), "junction geometry is on the ground: the camera needs a [camera.calibration]"));
    }
    let mut check = JunctionCheck { signals, approach_ids: approaches.iter().map(|a| a.id.as_str()).collect(), ids: HashSet::new(), lane_ids: HashSet::new() };
    for (j, a) in approaches.iter().enumerate() {
        check.approach(&format!("{at}.approach[{j}]"), a, out);
    }
    for (j, c) in crosswalks.iter().enumerate() {
        let key = format!("{at}.crosswalk[{j}]");
        check.id(&c.id, format!("{key}.id"), "approach", out);
        if let Err(e) = check_polygon(&c.polygon) {
            out.push(Problem::new(format!("{key}.polygon"), e));
        }
        check.signal(&c.signal, format!("{key}.signal"), out);
    }
}
