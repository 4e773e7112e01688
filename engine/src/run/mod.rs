//! `itscam run`: plan → services → dataflow → finish.
//!
//! - [`plan`]: the config decided into a [`RunPlan`] (feeds, worker assignment, the traffic
//!   queries) without touching the outside world;
//! - [`services`]: the lake, its writer, the alert hub and outlets, Kafka, detectors and the
//!   HTTP API, started and finished in one documented order;
//! - [`dataflow`]: one worker's graph, with one delivery path used by every table;
//! - [`vision`]: the video cameras' part of the graph; [`resume`]: where a checkpointed run
//!   starts;
//! - [`cluster`]: several processes running one dataflow (timely's cluster).
//!
//! [`run`] runs to the end of the input (or until `stop` is set), then waits until every row is
//! in a committed file.

pub mod cluster;
mod dataflow;
pub mod edge_sync;
pub mod plan;
pub mod resume;
mod services;
mod summary;
pub mod vision;

pub use cluster::Cluster;
pub use plan::{FeedPlan, RunPlan};
pub use summary::RunSummary;

use itscam_sinks::Table;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Options of one run that are not in the config file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides `[pipeline].workers`.
    pub workers: Option<usize>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Also write the detector's output (video cameras) as detections JSON Lines to this file.
    pub write_detections: Option<PathBuf>,
    /// Serve the HTTP API (with `GET /api/v1/cameras`) on this address while the pipeline runs.
    pub http: Option<String>,
    /// Cameras may be added, changed and removed over the API while it runs (`itscam serve`):
    /// the pipeline then runs until it is stopped, even once the config's cameras' input ended.
    /// Not in a checkpointed (Kafka) run.
    pub cameras_at_runtime: bool,
    /// `--insecure`: serve the API beyond loopback with `[auth] enabled = false`.
    pub insecure: bool,
    /// This process's place in a cluster (`--cluster FILE --process I` or `[cluster]`); `None`:
    /// one process.
    pub cluster: Option<Cluster>,
}

/// Runs the pipeline described by `config` until its input ends (or `stop` is set).
/// Blocks the calling thread, which must not be a Tokio runtime thread (the writer has its own).
/// The HTTP API of `options.http` stops with the run.
pub fn run(config: &itscam_types::config::PipelineConfig, options: &RunOptions, stop: Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    run_keeping_api(config, options, stop).map(|(summary, _api)| summary)
}

/// The HTTP API of a finished run, still answering on the same socket (`itscam serve`): SQL
/// over the lake, the alerts' rows; the pipeline's own endpoints say it has stopped. Dropping it
/// closes the API.
#[must_use = "dropping it closes the HTTP API"]
pub struct ServingApi {
    runtime: tokio::runtime::Runtime,
    audit: Option<crate::audit::Audit>,
}

/// The audit rows of the API's last second are written before it closes.
impl Drop for ServingApi {
    fn drop(&mut self) {
        if let Some(audit) = &self.audit
            && let Err(e) = self.runtime.block_on(audit.flush())
        {
            tracing::error!(error = %e, rows = audit.waiting().len(), "audit: the last audit rows could not be written to the lake");
        }
    }
}

impl std::fmt::Debug for ServingApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServingApi")
    }
}

/// `config` with the cameras changed over the API of an earlier `itscam serve` on the same lake
/// (its control log), checked like the config.
fn logged_cameras(config: &itscam_types::config::PipelineConfig) -> anyhow::Result<itscam_types::config::PipelineConfig> {
    let lake = itscam_sinks::Lake::open_with(&config.lake.url, &config.lake.s3)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let folded = runtime.block_on(crate::control::with_logged_cameras(&lake, config))?;
    if folded.camera != config.camera {
        let problems = folded.validate();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            anyhow::bail!("the cameras of the lake's control log do not fit the config:\n{}", list.join("\n"));
        }
        tracing::info!(cameras = folded.camera.len(), "cameras as the lake's control log left them");
    }
    Ok(folded)
}

/// [`run`], but the HTTP API of `options.http` outlives the pipeline: it is handed back once
/// every row is committed, and answers until the [`ServingApi`] is dropped.
pub fn run_keeping_api(config: &itscam_types::config::PipelineConfig, options: &RunOptions, stop: Arc<AtomicBool>) -> anyhow::Result<(RunSummary, ServingApi)> {
    let started = Instant::now();
    let config = &logged_cameras(config)?;
    let signals = itscam_queries::signals::read_signals(&config.signal)?;
    let plan = RunPlan::new(config, options, signals.updates).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        anyhow::anyhow!("cannot build the traffic queries:\n{}", list.join("\n"))
    })?;
    let services = services::Services::start(config, &plan, options, signals.errors)?;
    let shared = services.for_workers(&plan, &stop);
    let for_workers = shared.clone();
    tracing::info!(lake = %config.lake.url, cameras = config.camera.len(), workers = plan.workers, process = plan.process, processes = plan.processes, "pipeline started: the lake answered, the sources are read now");
    let timely_config = match &options.cluster {
        Some(cluster) => {
            tracing::info!(peers = ?cluster.hosts, process = cluster.process, "connecting to the cluster's other processes (this waits until every one of them is up)");
            cluster.timely_config(plan.workers)
        }
        None => timely::Config::process(plan.workers),
    };
    let clustered = plan.processes > 1;
    let execute = move || -> anyhow::Result<()> {
        let guards = timely::execute(timely_config, move |worker| dataflow::build(worker, &for_workers))
            .map_err(|e| anyhow::anyhow!("cannot start timely workers: {e}"))?;
        if clustered {
            tracing::info!("connected to every process of the cluster: the dataflow runs");
        }
        // Joining blocks this (non-worker) thread until the dataflow has drained.
        for result in guards.join() {
            result.map_err(|e| anyhow::anyhow!("a worker failed: {e}"))?;
        }
        Ok(())
    };
    if clustered {
        // Timely has no partial failure: a process that goes away panics the others' network
        // threads. Said once, as what it is, instead of a panic of the main thread.
        let Ok(ran) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(execute)) else {
            // Like a crash: what is committed stays, a checkpointed run resumes from its last
            // checkpoint. The services are not finished (nor dropped: their threads may wait
            // for a dataflow that is gone).
            std::mem::forget((services, shared));
            anyhow::bail!("the cluster's dataflow stopped: a process of the cluster went away (or its connection did); restart every process (README \"Scaling out\")");
        };
        ran?;
    } else {
        execute()?;
    }
    let counters = shared.counters.clone();
    let finished = services.finish(shared, stop.load(Ordering::Relaxed))?;
    let late = counters.late.get();
    let frames = (finished.source_frames - finished.source_duplicates) + finished.vision.as_ref().map_or(0, |v| v.inferred);
    let api = ServingApi { runtime: finished.runtime, audit: finished.audit };
    let summary = RunSummary {
        frames: frames.saturating_sub(late),
        detections: finished.written.rows(Table::Detections),
        tracks: counters.tracks.get(),
        rejected: counters.rejected.get(),
        late,
        duplicates: finished.source_duplicates,
        crossings: counters.crossings.get(),
        violations: counters.violations.get(),
        anomalies: counters.anomalies.get(),
        alerts: finished.alerts.counters.raised,
        kafka: finished.kafka,
        written: finished.written,
        elapsed: started.elapsed(),
        workers: plan.workers,
        cluster: (plan.processes > 1).then_some((plan.process, plan.processes)),
        lake_url: finished.lake_url,
        classes: finished.classes,
        vision: finished.vision,
        sync: finished.sync,
    };
    Ok((summary, api))
}
