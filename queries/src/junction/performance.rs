//! `signal_performance`: per approach with a signal, per cycle of that signal (red start → next
//! red start) and per bin (`bin_ms`), the ATSPM measures of the motor vehicles (car, truck, bus,
//! motorcycle) that crossed the approach's stop line in the period:
//!
//! - arrivals on green / yellow / red: the approach signal's state at the vehicle's projected
//!   arrival — its entry gate time + `entry_to_stop_m` at `free_flow_speed_kmh` (the advance
//!   detector's projection of ATSPM; a vehicle that appeared past the gate is projected from its
//!   first point). A vehicle counts in the period of its **stop-line time** (a vehicle that
//!   arrived on red counts with the green it left in), `aog_share` = green / vehicles;
//! - mean control delay (vehicles whose movement is known) and its HCM level of service;
//! - split failures, from the `queues` rows: a cycle of the approach fails when a lane's queue
//!   cycle that starts in it failed (a lane with its own signal — a protected left — maps its
//!   cycle to the approach cycle its red start falls in); a bin counts its failed cycles (by
//!   their start). The latest revision of a queue row wins.
//!
//! A period's row leaves once the frontier has passed its end (a cycle's end is the next red
//! start, at `end − 1`) with revision 0, if anything fell in it; whatever arrives for it later
//! (a movement decided after the period ended, a queue row) writes the row again with the next
//! revision. Periods are kept [`super::movement_tables::retain_ms`] after their end, then
//! forgotten; a record for a forgotten period is dropped (and logged).

use super::movement_tables::{VehicleRecord, retain_ms};
use super::timeline::SignalTimeline;
use super::{JunctionGeom, JunctionPlan};
use crate::facts::{SignalState, SignalUpdate};
use itscam_types::junction_rows::{Period, QueueRow, SignalPerformanceRow, level_of_service};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// How far back the red start of a cycle is looked for, ms (a cycle longer than this has no
/// cycle row; its vehicles still count in their bin).
pub const MAX_CYCLE_MS: u64 = 600_000;

/// One period's sums.
#[derive(Clone, Debug, Default, PartialEq)]
struct Acc {
    vehicles: u64,
    green: u64,
    yellow: u64,
    red: u64,
    delay_sum: f64,
    delay_n: u64,
    /// Queue cycles per (approach cycle start, lane): failed.
    failures: BTreeMap<(u64, Arc<str>), bool>,
    /// Known end (a cycle's is known when its next red starts).
    end: Option<u64>,
    closed: bool,
    revision: Option<u32>,
    dirty: bool,
}

/// Key of a period: camera, approach, period kind, start.
type PeriodKey = (Arc<str>, Arc<str>, Period, u64);

/// The periods of every approach on this worker.
#[derive(Debug)]
pub struct PerformanceBook {
    bin_ms: u64,
    retain_ms: u64,
    /// The approach's signal, from the plan and from the records.
    signals: HashMap<(Arc<str>, Arc<str>), Arc<str>>,
    periods: BTreeMap<PeriodKey, Acc>,
    forgotten_at: u64,
    dropped: u64,
}

/// The last red start of `signal` at or before `t`.
fn red_start(timeline: &SignalTimeline, signal: &str, t: u64) -> Option<u64> {
    let from = t.saturating_sub(MAX_CYCLE_MS);
    timeline.changes(signal, from, t.saturating_add(1)).into_iter().filter(|(_, s)| *s == Some(SignalState::Red)).map(|(t, _)| t).next_back()
}

/// The first red start of `signal` in `(after, before)`.
fn next_red_start(timeline: &SignalTimeline, signal: &str, after: u64, before: u64) -> Option<u64> {
    if before <= after + 1 {
        return None;
    }
    timeline.changes(signal, after + 1, before).into_iter().find(|(_, s)| *s == Some(SignalState::Red)).map(|(t, _)| t)
}

impl PerformanceBook {
    /// A book for the plan's settings and approaches.
    pub fn new(plan: &JunctionPlan) -> PerformanceBook {
        let mut signals = HashMap::new();
        for (camera, geom) in &plan.initial {
            Self::learn_signals(&mut signals, camera, geom);
        }
        PerformanceBook { bin_ms: plan.settings.bin_ms.max(1), retain_ms: retain_ms(plan.settings.max_crossing_ms), signals, periods: BTreeMap::new(), forgotten_at: 0, dropped: 0 }
    }

    fn learn_signals(signals: &mut HashMap<(Arc<str>, Arc<str>), Arc<str>>, camera: &Arc<str>, geom: &JunctionGeom) {
        for a in &geom.approaches {
            if let Some(s) = &a.signal {
                signals.insert((camera.clone(), a.id.clone()), s.clone());
            }
        }
    }

    /// Periods held (for tests of bounded memory).
    pub fn len(&self) -> usize {
        self.periods.len()
    }

    /// Whether no period is held.
    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    fn forgotten(&self, kind: Period, start: u64) -> bool {
        let span = match kind {
            Period::Bin => self.bin_ms,
            Period::Cycle => MAX_CYCLE_MS,
        };
        start + span + self.retain_ms <= self.forgotten_at
    }

    /// The period to add to (created; `None` when it was forgotten).
    fn period(&mut self, key: PeriodKey) -> Option<&mut Acc> {
        if !self.periods.contains_key(&key) && self.forgotten(key.2, key.3) {
            self.dropped += 1;
            tracing::warn!(camera = %key.0, approach = %key.1, start = key.3, dropped = self.dropped, "signal_performance: data for a forgotten period is not counted");
            return None;
        }
        let bin_ms = self.bin_ms;
        let acc = self.periods.entry(key.clone()).or_insert_with(|| Acc { end: (key.2 == Period::Bin).then(|| key.3 + bin_ms), ..Acc::default() });
        acc.dirty = true;
        Some(acc)
    }

    /// The periods (bin, and cycle if known) of an approach at `t`.
    fn keys(&self, timeline: &SignalTimeline, camera: &Arc<str>, approach: &Arc<str>, t: u64) -> Vec<PeriodKey> {
        let mut keys = vec![(camera.clone(), approach.clone(), Period::Bin, t - t % self.bin_ms)];
        if let Some(signal) = self.signals.get(&(camera.clone(), approach.clone()))
            && let Some(start) = red_start(timeline, signal, t)
        {
            keys.push((camera.clone(), approach.clone(), Period::Cycle, start));
        }
        keys
    }

    /// A vehicle that crossed a stop line.
    pub fn vehicle(&mut self, r: &VehicleRecord, timeline: &SignalTimeline) {
        if let Some(s) = &r.signal {
            self.signals.insert((r.camera.clone(), r.approach.clone()), s.clone());
        }
        if !r.motor || !self.signals.contains_key(&(r.camera.clone(), r.approach.clone())) {
            return;
        }
        for key in self.keys(timeline, &r.camera, &r.approach, r.stop_ts) {
            let Some(acc) = self.period(key) else { continue };
            acc.vehicles += 1;
            match r.arrival_state {
                Some(SignalState::Green) => acc.green += 1,
                Some(SignalState::Yellow) => acc.yellow += 1,
                Some(SignalState::Red) => acc.red += 1,
                None => {}
            }
            if let Some(d) = r.delay_s.filter(|d| d.is_finite()) {
                acc.delay_sum += d;
                acc.delay_n += 1;
            }
        }
    }

    /// A `queues` row (its latest revision replaces what an earlier one said).
    pub fn queue(&mut self, q: &QueueRow, timeline: &SignalTimeline) {
        let camera: Arc<str> = q.camera_id.as_str().into();
        let approach: Arc<str> = q.approach.as_str().into();
        let Some(signal) = self.signals.get(&(camera.clone(), approach.clone())).cloned() else { return };
        // The approach cycle the lane's cycle starts in (its own when the lane has no signal of
        // its own).
        let cycle = if *signal == *q.signal_id { Some(q.cycle_start_ms) } else { red_start(timeline, &signal, q.cycle_start_ms) };
        let Some(cycle) = cycle else { return };
        let lane: Arc<str> = q.lane_id.as_str().into();
        let bin = cycle - cycle % self.bin_ms;
        for key in [(camera.clone(), approach.clone(), Period::Cycle, cycle), (camera.clone(), approach.clone(), Period::Bin, bin)] {
            if let Some(acc) = self.period(key) {
                acc.failures.insert((cycle, lane.clone()), q.split_failure);
            }
        }
    }

    /// Rows of the periods whose end the frontier `f` has passed (first rows, at
    /// `end − 1`) and of closed periods that changed (corrections, at `now`); `f = u64::MAX`
    /// closes every period with an end.
    pub fn emit(&mut self, timeline: &SignalTimeline, f: u64, now: u64, out: &mut Vec<(u64, SignalPerformanceRow)>) {
        for ((camera, approach, kind, start), acc) in self.periods.iter_mut() {
            if acc.end.is_none()
                && let Some(signal) = self.signals.get(&(camera.clone(), approach.clone()))
            {
                acc.end = next_red_start(timeline, signal, *start, f.min(start.saturating_add(MAX_CYCLE_MS)));
            }
            let Some(end) = acc.end else { continue };
            let at = if !acc.closed {
                if end > f {
                    continue;
                }
                acc.closed = true;
                end - 1
            } else if acc.dirty {
                now
            } else {
                continue;
            };
            acc.dirty = false;
            let revision = acc.revision.map_or(0, |r| r + 1);
            acc.revision = Some(revision);
            let signal = self.signals.get(&(camera.clone(), approach.clone())).map_or_else(String::new, |s| s.to_string());
            out.push((at, row(camera, approach, &signal, *kind, *start, end, acc, revision)));
        }
    }

    /// Forgets the periods whose correction time is over at `f`.
    pub fn forget(&mut self, f: u64) {
        let retain = self.retain_ms;
        self.periods.retain(|(_, _, kind, start), acc| match (acc.end, kind) {
            (Some(end), _) => !(acc.closed && end + retain <= f),
            (None, _) => start + MAX_CYCLE_MS + retain > f,
        });
        self.forgotten_at = self.forgotten_at.max(f);
    }
}

#[allow(clippy::too_many_arguments)]
fn row(camera: &str, approach: &str, signal: &str, kind: Period, start: u64, end: u64, acc: &Acc, revision: u32) -> SignalPerformanceRow {
    let mut failed: Vec<u64> = acc.failures.iter().filter(|(_, f)| **f).map(|((c, _), _)| *c).collect();
    failed.dedup();
    let delay = (acc.delay_n > 0).then(|| acc.delay_sum / acc.delay_n as f64);
    SignalPerformanceRow {
        camera_id: camera.to_string(),
        approach: approach.to_string(),
        signal_id: signal.to_string(),
        period: kind.as_str().to_string(),
        period_start_ms: start,
        period_end_ms: end,
        vehicles: acc.vehicles,
        arrivals_on_green: acc.green,
        arrivals_on_yellow: acc.yellow,
        arrivals_on_red: acc.red,
        aog_share: (acc.vehicles > 0).then(|| acc.green as f64 / acc.vehicles as f64),
        split_failure: (kind == Period::Cycle).then_some(!failed.is_empty()),
        split_failures: failed.len() as u64,
        mean_control_delay_s: delay,
        los: delay.map(|d| level_of_service(d).to_string()),
        revision,
    }
}

/// Everything of one time.
#[derive(Default)]
struct AtTime {
    signals: Vec<SignalUpdate>,
    vehicles: Vec<VehicleRecord>,
    queues: Vec<QueueRow>,
}

/// One complete time: its signal changes, then the periods that ended by `t` close (what comes
/// at `t` corrects them), then its vehicles and queue rows, and what they changed.
fn apply_time(book: &mut PerformanceBook, timeline: &mut SignalTimeline, at: AtTime, t: u64, rows: &mut Vec<(u64, SignalPerformanceRow)>) {
    timeline.update(at.signals);
    book.emit(timeline, t, t, rows);
    for v in &at.vehicles {
        book.vehicle(v, timeline);
    }
    for q in &at.queues {
        book.queue(q, timeline);
    }
    book.emit(timeline, t, t, rows);
}

/// The operator: vehicle records (from [`super::movement_tables::movement_tables`]), `queues`
/// rows and signal updates in, `signal_performance` rows out. Times are applied in order once
/// every input's frontier has passed them.
pub fn signal_performance<'s>(vehicles: Stream<'s, u64, Vec<VehicleRecord>>, queues: Stream<'s, u64, Vec<QueueRow>>, signals: Stream<'s, u64, Vec<SignalUpdate>>, plan: &JunctionPlan) -> Stream<'s, u64, Vec<SignalPerformanceRow>> {
    let mut builder = OperatorBuilder::new("SignalPerformance".to_owned(), vehicles.scope());
    let mut vehicles_in = builder.new_input(vehicles, Pipeline);
    let mut queues_in = builder.new_input(queues, Pipeline);
    let mut signals_in = builder.new_input(signals, Pipeline);
    let (mut output, stream) = builder.new_output::<Vec<SignalPerformanceRow>>();
    let plan = plan.clone();
    builder.build(move |mut caps| {
        let mut held: Option<Capability<u64>> = caps.pop();
        let mut book = PerformanceBook::new(&plan);
        let mut timeline = SignalTimeline::default();
        let history = retain_ms(plan.settings.max_crossing_ms) + 2 * MAX_CYCLE_MS + plan.settings.bin_ms;
        let mut stash: BTreeMap<u64, AtTime> = BTreeMap::new();
        let mut rows: Vec<(u64, SignalPerformanceRow)> = Vec::new();
        move |frontiers| {
            vehicles_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                stash.entry(t).or_default().vehicles.append(data);
            });
            queues_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                stash.entry(t).or_default().queues.append(data);
            });
            signals_in.for_each(|_, data| {
                for u in data.drain(..) {
                    stash.entry(u.1).or_default().signals.push(u);
                }
            });
            let Some(cap) = held.as_mut() else { return };
            let frontier = frontiers.iter().filter_map(|f| f.frontier().iter().min().copied()).min();
            let mut send = |rows: &mut Vec<(u64, SignalPerformanceRow)>, cap: &Capability<u64>| {
                rows.sort_by_key(|(t, _)| *t);
                let mut i = 0;
                while i < rows.len() {
                    let at = rows[i].0.max(*cap.time());
                    let mut group = Vec::new();
                    while i < rows.len() && rows[i].0.max(*cap.time()) == at {
                        group.push(rows[i].1.clone());
                        i += 1;
                    }
                    output.activate().give(&cap.delayed(&at), &mut group);
                }
                rows.clear();
            };
            while let Some(entry) = stash.first_entry() {
                let t = *entry.key();
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                apply_time(&mut book, &mut timeline, entry.remove(), t, &mut rows);
                send(&mut rows, cap);
            }
            match frontier {
                Some(f) if f > *cap.time() => {
                    book.emit(&timeline, f, f - 1, &mut rows);
                    send(&mut rows, cap);
                    book.forget(f);
                    timeline.forget_before(f.saturating_sub(history));
                    cap.downgrade(&f);
                }
                Some(_) => {}
                None => {
                    let now = *cap.time();
                    book.emit(&timeline, u64::MAX, now, &mut rows);
                    send(&mut rows, cap);
                    held = None;
                }
            }
        }
    });
    stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::config::JunctionConfig;

    fn plan() -> JunctionPlan {
        JunctionPlan { initial: HashMap::new(), settings: JunctionConfig { bin_ms: 100_000, ..JunctionConfig::default() } }
    }

    fn record(stop_ts: u64, state: SignalState, delay: f64) -> VehicleRecord {
        VehicleRecord { camera: "cam".into(), approach: "north".into(), signal: Some("tl".into()), stop_ts, arrival_state: Some(state), motor: true, delay_s: Some(delay) }
    }

    /// Red at 0, green at 30 s, yellow at 57, red at 60 s (a 60 s cycle), for 10 cycles.
    fn timeline() -> SignalTimeline {
        let mut tl = SignalTimeline::default();
        let mut prev: Option<SignalState> = None;
        for k in 0..10u64 {
            for (dt, s) in [(0, SignalState::Red), (30_000, SignalState::Green), (57_000, SignalState::Yellow)] {
                if let Some(p) = prev {
                    tl.update([(("tl".to_string(), p), k * 60_000 + dt, -1)]);
                }
                tl.update([(("tl".to_string(), s), k * 60_000 + dt, 1)]);
                prev = Some(s);
            }
        }
        tl
    }

    #[test]
    fn cycles_and_bins_aggregate_their_vehicles_and_correct_late_ones() {
        let tl = timeline();
        let mut book = PerformanceBook::new(&plan());
        book.vehicle(&record(35_000, SignalState::Green, 4.0), &tl);
        book.vehicle(&record(40_000, SignalState::Red, 30.0), &tl);
        book.vehicle(&VehicleRecord { motor: false, ..record(41_000, SignalState::Red, 90.0) }, &tl);
        book.vehicle(&record(65_000, SignalState::Green, 2.0), &tl);
        let mut out = Vec::new();
        book.emit(&tl, 61_000, 61_000, &mut out);
        assert_eq!(out.len(), 1, "the first cycle closed at its next red start: {out:?}");
        let (at, r) = &out[0];
        assert_eq!((*at, r.period.as_str(), r.period_start_ms, r.period_end_ms), (59_999, "cycle", 0, 60_000));
        assert_eq!((r.vehicles, r.arrivals_on_green, r.arrivals_on_red, r.aog_share), (2, 1, 1, Some(0.5)));
        assert_eq!((r.mean_control_delay_s, r.los.as_deref(), r.split_failure), (Some(17.0), Some("B"), Some(false)));
        // A queue row says the cycle failed; a late vehicle: the cycle row again, revision 1.
        let q = QueueRow { camera_id: "cam".into(), approach: "north".into(), lane_id: "north-1".into(), signal_id: "tl".into(), cycle_start_ms: 0, green_start_ms: Some(30_000), cycle_end_ms: 60_000, max_queue_m: 40.0, max_queue_veh: 6, cleared: false, red_start_occupancy: Some(0.9), split_failure: true, revision: 0 };
        book.queue(&q, &tl);
        book.vehicle(&record(50_000, SignalState::Red, 60.0), &tl);
        out.clear();
        book.emit(&tl, 62_000, 62_000, &mut out);
        assert_eq!(out.len(), 1);
        let r = &out[0].1;
        assert_eq!((r.revision, r.vehicles, r.split_failure, r.split_failures, r.los.as_deref()), (1, 3, Some(true), 1, Some("C")));
        // The bin closes at 100 s: 4 vehicles, one failed cycle.
        out.clear();
        book.emit(&tl, 100_000, 100_000, &mut out);
        let bin: Vec<_> = out.iter().filter(|(_, r)| r.period == "bin").collect();
        assert_eq!(bin.len(), 1);
        assert_eq!((bin[0].1.vehicles, bin[0].1.split_failures, bin[0].1.split_failure), (4, 1, None));
        // Forgotten after the retention: memory stays bounded.
        book.forget(10_000_000);
        assert!(book.is_empty());
    }
}
