//! Evidence for every confirmed violation, and the pictures the API serves.
//!
//! The workers only hand things over ([`EvidenceTaps`], a bounded channel, never blocking):
//! each video camera's frames at `[evidence] ring_fps` before inference, what the detector
//! found in them, the tracked detections, and each violation the first time it is seen (its
//! evidence paths are set on the row on the way: [`paths`]). One thread ([`service`]) does the
//! rest off the workers: pixelates people and codes the kept frames into each camera's
//! [`ring`], keeps recent [`tracks`], and once a violation's clip is complete (the camera's
//! frames reached `clip_after_ms` past the confirmation, or `max_wait_ms` passed, or the run
//! ends) makes its objects ([`build`]), uploads them through `object_store` and commits them
//! in the commit log (table `evidence`) at least every `commit_interval_ms`: a reader sees a
//! violation's evidence whole or not at all, and `itscam lake vacuum` deletes what a crash
//! left uncommitted. The HTTP API reads the newest frames through [`EvidenceView`].

pub mod build;
mod drop_log;
pub mod paths;
pub mod ring;
mod service;
pub mod tracks;
mod view;

pub use service::{Evidence, EvidenceCounters};
pub use view::EvidenceView;

use itscam_imaging::BoxPx;
use itscam_types::analytics::ViolationRow;
use itscam_types::{ObjectClass, VideoFrame};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};

/// What the workers hand to the evidence service.
pub(crate) enum Event {
    /// A frame the ring keeps (before inference).
    Frame(VideoFrame),
    /// What the detector found in frames: camera, frame number, boxes.
    Detected(Vec<(Arc<str>, u64, Vec<(ObjectClass, BoxPx)>)>),
    /// Tracked detections.
    Tracked(Vec<tracks::Obs>),
    /// A violation, first seen.
    Violation(Box<ViolationRow>),
}

impl Event {
    /// The memory the event holds, bytes: what [`EvidenceBacklog`] adds up.
    fn weight(&self) -> usize {
        match self {
            Event::Frame(f) => f.rgb.len(),
            Event::Detected(batch) => batch.iter().map(|(_, _, boxes)| 64 + boxes.len() * std::mem::size_of::<(ObjectClass, BoxPx)>()).sum(),
            Event::Tracked(points) => points.len() * std::mem::size_of::<tracks::Obs>(),
            Event::Violation(_) => std::mem::size_of::<ViolationRow>(),
        }
    }
}

/// Track points a worker holds while the evidence channel is full.
pub const MAX_PENDING_POINTS: usize = 200_000;

/// Bytes of frames and track points handed over and not yet taken by the service past which
/// the sources pause (with half the channel's messages, whichever comes first).
pub const BACKLOG_BYTES: usize = 16 << 20;

/// How far behind the evidence service is: messages and bytes handed over and not yet taken.
#[derive(Clone, Debug)]
pub struct EvidenceBacklog(Arc<service::Shared>);

impl EvidenceBacklog {
    /// Whether the service is behind (half its channel's messages, or [`BACKLOG_BYTES`],
    /// waiting): the sources pause, as they do for the lake writer, so that frames and track
    /// points are not dropped and what waits stays bounded in bytes, not only in messages.
    pub fn behind(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.0.backlog.load(Relaxed) > service::CHANNEL / 2 || self.0.backlog_bytes.load(Relaxed) > BACKLOG_BYTES
    }
}

/// The workers' side: cloned into each worker's graph. Sends never block; what does not fit
/// the channel is counted (frames) or logged and counted (violations lose their evidence).
#[derive(Clone)]
pub struct EvidenceTaps {
    tx: SyncSender<Event>,
    /// Violations have their own, deeper channel: what the sources' pause cannot hold back
    /// (a burst) costs frames or track points, not a violation's evidence.
    violations: SyncSender<Event>,
    shared: Arc<service::Shared>,
}

impl std::fmt::Debug for EvidenceTaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvidenceTaps")
    }
}

impl EvidenceTaps {
    fn send(&self, event: Event) -> bool {
        let weight = event.weight();
        match self.tx.try_send(event) {
            Ok(()) => {
                self.shared.sent(weight);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// What the sources' pause reads (holding no sender: the service ends when the taps go,
    /// whatever keeps a source's controls).
    pub fn backlog(&self) -> EvidenceBacklog {
        EvidenceBacklog(self.shared.clone())
    }

    /// A sampler of video frames for the ring: passes on at most one frame per camera every
    /// `ring_step_ms` of event time (the first of each step).
    pub fn frame_sampler(&self) -> impl FnMut(&VideoFrame) + 'static {
        let taps = self.clone();
        let step = self.shared.step_ms;
        let mut last: HashMap<Arc<str>, u64> = HashMap::new();
        move |frame| {
            let due = last.get(&frame.camera_id).is_none_or(|t| frame.ts_ms >= t + step);
            if due {
                last.insert(frame.camera_id.clone(), frame.ts_ms);
                taps.shared.mark_pictures(&frame.camera_id);
                if !taps.send(Event::Frame(frame.clone())) {
                    taps.shared.counters.frames_dropped.inc();
                }
            }
        }
    }

    /// Hands over what the detector found in `frames`.
    pub fn detected(&self, frames: &[itscam_types::Frame]) {
        let batch = frames
            .iter()
            .map(|f| (Arc::<str>::from(f.camera_id.as_str()), f.frame, f.detections.iter().map(|d| (d.class, [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2])).collect()))
            .collect();
        self.send(Event::Detected(batch));
    }

    /// A worker's tap on its tracked detections.
    pub fn tracked_tap(&self) -> TrackedTap {
        TrackedTap { taps: self.clone(), pending: Vec::new() }
    }

    /// Sets the evidence paths of `v` (every copy, so the alert and the `violations` row name
    /// them).
    pub fn plan(&self, v: &mut ViolationRow) {
        v.evidence = paths::planned(v, self.shared.has_pictures(&v.camera_id));
    }

    /// Asks for the evidence of `v` (the service makes it once per violation).
    pub fn request(&self, v: &ViolationRow) {
        if self.violations.try_send(Event::Violation(Box::new(v.clone()))).is_err() {
            self.shared.counters.dropped.inc();
            if let Some(more) = self.shared.drops.note() {
                tracing::warn!(violation = %v.violation_id, more_since_last_warning = more, "evidence: the evidence service is behind; this violation gets no evidence (at most one warning per 10 s; every one is counted in itscam_evidence_dropped_total)");
            }
        }
    }
}

/// One worker's hand-over of tracked detections: what the channel does not take now waits for
/// the next call, up to [`MAX_PENDING_POINTS`] (then the oldest are dropped and counted); what
/// still waits when the worker's graph ends is sent then (the service is draining).
pub struct TrackedTap {
    taps: EvidenceTaps,
    pending: Vec<tracks::Obs>,
}

impl TrackedTap {
    /// Hands over the tracked rows of `rows` (none: just what waits).
    pub fn hand_over(&mut self, rows: &[itscam_types::DetectionRow]) {
        self.pending.extend(rows.iter().filter_map(|r| {
            let point = itscam_imaging::trajectory::TrackPoint { ts_ms: r.ts_ms, bbox: [r.x1, r.y1, r.x2, r.y2], speed_kmh: r.speed_kmh };
            r.track_id.map(|track_id| tracks::Obs { camera_id: r.camera_id.clone(), track_id, class: r.class, point, frame_size: r.frame_size })
        }));
        if self.pending.is_empty() {
            return;
        }
        let event = Event::Tracked(std::mem::take(&mut self.pending));
        let weight = event.weight();
        match self.taps.tx.try_send(event) {
            Ok(()) => self.taps.shared.sent(weight),
            Err(TrySendError::Full(Event::Tracked(back))) => {
                self.pending = back;
                if self.pending.len() > MAX_PENDING_POINTS {
                    let over = self.pending.len() - MAX_PENDING_POINTS;
                    self.pending.drain(..over);
                    self.taps.shared.counters.points_dropped.inc_by(over as u64);
                }
            }
            Err(_) => {}
        }
    }
}

impl Drop for TrackedTap {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let event = Event::Tracked(std::mem::take(&mut self.pending));
        let weight = event.weight();
        if self.taps.tx.send(event).is_ok() {
            self.taps.shared.sent(weight);
        }
    }
}
