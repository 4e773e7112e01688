//! The `movements` and `turning_counts` operator: track points, signal updates and junction
//! changes in; one movement row per track, the counts per bin, and per vehicle what
//! `signal_performance` needs out.
//!
//! Inputs are stashed by time and applied in time order once all three inputs' frontier has
//! passed a time: first the junction changes of that time (a camera's open tracks are closed
//! under the old junction — their movements decided as at a track end — and the camera starts
//! afresh under the new one), then the signal updates, then the points (per camera, through its
//! [`CameraMovements`]), then the deadlines of that time.
//!
//! **`movements`**: one row per track (revision 0) at the time it is decided. Rows are final: a
//! track's points arrive in event time order, so nothing later changes a decided movement.
//!
//! **`turning_counts`**: per camera × bin (`bin_ms`, aligned to the epoch) × site × approach ×
//! movement × class, a vehicle in the bin of its stop-line time, a crosswalk passage in the bin
//! of its first point on the crosswalk. A bin's rows leave at `bin_end − 1` once the frontier
//! passes the bin's end (revision 0). A movement decided after that (a vehicle that crossed the
//! stop line before the end and its exit gate after) is a correction: the row of its key again,
//! with the next revision, at the time it was decided. A bin is kept [`retain_ms`] after its
//! end — longer than any decision can take — and then forgotten (memory stays flat); a decision
//! for a forgotten bin (only possible with a junction change or a pathological stall) is
//! dropped and logged. No row is ever retracted: counts only grow.

use super::movements::{CameraMovements, Decided, Decision, EXIT_FOLLOW_MS, STALE_MS};
use super::stash::{AtTime, Stash, before, drop_before};
use super::timeline::SignalTimeline;
use super::{JunctionGeom, JunctionInputs, JunctionPlan};
use crate::facts::{SignalState, TrackPoint};
use itscam_types::junction_rows::{CountSite, MovementRow, TurningCountRow};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// What `signal_performance` needs of a vehicle that crossed a stop line.
#[derive(Clone, Debug, PartialEq)]
pub struct VehicleRecord {
    /// Camera id.
    pub camera: Arc<str>,
    /// Entry approach id.
    pub approach: Arc<str>,
    /// The approach's (through) signal.
    pub signal: Option<Arc<str>>,
    /// Stop-line time (the period it counts in).
    pub stop_ts: u64,
    /// The approach signal's state at the projected arrival.
    pub arrival_state: Option<SignalState>,
    /// A motor vehicle (car, truck, bus, motorcycle).
    pub motor: bool,
    /// Control delay, s (`None`: its movement is unknown).
    pub delay_s: Option<f64>,
}

/// The operator's outputs.
pub struct MovementStreams<'s> {
    /// `movements` rows.
    pub movements: Stream<'s, u64, Vec<MovementRow>>,
    /// `turning_counts` rows (and corrections).
    pub turning_counts: Stream<'s, u64, Vec<TurningCountRow>>,
    /// One record per vehicle that crossed a stop line, at the time it was decided.
    pub vehicles: Stream<'s, u64, Vec<VehicleRecord>>,
}

/// How long a bin stays correctable after its end, ms: the longest a movement can take to be
/// decided after its stop line (`max_crossing_ms`, then a stale track's timeout, then the exit
/// follow-up), plus a second.
pub fn retain_ms(max_crossing_ms: u64) -> u64 {
    max_crossing_ms + STALE_MS + EXIT_FOLLOW_MS + 1_000
}

/// Key of a count within a camera's bin: site, approach (or crosswalk), movement (or
/// direction), class.
pub type CountKey = (CountSite, Arc<str>, &'static str, &'static str);

/// The counts of one camera × bin.
#[derive(Debug, Default)]
struct Bin {
    closed: bool,
    counts: BTreeMap<CountKey, (u64, Option<u32>)>,
}

/// The count of one decision: its bin's start and key (`None`: it counts nowhere — a track that
/// never crossed its stop line).
pub fn count_of(d: &Decision, geom: &JunctionGeom, bin_ms: u64) -> Option<(u64, CountKey)> {
    let bin = |t: u64| t - t % bin_ms.max(1);
    match d {
        Decision::Movement(m) => {
            let stop = m.row.stop_line_ts_ms?;
            let movement = movement_name(&m.row.movement);
            Some((bin(stop), (CountSite::Approach, geom.approaches[m.approach].id.clone(), movement, itscam_types::ObjectClass::from_name(&m.row.class).map_or("unknown", |c| c.name()))))
        }
        Decision::Passage(p) => Some((bin(p.ts), (CountSite::Crosswalk, p.crosswalk.clone(), p.direction, p.class.name()))),
    }
}

fn movement_name(s: &str) -> &'static str {
    ["left", "through", "right", "u_turn"].into_iter().find(|m| *m == s).unwrap_or("unknown")
}

fn count_row(camera: &str, bin_start: u64, bin_ms: u64, key: &CountKey, count: u64, revision: u32) -> TurningCountRow {
    TurningCountRow {
        camera_id: camera.to_string(),
        bin_start_ms: bin_start,
        bin_end_ms: bin_start + bin_ms,
        site: key.0.as_str().to_string(),
        approach: key.1.to_string(),
        movement: key.2.to_string(),
        class: key.3.to_string(),
        count,
        revision,
    }
}

fn vehicle_record(camera: &Arc<str>, geom: &JunctionGeom, m: &Decided) -> Option<VehicleRecord> {
    Some(VehicleRecord {
        camera: camera.clone(),
        approach: geom.approaches[m.approach].id.clone(),
        signal: m.approach_signal.clone(),
        stop_ts: m.row.stop_line_ts_ms?,
        arrival_state: m.arrival_state,
        motor: m.motor,
        delay_s: m.row.control_delay_s,
    })
}

/// The operator's state.
struct State {
    plan: JunctionPlan,
    /// Junctions changed at runtime (`None`: removed), over the plan's.
    changed: HashMap<Arc<str>, Option<Arc<JunctionGeom>>>,
    cameras: HashMap<Arc<str>, CameraMovements>,
    timeline: SignalTimeline,
    bins: BTreeMap<(u64, Arc<str>), Bin>,
    movements: Vec<MovementRow>,
    counts: Vec<TurningCountRow>,
    vehicles: Vec<VehicleRecord>,
    decisions: Vec<Decision>,
    dropped: u64,
    /// The last time bins were forgotten at: a bin that ended `retain_ms` before it is gone.
    forgotten_at: u64,
}

impl State {
    fn geom(&self, camera: &Arc<str>) -> Option<Arc<JunctionGeom>> {
        match self.changed.get(camera) {
            Some(g) => g.clone(),
            None => self.plan.initial.get(camera).cloned(),
        }
    }

    /// Turns the decisions of a camera into rows; counts into closed bins are corrections.
    fn take_decisions(&mut self, camera: &Arc<str>, geom: &JunctionGeom) {
        let bin_ms = self.plan.settings.bin_ms.max(1);
        let retain = retain_ms(self.plan.settings.max_crossing_ms);
        for d in std::mem::take(&mut self.decisions) {
            if let Some((start, key)) = count_of(&d, geom, bin_ms) {
                let bin = match self.bins.get_mut(&(start, camera.clone())) {
                    Some(b) => Some(b),
                    // A bin already forgotten (older than every retained one) is not re-opened.
                    None if start + bin_ms + retain <= self.forgotten_at => None,
                    None => Some(self.bins.entry((start, camera.clone())).or_default()),
                };
                match bin {
                    Some(b) => {
                        let (n, rev) = b.counts.entry(key.clone()).or_insert((0, None));
                        *n += 1;
                        if b.closed {
                            let next = rev.map_or(0, |r| r + 1);
                            *rev = Some(next);
                            self.counts.push(count_row(camera, start, bin_ms, &key, *n, next));
                        }
                    }
                    None => {
                        self.dropped += 1;
                        tracing::warn!(camera = %camera, bin_start = start, dropped = self.dropped, "turning_counts: a movement decided after its bin was forgotten is not counted");
                    }
                }
            }
            if let Decision::Movement(m) = d {
                if let Some(v) = vehicle_record(camera, geom, &m) {
                    self.vehicles.push(v);
                }
                self.movements.push(m.row);
            }
        }
    }

    /// Closes the bins that end at or before `t`: their rows, to send at `bin_end − 1`.
    fn close_bins(&mut self, t: u64, out: &mut Vec<(u64, TurningCountRow)>) {
        let bin_ms = self.plan.settings.bin_ms.max(1);
        for ((start, camera), bin) in self.bins.range_mut(..(t.saturating_sub(bin_ms).saturating_add(1), Arc::from(""))) {
            if bin.closed || start + bin_ms > t {
                continue;
            }
            bin.closed = true;
            for (key, (n, rev)) in bin.counts.iter_mut() {
                *rev = Some(0);
                out.push((start + bin_ms - 1, count_row(camera, *start, bin_ms, key, *n, 0)));
            }
        }
    }

    /// Forgets the bins whose correction time is over at `t`.
    fn forget_bins(&mut self, t: u64) {
        let (bin_ms, retain) = (self.plan.settings.bin_ms.max(1), retain_ms(self.plan.settings.max_crossing_ms));
        self.bins.retain(|(start, _), b| !(b.closed && start + bin_ms + retain <= t));
        self.forgotten_at = self.forgotten_at.max(t);
    }

    /// Applies one time's inputs.
    fn apply(&mut self, t: u64, at: &AtTime) {
        for (camera, geom) in at.geoms.iter().cloned() {
            if let Some(mut old) = self.cameras.remove(&camera) {
                let g = old.geom().clone();
                old.finish(&self.timeline, &mut self.decisions);
                self.take_decisions(&camera, &g);
            }
            self.changed.insert(camera, geom);
        }
        self.timeline.update(at.signals.iter().cloned());
        let mut touched: Vec<Arc<str>> = Vec::new();
        let mut points = at.points.iter().peekable();
        while let Some((camera, p)) = points.next() {
            // The points come in runs of one camera: the camera is looked up once per run.
            let Some(mut cam) = self.take_camera(camera) else { continue };
            self.camera_point(camera, &mut cam, p);
            while let Some((_, p)) = points.next_if(|(c, _)| super::same_camera(c, camera)) {
                self.camera_point(camera, &mut cam, p);
            }
            self.cameras.insert(camera.clone(), cam);
            if !touched.iter().any(|c| super::same_camera(c, camera)) {
                touched.push(camera.clone());
            }
        }
        for camera in touched {
            self.advance_camera(&camera, t);
        }
    }

    /// A camera's state machine, out of the map (a new one for a camera with a junction).
    fn take_camera(&mut self, camera: &Arc<str>) -> Option<CameraMovements> {
        match self.cameras.remove(camera) {
            Some(cam) => Some(cam),
            None => Some(CameraMovements::new(self.geom(camera)?)),
        }
    }

    /// One point through its camera's state machine; what it decided into rows.
    fn camera_point(&mut self, camera: &Arc<str>, cam: &mut CameraMovements, p: &TrackPoint) {
        cam.point(p, &self.timeline, &mut self.decisions);
        if !self.decisions.is_empty() {
            let g = cam.geom().clone();
            self.take_decisions(camera, &g);
        }
    }

    /// Deadlines of a camera at `t`.
    fn advance_camera(&mut self, camera: &Arc<str>, t: u64) {
        let Some(cam) = self.cameras.get_mut(camera) else { return };
        cam.advance(t, &self.timeline, &mut self.decisions);
        if !self.decisions.is_empty() {
            let g = cam.geom().clone();
            self.take_decisions(camera, &g);
        }
    }

    fn advance_all(&mut self, t: u64) {
        let mut cams: Vec<Arc<str>> = self.cameras.keys().cloned().collect();
        cams.sort();
        for c in cams {
            self.advance_camera(&c, t);
        }
    }

    fn finish_all(&mut self) {
        let mut cams: Vec<Arc<str>> = self.cameras.keys().cloned().collect();
        cams.sort();
        for c in cams {
            let Some(cam) = self.cameras.get_mut(&c) else { continue };
            cam.finish(&self.timeline, &mut self.decisions);
            let g = cam.geom().clone();
            self.take_decisions(&c, &g);
        }
    }
}

/// Signal history kept behind the frontier, ms (arrival states are read up to
/// `max_crossing_ms` back).
fn signal_history_ms(plan: &JunctionPlan) -> u64 {
    retain_ms(plan.settings.max_crossing_ms) + 600_000
}

impl State {
    fn new(plan: JunctionPlan) -> State {
        State {
            plan,
            changed: HashMap::new(),
            cameras: HashMap::new(),
            timeline: SignalTimeline::default(),
            bins: BTreeMap::new(),
            movements: Vec::new(),
            counts: Vec::new(),
            vehicles: Vec::new(),
            decisions: Vec::new(),
            dropped: 0,
            forgotten_at: 0,
        }
    }
}

/// The outputs of the movement tables.
pub(crate) struct MovementOutputs {
    movements: Output<u64, Vec<MovementRow>>,
    counts: Output<u64, Vec<TurningCountRow>>,
    vehicles: Output<u64, Vec<VehicleRecord>>,
}

impl MovementOutputs {
    /// Adds the three outputs to an operator (after its inputs).
    pub(crate) fn new<'s>(builder: &mut OperatorBuilder<'s, u64>) -> (MovementOutputs, MovementStreams<'s>) {
        let (movements, movements_s) = builder.new_output();
        let (counts, counts_s) = builder.new_output();
        let (vehicles, vehicles_s) = builder.new_output();
        (MovementOutputs { movements, counts, vehicles }, MovementStreams { movements: movements_s, turning_counts: counts_s, vehicles: vehicles_s })
    }
}

/// The movement tables' part of an operator: its state, outputs and capabilities (one per
/// output, in the outputs' order).
pub(crate) struct MovementPart {
    state: State,
    outputs: MovementOutputs,
    held: Option<Vec<Capability<u64>>>,
    history: u64,
    closing: Vec<(u64, TurningCountRow)>,
}

impl MovementPart {
    pub(crate) fn new(plan: JunctionPlan, outputs: MovementOutputs, caps: Vec<Capability<u64>>) -> MovementPart {
        MovementPart { history: signal_history_ms(&plan), state: State::new(plan), outputs, held: Some(caps), closing: Vec::new() }
    }

    /// Sends what a step produced: rows at `t`, closing bins at their own end − 1.
    fn send(&mut self, t: u64) {
        let Some(caps) = self.held.as_ref() else { return };
        let (state, out, closing) = (&mut self.state, &mut self.outputs, &mut self.closing);
        closing.sort_by_key(|(at, _)| *at);
        let mut i = 0;
        while i < closing.len() {
            let at = closing[i].0;
            let mut group: Vec<TurningCountRow> = Vec::new();
            while i < closing.len() && closing[i].0 == at {
                group.push(closing[i].1.clone());
                i += 1;
            }
            out.counts.activate().give(&caps[1].delayed(&at.max(*caps[1].time())), &mut group);
        }
        closing.clear();
        if !state.movements.is_empty() {
            out.movements.activate().give(&caps[0].delayed(&t), &mut state.movements);
            state.movements.clear();
        }
        if !state.counts.is_empty() {
            out.counts.activate().give(&caps[1].delayed(&t), &mut state.counts);
            state.counts.clear();
        }
        if !state.vehicles.is_empty() {
            out.vehicles.activate().give(&caps[2].delayed(&t), &mut state.vehicles);
            state.vehicles.clear();
        }
    }

    /// Applies the stashed times before the inputs' `frontier` (`None`: they ended), then the
    /// deadlines and bins every time before it completes. The caller drops those times.
    pub(crate) fn run(&mut self, stash: &Stash, frontier: Option<u64>) {
        let Some(caps) = self.held.as_ref() else { return };
        let start = *caps[0].time();
        for (&t, at) in before(stash, frontier) {
            self.state.close_bins(t, &mut self.closing);
            self.state.apply(t, at);
            self.send(t);
        }
        match frontier {
            Some(f) if f > start => {
                // Every time before `f` is complete: deadlines up to `f − 1`, and the bins
                // that ended.
                let now = f - 1;
                self.state.close_bins(now, &mut self.closing);
                self.state.advance_all(now);
                self.send(now);
                self.state.close_bins(f, &mut self.closing);
                self.send(now);
                self.state.forget_bins(f);
                self.state.timeline.forget_before(f.saturating_sub(self.history));
                for c in self.held.iter_mut().flatten() {
                    c.downgrade(&f);
                }
            }
            Some(_) => {}
            None => {
                self.state.finish_all();
                self.state.close_bins(u64::MAX, &mut self.closing);
                self.send(start);
                self.held = None;
            }
        }
    }
}

/// The operator: `movements`, `turning_counts` and the vehicle records of
/// `signal_performance` (the junction tables run it with the lanes' part in one operator,
/// `tables.rs`).
pub fn movement_tables<'s>(inputs: &JunctionInputs<'s>, plan: &JunctionPlan) -> MovementStreams<'s> {
    let mut builder = OperatorBuilder::new("JunctionMovements".to_owned(), inputs.points.scope());
    let mut points_in = builder.new_input(inputs.points.clone(), Pipeline);
    let mut signals_in = builder.new_input(inputs.signals.clone(), Pipeline);
    let mut geoms_in = builder.new_input(inputs.geoms.clone(), Pipeline);
    let (outputs, streams) = MovementOutputs::new(&mut builder);
    let plan = plan.clone();
    builder.build(move |caps| {
        let mut part = MovementPart::new(plan, outputs, caps);
        let mut stash = Stash::new();
        move |frontiers| {
            points_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                stash.entry(t).or_default().points.append(data);
            });
            signals_in.for_each(|_, data| {
                for u in data.drain(..) {
                    stash.entry(u.1).or_default().signals.push(u);
                }
            });
            geoms_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                stash.entry(t).or_default().geoms.append(data);
            });
            let frontier = frontiers.iter().filter_map(|f| f.frontier().iter().min().copied()).min();
            part.run(&stash, frontier);
            drop_before(&mut stash, frontier);
        }
    });
    streams
}

#[cfg(test)]
#[path = "movement_tables_tests.rs"]
mod tests;
