//! An inference thread's open models and the routing it runs ([`super::board`]), and one batch
//! run through them: frames grouped by their camera's model, each group one call, shadow
//! frames run again on the candidate, and everything counted on the [`ModelMonitor`].
//!
//! **Swap protocol.** Before each batch [`Bank::run`] compares the board's generation with the
//! one it runs. A newer routing whose models are all open is adopted at once; otherwise the
//! missing models are opened and warmed (one dummy frame each) on a loader thread while batches
//! keep running on the current routing, and the routing is adopted before the first batch after
//! the loader is done. A model that fails to open leaves the current routing running and is
//! reported on the board. Models the adopted routing no longer needs are closed.

use super::board::{ModelBoard, ModelSpec, RouteKind, Routing, shadow_frame};
use super::detector::{BatchTimings, Detector};
use super::monitor::ModelMonitor;
use super::runtime::VisionError;
use itscam_types::{Detection, VideoFrame};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

/// One frame's outcome: its detections and the model that made them, or why it failed.
pub type FrameResult = Result<(Vec<Detection>, Arc<str>), VisionError>;

type Loaded = Result<Vec<(Arc<str>, Detector)>, (Arc<str>, VisionError)>;

/// This thread's models.
pub struct Bank {
    board: Arc<ModelBoard>,
    monitor: Arc<ModelMonitor>,
    thread: usize,
    generation: u64,
    routing: Arc<Routing>,
    open: HashMap<Arc<str>, Detector>,
    loading: Option<(u64, Arc<Routing>, Receiver<Loaded>)>,
    out: Vec<Vec<Detection>>,
}

impl std::fmt::Debug for Bank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bank").field("thread", &self.thread).field("generation", &self.generation).field("open", &self.open.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Bank {
    /// A bank for inference thread `thread`, running the board's current routing with the
    /// models already `open` (others are opened on their first frame).
    pub fn new(board: Arc<ModelBoard>, monitor: Arc<ModelMonitor>, thread: usize, open: Vec<(Arc<str>, Detector)>) -> Bank {
        let (generation, routing) = board.current();
        board.adopted(thread, generation);
        Bank { board, monitor, thread, generation, routing, open: open.into_iter().collect(), loading: None, out: Vec::new() }
    }

    /// A bank with one fixed model (tests and benchmarks).
    pub fn fixed(version: &str, detector: Detector) -> Bank {
        let spec = ModelSpec::new(version, itscam_types::config::ModelConfig::default());
        let board = ModelBoard::new(Routing::fixed(spec));
        Bank::new(board, Arc::default(), 0, vec![(version.into(), detector)])
    }

    /// The generation it runs.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Opens every model `specs` needs that is not open (at start: errors are start-up errors).
    pub fn open_all(specs: &Routing) -> Result<Vec<(Arc<str>, Detector)>, VisionError> {
        specs.specs().into_iter().map(|(v, s)| Detector::open(&s.config).map(|d| (v, d))).collect()
    }

    /// Adopts a newer routing when its models are ready; starts loading them otherwise.
    fn refresh(&mut self) {
        if let Some((generation, routing, rx)) = &self.loading {
            match rx.try_recv() {
                Err(TryRecvError::Empty) => return,
                Ok(Ok(loaded)) => {
                    let (generation, routing) = (*generation, routing.clone());
                    self.open.extend(loaded);
                    self.adopt(generation, routing);
                }
                Ok(Err((version, e))) => {
                    tracing::error!(generation, model = %version, error = %e, "a model could not be opened; the cameras keep their current model");
                    self.board.failed(*generation, format!("{version}: {e}"));
                    self.generation = *generation;
                }
                Err(TryRecvError::Disconnected) => {
                    self.board.failed(*generation, "the model loader stopped (this is a bug)".into());
                    self.generation = *generation;
                }
            }
            self.loading = None;
        }
        if self.board.generation() == self.generation {
            return;
        }
        let (generation, routing) = self.board.current();
        let missing: Vec<ModelSpec> = routing.specs().into_iter().filter(|(v, _)| !self.open.contains_key(v)).map(|(_, s)| s.clone()).collect();
        if missing.is_empty() {
            self.adopt(generation, routing);
            return;
        }
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new().name("itscam-model-load".into()).spawn(move || {
            let loaded: Loaded = missing.into_iter().map(|s| open_warm(&s).map(|d| (s.version.clone(), d)).map_err(|e| (s.version.clone(), e))).collect();
            let _ = tx.send(loaded);
        });
        match spawned {
            Ok(_) => self.loading = Some((generation, routing, rx)),
            Err(e) => {
                self.board.failed(generation, format!("cannot start the model loader: {e}"));
                self.generation = generation;
            }
        }
    }

    fn adopt(&mut self, generation: u64, routing: Arc<Routing>) {
        let needed = routing.versions();
        let (keep, closed): (HashMap<_, _>, HashMap<_, _>) = std::mem::take(&mut self.open).into_iter().partition(|(v, _)| needed.contains(v));
        self.open = keep;
        if !closed.is_empty() {
            // Closing a session frees its memory and threads: not on the inference path.
            let _ = std::thread::Builder::new().name("itscam-model-close".into()).spawn(move || drop(closed));
        }
        tracing::info!(thread = self.thread, generation, models = ?needed, "inference thread switched models");
        self.routing = routing;
        self.generation = generation;
        self.board.adopted(self.thread, generation);
    }

    /// Runs one batch: each frame through its camera's model (frames of one model in one call).
    /// One result per frame, in order.
    pub fn run(&mut self, frames: &[VideoFrame]) -> (Vec<FrameResult>, BatchTimings) {
        self.refresh();
        let routing = self.routing.clone();
        let mut groups: BTreeMap<Arc<str>, (Vec<usize>, RouteKind)> = BTreeMap::new();
        let mut results: Vec<Option<FrameResult>> = (0..frames.len()).map(|_| None).collect();
        for (i, f) in frames.iter().enumerate() {
            match routing.route(&f.camera_id) {
                Some((spec, kind)) => groups.entry(spec.version.clone()).or_insert_with(|| (Vec::new(), kind)).0.push(i),
                None => results[i] = Some(Err(VisionError::NoModel(routing.follows.clone().unwrap_or_else(|| "[model]".into())))),
            }
        }
        let mut total = BatchTimings::default();
        for (version, (idx, kind)) in groups {
            let group: Vec<VideoFrame> = idx.iter().map(|&i| frames[i].clone()).collect();
            match self.detect_with(&version, &routing, &group) {
                Ok((dets, t)) => {
                    total.preprocess += t.preprocess;
                    total.inference += t.inference;
                    total.decode += t.decode;
                    let per_frame = (t.preprocess + t.inference + t.decode) / group.len().max(1) as u32;
                    if kind == RouteKind::Production {
                        self.shadow(&routing, &version, &group, &dets, per_frame);
                    }
                    for ((i, f), d) in idx.iter().zip(&group).zip(dets) {
                        self.monitor.frame(&version, &f.camera_id, &d, per_frame, group.len());
                        results[*i] = Some(Ok((d, version.clone())));
                    }
                }
                Err(e) => {
                    for (i, f) in idx.iter().zip(&group) {
                        self.monitor.failed(&version, &f.camera_id, 1);
                        results[*i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        (results.into_iter().map(|r| r.expect("every frame has a result")).collect(), total)
    }

    fn detect_with(&mut self, version: &Arc<str>, routing: &Routing, frames: &[VideoFrame]) -> Result<(Vec<Vec<Detection>>, BatchTimings), VisionError> {
        if !self.open.contains_key(version) {
            // First frames of a model no loader opened (a pipeline started without cameras):
            // opened here, on the inference thread, once.
            let spec = routing.specs().get(version).map(|s| (*s).clone()).ok_or_else(|| VisionError::NoModel(version.to_string()))?;
            let d = Detector::open(&spec.config).map_err(|e| VisionError::NotOpened(e.to_string()))?;
            self.open.insert(version.clone(), d);
        }
        let detector = self.open.get_mut(version).expect("opened above");
        let t = detector.detect(frames, &mut self.out)?;
        Ok((std::mem::take(&mut self.out), t))
    }

    /// Runs the shadow candidate on this group's sampled frames and counts the comparison.
    fn shadow(&mut self, routing: &Routing, production: &Arc<str>, group: &[VideoFrame], dets: &[Vec<Detection>], per_frame: Duration) {
        let Some((spec, sample)) = &routing.shadow else { return };
        if spec.version == *production {
            return;
        }
        let sampled: Vec<usize> = (0..group.len()).filter(|&i| shadow_frame(&group[i].camera_id, group[i].frame, *sample)).collect();
        if sampled.is_empty() {
            return;
        }
        let frames: Vec<VideoFrame> = sampled.iter().map(|&i| group[i].clone()).collect();
        let started = Instant::now();
        match self.detect_with(&spec.version.clone(), routing, &frames) {
            Ok((cand, _)) => {
                let per = started.elapsed() / frames.len() as u32;
                for (&i, c) in sampled.iter().zip(&cand) {
                    self.monitor.shadow(&spec.version, production, &group[i].camera_id, (&dets[i], per_frame), (c, per));
                }
            }
            Err(e) => {
                tracing::warn!(model = %spec.version, error = %e, "the shadow model failed on a sample; production is unaffected");
                self.monitor.failed(&spec.version, &group[0].camera_id, frames.len() as u64);
            }
        }
    }
}

/// A bank running one detector for every camera, named after its file
/// ([`unregistered_version`]).
impl From<Detector> for Bank {
    fn from(d: Detector) -> Self {
        let version = super::detector::unregistered_version(d.path());
        Bank::fixed(&version, d)
    }
}

/// Opens a model and runs it once on a blank frame, so its first real batch is not slow.
fn open_warm(spec: &ModelSpec) -> Result<Detector, VisionError> {
    let mut d = Detector::open(&spec.config)?;
    let (w, h) = (spec.config.input_width, spec.config.input_height);
    let blank = VideoFrame { camera_id: "warm-up".into(), ts_ms: 0, frame: 0, width: w, height: h, rgb: vec![0u8; (w * h * 3) as usize].into() };
    let mut out = Vec::new();
    d.detect(std::slice::from_ref(&blank), &mut out)?;
    Ok(d)
}
