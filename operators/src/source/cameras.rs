//! Cameras changed while the pipeline runs: added (with their detections feed), their scene
//! changed (calibration, lines, zones, road length), or removed. [`CameraControl`] is the
//! handle the HTTP API holds; the source operators start and end the feeds, and the tracker
//! decides the event time each change takes effect at.
//!
//! # Protocol
//!
//! - **One decider of time.** A camera's changes reach the tracker operator of the worker that
//!   owns the camera ([`camera_route`]) through this book, and that tracker applies each at its
//!   input frontier `f` once it sees it: every frame of the camera before `f` has been tracked
//!   with the old scene, every frame at or after `f` is tracked with the new one. `f` is the
//!   change's `since_ms` ([`LiveCamera::since_ms`]). When the camera's calibration changes (its
//!   ground plane) or it is removed, the tracker ends its open tracks at `f` (their `Ended`
//!   rows); then it passes the change on as [`Tracked::Scene`] at `f`, so the queries behind it
//!   switch scenes at the same event time (tracks that go on keep their state in the lines and
//!   zones that stayed).
//! - **Adding** registers the camera and hands its feed to the source of the worker that owns
//!   it — a detections feed ([`FeedSpec`]) to the detections source, a video camera (by its
//!   configuration) to the video source — which starts it at the event time the pipeline has
//!   reached (frames before it are `late`).
//! - **Removing** ends the camera's input first: a push camera takes no push from then on and
//!   its source takes what was queued; any other camera is handed to its source as a stop
//!   ([`CameraControl::take_stops`]), which stops reading it (a video camera's ffmpeg ends; a
//!   detections file shared with other cameras reads on, its lines of the removed camera go to
//!   `errors` as `unknown_camera`). The source reports the newest event time it emitted for the
//!   camera, and the tracker applies the removal only once its frontier has passed it, so no
//!   frame that was taken is tracked after its camera ended.
//! - Once the pipeline has ended ([`CameraControl::end`]) no change is taken.
//!
//! [`Tracked::Scene`]: itscam_types::Tracked::Scene

use super::FeedSpec;
use itscam_types::camera_route;
use itscam_types::config::{CameraConfig, Source, SourceFamily};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use timely::scheduling::SyncActivator;

/// A camera of the running pipeline, as the API lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LiveCamera {
    /// Its configuration (`[[camera]]` as JSON).
    #[serde(flatten)]
    pub camera: CameraConfig,
    /// Event time from which this configuration applies (`null` until the tracker has taken
    /// it in; the start of the run for cameras of the config).
    pub since_ms: Option<u64>,
    /// Where it came from: `config` or `api`.
    #[schema(value_type = String, pattern = "^(config|api)$")]
    pub origin: &'static str,
    /// `true` while a removal waits for the camera's last frames.
    pub removing: bool,
}

/// A change waiting for its tracker.
#[derive(Clone, Debug)]
pub struct PendingChange {
    /// The camera.
    pub camera_id: String,
    /// Its new configuration; `None`: removed.
    pub camera: Option<CameraConfig>,
    /// For a removal: the newest event time emitted for the camera (`None`: not known yet, the
    /// feed has not ended). The tracker applies it once its frontier is past.
    pub after: Option<Option<u64>>,
    version: u64,
}

#[derive(Default)]
struct Book {
    cameras: BTreeMap<String, LiveCamera>,
    versions: BTreeMap<String, u64>,
    changes: Vec<PendingChange>,
    /// Detections feeds to start, with the worker whose source starts each.
    feeds: Vec<(usize, FeedSpec)>,
    /// Video cameras to start, with the worker whose video source starts each.
    videos: Vec<(usize, CameraConfig)>,
    /// Cameras whose input is to stop (not push cameras: their inlet closes), with the worker
    /// whose source reads each and the family of that source.
    stops: Vec<(usize, SourceFamily, String)>,
    trackers: BTreeMap<usize, SyncActivator>,
    /// Every source operator of a worker (detections, video).
    sources: BTreeMap<usize, Vec<SyncActivator>>,
    peers: usize,
    ended: bool,
    /// The highest input frontier a tracker has reported: the event time the pipeline reached.
    reached: u64,
    /// Cameras whose input ended (a file read to its end) with no removal pending: the newest
    /// event time emitted for each (0: none), which a later removal waits for.
    ended_feeds: BTreeMap<String, u64>,
    /// In a cluster: the workers of this process (`None`: every worker is). A camera owned by
    /// another process's worker is only listed here: its feed, its tracker and its removal
    /// are that process's ([`CameraControl::set_local_workers`]).
    local: Option<std::ops::Range<usize>>,
}

impl Book {
    fn is_local(&self, worker: usize) -> bool {
        self.local.as_ref().is_none_or(|r| r.contains(&worker))
    }
}

/// Why a camera change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CameraChangeError {
    /// A camera with that id exists (caller's input).
    #[error("a camera {0:?} exists; change it with PUT /api/v1/cameras/{0}")]
    Exists(String),
    /// No such camera (caller's input).
    #[error("no camera {0:?}")]
    NotFound(String),
    /// The camera is being removed (caller's input: wait for it).
    #[error("camera {0:?} is being removed")]
    Removing(String),
    /// The pipeline has ended or does not take camera changes (caller's input).
    #[error("the pipeline has ended: cameras can no longer change")]
    Ended,
}

/// The handle on the running pipeline's cameras. Cloning shares it.
#[derive(Clone, Default)]
pub struct CameraControl {
    book: Arc<Mutex<Book>>,
}

impl std::fmt::Debug for CameraControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraControl").finish_non_exhaustive()
    }
}

impl CameraControl {
    /// The book of a pipeline with `peers` workers and the cameras of its config (applying
    /// from the start).
    pub fn new(cameras: &[CameraConfig], peers: usize) -> CameraControl {
        let cameras = cameras
            .iter()
            .map(|c| (c.id.clone(), LiveCamera { camera: c.clone(), since_ms: Some(0), origin: "config", removing: false }))
            .collect();
        CameraControl { book: Arc::new(Mutex::new(Book { cameras, peers: peers.max(1), ..Book::default() })) }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live cameras, by id.
    pub fn list(&self) -> Vec<LiveCamera> {
        self.lock().cameras.values().cloned().collect()
    }

    /// One live camera.
    pub fn get(&self, id: &str) -> Option<LiveCamera> {
        self.lock().cameras.get(id).cloned()
    }

    /// The cameras' configurations (to validate a change against the rest of the pipeline).
    pub fn configs(&self) -> Vec<CameraConfig> {
        self.lock().cameras.values().map(|c| c.camera.clone()).collect()
    }

    /// Adds a camera (checked by the caller) with its detections feed; a video camera has none
    /// (`None`): the video source starts it from its configuration.
    pub fn add(&self, camera: CameraConfig, feed: Option<FeedSpec>) -> Result<(), CameraChangeError> {
        let mut book = self.lock();
        if book.ended {
            return Err(CameraChangeError::Ended);
        }
        let id = camera.id.clone();
        if book.cameras.contains_key(&id) {
            return Err(CameraChangeError::Exists(id));
        }
        book.cameras.insert(id.clone(), LiveCamera { camera: camera.clone(), since_ms: None, origin: "api", removing: false });
        let worker = owner(&id, book.peers);
        if !book.is_local(worker) {
            // Another process's worker owns it: that process starts its feed and its tracker
            // takes it in (here it is listed, `since_ms` unknown).
            return Ok(());
        }
        match feed {
            Some(feed) => book.feeds.push((worker, feed)),
            None => book.videos.push((worker, camera.clone())),
        }
        book.queue(id, Some(camera), None);
        book.wake_source(worker);
        Ok(())
    }

    /// Replaces a camera's scene (checked by the caller: same source); returns the old one.
    pub fn replace(&self, camera: CameraConfig) -> Result<CameraConfig, CameraChangeError> {
        let mut book = self.lock();
        if book.ended {
            return Err(CameraChangeError::Ended);
        }
        let id = camera.id.clone();
        let live = book.cameras.get_mut(&id).ok_or_else(|| CameraChangeError::NotFound(id.clone()))?;
        if live.removing {
            return Err(CameraChangeError::Removing(id));
        }
        let old = std::mem::replace(&mut live.camera, camera.clone());
        live.since_ms = None;
        book.queue(id, Some(camera), None);
        Ok(old)
    }

    /// Starts removing a camera: a push camera's inlet the caller closes; any other camera's
    /// source is told to stop reading it ([`CameraControl::take_stops`]). The removal applies
    /// once the source has reported its last frame ([`CameraControl::feed_ended`]). Returns its
    /// configuration.
    pub fn remove(&self, id: &str) -> Result<CameraConfig, CameraChangeError> {
        let mut book = self.lock();
        if book.ended {
            return Err(CameraChangeError::Ended);
        }
        let live = book.cameras.get_mut(id).ok_or_else(|| CameraChangeError::NotFound(id.to_string()))?;
        if live.removing {
            return Err(CameraChangeError::Removing(id.to_string()));
        }
        live.removing = true;
        let camera = live.camera.clone();
        if !book.is_local(owner(id, book.peers)) {
            // Another process's worker owns it: that process stops its input and its tracker
            // ends it; here it is gone at once (with the changes waiting for that tracker).
            book.cameras.remove(id);
            book.versions.remove(id);
            book.changes.retain(|c| c.camera_id != id);
            return Ok(camera);
        }
        if let Some(newest) = book.ended_feeds.remove(id) {
            // Its input has ended: nothing to stop, the last frame is known.
            book.queue(id.to_string(), None, Some(Some(newest)));
        } else {
            book.queue(id.to_string(), None, Some(None));
        }
        if camera.source != Source::Push && book.changes.last().is_some_and(|c| c.after == Some(None)) {
            let worker = owner(id, book.peers);
            book.stops.push((worker, camera.source.family(), id.to_string()));
            book.wake_source(worker);
        }
        Ok(camera)
    }

    /// In a cluster: this process runs workers `workers` of the cluster's `peers` (the book's).
    pub fn set_local_workers(&self, workers: std::ops::Range<usize>) {
        self.lock().local = Some(workers);
    }

    /// The event time the pipeline has reached (the highest tracker frontier seen): a change
    /// made now takes effect at or after it.
    pub fn reached_ms(&self) -> u64 {
        self.lock().reached
    }

    /// No change is taken from now on (the pipeline stops).
    pub fn end(&self) {
        self.lock().ended = true;
    }

    // --- the operators' side ---

    /// Registers worker `index`'s tracker, woken when a change for one of its cameras comes.
    pub fn register_tracker(&self, index: usize, activator: SyncActivator) {
        self.lock().trackers.insert(index, activator);
    }

    /// Registers a source operator of worker `index`, woken when it has a feed to start or stop.
    pub fn register_source(&self, index: usize, activator: SyncActivator) {
        self.lock().sources.entry(index).or_default().push(activator);
    }

    /// Feeds worker `index`'s source is to start.
    pub fn take_feeds(&self, index: usize) -> Vec<FeedSpec> {
        let mut book = self.lock();
        let (mine, others) = std::mem::take(&mut book.feeds).into_iter().partition(|(w, _)| *w == index);
        book.feeds = others;
        mine.into_iter().map(|(_, f)| f).collect()
    }

    /// Video cameras worker `index`'s video source is to start.
    pub fn take_videos(&self, index: usize) -> Vec<CameraConfig> {
        let mut book = self.lock();
        let (mine, others) = std::mem::take(&mut book.videos).into_iter().partition(|(w, _)| *w == index);
        book.videos = others;
        mine.into_iter().map(|(_, c)| c).collect()
    }

    /// Cameras whose input worker `index`'s source of `family` is to stop reading (it then
    /// reports each with [`CameraControl::feed_ended`]). The detections source takes those of
    /// files, stdin and Kafka; the video source those of video.
    pub fn take_stops(&self, index: usize, video: bool) -> Vec<String> {
        let mut book = self.lock();
        let wanted = |family: SourceFamily| (family == SourceFamily::Video) == video;
        let (mine, others) = std::mem::take(&mut book.stops).into_iter().partition(|(w, f, _)| *w == index && wanted(*f));
        book.stops = others;
        mine.into_iter().map(|(_, _, id)| id).collect()
    }

    /// A feed of `cameras` ended; `newest`: the newest event time it emitted (`None`: none).
    pub fn feed_ended(&self, cameras: &[String], newest: Option<u64>) {
        let mut book = self.lock();
        let mut wake = Vec::new();
        for change in book.changes.iter_mut().filter(|c| c.camera.is_none() && cameras.contains(&c.camera_id)) {
            if change.after == Some(None) {
                change.after = Some(Some(newest.unwrap_or(0)));
                wake.push(change.camera_id.clone());
            }
        }
        for id in cameras.iter().filter(|id| !wake.contains(id)) {
            book.ended_feeds.insert(id.clone(), newest.unwrap_or(0));
        }
        for id in wake {
            let worker = owner(&id, book.peers);
            book.wake_tracker(worker);
        }
    }

    /// The changes worker `index`'s tracker (of `peers`) can apply at its input frontier
    /// `frontier`, in the order they were made; a removal whose last frame is not past yet
    /// stays, and so does every later change of its camera.
    pub fn take_changes(&self, index: usize, peers: usize, frontier: u64) -> Vec<PendingChange> {
        let mut book = self.lock();
        book.reached = book.reached.max(frontier);
        let mut taken = Vec::new();
        let mut blocked: Vec<String> = Vec::new();
        let mut kept = Vec::new();
        for change in std::mem::take(&mut book.changes) {
            let mine = owner(&change.camera_id, peers) == index;
            let ready = match change.after {
                None => true,
                Some(Some(after)) => frontier > after,
                Some(None) => false,
            };
            if mine && ready && !blocked.contains(&change.camera_id) {
                taken.push(change);
            } else {
                if mine {
                    blocked.push(change.camera_id.clone());
                }
                kept.push(change);
            }
        }
        book.changes = kept;
        taken
    }

    /// The tracker applied `change` at event time `since_ms`.
    pub fn applied(&self, change: &PendingChange, since_ms: u64) {
        let mut book = self.lock();
        if book.versions.get(&change.camera_id) != Some(&change.version) {
            return; // a later change of the camera is on its way
        }
        match &change.camera {
            Some(_) => {
                if let Some(live) = book.cameras.get_mut(&change.camera_id) {
                    live.since_ms = Some(since_ms);
                }
            }
            None => {
                book.cameras.remove(&change.camera_id);
                book.ended_feeds.remove(&change.camera_id);
            }
        }
    }
}

impl Book {
    fn queue(&mut self, camera_id: String, camera: Option<CameraConfig>, after: Option<Option<u64>>) {
        let version = self.versions.get(&camera_id).map_or(1, |v| v + 1);
        self.versions.insert(camera_id.clone(), version);
        let worker = owner(&camera_id, self.peers);
        self.changes.push(PendingChange { camera_id, camera, after, version });
        self.wake_tracker(worker);
    }

    fn wake_tracker(&self, worker: usize) {
        if let Some(a) = self.trackers.get(&worker) {
            let _ = a.activate();
        }
    }

    fn wake_source(&self, worker: usize) {
        for a in self.sources.get(&worker).into_iter().flatten() {
            let _ = a.activate();
        }
    }
}

/// The worker that owns a camera: where the exchange by camera sends its frames.
fn owner(camera: &str, peers: usize) -> usize {
    (camera_route(camera) % peers.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::config::Source;

    fn camera(id: &str) -> CameraConfig {
        CameraConfig {
            id: id.into(),
            source: Source::Push,
            pacing: Default::default(),
            start_ms: None,
            calibration: None,
            road_length_m: None,
            line: Vec::new(),
            zone: Vec::new(),
            approach: Vec::new(),
            crosswalk: Vec::new(),
            model: None,
            blur: None,
        }
    }

    fn feed(id: &str) -> FeedSpec {
        FeedSpec { source: Source::Push, cameras: vec![id.into()], stats: Arc::default(), kafka: None, push: None, limits: Default::default() }
    }

    /// A removal waits for its camera's last frame, and the camera's later changes wait
    /// behind it; other cameras' changes do not.
    #[test]
    fn a_removal_waits_for_the_last_frame_and_holds_its_camera_back() {
        let control = CameraControl::new(&[camera("a")], 1);
        control.remove("a").unwrap();
        control.add(camera("b"), Some(feed("b"))).unwrap();
        let taken = control.take_changes(0, 1, 100);
        assert_eq!(taken.iter().map(|c| c.camera_id.as_str()).collect::<Vec<_>>(), ["b"]);
        control.applied(&taken[0], 100);
        assert_eq!(control.get("b").unwrap().since_ms, Some(100));
        assert!(matches!(control.add(camera("a"), Some(feed("a"))), Err(CameraChangeError::Exists(_))));
        control.feed_ended(&["a".into()], Some(250));
        assert!(control.take_changes(0, 1, 250).is_empty(), "the frontier has not passed the last frame");
        let taken = control.take_changes(0, 1, 251);
        assert_eq!(taken.len(), 1);
        control.applied(&taken[0], 251);
        assert!(control.get("a").is_none());
        assert_eq!(control.take_feeds(0).len(), 1, "b's feed waits for the source");
        control.end();
        assert!(matches!(control.replace(camera("b")), Err(CameraChangeError::Ended)));
    }

    /// A removed camera's input is stopped by the source of its family (a push camera's inlet
    /// is closed by the caller instead), and a camera whose input ended already is removed at
    /// its last frame without a stop.
    #[test]
    fn a_removal_stops_the_input_of_the_right_source_unless_it_ended() {
        let video = CameraConfig { source: Source::Rtsp("rtsp://cam/1".into()), ..camera("v") };
        let file = CameraConfig { source: Source::DetectionsFile("f.jsonl".into()), ..camera("f") };
        let control = CameraControl::new(&[camera("p"), file], 1);
        control.add(video.clone(), None).unwrap();
        assert_eq!(control.take_videos(0), vec![video]);
        control.feed_ended(&["f".into()], Some(500));
        for id in ["p", "v", "f"] {
            control.remove(id).unwrap();
        }
        assert_eq!(control.take_stops(0, false), Vec::<String>::new(), "p is a push camera, f has ended");
        assert_eq!(control.take_stops(0, true), vec!["v".to_string()]);
        let taken: Vec<String> = control.take_changes(0, 1, 501).into_iter().map(|c| c.camera_id).collect();
        assert_eq!(taken, ["v", "f"], "v's add and f's removal (past its last frame); p's and v's removals wait for their last frames");
    }

    /// With two workers each tracker takes only the changes of the cameras it owns.
    #[test]
    fn each_tracker_takes_its_own_cameras() {
        let control = CameraControl::new(&[], 2);
        let ids: Vec<String> = (0..8).map(|i| format!("cam-{i}")).collect();
        for id in &ids {
            control.add(camera(id), Some(feed(id))).unwrap();
        }
        let (mut zero, mut one) = (control.take_changes(0, 2, 0), control.take_changes(1, 2, 0));
        assert_eq!(zero.len() + one.len(), 8);
        assert!(zero.iter().all(|c| owner(&c.camera_id, 2) == 0) && one.iter().all(|c| owner(&c.camera_id, 2) == 1));
        zero.append(&mut one);
        assert!(!zero.is_empty());
    }
}
