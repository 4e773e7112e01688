//! Question: how many frames/s does the detector alone sustain — bare ONNX Runtime
//! (`session.run` on a ready tensor) and the whole detector step (resize + run + decode/NMS) —
//! per execution provider and batch size, and what do the single stages cost per frame?
//! It is the baseline `bench/vision.sh` compares the whole pipeline against, and the GPU check
//! of `bench/gpu.sh`.
//!
//! Run with: `cargo run --release -p itscam-bench --bin detector-bench -- --video .assets/vtest.avi --provider cpu --batches 1,4`

use clap::Parser;
use itscam_operators::tracker::Tracker;
use itscam_operators::video::{Decoder, FfmpegConfig, probe};
use itscam_operators::vision::detector::Detector;
use itscam_operators::vision::quality::QualityMeter;
use itscam_types::config::{ModelConfig, ModelFamily, Provider, TrackerConfig};
use itscam_types::config::Source;
use itscam_types::{Detection, Frame, VideoFrame};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Detector throughput per provider and batch size, and per-stage costs")]
struct Args {
    /// Video to decode frames from; without it, synthetic 768x576 frames are used (speed only).
    #[arg(long)]
    video: Option<std::path::PathBuf>,
    /// Frames to use (decoded once, before timing).
    #[arg(long, default_value_t = 64)]
    frames: usize,
    /// ONNX model.
    #[arg(long, default_value = "models/centernet-mbv3/centernet.onnx")]
    model: String,
    /// `centernet` or `yolo`.
    #[arg(long, default_value = "centernet")]
    family: String,
    /// Model input size (square).
    #[arg(long, default_value_t = 512)]
    input: u32,
    /// `cpu`, `cuda` or `tensorrt`.
    #[arg(long, default_value = "cpu")]
    provider: String,
    /// Batch sizes to measure.
    #[arg(long, default_value = "1,8,32", value_delimiter = ',')]
    batches: Vec<usize>,
    /// Untimed warm-up batches per batch size (TensorRT builds its engine here).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// ONNX Runtime library (default: $ORT_DYLIB_PATH, then .assets/libonnxruntime.so).
    #[arg(long)]
    runtime_library: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let (frames, decode_ms) = load_frames(&a)?;
    let provider = match a.provider.as_str() {
        "cpu" => Provider::Cpu,
        "cuda" => Provider::Cuda,
        "tensorrt" => Provider::Tensorrt,
        other => anyhow::bail!("unknown provider {other:?}"),
    };
    let family = match a.family.as_str() {
        "centernet" => ModelFamily::Centernet,
        "yolo" => ModelFamily::Yolo,
        other => anyhow::bail!("unknown family {other:?}"),
    };
    println!("detector-bench: {} frames {}x{}, model {} ({:?}, {}), provider {}", frames.len(), frames[0].width, frames[0].height, a.model, family, a.input, a.provider);
    if let Some(ms) = &decode_ms {
        println!("  stage decode (ffmpeg)      p50 {:7.2} ms  p99 {:7.2} ms per frame", q(ms, 0.5), q(ms, 0.99));
    }
    let mut meter = QualityMeter::new(0.5);
    let quality: Vec<f64> = frames.iter().map(|f| timed(|| { meter.measure(&f.rgb, f.width, f.height); }).0).collect();
    println!("  stage quality              p50 {:7.2} ms  p99 {:7.2} ms per frame", q(&quality, 0.5), q(&quality, 0.99));

    for &batch in &a.batches {
        let config = ModelConfig {
            path: a.model.clone(),
            family,
            input_width: a.input,
            input_height: a.input,
            provider,
            max_batch: batch,
            queue: batch.max(64),
            runtime_library: a.runtime_library.clone(),
            ..ModelConfig::default()
        };
        let mut detector = match Detector::open(&config) {
            Ok(d) => d,
            Err(e) => {
                println!("  batch {batch:>2}: {e}");
                continue;
            }
        };
        let chunks: Vec<&[VideoFrame]> = frames.chunks(batch).filter(|c| c.len() == batch).collect();
        anyhow::ensure!(!chunks.is_empty(), "need at least {batch} frames (--frames)");
        let mut out: Vec<Vec<Detection>> = Vec::new();
        for chunk in chunks.iter().cycle().take(a.warmup) {
            detector.detect(chunk, &mut out)?;
        }
        let (mut pre, mut run, mut dec) = (Vec::new(), Vec::new(), Vec::new());
        let started = Instant::now();
        let mut n = 0;
        let mut per_frame: Vec<Vec<Detection>> = Vec::new();
        for chunk in &chunks {
            let t = detector.detect(chunk, &mut out)?;
            n += chunk.len();
            pre.push(ms(t.preprocess) / batch as f64);
            run.push(ms(t.inference));
            dec.push(ms(t.decode) / batch as f64);
            per_frame.extend(out.iter().cloned());
        }
        let total = started.elapsed().as_secs_f64();
        let run_total: f64 = run.iter().sum::<f64>() / 1000.0;
        println!(
            "  batch {batch:>2}: detector {:8.1} frames/s | bare ORT run {:8.1} frames/s | per batch: run p50 {:.1} ms p99 {:.1} ms; per frame: preprocess p50 {:.2} ms, decode+NMS p50 {:.2} ms",
            n as f64 / total, n as f64 / run_total, q(&run, 0.5), q(&run, 0.99), q(&pre, 0.5), q(&dec, 0.5)
        );
        if batch == a.batches[0] {
            // The example config's thresholds for this detector (it scores road users 0.3..0.7).
            let tracking = TrackerConfig { high_threshold: 0.35, low_threshold: 0.25, new_track_threshold: 0.35, ..TrackerConfig::default() };
            let mut tracker = Tracker::new("bench", tracking);
            let track: Vec<f64> = frames
                .iter()
                .zip(&per_frame)
                .map(|(f, dets)| {
                    let frame = Frame { camera_id: "bench".into(), ts_ms: f.ts_ms, frame: f.frame, width: f.width, height: f.height, detections: dets.clone(), model_version: None };
                    timed(|| { tracker.update(&frame); }).0
                })
                .collect();
            println!("  stage track                p50 {:7.3} ms  p99 {:7.3} ms per frame", q(&track, 0.5), q(&track, 0.99));
        }
    }
    Ok(())
}

fn load_frames(a: &Args) -> anyhow::Result<(Vec<VideoFrame>, Option<Vec<f64>>)> {
    let Some(video) = &a.video else {
        // Synthetic texture: speed only (ONNX Runtime's cost does not depend on content).
        let (w, h) = (768u32, 576u32);
        let frames = (0..a.frames as u64)
            .map(|i| {
                let rgb: Vec<u8> = (0..w * h * 3).map(|p| ((p as u64 * 2654435761 + i * 97) >> 7) as u8).collect();
                VideoFrame { camera_id: "bench".into(), ts_ms: i * 100, frame: i, width: w, height: h, rgb: Arc::from(rgb) }
            })
            .collect();
        return Ok((frames, None));
    };
    let source = Source::VideoFile(video.clone());
    let cfg = FfmpegConfig::default();
    let info = probe(&source, &cfg)?;
    let mut decoder = Decoder::spawn(&source, &info, &cfg)?;
    let mut frames = Vec::new();
    let mut times = Vec::new();
    while frames.len() < a.frames {
        let (got, t) = timed_result(|| decoder.next_frame(Some(Duration::from_secs(20))));
        let Some(rgb) = got? else { break };
        times.push(t);
        let i = frames.len() as u64;
        frames.push(VideoFrame { camera_id: "bench".into(), ts_ms: i * 100, frame: i, width: info.width, height: info.height, rgb });
    }
    anyhow::ensure!(!frames.is_empty(), "no frames decoded from {}", video.display());
    Ok((frames, Some(times)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn timed(f: impl FnOnce()) -> (f64, ()) {
    let t = Instant::now();
    f();
    (ms(t.elapsed()), ())
}

fn timed_result<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, ms(t.elapsed()))
}

fn q(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * p).round() as usize]
}
