use super::*;
use crate::evidence_paths::evidence_path;
use crate::schema::PartitionBy;
use crate::{LakeWriter, SinkRows};
use itscam_types::config::{CompactionConfig, RetentionConfig, WriterConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

const DAY1: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MINUTE: u64 = 60_000;
const HOUR: u64 = 3_600_000;

fn detection(camera: &str, ts_ms: u64) -> itscam_types::DetectionRow {
    crate::test_rows::detection(camera, ts_ms, ts_ms / MINUTE)
}

fn track(camera: &str, id: u64, first: u64, last: u64) -> itscam_types::TrackRow {
    itscam_types::TrackRow { camera_id: camera.into(), track_id: id, class: itscam_types::ObjectClass(2), first_ts_ms: first, last_ts_ms: last, frames: 3, mean_speed_kmh: None, max_speed_kmh: None, model_versions: None }
}

fn error(camera: Option<&str>, ts_ms: Option<u64>) -> itscam_types::ErrorRow {
    itscam_types::ErrorRow {
        source: "test".into(),
        line: Some(1),
        camera_id: camera.map(Into::into),
        ts_ms,
        kind: itscam_types::ErrorKind::Late,
        reason: "late".into(),
        rejected_at_ms: ts_ms.unwrap_or(DAY1) + 1000,
    }
}

/// A lake with two cameras' detections (one a minute over two days), some tracks and errors,
/// and evidence entries, written with the real writer (each day flushed into files of its own,
/// then the first day again so partitions hold several files).
fn lake_of_two_cameras(dir: &std::path::Path, layout: PartitionBy, runtime: &tokio::runtime::Runtime) -> Lake {
    let lake = Lake::open(&format!("file://{}", dir.display())).unwrap().with_partition_by(layout);
    let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "w".into(), runtime.handle());
    for day in 0..2 {
        for camera in ["cam-a", "cam-b"] {
            let rows = (0..24 * 60).map(|m| detection(camera, DAY1 + day * 24 * HOUR + m * MINUTE)).collect();
            assert!(sink.send(SinkRows::Detections(rows)));
        }
        runtime.block_on(sink.flush()).unwrap();
    }
    let ten = DAY1 + 10 * HOUR;
    let tracks = vec![
        track("cam-a", 1, ten - 5 * MINUTE, ten + MINUTE), // overlaps the hour: forgotten
        track("cam-a", 2, ten - 20 * MINUTE, ten - 10 * MINUTE), // before: kept
        track("cam-a", 3, ten + HOUR, ten + HOUR + MINUTE), // starts at `to`: kept
        track("cam-b", 4, ten, ten + MINUTE), // the other camera: kept
    ];
    assert!(sink.send(SinkRows::Tracks(tracks)));
    let errors = vec![error(Some("cam-a"), Some(ten + MINUTE)), error(Some("cam-a"), None), error(None, Some(ten)), error(Some("cam-b"), Some(ten))];
    assert!(sink.send(SinkRows::Errors(errors)));
    drop(sink);
    runtime.block_on(writer.finish()).unwrap();

    let evidence = [("cam-a", ten + 30 * MINUTE), ("cam-a", ten + 2 * HOUR), ("cam-b", ten + 30 * MINUTE)];
    let mut added = Vec::new();
    for (camera, ts) in evidence {
        let path = evidence_path(camera, ts, &format!("speeding-{camera}.1.{ts}"), "snapshot.jpg");
        runtime.block_on(lake.put_file(&lake.path_of(&path), Bytes::from_static(b"jpeg"))).unwrap();
        added.push(FileEntry { table: EVIDENCE_TABLE.into(), path, rows: 0, bytes: 4 });
    }
    runtime.block_on(lake.publish(&Change { run_id: "evidence".into(), added, ..Change::default() }, None)).unwrap();
    lake
}

/// Every live row of a table: (camera, time column) pairs, counted.
fn rows_of(lake: &Lake, dir: &std::path::Path, runtime: &tokio::runtime::Runtime, table: Table, time: &str) -> BTreeMap<(String, Option<i64>), usize> {
    let state = runtime.block_on(lake.load_state()).unwrap();
    let mut out = BTreeMap::new();
    for f in state.files_of(table.name()) {
        let dir_camera = f.partition_values().iter().find(|(k, _)| *k == "camera_id").map(|(_, v)| v.to_string());
        let bytes = Bytes::from(std::fs::read(dir.join(&f.path)).unwrap());
        let mut rows = 0;
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap() {
            let batch = batch.unwrap();
            rows += batch.num_rows();
            let ts = batch.column_by_name(time).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
            let cameras = batch.column_by_name("camera_id").map(|c| c.as_any().downcast_ref::<StringArray>().unwrap().clone());
            for i in 0..batch.num_rows() {
                let camera = match &cameras {
                    Some(c) if c.is_valid(i) => c.value(i).to_string(),
                    Some(_) => String::new(),
                    None => dir_camera.clone().unwrap(),
                };
                *out.entry((camera, ts.is_valid(i).then(|| ts.value(i)))).or_default() += 1;
            }
        }
        assert_eq!(f.rows, rows as u64, "{} lists its rows", f.path);
    }
    out
}

#[test]
fn forgetting_a_camera_hour_removes_exactly_its_rows_and_evidence_then_nothing() {
    for layout in [PartitionBy::Date, PartitionBy::CameraDate] {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let lake = lake_of_two_cameras(dir.path(), layout, &runtime);
        let before = rows_of(&lake, dir.path(), &runtime, Table::Detections, "ts_ms");
        let state_before = runtime.block_on(lake.load_state()).unwrap();
        let (from, to) = (DAY1 + 10 * HOUR, DAY1 + 11 * HOUR);

        let report = runtime.block_on(lake.forget("cam-a", from, to, "forget-1")).unwrap();
        assert_eq!(report.rows_removed, 60 + 1 + 1, "{layout:?}: 60 detections, a track, an error: {report:?}");
        let by_table: BTreeMap<&str, u64> = report.tables.iter().map(|t| (t.table.as_str(), t.rows_removed)).collect();
        assert_eq!((by_table["detections"], by_table["tracks"], by_table["errors"]), (60, 1, 1));
        assert_eq!(report.evidence_removed, 1);
        assert!(report.commit.is_some());
        // Only the first day's partitions are read: cam-b's directories and day 2 are not.
        let day1_files = state_before.files.values().filter(|f| f.path.contains("date=2026-01-01") && (layout == PartitionBy::Date || f.path.contains("cam-a") || f.table == "errors") && f.table != EVIDENCE_TABLE).count() as u64;
        assert!(report.files_scanned <= day1_files + 1, "{layout:?}: {report:?}, day 1 has {day1_files}");

        let after = rows_of(&lake, dir.path(), &runtime, Table::Detections, "ts_ms");
        let mut expected = before.clone();
        expected.retain(|(camera, ts), _| !(camera == "cam-a" && ts.is_some_and(|t| (from as i64..to as i64).contains(&t))));
        assert_eq!(before.len() - expected.len(), 60);
        assert_eq!(after, expected, "{layout:?}: exactly cam-a's hour is gone");
        let tracks = rows_of(&lake, dir.path(), &runtime, Table::Tracks, "first_ts_ms");
        assert_eq!(tracks.values().sum::<usize>(), 3);
        assert!(!tracks.contains_key(&("cam-a".to_string(), Some((from - 5 * MINUTE) as i64))), "the overlapping track is gone");
        let errors = rows_of(&lake, dir.path(), &runtime, Table::Errors, "ts_ms");
        assert_eq!(errors.values().sum::<usize>(), 3, "{errors:?}");
        assert!(!errors.contains_key(&("cam-a".to_string(), Some((from + MINUTE) as i64))));

        // The log lists the rewritten files and no longer the old ones (tombstones until vacuum).
        let state = runtime.block_on(lake.load_state()).unwrap();
        let rewritten: Vec<&FileEntry> = state.files.values().filter(|f| f.path.contains("part-forget-1-f")).collect();
        assert_eq!(rewritten.len() as u64, report.files_rewritten);
        assert!(report.files_rewritten >= 1);
        // A rewritten file laid out by date keeps one camera per row group (compaction relies on it).
        for f in rewritten.iter().filter(|f| f.table == "detections" && layout == PartitionBy::Date) {
            let bytes = Bytes::from(std::fs::read(dir.path().join(&f.path)).unwrap());
            let meta = ArrowReaderMetadata::load(&bytes, Default::default()).unwrap();
            let camera = meta.schema().index_of("camera_id").unwrap();
            for g in meta.metadata().row_groups() {
                let Some(Statistics::ByteArray(s)) = g.column(camera).statistics() else { panic!("no statistics") };
                assert_eq!(s.min_opt(), s.max_opt(), "{}", f.path);
            }
        }
        assert_eq!(state.tombstones.len() as u64, report.files_rewritten + report.files_removed + 1);
        let evidence: Vec<&str> = state.files_of(EVIDENCE_TABLE).map(|f| f.path.as_str()).collect();
        assert_eq!(evidence.len(), 2);
        assert!(evidence.iter().all(|p| !(p.contains("cam-a") && p.contains(&format!("/{}-", from + 30 * MINUTE)))));

        // Again: nothing matches, nothing is published.
        let again = runtime.block_on(lake.forget("cam-a", from, to, "forget-2")).unwrap();
        assert_eq!((again.rows_removed, again.evidence_removed, again.files_rewritten, again.commit), (0, 0, 0, None), "{again:?}");
        assert!(again.camera_seen, "cam-a has rows on that day: {again:?}");
        let unknown = runtime.block_on(lake.forget("cam-z", from, to, "forget-3")).unwrap();
        assert_eq!((unknown.camera_seen, unknown.rows_removed, unknown.commit), (false, 0, None), "{unknown:?}");
        assert_eq!(runtime.block_on(lake.latest_seq()).unwrap(), state.seq);

        // Vacuum after the grace period deletes the old files and the evidence object.
        let grace = CompactionConfig { grace_ms: 0, orphan_grace_ms: 0, ..CompactionConfig::default() };
        let now = itscam_types::time::now_ms() + 1;
        let v = runtime.block_on(lake.vacuum(&Table::ALL, &RetentionConfig { evidence_days: None, ..RetentionConfig::default() }, &grace, now, "v")).unwrap();
        assert_eq!(v.deleted_removed as u64, report.files_rewritten + report.files_removed + 1, "{v:?}");
        assert!(!dir.path().join(evidence_path("cam-a", from + 30 * MINUTE, &format!("speeding-cam-a.1.{}", from + 30 * MINUTE), "snapshot.jpg")).exists());
        assert_eq!(rows_of(&lake, dir.path(), &runtime, Table::Detections, "ts_ms"), expected);
    }
}

#[test]
fn bad_ranges_and_camera_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
    for (camera, from, to) in [("cam-a", 10, 10), ("cam-a", 11, 10), ("", 0, 10), ("a/b", 0, 10)] {
        let e = runtime.block_on(lake.forget(camera, from, to, "f")).unwrap_err();
        assert!(matches!(e, SinkError::InvalidRequest(_)), "{e}");
        assert_eq!(itscam_types::Blamed::blame(&e), itscam_types::Blame::User);
    }
}

/// Evidence objects get the tables' retention (`evidence_days`) and garbage collection:
/// expired entries are removed by a commit and deleted after the grace period, objects no
/// commit lists after the orphan grace period; compaction never reads them.
#[test]
fn vacuum_expires_evidence_and_collects_its_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
    let now = itscam_types::time::now_ms();
    let old = evidence_path("cam-a", now - 40 * 24 * HOUR, "k.old", "clip.mjpeg");
    let new = evidence_path("cam-a", now - HOUR, "k.new", "snapshot.jpg");
    let orphan = evidence_path("cam-a", now - HOUR, "k.orphan", "snapshot.jpg");
    for p in [&old, &new, &orphan] {
        runtime.block_on(lake.put_file(&lake.path_of(p), Bytes::from_static(b"x"))).unwrap();
    }
    let added = [&old, &new].iter().map(|p| FileEntry { table: EVIDENCE_TABLE.into(), path: p.to_string(), rows: 0, bytes: 1 }).collect();
    runtime.block_on(lake.publish(&Change { run_id: "e".into(), added, ..Change::default() }, None)).unwrap();
    let compacted = runtime.block_on(lake.compact(&Table::ALL, &CompactionConfig { min_files: 2, ..CompactionConfig::default() }, "c")).unwrap();
    assert_eq!(compacted.files_in, 0);

    // Within the grace periods: the old entry is removed by retention (default 30 days) and kept.
    let patient = CompactionConfig::default();
    let v = runtime.block_on(lake.vacuum(&Table::ALL, &RetentionConfig::default(), &patient, now, "v1")).unwrap();
    assert_eq!(v.expired_files, 1, "{v:?}");
    let state = runtime.block_on(lake.load_state()).unwrap();
    assert_eq!(state.files_of(EVIDENCE_TABLE).map(|f| f.path.as_str()).collect::<Vec<_>>(), [new.as_str()]);
    assert!(dir.path().join(&old).exists() && dir.path().join(&orphan).exists());
    // A vacuum of some tables only leaves evidence alone.
    let eager = CompactionConfig { grace_ms: 0, orphan_grace_ms: 0, ..CompactionConfig::default() };
    // (`now` was taken before the objects were written: later than their modification times.)
    let later = itscam_types::time::now_ms() + 1000;
    runtime.block_on(lake.vacuum(&[Table::Detections], &RetentionConfig::default(), &eager, later, "v2")).unwrap();
    assert!(dir.path().join(&old).exists() && dir.path().join(&orphan).exists());
    // After them: both deleted, the live one stays.
    let v = runtime.block_on(lake.vacuum(&Table::ALL, &RetentionConfig::default(), &eager, later, "v3")).unwrap();
    assert_eq!((v.deleted_removed, v.deleted_orphans), (1, 1), "{v:?}");
    assert!(!dir.path().join(&old).exists() && !dir.path().join(&orphan).exists() && dir.path().join(&new).exists());
}

/// A file written before a column was added (here: `detections` without `model_version`) is
/// erased from like the others and rewritten with its own columns.
#[test]
fn files_of_an_older_schema_are_rewritten_with_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
    let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "w".into(), runtime.handle());
    assert!(sink.send(SinkRows::Detections((0..10).map(|m| detection("cam-a", DAY1 + m * MINUTE)).collect())));
    drop(sink);
    runtime.block_on(writer.finish()).unwrap();
    let state = runtime.block_on(lake.load_state()).unwrap();
    let new = state.files_of("detections").next().unwrap().clone();
    // The same rows without `model_version`, as an older writer wrote them.
    let bytes = Bytes::from(std::fs::read(dir.path().join(&new.path)).unwrap());
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap().map(Result::unwrap).collect();
    let keep: Vec<usize> = (0..batches[0].num_columns()).filter(|&i| batches[0].schema().field(i).name() != "model_version").collect();
    let old_schema = Arc::new(batches[0].schema().project(&keep).unwrap());
    let mut w = ArrowWriter::try_new(Vec::new(), old_schema.clone(), None).unwrap();
    for b in &batches {
        w.write(&b.project(&keep).unwrap()).unwrap();
    }
    let old_bytes = w.into_inner().unwrap();
    let old = FileEntry { path: new.path.replace(".parquet", "-old.parquet"), bytes: old_bytes.len() as u64, ..new.clone() };
    std::fs::write(dir.path().join(&old.path), &old_bytes).unwrap();
    runtime.block_on(lake.publish(&Change { run_id: "old".into(), added: vec![old], removed: vec![new], ..Change::default() }, None)).unwrap();

    let report = runtime.block_on(lake.forget("cam-a", DAY1, DAY1 + 3 * MINUTE, "f")).unwrap();
    assert_eq!((report.rows_removed, report.files_rewritten), (3, 1), "{report:?}");
    let state = runtime.block_on(lake.load_state()).unwrap();
    let file = state.files_of("detections").next().unwrap();
    let bytes = Bytes::from(std::fs::read(dir.path().join(&file.path)).unwrap());
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert_eq!(reader.schema().fields(), old_schema.fields());
    assert_eq!(reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum::<usize>(), 7);
}
