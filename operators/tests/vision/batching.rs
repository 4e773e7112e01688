//! The batching inference operator (`Detect::detect`) inside timely, on real decoded frames and
//! the real model: times, capabilities, batching, `max_wait`, isolation of cameras, load shedding.

use crate::support::{
    Errors, HEIGHT, START, Seen, WIDTH, assert_same_detections, detector, execute_bounded, first_frames, policy, record, record_errors, step_until, video_frame,
};
use itscam_operators::vision::infer::{Detect, InferenceStats};
use itscam_types::VideoFrame;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::core::Probe;
use timely::dataflow::operators::{Concat, ToStream};
use timely::dataflow::{InputHandle, ProbeHandle};

type Input = InputHandle<u64, CapacityContainerBuilder<Vec<VideoFrame>>>;

/// Bound on one wait for the operator inside a test (a batch takes ~0.1-0.6 s in a debug build).
const WAIT: Duration = Duration::from_secs(60);
/// Bound on a whole dataflow, waits included.
const LIMIT: Duration = Duration::from_secs(180);

fn batch_sizes(stats: &InferenceStats) -> Vec<u32> {
    stats.samples.lock().unwrap().batch_size.clone()
}

/// Two cameras interleaved, six frames each (distinct real frames), all available at once.
#[test]
fn every_frame_comes_out_once_at_its_own_time_in_full_batches() {
    let rgb = first_frames(12);
    let sent: Vec<VideoFrame> = (0..6u64)
        .flat_map(|i| [video_frame("cam-a", START + 100 * i, i, &rgb[2 * i as usize]), video_frame("cam-b", START + 100 * i + 50, i, &rgb[2 * i as usize + 1])])
        .collect();
    let (seen, errors): (Seen, Errors) = Default::default();
    let stats = Arc::new(InferenceStats::default());
    let (frames, seen2, errors2, stats2) = (sent.clone(), seen.clone(), errors.clone(), stats.clone());
    execute_bounded(LIMIT, move |worker| {
        let det = detector(4);
        worker.dataflow::<u64, _, _>(move |scope| {
            let (out, errs) = frames.to_stream(scope).container::<Vec<_>>().detect(det, policy(4, 20, 64, &[]), stats2);
            record(out, &seen2);
            record_errors(errs, &errors2);
        });
    });
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 12, "12 frames in, 12 out");
    let by_key: BTreeMap<(String, u64), _> = seen.iter().map(|o| ((o.frame.camera_id.clone(), o.frame.frame), o)).collect();
    assert_eq!(by_key.len(), 12, "no frame twice");
    // The detections of each frame, each run alone: the operator must hand every frame its own.
    let mut reference = detector(1);
    for f in &sent {
        let o = by_key.get(&(f.camera_id.to_string(), f.frame)).unwrap_or_else(|| panic!("{} frame {} lost", f.camera_id, f.frame));
        assert_eq!(o.time, f.ts_ms, "{} frame {} travels at its ts_ms", f.camera_id, f.frame);
        assert_eq!((o.frame.ts_ms, o.frame.width, o.frame.height), (f.ts_ms, WIDTH, HEIGHT));
        let mut alone = Vec::new();
        reference.detect(std::slice::from_ref(f), &mut alone).unwrap();
        assert!(o.frame.detections.iter().any(|d| d.class.name() == "person"), "{} frame {}: people are found", f.camera_id, f.frame);
        assert_same_detections(&o.frame.detections, &alone[0], 1e-3, &format!("{} frame {}", f.camera_id, f.frame));
    }
    let sizes = batch_sizes(&stats);
    assert!(sizes.iter().all(|&n| n <= 4), "never more than max_batch: {sizes:?}");
    assert_eq!(sizes, [4, 4, 4], "12 frames available at once make full batches");
    assert_eq!(stats.frames.load(Ordering::Relaxed), 12);
    assert_eq!(stats.batches.load(Ordering::Relaxed), 3);
    assert_eq!(stats.pending.load(Ordering::Relaxed), 0);
    assert_eq!(stats.dropped.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed), 0);
}

/// Three frames, max_batch 8, the input open at a later time: only `max_wait` can release them.
#[test]
fn a_partial_batch_is_flushed_after_max_wait_while_the_input_stays_open() {
    let rgb = first_frames(3);
    let (seen, errors): (Seen, Errors) = Default::default();
    let stats = Arc::new(InferenceStats::default());
    let max_wait = Duration::from_millis(50);
    let (seen2, errors2, stats2) = (seen.clone(), errors.clone(), stats.clone());
    execute_bounded(LIMIT, move |worker| {
        let mut input = Input::new();
        let probe = ProbeHandle::new();
        let det = detector(8);
        worker.dataflow::<u64, _, _>(|scope| {
            let (out, errs) = input.to_stream(scope).detect(det, policy(8, max_wait.as_millis() as u64, 64, &[]), stats2.clone());
            record(out, &seen2).probe_with(&probe);
            record_errors(errs, &errors2);
        });
        for i in 0..3u64 {
            input.advance_to(START + 100 * i);
            input.send(video_frame("cam-a", START + 100 * i, i, &rgb[i as usize]));
        }
        let open_at = START + 60_000;
        input.advance_to(open_at);
        step_until(worker, WAIT, "the partial batch of 3 to be emitted", || seen2.lock().unwrap().len() == 3);
        assert_eq!(batch_sizes(&stats2), [3], "one partial batch of the 3 frames");
        let waited = stats2.samples.lock().unwrap().queue_wait.clone();
        let oldest = *waited.iter().max().unwrap();
        assert!(oldest as u128 >= max_wait.as_micros(), "released by max_wait ({max_wait:?}), oldest waited {oldest} µs");
        step_until(worker, WAIT, "the output frontier to reach the open input", || !probe.less_than(&open_at));
        assert!(probe.less_equal(&open_at), "the input is still open at {open_at}");
        assert_eq!(input.time(), &open_at);
    });
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
    let seen = seen.lock().unwrap();
    let got: Vec<(u64, u64)> = seen.iter().map(|o| (o.time, o.frame.frame)).collect();
    assert_eq!(got, [(START, 0), (START + 100, 1), (START + 200, 2)]);
}

/// Frames of two cameras sent one at a time, the input open just after each: the output frontier
/// passes each frame's time once that frame is out, never before.
#[test]
fn emitting_a_frame_releases_its_time() {
    let rgb = first_frames(6);
    let (seen, errors): (Seen, Errors) = Default::default();
    let stats = Arc::new(InferenceStats::default());
    let (seen2, errors2, stats2) = (seen.clone(), errors.clone(), stats.clone());
    execute_bounded(LIMIT, move |worker| {
        let mut input = Input::new();
        let probe = ProbeHandle::new();
        let det = detector(2);
        worker.dataflow::<u64, _, _>(|scope| {
            let (out, errs) = input.to_stream(scope).detect(det, policy(2, 20, 64, &[]), stats2.clone());
            record(out, &seen2).probe_with(&probe);
            record_errors(errs, &errors2);
        });
        for i in 0..6u64 {
            let camera = if i % 2 == 0 { "cam-a" } else { "cam-b" };
            let ts = START + 100 * i;
            input.advance_to(ts);
            input.send(video_frame(camera, ts, i / 2, &rgb[i as usize]));
            // The input moves on (still open): only the operator holds `ts` back now.
            input.advance_to(ts + 1);
            step_until(worker, WAIT, &format!("the frontier to pass {ts}"), || {
                let out = seen2.lock().unwrap().iter().any(|o| o.time == ts);
                // Never past a frame that is not out yet.
                assert!(out || probe.less_equal(&ts), "the frontier passed {ts} before its frame was emitted");
                !probe.less_equal(&ts)
            });
            assert!(probe.less_equal(&(ts + 1)), "the frontier stops at the open input");
        }
    });
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6);
    assert!(seen.iter().all(|o| o.time == o.frame.ts_ms));
    assert!(batch_sizes(&stats).iter().all(|&n| n <= 2));
}

/// Camera b sends one frame and then nothing, its input left open; camera a keeps sending.
#[test]
fn a_silent_camera_does_not_stall_another() {
    let rgb = first_frames(11);
    let (seen, errors): (Seen, Errors) = Default::default();
    let stats = Arc::new(InferenceStats::default());
    let (seen2, errors2, stats2) = (seen.clone(), errors.clone(), stats.clone());
    execute_bounded(LIMIT, move |worker| {
        let (mut input_a, mut input_b) = (Input::new(), Input::new());
        let probe = ProbeHandle::new();
        let det = detector(4);
        worker.dataflow::<u64, _, _>(|scope| {
            let frames = input_a.to_stream(scope).concat(input_b.to_stream(scope));
            let (out, errs) = frames.detect(det, policy(4, 20, 64, &[]), stats2.clone());
            record(out, &seen2).probe_with(&probe);
            record_errors(errs, &errors2);
        });
        input_b.advance_to(START);
        input_b.send(video_frame("cam-b", START, 0, &rgb[10]));
        input_b.flush(); // b's frame goes out; b's input stays at START, open, forever
        for i in 0..10u64 {
            let ts = START + 1_000 + 100 * i;
            input_a.advance_to(ts);
            input_a.send(video_frame("cam-a", ts, i, &rgb[i as usize]));
        }
        input_a.advance_to(START + 60_000);
        step_until(worker, WAIT, "all 10 frames of camera a", || seen2.lock().unwrap().iter().filter(|o| o.frame.camera_id == "cam-a").count() == 10);
        step_until(worker, WAIT, "camera b's one frame", || seen2.lock().unwrap().iter().any(|o| o.frame.camera_id == "cam-b"));
        // The output frontier waits for b's open input: a's frames flowed anyway.
        assert!(probe.less_equal(&START), "b's open input holds the frontier at its time");
        assert_eq!(input_b.time(), &START);
    });
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 11);
    let mut a: Vec<u64> = seen.iter().filter(|o| o.frame.camera_id == "cam-a").map(|o| o.frame.frame).collect();
    a.sort();
    assert_eq!(a, (0..10).collect::<Vec<_>>(), "each of a's frames once");
    assert!(seen.iter().all(|o| o.time == o.frame.ts_ms));
    let sizes = batch_sizes(&stats);
    assert!(sizes.iter().all(|&n| n <= 4), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u32>(), 11);
}

/// 20 frames each of a live and a file camera at once (the live camera one frame ahead, so two
/// of its frames can be queued), queue 2, max_batch 1: the live camera sheds its oldest queued
/// frames, the file camera loses none.
#[test]
fn live_cameras_shed_their_oldest_frames_and_file_cameras_never_do() {
    let rgb = first_frames(20);
    let (seen, errors): (Seen, Errors) = Default::default();
    let stats = Arc::new(InferenceStats::default());
    let (seen2, errors2, stats2) = (seen.clone(), errors.clone(), stats.clone());
    execute_bounded(LIMIT, move |worker| {
        let det = detector(1);
        let live = |i: u64| video_frame("live", START + 100 * i, i, &rgb[i as usize]);
        let file = |i: u64| video_frame("file", START + 100 * i + 50, i, &rgb[i as usize]);
        // live 0, live 1, file 0, live 2, file 1, ..., live 19, file 18, file 19
        let frames: Vec<VideoFrame> = std::iter::once(live(0)).chain((0..20u64).flat_map(|i| (i < 19).then(|| live(i + 1)).into_iter().chain([file(i)]))).collect();
        assert_eq!(frames.len(), 40);
        worker.dataflow::<u64, _, _>(move |scope| {
            let (out, errs) = frames.to_stream(scope).container::<Vec<_>>().detect(det, policy(1, 20, 2, &["live"]), stats2);
            record(out, &seen2);
            record_errors(errs, &errors2);
        });
    });
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
    let seen = seen.lock().unwrap();
    let frames_of = |camera: &str| {
        let mut v: Vec<u64> = seen.iter().filter(|o| o.frame.camera_id == camera).map(|o| o.frame.frame).collect();
        v.sort();
        v
    };
    let (live, file) = (frames_of("live"), frames_of("file"));
    let dropped = stats.dropped.load(Ordering::Relaxed);
    println!("live frames dropped: {dropped} of 20; kept {live:?}");
    assert_eq!(file, (0..20).collect::<Vec<_>>(), "no frame of the file camera is dropped");
    assert!(dropped > 0, "the overloaded live camera sheds frames");
    assert_eq!(live.len() as u64 + dropped, 20, "every live frame is inferred or counted as dropped");
    // Two live frames stay queued (the queue bound), so the kept ones tell oldest from newest.
    assert!(live.len() >= 2, "{live:?}");
    let kept_from = 20 - live.len() as u64;
    assert_eq!(live, (kept_from..20).collect::<Vec<_>>(), "the oldest live frames are the ones dropped");
    assert!(seen.iter().all(|o| o.time == o.frame.ts_ms));
    assert!(batch_sizes(&stats).iter().all(|&n| n == 1));
    assert_eq!(stats.pending.load(Ordering::Relaxed), 0);
}
