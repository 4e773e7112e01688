//! The reader thread of one camera: probes, runs ffmpeg, stamps (and for real-time files, paces)
//! frames, supervises reconnects of live cameras, and hands frames to the worker. Every blocking
//! call — pipe reads, backoff sleeps, pacing — happens here, never on a timely worker.

use super::decoder::Decoder;
use super::error::VideoError;
use super::health::{CameraStatus, Jitter};
use super::probe::{StreamInfo, probe};
use super::spec::VideoFeedSpec;
use itscam_types::config::{Pacing, Source};
use itscam_types::time::now_ms;
use itscam_types::{CameraHealth, ErrorRow, VideoFrame};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError, TrySendError, channel, sync_channel};
use std::time::{Duration, Instant};
use timely::scheduling::SyncActivator;

/// Frames buffered between a reader and the worker (~1.3 MB each at 768×576): enough to ride
/// out a busy worker, small enough that a full channel stops a file reader quickly.
const CHANNEL_FRAMES: usize = 8;
/// How often a live reader waiting for a frame looks for cancellation.
const POLL: Duration = Duration::from_millis(200);

/// What a reader hands to the worker.
#[derive(Debug)]
pub(super) enum ReaderEvent {
    /// A decoded frame.
    Frame(VideoFrame),
    /// The feed failed for good (it ends right after).
    Failed(ErrorRow),
}

/// The worker's end of a reader. Dropping it stops the reader (and its ffmpeg).
pub(super) struct ReaderHandle {
    pub rx: Receiver<ReaderEvent>,
    pub label: String,
    /// Never sent on: its drop wakes a reader sleeping in backoff or pacing.
    cancel: Option<Sender<()>>,
}

impl ReaderHandle {
    /// Stops the reader (and its ffmpeg) at its next frame, keeping the channel: what it handed
    /// over can still be taken, and the channel closes once it has ended.
    pub fn cancel(&mut self) {
        self.cancel = None;
    }
}

pub(super) fn spawn(spec: VideoFeedSpec, activator: SyncActivator) -> ReaderHandle {
    let (tx, rx) = sync_channel(CHANNEL_FRAMES);
    let (cancel_tx, cancel) = channel();
    let label = spec.source.label();
    let mut reader = Reader { camera_id: spec.camera_id.as_str().into(), spec, tx, cancel, activator, next_frame: 0, last_ts: 0 };
    std::thread::Builder::new()
        .name(format!("itscam-video {}", reader.spec.camera_id))
        .spawn(move || {
            let source = reader.spec.source.clone();
            match &source {
                Source::VideoFile(path) => reader.run_file(path),
                Source::Rtsp(_) => reader.run_live(),
                other => reader.fail(&VideoError::NotVideoSource(other.label()), 0),
            }
            let _ = reader.activator.activate(); // the worker sees the channel close
        })
        .expect("spawning a video reader thread");
    ReaderHandle { rx, label, cancel: Some(cancel_tx) }
}

/// Why a stream stopped without an error.
enum Exit {
    /// The file ended.
    Ended,
    /// The dataflow dropped this feed (stop or shutdown).
    Cancelled,
}

struct Reader {
    spec: VideoFeedSpec,
    camera_id: Arc<str>,
    tx: SyncSender<ReaderEvent>,
    cancel: Receiver<()>,
    activator: SyncActivator,
    /// Frame number of the next frame; keeps counting across reconnects.
    next_frame: u64,
    /// Newest live timestamp: the wall clock may step back, event time must not.
    last_ts: u64,
}

impl Reader {
    fn status(&self) -> &CameraStatus {
        &self.spec.status
    }

    /// Sleeps up to `d`; false if the feed was cancelled meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        matches!(self.cancel.recv_timeout(d), Err(RecvTimeoutError::Timeout))
    }

    fn cancelled(&self) -> bool {
        matches!(self.cancel.try_recv(), Err(TryRecvError::Disconnected))
    }

    fn frame(&mut self, ts_ms: u64, info: &StreamInfo, rgb: Arc<[u8]>) -> VideoFrame {
        let frame = self.next_frame;
        self.next_frame += 1;
        self.status().frame(ts_ms);
        VideoFrame { camera_id: self.camera_id.clone(), ts_ms, frame, width: info.width, height: info.height, rgb }
    }

    /// Ends the feed with an error row and `down` after `attempt` consecutive failures.
    fn fail(&self, e: &VideoError, attempt: u32) {
        let reason = e.to_string();
        let row = ErrorRow {
            source: self.spec.source.label(),
            line: None,
            camera_id: Some(self.spec.camera_id.clone()),
            ts_ms: None,
            kind: e.kind(),
            reason: reason.clone(),
            rejected_at_ms: now_ms(),
        };
        self.status().set(CameraHealth::Down, attempt, Some(&reason));
        if self.tx.send(ReaderEvent::Failed(row)).is_ok() {
            let _ = self.activator.activate();
        }
    }

    fn run_file(&mut self, path: &Path) {
        let start_ms = self.spec.options.start_ms.unwrap_or_else(|| mtime_ms(path));
        match self.stream_file(start_ms) {
            Ok(Exit::Ended) => {
                tracing::info!(camera = %self.camera_id, frames = self.next_frame, "video file ended");
                self.status().set(CameraHealth::Finished, 0, None);
            }
            Ok(Exit::Cancelled) => self.status().set(CameraHealth::Down, 0, None),
            Err(e) => self.fail(&e, 0),
        }
    }

    fn stream_file(&mut self, start_ms: u64) -> Result<Exit, VideoError> {
        let opts = &self.spec.options;
        let info = probe(&self.spec.source, &opts.ffmpeg)?;
        if info.fps().is_none() {
            let detail = "ffprobe reports no frame rate, so frames cannot be given event times".into();
            return Err(VideoError::NotVideo { input: self.spec.source.label(), detail });
        }
        let mut decoder = Decoder::spawn(&self.spec.source, &info, &opts.ffmpeg)?;
        let (pacing, stall, connect) = (opts.pacing, opts.stall_timeout, opts.connect_timeout);
        let mut first: Option<Instant> = None;
        for index in 0u64.. {
            let limit = if index == 0 { connect } else { stall };
            let Some(rgb) = decoder.next_frame(Some(limit))? else { return Ok(Exit::Ended) };
            let offset = info.offset_ms(index).expect("rate checked above");
            let started = *first.get_or_insert_with(|| {
                self.status().set(CameraHealth::Up, 0, None);
                Instant::now()
            });
            if pacing == Pacing::Realtime {
                let due = started + Duration::from_millis(offset);
                if let Some(wait) = due.checked_duration_since(Instant::now())
                    && !self.sleep(wait)
                {
                    return Ok(Exit::Cancelled);
                }
            }
            if self.cancelled() {
                return Ok(Exit::Cancelled);
            }
            let frame = self.frame(start_ms.saturating_add(offset), &info, rgb);
            // Blocking send: a full channel stops this thread, ffmpeg then blocks on its pipe.
            if self.tx.send(ReaderEvent::Frame(frame)).is_err() {
                return Ok(Exit::Cancelled);
            }
            let _ = self.activator.activate();
        }
        unreachable!("u64 frame counter")
    }

    fn run_live(&mut self) {
        let backoff = self.spec.options.backoff;
        let mut jitter = Jitter::new(&self.spec.camera_id);
        let mut attempt = 0u32;
        loop {
            let e = match self.stream_live(&mut attempt) {
                Ok(_) => return self.status().set(CameraHealth::Down, attempt, None),
                Err(e) => e,
            };
            attempt += 1;
            if e.is_permanent() {
                return self.fail(&e, attempt);
            }
            if backoff.max_attempts.is_some_and(|max| attempt >= max) {
                let detail = format!("gave up after {attempt} failed attempts; last: {e}");
                return self.fail(&VideoError::Open { input: self.spec.source.label(), detail }, attempt);
            }
            let delay = backoff.delay(attempt, &mut jitter);
            self.status().set(CameraHealth::Reconnecting, attempt, Some(&e.to_string()));
            tracing::debug!(camera = %self.camera_id, attempt, delay_ms = delay.as_millis() as u64, "retrying");
            if !self.sleep(delay) {
                return self.status().set(CameraHealth::Down, attempt, None);
            }
        }
    }

    /// One connection: runs until it fails (an error) or the feed is cancelled. A live stream
    /// that ends is a failure too. Resets `attempt` once frames flow.
    fn stream_live(&mut self, attempt: &mut u32) -> Result<Exit, VideoError> {
        if self.cancelled() {
            return Ok(Exit::Cancelled);
        }
        let opts = self.spec.options.clone();
        let info = probe(&self.spec.source, &opts.ffmpeg)?;
        let mut decoder = Decoder::spawn(&self.spec.source, &info, &opts.ffmpeg)?;
        let (started, mut last_frame) = (Instant::now(), None::<Instant>);
        loop {
            let rgb = match decoder.next_frame(Some(POLL)) {
                Ok(Some(rgb)) => rgb,
                Ok(None) => {
                    let detail = "the stream ended".into();
                    return Err(VideoError::Decode { input: self.spec.source.label(), detail });
                }
                Err(VideoError::Stalled { .. }) => {
                    if self.cancelled() {
                        return Ok(Exit::Cancelled);
                    }
                    let limit = if last_frame.is_some() { opts.stall_timeout } else { opts.connect_timeout };
                    if last_frame.unwrap_or(started).elapsed() >= limit {
                        let ms = limit.as_millis() as u64;
                        return Err(VideoError::Stalled { input: self.spec.source.label(), ms });
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if self.cancelled() {
                return Ok(Exit::Cancelled);
            }
            last_frame = Some(Instant::now());
            // Up before the first frame is sent: the worker must never see a frame of this
            // connection while it still believes the camera is down.
            if self.status().health() != CameraHealth::Up {
                *attempt = 0;
                self.status().set(CameraHealth::Up, 0, None);
            }
            self.last_ts = now_ms().max(self.last_ts);
            let frame = self.frame(self.last_ts, &info, rgb);
            // Live video cannot wait: when the engine is behind, drop rather than stall ffmpeg
            // (the server would drop us instead).
            match self.tx.try_send(ReaderEvent::Frame(frame)) {
                Ok(()) => {
                    let _ = self.activator.activate();
                }
                Err(TrySendError::Full(_)) => self.status().dropped(),
                Err(TrySendError::Disconnected(_)) => return Ok(Exit::Cancelled),
            }
        }
    }
}

/// A file's modification time in ms since the Unix epoch, or 0 when the platform has none.
fn mtime_ms(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}
