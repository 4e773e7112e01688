//! The batching inference operator. Frames queue under capabilities; a batch of up to
//! `max_batch` frames (across cameras) goes to this worker's inference thread when it is full,
//! when its oldest frame has waited `max_wait_ms`, or when the input has ended. The thread runs
//! ONNX Runtime and hands results back through a channel and a `SyncActivator`; the operator
//! then emits each frame's detections at that frame's time and releases its capability.
//! The worker never blocks on the model.

use super::bank::{Bank, FrameResult};
use super::detector::BatchTimings;
use crate::video::LiveCameras;
use super::runtime::VisionError;
use itscam_types::{ErrorKind, ErrorRow, Frame, VideoFrame};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

/// How the operator batches and sheds load.
#[derive(Clone, Debug)]
pub struct BatchPolicy {
    /// Frames per batch at most.
    pub max_batch: usize,
    /// A partial batch runs once its oldest frame has waited this long.
    pub max_wait: Duration,
    /// Frames queued (not yet in a batch) at most before live cameras drop their oldest frame.
    pub queue: usize,
    /// Cameras whose frames may be dropped under overload (live sources); others are never dropped.
    pub live_cameras: LiveCameras,
}

/// Latency samples in microseconds, per stage (bounded: the first `MAX_SAMPLES` of each).
#[derive(Debug, Default, Clone)]
pub struct StageSamples {
    /// Time from entering the operator's queue to leaving in a batch.
    pub queue_wait: Vec<u32>,
    /// Resize + tensor fill per batch.
    pub preprocess: Vec<u32>,
    /// ONNX Runtime per batch.
    pub inference: Vec<u32>,
    /// Decode + NMS per batch.
    pub decode: Vec<u32>,
    /// Batch sizes.
    pub batch_size: Vec<u32>,
}

const MAX_SAMPLES: usize = 200_000;

impl StageSamples {
    fn push(v: &mut Vec<u32>, d: Duration) {
        if v.len() < MAX_SAMPLES {
            v.push(d.as_micros().min(u32::MAX as u128) as u32);
        }
    }
}

/// Counters of the inference operators of a process, shared with sources (backpressure) and
/// the engine (summary, benchmarks).
#[derive(Debug, Default)]
pub struct InferenceStats {
    /// Frames queued or in a batch, over all workers.
    pub pending: AtomicUsize,
    /// Frames inferred.
    pub frames: AtomicU64,
    /// Batches run.
    pub batches: AtomicU64,
    /// Frames of live cameras dropped under overload.
    pub dropped: AtomicU64,
    /// Frames whose batch failed (reported in `errors`).
    pub failed: AtomicU64,
    /// Latency samples.
    pub samples: Mutex<StageSamples>,
}

struct Queued {
    cap: Capability<u64>,
    frame: VideoFrame,
    since: Instant,
}

struct Batch {
    frames: Vec<VideoFrame>,
}

struct BatchResult {
    /// One per frame of the batch, in order.
    frames: Result<Vec<FrameResult>, VisionError>,
    timings: BatchTimings,
}

type Event = Result<Frame, ErrorRow>;

/// Runs a detector on a stream of frames.
pub trait Detect<'s> {
    /// Detects objects in every frame with the models of `bank` (moved to this worker's
    /// inference thread; see [`Bank`] for how models change while it runs). Returns the frames
    /// with their detections and model version, and error rows for frames whose model failed.
    fn detect(self, bank: impl Into<Bank>, policy: BatchPolicy, stats: Arc<InferenceStats>) -> (Stream<'s, u64, Vec<Frame>>, Stream<'s, u64, Vec<ErrorRow>>);
}

impl<'s> Detect<'s> for Stream<'s, u64, Vec<VideoFrame>> {
    // `ok_err` needs a `Result` closure; rows move through it, so the large `Err` costs nothing.
    #[allow(clippy::result_large_err)]
    fn detect(self, bank: impl Into<Bank>, policy: BatchPolicy, stats: Arc<InferenceStats>) -> (Stream<'s, u64, Vec<Frame>>, Stream<'s, u64, Vec<ErrorRow>>) {
        let bank = bank.into();
        let scope = self.scope();
        let stream = self.unary_frontier::<CapacityContainerBuilder<Vec<Event>>, _, _, _>(Pipeline, "BatchInference", move |_cap, info| {
            let sync = scope.worker().sync_activator_for(info.address.to_vec());
            let again = scope.activator_for(info.address.clone());
            let (batch_tx, results) = spawn_inference_thread(bank, sync);
            let mut batch_tx = Some(batch_tx);
            let mut queue: VecDeque<Queued> = VecDeque::new();
            let mut in_flight: Option<Vec<Queued>> = None;
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for frame in data.drain(..) {
                        let cap = cap.delayed(&frame.ts_ms, 0);
                        if queue.len() >= policy.queue && policy.live_cameras.contains(&frame.camera_id) {
                            // Shed the oldest queued frame of this live camera.
                            if let Some(i) = queue.iter().position(|q| q.frame.camera_id == frame.camera_id) {
                                queue.remove(i);
                                stats.pending.fetch_sub(1, Ordering::Relaxed);
                                stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        stats.pending.fetch_add(1, Ordering::Relaxed);
                        queue.push_back(Queued { cap, frame, since: Instant::now() });
                    }
                });
                // Results of the batch in flight.
                match results.try_recv() {
                    Ok(result) => {
                        let batch = in_flight.take().expect("a result answers the batch in flight");
                        emit(batch, result, output, &stats);
                    }
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => {
                        if let Some(batch) = in_flight.take() {
                            let failed = BatchResult { frames: Err(VisionError::ThreadStopped), timings: BatchTimings::default() };
                            emit(batch, failed, output, &stats);
                        }
                    }
                }
                let input_done = frontier.is_empty();
                if in_flight.is_none() && !queue.is_empty() {
                    let oldest = queue.front().map(|q| q.since.elapsed()).unwrap_or_default();
                    if queue.len() >= policy.max_batch || oldest >= policy.max_wait || input_done {
                        let n = queue.len().min(policy.max_batch);
                        let batch: Vec<Queued> = queue.drain(..n).collect();
                        if let Ok(mut samples) = stats.samples.lock() {
                            for q in &batch {
                                StageSamples::push(&mut samples.queue_wait, q.since.elapsed());
                            }
                        }
                        let frames = batch.iter().map(|q| q.frame.clone()).collect();
                        match batch_tx.as_ref().map(|tx| tx.try_send(Batch { frames })) {
                            Some(Ok(())) => in_flight = Some(batch),
                            Some(Err(TrySendError::Full(_))) => unreachable!("one batch in flight at a time"),
                            Some(Err(TrySendError::Disconnected(_))) | None => {
                                let failed = BatchResult { frames: Err(VisionError::ThreadStopped), timings: BatchTimings::default() };
                                emit(batch, failed, output, &stats);
                            }
                        }
                    } else {
                        again.activate_after(policy.max_wait.saturating_sub(oldest));
                    }
                }
                if input_done && queue.is_empty() && in_flight.is_none() {
                    batch_tx = None; // ends the inference thread
                }
            }
        });
        stream.ok_err(|e| e)
    }
}

fn emit(batch: Vec<Queued>, result: BatchResult, output: &mut timely::dataflow::operators::generic::OutputBuilderSession<'_, u64, CapacityContainerBuilder<Vec<Event>>>, stats: &InferenceStats) {
    let n = batch.len();
    stats.pending.fetch_sub(n, Ordering::Relaxed);
    stats.batches.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut s) = stats.samples.lock() {
        StageSamples::push(&mut s.preprocess, result.timings.preprocess);
        StageSamples::push(&mut s.inference, result.timings.inference);
        StageSamples::push(&mut s.decode, result.timings.decode);
        if s.batch_size.len() < MAX_SAMPLES {
            s.batch_size.push(n as u32);
        }
    }
    let frames = match result.frames {
        Ok(frames) => frames,
        Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
    };
    let mut failed = 0;
    for (q, outcome) in batch.into_iter().zip(frames) {
        let f = q.frame;
        match outcome {
            Ok((detections, model)) => {
                let frame = Frame { camera_id: f.camera_id.to_string(), ts_ms: f.ts_ms, frame: f.frame, width: f.width, height: f.height, detections, model_version: Some(model) };
                output.session(&q.cap).give(Ok(frame));
            }
            Err(e) => {
                if failed == 0 {
                    tracing::error!(error = %e, camera = %f.camera_id, frame = f.frame, "inference failed");
                }
                failed += 1;
                let row = ErrorRow {
                    source: format!("camera:{}", f.camera_id),
                    line: None,
                    camera_id: Some(f.camera_id.to_string()),
                    ts_ms: Some(f.ts_ms),
                    kind: ErrorKind::InferenceFailed,
                    reason: format!("frame {}: {e}", f.frame),
                    rejected_at_ms: itscam_types::time::now_ms(),
                };
                output.session(&q.cap).give(Err(row));
            }
        }
    }
    stats.frames.fetch_add((n - failed) as u64, Ordering::Relaxed);
    stats.failed.fetch_add(failed as u64, Ordering::Relaxed);
}

fn spawn_inference_thread(mut bank: Bank, activator: timely::scheduling::SyncActivator) -> (SyncSender<Batch>, Receiver<BatchResult>) {
    let (batch_tx, batch_rx) = sync_channel::<Batch>(1);
    let (result_tx, result_rx) = sync_channel::<BatchResult>(1);
    std::thread::Builder::new()
        .name("itscam-infer".into())
        .spawn(move || {
            while let Ok(batch) = batch_rx.recv() {
                let (frames, timings) = bank.run(&batch.frames);
                if result_tx.send(BatchResult { frames: Ok(frames), timings }).is_err() {
                    break;
                }
                let _ = activator.activate();
            }
        })
        .expect("spawning the inference thread");
    (batch_tx, result_rx)
}
