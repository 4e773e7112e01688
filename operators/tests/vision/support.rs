//! Paths, the model configuration, real frames of vtest.avi, and recorders for the dataflow tests.

use itscam_operators::video::{Decoder, FfmpegConfig, probe};
use itscam_operators::vision::detector::Detector;
use itscam_operators::vision::infer::BatchPolicy;
use itscam_types::config::{ModelConfig, Source};
use itscam_types::{Detection, ErrorRow, Frame, VideoFrame};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::dataflow::Stream;
use timely::dataflow::operators::core::Inspect;
use timely::worker::Worker;

/// Event time of the first frame (2026-01-01T00:00:00Z).
pub const START: u64 = 1_767_225_600_000;
/// vtest.avi's frame size.
pub const WIDTH: u32 = 768;
pub const HEIGHT: u32 = 576;

/// The repository root (tests run with the crate directory as working directory).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crate lies in the repository").to_path_buf()
}

/// The ONNX Runtime library, as an absolute path (every test names the same one).
pub fn runtime_library() -> String {
    let lib = repo().join(".assets/libonnxruntime.so");
    assert!(lib.is_file(), "{} missing: run `bash scripts/setup.sh` from the repository root", lib.display());
    lib.display().to_string()
}

/// The default `[model]` (bundled CenterNet, CPU), with absolute paths and `max_batch`.
pub fn model_config(max_batch: usize) -> ModelConfig {
    let model = repo().join("models/centernet-mbv3/centernet.onnx");
    assert!(model.is_file(), "{} missing (it is committed to the repository)", model.display());
    ModelConfig {
        path: model.display().to_string(),
        runtime_library: Some(runtime_library()),
        max_batch,
        queue: max_batch.max(64),
        ..ModelConfig::default()
    }
}

/// The bundled detector for batches of up to `max_batch` frames.
pub fn detector(max_batch: usize) -> Detector {
    Detector::open(&model_config(max_batch)).unwrap_or_else(|e| panic!("the bundled model opens: {e}"))
}

/// Fails (never skips) when ffmpeg is missing.
fn require_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        assert!(ok, "{tool} is required by the vision tests: install ffmpeg (Debian: apt-get install ffmpeg)");
    }
}

/// vtest.avi: `$ITSCAM_VTEST`, then `<repo>/.assets/vtest.avi` (scripts/setup.sh).
pub fn vtest() -> PathBuf {
    require_ffmpeg();
    let candidates = [std::env::var_os("ITSCAM_VTEST").map(PathBuf::from), Some(repo().join(".assets/vtest.avi"))];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("vtest.avi not found: run `bash scripts/setup.sh` (puts it into .assets/) or set ITSCAM_VTEST"))
}

/// RGB24 pixels of the vtest.avi frames numbered `indices` (ascending), in that order, decoded by
/// the engine's [`Decoder`]; the frames in between are read and skipped.
pub fn vtest_frames(indices: &[u64]) -> Vec<Arc<[u8]>> {
    assert!(indices.is_sorted(), "frame numbers must ascend");
    let source = Source::VideoFile(vtest());
    let cfg = FfmpegConfig::default();
    let info = probe(&source, &cfg).unwrap_or_else(|e| panic!("ffprobe reads vtest.avi: {e}"));
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT), "vtest.avi is 768x576");
    let mut decoder = Decoder::spawn(&source, &info, &cfg).unwrap_or_else(|e| panic!("ffmpeg decodes vtest.avi: {e}"));
    let mut out = Vec::with_capacity(indices.len());
    let last = indices.last().copied().unwrap_or(0);
    for n in 0..=last {
        let rgb = decoder
            .next_frame(Some(Duration::from_secs(30)))
            .unwrap_or_else(|e| panic!("decoding frame {n}: {e}"))
            .unwrap_or_else(|| panic!("vtest.avi ended before frame {n}"));
        assert_eq!(rgb.len(), info.frame_len());
        if indices.contains(&n) {
            out.push(rgb);
        }
    }
    out
}

/// The first `n` frames of vtest.avi.
pub fn first_frames(n: u64) -> Vec<Arc<[u8]>> {
    vtest_frames(&(0..n).collect::<Vec<_>>())
}

/// A decoded frame as a camera of the engine delivers it.
pub fn video_frame(camera: &str, ts_ms: u64, frame: u64, rgb: &Arc<[u8]>) -> VideoFrame {
    VideoFrame { camera_id: camera.into(), ts_ms, frame, width: WIDTH, height: HEIGHT, rgb: rgb.clone() }
}

/// A batching policy; `live` cameras may be shed under overload.
pub fn policy(max_batch: usize, max_wait_ms: u64, queue: usize, live: &[&str]) -> BatchPolicy {
    BatchPolicy { max_batch, max_wait: Duration::from_millis(max_wait_ms), queue, live_cameras: live.iter().map(|c| Arc::from(*c)).collect() }
}

/// A frame as the operator emitted it, with the timely time it travelled at.
#[derive(Clone, Debug)]
pub struct Out {
    pub time: u64,
    pub frame: Frame,
}

pub type Seen = Arc<Mutex<Vec<Out>>>;
pub type Errors = Arc<Mutex<Vec<ErrorRow>>>;

/// Records every frame of `frames` into `seen` (passing the stream on).
pub fn record<'s>(frames: Stream<'s, u64, Vec<Frame>>, seen: &Seen) -> Stream<'s, u64, Vec<Frame>> {
    let seen = seen.clone();
    frames.inspect_core(move |event| {
        if let Ok((stamp, batch)) = event {
            let time = *stamp.least().expect("one time");
            seen.lock().unwrap().extend(batch.iter().map(|f| Out { time, frame: f.clone() }));
        }
    })
}

/// Records every error row into `errors`.
pub fn record_errors(rows: Stream<'_, u64, Vec<ErrorRow>>, errors: &Errors) {
    let errors = errors.clone();
    rows.inspect(move |row: &ErrorRow| errors.lock().unwrap().push(row.clone()));
}

/// Runs `f` on a timely worker of its own thread (`timely::execute_directly`, which then steps
/// until every dataflow has completed); panics if that takes longer than `limit`, so an operator
/// that never releases its capabilities fails the test instead of hanging it.
pub fn execute_bounded<F>(limit: Duration, f: F)
where
    F: FnOnce(&mut Worker) + Send + Sync + 'static,
{
    let (done_tx, done) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("timely-worker".into())
        .spawn(move || {
            timely::execute_directly(f);
            let _ = done_tx.send(());
        })
        .expect("spawning the worker thread");
    match done.recv_timeout(limit) {
        Ok(()) => worker.join().expect("worker thread"),
        // The worker panicked: pass its panic (the failed assertion) on.
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker ended without reporting"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("the dataflow did not complete within {limit:?} (capabilities never released?)"),
    }
}

/// Steps `worker` until `done` holds; the worker parks between steps until an activation (the
/// inference thread's, or a `max_wait` timer) wakes it. Panics with `what` after `limit`.
pub fn step_until(worker: &mut Worker, limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        worker.step_or_park(Some(Duration::from_millis(100)));
    }
}

/// Asserts that `got` and `want` are the same detections: same classes, confidences and boxes
/// within `tol` (order-insensitive).
pub fn assert_same_detections(got: &[Detection], want: &[Detection], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {} detections vs {}:\n{got:?}\n{want:?}", got.len(), want.len());
    let close = |a: &Detection, b: &Detection| {
        a.class == b.class
            && (a.confidence - b.confidence).abs() <= tol
            && [(a.bbox.x1, b.bbox.x1), (a.bbox.y1, b.bbox.y1), (a.bbox.x2, b.bbox.x2), (a.bbox.y2, b.bbox.y2)].iter().all(|(x, y)| (x - y).abs() <= tol)
    };
    let mut used = vec![false; want.len()];
    for g in got {
        let m = want.iter().enumerate().position(|(i, w)| !used[i] && close(g, w));
        let Some(i) = m else { panic!("{what}: {g:?} has no match within {tol} in {want:?}") };
        used[i] = true;
    }
}

/// `(class name, confidence, [x1, y1, x2, y2])` for messages.
pub fn describe(dets: &[Detection]) -> String {
    dets.iter()
        .map(|d| format!("  {:<8} {:.3} [{:6.1} {:6.1} {:6.1} {:6.1}]", d.class.name(), d.confidence, d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2))
        .collect::<Vec<_>>()
        .join("\n")
}
