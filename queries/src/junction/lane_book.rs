//! One camera's lanes over event time: the vehicles in each approach lane, the queue samples,
//! each lane's signal cycles (`queues`) and its bins (`lane_metrics`). Pure state with the time
//! injected: [`LaneBook::advance_to`] a time, feed that time's [`LaneBook::point`]s, then
//! [`LaneBook::settle`] (and [`LaneBook::sample`] at a sample instant). Times must not go back.
//!
//! **Vehicles in a lane.** A track of a vehicle class (see [`class_length_m`]) whose ground point
//! is in an approach lane's polygon is in that lane, with its latest point. It leaves the lane
//! when it crosses the stop line towards the junction (a *crossing*: the lane's volume), moves
//! into another lane, has been outside every lane for more than [`OUTSIDE_GRACE_MS`] (a ground
//! point jittering out of the polygon beside the curb does not drop a standing vehicle), or
//! ends. A vehicle not seen for [`STALE_MS`] is left out of samples and occupancy; its state
//! goes when the track ends (or after [`TRACK_TIMEOUT_MS`] unseen). Speed: the causal filter's;
//! before the filter is warm, the mean speed since the track's first point in the lane once
//! that is ≥ 1 s old, else unknown (not queued).
//!
//! **Queue samples** every `queue_sample_ms` (aligned to the epoch): see [`super::queue`]. Rows
//! are emitted for every lane of the camera while the camera had a point within [`ACTIVE_MS`]
//! (an idle camera writes nothing); the cycles see the samples either way (an idle lane has no
//! queue).
//!
//! **Cycles** of a lane's signal ([`ApproachGeom::lane_signal`]): red start (a change to red from
//! yellow or green; the state in force when the book starts is not a start) to the next red
//! start; `green_start_ms` the first change to green in it. Per cycle: the max of the samples in
//! `[start, end)`, `cleared` when a sample in `[green start, end)` had no queue. The detection
//! zone is the lane's first [`DETECTION_ZONE_M`] behind the stop line; a vehicle covers it from
//! when its front enters it until its ground point crosses the stop line (or it leaves the lane).
//! `red_start_occupancy` is the share of the [`RED_OCCUPANCY_MS`] after the red that ends the
//! cycle (the red right after the cycle's green, ATSPM's ROR5) during which a vehicle covered
//! the zone; `split_failure` = not cleared and that occupancy ≥ `split_failure_occupancy`. The
//! row is emitted once that window has passed; lanes without a signal have no cycles.
//!
//! **Bins** (`bin_ms`, aligned to the epoch) per lane, for every bin the camera was active in:
//! volume = crossings in the bin (crossing time interpolated between the points either side of
//! the line; each track counts once), occupancy = share of the bin the zone was covered,
//! headway = time since the lane's previous crossing (front to front, when that was within
//! `bin_ms`), gap = headway minus the leader's time over the line (its length / its speed at the
//! line, when it moved faster than 1 km/h), speed = the speed at the crossing. A bin is emitted
//! [`BIN_LAG_MS`] after its end at revision 0 and never revised: times are processed in order,
//! so only a crossing whose points straddle a closed bin could change it, and such a crossing is
//! counted in the first open bin instead.

use super::geometry::{JunctionGeom, P, crosses};
use super::footprint::{class_width_m, footprint_centre};
use super::queue::{LaneVehicle, Queue, class_length_m, measure};
use super::timeline::SignalTimeline;
use crate::facts::{SignalState, TrackPoint, from_ck};
use itscam_types::junction_rows::{LaneMetricRow, QueueRow, QueueSampleRow};
use crate::observe::IdMap;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The detection zone: this many metres behind the stop line.
pub const DETECTION_ZONE_M: f64 = 10.0;
/// The window after a red start whose occupancy is `red_start_occupancy`, ms.
pub const RED_OCCUPANCY_MS: u64 = 5_000;
/// A vehicle not seen for longer is left out of samples and occupancy, ms.
pub const STALE_MS: u64 = 3_000;
/// A track not seen for longer is forgotten even without its end, ms.
pub const TRACK_TIMEOUT_MS: u64 = 30_000;
/// A vehicle outside every lane (without crossing the stop line) for longer has left, ms.
pub const OUTSIDE_GRACE_MS: u64 = 1_000;
/// A bin is emitted this long after its end, ms.
pub const BIN_LAG_MS: u64 = 5_000;
/// Sample rows are written while the camera had a point within this, ms.
pub const ACTIVE_MS: u64 = 10_000;

/// Rows produced by a step.
#[derive(Debug, Default)]
pub struct LaneRows {
    /// `queues`.
    pub queues: Vec<QueueRow>,
    /// `queue_samples`.
    pub samples: Vec<QueueSampleRow>,
    /// `lane_metrics`.
    pub metrics: Vec<LaneMetricRow>,
}

impl LaneRows {
    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.samples.is_empty() && self.metrics.is_empty()
    }
}

#[derive(Clone, Debug)]
struct Cycle {
    start: u64,
    green: Option<u64>,
    end: u64,
    max_m: f64,
    max_veh: u32,
    cleared: bool,
    red_occupied_ms: u64,
}

#[derive(Clone, Debug, Default)]
struct Bin {
    volume: u64,
    occupied_ms: u64,
    headway_ms: (f64, u32),
    gap_ms: (f64, u32),
    speed_kmh: (f64, u32),
}

#[derive(Clone, Copy, Debug)]
struct Crossing {
    t: u64,
    /// The vehicle's time over the line, ms.
    over_ms: Option<f64>,
}

#[derive(Debug)]
struct Lane {
    approach: usize,
    /// Index in the approach's lanes.
    lane: usize,
    approach_id: Arc<str>,
    lane_id: Arc<str>,
    signal: Option<Arc<str>>,
    signal_state: Option<SignalState>,
    /// The zone was covered as of `occupied_since`'s step.
    occupied: bool,
    cycle: Option<Cycle>,
    /// Ended cycles waiting for their red window.
    closing: VecDeque<Cycle>,
    bins: BTreeMap<u64, Bin>,
    last_crossing: Option<Crossing>,
}

#[derive(Clone, Debug)]
struct Track {
    /// Lane index (into the book's lanes), `None` when it is in none (kept only once counted).
    lane: Option<usize>,
    /// Its last point inside a lane, and that point's time: a crossing is a step from there
    /// over the stop line (a vehicle beside the curb just before the line still crosses it).
    ground: P,
    ground_ts: u64,
    /// Distance to the lane's stop line, m.
    dist_m: f64,
    length_m: f64,
    speed_kmh: Option<f64>,
    ts: u64,
    outside_since: Option<u64>,
    first: (u64, P),
    /// It crossed a stop line (counted once).
    counted: bool,
}

/// The footprint centres of one point already computed, by heading. A heading and its
/// opposite give the same four corners (in another order), hence the same centre: opposite
/// approaches (west and east, north and south) share one computation.
#[derive(Default)]
struct Footprints {
    known: [(P, Option<P>); 4],
    len: usize,
}

impl Footprints {
    fn get_or(&mut self, heading: P, compute: impl FnOnce() -> Option<P>) -> Option<P> {
        let same = |k: &P| (k[0] == heading[0] && k[1] == heading[1]) || (k[0] == -heading[0] && k[1] == -heading[1]);
        if let Some((_, c)) = self.known[..self.len].iter().find(|(k, _)| same(k)) {
            return *c;
        }
        let c = compute();
        if self.len < self.known.len() {
            self.known[self.len] = (heading, c);
            self.len += 1;
        }
        c
    }
}

/// One camera's lane state (see the module doc).
#[derive(Debug)]
pub struct LaneBook {
    camera: Arc<str>,
    geom: Arc<JunctionGeom>,
    lanes: Vec<Lane>,
    tracks: IdMap<Track>,
    now: u64,
    last_point: Option<u64>,
    next_sample: u64,
    /// Bins starting before this are emitted.
    bins_closed_before: u64,
}

fn bin_start(t: u64, bin_ms: u64) -> u64 {
    t - t % bin_ms.max(1)
}

fn overlap(a: u64, b: u64, c: u64, d: u64) -> u64 {
    b.min(d).saturating_sub(a.max(c))
}

impl LaneBook {
    /// A book for a camera's junction, starting at `t` (signal states in force before `t`
    /// are where its cycles start from).
    pub fn new(geom: Arc<JunctionGeom>, t: u64, timeline: &SignalTimeline) -> LaneBook {
        let mut lanes = Vec::new();
        for (a, ap) in geom.approaches.iter().enumerate() {
            // Without a stop line there is nothing to measure a queue from.
            if ap.stop_line.is_none() {
                continue;
            }
            for (l, lane) in ap.lanes.iter().enumerate() {
                let signal = ap.lane_signal(l).cloned();
                let signal_state = signal.as_ref().and_then(|s| timeline.state_at(s, t.saturating_sub(1)));
                lanes.push(Lane {
                    approach: a,
                    lane: l,
                    approach_id: ap.id.clone(),
                    lane_id: lane.id.clone(),
                    signal,
                    signal_state,
                    occupied: false,
                    cycle: None,
                    closing: VecDeque::new(),
                    bins: BTreeMap::new(),
                    last_crossing: None,
                });
            }
        }
        let sample_ms = geom.settings.queue_sample_ms.max(1);
        let next_sample = t.div_ceil(sample_ms).saturating_mul(sample_ms);
        let camera = geom.camera.clone();
        LaneBook { camera, geom, lanes, tracks: IdMap::default(), now: t.saturating_sub(1), last_point: None, next_sample, bins_closed_before: 0 }
    }

    /// The next sample instant.
    pub fn next_sample(&self) -> u64 {
        self.next_sample
    }

    /// The time of the last step.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Tracks held (for tests of bounded state).
    pub fn tracks_held(&self) -> usize {
        self.tracks.len()
    }

    /// The lane (book index) containing a point, over every approach with a stop line.
    fn lane_at(&self, p: P) -> Option<usize> {
        self.lanes.iter().position(|l| self.geom.approaches[l.approach].lanes[l.lane].polygon.contains(p[0], p[1]))
    }

    /// The lane of a track's ground point and the point to measure it by: with a calibration,
    /// the footprint centre ([`footprint_centre`]) for the direction of travel of the first
    /// approach (the track's own first) whose lane contains it; without, the ground point.
    fn locate(&self, g: P, hint: Option<usize>, length_m: f64, width_m: f64) -> (Option<usize>, P) {
        let Some(h) = self.geom.homography.as_deref() else { return (self.lane_at(g), g) };
        let approaches = hint.into_iter().chain((0..self.geom.approaches.len()).filter(|a| Some(*a) != hint));
        let mut first = None;
        let mut known = Footprints::default();
        for a in approaches {
            let heading = self.geom.approaches[a].inbound;
            let Some(c) = known.get_or(heading, || footprint_centre(h, g, heading, length_m, width_m)) else { continue };
            if let Some(l) = self.lanes.iter().position(|l| l.approach == a && self.geom.approaches[a].lanes[l.lane].polygon.contains(c[0], c[1])) {
                return (Some(l), c);
            }
            first.get_or_insert(c);
        }
        // In no lane: the centre for the track's own approach (its stop-line crossing), else the point.
        (None, if hint.is_some() { first.unwrap_or(g) } else { g })
    }

    /// Moves to `t`: the signal changes in `(previous step, t]`, the zone occupancy up to `t`,
    /// and the cycles and bins complete at `t` (into `out`).
    pub fn advance_to(&mut self, t: u64, timeline: &SignalTimeline, out: &mut LaneRows) {
        if t <= self.now {
            return;
        }
        let from = self.now + 1;
        for lane in &mut self.lanes {
            let Some(sig) = lane.signal.clone() else { continue };
            for (tc, state) in timeline.changes(&sig, from, t + 1) {
                if state == lane.signal_state {
                    continue;
                }
                let was = lane.signal_state;
                lane.signal_state = state;
                match state {
                    Some(SignalState::Red) if matches!(was, Some(SignalState::Green | SignalState::Yellow)) => {
                        if let Some(mut c) = lane.cycle.take() {
                            c.end = tc;
                            lane.closing.push_back(c);
                        }
                        lane.cycle = Some(Cycle { start: tc, green: None, end: u64::MAX, max_m: 0.0, max_veh: 0, cleared: false, red_occupied_ms: 0 });
                    }
                    Some(SignalState::Green) => {
                        if let Some(c) = lane.cycle.as_mut().filter(|c| c.green.is_none()) {
                            c.green = Some(tc);
                        }
                    }
                    _ => {}
                }
            }
        }
        let bin_ms = self.geom.settings.bin_ms.max(1);
        let (a, b) = (self.now, t);
        for lane in self.lanes.iter_mut().filter(|l| l.occupied) {
            for c in lane.closing.iter_mut() {
                c.red_occupied_ms += overlap(a, b, c.end, c.end.saturating_add(RED_OCCUPANCY_MS));
            }
            let mut s = bin_start(a, bin_ms);
            while s < b {
                let part = overlap(a, b, s, s + bin_ms);
                if part > 0 && s >= self.bins_closed_before {
                    lane.bins.entry(s).or_default().occupied_ms += part;
                }
                s += bin_ms;
            }
        }
        self.now = t;
        self.flush(t, false, out);
    }

    /// Emits the cycles whose red window ended by `t` and the bins `BIN_LAG_MS` past their end
    /// (`all`: the input ended, every cycle that ended and every bin that ended by `t`).
    fn flush(&mut self, t: u64, all: bool, out: &mut LaneRows) {
        let s = &self.geom.settings;
        let bin_ms = s.bin_ms.max(1);
        for lane in &mut self.lanes {
            while let Some(c) = lane.closing.front() {
                if !all && c.end.saturating_add(RED_OCCUPANCY_MS) > t {
                    break;
                }
                let Some(c) = lane.closing.pop_front() else { break };
                let window = t.saturating_sub(c.end).clamp(1, RED_OCCUPANCY_MS);
                let occupancy = (c.red_occupied_ms as f64 / window as f64).min(1.0);
                out.queues.push(QueueRow {
                    camera_id: self.camera.to_string(),
                    approach: lane.approach_id.to_string(),
                    lane_id: lane.lane_id.to_string(),
                    signal_id: lane.signal.as_deref().unwrap_or_default().to_string(),
                    cycle_start_ms: c.start,
                    green_start_ms: c.green,
                    cycle_end_ms: c.end,
                    max_queue_m: (c.max_m * 100.0).round() / 100.0,
                    max_queue_veh: c.max_veh,
                    cleared: c.cleared,
                    red_start_occupancy: Some(occupancy),
                    split_failure: !c.cleared && occupancy >= s.split_failure_occupancy,
                    revision: 0,
                });
            }
            while let Some(entry) = lane.bins.first_entry() {
                let start = *entry.key();
                let end = start + bin_ms;
                if end.saturating_add(if all { 0 } else { BIN_LAG_MS }) > t {
                    break;
                }
                let bin = entry.remove();
                let mean = |(sum, n): (f64, u32)| (n > 0).then(|| sum / f64::from(n));
                out.metrics.push(LaneMetricRow {
                    camera_id: self.camera.to_string(),
                    approach: lane.approach_id.to_string(),
                    lane_id: lane.lane_id.to_string(),
                    bin_start_ms: start,
                    bin_end_ms: end,
                    volume: bin.volume,
                    occupancy: (bin.occupied_ms as f64 / bin_ms as f64).min(1.0),
                    mean_headway_s: mean(bin.headway_ms).map(|v| v / 1000.0),
                    mean_gap_s: mean(bin.gap_ms).map(|v| v / 1000.0),
                    mean_speed_kmh: mean(bin.speed_kmh),
                    revision: 0,
                });
            }
        }
        let closed = t.saturating_sub(if all { 0 } else { BIN_LAG_MS });
        self.bins_closed_before = self.bins_closed_before.max(bin_start(closed, bin_ms));
    }

    /// A point (or end) of a track at the current step's time.
    pub fn point(&mut self, p: &TrackPoint) {
        if p.ended {
            self.tracks.remove(&p.track);
            return;
        }
        let (Some((x, y)), Some(length_m)) = (p.ground, class_length_m(p.class)) else {
            self.tracks.remove(&p.track);
            return;
        };
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        self.last_point = Some(self.now);
        let hint = self.tracks.get(&p.track).and_then(|t| t.lane).map(|l| self.lanes[l].approach);
        let (here, g) = self.locate([x, y], hint, length_m, class_width_m(p.class));
        let t = self.now;
        let Some(mut tr) = self.tracks.remove(&p.track) else {
            if let Some(l) = here {
                let speed_kmh = p.speed_ck.map(from_ck);
                let dist_m = self.dist(l, g);
                self.tracks.insert(p.track, Track { lane: Some(l), ground: g, ground_ts: t, dist_m, length_m, speed_kmh, ts: t, outside_since: None, first: (t, g), counted: false });
            }
            return;
        };
        let fallback = || {
            let dt = t.saturating_sub(tr.first.0);
            (dt >= 1_000).then(|| (g[0] - tr.first.1[0]).hypot(g[1] - tr.first.1[1]) / (dt as f64 / 1000.0) * 3.6)
        };
        let speed_kmh = p.speed_ck.map(from_ck).or_else(fallback);
        let mut crossed = false;
        if let Some(l) = tr.lane
            && here != Some(l)
        {
            let ap = &self.geom.approaches[self.lanes[l].approach];
            let step = [g[0] - tr.ground[0], g[1] - tr.ground[1]];
            if let Some(stop) = &ap.stop_line
                && crosses(stop, tr.ground, g)
                && step[0] * ap.inbound[0] + step[1] * ap.inbound[1] > 0.0
            {
                crossed = true;
                if !tr.counted {
                    tr.counted = true;
                    let d0 = ap.to_stop_line(tr.ground).unwrap_or(0.0);
                    let d1 = ap.to_stop_line(g).unwrap_or(0.0);
                    let frac = if d0 + d1 > 1e-9 { d0 / (d0 + d1) } else { 1.0 };
                    let tc = tr.ground_ts + ((t.saturating_sub(tr.ground_ts)) as f64 * frac).round() as u64;
                    self.crossing(l, tc, speed_kmh.or(tr.speed_kmh), length_m);
                }
            }
        }
        tr.speed_kmh = speed_kmh;
        tr.length_m = length_m;
        tr.ts = t;
        if here.is_some() {
            tr.ground = g;
            tr.ground_ts = t;
        }
        match (here, tr.lane) {
            (Some(l), _) => {
                tr.lane = Some(l);
                tr.outside_since = None;
            }
            (None, Some(_)) if !crossed => {
                let since = *tr.outside_since.get_or_insert(t);
                if t.saturating_sub(since) > OUTSIDE_GRACE_MS {
                    tr.lane = None;
                }
            }
            _ => tr.lane = None,
        }
        if let Some(l) = tr.lane {
            tr.dist_m = self.dist(l, g);
        }
        if tr.lane.is_some() || tr.counted {
            self.tracks.insert(p.track, tr);
        }
    }

    fn dist(&self, lane: usize, g: P) -> f64 {
        self.geom.approaches[self.lanes[lane].approach].to_stop_line(g).unwrap_or(f64::INFINITY)
    }

    /// A crossing of lane `l`'s stop line at `tc`.
    fn crossing(&mut self, l: usize, tc: u64, speed_kmh: Option<f64>, length_m: f64) {
        let bin_ms = self.geom.settings.bin_ms.max(1);
        let lane = &mut self.lanes[l];
        let at = tc.max(self.bins_closed_before);
        let bin = lane.bins.entry(bin_start(at, bin_ms)).or_default();
        bin.volume += 1;
        if let Some(v) = speed_kmh {
            bin.speed_kmh.0 += v;
            bin.speed_kmh.1 += 1;
        }
        if let Some(prev) = lane.last_crossing
            && tc >= prev.t
            && tc - prev.t <= bin_ms
        {
            let h = (tc - prev.t) as f64;
            bin.headway_ms.0 += h;
            bin.headway_ms.1 += 1;
            if let Some(over) = prev.over_ms {
                bin.gap_ms.0 += (h - over).max(0.0);
                bin.gap_ms.1 += 1;
            }
        }
        let over_ms = speed_kmh.filter(|v| *v > 1.0).map(|v| length_m / (v / 3.6) * 1000.0);
        if lane.last_crossing.is_none_or(|p| tc >= p.t) {
            lane.last_crossing = Some(Crossing { t: tc, over_ms });
        }
    }

    /// The vehicles of each lane seen within `STALE_MS`.
    fn lane_vehicles(&self) -> Vec<Vec<LaneVehicle>> {
        let mut out = vec![Vec::new(); self.lanes.len()];
        for tr in self.tracks.values() {
            if let Some(l) = tr.lane
                && tr.ts + STALE_MS >= self.now
            {
                out[l].push(LaneVehicle { dist_m: tr.dist_m, length_m: tr.length_m, speed_kmh: tr.speed_kmh });
            }
        }
        out
    }

    /// After the step's points: whether each lane's detection zone is covered from now on.
    pub fn settle(&mut self) {
        // At every step of the camera: the lanes' vehicles are not collected.
        for lane in &mut self.lanes {
            lane.occupied = false;
        }
        for tr in self.tracks.values() {
            if let Some(l) = tr.lane
                && tr.ts + STALE_MS >= self.now
                && (LaneVehicle { dist_m: tr.dist_m, length_m: tr.length_m, speed_kmh: tr.speed_kmh }).front_m() <= DETECTION_ZONE_M
            {
                self.lanes[l].occupied = true;
            }
        }
    }

    /// The queue sample at the current step's time (a sample instant, after [`Self::settle`]).
    pub fn sample(&mut self, out: &mut LaneRows) {
        let t = self.now;
        let s = &self.geom.settings;
        self.next_sample = t.saturating_add(s.queue_sample_ms.max(1));
        self.tracks.retain(|_, tr| tr.ts + TRACK_TIMEOUT_MS >= t);
        let active = self.last_point.is_some_and(|p| p + ACTIVE_MS >= t);
        let bin = bin_start(t, s.bin_ms.max(1));
        let vehicles = self.lane_vehicles();
        for (lane, vs) in self.lanes.iter_mut().zip(vehicles) {
            let q: Queue = measure(&vs, s.queue_speed_kmh, s.queue_gap_m);
            if let Some(c) = lane.cycle.as_mut() {
                c.max_m = c.max_m.max(q.length_m);
                c.max_veh = c.max_veh.max(q.vehicles);
                if c.green.is_some_and(|g| t >= g) && q.length_m == 0.0 {
                    c.cleared = true;
                }
            }
            if active {
                if bin >= self.bins_closed_before {
                    lane.bins.entry(bin).or_default();
                }
                out.samples.push(QueueSampleRow {
                    camera_id: self.camera.to_string(),
                    approach: lane.approach_id.to_string(),
                    lane_id: lane.lane_id.to_string(),
                    ts_ms: t,
                    queue_m: (q.length_m * 100.0).round() / 100.0,
                    queue_veh: q.vehicles,
                });
            }
        }
    }

    /// The input ended: every cycle that ended (its red window as far as seen) and every bin
    /// that ended by the last step.
    pub fn finish(&mut self, out: &mut LaneRows) {
        let t = self.now;
        self.flush(t, true, out);
    }
}

#[cfg(test)]
#[path = "lane_book_tests.rs"]
mod tests;
