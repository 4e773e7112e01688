//! The Parquet lake writer: buffers rows per table, camera and day, each buffer encoded as its
//! rows arrive. A file is the buffers of one partition directory: under the default layout
//! ([`PartitionBy::Date`]) every camera's buffer of a table and day, one after the other in
//! `camera_id` order (their row groups copied into one file, so each row group holds one
//! camera and its statistics let a camera filter skip the others); under
//! [`PartitionBy::CameraDate`] one camera's. A file is rolled when its buffers reach
//! `max_rows` or the oldest of them is `max_age_ms` old, when all buffers together hold more
//! than `max_buffer_bytes` (the largest files first, so memory stays bounded however many
//! cameras write), and at the end. Each file is encoded completely and then uploaded whole
//! ([`Lake::put_file`]); it becomes visible only when a commit listing it is published (see
//! `commit_log.rs`), after each batch of files, or with the next checkpoint ([`CommitPolicy`]).

use crate::commit_log::{Change, FileEntry};
use crate::error::SinkError;
use crate::outage::LakeHealth;
use crate::ship::{Ledger, drain, retry};
use crate::spool::{Spool, SpoolStats};
use crate::lake::Lake;
use crate::rows::SinkRows;
use crate::concat::concat_row_groups;
use crate::schema::{PartitionBy, Table};
use crate::unwritten::{Unwritten, UnwrittenPart};
use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use itscam_types::config::WriterConfig;
use itscam_types::time::utc_date;
use serde_json::Value;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

enum Msg {
    Rows(SinkRows),
    /// Rows of the dataflow's time `t` (event time, ms).
    RowsAt(u64, SinkRows),
    /// A checkpoint at time `t`: it covers the rows of earlier times.
    Checkpoint(u64, Value),
    Flush(oneshot::Sender<()>),
    /// What is not committed yet, for a reader ([`UnwrittenRows::snapshot`]).
    Unwritten(oneshot::Sender<Unwritten>),
}

/// When the files a writer uploads are committed (made visible).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CommitPolicy {
    /// After every batch of files (each tick, roll, flush, checkpoint and the end): rows are
    /// visible within about `max_age_ms`. A checkpoint covers every row sent before it, and
    /// rows after it may be committed before the next one (at-least-once on a replay).
    #[default]
    EveryWrite,
    /// Only together with a checkpoint: the commit of a checkpoint at time T holds exactly the
    /// rows sent (by [`LakeSink::send_at`]) at times below T and not committed before, and
    /// every row sent without a time before it; rows at T or later wait for a later
    /// checkpoint, even when they arrived first (a dataflow delivers a later time before the
    /// checkpoint of an earlier one is taken). So sources that resume from
    /// [`Lake::last_checkpoint`] and drop what comes below T neither lose nor repeat rows
    /// (exactly-once). Rows not covered by a checkpoint are not committed when the writer
    /// ends: send a final checkpoint (at `u64::MAX`) before dropping the sinks.
    AtCheckpoints,
}

/// Rows queued for the writer, readable without holding the writer open.
#[derive(Clone, Debug)]
pub struct PendingRows(Arc<AtomicUsize>);

impl PendingRows {
    /// Rows sent but not yet taken in.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Rows queued for the lake ([`LakeSink::pending_rows`]) above which sources stop taking input
/// (and video sources stop reading files), so a slow store throttles the pipeline instead of
/// filling memory. Rows the writer has taken in are staged in bounded batches and cost little.
pub const SINK_HIGH_WATER_ROWS: usize = 262_144;

/// The dataflow's handle on the writer: sending never blocks.
#[derive(Clone, Debug)]
pub struct LakeSink {
    tx: mpsc::UnboundedSender<Msg>,
    pending: Arc<AtomicUsize>,
    committed: tokio::sync::watch::Receiver<Option<Value>>,
    health: LakeHealth,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self { Msg::Rows(_) => "Rows", Msg::RowsAt(..) => "RowsAt", Msg::Checkpoint(..) => "Checkpoint", Msg::Flush(_) => "Flush", Msg::Unwritten(_) => "Unwritten" })
    }
}

impl LakeSink {
    /// Queues rows for writing; false when the writer has stopped (its error is reported by
    /// [`LakeWriter::finish`]).
    pub fn send(&self, rows: SinkRows) -> bool {
        let n = rows.len();
        if n == 0 {
            return true;
        }
        self.pending.fetch_add(n, Ordering::Relaxed);
        self.tx.send(Msg::Rows(rows)).is_ok()
    }

    /// Queues rows of the dataflow's time `time` (see [`CommitPolicy::AtCheckpoints`]: they are
    /// committed with the first checkpoint above `time`); false when the writer has stopped.
    pub fn send_at(&self, time: u64, rows: SinkRows) -> bool {
        let n = rows.len();
        if n == 0 {
            return true;
        }
        self.pending.fetch_add(n, Ordering::Relaxed);
        self.tx.send(Msg::RowsAt(time, rows)).is_ok()
    }

    /// Rows sent but not yet taken in by the writer: sources pause above a high-water mark.
    /// (Rows taken in are staged in bounded batches and encoded, so they cost little memory.)
    pub fn pending_rows(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The lake as the writer last found it (`up`, or `degraded` while it waits one out).
    pub fn health(&self) -> LakeHealth {
        self.health.clone()
    }

    /// A gauge of [`LakeSink::pending_rows`] that does not keep the writer open (the writer
    /// finishes once every `LakeSink` is dropped; a gauge may outlive it).
    pub fn pending_gauge(&self) -> PendingRows {
        PendingRows(self.pending.clone())
    }

    /// Queues a checkpoint (an opaque source position, e.g. Kafka offsets) in order with the
    /// rows: every row sent before it (by any clone) is written and committed in the commit
    /// that carries it, which [`Lake::last_checkpoint`] returns after a restart. False when
    /// the writer has stopped.
    pub fn checkpoint(&self, value: Value) -> bool {
        self.checkpoint_at(u64::MAX, value)
    }

    /// Queues a checkpoint at the dataflow's time `time`: its commit carries the rows sent
    /// before it without a time or at a time below `time`; rows at `time` or later stay for
    /// the next checkpoint. False when the writer has stopped.
    pub fn checkpoint_at(&self, time: u64, value: Value) -> bool {
        self.tx.send(Msg::Checkpoint(time, value)).is_ok()
    }

    /// The checkpoint of the writer's latest commit (`None` before its first): a source
    /// acknowledges its input upstream (e.g. commits Kafka offsets) once it sees its
    /// checkpoint here, never earlier. Readable from any thread without blocking.
    pub fn committed_checkpoints(&self) -> tokio::sync::watch::Receiver<Option<Value>> {
        self.committed.clone()
    }

    /// Writes every buffered row to files and waits until they are stored — and committed
    /// (visible) under [`CommitPolicy::EveryWrite`]; under `AtCheckpoints` they wait for the
    /// next checkpoint.
    pub async fn flush(&self) -> Result<(), SinkError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Flush(tx)).map_err(|_| SinkError::Stopped("flush after the writer ended".into()))?;
        rx.await.map_err(|_| SinkError::Stopped("the writer failed during a flush".into()))
    }
}

/// Files and rows written, per table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterSummary {
    /// Per table name: (files, rows), committed.
    pub tables: BTreeMap<&'static str, (u64, u64)>,
    /// Commits published.
    pub commits: u64,
    /// Rows sent after the last checkpoint under [`CommitPolicy::AtCheckpoints`], not committed.
    pub uncommitted_rows: u64,
    /// Files written early because the buffers held more than `max_buffer_bytes`.
    pub budget_rolls: u64,
    /// What the spool held at the end (`None`: no spool): files the lake had not taken stay
    /// there for the next run; files dropped for room are counted per table.
    pub spool: Option<SpoolStats>,
    /// The lake at the end, in one line (`up`, `degraded (spooling …)`), see [`LakeHealth::describe`].
    pub lake: String,
    /// Outages of the lake waited out during the run.
    pub outages: u64,
}

impl WriterSummary {
    /// Files written over all tables.
    pub fn files(&self) -> u64 {
        self.tables.values().map(|v| v.0).sum()
    }
    /// Rows written to a table.
    pub fn rows(&self, table: Table) -> u64 {
        self.tables.get(table.name()).map_or(0, |v| v.1)
    }
}

/// The running writer task.
#[derive(Debug)]
pub struct LakeWriter {
    task: JoinHandle<Result<WriterSummary, SinkError>>,
}

impl LakeWriter {
    /// Starts the writer on `runtime` with [`CommitPolicy::EveryWrite`]. `run_id` makes file
    /// names unique per run. The lake should have been checked first ([`Lake::init_log`]):
    /// the writer starts the log too, but reports a failure only from [`LakeWriter::finish`].
    pub fn start(lake: Lake, config: WriterConfig, run_id: String, runtime: &tokio::runtime::Handle) -> (LakeSink, LakeWriter) {
        Self::start_with(lake, config, run_id, CommitPolicy::EveryWrite, runtime)
    }

    /// Starts the writer with a commit policy.
    pub fn start_with(lake: Lake, config: WriterConfig, run_id: String, policy: CommitPolicy, runtime: &tokio::runtime::Handle) -> (LakeSink, LakeWriter) {
        Self::start_inner(lake, config, run_id, policy, false, None, runtime)
    }

    /// Starts the writer with a commit policy and a reader of the rows it holds: the writer
    /// then keeps the record batches of every file in progress beside their encoding (they
    /// count against `max_buffer_bytes`), so [`UnwrittenRows::snapshot`] can hand them out.
    pub fn start_readable(lake: Lake, config: WriterConfig, run_id: String, policy: CommitPolicy, runtime: &tokio::runtime::Handle) -> (LakeSink, LakeWriter, UnwrittenRows) {
        let (sink, writer) = Self::start_inner(lake, config, run_id, policy, true, None, runtime);
        let reader = UnwrittenRows::new(sink.tx.downgrade());
        (sink, writer, reader)
    }

    /// Starts the writer with everything: a commit policy, a reader of the rows it holds when
    /// `readable` (see [`LakeWriter::start_readable`]), and a spool where finished files wait
    /// while the lake does not answer (see `ship.rs`). What the spool holds from an earlier
    /// run is shipped first.
    pub fn start_spooled(lake: Lake, config: WriterConfig, run_id: String, policy: CommitPolicy, readable: bool, spool: Option<Spool>, runtime: &tokio::runtime::Handle) -> (LakeSink, LakeWriter, Option<UnwrittenRows>) {
        let (sink, writer) = Self::start_inner(lake, config, run_id, policy, readable, spool, runtime);
        let reader = readable.then(|| UnwrittenRows::new(sink.tx.downgrade()));
        (sink, writer, reader)
    }

    fn start_inner(lake: Lake, config: WriterConfig, run_id: String, policy: CommitPolicy, readable: bool, spool: Option<Spool>, runtime: &tokio::runtime::Handle) -> (LakeSink, LakeWriter) {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let exit_wait = Duration::from_millis(spool.as_ref().map_or(0, Spool::exit_wait_ms));
        let (ledger, committed) = Ledger::new(lake.clone(), run_id.clone(), policy == CommitPolicy::AtCheckpoints, config.snapshot_every, spool);
        let ledger = Arc::new(ledger);
        let health = ledger.health.clone();
        let state = WriterState {
            layout: lake.partition_by(),
            lake,
            config,
            run_id,
            policy,
            readable,
            seq: 0,
            buffers: HashMap::new(),
            file_rows: HashMap::new(),
            held: BTreeMap::new(),
            uncommitted: Vec::new(),
            summary: WriterSummary::default(),
            pending: pending.clone(),
            since_budget_check: 0,
            ledger,
            drainer: None,
            exit_wait,
        };
        let task = runtime.spawn(state.run(rx));
        (LakeSink { tx, pending, committed, health }, LakeWriter { task })
    }

    /// Waits until every [`LakeSink`] clone is dropped and all rows are written.
    pub async fn finish(self) -> Result<WriterSummary, SinkError> {
        self.task.await.map_err(|source| SinkError::Panicked { task: "writer", source })?
    }
}

/// A buffer's partition: table, camera (for tables by camera) and UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PartKey {
    table: Table,
    camera_id: Option<String>,
    date: String,
}

impl PartKey {
    /// The file the buffer goes to, as a key: without the camera where cameras share files.
    fn file(&self, layout: PartitionBy) -> PartKey {
        match layout {
            PartitionBy::CameraDate => self.clone(),
            PartitionBy::Date => PartKey { camera_id: None, ..self.clone() },
        }
    }

    /// Whether the buffer goes to `file` (without building its file key).
    fn goes_to(&self, file: &PartKey, layout: PartitionBy) -> bool {
        self.table == file.table && self.date == file.date && (layout == PartitionBy::Date || self.camera_id == file.camera_id)
    }
}

/// One partition's file in progress: rows staged as structs until a batch is full, then
/// encoded into an in-memory Parquet writer, so memory holds compressed columns, not rows.
struct Buffer {
    rows: SinkRows,
    encoder: Option<ArrowWriter<Vec<u8>>>,
    /// The encoded rows as record batches too, when the writer is readable.
    batches: Vec<RecordBatch>,
    encoded_rows: usize,
    since: Instant,
}

impl Buffer {
    fn total_rows(&self) -> usize {
        self.encoded_rows + self.rows.len()
    }

    /// Memory held: staged rows, the encoder's row group in progress and the encoded bytes of
    /// the file so far.
    fn memory_bytes(&self) -> usize {
        self.rows.memory_bytes()
            + self.encoder.as_ref().map_or(0, |e| e.memory_size() + e.bytes_written())
            + self.batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>()
    }
}

/// Rows staged before they are encoded as one record batch (a few MB of structs at most per
/// partition; encoded columns are several times smaller).
const BATCH_ROWS: usize = 16_384;
/// Rows taken in between two looks at the memory of all buffers.
const BUDGET_CHECK_ROWS: usize = 16_384;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 262_144;

struct WriterState {
    lake: Lake,
    /// How new files are laid out.
    layout: PartitionBy,
    config: WriterConfig,
    run_id: String,
    policy: CommitPolicy,
    /// Whether buffers keep their record batches for [`UnwrittenRows`].
    readable: bool,
    seq: u64,
    buffers: HashMap<PartKey, Buffer>,
    /// Rows held per file (the sum of its buffers' rows), so an add checks the files it
    /// touched without walking every buffer (hundreds with many cameras).
    file_rows: HashMap<PartKey, usize>,
    /// Under [`CommitPolicy::AtCheckpoints`]: timed rows by time, until a checkpoint above it.
    held: BTreeMap<u64, Vec<SinkRows>>,
    /// Files uploaded and not yet committed (while not spooling).
    uncommitted: Vec<FileEntry>,
    summary: WriterSummary,
    pending: Arc<AtomicUsize>,
    /// Rows taken in since the memory of the buffers was last checked.
    since_budget_check: usize,
    /// What is published, the spool and the outage, shared with the drain.
    ledger: Arc<Ledger>,
    /// The drain task while the spool is shipped.
    drainer: Option<JoinHandle<Result<(), SinkError>>>,
    /// How long the end waits for the drain.
    exit_wait: Duration,
}

impl WriterState {
    async fn run(mut self, rx: mpsc::UnboundedReceiver<Msg>) -> Result<WriterSummary, SinkError> {
        self.start().await?;
        self.take(rx).await?;
        self.end().await
    }

    /// Starts the log. The store may go away right after the start-up check: waited out like
    /// any write; with a spool, the drain starts the log (the writer spools meanwhile).
    async fn start(&mut self) -> Result<(), SinkError> {
        let (lake, run_id) = (self.lake.clone(), self.run_id.clone());
        match lake.init_log(&run_id).await {
            Ok(()) => self.ledger.answered(),
            Err(e) => match self.ledger.failed(&e) {
                None => return Err(e),
                Some(_) if self.ledger.start_spooling(Vec::new())? => {}
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    retry(&self.ledger, || lake.init_log(&run_id)).await?;
                }
            },
        }
        if self.ledger.lock().spooling {
            self.start_drain(); // what an earlier run left in the spool goes first
        }
        Ok(())
    }

    /// Takes rows, checkpoints and requests until every sender is gone.
    async fn take(&mut self, mut rx: mpsc::UnboundedReceiver<Msg>) -> Result<(), SinkError> {
        let tick = Duration::from_millis((self.config.max_age_ms / 2).clamp(50, 5_000));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Rows(rows)) => {
                        self.pending.fetch_sub(rows.len(), Ordering::Relaxed);
                        self.add(rows).await?;
                        self.commit_if_due().await?;
                    }
                    Some(Msg::RowsAt(t, rows)) => {
                        self.pending.fetch_sub(rows.len(), Ordering::Relaxed);
                        if self.policy == CommitPolicy::AtCheckpoints {
                            self.held.entry(t).or_default().push(rows);
                        } else {
                            self.add(rows).await?;
                            self.commit_if_due().await?;
                        }
                    }
                    Some(Msg::Checkpoint(t, value)) => {
                        // The final checkpoint (u64::MAX) covers every row.
                        let later = if t == u64::MAX { BTreeMap::new() } else { self.held.split_off(&t) };
                        for rows in std::mem::replace(&mut self.held, later).into_values().flatten() {
                            self.add(rows).await?;
                        }
                        self.write_where(|_| true).await?;
                        self.commit(Some(value)).await?;
                    }
                    Some(Msg::Unwritten(reply)) => {
                        let unwritten = self.unwritten()?;
                        let _ = reply.send(unwritten);
                    }
                    Some(Msg::Flush(done)) => {
                        self.write_where(|_| true).await?;
                        self.commit_if_due().await?;
                        let _ = done.send(());
                    }
                    None => break,
                },
                _ = ticker.tick() => {
                    self.check_drain().await?;
                    self.ledger.with_spool(|s| {
                        s.empty_trash();
                        Ok(())
                    })?;
                    let max_age = Duration::from_millis(self.config.max_age_ms);
                    self.write_where(|b| b.since.elapsed() >= max_age).await?;
                    self.commit_if_due().await?;
                }
            }
        }
        Ok(())
    }

    /// Writes and commits what is left, waits for the spool to drain (bounded), and reports.
    async fn end(mut self) -> Result<WriterSummary, SinkError> {
        match self.policy {
            CommitPolicy::EveryWrite => {
                self.write_where(|_| true).await?;
                self.commit_if_due().await?;
            }
            CommitPolicy::AtCheckpoints => {
                let held = self.held.values().flatten().map(|r| r.len() as u64).sum::<u64>();
                let rows = held + self.buffers.values().map(|b| b.total_rows() as u64).sum::<u64>() + self.uncommitted.iter().map(|f| f.rows).sum::<u64>();
                if rows > 0 {
                    tracing::warn!(rows, "rows sent after the last checkpoint were not committed (their sources replay them)");
                }
                self.summary.uncommitted_rows = rows;
                self.ledger.with_spool(Spool::discard_open)?;
            }
        }
        tracing::info!(commits = self.ledger.lock().commits, "the writer has taken every row: each is committed, or in the spool");
        self.finish_drain().await?;
        let s = self.ledger.lock();
        self.summary.tables = s.tables.clone();
        self.summary.commits = s.commits;
        self.summary.spool = s.spool.as_ref().map(Spool::stats);
        drop(s);
        self.summary.lake = self.ledger.health.describe();
        self.summary.outages = self.ledger.health.get().outages;
        Ok(self.summary)
    }

    fn start_drain(&mut self) {
        self.drainer = Some(tokio::spawn(drain(self.ledger.clone())));
    }

    /// Ends the run when the drain failed with an error retrying cannot fix.
    async fn check_drain(&mut self) -> Result<(), SinkError> {
        if self.drainer.as_ref().is_some_and(JoinHandle::is_finished) {
            let task = self.drainer.take().expect("checked");
            task.await.map_err(|source| SinkError::Panicked { task: "spool drain", source })??;
        }
        Ok(())
    }

    /// At the end: waits up to `exit_wait` for the drain to ship the spool; what is left
    /// stays in the spool for the next run.
    async fn finish_drain(&mut self) -> Result<(), SinkError> {
        self.ledger.work.notify_one();
        let Some(mut task) = self.drainer.take() else { return Ok(()) };
        if !task.is_finished() {
            let stats = self.ledger.lock().spool.as_ref().map(Spool::stats).unwrap_or_default();
            tracing::info!(files = stats.files, commits = stats.commits, wait_s = self.exit_wait.as_secs_f64(), "the end waits for the lake to take the spool ([lake.spool] exit_wait_ms)");
        }
        match tokio::time::timeout(self.exit_wait, &mut task).await {
            Ok(done) => done.map_err(|source| SinkError::Panicked { task: "spool drain", source })?,
            Err(_) => {
                task.abort();
                let stats = self.ledger.lock().spool.as_ref().map(Spool::stats).unwrap_or_default();
                tracing::warn!(files = stats.files, bytes = stats.bytes, commits = stats.commits, "the lake did not take the spool before the end: it stays in the spool and is shipped by the next run");
                Ok(())
            }
        }
    }

    /// Commits the files written so far, under [`CommitPolicy::EveryWrite`].
    async fn commit_if_due(&mut self) -> Result<(), SinkError> {
        if self.policy == CommitPolicy::EveryWrite && (!self.uncommitted.is_empty() || self.ledger.lock().spooling) {
            self.commit(None).await?;
        }
        Ok(())
    }

    /// Publishes one commit with every uploaded file (and the checkpoint, if any); while
    /// spooling, seals the spool's open commit instead (the drain publishes it in order).
    async fn commit(&mut self, checkpoint: Option<Value>) -> Result<(), SinkError> {
        if self.spool_commit(checkpoint.clone())? {
            return Ok(());
        }
        let added = std::mem::take(&mut self.uncommitted);
        let change = Change { run_id: self.run_id.clone(), added, removed: Vec::new(), checkpoint, at_ms: None };
        loop {
            match self.ledger.publish(&change).await {
                Ok(_) => {
                    self.ledger.answered();
                    return Ok(());
                }
                Err(e) => {
                    let Some(wait) = self.ledger.failed(&e) else { return Err(e) };
                    if self.ledger.start_spooling(change.added.clone())? {
                        self.start_drain();
                    }
                    if self.spool_commit(change.checkpoint.clone())? {
                        return Ok(());
                    }
                    wait_blocked(self.ledger.health.clone(), wait).await;
                }
            }
        }
    }

    /// While spooling: seals the spool's open commit with `checkpoint`. False when not spooling.
    fn spool_commit(&mut self, checkpoint: Option<Value>) -> Result<bool, SinkError> {
        let ledger = self.ledger.clone();
        let mut s = ledger.lock();
        if !s.spooling {
            return Ok(false);
        }
        let spool = s.spool.as_mut().expect("spooling has a spool");
        let carries = checkpoint.is_some();
        spool.seal(&self.run_id, self.policy == CommitPolicy::AtCheckpoints, checkpoint)?;
        if carries {
            tracing::debug!("a commit carrying a checkpoint waits in the spool");
        }
        ledger.show_spool(&s);
        ledger.work.notify_one();
        Ok(true)
    }


    /// Every row taken in and not committed, with the commit it follows: the rows of files in
    /// progress (staged now, so each is one batch of its partition), of files uploaded and not
    /// committed, and rows held for a checkpoint.
    fn unwritten(&mut self) -> Result<Unwritten, SinkError> {
        let mut parts = Vec::new();
        if self.readable {
            for (key, buffer) in &mut self.buffers {
                if !buffer.rows.is_empty() {
                    tokio::task::block_in_place(|| stage(key, buffer, self.layout, true))?;
                }
                if !buffer.batches.is_empty() {
                    parts.push(UnwrittenPart { table: key.table, camera_id: key.camera_id.clone(), date: key.date.clone(), batches: buffer.batches.clone() });
                }
            }
            for rows in self.held.values().flatten() {
                for (key, run) in rows.clone().split(part_key) {
                    let batch = run.batch().map_err(|e| SinkError::encode(key.table.name(), e))?;
                    parts.push(UnwrittenPart { table: key.table, camera_id: key.camera_id, date: key.date, batches: vec![batch] });
                }
            }
        }
        let ledger = self.ledger.lock();
        let mut files = self.uncommitted.clone();
        let mut spooled = Vec::new();
        if let Some(spool) = &ledger.spool {
            files.extend(spool.uploaded_files());
            spooled.extend(spool.local_files());
        }
        Ok(Unwritten { after_commit: ledger.last_commit, parts, files, spooled })
    }

    async fn add(&mut self, rows: SinkRows) -> Result<(), SinkError> {
        let n = rows.len();
        // Rows arrive grouped by camera and time: split each batch into runs of one partition
        // and move each run into its buffer, computing the partition key once per run.
        let mut touched = Vec::new();
        for (key, run) in rows.split(part_key) {
            *self.file_rows.entry(key.file(self.layout)).or_default() += run.len();
            match self.buffers.get_mut(&key) {
                Some(buffer) => buffer.rows.append(run),
                None => {
                    self.buffers.insert(key.clone(), Buffer { rows: run, encoder: None, batches: Vec::new(), encoded_rows: 0, since: Instant::now() });
                }
            }
            touched.push(key);
        }
        for key in touched {
            let Some(buffer) = self.buffers.get_mut(&key) else { continue };
            if buffer.rows.len() >= BATCH_ROWS {
                let (readable, layout) = (self.readable, self.layout);
                tokio::task::block_in_place(|| stage(&key, buffer, layout, readable))?;
            }
            let file = key.file(self.layout);
            if self.file_rows.get(&file).is_some_and(|&rows| rows >= self.config.max_rows) {
                self.write(file).await?;
            }
        }
        self.since_budget_check += n;
        if self.since_budget_check >= BUDGET_CHECK_ROWS {
            self.since_budget_check = 0;
            self.keep_to_budget().await?;
        }
        Ok(())
    }

    /// Writes the largest files until all buffers together hold at most `max_buffer_bytes`.
    async fn keep_to_budget(&mut self) -> Result<(), SinkError> {
        let mut sizes: BTreeMap<PartKey, usize> = BTreeMap::new();
        for (key, buffer) in &self.buffers {
            *sizes.entry(key.file(self.layout)).or_default() += buffer.memory_bytes();
        }
        let mut total: usize = sizes.values().sum();
        if total <= self.config.max_buffer_bytes {
            return Ok(());
        }
        let mut sizes: Vec<(PartKey, usize)> = sizes.into_iter().collect();
        sizes.sort_by_key(|s| std::cmp::Reverse(s.1));
        for (file, bytes) in sizes {
            if total <= self.config.max_buffer_bytes / 2 {
                break;
            }
            self.write(file).await?;
            total -= bytes;
            self.summary.budget_rolls += 1;
        }
        Ok(())
    }

    /// Writes every file one of whose buffers is `due`, in key order.
    async fn write_where(&mut self, due: impl Fn(&Buffer) -> bool) -> Result<(), SinkError> {
        let files: std::collections::BTreeSet<PartKey> = self.buffers.iter().filter(|(_, b)| due(b)).map(|(k, _)| k.file(self.layout)).collect();
        for file in files {
            self.write(file).await?;
        }
        Ok(())
    }

    /// Writes the buffers of `file` as one file: their rows encoded, then their row groups
    /// concatenated in camera order.
    async fn write(&mut self, file: PartKey) -> Result<(), SinkError> {
        let layout = self.layout;
        self.file_rows.remove(&file);
        let mut keys: Vec<PartKey> = self.buffers.keys().filter(|k| k.goes_to(&file, layout)).cloned().collect();
        keys.sort();
        let buffers: Vec<(PartKey, Buffer)> = keys.into_iter().map(|k| { let b = self.buffers.remove(&k).expect("listed above"); (k, b) }).collect();
        let n: usize = buffers.iter().map(|(_, b)| b.total_rows()).sum();
        let table = file.table;
        let bytes = tokio::task::block_in_place(|| {
            let fail = |e: parquet::errors::ParquetError| SinkError::encode(table.name(), e);
            let mut parts = Vec::with_capacity(buffers.len());
            for (key, mut buffer) in buffers {
                stage(&key, &mut buffer, layout, false)?;
                let mut encoder = buffer.encoder.take().expect("staging creates the encoder");
                encoder.finish().map_err(fail)?;
                // The footer is written; take the finished bytes (the writer is dropped unused).
                parts.push(bytes::Bytes::from(std::mem::take(encoder.inner_mut())));
            }
            concat_row_groups(&parts, writer_properties()).map_err(fail)
        })?;
        let key = file;
        let mut rel = table.name().to_string();
        if let Some(cam) = &key.camera_id {
            rel.push_str(&format!("/camera_id={cam}"));
        }
        self.seq += 1;
        rel.push_str(&format!("/date={}/part-{}-{:06}.parquet", key.date, self.run_id, self.seq));
        let path = self.lake.path_of(&rel);
        let entry = FileEntry { table: table.name().into(), path: rel, rows: n as u64, bytes: bytes.len() as u64 };
        tracing::debug!(table = table.name(), rows = n, %path, "wrote file");
        self.ship(entry, bytes).await
    }

    /// Uploads a finished file, or spools it while the lake does not answer.
    async fn ship(&mut self, entry: FileEntry, bytes: bytes::Bytes) -> Result<(), SinkError> {
        if self.ledger.lock().spooling {
            return self.spool_file(entry, bytes).await;
        }
        let path = self.lake.path_of(&entry.path);
        loop {
            match self.lake.put_file(&path, bytes.clone()).await {
                Ok(()) => {
                    self.ledger.answered();
                    self.uncommitted.push(entry);
                    return Ok(());
                }
                Err(e) => {
                    let Some(wait) = self.ledger.failed(&e) else { return Err(e) };
                    if self.ledger.start_spooling(std::mem::take(&mut self.uncommitted))? {
                        self.start_drain();
                    }
                    if self.ledger.lock().spooling {
                        return self.spool_file(entry, bytes).await;
                    }
                    wait_blocked(self.ledger.health.clone(), wait).await;
                }
            }
        }
    }

    /// Puts a finished file into the spool, waiting for room when it is full (and dropping
    /// the oldest files first under `drop_oldest`).
    async fn spool_file(&mut self, entry: FileEntry, bytes: bytes::Bytes) -> Result<(), SinkError> {
        let replayed = self.policy == CommitPolicy::AtCheckpoints;
        let mut warned = false;
        loop {
            let added = {
                let ledger = self.ledger.clone();
                let mut s = ledger.lock();
                let spool = s.spool.as_mut().expect("spooling has a spool");
                let fits = tokio::task::block_in_place(|| spool.make_room(bytes.len() as u64))?;
                let mut restart = false;
                if fits {
                    tokio::task::block_in_place(|| spool.add_file(&self.run_id, replayed, entry.clone(), &bytes))?;
                    // The drain may have emptied the spool and ended while this waited for room.
                    restart = !std::mem::replace(&mut s.spooling, true);
                }
                ledger.show_spool(&s);
                fits.then_some(restart)
            };
            if let Some(restart) = added {
                if restart {
                    self.start_drain();
                }
                self.ledger.work.notify_one();
                return Ok(());
            }
            // Full under `block`: wait for the drain to make room (sources pause meanwhile).
            if !std::mem::replace(&mut warned, true) {
                let stats = self.ledger.lock().spool.as_ref().map(Spool::stats).unwrap_or_default();
                tracing::warn!(files = stats.files, bytes = stats.bytes, "the lake spool is full: the writer waits for the lake to take files, sources pause (nothing is lost)");
            }
            let ledger = self.ledger.clone();
            ledger.health.set_blocked(true);
            let room = tokio::time::timeout(Duration::from_secs(1), ledger.room.notified()).await;
            ledger.health.set_blocked(false);
            if room.is_err() {
                self.check_drain().await?;
            }
        }
    }
}

/// Waits `wait` with the lake reported down (the writer holds rows; sources pause).
async fn wait_blocked(health: LakeHealth, wait: Duration) {
    health.set_blocked(true);
    tokio::time::sleep(wait).await;
    health.set_blocked(false);
}

/// Encodes the staged rows of `buffer` (partition `key`) into its Parquet writer (created on
/// first use) in the file schema of `layout`, keeping their record batch (the data columns)
/// when `keep`.
fn stage(key: &PartKey, buffer: &mut Buffer, layout: PartitionBy, keep: bool) -> Result<(), SinkError> {
    let table = key.table;
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::encode(table.name(), e);
    let empty = buffer.rows.empty_like();
    let rows = std::mem::replace(&mut buffer.rows, empty);
    let batch: RecordBatch = rows.batch().map_err(|e| fail(e.into()))?;
    let schema = table.file_schema_of(layout);
    if buffer.encoder.is_none() {
        buffer.encoder = Some(ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties())).map_err(|e| fail(e.into()))?);
    }
    let encoder = buffer.encoder.as_mut().expect("created above");
    let encoded = match (&key.camera_id, layout) {
        (Some(camera), PartitionBy::Date) => {
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(camera.as_str(), batch.num_rows()))) as ArrayRef);
            RecordBatch::try_new(schema, columns).map_err(|e| fail(e.into()))?
        }
        _ => batch.clone(),
    };
    encoder.write(&encoded).map_err(|e| fail(e.into()))?;
    buffer.encoded_rows += batch.num_rows();
    if keep {
        buffer.batches.push(batch);
    }
    Ok(())
}

/// How every Parquet file of the lake is encoded (the writer's and compaction's).
pub(crate) fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("itscam {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Splits rows into maximal runs of the same partition (camera, UTC day), in order.
fn part_key(table: Table, (camera, ts): (Option<&str>, u64)) -> PartKey {
    PartKey { table, camera_id: camera.map(str::to_string), date: utc_date(ts) }
}

/// A reader's handle on a writer started with [`crate::LakeWriter::start_readable`]. It does
/// not keep the writer open: once the writer has ended, everything it wrote is committed (or,
/// under `AtCheckpoints`, left for a replay) and [`UnwrittenRows::snapshot`] answers `None`.
#[derive(Clone, Debug)]
pub struct UnwrittenRows {
    tx: mpsc::WeakUnboundedSender<Msg>,
}

impl UnwrittenRows {
    fn new(tx: mpsc::WeakUnboundedSender<Msg>) -> Self {
        UnwrittenRows { tx }
    }

    /// What the writer holds and has not committed, after every row sent before this call;
    /// `None` when the writer has ended. Waits while the writer finishes what it is doing
    /// (an upload, at most).
    pub async fn snapshot(&self) -> Option<Unwritten> {
        let tx = self.tx.upgrade()?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Unwritten(reply)).ok()?;
        drop(tx);
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::{ErrorKind, ErrorRow};
    use serde_json::json;
    use crate::commit_log::LakeState;

    fn rejected(n: usize, ts_ms: u64) -> SinkRows {
        let row = |i: usize| ErrorRow {
            source: "detections:-".into(),
            line: Some(i as u64),
            camera_id: Some("cam-1".into()),
            ts_ms: Some(ts_ms),
            kind: ErrorKind::Late,
            reason: "test".into(),
            rejected_at_ms: 0,
        };
        SinkRows::Errors((0..n).map(row).collect())
    }

    #[test]
    fn a_checkpoint_commits_the_rows_below_its_time_even_when_later_ones_came_first() {
        let (_dir, runtime, lake) = scratch_lake();
        let (sink, writer) = LakeWriter::start_with(lake.clone(), WriterConfig::default(), "t".into(), CommitPolicy::AtCheckpoints, runtime.handle());
        // The dataflow delivers time 2000 before the checkpoint at 1500 is taken.
        assert!(sink.send_at(1000, rejected(3, 1000)));
        assert!(sink.send_at(2000, rejected(5, 2000)));
        assert!(sink.checkpoint_at(1500, json!({"time": 1500})));
        runtime.block_on(sink.flush()).unwrap();
        let state = runtime.block_on(lake.load_state()).unwrap();
        assert_eq!((state.rows_of("errors"), state.checkpoint.clone()), (3, Some(json!({"time": 1500}))));
        // Rows at the checkpoint's time or later wait for the next one; the final one takes all.
        assert!(sink.send_at(2500, rejected(2, 2500)));
        assert!(sink.checkpoint_at(2000, json!({"time": 2000})));
        runtime.block_on(sink.flush()).unwrap();
        assert_eq!(runtime.block_on(lake.load_state()).unwrap().rows_of("errors"), 3);
        assert!(sink.checkpoint(json!({"time": u64::MAX})));
        assert!(sink.send_at(3000, rejected(4, 3000)));
        drop(sink);
        let summary = runtime.block_on(writer.finish()).unwrap();
        assert_eq!(runtime.block_on(lake.load_state()).unwrap().rows_of("errors"), 10);
        assert_eq!(summary.uncommitted_rows, 4, "rows after the last checkpoint are not committed");
    }

    fn detections(camera: &str, n: usize) -> SinkRows {
        let row = |i: usize| itscam_types::DetectionRow {
            track_id: Some(i as u64 % 7),
            x1: i as f32,
            y1: 10.0,
            x2: i as f32 + 50.0,
            y2: 60.0,
            ..crate::test_rows::detection(camera, i as u64 * 100, i as u64)
        };
        SinkRows::Detections((0..n).map(row).collect())
    }

    /// Many cameras' partitions under a small budget: files are written before the end (and
    /// no row is lost); under the default budget the same rows wait for the end, as one file
    /// per camera or one for all cameras, by layout.
    #[test]
    fn buffers_over_the_memory_budget_are_written_early_and_nothing_is_lost() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let run = |max_buffer_bytes: usize, layout: PartitionBy| {
            let dir = tempfile::tempdir().unwrap();
            let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap().with_partition_by(layout);
            runtime.block_on(lake.init_log("t")).unwrap();
            let config = WriterConfig { max_buffer_bytes, ..WriterConfig::default() };
            let (sink, writer) = LakeWriter::start(lake.clone(), config, "t".into(), runtime.handle());
            for round in 0..4 {
                for c in 0..50 {
                    assert!(sink.send(detections(&format!("cam-{c}"), 2_000 + round)));
                }
            }
            drop(sink);
            let summary = runtime.block_on(writer.finish()).unwrap();
            (summary.budget_rolls, summary.files(), runtime.block_on(lake.load_state()).unwrap().rows_of("detections"))
        };
        let sent = 50 * (2_000 + 2_001 + 2_002 + 2_003);
        for layout in [PartitionBy::CameraDate, PartitionBy::Date] {
            let (rolls, files, rows) = run(1 << 20, layout);
            assert!(rolls > 0 && files > 1, "{layout:?}: a 1 MiB budget over 50 cameras × 8,000 rows rolls files early: {rolls} rolls, {files} files");
            assert_eq!(rows, sent);
        }
        let default = WriterConfig::default().max_buffer_bytes;
        assert_eq!(run(default, PartitionBy::CameraDate), (0, 50, sent), "the default budget holds these rows to the end");
        assert_eq!(run(default, PartitionBy::Date), (0, 1, sent), "one file for every camera");
    }

    /// Laid out by date, a file holds every camera's rows, camera after camera, each in row
    /// groups of its own (so their statistics name one camera), rows in the order sent; laid
    /// out by camera, a file per camera without the column.
    #[test]
    fn a_date_file_holds_each_camera_in_row_groups_of_its_own() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::file::statistics::Statistics;
        let (dir, runtime, lake) = scratch_lake();
        let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "t".into(), runtime.handle());
        for round in 0..3 {
            for c in ["cam-b", "cam-c", "cam-a"] {
                assert!(sink.send(detections(c, 10 + round)));
            }
        }
        drop(sink);
        runtime.block_on(writer.finish()).unwrap();
        let state = runtime.block_on(lake.load_state()).unwrap();
        let files: Vec<&FileEntry> = state.files_of("detections").collect();
        assert_eq!(files.len(), 1);
        assert!(files[0].path.starts_with("detections/date=1970-01-01/"), "{}", files[0].path);
        let bytes = bytes::Bytes::from(std::fs::read(dir.path().join(&files[0].path)).unwrap());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        assert_eq!(builder.schema().fields(), Table::Detections.file_schema_of(PartitionBy::Date).fields());
        let groups: Vec<(String, String, i64)> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| match g.columns().last().and_then(|c| c.statistics()) {
                Some(Statistics::ByteArray(s)) => {
                    let text = |v: Option<&parquet::data_type::ByteArray>| v.unwrap().as_utf8().unwrap().to_string();
                    (text(s.min_opt()), text(s.max_opt()), g.num_rows())
                }
                other => panic!("no camera statistics: {other:?}"),
            })
            .collect();
        let camera = |c: &str| (c.to_string(), c.to_string(), 10 + 11 + 12);
        assert_eq!(groups, vec![camera("cam-a"), camera("cam-b"), camera("cam-c")]);
        let frames: Vec<i64> = builder
            .build()
            .unwrap()
            .flat_map(|b| b.unwrap().column_by_name("frame").unwrap().as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().values().to_vec())
            .collect();
        let sent: Vec<i64> = [10, 11, 12].iter().flat_map(|n| 0..*n).collect();
        assert_eq!(frames, [sent.clone(), sent.clone(), sent].concat(), "each camera's rows in the order sent");

        let (dir, runtime, lake) = scratch_lake();
        let lake = lake.with_partition_by(PartitionBy::CameraDate);
        let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "t".into(), runtime.handle());
        for c in ["cam-b", "cam-a"] {
            assert!(sink.send(detections(c, 5)));
        }
        drop(sink);
        runtime.block_on(writer.finish()).unwrap();
        let state = runtime.block_on(lake.load_state()).unwrap();
        let mut paths: Vec<&str> = state.files_of("detections").map(|f| f.path.as_str()).collect();
        paths.sort();
        assert!(paths[0].starts_with("detections/camera_id=cam-a/date=1970-01-01/") && paths[1].starts_with("detections/camera_id=cam-b/"), "{paths:?}");
        let bytes = bytes::Bytes::from(std::fs::read(dir.path().join(paths[0])).unwrap());
        assert_eq!(ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().schema().fields(), Table::Detections.file_schema().fields());
    }

    /// A runtime and a fresh local lake with its log (the directory lives as long as the guard).
    fn scratch_lake() -> (tempfile::TempDir, tokio::runtime::Runtime, Lake) {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        runtime.block_on(lake.init_log("t")).unwrap();
        (dir, runtime, lake)
    }

    fn unwritten_rows(u: &Unwritten) -> u64 {
        let held: usize = u.parts.iter().flat_map(|p| &p.batches).map(RecordBatch::num_rows).sum();
        held as u64 + u.files.iter().map(|f| f.rows).sum::<u64>()
    }

    /// Under checkpoints: rows held for a checkpoint, files uploaded and not committed, and
    /// committed rows add up to every row sent, at each step; once the writer ends there is
    /// nothing to read.
    #[test]
    fn a_readable_writer_hands_out_every_row_it_has_not_committed_once() {
        let (_dir, runtime, lake) = scratch_lake();
        let (sink, writer, reader) = LakeWriter::start_readable(lake.clone(), WriterConfig::default(), "t".into(), CommitPolicy::AtCheckpoints, runtime.handle());
        let read = || {
            let u = runtime.block_on(reader.snapshot()).expect("the writer runs");
            let mut state = LakeState::default();
            if let Some(seq) = u.after_commit {
                runtime.block_on(lake.refresh_until(&mut state, seq)).unwrap();
                assert_eq!(state.seq, Some(seq));
            }
            (state.rows_of("errors"), unwritten_rows(&u), u.files.len())
        };
        assert!(sink.send_at(1000, rejected(3, 1000)));
        assert!(sink.send_at(2000, rejected(5, 2000)));
        assert_eq!(read(), (0, 8, 0), "held for a checkpoint");
        assert!(sink.checkpoint_at(1500, json!({"time": 1500})));
        assert_eq!(read(), (3, 5, 0), "the checkpoint committed the rows below it");
        assert!(sink.send(rejected(4, 3000)));
        runtime.block_on(sink.flush()).unwrap();
        assert_eq!(read(), (3, 9, 1), "a file uploaded, waiting for a checkpoint");
        assert!(sink.checkpoint(json!({"time": u64::MAX})));
        assert_eq!(read(), (12, 0, 0));
        drop(sink);
        runtime.block_on(writer.finish()).unwrap();
        assert!(runtime.block_on(reader.snapshot()).is_none(), "an ended writer has nothing unwritten");
    }

    /// An S3 lake that does not answer (a closed port): the writer spools its files, the
    /// health says so, and a reader gets the spooled files' local copies; what the end could
    /// not ship stays in the spool.
    #[test]
    fn a_writer_whose_lake_is_away_spools_and_readers_see_the_spooled_files() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let s3 = itscam_types::config::S3Config { endpoint: Some("http://127.0.0.1:1".into()), access_key_id: Some("k".into()), secret_access_key: Some("s".into()), ..Default::default() };
        let lake = Lake::open_with("s3://away/lake", &s3).unwrap();
        let config = itscam_types::config::SpoolConfig { dir: dir.path().display().to_string(), exit_wait_ms: 0, ..Default::default() };
        let spool = Spool::open(&config, lake.url()).unwrap();
        let (sink, writer, reader) = LakeWriter::start_spooled(lake, WriterConfig::default(), "t".into(), CommitPolicy::EveryWrite, true, Some(spool), runtime.handle());
        let reader = reader.expect("readable");
        assert!(sink.send(rejected(4, 3000)));
        runtime.block_on(sink.flush()).unwrap();
        let health = sink.health();
        assert_eq!(health.get().state, "degraded");
        assert!(health.describe().starts_with("degraded (spooling 1 files"), "{}", health.describe());
        let u = runtime.block_on(reader.snapshot()).expect("the writer runs");
        assert_eq!((u.after_commit, u.files.len(), u.spooled.len()), (None, 0, 1));
        let (entry, path) = &u.spooled[0];
        let file = std::fs::File::open(path).unwrap();
        let rows = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        assert_eq!((entry.table.as_str(), entry.rows, parquet::file::reader::FileReader::metadata(&rows).file_metadata().num_rows()), ("errors", 4, 4));
        drop(sink);
        let summary = runtime.block_on(writer.finish()).unwrap();
        let spool = summary.spool.unwrap();
        assert_eq!((spool.files, spool.commits, summary.commits), (1, 1, 0), "left for the next run");
    }

    /// Rows staged for a reader are staged once: asking twice does not double them, and the
    /// file written at the end holds each row once.
    #[test]
    fn asking_twice_counts_rows_in_progress_once() {
        let (_dir, runtime, lake) = scratch_lake();
        let (sink, writer, reader) = LakeWriter::start_readable(lake.clone(), WriterConfig::default(), "t".into(), CommitPolicy::EveryWrite, runtime.handle());
        let unwritten = || unwritten_rows(&runtime.block_on(reader.snapshot()).unwrap());
        assert!(sink.send(detections("cam-1", 100)));
        assert_eq!((unwritten(), unwritten()), (100, 100));
        assert!(sink.send(detections("cam-1", 50)));
        assert!(sink.send(detections("cam-2", 20)));
        assert_eq!(unwritten(), 170);
        runtime.block_on(sink.flush()).unwrap();
        assert_eq!(unwritten(), 0, "flushed and committed");
        drop(sink);
        runtime.block_on(writer.finish()).unwrap();
        assert_eq!(runtime.block_on(lake.load_state()).unwrap().rows_of("detections"), 170);
    }
}
