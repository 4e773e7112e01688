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
    /// Output file; with --per-camera, `{camera}` in it is replaced by each camera id.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Write one file per camera instead of one interleaved file.
    #[arg(long)]
    per_camera: bool,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let config = SynthConfig { cameras: a.cameras, objects: a.objects, fps: a.fps, seconds: a.seconds, seed: a.seed, ..SynthConfig::default() };
    let frames = generate(&config);
    let template = a.out.to_string_lossy().to_string();
    anyhow::ensure!(!a.per_camera || template.contains("{camera}"), "--per-camera needs {{camera}} in --out");
    let mut files = std::collections::BTreeMap::new();
    let mut detections = 0usize;
    for f in &frames {
        detections += f.detections.len();
        let path = if a.per_camera { template.replace("{camera}", &f.camera_id) } else { template.clone() };
        let out = match files.entry(path) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let file = std::fs::File::create(e.key())?;
                e.insert(std::io::BufWriter::new(file))
            }
        };
        writeln!(out, "{}", frame_to_line(f))?;
    }
    for out in files.values_mut() {
        out.flush()?;
    }
    eprintln!("wrote {} frames, {} detections to {} file(s) at {}", frames.len(), detections, files.len(), a.out.display());
    Ok(())
}
