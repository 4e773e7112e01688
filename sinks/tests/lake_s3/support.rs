//! A SeaweedFS server per test, rows to write, and ways to read the lake back.

use arrow::array::{Array, Float32Array, Int64Array, StringArray};
use itscam_sinks::{Commit, Lake, LakeState, SinkRows};
use itscam_types::config::S3Config;
use itscam_types::{DetectionRow, ObjectClass};
use object_store::ObjectStoreExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("sinks/ has a parent").to_path_buf()
}

/// A fresh empty directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("itscam-lake-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running SeaweedFS (S3) with one bucket; stopped on drop.
pub struct SeaweedFs {
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket created at start.
    pub bucket: String,
    key: String,
    secret: String,
}

impl SeaweedFs {
    /// Starts a server with its data in a scratch directory named after the test.
    pub fn start(name: &str) -> SeaweedFs {
        let dir = scratch(&format!("s3-{name}"));
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/servers/seaweedfs.sh"))
            .args(["start", dir.join("server").to_str().expect("utf-8 path"), "lake"])
            .output()
            .expect("run scripts/servers/seaweedfs.sh");
        assert!(out.status.success(), "SeaweedFS did not start: {}", String::from_utf8_lossy(&out.stderr));
        let env: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        SeaweedFs {
            dir,
            endpoint: env["endpoint"].clone(),
            bucket: env["bucket"].clone(),
            key: env["access_key_id"].clone(),
            secret: env["secret_access_key"].clone(),
        }
    }

    /// `[lake.s3]` for this server.
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Some(self.key.clone()),
            secret_access_key: Some(self.secret.clone()),
            ..S3Config::default()
        }
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// A lake under `prefix` of the bucket.
    pub fn lake(&self, prefix: &str) -> Lake {
        Lake::open_with(&self.url(prefix), &self.config()).expect("open the S3 lake")
    }

    /// Rows in these objects (keys in the bucket) as pyarrow reads them over S3.
    pub fn pyarrow_count(&self, keys: &[String]) -> u64 {
        let python = Command::new("bash").arg(repo_root().join("scripts/servers/pyarrow.sh")).arg("python").output().expect("pyarrow.sh");
        assert!(python.status.success(), "pyarrow is not installed: {}", String::from_utf8_lossy(&python.stderr));
        let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
        let paths: Vec<String> = keys.iter().map(|k| format!("{}/{k}", self.bucket)).collect();
        let script = "import json, sys\nimport pyarrow.fs as fs, pyarrow.parquet as pq\n\
            a = json.loads(sys.argv[1])\n\
            s3 = fs.S3FileSystem(endpoint_override=a['endpoint'], scheme='http', access_key=a['key'], secret_key=a['secret'], region='us-east-1')\n\
            print(sum(pq.ParquetFile(s3.open_input_file(p)).metadata.num_rows for p in a['paths']))\n";
        let args = serde_json::json!({ "endpoint": self.endpoint.trim_start_matches("http://"), "key": self.key, "secret": self.secret, "paths": paths });
        let out = Command::new(python).args(["-c", script, &args.to_string()]).output().expect("run pyarrow");
        assert!(out.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a row count")
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("scripts/servers/seaweedfs.sh"))
            .args(["stop", self.dir.join("server").to_str().unwrap_or_default()])
            .status();
    }
}

/// `n` detections of one camera at `ts_ms` (frames 0..n, varied boxes).
pub fn detections(camera: &str, ts_ms: u64, n: u64) -> SinkRows {
    let camera: Arc<str> = camera.into();
    SinkRows::Detections(
        (0..n)
            .map(|i| DetectionRow {
                camera_id: camera.clone(),
                ts_ms,
                frame: i,
                track_id: (i % 3 == 0).then_some(i / 3),
                class: ObjectClass::from_name(if i % 2 == 0 { "car" } else { "person" }).expect("coco"),
                confidence: 0.5 + (i % 50) as f32 / 100.0,
                x1: i as f32,
                y1: 2.0 * i as f32,
                x2: i as f32 + 10.0,
                y2: 2.0 * i as f32 + 20.0,
                ground_x: None,
                ground_y: None,
                speed_kmh: None,
                frame_size: [0, 0],
                model_version: None,
            })
            .collect(),
    )
}

/// The rows as one Parquet file.
pub fn parquet_bytes(rows: &SinkRows) -> bytes::Bytes {
    let batch = rows.batch().expect("batch");
    let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), None).expect("writer");
    w.write(&batch).expect("write");
    w.into_inner().expect("finish").into()
}

/// Every committed `detections` row as (ts_ms, camera_id, frame, confidence bits), sorted.
pub async fn read_rows(lake: &Lake, state: &LakeState) -> Vec<(i64, String, i64, u32)> {
    let mut out = Vec::new();
    for f in state.files_of("detections") {
        // The camera is a directory (layout camera_id,date) or a column (layout date).
        let directory = f.partition_values().iter().find(|(k, _)| *k == "camera_id").map(|(_, v)| v.to_string());
        let bytes = lake.store().get(&lake.path_of(&f.path)).await.expect("get").bytes().await.expect("bytes");
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes).expect("parquet").build().expect("reader") {
            let batch = batch.expect("batch");
            let col = |name: &str| batch.column_by_name(name).expect(name).clone();
            let ts = col("ts_ms");
            let ts = ts.as_any().downcast_ref::<Int64Array>().expect("i64");
            let frame = col("frame");
            let frame = frame.as_any().downcast_ref::<Int64Array>().expect("i64");
            let conf = col("confidence");
            let conf = conf.as_any().downcast_ref::<Float32Array>().expect("f32");
            let column = batch.column_by_name("camera_id").map(|c| c.as_any().downcast_ref::<StringArray>().expect("utf8").clone());
            for i in 0..batch.num_rows() {
                let camera = match (&directory, &column) {
                    (Some(d), None) => d.clone(),
                    (None, Some(c)) => c.value(i).to_string(),
                    _ => panic!("{}: the camera must be a directory or a column, not both or neither", f.path),
                };
                out.push((ts.value(i), camera, frame.value(i), conf.value(i).to_bits()));
            }
            assert_eq!(ts.null_count(), 0);
        }
    }
    out.sort();
    out
}

/// Every commit still in the log, by seq.
pub async fn commits(lake: &Lake) -> Vec<Commit> {
    use futures::TryStreamExt;
    let dir = lake.path_of(&format!("{}/commits", itscam_sinks::LOG_DIR));
    let mut listed: Vec<_> = lake.store().list(Some(&dir)).try_collect::<Vec<_>>().await.expect("list");
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in listed {
        let bytes = lake.store().get(&meta.location).await.expect("get").bytes().await.expect("bytes");
        out.push(serde_json::from_slice(&bytes).expect("commit JSON"));
    }
    out
}
