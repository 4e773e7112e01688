//! Question: how fast does the lake writer store table data — rows/s and MB/s of Parquet,
//! committed (upload + commit log) — on a given lake? `bench/lake_s3.sh` runs it on an S3
//! server and on the local filesystem with the same data and reports the ratio.
//!
//! Run with: `cargo run --release -p itscam-bench --bin lake-write-bench -- --lake file:///tmp/lake`
//! (S3: `--lake s3://bucket/prefix` with `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` set).

use clap::Parser;
use itscam_sinks::{Lake, LakeWriter, SinkRows, Table};
use itscam_types::config::WriterConfig;
use itscam_types::{DetectionRow, ObjectClass};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Lake write throughput: synthetic detections rows through the lake writer, timed to the last commit")]
struct Args {
    /// Lake URL (`file://…` or `s3://bucket/prefix`); it should be empty.
    #[arg(long)]
    lake: String,
    /// Rows to write.
    #[arg(long, default_value_t = 4_000_000)]
    rows: u64,
    /// Cameras (one partition each).
    #[arg(long, default_value_t = 4)]
    cameras: u64,
    /// Rows per file at most (`[lake.writer] max_rows`).
    #[arg(long, default_value_t = 1_000_000)]
    max_rows: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.cameras > 0 && args.rows > 0, "--rows and --cameras must be at least 1");
    // Rows are made before the clock starts: 4,096 per camera and send, as frames arrive.
    let cameras: Vec<Arc<str>> = (1..=args.cameras).map(|c| Arc::from(format!("cam-{c}"))).collect();
    let (car, person) = (ObjectClass::from_name("car").expect("coco"), ObjectClass::from_name("person").expect("coco"));
    let t0 = 1_767_225_600_000u64;
    let mut batches = Vec::new();
    let mut made = 0u64;
    while made < args.rows {
        for cam in &cameras {
            let n = 4_096.min(args.rows - made);
            if n == 0 {
                break;
            }
            let rows: Vec<DetectionRow> = (made..made + n)
                .map(|i| {
                    // Pseudo-random boxes and speeds (a multiplicative hash of the row number), so
                    // Parquet compresses them about as well as real detections, not better.
                    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let x = ((h >> 20) % 1_800) as f32;
                    let y = ((h >> 40) % 1_000) as f32;
                    DetectionRow {
                        camera_id: cam.clone(),
                        ts_ms: t0 + i / args.cameras * 33,
                        frame: i / args.cameras,
                        track_id: Some(h % 997),
                        class: if h % 3 == 0 { person } else { car },
                        confidence: 0.3 + ((h >> 8) % 700) as f32 / 1000.0,
                        x1: x,
                        y1: y,
                        x2: x + 20.0 + ((h >> 12) % 200) as f32,
                        y2: y + 20.0 + ((h >> 16) % 150) as f32,
                        ground_x: Some(((h >> 24) % 100_000) as f64 * 0.001),
                        ground_y: Some(((h >> 32) % 100_000) as f64 * 0.001),
                        speed_kmh: Some(((h >> 44) % 1_500) as f64 * 0.1),
                        frame_size: [0, 0],
                        model_version: None,
                    }
                })
                .collect();
            made += n;
            batches.push(SinkRows::Detections(rows));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let lake = Lake::open(&args.lake)?;
    runtime.block_on(lake.init_log("bench"))?;
    let config = WriterConfig { max_rows: args.max_rows, ..WriterConfig::default() };
    let started = Instant::now();
    let (sink, writer) = LakeWriter::start(lake.clone(), config, "bench".into(), runtime.handle());
    for rows in batches {
        anyhow::ensure!(sink.send(rows), "the writer stopped");
    }
    drop(sink);
    let summary = runtime.block_on(writer.finish())?;
    let secs = started.elapsed().as_secs_f64();
    let state = runtime.block_on(lake.load_state())?;
    let bytes: u64 = state.files_of(Table::Detections.name()).map(|f| f.bytes).sum();
    anyhow::ensure!(summary.rows(Table::Detections) == args.rows, "wrote {} rows of {}", summary.rows(Table::Detections), args.rows);
    println!(
        "{}",
        serde_json::json!({
            "lake": lake.url(),
            "rows": args.rows,
            "files": summary.files(),
            "commits": summary.commits,
            "bytes": bytes,
            "secs": secs,
            "rows_per_s": args.rows as f64 / secs,
            "mb_per_s": bytes as f64 / 1e6 / secs,
        })
    );
    Ok(())
}
