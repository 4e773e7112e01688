//! Writes synthetic detections JSON Lines (DESIGN.md format) for examples and benchmarks.
//!
//! Run with: `cargo run --release -p itscam-bench --bin gen-detections -- --cameras 2 --seconds 60 --out examples/data/synthetic.jsonl`

use clap::Parser;
use itscam_bench::synth::{SynthConfig, generate};
use itscam_types::jsonl::frame_to_line;
use std::io::Write;

#[derive(Parser)]
#[command(about = "Write synthetic traffic detections as JSON Lines")]
struct Args {
    /// Cameras (cam-1 … cam-N), interleaved in one file.
    #[arg(long, default_value_t = 1)]
    cameras: usize,
    /// Objects in view per camera.
    #[arg(long, default_value_t = 20)]
    objects: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Seconds of footage.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Output file.
    #[arg(long)]
    out: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let config = SynthConfig { cameras: a.cameras, objects: a.objects, fps: a.fps, seconds: a.seconds, seed: a.seed, ..SynthConfig::default() };
    let frames = generate(&config);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&a.out)?);
    let mut detections = 0usize;
    for f in &frames {
        detections += f.detections.len();
        writeln!(out, "{}", frame_to_line(f))?;
    }
    out.flush()?;
    eprintln!("wrote {} frames, {} detections to {}", frames.len(), detections, a.out.display());
    Ok(())
}
