//! The detections source: JSON Lines from files, stdin or Kafka topics, read off the worker by
//! one thread per source, parsed and validated there, and handed to the worker in chunks with a
//! `SyncActivator`.
//!
//! Event time: each *lane* (a file, or one Kafka partition) holds a capability at `newest ts_ms
//! seen − lateness_ms`. A frame at or after its lane's watermark is emitted at its own `ts_ms`;
//! an earlier one is `late` and goes to the errors output with the reason — never dropped
//! silently. Watermarks per lane keep the outcome independent of how partitions interleave, so
//! replaying a topic gives the same rows at the same times (see [`checkpoint`]).

pub mod cameras;
pub mod checkpoint;
mod dedupe;
pub mod kafka;
mod lines;
pub mod push;
mod reader;

pub use itscam_types::config::InputConfig;
pub use checkpoint::CheckpointControl;
pub use lines::{FeedStats, SourceEvent};
pub use push::PushInlets;

use cameras::CameraControl;
use dedupe::Seen;

use itscam_types::config::{Source, SourceFamily};
use itscam_types::{ErrorKind, ErrorRow, Frame};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};
use timely::scheduling::SyncActivator;

/// One source of detections and the cameras configured with it.
#[derive(Clone, Debug)]
pub struct FeedSpec {
    /// Where lines come from.
    pub source: Source,
    /// Camera ids whose lines this source carries; lines for other cameras are rejected.
    pub cameras: Vec<String>,
    /// Counters the engine reads for progress and the summary.
    pub stats: Arc<FeedStats>,
    /// For `kafka:` sources: the topic as checked at start-up ([`kafka::connect`]).
    pub kafka: Option<Arc<kafka::KafkaFeed>>,
    /// For a `push` camera (one per feed): the inlets the HTTP API pushes to.
    pub push: Option<PushInlets>,
    /// `[input]`: the longest line and the most detections per frame taken.
    pub limits: InputConfig,
}

/// Frames and rejected input of a set of sources.
pub type SourceStreams<'s> = (Stream<'s, u64, Vec<Frame>>, Stream<'s, u64, Vec<ErrorRow>>);

/// Flow control between the source and the rest of the engine.
#[derive(Clone)]
pub struct SourceControl {
    /// Polled before taking input: while it returns true (sinks are behind) the operator leaves
    /// lines in the readers' bounded channels, which stops the reader threads — backpressure
    /// without blocking the worker.
    pub pause: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Once set, the source stops taking input and releases its capabilities, so the dataflow
    /// drains and ends (Ctrl-C on live input).
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

/// A bound on how far (event time) a feed reads ahead of the dataflow's outputs: a feed whose
/// newest frame is more than `max_lead_ms` past the probe's frontier is left unread (its reader
/// blocks on its bounded channel) until the frontier moves. The feed that holds the frontier
/// back is always behind the limit, since `max_lead_ms` exceeds the lateness and smoothing lag
/// the outputs wait for (`PipelineConfig::validate`), so it is never held: the run cannot stall,
/// and what waits in the dataflow is at most one lead of every feed's frames — memory bounded by
/// the lead, not by the input's length (a fast replay of a day of files included).
#[derive(Clone)]
pub struct LeadLimit {
    /// The outputs' frontier.
    pub probe: timely::dataflow::operators::probe::Handle<u64>,
    /// Event time a feed may read past it, ms.
    pub max_lead_ms: u64,
}

impl LeadLimit {
    /// The newest event time a feed may have read and still take more.
    fn limit(&self) -> u64 {
        self.probe.with_frontier(|f| f.iter().min().map_or(u64::MAX, |&p| p.saturating_add(self.max_lead_ms)))
    }
}

impl std::fmt::Debug for SourceControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceControl").field("stop", &self.stop).finish_non_exhaustive()
    }
}

impl Default for SourceControl {
    fn default() -> Self {
        SourceControl { pause: Arc::new(|| false), stop: Arc::default() }
    }
}

/// How often an idle source looks at [`SourceControl::stop`].
const STOP_POLL: Duration = Duration::from_millis(200);
/// How often a checkpointing source looks at the outputs' frontier.
const PACE_POLL: Duration = Duration::from_millis(20);

/// What the source operator emits: a frame, or rejected input for the `errors` table.
type Event = Result<Frame, ErrorRow>;

/// Cameras added and removed while the pipeline runs (`itscam serve`): the book of changes and
/// the push inlets. A source with them stays alive until the stop, holding a capability that
/// follows the wall clock like a silent push camera (so the pipeline's event time goes on
/// without cameras), from which the feeds of added cameras start.
#[derive(Clone, Debug)]
pub struct RuntimeCameras {
    /// The book of camera changes.
    pub control: CameraControl,
    /// The push cameras' inlets (their wall-clock floor).
    pub push: PushInlets,
}

/// Builds the source operator for `feeds` on this worker; `checkpoints` for a run with
/// `kafka:` sources, on the worker that reads them; `lead` bounds how far file and stdin feeds
/// read ahead of the outputs ([`LeadLimit`]; none: no bound); `runtime` starts the feeds of
/// cameras added while it runs and reports the end of removed ones.
// `ok_err` needs a `Result` closure; rows move through it, so the large `Err` costs nothing.
#[allow(clippy::result_large_err, clippy::too_many_arguments)]
pub fn detections_source<'s>(
    scope: Scope<'s, u64>,
    feeds: Vec<FeedSpec>,
    lateness_ms: u64,
    control: SourceControl,
    checkpoints: Option<CheckpointControl>,
    lead: Option<LeadLimit>,
    runtime: Option<RuntimeCameras>,
) -> SourceStreams<'s> {
    let index = scope.index();
    let stream = source::<u64, CapacityContainerBuilder<Vec<Event>>, _, _>(scope, "DetectionsSource", move |cap, info| {
        let sync = scope.worker().sync_activator_for(info.address.to_vec());
        let again = scope.activator_for(info.address.clone());
        let mut states: Vec<FeedState> = feeds.into_iter().map(|spec| FeedState::start(spec, &cap, sync.clone(), control.stop.clone())).collect();
        let mut runtime = runtime.map(|cameras| Added::new(cameras, index, &cap, sync.clone()));
        drop(cap);
        let mut checkpoints = checkpoints.map(checkpoint::Checkpointer::new);
        // A checkpointing source also paces its Kafka readers from the outputs' frontier.
        let interval = if checkpoints.is_some() { PACE_POLL } else { STOP_POLL };
        move |output| {
            if control.stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A run without checkpoints takes what its readers read before they saw the stop
                // (a line read off a pipe exists nowhere else); a checkpointed one replays it.
                if let Some(r) = &runtime {
                    r.cameras.control.end();
                }
                for feed in &states {
                    feed.stop.store(true, std::sync::atomic::Ordering::Release);
                }
                if checkpoints.is_none() && !drain_stopped(&mut states, lateness_ms, &mut |cap, event| output.session(cap).give(event)) {
                    again.activate_after(Duration::from_millis(1));
                    return;
                }
                states.clear();
                runtime = None;
                return;
            }
            if let Some(r) = &mut runtime {
                r.start_feeds(&mut states, &control.stop);
            }
            if let Some(c) = &checkpoints {
                c.pace();
            }
            if (control.pause)() {
                if let Some(c) = &mut checkpoints {
                    c.maybe_take();
                }
                again.activate_after(Duration::from_millis(2));
                return;
            }
            let now = itscam_types::time::now_ms();
            for feed in states.iter_mut().filter(|f| !f.ended) {
                if let Some((inlets, _)) = &feed.push {
                    let floor = inlets.floor(now);
                    feed.raise_floor(floor);
                }
            }
            let limit = lead.as_ref().map_or(u64::MAX, LeadLimit::limit);
            let (budget, ahead) = drain(&mut states, lateness_ms, limit, &mut |cap, event| output.session(cap).give(event));
            if let Some(r) = &mut runtime {
                r.end_feeds(&mut states);
            }
            if let Some(c) = &mut checkpoints {
                c.maybe_take();
            }
            if budget == 0 {
                again.activate();
            } else if ahead {
                // Nothing tells the source that the frontier moved: it looks again shortly.
                again.activate_after(Duration::from_millis(2));
            } else if states.iter().any(|f| !f.ended) || runtime.is_some() || checkpoints.as_ref().is_some_and(|c| c.pending()) {
                // Checkpoints go on while the rest of the dataflow drains what was read.
                again.activate_after(interval);
            }
        }
    });
    stream.ok_err(|event| event)
}

/// A source's part in cameras added and removed while it runs ([`RuntimeCameras`]).
struct Added {
    cameras: RuntimeCameras,
    index: usize,
    /// Held while cameras may still be added: new feeds start from it.
    keeper: Capability<u64>,
    activator: SyncActivator,
}

impl Added {
    fn new(cameras: RuntimeCameras, index: usize, cap: &Capability<u64>, activator: SyncActivator) -> Added {
        cameras.control.register_source(index, activator.clone());
        Added { cameras, index, keeper: cap.clone(), activator }
    }

    /// Starts the feeds of cameras added since the last activation and stops reading the
    /// cameras removed since ([`FeedState::stop_camera`]).
    fn start_feeds(&mut self, states: &mut Vec<FeedState>, stop: &Arc<std::sync::atomic::AtomicBool>) {
        self.follow(states);
        for spec in self.cameras.control.take_feeds(self.index) {
            states.push(FeedState::start(spec, &self.keeper, self.activator.clone(), stop.clone()));
        }
        for camera in self.cameras.control.take_stops(self.index, false) {
            // A feed that has ended reported its last frame already.
            if let Some(feed) = states.iter_mut().find(|f| !f.ended && f.cameras.contains(&camera))
                && !feed.stop_camera(&camera)
            {
                self.cameras.control.feed_ended(std::slice::from_ref(&camera), feed.newest);
            }
        }
    }

    /// Reports each ended feed's last frame once (its cameras' removals may apply) and drops it.
    fn end_feeds(&mut self, states: &mut Vec<FeedState>) {
        for feed in states.iter_mut().filter(|f| f.ended && !f.reported) {
            feed.reported = true;
            self.cameras.control.feed_ended(&feed.cameras, feed.newest);
        }
        states.retain(|f| !f.ended || f.kafka.is_some());
        self.follow(states);
    }

    /// Moves the kept capability up to the lowest time the running feeds hold, and at least to
    /// the wall clock's floor (a silent push camera's): it never holds the pipeline back more
    /// than the feeds do, and without feeds the event time follows the wall clock.
    fn follow(&mut self, states: &[FeedState]) {
        let floor = self.cameras.push.floor(itscam_types::time::now_ms());
        let low = states.iter().filter(|f| !f.ended).filter_map(|f| f.base.as_ref().map(|c| *c.time())).min();
        let target = low.map_or(floor, |l| l.max(floor));
        if target > *self.keeper.time() {
            self.keeper.downgrade(&target);
        }
    }
}

/// The reader thread of a source: the Kafka reader for a connected `kafka:` source, the line
/// reader for files and stdin (which reports anything else as an `errors` row).
fn spawn_reader(spec: FeedSpec, activator: SyncActivator, stop: Arc<std::sync::atomic::AtomicBool>) -> Receiver<Vec<SourceEvent>> {
    if let (Source::Push, Some(inlet)) = (&spec.source, push_inlet(&spec)) {
        // No thread: the HTTP handlers fill the inlet's queue (see [`push`]).
        if let Some(rx) = inlet.attach(activator) {
            return rx;
        }
        tracing::error!(camera = ?spec.cameras, "a push camera's queue was taken twice (this is a bug); its feed ends");
        return std::sync::mpsc::channel().1;
    }
    match (spec.source.family(), spec.kafka.clone()) {
        (SourceFamily::Kafka, Some(feed)) => kafka::spawn(spec, feed, activator),
        _ => reader::spawn(spec, activator, stop),
    }
}

/// The inlet of a push feed's camera.
fn push_inlet(spec: &FeedSpec) -> Option<Arc<push::Inlet>> {
    spec.push.as_ref().zip(spec.cameras.first()).and_then(|(inlets, camera)| inlets.inlet(camera))
}

/// After the stop: takes every chunk the file and stdin readers handed over, ignoring the lead
/// limit, and ends each feed once its reader has ended or waits for input holding nothing
/// (Kafka feeds end at once: a checkpointed run replays them). Returns whether every feed ended.
fn drain_stopped(states: &mut [FeedState], lateness_ms: u64, give: &mut impl FnMut(&Capability<u64>, Event)) -> bool {
    use std::sync::atomic::Ordering;
    let mut all = true;
    for feed in states.iter_mut().filter(|f| !f.ended) {
        if feed.kafka.is_some() {
            feed.ended = true;
            continue;
        }
        if let Some((_, inlet)) = &feed.push {
            // Closed under its lock: every push answered as taken is in the channel now.
            inlet.close();
        }
        loop {
            // Read before the channel: a reader sets `waiting` only after handing over its chunk.
            let waiting = feed.stats.waiting.load(Ordering::Acquire);
            match feed.rx.try_recv() {
                Ok(chunk) => {
                    feed.taken(chunk.len());
                    for event in chunk {
                        feed.take(event, lateness_ms, give);
                    }
                    feed.advance_base();
                }
                Err(TryRecvError::Empty) if !waiting => {
                    all = false;
                    break;
                }
                Err(_) => {
                    feed.ended = true;
                    break;
                }
            }
        }
    }
    all
}

/// Takes up to [`MAX_CHUNKS_PER_ACTIVATION`] chunks from the feeds' readers and hands each
/// event to `give` with the capability it goes out at; a file or stdin feed that has read past
/// `limit` ([`LeadLimit`]) is left for later. Returns the budget left (0: yield and come back at
/// once) and whether a feed was left for being ahead.
fn drain(
    states: &mut [FeedState],
    lateness_ms: u64,
    limit: u64,
    give: &mut impl FnMut(&Capability<u64>, Event),
) -> (usize, bool) {
    let mut budget = MAX_CHUNKS_PER_ACTIVATION;
    let mut ahead = false;
    for feed in states.iter_mut().filter(|f| !f.ended) {
        while budget > 0 {
            // Kafka feeds are paced by their readers (`Checkpointer::pace`).
            if feed.kafka.is_none() && feed.lanes.iter().any(|l| l.newest.is_some_and(|n| n > limit)) {
                ahead = true;
                break;
            }
            // A stopping reader that waits for input (stdin) holds nothing more: read before the
            // channel, since a reader sets `waiting` only after handing over its chunk.
            let waiting = feed.stopping && feed.stats.waiting.load(std::sync::atomic::Ordering::Acquire);
            let chunk = match feed.rx.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Empty) if !waiting => break,
                Err(_) => {
                    feed.end();
                    break;
                }
            };
            budget -= 1;
            feed.taken(chunk.len());
            for event in chunk {
                feed.take(event, lateness_ms, give);
            }
            feed.advance_base();
        }
    }
    (budget, ahead)
}

/// Chunks (of up to `reader::CHUNK_LINES` lines) taken per activation before yielding.
const MAX_CHUNKS_PER_ACTIVATION: usize = 16;

/// One file or Kafka partition.
#[derive(Default)]
struct Lane {
    cap: Option<Capability<u64>>,
    newest: Option<u64>,
    /// Had nothing to read at start-up: does not hold the feed's base back until it has data.
    idle: bool,
}

struct FeedState {
    rx: Receiver<Vec<SourceEvent>>,
    /// Held at the lowest lane watermark once every lane has one (or is idle): the time at which
    /// new lanes start and rejected lines go out; dropped when the feed ends.
    base: Option<Capability<u64>>,
    lanes: Vec<Lane>,
    kafka: Option<Arc<kafka::KafkaFeed>>,
    /// A push camera's inlets and its own inlet.
    push: Option<(PushInlets, Arc<push::Inlet>)>,
    stats: Arc<FeedStats>,
    ended: bool,
    /// The cameras it carries.
    cameras: Vec<String>,
    /// The newest event time of a frame it emitted.
    newest: Option<u64>,
    /// Whether its end was reported to the camera book.
    reported: bool,
    /// Cameras removed while the feed reads on for others: their lines go to `errors`.
    removed: Vec<String>,
    /// The reader's stop: set by the run's stop, or when every camera of the feed was removed.
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Every camera removed: the reader was told to stop; what it handed over is still taken.
    stopping: bool,
    /// Each camera's recent frames, to drop frames delivered twice.
    recent: dedupe::Recent,
    /// Kafka: (lane, offset, time emitted at) of the messages taken since the last hand-over to
    /// the process's [`kafka::KafkaFeed::lanes`] (once per chunk, one lock).
    noted: Vec<(usize, u64, u64)>,
}

impl FeedState {
    /// Starts the reader of `spec` (which ends once `stop` is set); the feed holds `cap` as its
    /// base until it ends.
    fn start(spec: FeedSpec, cap: &Capability<u64>, activator: SyncActivator, run_stop: Arc<std::sync::atomic::AtomicBool>) -> FeedState {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(run_stop.load(std::sync::atomic::Ordering::Relaxed)));
        let lanes = spec.kafka.as_ref().map_or(1, |k| k.partitions.len());
        let kafka = spec.kafka.clone();
        let stats = spec.stats.clone();
        let push = spec.push.clone().zip(push_inlet(&spec)).filter(|_| spec.source == Source::Push);
        FeedState {
            cameras: spec.cameras.clone(),
            newest: None,
            reported: false,
            removed: Vec::new(),
            stopping: false,
            recent: dedupe::Recent::default(),
            noted: Vec::new(),
            push,
            stats,
            rx: spawn_reader(spec, activator, stop.clone()),
            stop,
            base: Some(cap.clone()),
            lanes: (0..lanes).map(|_| Lane::default()).collect(),
            kafka,
            ended: false,
        }
    }

    /// One event of the reader: a frame at its time (or late, to the errors), a rejected line
    /// at the lane's watermark, or a lane found idle.
    fn take(&mut self, event: SourceEvent, lateness_ms: u64, give: &mut impl FnMut(&Capability<u64>, Event)) {
        match event {
            SourceEvent::Frame(frame, pos, label, lane) if !self.removed.is_empty() && self.removed.contains(&frame.camera_id) => {
                let row = removed_row(&frame, pos, label);
                let cap = self.error_cap(lane as usize);
                give(&cap, Err(row));
            }
            SourceEvent::Frame(frame, pos, label, lane) => {
                let lane = lane as usize;
                let seen = self.recent.check(&frame, lateness_ms);
                if seen != Seen::New {
                    // Delivered twice: dropped before the tracker, counted; reported if it differs.
                    self.stats.duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let cap = self.error_cap(lane);
                    self.note(lane, pos, *cap.time());
                    if seen == Seen::Differs {
                        give(&cap, Err(duplicate_row(&frame, pos, label)));
                    }
                    return;
                }
                match self.admit(lane, &frame, lateness_ms) {
                    Ok(cap) => {
                        self.note(lane, pos, frame.ts_ms);
                        self.newest = self.newest.max(Some(frame.ts_ms));
                        give(&cap, Ok(frame));
                    }
                    Err(watermark) => {
                        let row = late_row(&frame, pos, label, watermark, lateness_ms);
                        let cap = self.error_cap(lane);
                        self.note(lane, pos, *cap.time());
                        give(&cap, Err(row));
                    }
                }
            }
            SourceEvent::Rejected(row, lane) => {
                let lane = lane as usize;
                let cap = self.error_cap(lane);
                if let Some(pos) = row.line {
                    self.note(lane, pos, *cap.time());
                }
                give(&cap, Err(row));
            }
            SourceEvent::Idle(lane) => self.lanes[lane as usize].idle = true,
        }
    }

    /// A Kafka message at `pos` of `lane` went out at `time` (a checkpoint passes it once the
    /// outputs are past that time). Other feeds keep no positions.
    fn note(&mut self, lane: usize, pos: u64, time: u64) {
        if self.kafka.is_some() {
            self.noted.push((lane, pos, time));
        }
    }

    /// Hands the messages noted since the last time to the process's book of the topic's
    /// partitions, where its checkpoints find them (once per chunk taken; a checkpoint taken on
    /// another worker in between finds the partition where the last hand-over left it: an
    /// earlier offset, never a later one).
    fn hand_over_noted(&mut self) {
        let Some(kafka) = &self.kafka else { return };
        if self.noted.is_empty() {
            return;
        }
        let mut books = kafka.lanes.lock().unwrap_or_else(|p| p.into_inner());
        for (lane, pos, time) in self.noted.drain(..) {
            books.entry(kafka.partitions[lane]).or_default().note(pos, time);
        }
    }

    /// Stops reading `camera` (removed while the pipeline runs): once every camera of the feed
    /// is removed its reader is told to stop, and what it handed over is still taken before the
    /// feed ends (its end is reported then, by [`Added::end_feeds`]); a feed that carries other
    /// cameras reads on and sends the camera's lines to `errors`. Returns whether the feed
    /// stops.
    fn stop_camera(&mut self, camera: &str) -> bool {
        self.removed.push(camera.to_string());
        if self.cameras.iter().any(|c| !self.removed.contains(c)) {
            return false;
        }
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.stopping = true;
        true
    }

    /// The feed has nothing more: it holds no time from now on.
    fn end(&mut self) {
        self.ended = true;
        self.hand_over_noted();
        // Positions stay: later checkpoints still report them.
        self.base = None;
        for lane in &mut self.lanes {
            lane.cap = None;
        }
    }

    /// Advances `lane`'s watermark for `frame`; returns the capability to emit it at (its own
    /// `ts_ms`), or the watermark it is late for.
    fn admit(&mut self, lane: usize, frame: &Frame, lateness_ms: u64) -> Result<Capability<u64>, u64> {
        let base = self.base.as_ref().expect("a feed holds its base until it ends");
        let l = &mut self.lanes[lane];
        let floor = l.cap.as_ref().map_or(*base.time(), |c| *c.time());
        if frame.ts_ms < floor {
            return Err(floor);
        }
        let newest = l.newest.map_or(frame.ts_ms, |n| n.max(frame.ts_ms));
        l.newest = Some(newest);
        let watermark = newest.saturating_sub(lateness_ms).max(floor);
        let cap = match &mut l.cap {
            Some(cap) => {
                cap.downgrade(&watermark);
                cap
            }
            None => l.cap.insert(base.delayed(&watermark)),
        };
        Ok(cap.delayed(&frame.ts_ms))
    }

    /// Rejected input of `lane` goes out at the lane's watermark (the feed's base before it has one).
    fn error_cap(&self, lane: usize) -> Capability<u64> {
        match self.lanes[lane].cap.as_ref() {
            Some(c) => c.clone(),
            None => self.base.clone().expect("a feed holds its base until it ends"),
        }
    }

    /// The reader handed over `n` events (a push camera's queue shrinks by as many).
    fn taken(&self, n: usize) {
        if let Some((_, inlet)) = &self.push {
            inlet.release(n);
        }
    }

    /// Raises every watermark of the feed (and its base) to at least `floor`: a push camera's
    /// event time follows the wall clock ([`push`]), so a silent one holds nothing back.
    fn raise_floor(&mut self, floor: u64) {
        for lane in &mut self.lanes {
            if let Some(cap) = lane.cap.as_mut().filter(|c| *c.time() < floor) {
                cap.downgrade(&floor);
            }
        }
        if let Some(base) = self.base.as_mut().filter(|b| *b.time() < floor) {
            base.downgrade(&floor);
        }
    }

    /// Moves the base up to the lowest lane watermark once no lane is still unknown.
    fn advance_base(&mut self) {
        self.hand_over_noted();
        if self.lanes.iter().any(|l| l.cap.is_none() && !l.idle) {
            return;
        }
        let Some(low) = self.lanes.iter().filter_map(|l| l.cap.as_ref().map(|c| *c.time())).min() else { return };
        if let Some(base) = &mut self.base
            && low > *base.time()
        {
            base.downgrade(&low);
        }
    }
}

/// An `errors` row for `frame`, read at `line` of `label`.
fn frame_row(frame: &Frame, line: u64, label: Arc<str>, kind: ErrorKind, reason: String) -> ErrorRow {
    ErrorRow {
        source: label.to_string(),
        line: Some(line),
        camera_id: Some(frame.camera_id.clone()),
        ts_ms: Some(frame.ts_ms),
        kind,
        reason,
        rejected_at_ms: itscam_types::time::now_ms(),
    }
}

fn duplicate_row(frame: &Frame, line: u64, label: Arc<str>) -> ErrorRow {
    let reason = format!(
        "frame {} at ts_ms {} of camera {:?} differs from the frame accepted before at the same ts_ms: the first one counts",
        frame.frame, frame.ts_ms, frame.camera_id
    );
    frame_row(frame, line, label, ErrorKind::DuplicateFrame, reason)
}

fn removed_row(frame: &Frame, line: u64, label: Arc<str>) -> ErrorRow {
    let reason = format!("camera {:?} was removed: frame {} at ts_ms {} is not processed", frame.camera_id, frame.frame, frame.ts_ms);
    frame_row(frame, line, label, ErrorKind::UnknownCamera, reason)
}

fn late_row(frame: &Frame, line: u64, label: Arc<str>, watermark: u64, lateness_ms: u64) -> ErrorRow {
    let reason = format!(
        "frame {} at ts_ms {} arrived {} ms behind the source's watermark {} (lateness_ms = {lateness_ms})",
        frame.frame,
        frame.ts_ms,
        watermark - frame.ts_ms,
        watermark
    );
    frame_row(frame, line, label, ErrorKind::Late, reason)
}

#[cfg(test)]
mod tests;
