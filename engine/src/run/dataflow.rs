//! One worker's graph: sources (detections feeds and, with video cameras, decode → quality gate →
//! inference) → tracker → traffic queries → one delivery path to the lake and the alert hub.
//!
//! Every table goes through [`Delivery`]: rows below the resume time (a checkpointed run's replay)
//! are in the lake already and are skipped; the rest are counted and sent to the writer; a writer
//! that stopped (storage failure) stops the run; and each delivery is probed, so a checkpoint is
//! taken only once every output below it has reached the sinks. Violations and anomalies also
//! raise alerts (every copy: the hub dedupes by id).

use super::plan::RunPlan;
use super::vision::VisionPlan;
use crate::alerts::AlertHubHandle;
use crate::counters::RunCounters;
use itscam_operators::deliver::Deliver;
use itscam_operators::source::{CheckpointControl, FeedSpec, LeadLimit, RuntimeCameras, SourceControl, detections_source};
use itscam_operators::track::TrackFrames;
use itscam_queries::build_analytics;
use itscam_sinks::SINK_HIGH_WATER_ROWS;
use itscam_sinks::{LakeSink, SinkRows};
use itscam_types::analytics::{Alert, AnomalyRow, ViolationRow};
use itscam_types::{ErrorKind, ObjectClass};
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::Stream;
use timely::dataflow::operators::vec::Filter;
use timely::dataflow::operators::{Concat, Probe};

/// Per class: (detections, confirmed tracks), shared by the workers.
pub(super) type ClassCounts = Arc<Mutex<std::collections::BTreeMap<String, (u64, u64)>>>;

/// What every worker shares, cloned into each.
#[derive(Clone)]
pub(super) struct WorkerShared {
    /// The run's plan.
    pub plan: Arc<RunPlan>,
    /// Every detections feed (each worker reads its share).
    pub feeds: Vec<FeedSpec>,
    /// The lake writer's input.
    pub sink: LakeSink,
    /// The alert hub.
    pub hub: AlertHubHandle,
    /// Row counters.
    pub counters: Arc<RunCounters>,
    /// Detections and tracks per class.
    pub classes: ClassCounts,
    /// Set to stop the run (Ctrl-C, a failed writer).
    pub stop: Arc<AtomicBool>,
    /// Rows below this time are in the lake already (a checkpointed run's replay).
    pub resume_time: u64,
    /// Video cameras, when any.
    pub vision: Option<Arc<VisionPlan>>,
    /// Cameras added, changed and removed while the pipeline runs (`itscam serve`).
    pub runtime_cameras: Option<RuntimeCameras>,
    /// The evidence service's taps (`[evidence] enabled`).
    pub evidence: Option<crate::evidence::EvidenceTaps>,
}

/// Builds worker `index`'s graph.
pub(super) fn build(worker: &mut timely::worker::Worker, shared: &WorkerShared) {
    let (index, peers) = (worker.index(), worker.peers());
    let plan = shared.plan.clone();
    // A Kafka feed: this worker's partitions of it, if any.
    let share = |spec: &FeedSpec| match &spec.kafka {
        Some(k) => k.share(index, peers).map(|k| FeedSpec { kafka: Some(Arc::new(k)), ..spec.clone() }),
        None => Some(spec.clone()),
    };
    let feeds: Vec<FeedSpec> = plan.feeds_of_worker(index, peers).into_iter().filter_map(|i| share(&shared.feeds[i])).collect();
    let probe = ProbeHandle::<u64>::new();
    // The first worker of every process takes that process's checkpoints (with the offsets of
    // the partitions its workers read).
    let checkpoints = (plan.checkpointed && plan.local_worker(index) == 0).then(|| checkpoint_control(shared, &plan, probe.clone()));
    let (paused, behind) = (shared.sink.clone(), shared.evidence.as_ref().map(|e| e.backlog()));
    let pause = move || paused.pending_rows() > SINK_HIGH_WATER_ROWS || behind.as_ref().is_some_and(|e| e.behind());
    let control = SourceControl { pause: Arc::new(pause), stop: shared.stop.clone() };
    let lead = LeadLimit { probe: probe.clone(), max_lead_ms: plan.source_lead_ms };
    let vision = shared.vision.as_ref().map(|v| v.for_worker((index, plan.local_worker(index)), peers, &shared.sink, &shared.stop, shared.evidence.as_ref().map(|e| e.backlog())));
    let out = Delivery { sink: shared.sink.clone(), stop: shared.stop.clone(), resume_time: shared.resume_time, probe };
    let (counters, classes, hub, checkpointed) = (shared.counters.clone(), shared.classes.clone(), shared.hub.clone(), plan.checkpointed);
    let runtime = shared.runtime_cameras.clone();
    let evidence = shared.evidence.clone();
    let camera_control = runtime.as_ref().map(|r| r.control.clone());
    worker.dataflow::<u64, _, _>(move |scope| {
        let (mut frames, mut errors) = detections_source(scope, feeds, plan.lateness_ms, control, checkpoints, Some(lead), runtime);
        if let Some(vision) = vision {
            let measured = vision.quality_counter();
            let video = vision.build(scope, evidence.as_ref());
            frames = frames.concat(video.frames);
            errors = errors.concat(video.errors);
            out.table(video.quality, "QualityToLake", SinkRows::FrameQuality, measured);
        }
        let queries = build_analytics(frames.track_frames_controlled(plan.tracker.clone(), plan.calibrations.clone(), camera_control), &plan.analytics, index);
        let c = counters.clone();
        out.table(errors.concat(queries.signal_errors.clone()), "ErrorsToLake", SinkRows::Errors, move |rows| {
            RunCounters::add(&c.rejected, rows.len());
            // Late frames (a late signal change is no frame).
            RunCounters::add(&c.late, rows.iter().filter(|r| r.kind == ErrorKind::Late && r.camera_id.is_some()).count());
        });
        let (c, per_class) = (counters.clone(), classes.clone());
        let detections = match evidence.clone() {
            Some(taps) => {
                use timely::dataflow::operators::Inspect;
                let mut tap = taps.tracked_tap();
                queries.detections.inspect_core(move |event| match event {
                    Ok((_, rows)) => tap.hand_over(rows),
                    // A frontier moved: what waits is tried again.
                    Err(_) => tap.hand_over(&[]),
                })
            }
            None => queries.detections,
        };
        out.table(detections, "DetectionsToLake", SinkRows::Detections, move |rows| {
            RunCounters::add(&c.detections, rows.len());
            count_classes(&per_class, rows.iter().map(|d| (d.class, 0)));
        });
        let c = counters.clone();
        out.table(queries.tracks, "TracksToLake", SinkRows::Tracks, move |rows| {
            RunCounters::add(&c.tracks, rows.len());
            count_classes(&classes, rows.iter().map(|t| (t.class, 1)));
        });
        out.table(queries.crossings, "CrossingsToLake", SinkRows::LineCrossings, counting(&counters.crossings));
        out.table(queries.zone_events, "ZoneEventsToLake", SinkRows::ZoneEvents, counting(&counters.zone_events));
        out.table(queries.metrics, "MetricsToLake", SinkRows::TrafficMetrics, counting(&counters.metrics));
        out.junction_tables(queries.junction, &counters.junction);
        let raise = Raise { hub: hub.clone(), resume_time: out.resume_time, checkpointed };
        // Every copy of a violation names its evidence, and the first one asks for it.
        let violations = match evidence.clone() {
            Some(taps) => with_evidence(queries.violations, taps, out.resume_time),
            None => queries.violations,
        };
        // Every copy of a violation goes to the hub (one alert per id); the closed ones are the table's rows.
        let violations = raise.clone().alerts(violations, |v: &ViolationRow, now| Alert::from_violation(v, now));
        out.table(violations.filter(|v| !v.ongoing), "ViolationsToLake", SinkRows::Violations, counting(&counters.violations));
        let anomalies = raise.alerts(queries.anomalies, |a: &AnomalyRow, now| Alert::from_anomaly(a, now));
        out.table(anomalies, "AnomaliesToLake", SinkRows::Anomalies, counting(&counters.anomalies));
    });
}

/// Sets the evidence paths of every violation row and asks the evidence service for the
/// evidence of each (the service makes it once per violation); rows below the resume time
/// (a replay) had theirs made by the run that first saw them.
fn with_evidence<'s>(rows: Stream<'s, u64, Vec<ViolationRow>>, taps: crate::evidence::EvidenceTaps, resume_time: u64) -> Stream<'s, u64, Vec<ViolationRow>> {
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::Operator;
    rows.unary(Pipeline, "Evidence", move |_, _| {
        move |input, output| {
            input.for_each(|cap, data| {
                let replayed = cap.least().is_some_and(|t| *t < resume_time);
                for v in data.iter_mut() {
                    taps.plan(v);
                    if !replayed {
                        taps.request(v);
                    }
                }
                output.session(&cap).give_container(data);
            });
        }
    })
}

/// The checkpoints of a run with `kafka:` sources, taken on the first worker of every process
/// (for that process's writer, with the offsets of the partitions its workers read).
fn checkpoint_control(shared: &WorkerShared, plan: &RunPlan, probe: ProbeHandle<u64>) -> CheckpointControl {
    let hub = shared.hub.clone();
    let (process, processes) = (plan.process, plan.processes);
    CheckpointControl {
        probe,
        interval: plan.checkpoint_interval,
        committed_time: shared.resume_time,
        max_lead_ms: plan.max_lead_ms,
        take: Arc::new(move |t, value| {
            hub.checkpoint(t, super::resume::of_process(value, process, processes));
        }),
        feeds: shared.feeds.iter().filter_map(|f| f.kafka.clone()).collect(),
    }
}

/// The one path from a stream of rows to the lake.
struct Delivery {
    sink: LakeSink,
    stop: Arc<AtomicBool>,
    resume_time: u64,
    probe: ProbeHandle<u64>,
}

impl Delivery {
    /// Delivers the six junction tables, each row counted in `rows`.
    fn junction_tables(&self, j: itscam_queries::junction::JunctionStreams<'_>, rows: &Counter) {
        self.table(j.movements, "MovementsToLake", SinkRows::Movements, counting(rows));
        self.table(j.turning_counts, "TurningCountsToLake", SinkRows::TurningCounts, counting(rows));
        self.table(j.queues, "QueuesToLake", SinkRows::Queues, counting(rows));
        self.table(j.queue_samples, "QueueSamplesToLake", SinkRows::QueueSamples, counting(rows));
        self.table(j.lane_metrics, "LaneMetricsToLake", SinkRows::LaneMetrics, counting(rows));
        self.table(j.signal_performance, "SignalPerformanceToLake", SinkRows::SignalPerformance, counting(rows));
    }

    /// Delivers `rows` to the lake as `table(rows)`, after `count` has seen them; probed.
    fn table<'s, R: 'static>(&self, rows: Stream<'s, u64, Vec<R>>, name: &str, table: fn(Vec<R>) -> SinkRows, mut count: impl FnMut(&[R]) + 'static) {
        let (sink, stop, resume_time) = (self.sink.clone(), self.stop.clone(), self.resume_time);
        rows.deliver(name, move |t, rows| {
            if t < resume_time {
                return; // in the lake already (a replay after a restart)
            }
            count(&rows);
            if !sink.send_at(t, table(rows)) {
                // The writer stopped (storage failure): end the run; `finish` reports why.
                stop.store(true, Ordering::Relaxed);
            }
        })
        .probe_with(&self.probe);
    }
}

/// Raises alerts from rows, on the way to their table.
#[derive(Clone)]
struct Raise {
    hub: AlertHubHandle,
    resume_time: u64,
    checkpointed: bool,
}

impl Raise {
    /// Raises an alert for every row (a replayed one below the resume time only to the outlets
    /// that skip what they published; at its event time in a checkpointed run) and passes the
    /// rows on.
    fn alerts<'s, R: 'static>(self, rows: Stream<'s, u64, Vec<R>>, alert_of: fn(&R, u64) -> Alert) -> Stream<'s, u64, Vec<R>> {
        use timely::dataflow::operators::Inspect;
        rows.inspect_core(move |event| {
            let Ok((stamp, batch)) = event else { return };
            let t = *stamp.iter().min().expect("a batch has a time");
            let now = itscam_types::time::now_ms();
            for row in batch {
                let alert = alert_of(row, now);
                if t < self.resume_time {
                    self.hub.replay(alert);
                } else if self.checkpointed {
                    self.hub.raise_at(alert, t);
                } else {
                    self.hub.raise(alert);
                }
            }
        })
    }
}

/// A count callback that adds the number of rows to `counter`.
fn counting<R>(counter: &Counter) -> impl FnMut(&[R]) + 'static {
    let counter = counter.clone();
    move |rows| RunCounters::add(&counter, rows.len())
}

fn count_classes(classes: &ClassCounts, items: impl Iterator<Item = (ObjectClass, usize)>) {
    let mut per_class = [(0u64, 0u64); 80];
    for (class, which) in items {
        let slot = &mut per_class[class.0 as usize % 80];
        if which == 0 { slot.0 += 1 } else { slot.1 += 1 }
    }
    if let Ok(mut classes) = classes.lock() {
        for (i, (d, t)) in per_class.iter().enumerate().filter(|(_, c)| c.0 + c.1 > 0) {
            let e = classes.entry(itscam_types::COCO_CLASSES[i].to_string()).or_default();
            e.0 += d;
            e.1 += t;
        }
    }
}
