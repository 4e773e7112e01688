//! The batching operator with the real runtime and model (needs `scripts/setup.sh`): frames
//! are synthetic images, since these tests are about batching, time and capabilities.

use super::*;
use itscam_types::config::ModelConfig;
use std::sync::Mutex;
use timely::dataflow::operators::core::{Inspect, Probe};
use timely::dataflow::operators::ToStream;
use timely::dataflow::{InputHandle, ProbeHandle};

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").to_path_buf()
}

fn detector(max_batch: usize) -> Detector {
    let root = repo();
    let lib = root.join(".assets/libonnxruntime.so");
    assert!(lib.is_file(), "{} missing: run scripts/setup.sh", lib.display());
    let config = ModelConfig {
        path: root.join("models/centernet-mbv3/centernet.onnx").display().to_string(),
        runtime_library: Some(lib.display().to_string()),
        max_batch,
        queue: max_batch.max(8),
        ..ModelConfig::default()
    };
    Detector::open(&config).expect("the bundled model opens")
}

fn frame(camera: &str, ts_ms: u64, n: u64) -> VideoFrame {
    let (w, h) = (160u32, 120u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|p| ((p as u64 * 31 + n * 7) % 251) as u8).collect();
    VideoFrame { camera_id: camera.into(), ts_ms, frame: n, width: w, height: h, rgb: Arc::from(rgb) }
}

fn policy(max_batch: usize, queue: usize, live: &[&str]) -> BatchPolicy {
    BatchPolicy { max_batch, max_wait: Duration::from_millis(20), queue, live_cameras: live.iter().map(|c| Arc::from(*c)).collect() }
}

type Seen = Arc<Mutex<Vec<(u64, String, u64, u64)>>>;

fn record<'s>(frames: Stream<'s, u64, Vec<Frame>>, seen: &Seen) -> Stream<'s, u64, Vec<Frame>> {
    let seen = seen.clone();
    frames.inspect_core(move |event| {
        if let Ok((stamp, batch)) = event {
            let t = *stamp.least().expect("one time");
            let mut s = seen.lock().unwrap();
            s.extend(batch.iter().map(|f| (t, f.camera_id.clone(), f.frame, f.ts_ms)));
        }
    })
}

#[test]
fn every_frame_comes_out_once_at_its_own_time_in_full_batches() {
    let seen: Seen = Arc::default();
    let stats = Arc::new(InferenceStats::default());
    let (seen2, stats2) = (seen.clone(), stats.clone());
    timely::execute_directly(move |worker| {
        let (seen, stats) = (seen2.clone(), stats2.clone());
        let det = detector(4);
        worker.dataflow::<u64, _, _>(move |scope| {
            let frames: Vec<VideoFrame> = (0..6u64).flat_map(|i| [frame("a", 1_000 + 100 * i, i), frame("b", 1_050 + 100 * i, i)]).collect();
            let (out, errors) = frames.to_stream(scope).container::<Vec<_>>().detect(det, policy(4, 64, &[]), stats);
            record(out, &seen);
            errors.inspect(|e: &ErrorRow| panic!("unexpected error row {e:?}"));
        });
    });
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 12);
    assert!(seen.iter().all(|(t, _, _, ts)| t == ts), "each frame at its own time: {seen:?}");
    let mut ids: Vec<(String, u64)> = seen.iter().map(|(_, c, f, _)| (c.clone(), *f)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no frame twice, none lost");
    let sizes = stats.samples.lock().unwrap().batch_size.clone();
    assert_eq!(sizes, vec![4, 4, 4], "12 frames available at once make full batches of max_batch");
    assert_eq!(stats.pending.load(Ordering::Relaxed), 0);
}

#[test]
fn a_partial_batch_is_flushed_after_max_wait_and_its_capabilities_released() {
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    timely::execute_directly(move |worker| {
        let mut input = InputHandle::<u64, timely::container::CapacityContainerBuilder<Vec<VideoFrame>>>::new();
        let probe = ProbeHandle::new();
        let det = detector(8);
        let seen = seen2.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let (out, _errors) = input.to_stream(scope).detect(det, policy(8, 64, &[]), Arc::default());
            record(out, &seen).probe_with(&probe);
        });
        input.advance_to(1_000);
        for i in 0..3 {
            input.send(frame("a", 1_000 + 100 * i, i));
        }
        // The input stays open (at 5000): only max_wait can release this batch of 3 < 8.
        input.advance_to(5_000);
        let deadline = Instant::now() + Duration::from_secs(60);
        while probe.less_equal(&1_200) {
            assert!(Instant::now() < deadline, "the partial batch was never flushed");
            worker.step_or_park(Some(Duration::from_millis(50)));
        }
        assert_eq!(seen.lock().unwrap().len(), 3, "the three frames came out while the input was open");
        assert!(probe.less_equal(&5_000), "the frontier stops at the open input");
    });
}

#[test]
fn a_silent_camera_does_not_stall_another() {
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    timely::execute_directly(move |worker| {
        let mut input = InputHandle::<u64, timely::container::CapacityContainerBuilder<Vec<VideoFrame>>>::new();
        let det = detector(4);
        let seen = seen2.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let (out, _errors) = input.to_stream(scope).detect(det, policy(4, 64, &[]), Arc::default());
            record(out, &seen);
        });
        // Camera b sends one frame and then nothing: the input (its time) stays at 900.
        input.advance_to(900);
        input.send(frame("b", 900, 0));
        for i in 0..10 {
            input.send(frame("a", 1_000 + 100 * i, i));
        }
        input.flush(); // hand the frames over without advancing time past b's 900
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().iter().filter(|s| s.1 == "a").count() < 10 {
            assert!(Instant::now() < deadline, "camera a was held back by the silent camera b");
            worker.step_or_park(Some(Duration::from_millis(50)));
        }
    });
}

#[test]
fn live_cameras_shed_their_oldest_frames_under_overload_and_files_never_do() {
    let seen: Seen = Arc::default();
    let stats = Arc::new(InferenceStats::default());
    let (seen2, stats2) = (seen.clone(), stats.clone());
    timely::execute_directly(move |worker| {
        let (seen, stats) = (seen2.clone(), stats2.clone());
        let det = detector(1);
        worker.dataflow::<u64, _, _>(move |scope| {
            let frames: Vec<VideoFrame> = (0..20u64).flat_map(|i| [frame("live", 1_000 + 100 * i, i), frame("file", 1_000 + 100 * i, i)]).collect();
            let (out, _errors) = frames.to_stream(scope).container::<Vec<_>>().detect(det, policy(1, 2, &["live"]), stats);
            record(out, &seen);
        });
    });
    let seen = seen.lock().unwrap();
    let file = seen.iter().filter(|s| s.1 == "file").count();
    let live = seen.iter().filter(|s| s.1 == "live").count();
    let dropped = stats.dropped.load(Ordering::Relaxed) as usize;
    assert_eq!(file, 20, "file frames are never dropped");
    assert!(dropped > 0, "an overloaded live camera sheds frames");
    assert_eq!(live + dropped, 20, "every live frame is either inferred or counted as dropped");
}
