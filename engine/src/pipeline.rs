//! `itscam run`: assembles the dataflow (sources → tracker → lake) and runs it to the end of
//! its input (or Ctrl-C), then waits until every row is in a file.

use crate::counters::RunCounters;
use crate::progress::Progress;
use crate::vision::{VisionPlan, VisionSummary};
use itscam_operators::deliver::Deliver;
use itscam_operators::source::{FeedSpec, FeedStats, SourceControl, detections_source};
use itscam_operators::track::TrackFrames;
use itscam_queries::{AnalyticsPlan, build_analytics};
use itscam_sinks::{Lake, LakeWriter, SinkRows, Table, WriterSummary};
use itscam_types::config::{PipelineConfig, Source};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::dataflow::operators::{Concat, Probe};

/// Rows queued for the lake above which sources stop taking input.
const SINK_HIGH_WATER_ROWS: usize = 262_144;

/// Options of one run that are not in the config file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides `[pipeline].workers`.
    pub workers: Option<usize>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Also write the detector's output (video cameras) as detections JSON Lines to this file.
    pub write_detections: Option<PathBuf>,
    /// Serve the HTTP API (with `GET /cameras`) on this address while the pipeline runs.
    pub http: Option<String>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Valid frames read.
    pub frames: u64,
    /// Detections in valid frames.
    pub detections: u64,
    /// Confirmed tracks (rows of `tracks`).
    pub tracks: u64,
    /// Rejected input lines, all kinds (rows of `errors`).
    pub rejected: u64,
    /// Of those, frames rejected as later than `lateness_ms`.
    pub late: u64,
    /// Rows of `line_crossings`.
    pub crossings: u64,
    /// Closed violation episodes (rows of `violations`).
    pub violations: u64,
    /// Rows of `anomalies`.
    pub anomalies: u64,
    /// Alerts raised (after dedupe and suppression).
    pub alerts: u64,
    /// Alerts to Kafka, when configured.
    pub kafka: Option<itscam_sinks::alerts::KafkaSummary>,
    /// Files and rows written per table.
    pub written: WriterSummary,
    /// Wall-clock duration.
    pub elapsed: Duration,
    /// Workers used.
    pub workers: usize,
    /// The lake's URL.
    pub lake_url: String,
    /// Per class: (detections, confirmed tracks).
    pub classes: BTreeMap<String, (u64, u64)>,
    /// The vision path, when video cameras ran.
    pub vision: Option<VisionSummary>,
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "itscam run finished in {:.2} s on {} worker(s)", secs, self.workers)?;
        writeln!(f, "  frames      {:>12}  ({:.0}/s)", self.frames, self.frames as f64 / secs)?;
        writeln!(f, "  detections  {:>12}  ({:.0}/s)", self.detections, self.detections as f64 / secs)?;
        writeln!(f, "  tracks      {:>12}", self.tracks)?;
        writeln!(f, "  rejected    {:>12}  (late: {}; see the errors table)", self.rejected, self.late)?;
        writeln!(f, "  crossings   {:>12}", self.crossings)?;
        writeln!(f, "  violations  {:>12}", self.violations)?;
        writeln!(f, "  anomalies   {:>12}", self.anomalies)?;
        writeln!(f, "  alerts      {:>12}", self.alerts)?;
        if let Some(k) = &self.kafka {
            writeln!(f, "    to Kafka   {:>11} sent, {} left in the outbox, {} dead-lettered", k.sent, k.left_in_outbox, k.dead_lettered)?;
        }
        writeln!(f, "  files       {:>12}  in {}", self.written.files(), self.lake_url)?;
        for (table, (files, rows)) in &self.written.tables {
            writeln!(f, "    {table:<14} {rows:>10} rows in {files} file(s)")?;
        }
        if let Some(v) = &self.vision {
            write!(f, "{v}")?;
        }
        if !self.classes.is_empty() {
            writeln!(f, "  by class     detections     tracks")?;
            for (class, (d, t)) in &self.classes {
                writeln!(f, "    {class:<12} {d:>10} {t:>10}")?;
            }
        }
        Ok(())
    }
}

/// Runs the pipeline described by `config` until its input ends (or `stop` is set).
/// Blocks the calling thread, which must not be a Tokio runtime thread (the writer has its own).
pub fn run(config: &PipelineConfig, options: &RunOptions, stop: Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let workers = options.workers.unwrap_or(config.pipeline.workers).max(1);
    let lake = Lake::open_with(&config.lake.url, &config.lake.s3)?;
    let lake_url = lake.url().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("itscam-sink").build()?;
    let run_id = format!("{}-{:05}", itscam_types::time::now_ms(), std::process::id() % 100_000);
    // Start-up check: the lake is reachable and writable (a missing bucket or bad credentials
    // is an error naming the bucket and key), and its commit log exists.
    runtime.block_on(lake.init_log(&run_id))?;
    // `kafka:` sources: each topic is checked now (a missing topic or unreachable broker is a
    // start-up error), and the run is checkpointed — see `crate::resume`.
    let mut feeds = feeds_of(config)?;
    let checkpointed = feeds.iter().any(|f| f.kafka.is_some());
    let resume = if checkpointed {
        let resume = crate::resume::Resume::from_checkpoint(runtime.block_on(lake.last_checkpoint())?.as_ref())?;
        resume.check_feeds(&feeds.iter().filter_map(|f| f.kafka.as_deref()).collect::<Vec<_>>())?;
        if resume.time > 0 {
            tracing::info!(checkpoint_time = resume.time, complete = resume.complete, "resuming: replaying the sources, writing rows from the last checkpoint on");
        }
        resume
    } else {
        crate::resume::Resume::default()
    };
    let policy = if checkpointed { itscam_sinks::CommitPolicy::AtCheckpoints } else { itscam_sinks::CommitPolicy::EveryWrite };
    let (sink, writer) = LakeWriter::start_with(lake.clone(), config.lake.writer.clone(), run_id, policy, runtime.handle());
    if checkpointed {
        let committed = sink.committed_checkpoints();
        let latest: itscam_operators::source::kafka::CommittedCheckpoint = Arc::new(move || committed.borrow().clone());
        for f in &mut feeds {
            if let Some(k) = &mut f.kafka {
                Arc::make_mut(k).committed = Some(latest.clone());
            }
        }
    }
    let maintenance = (config.lake.compaction.interval_ms > 0).then(|| runtime.spawn(maintain(lake.clone(), config.lake.clone())));

    let signals = itscam_queries::signals::read_signals(&config.signal)?;
    if !signals.errors.is_empty() {
        sink.send(SinkRows::Errors(signals.errors.clone()));
    }
    let plan = AnalyticsPlan::new(Arc::new(config.clone()), signals.updates).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        anyhow::anyhow!("cannot build the traffic queries:\n{}", list.join("\n"))
    })?;
    let counters = Arc::new(RunCounters::default());
    let analytics = AnalyticsHandles { rules: plan.rules.clone(), zones: plan.live_zones.clone(), calibration: plan.scenes.reports() };
    // Alerts: violations and anomalies go to the hub (lifecycle, `alerts` table, SSE) and
    // through it to the webhooks.
    let webhooks = crate::alerts::webhook_outlets(&config.alerts, runtime.handle())?;
    let mut outlets = crate::alerts::as_outlets(&webhooks);
    // Kafka (when `[kafka]` and `[alerts.kafka]` are set): checked and started now, so a broker
    // that refuses the topic or the credentials is a start-up error.
    let kafka = match (&config.kafka, &config.alerts.kafka) {
        (Some(k), Some(topics)) => {
            let started = itscam_sinks::alerts::KafkaAlerts::start(k, topics, &config.alerts.outbox, runtime.handle())
                .map_err(|e| anyhow::anyhow!("alerts to Kafka: {e}"))?;
            outlets.push(Arc::new(started.outlet()));
            Some(started)
        }
        _ => None,
    };
    let (hub, hub_task) = crate::alerts::AlertHub::start_with(&config.alerts, outlets, sink.clone(), checkpointed, runtime.handle());
    let final_offsets: Arc<Mutex<serde_json::Map<String, serde_json::Value>>> = Arc::default();
    let final_offsets_w = final_offsets.clone();
    let checkpoint_interval = Duration::from_millis(config.kafka.as_ref().map_or(1_000, |k| k.consumer.checkpoint_interval_ms));
    let resume_time = resume.time;
    let max_lead_ms = config.kafka.as_ref().map_or(30_000, |k| k.consumer.max_lead_ms);
    let kafka_feeds: Vec<Arc<itscam_operators::source::kafka::KafkaFeed>> = feeds.iter().filter_map(|f| f.kafka.clone()).collect();
    let stats: Vec<Arc<FeedStats>> = feeds.iter().map(|f| f.stats.clone()).collect();
    let stats_for_http = stats.clone();
    // Opens the runtime and one detector per worker now, so a missing library, model or
    // provider is a start-up error, not a failure inside the dataflow.
    let vision = VisionPlan::prepare(config, workers, options.write_detections.clone())?;
    let vision_report = vision.as_ref().map(|v| v.report_handle());
    if let Some(addr) = &options.http {
        let cameras = vision.as_ref().map(|v| v.statuses()).unwrap_or_default();
        let live = crate::http::LiveHandles {
            cameras,
            analytics: Some(analytics.clone()),
            alerts: Some(hub.clone()),
            counters: Some(counters.clone()),
            feeds: stats_for_http.clone(),
            lake_pending: Some(sink.pending_gauge()),
        };
        crate::http::serve_in_background(runtime.handle(), addr, &lake, config.query.clone(), live)?;
    }
    let classes: Arc<Mutex<BTreeMap<String, (u64, u64)>>> = Arc::default();
    let classes_w = classes.clone();
    let progress = options.progress.then(|| Progress::start(stats.clone()));

    let counts_w = counters.clone();
    let lateness_ms = config.pipeline.lateness_ms;
    let tracker = config.tracker.clone();
    let sink_for_workers = sink.clone();
    let hub_for_workers = hub.clone();
    let stopped = stop.clone();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        // Kafka feeds all go to worker 0, which takes the checkpoints; the others round-robin.
        let mine: Vec<FeedSpec> = feeds
            .iter()
            .filter(|f| f.kafka.is_some()).map(|f| (0, f))
            .chain(feeds.iter().filter(|f| f.kafka.is_none()).enumerate())
            .filter(|(i, _)| i % peers == index)
            .map(|(_, f)| f.clone())
            .collect();
        let sink = sink_for_workers.clone();
        let paused = sink.clone();
        let mut probe = timely::dataflow::operators::probe::Handle::<u64>::new();
        let checkpoints = (checkpointed && index == 0).then(|| {
            let hub = hub_for_workers.clone();
            itscam_operators::source::CheckpointControl {
                probe: probe.clone(),
                interval: checkpoint_interval,
                committed_time: resume_time,
                max_lead_ms,
                take: Arc::new(move |t, value| {
                    hub.checkpoint(t, value);
                }),
                final_offsets: final_offsets_w.clone(),
            }
        });
        let control = SourceControl { pause: Arc::new(move || paused.pending_rows() > SINK_HIGH_WATER_ROWS), stop: stop.clone() };
        // A writer that stopped (storage failure) ends the run early; `finish` reports why.
        let (stop_e, stop_t) = (stop.clone(), stop.clone());
        let tracker = tracker.clone();
        let classes = classes_w.clone();
        let plan = plan.clone();
        let counts = counts_w.clone();
        let hub = hub_for_workers.clone();
        let vision = vision.as_ref().map(|v| v.for_worker(index, peers, &sink, &stop));
        worker.dataflow::<u64, _, _>(move |scope| {
            let (mut frames, mut errors) = detections_source(scope, mine, lateness_ms, control, checkpoints);
            if let Some(vision) = vision {
                let (video_frames, video_errors) = vision.build(scope);
                frames = frames.concat(video_frames);
                errors = errors.concat(video_errors);
            }
            let error_sink = sink.clone();
            let c = counts.clone();
            let done = errors.deliver("ErrorsToLake", move |t, rows| {
                if t < resume_time {
                    return; // in the lake already (a replay after a restart)
                }
                RunCounters::add(&c.rejected, rows.len());
                RunCounters::add(&c.late, rows.iter().filter(|r| r.kind == itscam_types::ErrorKind::Late).count());
                if !error_sink.send(SinkRows::Errors(rows)) {
                    stop_e.store(true, Ordering::Relaxed);
                }
            });
            done.probe_with(&mut probe);
            let out = build_analytics(frames.track_frames(tracker), &plan, index);
            let lake = Deliveries { sink: sink.clone(), stop: stop_t, resume_time };
            let det_classes = classes.clone();
            let c = counts.clone();
            out.detections.deliver("DetectionsToLake", lake.clone().rows(move |rows: &Vec<itscam_types::DetectionRow>| {
                RunCounters::add(&c.detections, rows.len());
                count_classes(&det_classes, rows.iter().map(|d| (d.class, 0)));
            }, SinkRows::Detections)).probe_with(&mut probe);
            let c = counts.clone();
            out.tracks.deliver("TracksToLake", lake.clone().rows(move |rows: &Vec<itscam_types::TrackRow>| {
                RunCounters::add(&c.tracks, rows.len());
                count_classes(&classes, rows.iter().map(|t| (t.class, 1)));
            }, SinkRows::Tracks)).probe_with(&mut probe);
            let c = counts.clone();
            out.crossings.deliver("CrossingsToLake", lake.clone().rows(move |rows: &Vec<_>| RunCounters::add(&c.crossings, rows.len()), SinkRows::LineCrossings)).probe_with(&mut probe);
            let c = counts.clone();
            out.zone_events.deliver("ZoneEventsToLake", lake.clone().rows(move |rows: &Vec<_>| RunCounters::add(&c.zone_events, rows.len()), SinkRows::ZoneEvents)).probe_with(&mut probe);
            let c = counts.clone();
            out.metrics.deliver("MetricsToLake", lake.clone().rows(move |rows: &Vec<_>| RunCounters::add(&c.metrics, rows.len()), SinkRows::TrafficMetrics)).probe_with(&mut probe);
            let c = counts.clone();
            let violations_lake = lake.clone();
            let violations_hub = hub.clone();
            out.violations.deliver("Violations", move |t, rows: Vec<itscam_types::analytics::ViolationRow>| {
                // Every copy goes to the hub (it raises one alert per id); the closed ones are the table's rows.
                let now = itscam_types::time::now_ms();
                for v in &rows {
                    let alert = itscam_types::analytics::Alert::from_violation(v, now);
                    if t < resume_time {
                        violations_hub.replay(alert);
                    } else if checkpointed {
                        violations_hub.raise_at(alert, t);
                    } else {
                        violations_hub.raise(alert);
                    }
                }
                if t < resume_time {
                    return;
                }
                let closed: Vec<_> = rows.into_iter().filter(|v| !v.ongoing).collect();
                RunCounters::add(&c.violations, closed.len());
                violations_lake.send(SinkRows::Violations(closed));
            })
            .probe_with(&mut probe);
            let c = counts.clone();
            out.anomalies.deliver("AnomaliesToLake", move |t, rows: Vec<itscam_types::analytics::AnomalyRow>| {
                let now = itscam_types::time::now_ms();
                for a in &rows {
                    let alert = itscam_types::analytics::Alert::from_anomaly(a, now);
                    if t < resume_time {
                        hub.replay(alert);
                    } else if checkpointed {
                        hub.raise_at(alert, t);
                    } else {
                        hub.raise(alert);
                    }
                }
                if t < resume_time {
                    return;
                }
                RunCounters::add(&c.anomalies, rows.len());
                lake.send(SinkRows::Anomalies(rows));
            })
            .probe_with(&mut probe);
        });
    })
    .map_err(|e| anyhow::anyhow!("cannot start timely workers: {e}"))?;
    // Joining blocks this (non-worker) thread until the dataflow has drained.
    for result in guards.join() {
        result.map_err(|e| anyhow::anyhow!("a worker failed: {e}"))?;
    }
    // Every source ended (not stopped): the final checkpoint covers everything. A stopped run
    // keeps its last checkpoint; the next start replays what came after it.
    let final_checkpoint = (checkpointed && !stopped.load(Ordering::Relaxed))
        .then(|| crate::resume::final_checkpoint(std::mem::take(&mut *final_offsets.lock().unwrap_or_else(|p| p.into_inner()))));
    if let Some(value) = &final_checkpoint {
        hub.checkpoint(u64::MAX, value.clone());
    }
    drop(hub);
    let alerts = runtime.block_on(hub_task.finish()).map_err(|e| anyhow::anyhow!("alerts: {e}"))?;
    let kafka = match kafka {
        Some(k) => Some(runtime.block_on(k.finish()).map_err(|e| anyhow::anyhow!("alerts to Kafka: {e}"))?),
        None => None,
    };
    drop(sink);
    let written = runtime.block_on(writer.finish())?;
    // Offsets go to the consumer group only after the lake commit that covers them.
    if let Some(value) = &final_checkpoint {
        for feed in &kafka_feeds {
            itscam_operators::source::kafka::commit_checkpoint(feed, value).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    if let Some(task) = maintenance {
        // An interrupted compaction leaves only uncommitted files, deleted by a later vacuum.
        task.abort();
    }
    if let Some(p) = progress {
        p.finish();
    }
    let vision = match vision_report {
        Some(report) => Some(report.finish()?),
        None => None,
    };
    let frames = stats.iter().map(|s| s.frames.load(Ordering::Relaxed)).sum::<u64>() + vision.as_ref().map_or(0, |v| v.inferred);
    let late = RunCounters::get(&counters.late);
    let classes = std::mem::take(&mut *classes.lock().map_err(|_| anyhow::anyhow!("a worker panicked"))?);
    Ok(RunSummary {
        frames: frames - late,
        detections: written.rows(Table::Detections),
        tracks: RunCounters::get(&counters.tracks),
        rejected: RunCounters::get(&counters.rejected),
        late,
        crossings: RunCounters::get(&counters.crossings),
        violations: RunCounters::get(&counters.violations),
        anomalies: RunCounters::get(&counters.anomalies),
        alerts: alerts.counters.raised,
        kafka,
        written,
        elapsed: started.elapsed(),
        workers,
        lake_url,
        classes,
        vision,
    })
}

/// Compacts and vacuums the lake every `[lake.compaction] interval_ms` while the pipeline runs;
/// failures are logged and retried at the next interval.
async fn maintain(lake: Lake, config: itscam_types::config::LakeConfig) {
    let mut ticker = tokio::time::interval(Duration::from_millis(config.compaction.interval_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let run_id = format!("maintain-{}", itscam_types::time::now_ms());
        match lake.maintain(&config, itscam_types::time::now_ms(), &run_id).await {
            Ok((c, v)) => tracing::info!(
                compacted = c.files_in,
                into = c.files_out,
                expired = v.expired_files,
                deleted = v.deleted_removed + v.deleted_orphans,
                "lake maintenance"
            ),
            Err(e) => tracing::warn!(error = %e, "lake maintenance failed; trying again at the next interval"),
        }
    }
}

/// One feed per distinct detections source; cameras sharing a source share its feed. Kafka
/// topics are checked here (start-up errors name the broker and topic).
fn feeds_of(config: &PipelineConfig) -> anyhow::Result<Vec<FeedSpec>> {
    let mut by_source: BTreeMap<Source, Vec<String>> = BTreeMap::new();
    for cam in config.camera.iter().filter(|c| c.source.family().carries_detections()) {
        by_source.entry(cam.source.clone()).or_default().push(cam.id.clone());
    }
    by_source
        .into_iter()
        .map(|(source, cameras)| {
            let kafka = match (&source, &config.kafka) {
                (Source::Kafka(topic), Some(k)) => Some(Arc::new(itscam_operators::source::kafka::connect(k, topic).map_err(|e| anyhow::anyhow!("camera source kafka:{topic}: {e}"))?)),
                (Source::Kafka(topic), None) => anyhow::bail!("camera source kafka:{topic} needs a [kafka] section"),
                _ => None,
            };
            Ok(FeedSpec { source, cameras, stats: Arc::new(FeedStats::default()), kafka })
        })
        .collect()
}

/// What the HTTP API needs of the running queries.
#[derive(Clone, Debug)]
pub struct AnalyticsHandles {
    /// The live rule set.
    pub rules: itscam_queries::RuleControl,
    /// Live zone occupancy.
    pub zones: itscam_queries::observe::LiveZones,
    /// Each calibrated camera's calibration fit.
    pub calibration: Vec<itscam_queries::CalibrationReport>,
}


/// Sends rows to the lake from a worker; a writer that stopped (storage failure) stops the
/// run, and `finish` reports why.
#[derive(Clone)]
struct Deliveries {
    sink: itscam_sinks::LakeSink,
    stop: Arc<AtomicBool>,
    /// Rows below this time are in the lake already (a checkpointed run's replay).
    resume_time: u64,
}

impl Deliveries {
    fn send(&self, rows: SinkRows) {
        if !self.sink.send(rows) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// A delivery callback: `count` sees the rows, `wrap` makes them sink rows.
    fn rows<R: 'static>(self, mut count: impl FnMut(&Vec<R>) + 'static, wrap: fn(Vec<R>) -> SinkRows) -> impl FnMut(u64, Vec<R>) + 'static {
        move |t, rows| {
            if t < self.resume_time {
                return;
            }
            count(&rows);
            self.send(wrap(rows));
        }
    }
}

fn count_classes(classes: &Mutex<BTreeMap<String, (u64, u64)>>, items: impl Iterator<Item = (itscam_types::ObjectClass, usize)>) {
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
