//! The video source operator: one reader thread per camera (see `reader`) feeds decoded frames
//! through a bounded channel; the worker only moves them into the dataflow.
//!
//! Time: each camera holds its own capability. A frame is emitted at its `ts_ms` and the
//! capability follows the newest `ts_ms`. A live camera that is connecting or reconnecting
//! advances its capability by wall clock (`now − lateness_ms`, every [`TICK`]), so a dead
//! camera never holds back the others; a camera that ends (file done, given up) drops it.

use super::health::CameraStatus;
use super::reader::{self, ReaderEvent, ReaderHandle};
use super::spec::VideoFeedSpec;
use crate::source::SourceControl;
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

/// Decoded frames, and the failures of the feeds (`errors` rows: a file that cannot be opened,
/// a camera given up, a live frame behind its watermark).
pub type VideoStreams<'s> = (Stream<'s, u64, Vec<VideoFrame>>, Stream<'s, u64, Vec<ErrorRow>>);

/// How often the operator wakes without input: wall-clock advance of cameras that are down,
/// and the stop flag.
pub const TICK: Duration = Duration::from_millis(200);
/// Frames taken per activation before yielding the worker.
const MAX_FRAMES_PER_ACTIVATION: usize = 32;

/// Builds the video source for `feeds` on this worker. Call it on every worker with that
/// worker's share of the cameras (e.g. by [`crate::camera_route`]); each feed gets its own
/// reader thread and ffmpeg process.
// `ok_err` needs a `Result` closure; rows move through it, so the large `Err` costs nothing.
#[allow(clippy::result_large_err)]
pub fn video_source<'s>(scope: Scope<'s, u64>, feeds: Vec<VideoFeedSpec>, control: SourceControl) -> VideoStreams<'s> {
    type Event = Result<VideoFrame, ErrorRow>;
    let stream = source::<u64, CapacityContainerBuilder<Vec<Event>>, _, _>(scope, "VideoSource", move |cap, info| {
        let sync = scope.worker().sync_activator_for(info.address.to_vec());
        let again = scope.activator_for(info.address.clone());
        let mut feeds: Vec<Feed> = feeds
            .into_iter()
            .map(|spec| Feed {
                live: spec.is_live(),
                lateness_ms: spec.options.lateness_ms,
                status: spec.status.clone(),
                reader: reader::spawn(spec, sync.clone()),
                cap: None,
                ended: false,
            })
            .collect();
        let mut initial = Some(cap);
        move |output| {
            if control.stop.load(Ordering::Relaxed) {
                feeds.clear(); // drops the channels: readers see it, kill ffmpeg and end
                initial = None;
                return;
            }
            if (control.pause)() {
                again.activate_after(Duration::from_millis(2));
                return;
            }
            let mut budget = MAX_FRAMES_PER_ACTIVATION;
            for feed in feeds.iter_mut().filter(|f| !f.ended) {
                // Read health before draining: a reader sends its last frames before it reports
                // the failure, so "not up" plus an empty channel means nothing older is coming.
                let health = feed.status.health();
                let mut drained = false;
                while budget > 0 {
                    match feed.reader.rx.try_recv() {
                        Ok(ReaderEvent::Frame(frame)) => {
                            budget -= 1;
                            match feed.advance(frame.ts_ms, initial.as_ref()) {
                                Ok(()) => output.session(feed.cap.as_ref().expect("just advanced")).give(Ok(frame)),
                                Err(watermark) => {
                                    let row = late_row(&frame, &feed.reader.label, watermark);
                                    output.session(feed.error_cap(initial.as_ref())).give(Err(row));
                                }
                            }
                        }
                        Ok(ReaderEvent::Failed(row)) => output.session(feed.error_cap(initial.as_ref())).give(Err(row)),
                        Err(TryRecvError::Empty) => {
                            drained = true;
                            break;
                        }
                        Err(TryRecvError::Disconnected) => {
                            feed.ended = true;
                            feed.cap = None;
                            break;
                        }
                    }
                }
                if drained && feed.live && matches!(health, CameraHealth::Connecting | CameraHealth::Reconnecting) {
                    let watermark = now_ms().saturating_sub(feed.lateness_ms);
                    if feed.cap.as_ref().is_none_or(|c| *c.time() < watermark) {
                        let _ = feed.advance(watermark, initial.as_ref());
                    }
                }
            }
            // The default capability holds time back until every feed has one of its own.
            if feeds.iter().all(|f| f.ended || f.cap.is_some()) {
                initial = None;
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
}

impl Feed {
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
