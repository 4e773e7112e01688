//! Erasure: [`Lake::forget`] removes one camera's rows whose event time falls in a range from
//! every table, and the camera's evidence objects of violations that started in it, through the
//! commit log. A file that holds such rows is rewritten without them (same partition directory,
//! same encoding, one camera per row group kept) and one commit swaps the new files for the old
//! ones and removes the evidence entries, as compaction does; files without such rows are not
//! touched. The old files stay in the store until `vacuum` deletes them after
//! `[lake.compaction] grace_ms` (queries already running may still read them): the erasure is
//! complete once that vacuum has run.
//!
//! Which files are read: the partitions whose `date` can hold matching rows (tables are
//! partitioned by the time of [`time_rule`]'s first column; spans that start before the range
//! are looked for one day back; `errors` is partitioned by the time of rejection, so every
//! partition from a day before the range on) and, for files laid out by camera, the camera's
//! directories only. Row-group statistics skip files and row groups that cannot match.

use crate::commit_log::{Change, FileEntry, LakeState};
use crate::error::SinkError;
use crate::evidence_paths::{EVIDENCE_TABLE, parse_evidence_path};
use crate::lake::Lake;
use crate::schema::Table;
use crate::writer::writer_properties;
use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::kernels::cmp::{eq, gt_eq, lt};
use arrow::compute::{and, filter_record_batch, not, prep_null_mask_filter};
use arrow::error::ArrowError;
use bytes::Bytes;
use futures::StreamExt;
use itscam_types::time::utc_date;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use serde::Serialize;

/// Every erasure's run id starts with this (edge sync replays these commits' removals).
pub const FORGET_RUN_PREFIX: &str = "forget-";

const DAY_MS: u64 = 86_400_000;
/// Tries when a concurrent compaction or retention removed a file this erasure rewrites.
const ATTEMPTS: usize = 3;
/// Files read and rewritten at once.
const PARALLEL_FILES: usize = 4;

/// Which event time of a table's rows an erasure range is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRule {
    /// The time in this column is in the range (`from ≤ t < to`).
    At(&'static str),
    /// The span between these columns overlaps the range (`start < to` and `end ≥ from`).
    Overlaps(&'static str, &'static str),
}

impl TimeRule {
    fn columns(self) -> String {
        match self {
            TimeRule::At(c) => c.to_string(),
            TimeRule::Overlaps(s, e) => format!("{s}..{e}"),
        }
    }
}

/// The event time `table`'s rows are erased by (README "Erasure").
pub fn time_rule(table: Table) -> TimeRule {
    use Table::*;
    match table {
        Detections | Errors | FrameQuality | LineCrossings | Alerts => TimeRule::At("ts_ms"),
        Tracks => TimeRule::Overlaps("first_ts_ms", "last_ts_ms"),
        ZoneEvents => TimeRule::Overlaps("enter_ts_ms", "exit_ts_ms"),
        Violations => TimeRule::At("ts_start_ms"),
        TrafficMetrics | Anomalies | ModelMetrics | ModelShadow => TimeRule::At("window_start_ms"),
        Movements => TimeRule::At("entry_ts_ms"),
        TurningCounts | LaneMetrics => TimeRule::At("bin_start_ms"),
        Queues => TimeRule::At("cycle_start_ms"),
        QueueSamples => TimeRule::At("ts_ms"),
        SignalPerformance => TimeRule::At("period_start_ms"),
    }
}

/// What [`Lake::forget`] did to one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TableForgotten {
    /// The table.
    pub table: String,
    /// The event time matched: a column, or `start..end` for spans that overlap the range.
    pub time: String,
    /// Rows removed.
    pub rows_removed: u64,
    /// Files that held some of them, replaced by a file without them.
    pub files_rewritten: u64,
    /// Files that held only such rows, removed without a replacement.
    pub files_removed: u64,
}

/// What [`Lake::forget`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ForgetReport {
    /// The camera.
    pub camera_id: String,
    /// Start of the range (inclusive), ms since the Unix epoch.
    pub from_ms: u64,
    /// End of the range (exclusive), ms since the Unix epoch.
    pub to_ms: u64,
    /// Per table, in table order.
    pub tables: Vec<TableForgotten>,
    /// Rows removed, all tables together.
    pub rows_removed: u64,
    /// Committed files looked at (in the partitions the range can touch).
    pub files_scanned: u64,
    /// Files replaced by a file without the camera's rows.
    pub files_rewritten: u64,
    /// Files removed without a replacement (all their rows matched).
    pub files_removed: u64,
    /// Evidence objects removed.
    pub evidence_removed: u64,
    /// Whether the partitions read hold anything of the camera, in the range or not (rows by
    /// their row groups' statistics, a `camera_id=` directory, evidence): `false` for a camera
    /// id the lake has never seen around that time.
    pub camera_seen: bool,
    /// The commit that made the change; `None` when nothing matched (a repeated erasure).
    pub commit: Option<u64>,
}

impl ForgetReport {
    /// The erasure in one line (an audit row's detail, the CLI's output).
    pub fn summary(&self) -> String {
        let tables: Vec<String> = self.tables.iter().filter(|t| t.rows_removed > 0).map(|t| format!("{} {}", t.table, t.rows_removed)).collect();
        format!(
            "camera {} from {} to {}: {} row(s) removed ({}), {} file(s) rewritten, {} removed, {} evidence object(s) removed; {}",
            self.camera_id,
            self.from_ms,
            self.to_ms,
            self.rows_removed,
            if tables.is_empty() { "none".to_string() } else { tables.join(", ") },
            self.files_rewritten,
            self.files_removed,
            self.evidence_removed,
            self.commit.map_or_else(|| "nothing to commit".to_string(), |s| format!("commit {s}")),
        )
    }
}

/// The rows to remove from one file.
#[derive(Clone)]
struct Target {
    table: Table,
    camera: String,
    from: i64,
    to: i64,
    rule: TimeRule,
}

/// What one file became.
enum Outcome {
    /// No row matched: the file stays. `seen`: some row group may hold the camera's rows.
    Untouched { seen: bool },
    /// `removed` rows matched; the rest (`kept` rows, if any) is `bytes`.
    Rewritten { removed: u64, kept: u64, bytes: Option<Bytes> },
}

impl Lake {
    /// Removes the rows of `camera_id` whose event time ([`time_rule`]) is in
    /// `from_ms..to_ms` from every table, and its evidence objects of violations that started
    /// in that range, with one commit (see the module's documentation). A second erasure of
    /// the same range finds nothing and publishes nothing. Rows committed after it (a writer
    /// still writing the range) are not removed. `run_id` gets [`FORGET_RUN_PREFIX`] when it
    /// lacks it.
    pub async fn forget(&self, camera_id: &str, from_ms: u64, to_ms: u64, run_id: &str) -> Result<ForgetReport, SinkError> {
        let run_id = &if run_id.starts_with(FORGET_RUN_PREFIX) { run_id.to_string() } else { format!("{FORGET_RUN_PREFIX}{run_id}") };
        if camera_id.is_empty() || camera_id.contains('/') {
            return Err(SinkError::InvalidRequest(format!("{camera_id:?} is not a camera id")));
        }
        if from_ms >= to_ms {
            return Err(SinkError::InvalidRequest(format!("empty range: from ({from_ms}) must be before to ({to_ms})")));
        }
        self.init_log(run_id).await?;
        let mut named = 0usize;
        for attempt in 1..=ATTEMPTS {
            let state = self.load_state().await?;
            let mut written = Vec::new();
            let planned = self.plan_forget(&state, camera_id, from_ms, to_ms, run_id, &mut named, &mut written).await;
            let (mut report, change) = match planned {
                Ok(p) => p,
                Err(e) => {
                    self.delete_all(&written).await;
                    return Err(e);
                }
            };
            if change.added.is_empty() && change.removed.is_empty() {
                return Ok(report);
            }
            match self.publish(&change, Some(state.seq.map_or(0, |s| s + 1))).await {
                Ok(commit) => {
                    report.commit = Some(commit.seq);
                    tracing::info!(camera = camera_id, from_ms, to_ms, rows = report.rows_removed, evidence = report.evidence_removed, seq = commit.seq, "forgot a camera's rows");
                    return Ok(report);
                }
                Err(e) => {
                    self.delete_all(&written).await;
                    if !matches!(e, SinkError::Conflict(_)) || attempt == ATTEMPTS {
                        return Err(e);
                    }
                    tracing::info!(error = %e, attempt, "erasure raced with another change of the same files; again");
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn delete_all(&self, paths: &[Path]) {
        for path in paths {
            if let Err(e) = self.store().delete(path).await {
                tracing::warn!(%path, error = %e, "could not delete an unpublished file of an erasure (vacuum deletes it as an orphan)");
            }
        }
    }

    /// The change that erases the range from `state`, with the new files uploaded (their
    /// paths pushed to `written`).
    #[allow(clippy::too_many_arguments)]
    async fn plan_forget(
        &self,
        state: &LakeState,
        camera: &str,
        from_ms: u64,
        to_ms: u64,
        run_id: &str,
        named: &mut usize,
        written: &mut Vec<Path>,
    ) -> Result<(ForgetReport, Change), SinkError> {
        let mut report = ForgetReport { camera_id: camera.into(), from_ms, to_ms, ..ForgetReport::default() };
        let mut change = Change { run_id: run_id.into(), ..Change::default() };
        for table in Table::ALL {
            let rule = time_rule(table);
            let mut done = TableForgotten { table: table.name().into(), time: rule.columns(), ..TableForgotten::default() };
            let files = files_to_read(state, table, camera, from_ms, to_ms);
            report.files_scanned += files.len() as u64;
            let target = Target { table, camera: camera.into(), from: clamp(from_ms), to: clamp(to_ms), rule };
            let jobs = files.into_iter().map(|f| {
                *named += 1;
                let rel = format!("{}/part-{run_id}-f{:05}.parquet", f.partition_dir(), *named);
                let target = target.clone();
                async move {
                    let outcome = self.forget_in(&f, target).await?;
                    let new = match &outcome {
                        Outcome::Rewritten { kept, bytes: Some(bytes), .. } => {
                            self.put_file(&self.path_of(&rel), bytes.clone()).await?;
                            Some(FileEntry { table: f.table.clone(), path: rel, rows: *kept, bytes: bytes.len() as u64 })
                        }
                        _ => None,
                    };
                    Ok::<_, SinkError>((f, outcome, new))
                }
            });
            let results: Vec<Result<_, SinkError>> = futures::stream::iter(jobs).buffered(PARALLEL_FILES).collect().await;
            let mut failed = None;
            for result in results {
                match result {
                    Ok((old, Outcome::Rewritten { removed, .. }, new)) => {
                        report.camera_seen = true;
                        done.rows_removed += removed;
                        match new {
                            Some(entry) => {
                                done.files_rewritten += 1;
                                written.push(self.path_of(&entry.path));
                                change.added.push(entry);
                            }
                            None => done.files_removed += 1,
                        }
                        change.removed.push(old);
                    }
                    Ok((_, Outcome::Untouched { seen }, _)) => report.camera_seen |= seen,
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            report.rows_removed += done.rows_removed;
            report.files_rewritten += done.files_rewritten;
            report.files_removed += done.files_removed;
            report.tables.push(done);
        }
        report.camera_seen |= state.files_of(EVIDENCE_TABLE).any(|f| parse_evidence_path(&f.path).is_some_and(|p| p.camera_id == camera));
        let evidence: Vec<FileEntry> = state
            .files_of(EVIDENCE_TABLE)
            .filter(|f| parse_evidence_path(&f.path).is_some_and(|p| p.camera_id == camera && (from_ms..to_ms).contains(&p.ts_start_ms)))
            .cloned()
            .collect();
        report.evidence_removed = evidence.len() as u64;
        change.removed.extend(evidence);
        Ok((report, change))
    }

    /// Reads one committed file and, when some of its rows match, encodes the others.
    async fn forget_in(&self, file: &FileEntry, target: Target) -> Result<Outcome, SinkError> {
        let path = self.path_of(&file.path);
        let bytes = self.store().get(&path).await.map_err(|e| self.storage_error(&path, e))?.bytes().await.map_err(|e| self.storage_error(&path, e))?;
        let location = self.describe(&path);
        let layout = file.layout();
        tokio::task::spawn_blocking(move || {
            let table = target.table;
            let bad = |reason: String| SinkError::BadFile { table: table.name(), location: location.clone(), reason };
            let meta = ArrowReaderMetadata::load(&bytes, Default::default()).map_err(|e| bad(e.to_string()))?;
            // Files written before a column was added lack it: they are rewritten as they are.
            let expected = table.file_schema_of(layout);
            let fits = meta.schema().fields().iter().all(|f| expected.field_with_name(f.name()).is_ok_and(|e| e.data_type() == f.data_type()));
            if !fits {
                return Err(bad("it has columns the table does not have".into()));
            }
            let schema = meta.schema().clone();
            let camera_col = schema.index_of("camera_id").ok();
            if camera_col.is_none() && expected.index_of("camera_id").is_ok() {
                return Err(bad("it has no camera_id column".into()));
            }
            let time_cols = match target.rule {
                TimeRule::At(c) => (c, c),
                TimeRule::Overlaps(s, e) => (s, e),
            };
            let (start_col, end_col) = (schema.index_of(time_cols.0).map_err(|e| bad(e.to_string()))?, schema.index_of(time_cols.1).map_err(|e| bad(e.to_string()))?);
            let groups = meta.metadata().row_groups();
            let seen = camera_col.is_none() || groups.iter().any(|g| may_hold_camera(g, camera_col, &target));
            let candidates: Vec<bool> = groups.iter().map(|g| may_match(g, camera_col, start_col, end_col, &target)).collect();
            if !candidates.contains(&true) {
                return Ok(Outcome::Untouched { seen });
            }
            let read = |g: usize| {
                ParquetRecordBatchReaderBuilder::new_with_metadata(bytes.clone(), meta.clone()).with_row_groups(vec![g]).build().map_err(|e| bad(e.to_string()))
            };
            let mut removed = 0u64;
            for g in (0..groups.len()).filter(|g| candidates[*g]) {
                for batch in read(g)? {
                    let batch = batch.map_err(|e| bad(e.to_string()))?;
                    removed += matching(&batch, camera_col, &target).map_err(|e| bad(e.to_string()))?.true_count() as u64;
                }
            }
            if removed == 0 {
                return Ok(Outcome::Untouched { seen });
            }
            let encode = |e: parquet::errors::ParquetError| SinkError::encode(table.name(), e);
            let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties())).map_err(encode)?;
            let mut kept = 0u64;
            for (g, &candidate) in candidates.iter().enumerate() {
                let mut in_group = 0;
                for batch in read(g)? {
                    let batch = batch.map_err(|e| bad(e.to_string()))?;
                    let batch = if candidate {
                        let keep = not(&matching(&batch, camera_col, &target).map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
                        filter_record_batch(&batch, &keep).map_err(|e| bad(e.to_string()))?
                    } else {
                        batch
                    };
                    if batch.num_rows() > 0 {
                        in_group += batch.num_rows();
                        writer.write(&batch).map_err(encode)?;
                    }
                }
                // A row group per row group read: files laid out by date keep one camera each.
                if in_group > 0 {
                    writer.flush().map_err(encode)?;
                }
                kept += in_group as u64;
            }
            if kept == 0 {
                return Ok(Outcome::Rewritten { removed, kept, bytes: None });
            }
            writer.finish().map_err(encode)?;
            let out = Bytes::from(std::mem::take(writer.inner_mut()));
            Ok(Outcome::Rewritten { removed, kept, bytes: Some(out) })
        })
        .await
        .map_err(|source| SinkError::Panicked { task: "erasure", source })?
    }
}

fn clamp(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The `date` partitions (inclusive; `None`: no upper bound) that can hold rows of `table`
/// matching `from_ms..to_ms`.
fn date_window(table: Table, from_ms: u64, to_ms: u64) -> (String, Option<String>) {
    let last = Some(utc_date(to_ms - 1));
    match table {
        // Partitioned by the time of rejection, at or after the rejected input's own time.
        Table::Errors => (utc_date(from_ms.saturating_sub(DAY_MS)), None),
        // Partitioned by the start of a span that may begin before the range.
        Table::Tracks | Table::ZoneEvents => (utc_date(from_ms.saturating_sub(DAY_MS)), last),
        _ => (utc_date(from_ms), last),
    }
}

/// Whether a row group's statistics allow a row of the camera (no statistics: they may).
fn may_hold_camera(group: &RowGroupMetaData, camera_col: Option<usize>, t: &Target) -> bool {
    camera_col.is_none_or(|i| match group.column(i).statistics() {
        Some(Statistics::ByteArray(s)) => {
            let min = s.min_opt().and_then(|v| v.as_utf8().ok());
            let max = s.max_opt().and_then(|v| v.as_utf8().ok());
            min.is_none_or(|m| m <= t.camera.as_str()) && max.is_none_or(|m| m >= t.camera.as_str())
        }
        _ => true,
    })
}

/// Whether a row group's statistics allow a matching row (no statistics: it may).
fn may_match(group: &RowGroupMetaData, camera_col: Option<usize>, start_col: usize, end_col: usize, t: &Target) -> bool {
    let ints = |i: usize| match group.column(i).statistics() {
        Some(Statistics::Int64(s)) => (s.min_opt().copied(), s.max_opt().copied()),
        _ => (None, None),
    };
    let camera_ok = may_hold_camera(group, camera_col, t);
    // Some row with start < to, and some row with end ≥ from.
    let (start_min, _) = ints(start_col);
    let (_, end_max) = ints(end_col);
    camera_ok && start_min.is_none_or(|m| m < t.to) && end_max.is_none_or(|m| m >= t.from)
}

/// The rows of `batch` to erase (nulls: not erased).
fn matching(batch: &RecordBatch, camera_col: Option<usize>, t: &Target) -> Result<BooleanArray, ArrowError> {
    let column = |name: &str| batch.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")));
    let (from, to) = (Int64Array::new_scalar(t.from), Int64Array::new_scalar(t.to));
    let time = match t.rule {
        TimeRule::At(c) => and(&gt_eq(column(c)?, &from)?, &lt(column(c)?, &to)?)?,
        TimeRule::Overlaps(s, e) => and(&lt(column(s)?, &to)?, &gt_eq(column(e)?, &from)?)?,
    };
    let both = match camera_col {
        Some(i) => and(&eq(batch.column(i), &StringArray::new_scalar(t.camera.as_str()))?, &time)?,
        None => time,
    };
    Ok(if both.null_count() > 0 { prep_null_mask_filter(&both) } else { both })
}

#[cfg(test)]
mod tests;

/// The live files of `table` whose partitions can hold `camera`'s rows of `from_ms..to_ms`.
fn files_to_read(state: &LakeState, table: Table, camera: &str, from_ms: u64, to_ms: u64) -> Vec<FileEntry> {
    let (lo, hi) = date_window(table, from_ms, to_ms);
    state
        .files_of(table.name())
        .filter(|f| {
            let parts = f.partition_values();
            let date_ok = parts.iter().any(|(k, v)| *k == "date" && *v >= lo.as_str() && hi.as_deref().is_none_or(|h| *v <= h));
            let camera_ok = parts.iter().all(|(k, v)| *k != "camera_id" || *v == camera);
            date_ok && camera_ok
        })
        .cloned()
        .collect()
}
