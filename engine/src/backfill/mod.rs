//! Backfill: a rule run over the lake's history, writing the violations it would have made had
//! it been live (`origin = 'backfill'`, the same ids).
//!
//! # Protocol
//!
//! The range is cut into parts of [`PART_MS`] per camera the rule watches (aligned to the
//! epoch, so a part is within one UTC day). Each part reads the camera's tracked detections
//! and ended tracks from the lake through the commit log — from the start of every track alive
//! when the part begins (at most [`MAX_LEAD_MS`] before), so each track's class, speed filter
//! and zone stays are what they were live, to the end of every track alive when it ends (at
//! most [`MAX_TAIL_MS`] after) — replays them through the pipeline's own queries with the rule
//! present from the start ([`replay`]) and keeps the violations that start inside the part.
//! Those are one Parquet file named after the job, the camera and the part, committed alone
//! (`itscam_sinks::backfill`). A part whose file is committed is done: a backfill run again
//! with the same rule and range (after a crash, or to finish one stopped) skips it, so nothing
//! is written twice. A part without violations writes nothing and is redone (cheaply).
//!
//! Each camera's zones, lines and calibration are those it had at the time of the rows: the
//! config's, then each change of the control log from the event time it took effect (a change
//! inside a part is replayed at its time, as the tracker passed it on). Signal states are the
//! config's files and the states pushed over the API (logged). The rule is the one of now.
//! Backfill a range in which the rule was not live: rows it made live are not replaced.

mod history;
mod read;
mod replay;

use crate::sql::QueryEngine;
use itscam_sinks::Lake;
use itscam_sinks::backfill::{backfill_path, commit_backfill, is_committed};
use itscam_types::config::{PipelineConfig, QueryConfig, RuleConfig};
use futures::StreamExt;
use serde::Serialize;
use std::sync::Mutex;

/// Length of a part, ms.
pub const PART_MS: u64 = 15 * 60_000;
/// At least this much before a part is read, ms (the speed filters warm up).
pub const LEAD_MS: u64 = 120_000;
/// At most this much before a part is read for the tracks alive at its start, ms.
pub const MAX_LEAD_MS: u64 = 3_600_000;
/// At least this much after a part is read, ms (episodes open at its end close).
pub const TAIL_MS: u64 = 120_000;
/// At most this much after a part is read for the tracks alive at its end, ms.
pub const MAX_TAIL_MS: u64 = 3_600_000;
/// Longest range of one backfill, ms (31 days).
pub const MAX_RANGE_MS: u64 = 31 * 86_400_000;

/// A backfill's progress, as `itscam rules backfill` prints it and the HTTP API answers it.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct BackfillProgress {
    /// The job: a hash of the rule and the range (the same for a resumed run).
    pub job: String,
    /// The rule.
    pub rule_id: String,
    /// Start of the range, ms.
    pub from_ms: u64,
    /// End of the range (exclusive), ms.
    pub to_ms: u64,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Parts (camera × 15 min) in all.
    pub parts: u64,
    /// Parts done, those committed by an earlier run included.
    pub parts_done: u64,
    /// Parts an earlier run had committed.
    pub parts_skipped: u64,
    /// Stored rows read (detections and ended tracks).
    pub rows_read: u64,
    /// Violations written.
    pub violations: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The problems of a backfill request before it starts.
pub fn check_range(from_ms: u64, to_ms: u64) -> Result<(), String> {
    if to_ms <= from_ms {
        return Err(format!("to_ms ({to_ms}) must be after from_ms ({from_ms})"));
    }
    if to_ms - from_ms > MAX_RANGE_MS {
        return Err(format!("a backfill covers at most 31 days; split the range ({} days)", (to_ms - from_ms).div_ceil(86_400_000)));
    }
    Ok(())
}

/// The rule `id` as it is now: the config's, replaced or removed by the lake's control log.
pub async fn rule_of(lake: &Lake, config: &PipelineConfig, id: &str) -> anyhow::Result<Option<RuleConfig>> {
    let mut rule = config.rule.iter().find(|r| r.id == id).cloned();
    for e in lake.read_control().await?.iter().filter(|e| e.kind == itscam_sinks::ControlKind::Rule && e.id == id) {
        rule = match (&e.op, &e.after) {
            (itscam_sinks::ControlOp::Put, Some(after)) => Some(serde_json::from_value(after.clone())?),
            _ => None,
        };
    }
    Ok(rule)
}

/// The job id of a backfill: FNV-1a of the rule and the range, 16 hex digits.
fn job_id(rule: &RuleConfig, from_ms: u64, to_ms: u64) -> String {
    let text = format!("{}|{from_ms}|{to_ms}", serde_json::to_string(rule).unwrap_or_default());
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// Runs (or resumes) the backfill of `rule` over `[from_ms, to_ms)`; `progress` is updated as
/// parts finish.
pub async fn run(base: &PipelineConfig, lake: &Lake, rule: &RuleConfig, from_ms: u64, to_ms: u64, progress: &Mutex<BackfillProgress>) -> anyhow::Result<()> {
    check_range(from_ms, to_ms).map_err(|e| anyhow::anyhow!(e))?;
    let config = crate::control::with_logged_cameras(lake, base).await?;
    let ir = itscam_queries::rules::checked(rule, &config).map_err(|ps| {
        let list: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!("the rule does not fit the pipeline: {}", list.join("; "))
    })?;
    let cameras: Vec<String> = config.camera.iter().map(|c| c.id.clone()).filter(|c| ir.watches(c)).collect();
    let signals = itscam_queries::signals::read_signals(&config.signal)?.updates;
    let (histories, pushed) = history::read(lake, base).await?;
    let job = job_id(rule, from_ms, to_ms);
    let first = from_ms - from_ms % PART_MS;
    let starts: Vec<u64> = (first..to_ms).step_by(PART_MS as usize).collect();
    update(progress, |p| {
        *p = BackfillProgress { job: job.clone(), rule_id: rule.id.clone(), from_ms, to_ms, state: "running".into(), parts: (starts.len() * cameras.len()) as u64, ..BackfillProgress::default() };
    });
    let engine = QueryEngine::open(lake, QueryConfig { timeout_ms: 600_000, ..config.query.clone() }).await?;
    let state = lake.load_state().await?;
    let mut todo = Vec::new();
    for camera in &cameras {
        for &start in &starts {
            let (a, b) = (start.max(from_ms), (start + PART_MS).min(to_ms));
            let path = backfill_path(lake, camera, a, &format!("backfill-{job}-{camera}-{a}"));
            if is_committed(&state, &path) {
                update(progress, |p| (p.parts_done, p.parts_skipped) = (p.parts_done + 1, p.parts_skipped + 1));
            } else {
                todo.push(Part { camera: camera.clone(), a, b, path });
            }
        }
    }
    // Parts run side by side, one core each (the replay is one timely worker).
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_PARALLEL_PARTS);
    let run_id = format!("backfill-{job}");
    let shared = Shared { engine: &engine, lake, config: &config, rule, signals: &signals, pushed: &pushed, histories: &histories, lead_ms: lead_of(&ir), run_id: &run_id };
    let mut parts = futures::stream::iter(todo).map(|part| shared.part(part)).buffer_unordered(parallel);
    while let Some(done) = parts.next().await {
        let (read, written) = done?;
        update(progress, |p| {
            p.parts_done += 1;
            p.rows_read += read;
            p.violations += written;
        });
    }
    update(progress, |p| p.state = "done".into());
    Ok(())
}

/// Most parts that run at once.
pub const MAX_PARALLEL_PARTS: usize = 8;

/// One part: a camera's `[a, b)`, and the file its violations go to.
struct Part {
    camera: String,
    a: u64,
    b: u64,
    path: String,
}

/// What every part of a backfill reads.
struct Shared<'j> {
    engine: &'j QueryEngine,
    lake: &'j Lake,
    config: &'j PipelineConfig,
    rule: &'j RuleConfig,
    signals: &'j [itscam_queries::facts::SignalUpdate],
    pushed: &'j [itscam_queries::signals::SignalLine],
    histories: &'j std::collections::BTreeMap<String, history::CameraHistory>,
    lead_ms: u64,
    run_id: &'j str,
}

impl Shared<'_> {
    /// Reads, replays and commits one part: (rows read, violations written).
    async fn part(&self, part: Part) -> anyhow::Result<(u64, u64)> {
        let Part { camera, a, b, path } = part;
        let (read_from, read_to) = window(self.engine, &camera, a, b, self.lead_ms).await?;
        let mut rows = read::tracked(self.engine, &camera, read_from, read_to).await?;
        let read = rows.len() as u64;
        // The camera as it was at the first row, and its changes after.
        let history = self.histories.get(&camera).cloned().unwrap_or_default();
        let Some(first) = rows.first().map(|r| r.0).and_then(|t| history.at(t)).cloned() else { return Ok((read, 0)) };
        rows.extend(history.changes(&camera, rows[0].0, read_to));
        rows.sort_by_key(|(t, item)| (*t, read::rank(item)));
        let mut config = self.config.clone();
        config.camera.retain(|c| c.id != camera);
        config.camera.push(first);
        if let Err(problems) = itscam_queries::rules::checked(self.rule, &config) {
            // The camera did not have then what the rule names (a zone added later): nothing
            // of the rule could happen there.
            tracing::warn!(camera = %camera, from = a, problems = ?problems, "backfill: the rule does not fit the camera as it was; no violations in this part");
            return Ok((read, 0));
        }
        let (rule, signals, pushed) = (self.rule.clone(), self.signals.to_vec(), self.pushed.to_vec());
        let all = tokio::task::spawn_blocking(move || replay::violations(&config, &rule, signals, &pushed, rows)).await??;
        let mine: Vec<_> = all.into_iter().filter(|v| v.camera_id == camera && (a..b).contains(&v.ts_start_ms)).collect();
        if !mine.is_empty() {
            commit_backfill(self.lake, &camera, &mine, &path, self.run_id).await?;
        }
        Ok((read, mine.len() as u64))
    }
}

/// How far before a part its rows are read at least: [`LEAD_MS`], or the rule's window and
/// `FOR` when longer (a window's rows before the part decide episodes that start inside it).
fn lead_of(ir: &itscam_queries::rules::ir::RuleIr) -> u64 {
    match &ir.output {
        itscam_queries::rules::ir::Output::Window(w) => LEAD_MS.max(w.size_ms + w.min_ms + 1_000),
        _ => LEAD_MS,
    }
}

fn update(progress: &Mutex<BackfillProgress>, f: impl FnOnce(&mut BackfillProgress)) {
    f(&mut progress.lock().unwrap_or_else(|e| e.into_inner()));
}

/// What a part `[a, b)` reads: from the first point of every track alive at `a`, to the last
/// point of every track alive at `b` (see the module docs).
async fn window(engine: &QueryEngine, camera: &str, a: u64, b: u64, lead_ms: u64) -> anyhow::Result<(u64, u64)> {
    let cam = camera.replace('\'', "''");
    let one = |sql: String| async move {
        let r = engine.run(&sql).await?;
        let v = r.batches.first().filter(|b| b.num_rows() > 0).and_then(|b| {
            use arrow::array::{Array, AsArray};
            let a = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            a.is_valid(0).then(|| a.value(0) as u64)
        });
        anyhow::Ok(v)
    };
    let first = one(format!("SELECT min(first_ts_ms) FROM tracks WHERE camera_id = '{cam}' AND first_ts_ms < {a} AND last_ts_ms >= {a}")).await?;
    let last = one(format!("SELECT max(last_ts_ms) FROM tracks WHERE camera_id = '{cam}' AND first_ts_ms < {b} AND last_ts_ms >= {b}")).await?;
    let from = first.unwrap_or(a).min(a.saturating_sub(lead_ms)).max(a.saturating_sub(MAX_LEAD_MS));
    let to = last.map_or(b, |l| l + 2).max(b + TAIL_MS).min(b + MAX_TAIL_MS);
    Ok((from, to))
}
