//! `[lake.sync]` while a pipeline runs: the edge lake is copied to the central lake every
//! `max_age_ms` (see `itscam_sinks::LakeSync`), and once more at the end. The central lake
//! being away never stops the pipeline: the edge lake holds everything, one WARN says the
//! sync waits, one INFO says it caught up again, and `/health` shows the lag.

use itscam_sinks::{Lake, LakeSync, SinkError, SyncReport, SyncStatus};
use itscam_types::config::LakeConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long the end of a run tries the last sync.
const FINAL_SYNC: Duration = Duration::from_secs(30);

/// The sync as `/health` shows it. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct SyncHealth(Arc<Mutex<SyncView>>);

/// What [`SyncHealth`] says.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SyncView {
    /// `synced` (caught up at the last try), `behind` (the central lake did not answer).
    #[schema(value_type = String, pattern = "^(synced|behind)$")]
    pub state: &'static str,
    /// The lag after the last try.
    pub status: SyncStatus,
    /// Files copied since the start.
    pub files_copied: u64,
    /// The central lake's last error, while it does not answer.
    pub last_error: Option<String>,
    /// When the last try ended (ms since the Unix epoch).
    pub at_ms: u64,
}

impl SyncHealth {
    /// A copy of the view.
    pub fn get(&self) -> SyncView {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut SyncView)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The running sync.
pub(super) struct EdgeSync {
    sync: LakeSync,
    task: JoinHandle<()>,
    health: SyncHealth,
}

impl EdgeSync {
    /// Starts syncing `lake` when `[lake.sync] to` is set.
    pub(super) fn start(lake: &Lake, config: &LakeConfig, runtime: &tokio::runtime::Handle) -> anyhow::Result<Option<EdgeSync>> {
        let Some(to) = &config.sync.to else { return Ok(None) };
        let central = Lake::open_with(to, &config.sync.s3)?.with_partition_by(config.partition_by);
        let sync = LakeSync::new(lake.clone(), central, config.sync.max_bytes_per_s);
        let health = SyncHealth::default();
        let task = runtime.spawn(every(sync.clone(), Duration::from_millis(config.sync.max_age_ms), health.clone()));
        tracing::info!(to = %to, every_ms = config.sync.max_age_ms, "edge sync: committed files are copied to the central lake");
        Ok(Some(EdgeSync { sync, task, health }))
    }

    /// Its health, for `/health`.
    pub(super) fn health(&self) -> SyncHealth {
        self.health.clone()
    }

    /// Stops the periodic sync and tries a last one (bounded): what it cannot send waits for
    /// the next run or `itscam lake sync`.
    pub(super) fn finish(self, runtime: &tokio::runtime::Runtime) -> Option<SyncStatus> {
        self.task.abort();
        let result = runtime.block_on(async { tokio::time::timeout(FINAL_SYNC, once(&self.sync, &self.health)).await });
        if result.is_err() {
            tracing::warn!(central = self.sync.central().url(), "edge sync: the last sync did not end in time; `itscam lake sync` or the next run sends the rest");
        }
        Some(self.health.get().status)
    }
}

/// Syncs every `every` until aborted.
async fn every(sync: LakeSync, every: Duration, health: SyncHealth) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        once(&sync, &health).await;
    }
}

/// One sync and its status, logged once per change of state.
async fn once(sync: &LakeSync, health: &SyncHealth) {
    let result: Result<SyncReport, SinkError> = sync.sync().await;
    let status = sync.status().await.unwrap_or_default();
    let was = health.get().state;
    match result {
        Ok(report) => {
            if was == "behind" {
                tracing::info!(central = sync.central().url(), "edge sync: the central lake answers again");
            }
            if report.files > 0 {
                tracing::info!(files = report.files, bytes = report.bytes, commits = report.commits, synced_seq = ?report.synced_seq, "edge sync: copied to the central lake");
            }
            health.update(|h| {
                h.state = "synced";
                h.files_copied += report.files;
                h.last_error = None;
            });
        }
        Err(e) => {
            if was != "behind" {
                tracing::warn!(central = sync.central().url(), error = %e, "edge sync: the central lake does not answer; the edge lake keeps everything and the sync tries again");
            }
            health.update(|h| {
                h.state = "behind";
                h.last_error = Some(e.to_string());
            });
        }
    }
    health.update(|h| {
        h.status = status;
        h.at_ms = itscam_types::time::now_ms();
    });
}
