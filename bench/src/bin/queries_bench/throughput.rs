//! Throughput: frames fed as fast as the dataflow takes them through `track_frames` →
//! `build_analytics`, every output counted by a cheap sink.

use crate::harness::{Batches, Counts, cpu_seconds, dataflow, feed_all, run_workers, sink_all, split_frames, take};
use itscam_bench::traffic::Scene;
use itscam_operators::track::TrackFrames;
use itscam_queries::build_analytics;
use itscam_types::Frame;
use itscam_types::config::TrackerConfig;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One run's numbers.
#[derive(Debug)]
pub struct Run {
    /// Timely workers.
    pub workers: usize,
    /// Detections fed.
    pub detections: u64,
    /// Wall-clock seconds (workers started, fed, drained).
    pub wall_s: f64,
    /// CPU seconds of the process over the same span.
    pub cpu_s: f64,
    /// Rows out.
    pub counts: Arc<Counts>,
}

impl Run {
    /// Detections per wall-clock second.
    pub fn rate(&self) -> f64 {
        self.detections as f64 / self.wall_s
    }

    /// Detections per CPU-second.
    pub fn per_cpu(&self) -> f64 {
        self.detections as f64 / self.cpu_s
    }
}

/// Feeds `frames` through the tracker and every query of `scene` on `workers` workers.
pub fn run(frames: &[Frame], scene: &Scene, dir: &Path, workers: usize, tracker: &TrackerConfig) -> anyhow::Result<Run> {
    let plan = scene.plan(dir)?;
    let detections = frames.iter().map(|f| f.detections.len() as u64).sum();
    let shared: Arc<Mutex<Vec<Option<Batches<Frame>>>>> = Arc::new(Mutex::new(split_frames(frames, workers).into_iter().map(Some).collect()));
    let counts = Arc::new(Counts::default());
    let (c, tracker) = (counts.clone(), tracker.clone());
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    run_workers(workers, move |worker| {
        let index = worker.index();
        let batches = take(&shared, index);
        let (input, probe) = dataflow(worker, |frames, probe| {
            let out = build_analytics(frames.track_frames(tracker.clone()), &plan, index);
            sink_all(out, probe, &c, |_| {});
        });
        feed_all(worker, input, &probe, batches);
    })?;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu0;
    Ok(Run { workers, detections, wall_s, cpu_s, counts })
}
