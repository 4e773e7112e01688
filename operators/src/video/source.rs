//! The video source operator: one reader thread per camera (see `reader`) feeds decoded frames
//! through a bounded channel; the worker only moves them into the dataflow.
//!
//! Time: each camera holds its own capability. A frame is emitted at its `ts_ms` and the
//! capability follows the newest `ts_ms`. A live camera that is connecting or reconnecting
//! advances its capability by wall clock (`now − lateness_ms`, every [`TICK`]), so a dead
//! camera never holds back the others; a camera that ends (file done, given up) drops it.

use super::health::{CameraStatus, CameraStatuses};
use super::reader::{self, ReaderEvent, ReaderHandle};
use super::spec::{LiveCameras, VideoFeedSpec, VideoOptions};
use crate::source::SourceControl;
use crate::source::cameras::CameraControl;
use itscam_types::config::CameraConfig;
use itscam_types::time::now_ms;
use itscam_types::{CameraHealth, ErrorKind, ErrorRow, VideoFrame};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TryRecvError;
use std::time::Duration;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};
use timely::scheduling::SyncActivator;

/// Decoded frames, and the failures of the feeds (`errors` rows: a file that cannot be opened,
/// a camera given up, a live frame behind its watermark).
pub type VideoStreams<'s> = (Stream<'s, u64, Vec<VideoFrame>>, Stream<'s, u64, Vec<ErrorRow>>);

/// How often the operator wakes without input: wall-clock advance of cameras that are down,
/// and the stop flag.
pub const TICK: Duration = Duration::from_millis(200);
/// Frames taken per activation before yielding the worker.
const MAX_FRAMES_PER_ACTIVATION: usize = 32;

/// Video cameras added and removed while the pipeline runs (`itscam serve`): the book of camera
/// changes (see [`crate::source::cameras`]), the options an added camera's feed gets, and the
/// registries it joins. With them the source stays alive until the stop, holding a capability
/// at `now − lateness_ms` (once every feed has its own) from which added feeds start.
#[derive(Clone, Debug)]
pub struct VideoCameras {
    /// The book of camera changes.
    pub control: CameraControl,
    /// Options of an added camera's feed (its pacing and start come from its configuration).
    pub options: VideoOptions,
    /// The health handles the HTTP API lists.
    pub statuses: CameraStatuses,
    /// The live cameras, which the inference operator may shed under overload.
    pub live: LiveCameras,
}

impl VideoCameras {
    /// The feed of a camera added while the pipeline runs.
    fn spec(&self, camera: &CameraConfig) -> VideoFeedSpec {
        let mut spec = VideoFeedSpec::new(camera.id.clone(), camera.source.clone());
        spec.options = VideoOptions { pacing: camera.pacing, start_ms: camera.start_ms, ..self.options.clone() };
        spec
    }

    /// Starts the cameras added for worker `index` (each with a capability at the kept time)
    /// and stops those removed (their readers stop, ffmpeg ends; each is forgotten once what
    /// it handed over is taken and its last frame reported).
    fn apply(&self, index: usize, feeds: &mut Vec<Feed>, keeper: Option<&Capability<u64>>, activator: &SyncActivator) {
        for camera in self.control.take_videos(index) {
            let spec = self.spec(&camera);
            self.statuses.add(spec.status.clone());
            self.live.add(&spec);
            let mut feed = Feed::start(spec, activator.clone());
            feed.cap = keeper.cloned();
            feeds.push(feed);
        }
        for camera in self.control.take_stops(index, true) {
            // One that has ended reported its last frame already; a running one is drained of
            // what its reader handed over and reports when its channel closes.
            if let Some(feed) = feeds.iter_mut().find(|f| f.status.camera_id() == camera) {
                feed.reader.cancel();
                feed.stopping = true;
            }
        }
        feeds.retain(|f| {
            let gone = f.ended && f.stopping;
            if gone {
                self.statuses.remove(f.status.camera_id());
                self.live.remove(f.status.camera_id());
            }
            !gone
        });
    }
}

/// Builds the video source for `feeds` on this worker. Call it on every worker with that
/// worker's share of the cameras (e.g. by [`crate::camera_route`]); each feed gets its own
/// reader thread and ffmpeg process. `runtime` starts the cameras added while it runs and stops
/// the removed ones.
// `ok_err` needs a `Result` closure; rows move through it, so the large `Err` costs nothing.
#[allow(clippy::result_large_err)]
pub fn video_source<'s>(scope: Scope<'s, u64>, feeds: Vec<VideoFeedSpec>, control: SourceControl, runtime: Option<VideoCameras>) -> VideoStreams<'s> {
    type Event = Result<VideoFrame, ErrorRow>;
    let index = scope.index();
    let stream = source::<u64, CapacityContainerBuilder<Vec<Event>>, _, _>(scope, "VideoSource", move |cap, info| {
        let sync = scope.worker().sync_activator_for(info.address.to_vec());
        let again = scope.activator_for(info.address.clone());
        let mut feeds: Vec<Feed> = feeds.into_iter().map(|spec| Feed::start(spec, sync.clone())).collect();
        if let Some(r) = &runtime {
            r.control.register_source(index, sync.clone());
        }
        let mut initial = Some(cap);
        move |output| {
            if control.stop.load(Ordering::Relaxed) {
                feeds.clear(); // drops the channels: readers see it, kill ffmpeg and end
                initial = None;
                return;
            }
            if let Some(r) = &runtime {
                r.apply(index, &mut feeds, initial.as_ref(), &sync);
            }
            if (control.pause)() {
                again.activate_after(Duration::from_millis(2));
                return;
            }
            let mut budget = MAX_FRAMES_PER_ACTIVATION;
            for feed in feeds.iter_mut().filter(|f| !f.ended) {
                let ended = feed.drain(&mut budget, initial.as_ref(), &mut |cap, event| output.session(cap).give(event));
                if let (true, Some(r)) = (ended, &runtime) {
                    // A later removal waits for nothing more of it.
                    r.control.feed_ended(&[feed.status.camera_id().to_string()], feed.newest);
                }
            }
            // The default capability holds time back until every feed has one of its own; with
            // cameras added at runtime it is kept, following the wall clock, for their feeds.
            if feeds.iter().all(|f| f.ended || f.cap.is_some()) {
                match (&runtime, initial.as_mut()) {
                    (Some(r), Some(keeper)) => {
                        let floor = now_ms().saturating_sub(r.options.lateness_ms);
                        if floor > *keeper.time() {
                            keeper.downgrade(&floor);
                        }
                    }
                    _ => initial = None,
                }
            }
            if budget == 0 {
                again.activate();
            } else if initial.is_some() || feeds.iter().any(|f| !f.ended) {
                again.activate_after(TICK);
            }
        }
    });
    stream.ok_err(|event| event)
}

struct Feed {
    reader: ReaderHandle,
    status: Arc<CameraStatus>,
    live: bool,
    lateness_ms: u64,
    cap: Option<Capability<u64>>,
    ended: bool,
    /// The newest event time of a frame it emitted.
    newest: Option<u64>,
    /// Removed while the pipeline runs: its reader was cancelled.
    stopping: bool,
}

impl Feed {
    /// Starts the reader of `spec`.
    fn start(spec: VideoFeedSpec, activator: SyncActivator) -> Feed {
        Feed {
            live: spec.is_live(),
            lateness_ms: spec.options.lateness_ms,
            status: spec.status.clone(),
            reader: reader::spawn(spec, activator),
            cap: None,
            ended: false,
            newest: None,
            stopping: false,
        }
    }

    /// Takes up to `budget` frames (and failures) of the reader, each out at its capability;
    /// a live camera that is down follows the wall clock. Returns whether the feed ended now.
    fn drain(&mut self, budget: &mut usize, initial: Option<&Capability<u64>>, give: &mut impl FnMut(&Capability<u64>, Result<VideoFrame, ErrorRow>)) -> bool {
        // Read health before draining: a reader sends its last frames before it reports the
        // failure, so "not up" plus an empty channel means nothing older is coming.
        let health = self.status.health();
        let mut drained = false;
        while *budget > 0 {
            match self.reader.rx.try_recv() {
                Ok(ReaderEvent::Frame(frame)) => {
                    *budget -= 1;
                    match self.advance(frame.ts_ms, initial) {
                        Ok(()) => {
                            self.newest = self.newest.max(Some(frame.ts_ms));
                            give(self.cap.as_ref().expect("just advanced"), Ok(frame));
                        }
                        Err(watermark) => {
                            let row = late_row(&frame, &self.reader.label, watermark);
                            give(self.error_cap(initial), Err(row));
                        }
                    }
                }
                Ok(ReaderEvent::Failed(row)) => give(self.error_cap(initial), Err(row)),
                Err(TryRecvError::Empty) => {
                    drained = true;
                    break;
                }
                Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                    self.cap = None;
                    return true;
                }
            }
        }
        if drained && self.live && matches!(health, CameraHealth::Connecting | CameraHealth::Reconnecting) {
            let watermark = now_ms().saturating_sub(self.lateness_ms);
            if self.cap.as_ref().is_none_or(|c| *c.time() < watermark) {
                let _ = self.advance(watermark, initial);
            }
        }
        false
    }

    /// Moves this feed's capability to `ts` (the newest time), or returns the watermark `ts` is
    /// behind.
    fn advance(&mut self, ts: u64, initial: Option<&Capability<u64>>) -> Result<(), u64> {
        match &mut self.cap {
            Some(cap) if ts < *cap.time() => Err(*cap.time()),
            Some(cap) => {
                cap.downgrade(&ts);
                Ok(())
            }
            None => {
                let base = initial.expect("the default capability is held until every feed has one");
                self.cap = Some(base.delayed(&ts));
                Ok(())
            }
        }
    }

    fn error_cap<'a>(&'a self, initial: Option<&'a Capability<u64>>) -> &'a Capability<u64> {
        self.cap.as_ref().or(initial).expect("a feed holds a capability until it ends")
    }
}

fn late_row(frame: &VideoFrame, label: &str, watermark: u64) -> ErrorRow {
    ErrorRow {
        source: label.to_string(),
        line: None,
        camera_id: Some(frame.camera_id.to_string()),
        ts_ms: Some(frame.ts_ms),
        kind: ErrorKind::Late,
        reason: format!(
            "video frame {} at ts_ms {} arrived {} ms behind the camera's watermark {watermark}",
            frame.frame,
            frame.ts_ms,
            watermark - frame.ts_ms
        ),
        rejected_at_ms: now_ms(),
    }
}
