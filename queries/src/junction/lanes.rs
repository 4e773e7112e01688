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
use super::{GeomChange, JunctionInputs, JunctionPlan};
use crate::facts::TrackPoint;
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

/// What one time brought.
#[derive(Default)]
struct Step {
    points: Vec<(Arc<str>, TrackPoint)>,
    geoms: Vec<GeomChange>,
}

fn send<D: 'static>(output: &mut Output<u64, Vec<D>>, cap: &Capability<u64>, data: &mut Vec<D>) {
    if !data.is_empty() {
        output.activate().give(cap, data);
        data.clear();
    }
}

/// Builds the operator (see the module doc).
pub fn lane_tables<'s>(inputs: &JunctionInputs<'s>, plan: &JunctionPlan) -> LaneStreams<'s> {
    let mut builder = OperatorBuilder::new("JunctionLanes".to_owned(), inputs.points.scope());
    let mut points_in = builder.new_input(inputs.points.clone(), Pipeline);
    let mut signals_in = builder.new_input(inputs.signals.clone(), Pipeline);
    let mut geoms_in = builder.new_input(inputs.geoms.clone(), Pipeline);
    let (mut queues_out, queues) = builder.new_output();
    let (mut samples_out, queue_samples) = builder.new_output();
    let (mut metrics_out, lane_metrics) = builder.new_output();
    let mut geoms: HashMap<Arc<str>, Option<Arc<JunctionGeom>>> = plan.initial.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    builder.build(move |caps| {
        let mut caps: Option<Vec<Capability<u64>>> = Some(caps);
        let mut stash: BTreeMap<u64, Step> = BTreeMap::new();
        let mut timeline = SignalTimeline::default();
        let mut books: BTreeMap<Arc<str>, LaneBook> = BTreeMap::new();
        let mut last_seen: Option<u64> = None;
        let mut rows = LaneRows::default();
        move |frontiers| {
            points_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                last_seen = last_seen.max(Some(t));
                stash.entry(t).or_default().points.append(data);
            });
            signals_in.for_each(|cap, data| {
                last_seen = last_seen.max(cap.least().copied());
                timeline.update(data.drain(..));
            });
            geoms_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                last_seen = last_seen.max(Some(t));
                stash.entry(t).or_default().geoms.append(data);
            });
            let Some(held) = caps.as_mut() else { return };
            let frontier = frontiers.iter().filter_map(|f| f.frontier().iter().min().copied()).min();
            // Times before `limit` are complete; once the input ended, samples run to the last time seen.
            let limit = frontier.unwrap_or_else(|| last_seen.map_or(0, |t| t + 1));
            loop {
                let next_stash = stash.first_key_value().map(|(t, _)| *t);
                let next_sample = books.values().map(LaneBook::next_sample).min();
                let Some(t) = [next_stash, next_sample].into_iter().flatten().min() else { break };
                if t >= limit {
                    break;
                }
                for c in held.iter_mut() {
                    if *c.time() < t {
                        c.downgrade(&t);
                    }
                }
                let step = if next_stash == Some(t) { stash.remove(&t) } else { None };
                process(t, step.unwrap_or_default(), &mut books, &mut geoms, &timeline, &mut rows);
                send(&mut queues_out, &held[0], &mut rows.queues);
                send(&mut samples_out, &held[1], &mut rows.samples);
                send(&mut metrics_out, &held[2], &mut rows.metrics);
            }
            // Every book has passed its `now`: older signal changes fold into the base state.
            if let Some(oldest) = books.values().map(LaneBook::now).min() {
                timeline.forget_before(oldest.saturating_add(1));
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
                    for book in books.values_mut() {
                        book.finish(&mut rows);
                    }
                    send(&mut queues_out, &held[0], &mut rows.queues);
                    send(&mut samples_out, &held[1], &mut rows.samples);
                    send(&mut metrics_out, &held[2], &mut rows.metrics);
                    books.clear();
                    caps = None;
                }
            }
        }
    });
    LaneStreams { queues, queue_samples, lane_metrics }
}

/// One time: junction changes, then the points (per camera: advance, then its points), then
/// every touched book and every book with a sample due settles, and samples when due.
fn process(t: u64, step: Step, books: &mut BTreeMap<Arc<str>, LaneBook>, geoms: &mut HashMap<Arc<str>, Option<Arc<JunctionGeom>>>, timeline: &SignalTimeline, rows: &mut LaneRows) {
    let mut touched: Vec<Arc<str>> = Vec::new();
    for (camera, geom) in step.geoms {
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
    let mut points = step.points.into_iter().peekable();
    while let Some((camera, point)) = points.next() {
        if !books.contains_key(&camera) {
            let Some(Some(g)) = geoms.get(&camera) else { continue };
            books.insert(camera.clone(), LaneBook::new(g.clone(), t, timeline));
        }
        let Some(book) = books.get_mut(&camera) else { continue };
        if !touched.iter().any(|c| super::same_camera(c, &camera)) {
            book.advance_to(t, timeline, rows);
            touched.push(camera.clone());
        }
        book.point(&point);
        // The points come in runs of one camera: the book is looked up once per run.
        while let Some((_, point)) = points.next_if(|(c, _)| super::same_camera(c, &camera)) {
            book.point(&point);
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
