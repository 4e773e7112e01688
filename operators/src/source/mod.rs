//! The detections source: JSON Lines from files or stdin, read off the worker by one thread per
//! source, parsed and validated there, and handed to the worker in chunks with a `SyncActivator`.
//!
//! Event time: each source holds a capability at `newest ts_ms seen − lateness_ms`. A frame at or
//! after that watermark is emitted at its own `ts_ms`; an earlier one is `late` and goes to the
//! errors output with the reason — never dropped silently.

mod reader;

pub use reader::{FeedStats, SourceEvent};

use itscam_types::config::Source;
use itscam_types::{ErrorRow, Frame};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

/// One source of detections and the cameras configured with it.
#[derive(Clone, Debug)]
pub struct FeedSpec {
    /// Where lines come from.
    pub source: Source,
    /// Camera ids whose lines this source carries; lines for other cameras are rejected.
    pub cameras: Vec<String>,
    /// Counters the engine reads for progress and the summary.
    pub stats: Arc<FeedStats>,
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

/// Builds the source operator for `feeds` on this worker.
// `ok_err` needs a `Result` closure; rows move through it, so the large `Err` costs nothing.
#[allow(clippy::result_large_err)]
pub fn detections_source<'s>(
    scope: Scope<'s, u64>,
    feeds: Vec<FeedSpec>,
    lateness_ms: u64,
    control: SourceControl,
) -> SourceStreams<'s> {
    type Event = Result<Frame, ErrorRow>;
    let stream = source::<u64, CapacityContainerBuilder<Vec<Event>>, _, _>(scope, "DetectionsSource", move |cap, info| {
        let sync = scope.worker().sync_activator_for(info.address.to_vec());
        let again = scope.activator_for(info.address.clone());
        let mut states: Vec<FeedState> = feeds
            .into_iter()
            .map(|spec| FeedState { rx: reader::spawn(spec, sync.clone()), cap: None, newest: None, ended: false })
            .collect();
        let mut initial = Some(cap);
        move |output| {
            if control.stop.load(std::sync::atomic::Ordering::Relaxed) {
                states.clear();
                initial = None;
                return;
            }
            if (control.pause)() {
                again.activate_after(Duration::from_millis(2));
                return;
            }
            let mut budget = MAX_CHUNKS_PER_ACTIVATION;
            for feed in states.iter_mut().filter(|f| !f.ended) {
                while budget > 0 {
                    let chunk = match feed.rx.try_recv() {
                        Ok(chunk) => chunk,
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            feed.ended = true;
                            feed.cap = None;
                            break;
                        }
                    };
                    budget -= 1;
                    for event in chunk {
                        match event {
                            SourceEvent::Frame(frame, line, label) => {
                                let initial = initial.as_ref();
                                match feed.admit(&frame, lateness_ms, initial) {
                                    Ok(cap) => output.session(&cap).give(Ok(frame)),
                                    Err(watermark) => {
                                        let row = late_row(&frame, line, label, watermark, lateness_ms);
                                        output.session(feed.error_cap(initial)).give(Err(row));
                                    }
                                }
                            }
                            SourceEvent::Rejected(row) => {
                                output.session(feed.error_cap(initial.as_ref())).give(Err(row));
                            }
                        }
                    }
                }
            }
            // The default capability holds time back until every source has a watermark of its own.
            if states.iter().all(|f| f.ended || f.cap.is_some()) {
                initial = None;
            }
            if budget == 0 {
                again.activate();
            } else if initial.is_some() || states.iter().any(|f| !f.ended) {
                again.activate_after(STOP_POLL);
            }
        }
    });
    stream.ok_err(|event| event)
}

/// Chunks (of up to `reader::CHUNK_LINES` lines) taken per activation before yielding.
const MAX_CHUNKS_PER_ACTIVATION: usize = 16;

struct FeedState {
    rx: Receiver<Vec<SourceEvent>>,
    cap: Option<Capability<u64>>,
    newest: Option<u64>,
    ended: bool,
}

impl FeedState {
    /// Advances the watermark for `frame`; returns the capability to emit it at (its own
    /// `ts_ms`), or the watermark it is late for.
    fn admit(&mut self, frame: &Frame, lateness_ms: u64, initial: Option<&Capability<u64>>) -> Result<Capability<u64>, u64> {
        if let Some(cap) = &self.cap
            && frame.ts_ms < *cap.time() {
                return Err(*cap.time());
            }
        let newest = self.newest.map_or(frame.ts_ms, |n| n.max(frame.ts_ms));
        self.newest = Some(newest);
        let watermark = newest.saturating_sub(lateness_ms);
        let cap = match &mut self.cap {
            Some(cap) => {
                cap.downgrade(&watermark);
                cap
            }
            None => {
                let base = initial.expect("the default capability is held until every source has one");
                self.cap.insert(base.delayed(&watermark))
            }
        };
        Ok(cap.delayed(&frame.ts_ms))
    }

    fn error_cap<'a>(&'a self, initial: Option<&'a Capability<u64>>) -> &'a Capability<u64> {
        self.cap.as_ref().or(initial).expect("a source holds a capability until it ends")
    }
}

fn late_row(frame: &Frame, line: u64, label: Arc<str>, watermark: u64, lateness_ms: u64) -> ErrorRow {
    ErrorRow {
        source: label.to_string(),
        line: Some(line),
        camera_id: Some(frame.camera_id.clone()),
        ts_ms: Some(frame.ts_ms),
        kind: "late".into(),
        reason: format!(
            "frame {} at ts_ms {} arrived {} ms behind the source's watermark {} (lateness_ms = {lateness_ms})",
            frame.frame, frame.ts_ms, watermark - frame.ts_ms, watermark
        ),
        rejected_at_ms: itscam_types::time::now_ms(),
    }
}

#[cfg(test)]
mod tests;
