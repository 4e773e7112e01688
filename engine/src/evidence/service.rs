//! The evidence thread: frames into rings, tracks into the store, violations into evidence in
//! the lake. Its loop takes what the workers handed over (waking at least every 100 ms), makes
//! the evidence of every violation whose clip is complete, uploads it, and commits what was
//! uploaded every `commit_interval_ms`. When the workers' graph ends (every sender dropped) it
//! makes the evidence of every waiting violation with the frames there are, commits, and ends.
//! Uploads that fail (the lake unreachable) are kept, up to `max_pending` violations, and tried
//! again every loop; past that the oldest are dropped with an error. Violations waiting for
//! their clip are bounded apart ([`MAX_WAITING`]): one is a row, not pictures.

use super::build::{Cut, evidence};
use super::ring::{FrameRing, RingFrame};
use super::tracks::TrackStore;
use super::{Event, EvidenceTaps, EvidenceView};
use bytes::Bytes;
use itscam_imaging::scene::{Mark, Scene};
use itscam_imaging::{Color, Rgb, codec, privacy};
use itscam_sinks::{Change, FileEntry, Lake};
use itscam_types::VideoFrame;
use itscam_types::analytics::ViolationRow;
use itscam_types::config::{Blur, EvidenceConfig, PipelineConfig};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Messages the channel holds before the workers' sends are refused (counted).
pub(super) const CHANNEL: usize = 1_024;
/// Violations the service's own channel holds.
const VIOLATIONS: usize = 65_536;
/// Raw frames waiting for their detections.
const MAX_RAW: usize = 64;
/// Violations waiting for their clip's frames at once (rows: with a fast replay of many
/// cameras the readers' lead holds hundreds).
const MAX_WAITING: usize = 16_384;
/// Violations uploaded at once.
const UPLOADS: usize = 16;
/// Violation ids remembered to make each one's evidence once.
const MAX_SEEN: usize = 100_000;
/// A camera whose frames (or tracks) have not advanced for this long has stopped or ended:
/// its waiting violations get their evidence with the frames there are.
const IDLE: Duration = Duration::from_secs(2);

/// The evidence counters (`/metrics`: `itscam_evidence_*`).
#[derive(Debug, Default)]
pub struct EvidenceCounters {
    /// Frames kept in the rings.
    pub frames_kept: Counter,
    /// Frames not kept because the service was behind.
    pub frames_dropped: Counter,
    /// Track points not kept because the service was far behind.
    pub points_dropped: Counter,
    /// Violations whose evidence was committed.
    pub written: Counter,
    /// Objects committed.
    pub objects: Counter,
    /// Bytes committed.
    pub bytes: Counter,
    /// Violations that got no evidence (service behind, too many waiting, uploads failing).
    pub dropped: Counter,
    /// Violations waiting for their clip's frames or an upload.
    pub pending: Gauge,
}

/// The newest annotated frame of a camera, for `GET /api/v1/cameras/{id}/frame`.
#[derive(Clone, Debug)]
pub(crate) struct Latest {
    pub frame: RingFrame,
    pub marks: Vec<Mark>,
}

/// What the workers, the thread and the API share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub step_ms: u64,
    pub quality: u8,
    pictures: RwLock<HashSet<Arc<str>>>,
    pub counters: EvidenceCounters,
    pub latest: Mutex<HashMap<Arc<str>, Latest>>,
    pub scenes: RwLock<HashMap<String, Scene>>,
    /// Messages sent and not yet taken.
    pub backlog: std::sync::atomic::AtomicUsize,
    /// Their bytes ([`Event::weight`]).
    pub backlog_bytes: std::sync::atomic::AtomicUsize,
    /// Each camera's privacy; cameras not listed get `default_blur`.
    pub blur: RwLock<HashMap<String, Blur>>,
    pub default_blur: Blur,
    /// Warnings about violations that get no evidence, at most one per 10 s.
    pub drops: super::drop_log::DropLog,
}

impl Shared {
    fn new(config: &PipelineConfig) -> Shared {
        let c = &config.evidence;
        Shared {
            step_ms: c.ring_step_ms(),
            quality: c.jpeg_quality,
            pictures: RwLock::default(),
            counters: EvidenceCounters::default(),
            latest: Mutex::default(),
            backlog: Default::default(),
            backlog_bytes: Default::default(),
            scenes: RwLock::new(config.camera.iter().map(|cam| (cam.id.clone(), scene_of(cam))).collect()),
            blur: RwLock::new(config.camera.iter().filter_map(|cam| cam.blur.map(|b| (cam.id.clone(), b))).collect()),
            default_blur: c.blur,
            drops: super::drop_log::DropLog::new(Duration::from_secs(10)),
        }
    }

    /// A message of `weight` bytes was sent.
    pub fn sent(&self, weight: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.backlog.fetch_add(1, Relaxed);
        self.backlog_bytes.fetch_add(weight, Relaxed);
    }

    /// A message of `weight` bytes was taken.
    fn taken(&self, weight: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.backlog.fetch_sub(1, Relaxed);
        self.backlog_bytes.fetch_sub(weight, Relaxed);
    }

    pub fn blur_of(&self, camera: &str) -> Blur {
        self.blur.read().ok().and_then(|b| b.get(camera).copied()).unwrap_or(self.default_blur)
    }

    pub fn mark_pictures(&self, camera: &Arc<str>) {
        if !self.has_pictures(camera)
            && let Ok(mut p) = self.pictures.write()
        {
            p.insert(camera.clone());
        }
    }

    pub fn has_pictures(&self, camera: &str) -> bool {
        self.pictures.read().is_ok_and(|p| p.contains(camera))
    }
}

/// The running evidence service of a run.
pub struct Evidence {
    thread: std::thread::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Evidence")
    }
}

/// A camera's lines and zones as drawn on its pictures.
pub(crate) fn scene_of(camera: &itscam_types::config::CameraConfig) -> Scene {
    let p = |q: &[f64; 2]| [q[0] as f32, q[1] as f32];
    Scene {
        width: 0,
        height: 0,
        lines: camera.line.iter().filter(|l| l.points.len() >= 2).map(|l| (l.id.clone(), p(&l.points[0]), p(&l.points[1]))).collect(),
        zones: camera.zone.iter().map(|z| (z.id.clone(), z.polygon.iter().map(p).collect())).collect(),
    }
}

impl Evidence {
    /// Starts the service of `config` (`None` when `[evidence] enabled = false`): uploads and
    /// commits go to `lake` as `run_id`, through a runtime of the service's own.
    ///
    /// Its own runtime and `lake` (a [`Lake`] opened for it, with its own connections): a
    /// local lake's puts each take a thread of the runtime's blocking pool, and the sinks'
    /// writer hands its workers over to that pool's threads while it encodes a file
    /// (`block_in_place`). Sharing the pool grew it to ~55 threads under a 100-camera replay,
    /// the writer's large row buffers were allocated and freed across all of them, and the
    /// process's RSS climbed with the run (1.6 GB after 20 simulated minutes of 100 cameras,
    /// the live heap ~0.5 GB); apart, 0.85–0.95 GB. This pool is bounded by the uploads at once.
    pub fn start(config: &PipelineConfig, lake: Lake, run_id: &str) -> anyhow::Result<Option<(Evidence, EvidenceTaps)>> {
        let c = &config.evidence;
        if !c.enabled {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(UPLOADS)
            .thread_name("itscam-evidence-io")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared::new(config));
        let (tx, rx) = sync_channel(CHANNEL);
        let (violations, violations_rx) = sync_channel(VIOLATIONS);
        let service = Service {
            rx,
            violations: violations_rx,
            shared: shared.clone(),
            rings: HashMap::new(),
            raw: VecDeque::new(),
            tracks: TrackStore::default(),
            jobs: VecDeque::new(),
            seen: (HashSet::new(), VecDeque::new()),
            config: c.clone(),
            span_ms: c.clip_before_ms + c.clip_after_ms + config.source_lead_ms(),
            lake,
            runtime,
            run_id: format!("evidence-{run_id}"),
            unsent: VecDeque::new(),
            uncommitted: Vec::new(),
            last_commit: Instant::now(),
            advanced: HashMap::new(),
            decoded: None,
        };
        let thread = std::thread::Builder::new().name("itscam-evidence".into()).spawn(move || service.run())?;
        Ok(Some((Evidence { thread, shared: shared.clone() }, EvidenceTaps { tx, violations, shared })))
    }

    /// What the HTTP API reads.
    pub fn view(&self) -> EvidenceView {
        EvidenceView { shared: self.shared.clone() }
    }

    /// Waits for the service to end (after every [`EvidenceTaps`] is dropped): every waiting
    /// violation's evidence made and committed.
    pub fn finish(self) {
        if self.thread.join().is_err() {
            tracing::error!("evidence: the evidence thread panicked");
        }
    }
}

struct Job {
    violation: ViolationRow,
    since: Instant,
}

struct Service {
    rx: Receiver<Event>,
    violations: Receiver<Event>,
    shared: Arc<Shared>,
    rings: HashMap<Arc<str>, FrameRing>,
    raw: VecDeque<VideoFrame>,
    tracks: TrackStore,
    jobs: VecDeque<Job>,
    seen: (HashSet<String>, VecDeque<String>),
    config: EvidenceConfig,
    span_ms: u64,
    lake: Lake,
    /// The service's own (see [`Evidence::start`]).
    runtime: tokio::runtime::Runtime,
    run_id: String,
    /// Evidence made and not uploaded yet (the lake failed): violation id, objects.
    unsent: VecDeque<(String, Vec<(String, Bytes)>)>,
    uncommitted: Vec<FileEntry>,
    last_commit: Instant,
    /// When each camera's frames or tracks last advanced (wall clock).
    advanced: HashMap<Arc<str>, Instant>,
    /// The ring frame last decoded for a snapshot.
    decoded: super::build::Decoded,
}

impl Service {
    fn run(mut self) {
        loop {
            let (open, mut caught_up) = match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(event) => {
                    self.take(event);
                    // Whatever else is there, up to a bound, before the slower work.
                    let mut empty = false;
                    for _ in 0..256 {
                        match self.rx.try_recv() {
                            Ok(event) => self.take(event),
                            Err(_) => {
                                empty = true;
                                break;
                            }
                        }
                    }
                    (true, empty)
                }
                Err(RecvTimeoutError::Timeout) => (true, true),
                Err(RecvTimeoutError::Disconnected) => (false, true),
            };
            caught_up |= !open;
            // Violations once the track points and frames sent before them are in.
            while caught_up && let Ok(event) = self.violations.try_recv() {
                self.handle(event);
            }
            if !open {
                break;
            }
            self.make_ready(false);
            self.upload();
            self.commit(false);
        }
        while let Ok(event) = self.violations.try_recv() {
            self.handle(event);
        }
        self.make_ready(true);
        self.upload();
        self.commit(true);
        if !self.unsent.is_empty() {
            tracing::error!(violations = self.unsent.len(), "evidence: the lake did not take the evidence of these violations; it is lost");
        }
    }

    fn take(&mut self, event: Event) {
        self.shared.taken(event.weight());
        self.handle(event);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Frame(frame) => {
                if self.raw.len() >= MAX_RAW {
                    self.raw.pop_front();
                    self.shared.counters.frames_dropped.inc();
                }
                self.raw.push_back(frame);
            }
            Event::Detected(batch) => {
                for (camera, frame_no, boxes) in batch {
                    if let Some(i) = self.raw.iter().position(|f| f.camera_id == camera && f.frame == frame_no) {
                        let frame = self.raw.remove(i).expect("found");
                        self.keep(frame, boxes);
                    }
                }
            }
            Event::Tracked(batch) => {
                // Each camera's newest point (batches come grouped by camera).
                let mut newest: Vec<(Arc<str>, u64)> = Vec::new();
                for o in &batch {
                    match newest.last_mut() {
                        Some((camera, t)) if Arc::ptr_eq(camera, &o.camera_id) => *t = (*t).max(o.point.ts_ms),
                        _ => newest.push((o.camera_id.clone(), o.point.ts_ms)),
                    }
                }
                self.tracks.add(batch);
                for (camera, ts) in newest {
                    self.annotate_latest(&camera, ts);
                    self.advanced.insert(camera, Instant::now());
                }
            }
            Event::Violation(v) => {
                if !self.first_time(&v.violation_id) {
                    return;
                }
                // Waiting for its clip a violation is a row; made and not uploaded (the lake
                // unreachable), its pictures: bounded apart.
                if self.jobs.len() >= MAX_WAITING || self.unsent.len() >= self.config.max_pending {
                    self.shared.counters.dropped.inc();
                    if let Some(more) = self.shared.drops.note() {
                        tracing::warn!(violation = %v.violation_id, waiting = self.jobs.len(), max_waiting = MAX_WAITING, unsent = self.unsent.len(), max_pending = self.config.max_pending, more_since_last_warning = more, "evidence: too many violations wait for evidence; this one gets none (at most one warning per 10 s; every one is counted in itscam_evidence_dropped_total)");
                    }
                    return;
                }
                self.jobs.push_back(Job { violation: *v, since: Instant::now() });
                self.shared.counters.pending.set(self.jobs.len() as i64);
            }
        }
    }

    fn first_time(&mut self, id: &str) -> bool {
        let (set, order) = &mut self.seen;
        if !set.insert(id.to_string()) {
            return false;
        }
        order.push_back(id.to_string());
        if order.len() > MAX_SEEN
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }

    /// Pixelates the people of `frame` (when its camera's privacy asks), codes it and keeps it.
    fn keep(&mut self, frame: VideoFrame, boxes: Vec<(itscam_types::ObjectClass, itscam_imaging::BoxPx)>) {
        let Some(mut img) = Rgb::from_slice(frame.width, frame.height, &frame.rgb) else { return };
        if self.shared.blur_of(&frame.camera_id) == Blur::Persons {
            for (_, b) in boxes.iter().filter(|(class, _)| class.0 == 0) {
                privacy::pixelate(&mut img, *b);
            }
        }
        let jpeg = match codec::encode_jpeg(&img, self.config.jpeg_quality) {
            Ok(j) => Bytes::from(j),
            Err(e) => {
                tracing::warn!(error = %e, camera = %frame.camera_id, "evidence: a frame could not be coded");
                return;
            }
        };
        let kept = RingFrame { ts_ms: frame.ts_ms, frame: frame.frame, width: frame.width, height: frame.height, jpeg, boxes };
        let max_bytes = (self.config.ring_mb * 1024 * 1024) as usize;
        let span = self.span_ms;
        self.rings.entry(frame.camera_id.clone()).or_insert_with(|| FrameRing::new(max_bytes, span)).push(kept.clone());
        self.shared.counters.frames_kept.inc();
        self.advanced.insert(frame.camera_id.clone(), Instant::now());
        if let Ok(mut latest) = self.shared.latest.lock() {
            // Before its tracks come, the newest frame shows the detector's boxes.
            let stale = latest.get(&frame.camera_id).is_none_or(|l| l.marks.is_empty() || l.frame.ts_ms + 5_000 < kept.ts_ms);
            if stale {
                let marks = kept.boxes.iter().map(|(c, b)| Mark { bbox: *b, label: c.name().to_string(), color: Color::GREEN, bold: false }).collect();
                latest.insert(frame.camera_id, super::service::Latest { frame: kept, marks });
            }
        }
    }

    /// The camera's newest frame with tracks, annotated with them.
    fn annotate_latest(&self, camera: &Arc<str>, ts: u64) {
        let Some(frame) = self.rings.get(camera).and_then(|r| r.nearest(ts)) else { return };
        if frame.ts_ms.abs_diff(ts) > self.shared.step_ms {
            return;
        }
        let marks: Vec<Mark> = self
            .tracks
            .at(camera, frame.ts_ms)
            .into_iter()
            .map(|(id, class, p)| {
                let speed = p.speed_kmh.map(|s| format!(" {s:.0} km/h")).unwrap_or_default();
                Mark { bbox: p.bbox, label: format!("#{id} {}{speed}", class.name()), color: Color::GREEN, bold: false }
            })
            .collect();
        if let Ok(mut latest) = self.shared.latest.lock() {
            latest.insert(camera.clone(), Latest { frame: frame.clone(), marks });
        }
    }

    /// Makes the evidence of every violation whose clip is complete (all of them when
    /// `closing`).
    fn make_ready(&mut self, closing: bool) {
        let max_wait = Duration::from_millis(self.config.max_wait_ms);
        let cut = Cut { before_ms: self.config.clip_before_ms, after_ms: self.config.clip_after_ms, quality: self.config.jpeg_quality };
        let mut waiting = VecDeque::with_capacity(self.jobs.len());
        while let Some(job) = self.jobs.pop_front() {
            let v = &job.violation;
            let ring = self.rings.get(v.camera_id.as_str());
            let reached = match ring.and_then(|r| r.latest()) {
                Some(latest) => latest.ts_ms,
                None => self.tracks.latest_ts(&v.camera_id).unwrap_or(0),
            };
            // A camera not seen yet is not idle: its track points are on their way.
            let idle = self.advanced.get(v.camera_id.as_str()).is_some_and(|t| t.elapsed() >= IDLE);
            if !(closing || idle || job.since.elapsed() >= max_wait || reached >= v.ts_end_ms + cut.after_ms) {
                waiting.push_back(job);
                continue;
            }
            let scene = self.shared.scenes.read().ok().and_then(|s| s.get(&v.camera_id).cloned()).unwrap_or_default();
            let objects = evidence(v, ring, &self.tracks, &scene, cut, &mut self.decoded);
            if objects.is_empty() {
                self.shared.counters.dropped.inc();
                tracing::warn!(violation = %v.violation_id, "evidence: nothing of this violation was seen (no frame, no track point)");
                continue;
            }
            self.unsent.push_back((v.violation_id.clone(), objects));
        }
        self.jobs = waiting;
        self.shared.counters.pending.set((self.jobs.len() + self.unsent.len()) as i64);
    }

    /// Uploads what was made, oldest first, [`UPLOADS`] violations at a time (their objects one
    /// after the other, the violations concurrently); stops at the first failure in that order
    /// (it and those after it are tried again next loop: a put of the same bytes to the same
    /// path again is harmless).
    fn upload(&mut self) {
        while !self.unsent.is_empty() {
            let batch: Vec<Vec<(String, Bytes)>> = self.unsent.iter().take(UPLOADS * 4).map(|(_, objects)| objects.clone()).collect();
            let lake = self.lake.clone();
            let results: Vec<Result<Vec<FileEntry>, itscam_sinks::SinkError>> = self.runtime.block_on(async move {
                use futures::stream::StreamExt;
                futures::stream::iter(batch.into_iter().map(|objects| {
                    let lake = lake.clone();
                    async move {
                        let mut entries = Vec::with_capacity(objects.len());
                        for (path, bytes) in objects {
                            let size = bytes.len() as u64;
                            lake.put_file(&lake.path_of(&path), bytes).await?;
                            entries.push(FileEntry { table: itscam_sinks::EVIDENCE_TABLE.to_string(), path, rows: 0, bytes: size });
                        }
                        Ok(entries)
                    }
                }))
                .buffered(UPLOADS)
                .collect()
                .await
            });
            for result in results {
                match result {
                    Ok(entries) => {
                        self.uncommitted.extend(entries);
                        self.shared.counters.written.inc();
                        self.unsent.pop_front();
                    }
                    Err(e) => {
                        let id = self.unsent.front().map(|(id, _)| id.clone()).unwrap_or_default();
                        tracing::warn!(error = %e, violation = %id, "evidence: the lake did not take the evidence; trying again");
                        if self.unsent.len() > self.config.max_pending {
                            self.unsent.pop_front();
                            self.shared.counters.dropped.inc();
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Commits what was uploaded, when the interval has passed (or `now`).
    fn commit(&mut self, now: bool) {
        let due = now || self.last_commit.elapsed() >= Duration::from_millis(self.config.commit_interval_ms);
        if self.uncommitted.is_empty() || !due {
            return;
        }
        let change = Change { run_id: self.run_id.clone(), added: self.uncommitted.clone(), ..Change::default() };
        match self.runtime.block_on(self.lake.publish(&change, None)) {
            Ok(_) => {
                self.shared.counters.objects.inc_by(self.uncommitted.len() as u64);
                self.shared.counters.bytes.inc_by(self.uncommitted.iter().map(|f| f.bytes).sum());
                self.uncommitted.clear();
                self.last_commit = Instant::now();
            }
            Err(e) => tracing::warn!(error = %e, files = self.uncommitted.len(), "evidence: the commit failed; trying again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::tracks::Obs;
    use itscam_imaging::trajectory::TrackPoint;

    fn points(n: usize) -> Vec<itscam_types::DetectionRow> {
        let camera: Arc<str> = "c".into();
        (0..n)
            .map(|i| itscam_types::DetectionRow {
                camera_id: camera.clone(),
                ts_ms: i as u64,
                frame: i as u64,
                track_id: Some(i as u64 % 50),
                class: itscam_types::ObjectClass(2),
                confidence: 0.9,
                x1: 0.0,
                y1: 0.0,
                x2: 0.0,
                y2: 0.0,
                ground_x: None,
                ground_y: None,
                speed_kmh: None,
                frame_size: [640, 480],
                model_version: None,
            })
            .collect()
    }

    #[test]
    fn the_sources_pause_on_the_bytes_waiting_not_only_on_the_messages() {
        let shared = Arc::new(Shared::new(&PipelineConfig::default()));
        let (tx, rx) = sync_channel(CHANNEL);
        let (violations, _violations_rx) = sync_channel(1);
        let taps = EvidenceTaps { tx, violations, shared: shared.clone() };
        let backlog = taps.backlog();
        let mut tap = taps.tracked_tap();
        // One message, far under half the channel's messages, but over the byte budget.
        let many = super::super::BACKLOG_BYTES / std::mem::size_of::<Obs>() + 1;
        tap.hand_over(&points(many));
        assert_eq!(shared.backlog.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(backlog.behind(), "{many} points wait: the sources pause");
        let Ok(event) = rx.try_recv() else { panic!("the points were sent") };
        let Event::Tracked(got) = &event else { panic!("track points") };
        assert_eq!(got.len(), many);
        assert_eq!(got[1].point, TrackPoint { ts_ms: 1, bbox: [0.0; 4], speed_kmh: None });
        shared.taken(event.weight());
        assert!(!backlog.behind(), "taken: the sources go on");
        tap.hand_over(&points(10));
        assert!(!backlog.behind(), "a small batch waits without a pause");
    }
}
