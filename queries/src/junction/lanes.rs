//! `queues`, `queue_samples` and `lane_metrics`: one operator that runs a [`LaneBook`] per
//! camera over the points of confirmed tracks, in event-time order.
//!
//! The operator stashes the points and junction changes by time and feeds the signal updates
//! into a [`SignalTimeline`]. A time is processed once the frontier of all three inputs has
//! passed it, in order; so is every `queue_sample_ms` instant of a camera that has a book (an
//! instant with no point is still a sample). A camera gets a book when its first point or
//! junction change reaches this worker (the points stay on the camera's worker, so exactly one
//! worker samples a camera); a junction change ends the camera's book (what is complete is
//! emitted) and starts a new one at its time. Rows leave at the time of the step that made
//! them: samples at their instant, a cycle when its red window has passed, a bin
//! [`lane_book::BIN_LAG_MS`] after its end. When the input ends, the samples run to the last time
//! any input brought, then every cycle that ended and every bin that ended by then are emitted;
//! open ones are not.
//!
//! Memory: per track while it is in a lane (or crossed a stop line) until it ends; per lane the
//! open cycle and bins; the signal timeline forgets what every book has passed.

use super::geometry::JunctionGeom;
use super::lane_book::{LaneBook, LaneRows};
use super::timeline::SignalTimeline;
use super::stash::{AtTime, Stash, drop_before};
use super::{JunctionInputs, JunctionPlan};
use itscam_types::junction_rows::{LaneMetricRow, QueueRow, QueueSampleRow};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// The lane tables' rows.
pub struct LaneStreams<'s> {
    /// `queues`: one row per lane × cycle of its signal.
    pub queues: Stream<'s, u64, Vec<QueueRow>>,
    /// `queue_samples`: one row per lane every `queue_sample_ms` while the camera is active.
    pub queue_samples: Stream<'s, u64, Vec<QueueSampleRow>>,
    /// `lane_metrics`: one row per lane × bin.
    pub lane_metrics: Stream<'s, u64, Vec<LaneMetricRow>>,
}

fn send<D: 'static>(output: &mut Output<u64, Vec<D>>, cap: &Capability<u64>, data: &mut Vec<D>) {
    if !data.is_empty() {
        output.activate().give(cap, data);
        data.clear();
    }
}

/// The outputs of the lane tables.
pub(crate) struct LaneOutputs {
    queues: Output<u64, Vec<QueueRow>>,
    samples: Output<u64, Vec<QueueSampleRow>>,
    metrics: Output<u64, Vec<LaneMetricRow>>,
}

impl LaneOutputs {
    /// Adds the three outputs to an operator (after its inputs).
    pub(crate) fn new<'s>(builder: &mut OperatorBuilder<'s, u64>) -> (LaneOutputs, LaneStreams<'s>) {
        let (queues, queues_s) = builder.new_output();
        let (samples, samples_s) = builder.new_output();
        let (metrics, metrics_s) = builder.new_output();
        (LaneOutputs { queues, samples, metrics }, LaneStreams { queues: queues_s, queue_samples: samples_s, lane_metrics: metrics_s })
    }

    fn send(&mut self, held: &[Capability<u64>], rows: &mut LaneRows) {
        send(&mut self.queues, &held[0], &mut rows.queues);
        send(&mut self.samples, &held[1], &mut rows.samples);
        send(&mut self.metrics, &held[2], &mut rows.metrics);
    }
}

/// The lane tables' part of an operator: the books, the signal timeline (fed as updates
/// arrive), outputs and capabilities (one per output, in the outputs' order).
pub(crate) struct LanePart {
    outputs: LaneOutputs,
    caps: Option<Vec<Capability<u64>>>,
    geoms: HashMap<Arc<str>, Option<Arc<JunctionGeom>>>,
    books: BTreeMap<Arc<str>, LaneBook>,
    rows: LaneRows,
    /// The signal states, updated as the updates arrive.
    pub timeline: SignalTimeline,
    /// The last time any input brought.
    pub last_seen: Option<u64>,
}

impl LanePart {
    pub(crate) fn new(plan: &JunctionPlan, outputs: LaneOutputs, caps: Vec<Capability<u64>>) -> LanePart {
        let geoms = plan.initial.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        LanePart { outputs, caps: Some(caps), geoms, books: BTreeMap::new(), rows: LaneRows::default(), timeline: SignalTimeline::default(), last_seen: None }
    }

    /// Processes the stashed times (with points or junction changes) and the sample instants
    /// before the inputs' `frontier`, in order; when the inputs ended (`None`), up to the last
    /// time seen, then finishes. The caller drops the stashed times before `frontier`.
    pub(crate) fn run(&mut self, stash: &Stash, frontier: Option<u64>) {
        let Some(held) = self.caps.as_mut() else { return };
        // Times before `limit` are complete; once the input ended, samples run to the last time seen.
        let limit = frontier.unwrap_or_else(|| self.last_seen.map_or(0, |t| t + 1));
        let mut steps = stash.range(..limit).filter(|(_, at)| !at.points.is_empty() || !at.geoms.is_empty()).peekable();
        loop {
            let next_stash = steps.peek().map(|(t, _)| **t);
            let next_sample = self.books.values().map(LaneBook::next_sample).min();
            let Some(t) = [next_stash, next_sample].into_iter().flatten().min() else { break };
            if t >= limit {
                break;
            }
            for c in held.iter_mut() {
                if *c.time() < t {
                    c.downgrade(&t);
                }
            }
            let step = if next_stash == Some(t) { steps.next().map(|(_, at)| at) } else { None };
            process(t, step, &mut self.books, &mut self.geoms, &self.timeline, &mut self.rows);
            self.outputs.send(held, &mut self.rows);
        }
        // Every book has passed its `now`: older signal changes fold into the base state.
        if let Some(oldest) = self.books.values().map(LaneBook::now).min() {
            self.timeline.forget_before(oldest.saturating_add(1));
        }
        match frontier {
            Some(f) => {
                for c in held.iter_mut() {
                    if *c.time() < f {
                        c.downgrade(&f);
                    }
                }
            }
            None => {
                for book in self.books.values_mut() {
                    book.finish(&mut self.rows);
                }
                self.outputs.send(held, &mut self.rows);
                self.books.clear();
                self.caps = None;
            }
        }
    }
}

/// Builds the operator (see the module doc; the junction tables run it with the movements'
/// part in one operator, `tables.rs`).
pub fn lane_tables<'s>(inputs: &JunctionInputs<'s>, plan: &JunctionPlan) -> LaneStreams<'s> {
    let mut builder = OperatorBuilder::new("JunctionLanes".to_owned(), inputs.points.scope());
    let mut points_in = builder.new_input(inputs.points.clone(), Pipeline);
    let mut signals_in = builder.new_input(inputs.signals.clone(), Pipeline);
    let mut geoms_in = builder.new_input(inputs.geoms.clone(), Pipeline);
    let (outputs, streams) = LaneOutputs::new(&mut builder);
    let plan = plan.clone();
    builder.build(move |caps| {
        let mut part = LanePart::new(&plan, outputs, caps);
        let mut stash = Stash::new();
        move |frontiers| {
            points_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                part.last_seen = part.last_seen.max(Some(t));
                stash.entry(t).or_default().points.append(data);
            });
            signals_in.for_each(|cap, data| {
                part.last_seen = part.last_seen.max(cap.least().copied());
                part.timeline.update(data.drain(..));
            });
            geoms_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                part.last_seen = part.last_seen.max(Some(t));
                stash.entry(t).or_default().geoms.append(data);
            });
            let frontier = frontiers.iter().filter_map(|f| f.frontier().iter().min().copied()).min();
            part.run(&stash, frontier);
            drop_before(&mut stash, frontier);
        }
    });
    streams
}

/// One time: junction changes, then the points (per camera: advance, then its points), then
/// every touched book and every book with a sample due settles, and samples when due.
fn process(t: u64, step: Option<&AtTime>, books: &mut BTreeMap<Arc<str>, LaneBook>, geoms: &mut HashMap<Arc<str>, Option<Arc<JunctionGeom>>>, timeline: &SignalTimeline, rows: &mut LaneRows) {
    let mut touched: Vec<Arc<str>> = Vec::new();
    let (geom_changes, points) = step.map_or((&[][..], &[][..]), |s| (&s.geoms[..], &s.points[..]));
    for (camera, geom) in geom_changes.iter().cloned() {
        if let Some(mut old) = books.remove(&camera) {
            old.advance_to(t, timeline, rows);
            old.finish(rows);
        }
        if let Some(g) = &geom {
            books.insert(camera.clone(), LaneBook::new(g.clone(), t, timeline));
            touched.push(camera.clone());
        }
        geoms.insert(camera, geom);
    }
    let mut points = points.iter().peekable();
    while let Some((camera, point)) = points.next() {
        if !books.contains_key(camera) {
            let Some(Some(g)) = geoms.get(camera) else { continue };
            books.insert(camera.clone(), LaneBook::new(g.clone(), t, timeline));
        }
        let Some(book) = books.get_mut(camera) else { continue };
        if !touched.iter().any(|c| super::same_camera(c, camera)) {
            book.advance_to(t, timeline, rows);
            touched.push(camera.clone());
        }
        book.point(point);
        // The points come in runs of one camera: the book is looked up once per run.
        while let Some((_, point)) = points.next_if(|(c, _)| super::same_camera(c, camera)) {
            book.point(point);
        }
    }
    for (camera, book) in books.iter_mut() {
        let due = book.next_sample() == t;
        if !due && !touched.iter().any(|c| super::same_camera(c, camera)) {
            continue;
        }
        book.advance_to(t, timeline, rows);
        book.settle();
        if due {
            book.sample(rows);
        }
    }
}
