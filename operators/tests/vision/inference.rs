//! The bundled CenterNet on real vtest.avi frames: what it finds (cf. models/centernet-mbv3/README.md)
//! and that batching does not change it.

use crate::support::{HEIGHT, START, WIDTH, assert_same_detections, describe, detector, video_frame, vtest_frames};
use itscam_types::config::Provider;
use itscam_types::{Detection, VideoFrame};
use std::time::Instant;

const FRAMES: [u64; 3] = [0, 100, 400];

/// Where the parked vehicles stand in every vtest frame (the white van, `truck` ~0.38, and the
/// car cut off at the right edge, `car` ~0.43: README boxes `[642, 42, 724, 101]` and
/// `[732, 51, 766, 94]`), with a margin of ~20 px.
const PARKED: [f32; 4] = [620.0, 20.0, WIDTH as f32, 125.0];

fn vehicle_in_parking(d: &Detection) -> bool {
    let b = &d.bbox;
    matches!(d.class.name(), "car" | "truck")
        && d.confidence >= 0.3
        && b.x1 >= PARKED[0]
        && b.y1 >= PARKED[1]
        && b.x2 <= PARKED[2]
        && b.y2 <= PARKED[3]
        && b.width() >= 20.0
        && b.height() >= 20.0
}

fn frames() -> Vec<VideoFrame> {
    let rgb = vtest_frames(&FRAMES);
    FRAMES.iter().zip(&rgb).map(|(&n, rgb)| video_frame("vtest", START + 100 * n, n, rgb)).collect()
}

#[test]
fn centernet_finds_the_people_and_the_parked_vehicles_in_vtest() {
    let frames = frames();
    let mut det = detector(3);
    assert_eq!(det.provider(), Provider::Cpu);
    let mut out = Vec::new();
    let started = Instant::now();
    let timings = det.detect(&frames, &mut out).expect("batch of 3 runs");
    let elapsed = started.elapsed();
    assert_eq!(out.len(), 3, "one list per frame");
    for (n, dets) in FRAMES.iter().zip(&out) {
        println!("frame {n}: {} detections\n{}", dets.len(), describe(dets));
        for d in dets {
            let b = &d.bbox;
            assert!((0.3..=1.0).contains(&d.confidence), "frame {n}: confidence below the 0.3 threshold: {d:?}");
            assert!(["person", "bicycle", "car", "motorcycle", "bus", "truck"].contains(&d.class.name()), "frame {n}: class outside the default road users: {d:?}");
            assert!(b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= WIDTH as f32 && b.y2 <= HEIGHT as f32, "frame {n}: box outside 768x576: {d:?}");
            assert!(b.x2 > b.x1 && b.y2 > b.y1, "frame {n}: empty box: {d:?}");
        }
        let persons = dets.iter().filter(|d| d.class.name() == "person" && d.confidence >= 0.3).count();
        assert!(persons >= 3, "frame {n}: {persons} persons >= 0.3, expected at least 3:\n{}", describe(dets));
        // The brief's frames 0 and 100, and 400 too: the vehicles are parked through the clip.
        assert!(dets.iter().any(vehicle_in_parking), "frame {n}: no car/truck >= 0.3 within {PARKED:?}:\n{}", describe(dets));
        let sorted = dets.windows(2).all(|w| w[0].confidence >= w[1].confidence);
        assert!(sorted, "frame {n}: detections come best first");
    }
    println!(
        "batch of 3 (debug build): {:.1} ms total; preprocess {:.1} ms, inference {:.1} ms, decode+NMS {:.1} ms",
        elapsed.as_secs_f64() * 1e3,
        timings.preprocess.as_secs_f64() * 1e3,
        timings.inference.as_secs_f64() * 1e3,
        timings.decode.as_secs_f64() * 1e3
    );
}

#[test]
fn a_batch_of_three_equals_three_batches_of_one() {
    let frames = frames();
    let mut det = detector(3);
    let mut batched = Vec::new();
    det.detect(&frames, &mut batched).expect("batch of 3 runs");
    let mut single = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let mut one = Vec::new();
        det.detect(std::slice::from_ref(f), &mut one).expect("batch of 1 runs");
        assert_eq!(one.len(), 1);
        assert!(!one[0].is_empty(), "frame {}: nothing detected", FRAMES[i]);
        single.push(one.pop().unwrap());
    }
    for (i, n) in FRAMES.iter().enumerate() {
        assert_same_detections(&batched[i], &single[i], 1e-3, &format!("frame {n}, batch 3 vs batch 1"));
    }
    // The reused buffers must not leak one batch into the next: run the batch again.
    let mut again = Vec::new();
    det.detect(&frames, &mut again).expect("batch of 3 runs again");
    for (i, n) in FRAMES.iter().enumerate() {
        assert_same_detections(&again[i], &batched[i], 0.0, &format!("frame {n}, same batch twice"));
    }
    // The results belong to their frames: the frames differ, so must their detections.
    assert_ne!(batched[0], batched[2], "frames 0 and 400 give different detections");
}
