//! Lake maintenance: compaction (a partition's small committed files merged into one, swapped
//! in by one commit) and vacuum (retention by partition date, then deletion of files that no
//! commit lists: removed ones after `grace_ms`, orphans after `orphan_grace_ms`; then a
//! snapshot, and pruning of the commits it covers). Evidence objects (`evidence/`, not a
//! table) get the same retention and garbage collection; compaction reads tables only.

use crate::commit_log::{Change, FileEntry, LakeState};
use crate::error::SinkError;
use crate::evidence_paths::EVIDENCE_TABLE;
use crate::lake::Lake;
use crate::schema::{PartitionBy, Table};
use crate::writer::writer_properties;
use arrow::record_batch::RecordBatch;
use itscam_types::config::{CompactionConfig, LakeConfig, RetentionConfig};
use itscam_types::time::utc_date;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;

/// What [`Lake::compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Partitions that had enough small files.
    pub partitions: usize,
    /// Files merged away.
    pub files_in: usize,
    /// Files written in their place.
    pub files_out: usize,
    /// Rows moved (the same before and after).
    pub rows: u64,
    /// Bytes of the merged files.
    pub bytes_in: u64,
    /// Bytes of the new files.
    pub bytes_out: u64,
    /// The commit that swapped them, if any.
    pub commit: Option<u64>,
}

/// What [`Lake::vacuum`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VacuumReport {
    /// Files removed by retention (their partitions are older than the table's max age).
    pub expired_files: usize,
    /// The commit that removed them, if any.
    pub expired_commit: Option<u64>,
    /// Removed files deleted (their grace period was over).
    pub deleted_removed: usize,
    /// Orphan files (never committed) deleted.
    pub deleted_orphans: usize,
    /// Files not listed by the log but still within a grace period.
    pub kept_in_grace: usize,
    /// Old commits and snapshots deleted (covered by a newer snapshot).
    pub log_objects_deleted: usize,
    /// Seq of the snapshot written, if a new one was.
    pub snapshot: Option<u64>,
}

impl Lake {
    /// Merges, in every partition of `tables` with at least `config.min_files` files smaller
    /// than `config.target_file_bytes`, those files into files of about that size, and publishes
    /// one commit that adds the new files and removes the old ones (readers see either all old
    /// or all new files). The old files are deleted later by [`Lake::vacuum`].
    pub async fn compact(&self, tables: &[Table], config: &CompactionConfig, run_id: &str) -> Result<CompactReport, SinkError> {
        self.init_log(run_id).await?;
        let state = self.load_state().await?;
        let mut report = CompactReport::default();
        let mut change = Change { run_id: run_id.into(), ..Change::default() };
        let mut written: Vec<Path> = Vec::new();
        for &table in tables {
            let mut by_partition: BTreeMap<&str, Vec<&FileEntry>> = BTreeMap::new();
            for f in state.files_of(table.name()).filter(|f| f.bytes < config.target_file_bytes) {
                by_partition.entry(f.partition_dir()).or_default().push(f);
            }
            for (dir, files) in by_partition.into_iter().filter(|(_, f)| f.len() >= config.min_files) {
                report.partitions += 1;
                // Greedy runs of files (in write order) up to the target size.
                let mut groups: Vec<Vec<&FileEntry>> = vec![Vec::new()];
                let mut size = 0;
                for f in files {
                    if size + f.bytes > config.target_file_bytes && !groups.last().is_some_and(Vec::is_empty) {
                        groups.push(Vec::new());
                        size = 0;
                    }
                    size += f.bytes;
                    groups.last_mut().expect("one group").push(f);
                }
                for group in groups.into_iter().filter(|g| g.len() >= 2) {
                    let n = change.added.len() + 1;
                    let rel = format!("{dir}/part-{run_id}-c{n:05}.parquet");
                    match self.merge(table, &group, &rel).await {
                        Ok(entry) => {
                            written.push(self.path_of(&rel));
                            report.files_in += group.len();
                            report.files_out += 1;
                            report.rows += entry.rows;
                            report.bytes_in += group.iter().map(|f| f.bytes).sum::<u64>();
                            report.bytes_out += entry.bytes;
                            change.removed.extend(group.into_iter().cloned());
                            change.added.push(entry);
                        }
                        // A file that is not of its table's schema is left as it is.
                        Err(e @ SinkError::BadFile { .. }) => tracing::warn!(error = %e, "partition {dir} not compacted"),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if change.added.is_empty() {
            return Ok(report);
        }
        match self.publish(&change, Some(state.seq.map_or(0, |s| s + 1))).await {
            Ok(commit) => report.commit = Some(commit.seq),
            Err(e) => {
                for path in &written {
                    let _ = self.store().delete(path).await;
                }
                return Err(e);
            }
        }
        Ok(report)
    }

    /// Reads `files` (one partition directory of `table`, so one layout) and writes their rows
    /// as one file: in order, or, where `camera_id` is a file column, camera after camera (each
    /// camera's rows in order, a row group of their own).
    async fn merge(&self, table: Table, files: &[&FileEntry], rel: &str) -> Result<FileEntry, SinkError> {
        let layout = files.first().map_or(PartitionBy::Date, |f| f.layout());
        let mut blobs = Vec::with_capacity(files.len());
        for f in files {
            let path = self.path_of(&f.path);
            let bytes = self.store().get(&path).await.map_err(|e| self.storage_error(&path, e))?.bytes().await.map_err(|e| self.storage_error(&path, e))?;
            blobs.push((self.describe(&path), bytes));
        }
        let (rows, bytes) = tokio::task::spawn_blocking(move || {
            let schema = table.file_schema_of(layout);
            let by_camera = table.by_camera() && layout == PartitionBy::Date;
            let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties()))
                .map_err(|e| SinkError::encode(table.name(), e))?;
            // (camera, file, row groups): the runs to copy, in output order.
            let mut runs: Vec<(String, usize, Vec<usize>)> = Vec::new();
            for (i, (location, blob)) in blobs.iter().enumerate() {
                let bad = |reason: String| SinkError::BadFile { table: table.name(), location: location.clone(), reason };
                let builder = ParquetRecordBatchReaderBuilder::try_new(blob.clone()).map_err(|e| bad(e.to_string()))?;
                if builder.schema().fields() != schema.fields() {
                    return Err(bad("its columns differ from the table's".into()));
                }
                let groups = builder.metadata().row_groups();
                if by_camera {
                    for (g, group) in groups.iter().enumerate() {
                        runs.push((first_camera(group), i, vec![g]));
                    }
                } else {
                    runs.push((String::new(), i, (0..groups.len()).collect()));
                }
            }
            // Stable: each camera's row groups keep their file order.
            runs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut rows = 0u64;
            let mut last: Option<String> = None;
            for (camera, i, groups) in runs {
                if by_camera && last.as_ref().is_some_and(|c| *c != camera) {
                    writer.flush().map_err(|e| SinkError::encode(table.name(), e))?;
                }
                last = Some(camera);
                let (location, blob) = &blobs[i];
                let bad = |reason: String| SinkError::BadFile { table: table.name(), location: location.clone(), reason };
                let reader = ParquetRecordBatchReaderBuilder::try_new(blob.clone()).map(|b| b.with_row_groups(groups)).and_then(|b| b.build()).map_err(|e| bad(e.to_string()))?;
                for batch in reader {
                    let batch: RecordBatch = batch.map_err(|e| bad(e.to_string()))?;
                    rows += batch.num_rows() as u64;
                    writer.write(&batch).map_err(|e| SinkError::encode(table.name(), e))?;
                }
            }
            writer.finish().map_err(|e| SinkError::encode(table.name(), e))?;
            let out = std::mem::take(writer.inner_mut());
            Ok::<_, SinkError>((rows, bytes::Bytes::from(out)))
        })
        .await
        .map_err(|source| SinkError::Panicked { task: "compaction", source })??;
        let size = bytes.len() as u64;
        self.put_file(&self.path_of(rel), bytes).await?;
        Ok(FileEntry { table: table.name().into(), path: rel.into(), rows, bytes: size })
    }

    /// One maintenance pass over every table: [`Lake::compact`], then [`Lake::vacuum`] (every
    /// table and the evidence objects) with `[lake.retention]` and `[lake.compaction]` of
    /// `config`.
    pub async fn maintain(&self, config: &LakeConfig, now_ms: u64, run_id: &str) -> Result<(CompactReport, VacuumReport), SinkError> {
        let compacted = self.compact(&Table::ALL, &config.compaction, run_id).await?;
        let vacuumed = self.vacuum(&Table::ALL, &config.retention, &config.compaction, now_ms, run_id).await?;
        Ok((compacted, vacuumed))
    }

    /// Retention, then garbage collection, for `tables` — and for the evidence objects
    /// (`evidence/`, see [`crate::evidence_paths`]) when `tables` holds every table (use
    /// [`Lake::vacuum_with`] to choose):
    /// 1. files of partitions whose `date` is older than the table's max age
    ///    (`retention`, counted back from `now_ms`) are removed by one commit;
    /// 2. data files that the log does not list are deleted: files removed by a commit once
    ///    `compaction.grace_ms` has passed since it, orphans (never committed) once they are
    ///    `compaction.orphan_grace_ms` old;
    /// 3. a snapshot of the state is published, and commits and snapshots that an older
    ///    snapshot covers are deleted.
    pub async fn vacuum(
        &self,
        tables: &[Table],
        retention: &RetentionConfig,
        compaction: &CompactionConfig,
        now_ms: u64,
        run_id: &str,
    ) -> Result<VacuumReport, SinkError> {
        let evidence = Table::ALL.iter().all(|t| tables.contains(t));
        self.vacuum_with(tables, evidence, retention, compaction, now_ms, run_id).await
    }

    /// [`Lake::vacuum`] of `tables`, and of the evidence objects when `evidence` (retention by
    /// `retention.evidence_days`, garbage collection under `evidence/`).
    pub async fn vacuum_with(
        &self,
        tables: &[Table],
        evidence: bool,
        retention: &RetentionConfig,
        compaction: &CompactionConfig,
        now_ms: u64,
        run_id: &str,
    ) -> Result<VacuumReport, SinkError> {
        self.init_log(run_id).await?;
        let mut state = self.load_state().await?;
        let mut report = VacuumReport::default();
        let mut expired = Vec::new();
        let mut names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
        if evidence {
            names.push(EVIDENCE_TABLE);
        }
        for &name in &names {
            let Some(days) = retention.days(name) else { continue };
            let cutoff = utc_date(now_ms.saturating_sub(u64::from(days) * 86_400_000));
            expired.extend(
                state
                    .files_of(name)
                    .filter(|f| f.partition_values().iter().any(|(k, v)| *k == "date" && *v < cutoff.as_str()))
                    .cloned(),
            );
        }
        if !expired.is_empty() {
            report.expired_files = expired.len();
            let change = Change { run_id: run_id.into(), removed: expired, at_ms: Some(now_ms), ..Change::default() };
            let commit = self.publish(&change, Some(state.seq.map_or(0, |s| s + 1))).await?;
            report.expired_commit = Some(commit.seq);
            self.refresh(&mut state).await?;
        }
        self.collect_garbage(tables, evidence, &mut state, compaction, now_ms, &mut report).await?;
        if self.write_snapshot(&state).await? {
            report.snapshot = state.seq;
        }
        report.log_objects_deleted = self.prune_log().await?;
        Ok(report)
    }

    async fn collect_garbage(
        &self,
        tables: &[Table],
        evidence: bool,
        state: &mut LakeState,
        compaction: &CompactionConfig,
        now_ms: u64,
        report: &mut VacuumReport,
    ) -> Result<(), SinkError> {
        let mut present = std::collections::HashSet::new();
        let mut listings = Vec::with_capacity(tables.len() + 1);
        for &table in tables {
            listings.push(self.list_data_files(table).await?);
        }
        if evidence {
            listings.push(self.list_evidence_objects().await?);
        }
        for listing in listings {
            for meta in listing {
                let Some(rel) = self.relative(&meta.location) else { continue };
                if state.files.contains_key(rel) {
                    continue;
                }
                let (due, removed) = match state.tombstones.get(rel) {
                    Some(t) => (t.removed_at_ms.saturating_add(compaction.grace_ms) <= now_ms, true),
                    None => {
                        let modified = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
                        (modified.saturating_add(compaction.orphan_grace_ms) <= now_ms, false)
                    }
                };
                if !due {
                    report.kept_in_grace += 1;
                    present.insert(rel.to_string());
                    continue;
                }
                match self.store().delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.storage_error(&meta.location, e)),
                }
                if removed {
                    report.deleted_removed += 1;
                } else {
                    report.deleted_orphans += 1;
                    tracing::info!(path = rel, "deleted an orphan data file (no commit lists it)");
                }
            }
        }
        // Tombstones of the tables looked at whose files are gone need not be remembered.
        let mut names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
        if evidence {
            names.push(EVIDENCE_TABLE);
        }
        state.tombstones.retain(|path, t| !names.contains(&t.file.table.as_str()) || present.contains(path));
        Ok(())
    }

    /// Every object under `evidence/` (committed or not).
    async fn list_evidence_objects(&self) -> Result<Vec<object_store::ObjectMeta>, SinkError> {
        use futures::TryStreamExt;
        let dir = self.path_of(EVIDENCE_TABLE);
        match self.store().list(Some(&dir)).try_collect().await {
            Ok(listed) => Ok(listed),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.storage_error(&dir, e)),
        }
    }
}

/// The smallest `camera_id` of a row group (the last column of files laid out by date), from
/// its statistics: the camera of the whole group in files this writer wrote.
fn first_camera(group: &parquet::file::metadata::RowGroupMetaData) -> String {
    use parquet::file::statistics::Statistics;
    let last = group.num_columns().saturating_sub(1);
    match group.columns().get(last).and_then(|c| c.statistics()) {
        Some(Statistics::ByteArray(s)) => s.min_opt().and_then(|v| v.as_utf8().ok()).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LakeWriter, SinkRows};
    use itscam_types::config::WriterConfig;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn detections(camera: &str, frames: std::ops::Range<u64>) -> SinkRows {
        let row = |i: u64| crate::test_rows::detection(camera, i * 100, i);
        SinkRows::Detections(frames.map(row).collect())
    }

    /// Files laid out by date, each with both cameras, merge into one file that keeps the
    /// layout's promise: camera after camera, a row group each, each camera's rows in order.
    #[test]
    fn compacting_date_files_keeps_one_camera_per_row_group() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "t".into(), runtime.handle());
        for part in 0..3 {
            for camera in ["cam-b", "cam-a"] {
                assert!(sink.send(detections(camera, part * 10..part * 10 + 10)));
            }
            runtime.block_on(sink.flush()).unwrap();
        }
        drop(sink);
        runtime.block_on(writer.finish()).unwrap();
        assert_eq!(runtime.block_on(lake.load_state()).unwrap().files_of("detections").count(), 3);

        let config = CompactionConfig { min_files: 2, ..CompactionConfig::default() };
        let report = runtime.block_on(lake.compact(&[Table::Detections], &config, "c")).unwrap();
        assert_eq!((report.files_in, report.files_out, report.rows), (3, 1, 60));
        let state = runtime.block_on(lake.load_state()).unwrap();
        let merged: Vec<&FileEntry> = state.files_of("detections").collect();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].layout(), PartitionBy::Date);
        let bytes = bytes::Bytes::from(std::fs::read(dir.path().join(&merged[0].path)).unwrap());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let groups: Vec<(String, i64)> = builder.metadata().row_groups().iter().map(|g| (first_camera(g), g.num_rows())).collect();
        assert_eq!(groups, [("cam-a".to_string(), 30), ("cam-b".to_string(), 30)]);
        let frames: Vec<i64> = builder
            .build()
            .unwrap()
            .flat_map(|b| b.unwrap().column_by_name("frame").unwrap().as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().values().to_vec())
            .collect();
        assert_eq!(frames, [(0..30).collect::<Vec<i64>>(), (0..30).collect()].concat());
    }
}
