//! The Parquet lake writer: buffers rows per table and partition, rolls a file when a buffer
//! reaches `max_rows` or its oldest row is `max_age_ms` old, and at the end. Each file is
//! encoded completely and then stored with one `put`, which is atomic on the local filesystem
//! (temporary file + rename) and on S3 — a reader never sees a partial file.

use crate::error::SinkError;
use crate::lake::Lake;
use crate::rows::SinkRows;
use crate::schema::Table;
use arrow::record_batch::RecordBatch;
use itscam_types::config::WriterConfig;
use itscam_types::time::utc_date;
use object_store::{ObjectStoreExt, PutPayload};
use object_store::path::Path;
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
    Flush(oneshot::Sender<()>),
}

/// The dataflow's handle on the writer: sending never blocks.
#[derive(Clone, Debug)]
pub struct LakeSink {
    tx: mpsc::UnboundedSender<Msg>,
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self { Msg::Rows(_) => "Rows", Msg::Flush(_) => "Flush" })
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

    /// Rows sent but not yet taken in by the writer: sources pause above a high-water mark.
    /// (Rows taken in are staged in bounded batches and encoded, so they cost little memory.)
    pub fn pending_rows(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Writes every buffered row to files and waits until they are stored.
    pub async fn flush(&self) -> Result<(), SinkError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Flush(tx)).map_err(|_| SinkError::Stopped("flush after the writer ended".into()))?;
        rx.await.map_err(|_| SinkError::Stopped("the writer failed during a flush".into()))
    }
}

/// Files and rows written, per table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterSummary {
    /// Per table name: (files, rows).
    pub tables: BTreeMap<&'static str, (u64, u64)>,
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
    /// Starts the writer on `runtime`. `run_id` makes file names unique per run.
    pub fn start(lake: Lake, config: WriterConfig, run_id: String, runtime: &tokio::runtime::Handle) -> (LakeSink, LakeWriter) {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let state = WriterState { lake, config, run_id, seq: 0, buffers: HashMap::new(), summary: WriterSummary::default(), pending: pending.clone() };
        let task = runtime.spawn(state.run(rx));
        (LakeSink { tx, pending }, LakeWriter { task })
    }

    /// Waits until every [`LakeSink`] clone is dropped and all rows are written.
    pub async fn finish(self) -> Result<WriterSummary, SinkError> {
        self.task.await.map_err(|e| SinkError::Stopped(format!("writer task panicked (this is a bug): {e}")))?
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PartKey {
    table: Table,
    camera_id: Option<String>,
    date: String,
}

/// One partition's file in progress: rows staged as structs until a batch is full, then
/// encoded into an in-memory Parquet writer, so memory holds compressed columns, not rows.
struct Buffer {
    rows: SinkRows,
    encoder: Option<ArrowWriter<Vec<u8>>>,
    encoded_rows: usize,
    since: Instant,
}

impl Buffer {
    fn total_rows(&self) -> usize {
        self.encoded_rows + self.rows.len()
    }
}

/// Rows staged before they are encoded as one record batch.
const BATCH_ROWS: usize = 65_536;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 262_144;

struct WriterState {
    lake: Lake,
    config: WriterConfig,
    run_id: String,
    seq: u64,
    buffers: HashMap<PartKey, Buffer>,
    summary: WriterSummary,
    pending: Arc<AtomicUsize>,
}

impl WriterState {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) -> Result<WriterSummary, SinkError> {
        let tick = Duration::from_millis((self.config.max_age_ms / 2).clamp(50, 5_000));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Rows(rows)) => {
                        self.pending.fetch_sub(rows.len(), Ordering::Relaxed);
                        self.add(rows).await?
                    }
                    Some(Msg::Flush(done)) => {
                        self.write_where(|_| true).await?;
                        let _ = done.send(());
                    }
                    None => break,
                },
                _ = ticker.tick() => {
                    let max_age = Duration::from_millis(self.config.max_age_ms);
                    self.write_where(|b| b.since.elapsed() >= max_age).await?;
                }
            }
        }
        self.write_where(|_| true).await?;
        Ok(self.summary)
    }

    async fn add(&mut self, rows: SinkRows) -> Result<(), SinkError> {
        // Rows arrive grouped by camera and time: split each batch into runs of one partition
        // and move each run into its buffer, computing the partition key once per run.
        let mut touched = Vec::new();
        for (key, run) in rows.split(part_key) {
            match self.buffers.get_mut(&key) {
                Some(buffer) => buffer.rows.append(run),
                None => {
                    self.buffers.insert(key.clone(), Buffer { rows: run, encoder: None, encoded_rows: 0, since: Instant::now() });
                }
            }
            touched.push(key);
        }
        for key in touched {
            let Some(buffer) = self.buffers.get_mut(&key) else { continue };
            if buffer.rows.len() >= BATCH_ROWS {
                tokio::task::block_in_place(|| stage(key.table, buffer))?;
            }
            if buffer.total_rows() >= self.config.max_rows {
                let buffer = self.buffers.remove(&key).expect("present");
                self.write(key, buffer).await?;
            }
        }
        Ok(())
    }

    async fn write_where(&mut self, due: impl Fn(&Buffer) -> bool) -> Result<(), SinkError> {
        let mut keys: Vec<PartKey> = self.buffers.iter().filter(|(_, b)| due(b)).map(|(k, _)| k.clone()).collect();
        keys.sort_by(|a, b| (a.table, &a.camera_id, &a.date).cmp(&(b.table, &b.camera_id, &b.date)));
        for key in keys {
            let buffer = self.buffers.remove(&key).expect("listed above");
            self.write(key, buffer).await?;
        }
        Ok(())
    }

    async fn write(&mut self, key: PartKey, mut buffer: Buffer) -> Result<(), SinkError> {
        let n = buffer.total_rows();
        let table = key.table;
        let bytes = tokio::task::block_in_place(|| {
            stage(table, &mut buffer)?;
            let mut encoder = buffer.encoder.take().expect("staging creates the encoder");
            let fail = |e: parquet::errors::ParquetError| SinkError::Encode { table: table.name(), reason: e.to_string() };
            encoder.finish().map_err(fail)?;
            // The footer is written; take the finished bytes (the writer is dropped unused).
            let out = std::mem::take(encoder.inner_mut());
            Ok::<_, SinkError>(bytes::Bytes::from(out))
        })?;
        let mut dir = self.lake.table_path(table);
        if let Some(cam) = &key.camera_id {
            dir = dir.join(format!("camera_id={cam}"));
        }
        dir = dir.join(format!("date={}", key.date));
        self.seq += 1;
        let path = dir.join(format!("part-{}-{:06}.parquet", self.run_id, self.seq));
        put_with_retry(&self.lake, &path, bytes).await?;
        let entry = self.summary.tables.entry(table.name()).or_default();
        entry.0 += 1;
        entry.1 += n as u64;
        tracing::debug!(table = table.name(), rows = n, %path, "wrote file");
        Ok(())
    }
}

/// Encodes the staged rows of `buffer` into its Parquet writer (created on first use).
fn stage(table: Table, buffer: &mut Buffer) -> Result<(), SinkError> {
    let fail = |e: &dyn std::fmt::Display| SinkError::Encode { table: table.name(), reason: e.to_string() };
    let empty = buffer.rows.empty_like();
    let rows = std::mem::replace(&mut buffer.rows, empty);
    let batch: RecordBatch = rows.batch().map_err(|e| fail(&e))?;
    if buffer.encoder.is_none() {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(|e| fail(&e))?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("itscam {}", env!("CARGO_PKG_VERSION")))
            .build();
        buffer.encoder = Some(ArrowWriter::try_new(Vec::new(), table.file_schema(), Some(props)).map_err(|e| fail(&e))?);
    }
    let encoder = buffer.encoder.as_mut().expect("created above");
    encoder.write(&batch).map_err(|e| fail(&e))?;
    buffer.encoded_rows += batch.num_rows();
    Ok(())
}

/// Retries transient storage failures with exponential backoff before giving up.
async fn put_with_retry(lake: &Lake, path: &Path, bytes: bytes::Bytes) -> Result<(), SinkError> {
    let store = lake.store();
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.put(path, PutPayload::from_bytes(bytes.clone())).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < 4 => {
                tracing::warn!(%path, attempt, error = %e, "lake write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => return Err(SinkError::Storage { path: path.to_string(), source: e }),
        }
    }
}

/// Splits rows into maximal runs of the same partition (camera, UTC day), in order.
fn part_key(table: Table, (camera, ts): (Option<&str>, u64)) -> PartKey {
    PartKey { table, camera_id: camera.map(str::to_string), date: utc_date(ts) }
}
