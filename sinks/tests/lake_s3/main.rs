//! The lake on a real S3 server (SeaweedFS, started per test by scripts/servers/seaweedfs.sh)
//! and on the local filesystem: commits, orphans, checkpoints, multipart uploads, compaction,
//! retention, start-up errors, and a real client (pyarrow) reading the committed files.

mod support;

use itscam_sinks::{Change, CommitPolicy, FileEntry, Lake, LakeWriter, SinkRows, Table};
use itscam_types::config::{CompactionConfig, RetentionConfig, S3Config, WriterConfig};
use itscam_types::time::now_ms;
use object_store::ObjectStoreExt;
use serde_json::json;
use support::{SeaweedFs, detections, read_rows, scratch};

const DAY_MS: u64 = 86_400_000;

/// Writes `batches` through a writer, flushing after each (one file per partition per batch).
async fn write_batches(lake: &Lake, run_id: &str, batches: Vec<SinkRows>) -> itscam_sinks::WriterSummary {
    let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), run_id.into(), &tokio::runtime::Handle::current());
    for rows in batches {
        assert!(sink.send(rows));
        sink.flush().await.expect("flush");
    }
    drop(sink);
    writer.finish().await.expect("writer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_files_are_visible_and_orphans_never_are() {
    let s3 = SeaweedFs::start("visible");
    let lake = s3.lake("run1");
    lake.init_log("test").await.expect("init");
    let now = now_ms();
    let summary = write_batches(&lake, "r1", vec![detections("cam-1", now, 300), detections("cam-2", now, 200)]).await;
    assert_eq!(summary.rows(Table::Detections), 500);
    assert_eq!(summary.commits, 2);

    let state = lake.load_state().await.expect("state");
    assert!(!state.legacy);
    assert_eq!(state.rows_of("detections"), 500);
    assert_eq!(state.files_of("detections").count(), 2);

    // A crash between upload and commit: a complete data file that no commit lists.
    let orphan = lake.path_of(&format!("detections/camera_id=cam-1/date={}/part-crashed-000001.parquet", itscam_types::time::utc_date(now)));
    let bytes = support::parquet_bytes(&detections("cam-1", now, 50));
    lake.put_file(&orphan, bytes).await.expect("orphan upload");
    // An upload aborted half-way: one part sent, never completed.
    let aborted = lake.path_of("detections/camera_id=cam-1/date=2026-01-01/part-aborted-000001.parquet");
    let mut upload = lake.store().put_multipart(&aborted).await.expect("start multipart");
    upload.put_part(vec![7u8; 5 * 1024 * 1024].into()).await.expect("part");
    drop(upload);

    let after = lake.load_state().await.expect("state");
    assert_eq!(after.files, state.files, "an uncommitted file changed the visible set");
    assert!(lake.store().head(&aborted).await.is_err(), "an aborted multipart upload left an object");
    let listed: Vec<String> = lake.list_data_files(Table::Detections).await.unwrap().iter().map(|m| m.location.to_string()).collect();
    assert!(listed.contains(&orphan.to_string()), "the orphan is in the bucket: {listed:?}");

    // A real client reads exactly the committed files.
    let keys: Vec<String> = after.files_of("detections").map(|f| lake.path_of(&f.path).to_string()).collect();
    assert_eq!(s3.pyarrow_count(&keys), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_travel_with_exactly_their_rows() {
    let s3 = SeaweedFs::start("checkpoint");
    let lake = s3.lake("cp");
    lake.init_log("test").await.expect("init");
    assert_eq!(lake.last_checkpoint().await.unwrap(), None);
    let now = now_ms();

    // AtCheckpoints: a commit holds exactly the rows sent between two checkpoints.
    let (sink, writer) = LakeWriter::start_with(lake.clone(), WriterConfig::default(), "cp1".into(), CommitPolicy::AtCheckpoints, &tokio::runtime::Handle::current());
    assert!(sink.send(detections("cam-1", now, 120)));
    assert!(sink.checkpoint(json!({"topic": "det", "offsets": [120]})));
    assert!(sink.send(detections("cam-2", now, 80)));
    sink.flush().await.unwrap();
    // Flushed but not checkpointed: uploaded, not visible.
    let state = lake.load_state().await.unwrap();
    assert_eq!(state.rows_of("detections"), 120);
    assert_eq!(state.checkpoint, Some(json!({"topic": "det", "offsets": [120]})));
    assert!(sink.send(detections("cam-3", now, 30)));
    drop(sink);
    let summary = writer.finish().await.unwrap();
    assert_eq!(summary.uncommitted_rows, 110, "rows after the last checkpoint are not committed");
    assert_eq!(lake.load_state().await.unwrap().rows_of("detections"), 120);

    // A restarted writer resumes from the checkpoint and moves it on with its rows.
    let resumed = lake.last_checkpoint().await.unwrap().expect("checkpoint");
    assert_eq!(resumed["offsets"][0], 120);
    let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "cp2".into(), &tokio::runtime::Handle::current());
    assert!(sink.send(detections("cam-2", now, 80)));
    assert!(sink.checkpoint(json!({"topic": "det", "offsets": [200]})));
    drop(sink);
    writer.finish().await.unwrap();
    let state = lake.load_state().await.unwrap();
    assert_eq!(state.rows_of("detections"), 200);
    assert_eq!(lake.last_checkpoint().await.unwrap(), Some(json!({"topic": "det", "offsets": [200]})));
    // The commit that carries the checkpoint lists the file of the rows sent before it.
    let commit = support::commits(&lake).await.into_iter().rfind(|c| c.checkpoint.is_some()).unwrap();
    assert_eq!(commit.added.iter().map(|f| f.rows).sum::<u64>(), 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_go_up_in_parts_and_concurrent_commits_never_collide() {
    let s3 = SeaweedFs::start("multipart");
    let config = S3Config { multipart_threshold_bytes: 5 * 1024 * 1024, multipart_part_bytes: 5 * 1024 * 1024, ..s3.config() };
    let lake = Lake::open_with(&s3.url("mp"), &config).unwrap();
    let path = lake.path_of("blob.bin");
    let data: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    lake.put_file(&path, data.clone().into()).await.expect("multipart upload");
    let back = lake.store().get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "multipart upload changed the bytes");

    // Eight publishers race for the same seqs: conditional creates give each its own.
    for lake in [lake.clone(), Lake::open(scratch("concurrent").to_str().unwrap()).unwrap()] {
        lake.init_log("test").await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let lake = lake.clone();
            tasks.push(tokio::spawn(async move {
                let f = FileEntry { table: "detections".into(), path: format!("detections/date=2026-01-01/p{i}.parquet"), rows: 1, bytes: 1 };
                lake.publish(&Change { run_id: format!("w{i}"), added: vec![f], ..Change::default() }, Some(1)).await.unwrap().seq
            }));
        }
        let mut seqs: Vec<u64> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "{}", lake.url());
        assert_eq!(lake.load_state().await.unwrap().files.len(), 8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_rows_and_retention_drops_old_partitions_only() {
    let s3 = SeaweedFs::start("maintenance");
    let lake = s3.lake("m");
    let now = now_ms();
    let old = now - 400 * DAY_MS;
    // Five small files per partition, in two partitions (recent, old).
    let batches: Vec<SinkRows> = (0..5).flat_map(|i| [detections("cam-1", now + i, 40), detections("cam-1", old + i, 10)]).collect();
    write_batches(&lake, "small", batches).await;
    let before = lake.load_state().await.unwrap();
    assert_eq!(before.files_of("detections").count(), 10);
    let rows_before = read_rows(&lake, &before).await;
    assert_eq!(rows_before.len(), 250);

    let config = CompactionConfig { min_files: 3, grace_ms: 0, orphan_grace_ms: 0, ..CompactionConfig::default() };
    let report = lake.compact(&Table::ALL, &config, "compact-1").await.expect("compact");
    assert_eq!((report.partitions, report.files_in, report.files_out, report.rows), (2, 10, 2, 250));
    let after = lake.load_state().await.unwrap();
    assert_eq!(after.files_of("detections").count(), 2);
    assert_eq!(read_rows(&lake, &after).await, rows_before, "compaction changed the rows");
    // The old files stay until vacuum (readers mid-query), then go.
    assert_eq!(lake.list_data_files(Table::Detections).await.unwrap().len(), 12);

    // Retention: 30 days for detections removes the 400-day-old partition only.
    let retention = RetentionConfig { detections_days: Some(30), ..RetentionConfig::default() };
    let report = lake.vacuum(&Table::ALL, &retention, &config, now_ms(), "vacuum-1").await.expect("vacuum");
    assert_eq!(report.expired_files, 1);
    assert_eq!(report.deleted_removed, 11, "{report:?}");
    assert!(report.snapshot.is_some());
    let kept = lake.load_state().await.unwrap();
    let dates: Vec<String> = kept.files_of("detections").filter_map(|f| f.partition_values().iter().find(|(k, _)| *k == "date").map(|(_, v)| v.to_string())).collect();
    assert_eq!(dates, vec![itscam_types::time::utc_date(now)]);
    let rows_kept = read_rows(&lake, &kept).await;
    assert_eq!(rows_kept, rows_before.into_iter().filter(|r| r.0 >= (now as i64)).collect::<Vec<_>>());
    assert_eq!(lake.list_data_files(Table::Detections).await.unwrap().len(), 1, "removed files were deleted");

    // More commits and a second snapshot: the commits the first one covers are deleted, and a
    // reader whose state predates them reloads from the snapshot.
    write_batches(&lake, "late", vec![detections("cam-2", now, 5)]).await;
    let report = lake.vacuum(&Table::ALL, &retention, &config, now_ms(), "vacuum-2").await.unwrap();
    assert!(report.snapshot.is_some() && report.log_objects_deleted > 0, "{report:?}");
    let state = lake.load_state().await.unwrap();
    assert_eq!(state.rows_of("detections"), rows_kept.len() as u64 + 5);
    let mut stale = kept.clone();
    lake.refresh(&mut stale).await.unwrap();
    assert_eq!(stale.files, state.files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_deleted_after_their_grace_period() {
    let lake = Lake::open(scratch("orphans").to_str().unwrap()).unwrap();
    let now = now_ms();
    write_batches(&lake, "w", vec![detections("cam-1", now, 20)]).await;
    let orphan = lake.path_of(&format!("detections/camera_id=cam-1/date={}/part-crashed-000009.parquet", itscam_types::time::utc_date(now)));
    lake.put_file(&orphan, support::parquet_bytes(&detections("cam-1", now, 5))).await.unwrap();
    let retention = RetentionConfig::default();
    let patient = CompactionConfig { orphan_grace_ms: 3_600_000, ..CompactionConfig::default() };
    let report = lake.vacuum(&Table::ALL, &retention, &patient, now_ms(), "v1").await.unwrap();
    assert_eq!((report.deleted_orphans, report.kept_in_grace), (0, 1));
    let eager = CompactionConfig { orphan_grace_ms: 0, ..CompactionConfig::default() };
    let report = lake.vacuum(&Table::ALL, &retention, &eager, now_ms() + 1, "v2").await.unwrap();
    assert_eq!(report.deleted_orphans, 1);
    assert!(lake.store().head(&orphan).await.is_err());
    assert_eq!(lake.load_state().await.unwrap().rows_of("detections"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lakes_written_before_the_log_are_adopted() {
    let dir = scratch("legacy");
    let lake = Lake::open(dir.to_str().unwrap()).unwrap();
    let now = now_ms();
    // A file as the writer stored it before the commit log existed.
    let path = lake.path_of(&format!("detections/camera_id=cam-1/date={}/part-old-000001.parquet", itscam_types::time::utc_date(now)));
    lake.put_file(&path, support::parquet_bytes(&detections("cam-1", now, 7))).await.unwrap();
    let state = lake.load_state().await.unwrap();
    assert!(state.legacy);
    assert_eq!(state.files.len(), 1);
    // The first writer starts the log with it, so it stays visible.
    write_batches(&lake, "new", vec![detections("cam-1", now, 3)]).await;
    let state = lake.load_state().await.unwrap();
    assert!(!state.legacy);
    assert_eq!(state.files.len(), 2);
    assert_eq!(read_rows(&lake, &state).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_bad_credentials_is_a_start_up_error_naming_the_bucket() {
    let s3 = SeaweedFs::start("errors");
    let missing = Lake::open_with("s3://no-such-bucket/lake", &s3.config()).unwrap();
    let e = missing.init_log("t").await.expect_err("missing bucket").to_string();
    assert!(e.contains("bucket \"no-such-bucket\"") && e.contains("does the bucket exist"), "{e}");
    let e = missing.verify().await.expect_err("missing bucket").to_string();
    assert!(e.contains("no-such-bucket"), "{e}");

    let wrong = S3Config { secret_access_key: Some("not-the-secret".into()), ..s3.config() };
    let lake = Lake::open_with(&s3.url("x"), &wrong).unwrap();
    let e = lake.init_log("t").await.expect_err("bad credentials").to_string();
    assert!(e.contains(&format!("bucket \"{}\"", s3.bucket)) && e.contains("credentials"), "{e}");
    let e = lake.verify().await.expect_err("bad credentials").to_string();
    assert!(e.contains(&s3.bucket) && e.contains("credentials"), "{e}");

    // The right ones work, and a write error names the key too.
    let lake = s3.lake("ok");
    lake.verify().await.expect("reachable");
    let e = Lake::open_with(&s3.url("x"), &wrong).unwrap().put_file(&lake.path_of("k.parquet"), vec![1u8].into()).await.unwrap_err().to_string();
    assert!(e.contains("ok/k.parquet") && e.contains(&s3.bucket), "{e}");
}
