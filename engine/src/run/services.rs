//! The services around the dataflow: the lake and its writer, the alert hub and its outlets,
//! Kafka sources and the alert producer, the detectors, the HTTP API and the progress bar.
//!
//! **Start order** ([`Services::start`]) — each step can fail with an error that names what to
//! fix, and nothing of the dataflow has run yet:
//! 1. the sinks' Tokio runtime;
//! 2. the lake: reachable and writable, its commit log created (a missing bucket or bad
//!    credentials name the bucket and key);
//! 3. `kafka:` sources: each topic checked on the brokers; the lake's last checkpoint read
//!    ([`super::resume`]); the lake's control log replayed into the rules (logged changes at
//!    their event times, none new below the resume time: [`crate::control`]);
//! 4. the lake writer (committing at checkpoints in a checkpointed run) and, when configured,
//!    the compaction/vacuum task; rejected signal lines go to `errors`;
//! 5. alert outlets (webhooks, then Kafka, whose topics are checked now) and the alert hub;
//! 6. one detector per worker for video cameras (a missing model, runtime or provider fails
//!    here);
//! 7. the HTTP API (`--http`), which reads [`crate::live::Live`]; the progress bar.
//!
//! **Finish order** ([`Services::finish`]), once every worker has drained: the final
//! checkpoint → the hub (every alert handed to its outlets and its rows to the writer) → the
//! Kafka producer (outbox flushed) → the writer (every row committed) → the Kafka sources'
//! offsets (only after the lake commit that covers them) → compaction stopped → the progress
//! bar → the vision report.

use super::dataflow::WorkerShared;
use super::edge_sync::EdgeSync;
use super::plan::RunPlan;
use super::resume::Resume;
use super::vision::{VisionPlan, VisionReport, VisionSummary};
use super::RunOptions;
use crate::alerts::{AlertHub, AlertHubHandle, AlertHubTask, HubSummary};
use crate::control::ControlLog;
use crate::counters::RunCounters;
use crate::live::{AnalyticsHandles, Live};
use crate::progress::Progress;
use anyhow::Context;
use itscam_operators::source::kafka::{CommittedCheckpoint, KafkaFeed};
use itscam_operators::source::cameras::CameraControl;
use itscam_operators::source::{FeedSpec, FeedStats, PushInlets, RuntimeCameras};
use itscam_sinks::alerts::{KafkaAlerts, KafkaSummary};
use itscam_sinks::{Lake, LakeSink, LakeWriter, SinkRows, Spool, WriterSummary};
use itscam_types::ErrorRow;
use itscam_types::config::{LakeConfig, PipelineConfig, Source};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The running services of one run.
pub(super) struct Services {
    runtime: tokio::runtime::Runtime,
    lake_url: String,
    sink: LakeSink,
    writer: LakeWriter,
    maintenance: Option<JoinHandle<()>>,
    edge_sync: Option<EdgeSync>,
    hub: AlertHubHandle,
    hub_task: AlertHubTask,
    kafka: Option<KafkaAlerts>,
    feeds: Vec<FeedSpec>,
    resume: Resume,
    vision: Option<Arc<VisionPlan>>,
    vision_report: Option<VisionReport>,
    counters: Arc<RunCounters>,
    progress: Option<Progress>,
    checkpointed: bool,
    runtime_cameras: Option<RuntimeCameras>,
    audit: Option<crate::audit::Audit>,
    models: Option<Arc<crate::models::ModelsLive>>,
    /// The registry's refresh and window task (it holds a sink and a hub handle: aborted first
    /// at the end, so that both can finish).
    models_task: Option<JoinHandle<()>>,
    /// The evidence service and the workers' taps on it.
    evidence: Option<(crate::evidence::Evidence, crate::evidence::EvidenceTaps)>,
}

/// What the services report once finished.
pub(super) struct Finished {
    /// The services' runtime, which still runs the HTTP API (`--http`) until dropped.
    pub runtime: tokio::runtime::Runtime,
    /// The lake's URL.
    pub lake_url: String,
    /// The API's audit trail (`--http`), flushed when the API closes.
    pub audit: Option<crate::audit::Audit>,
    /// The alert hub's summary.
    pub alerts: HubSummary,
    /// The Kafka alert producer's, when configured.
    pub kafka: Option<KafkaSummary>,
    /// Files and rows written per table.
    pub written: WriterSummary,
    /// The vision path's, when video cameras ran.
    pub vision: Option<VisionSummary>,
    /// Frames read by the detections sources.
    pub source_frames: u64,
    /// Of those, frames delivered twice (dropped).
    pub source_duplicates: u64,
    /// Per class: (detections, confirmed tracks).
    pub classes: std::collections::BTreeMap<String, (u64, u64)>,
    /// The edge sync's lag after its last try (`[lake.sync]`).
    pub sync: Option<itscam_sinks::SyncStatus>,
}

/// The lake and this run's id (its files' names); process 0 of a cluster starts the lake's
/// commit log, the others wait for it.
/// The configured lake, with its own connections (opening does no I/O).
fn lake_of(config: &PipelineConfig) -> anyhow::Result<Lake> {
    Ok(Lake::open_with(&config.lake.url, &config.lake.s3)?.with_partition_by(config.lake.partition_by))
}

fn open_lake(config: &PipelineConfig, plan: &RunPlan, runtime: &tokio::runtime::Runtime) -> anyhow::Result<(Lake, String)> {
    let lake = lake_of(config)?;
    let mut run_id = format!("{}-{:05}", itscam_types::time::now_ms(), std::process::id() % 100_000);
    if plan.processes > 1 {
        // Processes of a cluster may start in the same ms with the same pid (containers): the
        // index keeps their file names apart.
        run_id += &format!("-p{}", plan.process);
    }
    if plan.process == 0 {
        runtime.block_on(lake.init_log(&run_id))?;
    } else {
        runtime.block_on(await_log(&lake))?;
    }
    Ok((lake, run_id))
}

impl Services {
    /// Starts every service in the documented order; `signal_errors` are the rejected lines
    /// of the signal files.
    pub(super) fn start(config: &PipelineConfig, plan: &RunPlan, options: &RunOptions, signal_errors: Vec<ErrorRow>) -> anyhow::Result<Services> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("itscam-sink").build()?;
        let (lake, run_id) = open_lake(config, plan, &runtime)?;

        let (mut feeds, mut push) = connect_feeds(config, plan)?;
        let runtime_cameras = runtime_cameras(config, plan, options, &mut push)?;
        // Finished files wait here while an S3 lake does not answer; an earlier run's are shipped first.
        let spool = (lake.is_remote() && config.lake.spool.max_bytes > 0).then(|| Spool::open(&config.lake.spool, lake.url())).transpose()?;
        let (resume, replayed) = resume_and_replay(&runtime, &lake, spool.as_ref().and_then(Spool::last_checkpoint), &feeds, plan)?;

        // Fresh SQL: the API's queries read what the writer holds too.
        let readable = options.http.is_some() && config.query.fresh;
        let (sink, writer, unwritten) = LakeWriter::start_spooled(lake.clone(), config.lake.writer.clone(), run_id.clone(), plan.commit_policy(), readable, spool, runtime.handle());
        if plan.checkpointed {
            acknowledge_after_commits(&sink, &mut feeds);
        }
        // In a cluster, one process maintains and syncs the one lake (the others would only race it).
        let lake_keeper = plan.process == 0;
        let maintenance = (lake_keeper && config.lake.compaction.interval_ms > 0).then(|| runtime.spawn(maintain(lake.clone(), config.lake.clone())));
        let edge_sync = if lake_keeper { EdgeSync::start(&lake, &config.lake, runtime.handle()).context("[lake.sync]")? } else { None };
        // Every process reads the signal files; process 0 reports their bad lines.
        if !signal_errors.is_empty() && plan.process == 0 {
            sink.send(SinkRows::Errors(signal_errors));
        }

        let (hub, hub_task, kafka) = start_alerts(config, &runtime, &sink, plan.checkpointed)?;
        // The evidence's own connections to the lake, on its own runtime (see `Evidence::start`).
        let evidence = crate::evidence::Evidence::start(config, lake_of(config)?, &run_id).context("[evidence]")?;
        let (models, models_task) = start_models(config, &lake, &runtime, (&sink, &hub), runtime_cameras.is_some())?.unzip();
        let prepare = |m: &Arc<crate::models::ModelsLive>| VisionPlan::prepare(config, plan.workers, options.write_detections.clone(), runtime_cameras.as_ref().map(|r| r.control.clone()), m);
        let vision = models.as_ref().map(prepare).transpose()?.flatten().map(Arc::new);
        let vision_report = vision.as_ref().map(|v| v.report_handle());
        let counters = Arc::new(RunCounters::default());
        let stats: Vec<Arc<FeedStats>> = feeds.iter().map(|f| f.stats.clone()).collect();
        let mut audit = None;
        if let Some(addr) = &options.http {
            let control = if plan.processes > 1 { ControlLog::in_cluster(lake.clone(), replayed as u64, plan.analytics.rules.clone(), plan.analytics.signals.clone()) } else { ControlLog::new(lake.clone()) };
            if plan.processes > 1 {
                if let Some(cameras) = &runtime_cameras {
                    let handles = crate::live::RuntimeCameraHandles { cameras: cameras.clone(), config: Arc::new(config.clone()) };
                    control.follow_cameras_with(crate::http::cameras::follower(handles, evidence.as_ref().map(|(e, _)| e.view()), plan.analytics.rules.clone()));
                }
                runtime.spawn(crate::control::follow_the_cluster(control.clone(), plan.analytics.rules.clone()));
            }
            let live = Live {
                cameras: vision.as_ref().map(|v| v.statuses()).unwrap_or_default(),
                analytics: Some(AnalyticsHandles::of(&plan.analytics, control)),
                alerts: Some(hub.clone()),
                counters: Some(counters.clone()),
                feeds: stats.clone(),
                lake_pending: Some(sink.pending_gauge()),
                lake_health: Some(sink.health()),
                lake_sync: edge_sync.as_ref().map(EdgeSync::health),
                push: push.clone(),
                push_max_body_bytes: config.service.push_max_body_bytes,
                runtime_cameras: runtime_cameras.clone().map(|r| crate::live::RuntimeCameraHandles { cameras: r, config: Arc::new(config.clone()) }),
                models: models.clone(),
                evidence: evidence.as_ref().map(|(e, _)| e.view()),
            };
            let serving = crate::http::serve::ServeOptions::of(config, options.insecure);
            audit = Some(crate::http::serve_in_background(runtime.handle(), addr, &lake, config, &serving, unwritten, live)?);
        }
        let progress = options.progress.then(|| Progress::start(stats));
        let (lake_url, checkpointed) = (lake.url().to_string(), plan.checkpointed);
        Ok(Services { audit, runtime, lake_url, sink, writer, maintenance, edge_sync, hub, hub_task, kafka, feeds, resume, vision, vision_report, counters, progress, checkpointed, runtime_cameras, models, models_task, evidence })
    }

    /// What every worker shares: the feeds, the sinks, the hub, the counters.
    pub(super) fn for_workers(&self, plan: &RunPlan, stop: &Arc<AtomicBool>) -> WorkerShared {
        WorkerShared {
            plan: Arc::new(plan.clone()),
            feeds: self.feeds.clone(),
            sink: self.sink.clone(),
            hub: self.hub.clone(),
            counters: self.counters.clone(),
            classes: Arc::default(),
            stop: stop.clone(),
            resume_time: self.resume.time,
            vision: self.vision.clone(),
            runtime_cameras: self.runtime_cameras.clone(),
            evidence: self.evidence.as_ref().map(|(_, taps)| taps.clone()),
        }
    }

    /// Finishes every service in the documented order, after the workers have drained;
    /// `shared` is what they shared (its handles of the hub and the writer are dropped here, so
    /// both can end), `stopped` whether the run was stopped before its input ended.
    pub(super) fn finish(self, shared: WorkerShared, stopped: bool) -> anyhow::Result<Finished> {
        let WorkerShared { classes, sink: workers_sink, hub: workers_hub, vision: workers_vision, evidence: workers_evidence, plan, .. } = shared;
        let (process, processes) = (plan.process, plan.processes);
        drop((workers_sink, workers_hub, workers_vision, workers_evidence));
        let Services { runtime, lake_url, sink, writer, maintenance, edge_sync, hub, hub_task, kafka, feeds, vision, vision_report, progress, checkpointed, audit, models, models_task, evidence, .. } = self;
        if let Some((evidence, taps)) = evidence {
            // The last taps gone, the service makes what waits, commits and ends.
            drop(taps);
            evidence.finish();
        }
        if let Some(task) = models_task {
            task.abort();
            let _ = runtime.block_on(task);
        }
        if let Some(models) = &models {
            // The last (partial) window of the model monitor.
            runtime.block_on(models.close_window(&sink, Some(&hub)));
        }
        // Every source ended (not stopped): the final checkpoint covers everything. A stopped run
        // keeps its last checkpoint; the next start replays what came after it.
        let topics: Vec<Arc<KafkaFeed>> = feeds.iter().filter_map(|f| f.kafka.clone()).collect();
        let final_checkpoint = (checkpointed && !stopped).then(|| super::resume::final_checkpoint(itscam_operators::source::checkpoint::offsets_at(&topics, None)));
        let final_checkpoint = final_checkpoint.map(|v| super::resume::of_process(v, process, processes));
        if let Some(value) = &final_checkpoint {
            hub.checkpoint(u64::MAX, value.clone());
        }
        drop(hub);
        let alerts = match runtime.block_on(hub_task.finish()) {
            Ok(alerts) => alerts,
            Err(e) => {
                // A writer that stopped is the cause: its own error names the store's answer
                // and the bucket and key or path, the hub's only says the writer stopped.
                drop((sink, kafka));
                runtime.block_on(writer.finish()).context("the lake writer failed")?;
                return Err(anyhow::Error::new(e).context("alerts"));
            }
        };
        let kafka = match kafka {
            Some(k) => Some(runtime.block_on(k.finish()).context("alerts to Kafka")?),
            None => None,
        };
        drop(sink);
        let written = runtime.block_on(writer.finish())?;
        // Offsets go to the consumer group only after the lake commit that covers them.
        if let Some(value) = &final_checkpoint {
            for feed in feeds.iter().filter_map(|f| f.kafka.as_deref()) {
                itscam_operators::source::kafka::commit_checkpoint(feed, value)?;
            }
        }
        if let Some(task) = maintenance {
            // An interrupted compaction leaves only uncommitted files, deleted by a later vacuum.
            task.abort();
        }
        let sync = edge_sync.and_then(|s| s.finish(&runtime));
        if let Some(p) = progress {
            p.finish();
        }
        drop(vision);
        // A serve that could have taken video cameras and got none has nothing to report.
        let vision = vision_report.map(VisionReport::finish).transpose()?.filter(|v| v.measured > 0 || !v.cameras.is_empty());
        let source_frames = feeds.iter().map(|f| f.stats.frames.load(Ordering::Relaxed)).sum();
        let source_duplicates = feeds.iter().map(|f| f.stats.duplicates.load(Ordering::Relaxed)).sum();
        let classes = std::mem::take(&mut *classes.lock().ok().context("a worker panicked")?);
        Ok(Finished { runtime, lake_url, alerts, kafka, written, vision, source_frames, source_duplicates, classes, sync, audit })
    }
}

/// The detections feeds of the plan and, when a camera takes pushed detections, their inlets;
/// `kafka:` topics are checked on the brokers now (a missing topic or unreachable broker is a
/// start-up error naming both).
fn connect_feeds(config: &PipelineConfig, plan: &RunPlan) -> anyhow::Result<(Vec<FeedSpec>, Option<PushInlets>)> {
    let stats: Vec<Arc<FeedStats>> = plan.feeds.iter().map(|_| Arc::new(FeedStats::default())).collect();
    let pushed: Vec<(String, Arc<FeedStats>)> =
        plan.feeds.iter().zip(&stats).filter(|(f, _)| f.source == Source::Push).map(|(f, s)| (f.cameras[0].clone(), s.clone())).collect();
    let push = (!pushed.is_empty()).then(|| {
        let others = config.camera.iter().filter(|c| c.source != Source::Push).map(|c| (c.id.clone(), c.source.label())).collect();
        PushInlets::new(pushed, others, config.service.push_queue_lines, config.service.push_max_delay_ms).with_limits(config.input)
    });
    let feeds = plan
        .feeds
        .iter()
        .zip(stats)
        .map(|(f, stats)| {
            let kafka = match (&f.source, &config.kafka) {
                (Source::Kafka(topic), Some(k)) => {
                    let whole = itscam_operators::source::kafka::connect(k, topic).with_context(|| format!("camera source kafka:{topic}"))?;
                    // The partitions this process's workers read (KafkaFeed::share), and their book.
                    Some(Arc::new(whole.for_process(plan.process, plan.workers, plan.processes)))
                }
                (Source::Kafka(topic), None) => anyhow::bail!("camera source kafka:{topic} needs a [kafka] section"),
                _ => None,
            };
            let push = push.clone().filter(|_| f.source == Source::Push);
            Ok(FeedSpec { source: f.source.clone(), cameras: f.cameras.clone(), stats, kafka, push, limits: config.input })
        })
        .collect::<anyhow::Result<Vec<FeedSpec>>>()?;
    Ok((feeds, push))
}

/// Where a checkpointed run starts: the lake's last checkpoint, checked against the topics.
/// Kafka feeds acknowledge their input upstream once the lake commit that covers it is in.
fn acknowledge_after_commits(sink: &LakeSink, feeds: &mut [FeedSpec]) {
    let committed = sink.committed_checkpoints();
    let latest: CommittedCheckpoint = Arc::new(move || committed.borrow().clone());
    for k in feeds.iter_mut().filter_map(|f| f.kafka.as_mut()) {
        Arc::make_mut(k).committed = Some(latest.clone());
    }
}

/// Where this process resumes, and the number of the lake's control-log entries replayed into
/// the rules and signal states (those at or above the resume time).
fn resume_and_replay(runtime: &tokio::runtime::Runtime, lake: &Lake, spooled: Option<serde_json::Value>, feeds: &[FeedSpec], plan: &RunPlan) -> anyhow::Result<(Resume, usize)> {
    let resume = if plan.checkpointed { read_resume(runtime, lake, spooled, feeds, plan)? } else { Resume::default() };
    // In a checkpointed cluster no change may take effect below any process's checkpoint (a
    // rule changed anywhere applies to every camera, and each process's rows below its own
    // checkpoint are in the lake already).
    let floor = if plan.checkpointed && plan.processes > 1 {
        let all = runtime.block_on(lake.last_checkpoints())?;
        all.values().filter_map(|c| c.get("time").and_then(serde_json::Value::as_u64)).filter(|&t| t != u64::MAX).fold(resume.time, u64::max)
    } else {
        resume.time
    };
    let replayed = runtime.block_on(crate::control::replay(lake, &plan.analytics.rules, &plan.analytics.signals, floor)).context("the lake's control log")?;
    if plan.processes > 1 && plan.process != 0 {
        // Process 0's worker 0 enters the config's and the log's rules and signal states;
        // this process's first worker those changed through its own API (ControlLog).
        plan.analytics.rules.enter_on_worker(plan.process * plan.workers);
        plan.analytics.signals.enter_on_worker(plan.process * plan.workers);
    }
    Ok((resume, replayed))
}

/// Where a checkpointed run resumes: the spool's newest checkpoint (commits not shipped yet
/// are newer than the lake's), else the lake's.
fn read_resume(runtime: &tokio::runtime::Runtime, lake: &Lake, spooled: Option<serde_json::Value>, feeds: &[FeedSpec], plan: &RunPlan) -> anyhow::Result<Resume> {
    // In a cluster, this process's own (the spool is this process's too).
    let checkpoint = match spooled {
        Some(c) => Some(c),
        None => super::resume::checkpoint_of_process(&runtime.block_on(lake.last_checkpoints())?, plan.process, plan.processes)?,
    };
    let resume = Resume::from_checkpoint(checkpoint.as_ref())?;
    // Each process checks the partitions its workers read.
    resume.check_feeds(&feeds.iter().filter_map(|f| f.kafka.as_deref()).collect::<Vec<&KafkaFeed>>())?;
    if resume.time > 0 {
        tracing::info!(checkpoint_time = resume.time, complete = resume.complete, "resuming: replaying the sources, writing rows from the last checkpoint on");
    }
    Ok(resume)
}

/// The other processes of a cluster wait for process 0 to start the lake's commit log: one
/// writer creates commit 0 (or adopts the files of a lake without a log), not several at once.
async fn await_log(lake: &Lake) -> anyhow::Result<()> {
    let mut said = false;
    while lake.latest_seq().await?.is_none() {
        if !std::mem::replace(&mut said, true) {
            tracing::info!(lake = lake.url(), "waiting for process 0 of the cluster to start the lake's commit log");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Webhooks and Kafka (when `[kafka]` and `[alerts.kafka]` are set) behind one alert hub.
fn start_alerts(config: &PipelineConfig, runtime: &tokio::runtime::Runtime, sink: &LakeSink, checkpointed: bool) -> anyhow::Result<(AlertHubHandle, AlertHubTask, Option<KafkaAlerts>)> {
    let webhooks = crate::alerts::webhook_outlets(&config.alerts, runtime.handle())?;
    let mut outlets = crate::alerts::as_outlets(&webhooks);
    let kafka = match (&config.kafka, &config.alerts.kafka) {
        (Some(k), Some(topics)) => {
            let started = KafkaAlerts::start(k, topics, &config.alerts.outbox, runtime.handle()).context("alerts to Kafka")?;
            outlets.push(Arc::new(started.outlet()));
            Some(started)
        }
        _ => None,
    };
    let (hub, task) = AlertHub::start_with(&config.alerts, outlets, sink.clone(), checkpointed, runtime.handle());
    Ok((hub, task, kafka))
}

/// Compacts and vacuums the lake every `[lake.compaction] interval_ms` while the pipeline runs;
/// failures are logged and retried at the next interval.
async fn maintain(lake: Lake, config: LakeConfig) {
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
        if let Err(e) = crate::audit::expire(&lake, config.retention.audit_days, itscam_types::time::now_ms()).await {
            tracing::warn!(error = %e, "audit retention failed; trying again at the next interval");
        }
    }
}

/// The model registry's part of the run when it has video cameras or may get some
/// (`runtime_cameras`): the first routing, and the task that refreshes it and closes the
/// monitor's windows (rows to `sink`, alerts to `hub`).
fn start_models(config: &PipelineConfig, lake: &Lake, runtime: &tokio::runtime::Runtime, (sink, hub): (&LakeSink, &AlertHubHandle), runtime_cameras: bool) -> anyhow::Result<Option<(Arc<crate::models::ModelsLive>, JoinHandle<()>)>> {
    let video = config.camera.iter().any(|c| c.source.family() == itscam_types::config::SourceFamily::Video);
    if !video && !runtime_cameras {
        return Ok(None);
    }
    let registry = crate::models::Registry::new(lake.clone(), &config.models.cache_dir);
    let live = runtime.block_on(crate::models::ModelsLive::prepare(config, registry, video)).context("[model] / the model registry")?;
    let task = live.spawn(runtime.handle(), sink.clone(), hub.clone());
    Ok(Some((live, task)))
}

/// The book of cameras changed over the API, when the run takes such changes (`serve`, `run
/// --http`, not checkpointed); it makes the push inlets if there were none. Push cameras
/// without the API are an error.
fn runtime_cameras(config: &PipelineConfig, plan: &RunPlan, options: &RunOptions, push: &mut Option<PushInlets>) -> anyhow::Result<Option<RuntimeCameras>> {
    let cameras_at_runtime = options.cameras_at_runtime && options.http.is_some() && !plan.checkpointed;
    let runtime_cameras = cameras_at_runtime.then(|| {
        let others = config.camera.iter().filter(|c| c.source != Source::Push).map(|c| (c.id.clone(), c.source.label())).collect();
        let push = push.get_or_insert_with(|| PushInlets::new(Vec::new(), others, config.service.push_queue_lines, config.service.push_max_delay_ms).with_limits(config.input));
        // In a cluster the book spans the cluster's workers; this process's own start feeds.
        let control = CameraControl::new(&config.camera, plan.workers * plan.processes);
        if plan.processes > 1 {
            control.set_local_workers(plan.process * plan.workers..(plan.process + 1) * plan.workers);
        }
        RuntimeCameras { control, push: push.clone() }
    });
    if push.is_some() && options.http.is_none() {
        let ids: Vec<String> = push.iter().flat_map(|p| p.cameras()).collect();
        anyhow::bail!("camera {} has source = \"push\": its detections arrive over the HTTP API; run `itscam serve --config FILE`, or `itscam run --http ADDR`", ids.join(", "));
    }
    Ok(runtime_cameras)
}
