//! Detections pushed over HTTP: a camera with `source = "push"` has no reader thread; its feed's
//! channel is filled by [`PushInlets::push`], called by the HTTP handlers off the worker.
//!
//! # Protocol
//!
//! - A push is a body of detections JSON Lines. Every line is parsed and checked before anything
//!   is queued; the answer ([`Pushed`]) counts the frames taken and lists the rejected lines
//!   (1-based line number within the body, kind, reason). Rejected lines also go to the
//!   `errors` table, with the push camera's feed.
//! - A push is taken whole or not at all: if a camera's queue would exceed its bound
//!   (`[service] push_queue_lines`), nothing of the push is queued and [`PushError::Full`] tells
//!   the caller to retry (HTTP 429 with `Retry-After`), so a retry never duplicates lines.
//! - Once the pipeline stops (SIGTERM, Ctrl-C), the source closes every inlet under its lock and
//!   then takes what was queued: a push answered as taken is in the dataflow; a later one gets
//!   [`PushError::Closed`] (HTTP 503).
//! - Event time follows the wall clock ([`PushInlets::floor`]): a push camera's watermark is never
//!   below `now − push_max_delay_ms`, so a silent push camera does not hold the pipeline back,
//!   and a frame older than that is `late`.

use itscam_types::config::InputConfig;
use super::lines::{SourceEvent, parse_line};
use super::FeedStats;
pub use itscam_types::RejectedLine;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use timely::scheduling::SyncActivator;

/// The label of push feeds in the `errors.source` column.
pub const PUSH_LABEL: &str = "push";

/// Why a push was refused; nothing of it was queued.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// No camera with that id (caller's input).
    #[error("no camera {0:?}")]
    UnknownCamera(String),
    /// The camera exists but reads another source (caller's input).
    #[error("camera {camera:?} reads {reads}, not pushed detections (source = \"push\")")]
    NotPush {
        /// The camera.
        camera: String,
        /// Its source.
        reads: String,
    },
    /// No camera of the pipeline takes pushed detections (caller's input).
    #[error("no camera of this pipeline has source = \"push\"")]
    NoPushCamera,
    /// More lines in one push than a camera's queue holds (caller's input: split the body).
    #[error("the push has {lines} lines for camera {camera:?}, more than [service] push_queue_lines = {limit}; send it in smaller pushes")]
    TooManyLines {
        /// The camera.
        camera: String,
        /// Lines in the push for it.
        lines: usize,
        /// The bound.
        limit: usize,
    },
    /// A camera's queue is full: the pipeline is behind (retry later).
    #[error("camera {camera:?} has {queued} lines waiting (limit {limit}); retry later")]
    Full {
        /// The camera.
        camera: String,
        /// Lines waiting.
        queued: usize,
        /// The bound.
        limit: usize,
    },
    /// The pipeline is stopping (retry against a running one).
    #[error("camera {0:?} takes no pushes now: the pipeline is stopping")]
    Closed(String),
}

/// What a taken push did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Pushed {
    /// Frames queued for the pipeline (a frame behind its camera's watermark still goes to
    /// `errors` as `late` there).
    pub accepted: usize,
    /// Detections in those frames.
    pub detections: usize,
    /// Lines refused, each with its line number in the body; also written to `errors`.
    pub rejected: Vec<RejectedLine>,
}

/// A push camera as `GET /api/v1/cameras` shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PushStatus {
    /// The camera.
    pub camera_id: String,
    /// Lines taken and not yet read by the pipeline.
    pub queued_lines: usize,
    /// `[service] push_queue_lines`.
    pub queue_limit: usize,
    /// Whether pushes are taken now (false before the source starts and once it stops).
    pub accepting: bool,
    /// Valid frames pushed.
    pub frames: u64,
    /// Detections in them.
    pub detections: u64,
    /// Lines rejected.
    pub rejected: u64,
}

/// The push cameras of a pipeline and their queues. Cloning shares them.
#[derive(Clone, Debug)]
pub struct PushInlets {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The push cameras (cameras added or removed while the pipeline runs come and go here)
    /// and every other camera with its source label, for the 409 answer.
    cameras: RwLock<Cameras>,
    queue_lines: usize,
    max_delay_ms: u64,
    limits: InputConfig,
}

#[derive(Debug, Default)]
struct Cameras {
    inlets: BTreeMap<String, Arc<Inlet>>,
    others: BTreeMap<String, String>,
}

/// One push camera's queue.
#[derive(Debug)]
pub struct Inlet {
    camera: String,
    stats: Arc<FeedStats>,
    state: Mutex<InletState>,
}

#[derive(Default)]
struct InletState {
    /// The queue's sending end, from the inlet's creation (pushes made before the source
    /// operator starts wait in the queue); dropped when the inlet closes.
    tx: Option<Sender<Vec<SourceEvent>>>,
    /// The receiving end, until the source operator takes it.
    rx: Option<Receiver<Vec<SourceEvent>>>,
    activator: Option<SyncActivator>,
    /// Events sent and not yet taken by the operator.
    queued: usize,
    closed: bool,
}

impl std::fmt::Debug for InletState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InletState").field("queued", &self.queued).field("closed", &self.closed).finish_non_exhaustive()
    }
}

impl PushInlets {
    /// The inlets of `push` cameras (id, counters); `others` are the remaining cameras with their
    /// source labels.
    pub fn new(push: Vec<(String, Arc<FeedStats>)>, others: BTreeMap<String, String>, queue_lines: usize, max_delay_ms: u64) -> PushInlets {
        let inlets = push.into_iter().map(|(camera, stats)| (camera.clone(), Inlet::new(camera, stats))).collect();
        let cameras = RwLock::new(Cameras { inlets, others });
        PushInlets { inner: Arc::new(Inner { cameras, queue_lines: queue_lines.max(1), max_delay_ms, limits: InputConfig::default() }) }
    }

    /// With `[input]` limits on each pushed line (before the inlets are shared).
    pub fn with_limits(mut self, limits: InputConfig) -> PushInlets {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.limits = limits,
            None => tracing::warn!("push limits set after the inlets were shared: the defaults stay"),
        }
        self
    }

    fn cameras_read(&self) -> RwLockReadGuard<'_, Cameras> {
        self.inner.cameras.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The inlet of a push camera.
    pub fn inlet(&self, camera: &str) -> Option<Arc<Inlet>> {
        self.cameras_read().inlets.get(camera).cloned()
    }

    /// The push cameras' ids.
    pub fn cameras(&self) -> Vec<String> {
        self.cameras_read().inlets.keys().cloned().collect()
    }

    /// A push camera added while the pipeline runs: its inlet, to be attached by the source
    /// operator that starts its feed (pushes answer 503 until then).
    pub fn add(&self, camera: &str, stats: Arc<FeedStats>) -> Arc<Inlet> {
        let inlet = Inlet::new(camera.to_string(), stats);
        let mut cameras = self.inner.cameras.write().unwrap_or_else(|e| e.into_inner());
        cameras.others.remove(camera);
        cameras.inlets.insert(camera.to_string(), inlet.clone());
        inlet
    }

    /// A camera of another source added while the pipeline runs: a push to it is refused as
    /// not a push camera (409, naming `source`).
    pub fn add_other(&self, camera: &str, source: String) {
        self.inner.cameras.write().unwrap_or_else(|e| e.into_inner()).others.insert(camera.to_string(), source);
    }

    /// A camera removed while the pipeline runs: no push is taken from now on (404), and a
    /// push camera's feed ends once the source has taken what was queued.
    pub fn remove(&self, camera: &str) -> Option<Arc<Inlet>> {
        let mut cameras = self.inner.cameras.write().unwrap_or_else(|e| e.into_inner());
        cameras.others.remove(camera);
        let inlet = cameras.inlets.remove(camera)?;
        drop(cameras);
        inlet.close();
        Some(inlet)
    }

    /// Each push camera's queue and counters, for `GET /api/v1/cameras`.
    pub fn status(&self) -> Vec<PushStatus> {
        self.cameras_read()
            .inlets
            .values()
            .map(|i| {
                let state = i.lock();
                PushStatus {
                    camera_id: i.camera.clone(),
                    queued_lines: state.queued,
                    queue_limit: self.inner.queue_lines,
                    accepting: !state.closed,
                    frames: i.stats.frames.load(Ordering::Relaxed),
                    detections: i.stats.detections.load(Ordering::Relaxed),
                    rejected: i.stats.rejected.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// The lowest event time a push camera's watermark may have now (`now_ms − push_max_delay_ms`).
    pub fn floor(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.inner.max_delay_ms)
    }

    /// Takes the detections JSON Lines of `body` for `camera` (its endpoint: lines of other
    /// cameras are rejected), or for whichever push camera each line names (`None`: the
    /// ingest endpoint). See the module docs for the protocol.
    pub fn push(&self, camera: Option<&str>, body: &[u8]) -> Result<Pushed, PushError> {
        let inner = &*self.cameras_read();
        let queue_lines = self.inner.queue_lines;
        let (routes, home) = match camera {
            Some(c) => match inner.inlets.get(c) {
                Some(inlet) => (HashSet::from([c]), inlet.clone()),
                None => {
                    return Err(match inner.others.get(c) {
                        Some(source) => PushError::NotPush { camera: c.to_string(), reads: source.clone() },
                        None => PushError::UnknownCamera(c.to_string()),
                    });
                }
            },
            None => {
                let home = inner.inlets.values().next().cloned().ok_or(PushError::NoPushCamera)?;
                (inner.inlets.keys().map(String::as_str).collect(), home)
            }
        };
        let label: Arc<str> = PUSH_LABEL.into();
        let mut chunks: BTreeMap<&str, Vec<SourceEvent>> = BTreeMap::new();
        let mut answer = Pushed::default();
        let mut bytes: BTreeMap<&str, u64> = BTreeMap::new();
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let Some(event) = parse_line(raw, i as u64 + 1, &label, &routes, &self.inner.limits) else { continue };
            let to = match &event {
                SourceEvent::Frame(f, ..) => {
                    answer.accepted += 1;
                    answer.detections += f.detections.len();
                    inner.inlets.get_key_value(f.camera_id.as_str()).map_or(home.camera.as_str(), |(k, _)| k.as_str())
                }
                SourceEvent::Rejected(row, _) => {
                    answer.rejected.push(RejectedLine::from(row));
                    home.camera.as_str()
                }
                SourceEvent::Idle(_) => continue,
            };
            *bytes.entry(to).or_default() += raw.len() as u64 + 1;
            chunks.entry(to).or_default().push(event);
        }
        // Every inlet of the push is locked (in id order) before anything is sent: all or nothing.
        let mut held: Vec<(&Inlet, MutexGuard<'_, InletState>, Vec<SourceEvent>)> = Vec::with_capacity(chunks.len());
        for (cam, chunk) in chunks {
            let inlet = &**inner.inlets.get(cam).expect("routed to a push camera");
            if chunk.len() > queue_lines {
                return Err(PushError::TooManyLines { camera: cam.to_string(), lines: chunk.len(), limit: queue_lines });
            }
            let state = inlet.lock();
            if state.closed || state.tx.is_none() {
                return Err(PushError::Closed(cam.to_string()));
            }
            if state.queued + chunk.len() > queue_lines {
                return Err(PushError::Full { camera: cam.to_string(), queued: state.queued, limit: queue_lines });
            }
            held.push((inlet, state, chunk));
        }
        for (inlet, mut state, chunk) in held {
            let stats = &inlet.stats;
            let frames = chunk.iter().filter(|e| matches!(e, SourceEvent::Frame(..))).count();
            let dets: usize = chunk.iter().map(|e| if let SourceEvent::Frame(f, ..) = e { f.detections.len() } else { 0 }).sum();
            stats.frames.fetch_add(frames as u64, Ordering::Relaxed);
            stats.detections.fetch_add(dets as u64, Ordering::Relaxed);
            stats.rejected.fetch_add((chunk.len() - frames) as u64, Ordering::Relaxed);
            stats.bytes_read.fetch_add(bytes.get(inlet.camera.as_str()).copied().unwrap_or(0), Ordering::Relaxed);
            state.queued += chunk.len();
            let sent = state.tx.as_ref().is_some_and(|tx| tx.send(chunk).is_ok());
            debug_assert!(sent, "the operator closes the inlet before dropping its receiver");
            if let Some(a) = &state.activator {
                let _ = a.activate();
            }
        }
        Ok(answer)
    }
}

impl Inlet {
    fn new(camera: String, stats: Arc<FeedStats>) -> Arc<Inlet> {
        stats.waiting.store(true, Ordering::Release);
        let (tx, rx) = std::sync::mpsc::channel();
        Arc::new(Inlet { camera, stats, state: Mutex::new(InletState { tx: Some(tx), rx: Some(rx), ..InletState::default() }) })
    }

    fn lock(&self) -> MutexGuard<'_, InletState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source operator takes the queue (at its start; `None` the second time) and is
    /// woken by every push from then on.
    pub(super) fn attach(&self, activator: SyncActivator) -> Option<Receiver<Vec<SourceEvent>>> {
        let mut state = self.lock();
        if state.queued > 0 {
            let _ = activator.activate();
        }
        state.activator = Some(activator);
        state.rx.take()
    }

    /// The operator took `n` events.
    pub(super) fn release(&self, n: usize) {
        let mut state = self.lock();
        state.queued = state.queued.saturating_sub(n);
    }

    /// No push is taken from now on; what was sent stays in the channel for the operator.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.tx = None;
        self.stats.done.store(true, Ordering::Relaxed);
    }
}
