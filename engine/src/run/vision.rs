//! The vision half of `itscam run`: video cameras → decode → quality gate → batching inference
//! → frames with detections, which join the detections sources' frames before the tracker.

use itscam_operators::camera_route;
use itscam_operators::source::SourceControl;
use itscam_operators::source::cameras::CameraControl;
use itscam_operators::video::{CameraStatuses, LiveCameras, VideoCameras, VideoFeedSpec, VideoOptions, video_source};
use itscam_operators::vision::bank::Bank;
use itscam_operators::vision::gate::QualityGate;
use itscam_operators::vision::infer::{BatchPolicy, Detect, InferenceStats, StageSamples};
use itscam_operators::vision::runtime::provider_name;
use itscam_sinks::LakeSink;
use itscam_types::config::{PipelineConfig, Provider, QualityConfig, SourceFamily};
use itscam_types::jsonl::frame_to_line;
use itscam_types::{ErrorRow, Frame, QualityRow};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use timely::dataflow::{Scope, Stream};

use itscam_sinks::SINK_HIGH_WATER_ROWS;

/// Everything the workers need to run the video cameras, prepared before the dataflow starts.
pub struct VisionPlan {
    feeds: Vec<VideoFeedSpec>,
    banks: Mutex<Vec<Option<Bank>>>,
    statuses: CameraStatuses,
    /// Cameras added and removed while the pipeline runs, and the options their feeds get.
    runtime: Option<(CameraControl, VideoOptions)>,
    provider: Provider,
    policy: BatchPolicy,
    quality: QualityConfig,
    stats: Arc<InferenceStats>,
    measured: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    jsonl: Mutex<Option<Sender<Vec<String>>>>,
    jsonl_thread: Mutex<Option<JoinHandle<std::io::Result<u64>>>>,
    handed_out: AtomicUsize,
    peers: usize,
}

impl std::fmt::Debug for VisionPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionPlan").field("cameras", &self.feeds.len()).field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl VisionPlan {
    /// `None` when the config has no video cameras and none can be added while it runs
    /// (`runtime`: the book of camera changes of `itscam serve`). Opens the models of the
    /// board's routing once per worker when the config has video cameras; otherwise each
    /// worker's inference thread opens its own once the first added camera's frames come.
    pub fn prepare(config: &PipelineConfig, workers: usize, write_detections: Option<PathBuf>, runtime: Option<CameraControl>, models: &crate::models::ModelsLive) -> anyhow::Result<Option<VisionPlan>> {
        let feeds: Vec<VideoFeedSpec> = config
            .camera
            .iter()
            .filter(|cam| cam.source.family() == SourceFamily::Video)
            .map(|cam| {
                let mut feed = VideoFeedSpec::new(cam.id.clone(), cam.source.clone());
                feed.options.pacing = cam.pacing;
                feed.options.start_ms = cam.start_ms;
                feed.options.lateness_ms = config.pipeline.lateness_ms;
                feed
            })
            .collect();
        if feeds.is_empty() && runtime.is_none() {
            return Ok(None);
        }
        let mut banks = Vec::with_capacity(workers);
        let mut provider = config.model.provider;
        let (board, monitor) = (models.board(), models.monitor());
        let routing = board.current().1;
        for index in 0..workers {
            let open = if feeds.is_empty() { Vec::new() } else { Bank::open_all(&routing)? };
            if let Some((_, d)) = open.first() {
                provider = d.provider();
            }
            banks.push(Some(Bank::new(board.clone(), monitor.clone(), index, open)));
        }
        let options = VideoOptions { lateness_ms: config.pipeline.lateness_ms, ..VideoOptions::default() };
        let (jsonl, jsonl_thread) = match write_detections {
            Some(path) => {
                let (tx, rx) = channel::<Vec<String>>();
                let file = std::fs::File::create(&path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
                let handle = std::thread::Builder::new().name("itscam-jsonl".into()).spawn(move || {
                    let mut out = std::io::BufWriter::new(file);
                    let mut n = 0u64;
                    for lines in rx {
                        for line in lines {
                            out.write_all(line.as_bytes())?;
                            out.write_all(b"\n")?;
                            n += 1;
                        }
                    }
                    out.flush()?;
                    Ok(n)
                })?;
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        let policy = BatchPolicy {
            max_batch: config.model.max_batch,
            max_wait: Duration::from_millis(config.model.max_wait_ms),
            queue: config.model.queue,
            live_cameras: LiveCameras::of(&feeds),
        };
        Ok(Some(VisionPlan {
            statuses: CameraStatuses::new(feeds.iter().map(|f| f.status.clone()).collect()),
            runtime: runtime.map(|control| (control, options)),
            feeds,
            banks: Mutex::new(banks),
            provider,
            policy,
            quality: config.quality.clone(),
            stats: Arc::default(),
            measured: Arc::default(),
            skipped: Arc::default(),
            jsonl: Mutex::new(jsonl),
            jsonl_thread: Mutex::new(jsonl_thread),
            handed_out: AtomicUsize::new(0),
            peers: workers,
        }))
    }

    /// The health handles of the video cameras (cameras added while it runs join them).
    pub fn statuses(&self) -> CameraStatuses {
        self.statuses.clone()
    }

    /// A handle that reads the counters after the run.
    pub fn report_handle(&self) -> VisionReport {
        VisionReport {
            stats: self.stats.clone(),
            measured: self.measured.clone(),
            skipped: self.skipped.clone(),
            statuses: self.statuses.clone(),
            provider: self.provider,
            jsonl_thread: self.jsonl_thread.lock().ok().and_then(|mut t| t.take()),
        }
    }

    /// This worker's share: its cameras (by camera route over the cluster's `peers`, `index`
    /// the cluster's worker) and its detector (bank `local`, this process's thread).
    /// `evidence`: its sources also pause while the evidence service is behind.
    pub fn for_worker(&self, (index, local): (usize, usize), peers: usize, sink: &LakeSink, stop: &Arc<AtomicBool>, evidence: Option<crate::evidence::EvidenceBacklog>) -> WorkerVision {
        let feeds = self.feeds.iter().filter(|f| camera_route(&f.camera_id) as usize % peers == index).cloned().collect();
        let bank = self.banks.lock().ok().and_then(|mut d| d.get_mut(local).and_then(Option::take)).expect("one bank of models per worker");
        let jsonl = {
            let mut guard = self.jsonl.lock().expect("not poisoned");
            let tx = guard.clone();
            // The last worker takes the original sender, so the writer ends with the dataflow.
            if self.handed_out.fetch_add(1, Ordering::SeqCst) + 1 == self.peers {
                guard.take();
            }
            tx
        };
        let (stats, paused, queue) = (self.stats.clone(), sink.clone(), self.policy.queue * self.peers);
        let control = SourceControl {
            pause: Arc::new(move || stats.pending.load(Ordering::Relaxed) >= queue || paused.pending_rows() > SINK_HIGH_WATER_ROWS || evidence.as_ref().is_some_and(|e| e.behind())),
            stop: stop.clone(),
        };
        let runtime = self.runtime.as_ref().map(|(control, options)| VideoCameras {
            control: control.clone(),
            options: options.clone(),
            statuses: self.statuses.clone(),
            live: self.policy.live_cameras.clone(),
        });
        WorkerVision {
            feeds,
            runtime,
            bank,
            policy: self.policy.clone(),
            quality: self.quality.clone(),
            stats: self.stats.clone(),
            measured: self.measured.clone(),
            skipped: self.skipped.clone(),
            control,
            jsonl,
        }
    }
}

/// One worker's part of the vision path.
pub struct WorkerVision {
    feeds: Vec<VideoFeedSpec>,
    runtime: Option<VideoCameras>,
    bank: Bank,
    policy: BatchPolicy,
    quality: QualityConfig,
    stats: Arc<InferenceStats>,
    measured: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    control: SourceControl,
    jsonl: Option<Sender<Vec<String>>>,
}

/// The streams of one worker's vision path.
pub struct VisionStreams<'s> {
    /// Frames with detections, for the tracker.
    pub frames: Stream<'s, u64, Vec<Frame>>,
    /// Rejected input (decode and inference failures).
    pub errors: Stream<'s, u64, Vec<ErrorRow>>,
    /// `frame_quality` rows, one per decoded frame.
    pub quality: Stream<'s, u64, Vec<QualityRow>>,
}

impl WorkerVision {
    /// A count callback for the `frame_quality` rows: frames measured and skipped.
    pub fn quality_counter(&self) -> impl FnMut(&[QualityRow]) + 'static {
        let (measured, skipped) = (self.measured.clone(), self.skipped.clone());
        move |rows| {
            measured.fetch_add(rows.len() as u64, Ordering::Relaxed);
            skipped.fetch_add(rows.iter().filter(|r| r.skipped).count() as u64, Ordering::Relaxed);
        }
    }

    /// Builds sources → quality gate → inference on this worker.
    /// `evidence`: the taps that keep frames for evidence (before inference) and what the
    /// detector found in them.
    pub fn build<'s>(self, scope: Scope<'s, u64>, evidence: Option<&crate::evidence::EvidenceTaps>) -> VisionStreams<'s> {
        use timely::dataflow::operators::Inspect;
        let (video, errors) = video_source(scope, self.feeds, self.control, self.runtime);
        let (mut passed, quality) = video.quality_gate(self.quality.min_score, self.quality.frozen_threshold);
        if let Some(taps) = evidence {
            passed = passed.inspect(taps.frame_sampler());
        }
        let (mut frames, infer_errors) = passed.detect(self.bank, self.policy, self.stats);
        if let Some(taps) = evidence.cloned() {
            frames = frames.inspect_core(move |event| {
                if let Ok((_, batch)) = event {
                    taps.detected(batch);
                }
            });
        }
        let frames = match self.jsonl {
            Some(tx) => {
                frames.inspect_core(move |event| {
                    if let Ok((_, batch)) = event {
                        let _ = tx.send(batch.iter().map(frame_to_line).collect());
                    }
                })
            }
            None => frames,
        };
        use timely::dataflow::operators::Concat;
        VisionStreams { frames, errors: errors.concat(infer_errors), quality }
    }
}

/// Reads the vision counters once the run has ended.
pub struct VisionReport {
    stats: Arc<InferenceStats>,
    measured: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    statuses: CameraStatuses,
    provider: Provider,
    jsonl_thread: Option<JoinHandle<std::io::Result<u64>>>,
}

impl VisionReport {
    /// Waits for the detections JSONL writer and collects the figures.
    pub fn finish(self) -> anyhow::Result<VisionSummary> {
        let jsonl_lines = match self.jsonl_thread {
            Some(t) => Some(t.join().map_err(|_| anyhow::anyhow!("the detections JSONL writer panicked"))??),
            None => None,
        };
        let samples = self.stats.samples.lock().map(|s| s.clone()).unwrap_or_default();
        Ok(VisionSummary {
            provider: provider_name(self.provider),
            measured: self.measured.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            inferred: self.stats.frames.load(Ordering::Relaxed),
            batches: self.stats.batches.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            cameras: self.statuses.list().iter().map(|s| (s.snapshot().camera_id.clone(), s.health().as_str().to_string())).collect(),
            samples,
            jsonl_lines,
        })
    }
}

/// What the vision path did in a run.
#[derive(Clone, Debug, Default)]
pub struct VisionSummary {
    /// Execution provider used.
    pub provider: &'static str,
    /// Frames decoded and measured by the quality gate.
    pub measured: u64,
    /// Of those, skipped for low quality.
    pub skipped: u64,
    /// Frames through the detector.
    pub inferred: u64,
    /// Inference calls.
    pub batches: u64,
    /// Live frames dropped under overload.
    pub dropped: u64,
    /// Frames whose batch failed.
    pub failed: u64,
    /// Camera id and final health.
    pub cameras: Vec<(String, String)>,
    /// Per-stage latency samples (µs).
    pub samples: StageSamples,
    /// Lines written by `--write-detections`.
    pub jsonl_lines: Option<u64>,
}

/// The `q`-quantile of samples (µs), in milliseconds.
pub fn quantile_ms(samples: &[u32], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i] as f64 / 1000.0
}

impl std::fmt::Display for VisionSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.samples;
        let mean_batch = if s.batch_size.is_empty() { 0.0 } else { s.batch_size.iter().map(|b| *b as f64).sum::<f64>() / s.batch_size.len() as f64 };
        writeln!(f, "  video frames {:>12}  (quality-skipped {}, dropped {}, failed {})", self.measured, self.skipped, self.dropped, self.failed)?;
        writeln!(f, "  inferred     {:>12}  in {} batches (mean {:.1}) on {}", self.inferred, self.batches, mean_batch, self.provider)?;
        writeln!(
            f,
            "  latency ms   p50/p99: queue {:.1}/{:.1}, preprocess {:.1}/{:.1}, inference {:.1}/{:.1}, decode+NMS {:.2}/{:.2} (per batch)",
            quantile_ms(&s.queue_wait, 0.5), quantile_ms(&s.queue_wait, 0.99),
            quantile_ms(&s.preprocess, 0.5), quantile_ms(&s.preprocess, 0.99),
            quantile_ms(&s.inference, 0.5), quantile_ms(&s.inference, 0.99),
            quantile_ms(&s.decode, 0.5), quantile_ms(&s.decode, 0.99),
        )?;
        for (camera, health) in &self.cameras {
            writeln!(f, "    camera {camera}: {health}")?;
        }
        if let Some(n) = self.jsonl_lines {
            writeln!(f, "  detections JSONL: {n} frame(s) written")?;
        }
        Ok(())
    }
}
