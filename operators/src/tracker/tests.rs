//! Scenario tests of the tracker: synthetic objects moving at constant velocity.

use super::*;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const T0: u64 = 1_700_000_000_000;

/// Event time of frame `n` at 25 fps.
fn ts(n: u64) -> u64 {
    T0 + n * 40
}

fn class(name: &str) -> ObjectClass {
    ObjectClass::from_name(name).expect("COCO class")
}

fn det(x1: f32, y1: f32, w: f32, h: f32, confidence: f32, class_name: &str) -> Detection {
    Detection { class: class(class_name), confidence, bbox: BBox { x1, y1, x2: x1 + w, y2: y1 + h } }
}

fn frame(n: u64, detections: Vec<Detection>) -> Frame {
    Frame { camera_id: "cam".into(), ts_ms: ts(n), frame: n, width: 1920, height: 1080, detections, model_version: None }
}

/// An object moving at constant velocity.
#[derive(Clone, Copy)]
struct Obj {
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    w: f32,
    h: f32,
}

impl Obj {
    fn at(&self, n: u64, confidence: f32, class_name: &str) -> Detection {
        let t = n as f32;
        det(self.x + self.vx * t, self.y + self.vy * t, self.w, self.h, confidence, class_name)
    }
}

/// A frame and, per detection, which object it shows.
type Scripted = (Frame, Vec<usize>);

/// What happened to each object over a run.
struct Outcome {
    /// Per object: `(frame, track id)` for every frame it was detected in.
    ids: Vec<Vec<(u64, Option<u64>)>>,
    /// `(frame, row)` of every track that ended.
    ended: Vec<(u64, TrackRow)>,
}

impl Outcome {
    /// Distinct ids an object was given, in order of appearance.
    fn distinct(&self, obj: usize) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for &(_, id) in &self.ids[obj] {
            if let Some(id) = id
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
        out
    }

    /// The object's id at frame `n`.
    fn id_at(&self, obj: usize, n: u64) -> Option<u64> {
        self.ids[obj].iter().find(|(f, _)| *f == n).expect("object detected in that frame").1
    }
}

fn run(tracker: &mut Tracker, frames: &[Scripted], objects: usize) -> Outcome {
    let mut out = Outcome { ids: vec![Vec::new(); objects], ended: Vec::new() };
    for (f, labels) in frames {
        let u = tracker.update(f);
        assert_eq!(u.track_ids.len(), f.detections.len(), "one id slot per detection");
        for (&obj, id) in labels.iter().zip(&u.track_ids) {
            out.ids[obj].push((f.frame, *id));
        }
        out.ended.extend(u.ended.into_iter().map(|r| (f.frame, r)));
    }
    out
}

/// Frames `0..n` of `objects` (all detected, conf 0.9, `car`), detection order reversed on odd
/// frames so that nothing can rely on it.
fn script(n: u64, objects: &[Obj]) -> Vec<Scripted> {
    (0..n)
        .map(|i| {
            let mut labels: Vec<usize> = (0..objects.len()).collect();
            if i % 2 == 1 {
                labels.reverse();
            }
            let dets = labels.iter().map(|&o| objects[o].at(i, 0.9, "car")).collect();
            (frame(i, dets), labels)
        })
        .collect()
}

fn config(f: impl FnOnce(&mut TrackerConfig)) -> TrackerConfig {
    let mut c = TrackerConfig::default();
    f(&mut c);
    c
}

/// Every object got exactly one id, from its `min_hits`-th frame on, all ids distinct.
fn assert_one_id_each(out: &Outcome, min_hits: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for obj in 0..out.ids.len() {
        let d = out.distinct(obj);
        assert_eq!(d.len(), 1, "object {obj} ids {:?}", out.ids[obj]);
        for (k, &(n, id)) in out.ids[obj].iter().enumerate() {
            let want = if k + 1 >= min_hits { Some(d[0]) } else { None };
            assert_eq!(id, want, "object {obj} at frame {n}");
        }
        assert!(!ids.contains(&d[0]), "id {} shared", d[0]);
        ids.push(d[0]);
    }
    ids
}

fn crossing(assignment: Assignment) {
    // Same size, opposite directions, 5 px apart vertically, crossing between frames 20 and 21:
    // the boxes overlap for several frames, and at frame 21 each detection overlaps the other
    // object's previous box more than its own, so only the motion model keeps them apart.
    let a = Obj { x: 0.0, y: 100.0, vx: 10.0, vy: 0.0, w: 50.0, h: 50.0 };
    let b = Obj { x: 410.0, y: 105.0, vx: -10.0, vy: 0.0, w: 50.0, h: 50.0 };
    let box_at = |o: &Obj, n| o.at(n, 1.0, "car").bbox;
    assert!(box_at(&a, 20).iou(&box_at(&b, 20)) > 0.5);
    assert!(box_at(&a, 21).iou(&box_at(&b, 20)) > box_at(&a, 21).iou(&box_at(&a, 20)));
    let mut t = Tracker::new("cam", config(|c| c.assignment = assignment));
    let out = run(&mut t, &script(40, &[a, b]), 2);
    assert_eq!(assert_one_id_each(&out, 3), vec![1, 2]);
    assert!(out.ended.is_empty());
    assert_eq!(t.live_tracks(), 2);
}

#[test]
fn crossing_objects_keep_their_ids() {
    crossing(Assignment::Optimal);
}

#[test]
fn crossing_objects_keep_their_ids_greedy() {
    crossing(Assignment::Greedy);
}

#[test]
fn near_miss_does_not_swap_ids() {
    // Adjacent lanes overlapping by 10 px, passing each other at frame 20, with jitter; also with
    // a permissive match_iou under which the wrong pairs are allowed and the assignment decides.
    for match_iou in [0.2, 0.05] {
        let a = Obj { x: 0.0, y: 100.0, vx: 12.0, vy: 0.0, w: 50.0, h: 50.0 };
        let b = Obj { x: 480.0, y: 140.0, vx: -12.0, vy: 0.0, w: 50.0, h: 50.0 };
        let mut rng = SmallRng::seed_from_u64(3);
        let mut frames = script(40, &[a, b]);
        for (f, _) in &mut frames {
            for d in &mut f.detections {
                let (dx, dy) = (rng.random_range(-1.5..1.5), rng.random_range(-1.5..1.5));
                d.bbox = BBox { x1: d.bbox.x1 + dx, y1: d.bbox.y1 + dy, x2: d.bbox.x2 + dx, y2: d.bbox.y2 + dy };
            }
        }
        let mut t = Tracker::new("cam", config(|c| c.match_iou = match_iou));
        let out = run(&mut t, &frames, 2);
        assert_eq!(assert_one_id_each(&out, 3), vec![1, 2], "match_iou {match_iou}");
        assert!(out.ended.is_empty());
    }
}

/// One object moving right, hidden for frames `from..from + hidden`, seen until frame `n`.
fn occluded(from: u64, hidden: u64, n: u64) -> Vec<Scripted> {
    let o = Obj { x: 0.0, y: 0.0, vx: 4.0, vy: 2.0, w: 50.0, h: 50.0 };
    (0..n)
        .map(|i| {
            if (from..from + hidden).contains(&i) {
                (frame(i, vec![]), vec![])
            } else {
                (frame(i, vec![o.at(i, 0.9, "car")]), vec![0])
            }
        })
        .collect()
}

#[test]
fn short_occlusion_keeps_the_id() {
    for hidden in [1, 3, 5] {
        let mut t = Tracker::new("cam", config(|c| c.max_missed = 5));
        let out = run(&mut t, &occluded(10, hidden, 40), 1);
        assert_eq!(out.distinct(0), vec![1], "hidden {hidden}");
        assert_eq!(out.id_at(0, 10 + hidden), Some(1), "matched again right after the gap");
        assert!(out.ended.is_empty());
        let rows = t.finish();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].frames, 40 - hidden);
    }
}

#[test]
fn long_occlusion_ends_the_track_and_starts_a_new_id() {
    // Last seen at frame 9; missed 10..=15 is six frames > max_missed = 5: ends at frame 15.
    let mut t = Tracker::new("cam", config(|c| c.max_missed = 5));
    let out = run(&mut t, &occluded(10, 6, 40), 1);
    assert_eq!(out.ended.len(), 1);
    let (at, row) = &out.ended[0];
    assert_eq!(*at, 15);
    assert_eq!(
        *row,
        TrackRow {
            camera_id: "cam".into(),
            track_id: 1,
            class: class("car"),
            first_ts_ms: ts(0),
            last_ts_ms: ts(9),
            frames: 10,
            mean_speed_kmh: None,
            max_speed_kmh: None,
            model_versions: None,
        }
    );
    assert_eq!(out.distinct(0), vec![1, 2]);
    // Back at 16: tentative for two frames, confirmed at the third.
    assert_eq!((out.id_at(0, 16), out.id_at(0, 17), out.id_at(0, 18)), (None, None, Some(2)));
    let rows = t.finish();
    assert_eq!((rows[0].track_id, rows[0].first_ts_ms, rows[0].frames), (2, ts(16), 24));
}

#[test]
fn frame_gaps_are_predicted_over() {
    // Fast object (20 px/frame, 50 px box); frames 10..14 never arrive. One-step prediction
    // would miss it by 80 px.
    let o = Obj { x: 0.0, y: 0.0, vx: 20.0, vy: 0.0, w: 50.0, h: 50.0 };
    let frames: Vec<Scripted> =
        (0..10).chain(14..30).map(|i| (frame(i, vec![o.at(i, 0.9, "car")]), vec![0])).collect();
    let mut t = Tracker::new("cam", config(|c| c.max_missed = 5));
    let out = run(&mut t, &frames, 1);
    assert_eq!(out.distinct(0), vec![1]);
    assert_eq!(out.id_at(0, 14), Some(1));
    assert!(out.ended.is_empty());

    // A gap longer than max_missed ends unmatched tracks at the first frame after it.
    let frames = [(frame(30, vec![]), vec![]), (frame(40, vec![]), vec![])];
    let out = run(&mut t, &frames, 0);
    assert_eq!(out.ended.len(), 1);
    assert_eq!((out.ended[0].0, out.ended[0].1.last_ts_ms), (40, ts(29)));
    assert_eq!(t.live_tracks(), 0);
}

#[test]
fn ids_persist_over_300_jittery_frames() {
    let mut rng = SmallRng::seed_from_u64(42);
    let objects: Vec<Obj> = (0..6)
        .map(|k| Obj {
            x: rng.random_range(0.0..1500.0),
            y: 30.0 + 170.0 * k as f32,
            vx: rng.random_range(-4.0..4.0),
            vy: rng.random_range(-0.2..0.2),
            w: rng.random_range(40.0..140.0),
            h: rng.random_range(40.0..120.0),
        })
        .collect();
    let frames: Vec<Scripted> = (0..300)
        .map(|i| {
            let mut labels: Vec<usize> = (0..objects.len()).collect();
            labels.shuffle(&mut rng);
            let dets = labels
                .iter()
                .map(|&o| {
                    let mut d = objects[o].at(i, rng.random_range(0.6..0.95), "car");
                    for e in [&mut d.bbox.x1, &mut d.bbox.y1, &mut d.bbox.x2, &mut d.bbox.y2] {
                        *e += rng.random_range(-3.0..3.0);
                    }
                    d
                })
                .collect();
            (frame(i, dets), labels)
        })
        .collect();
    let mut t = Tracker::new("cam", TrackerConfig::default());
    let out = run(&mut t, &frames, objects.len());
    let mut ids = assert_one_id_each(&out, 3);
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    assert!(out.ended.is_empty());
    let rows = t.finish();
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.frames == 300 && r.first_ts_ms == ts(0) && r.last_ts_ms == ts(299)));
}

#[test]
fn unconfirmed_tracks_are_never_emitted() {
    let fp = det(500.0, 500.0, 40.0, 40.0, 0.95, "person");
    let flicker = det(800.0, 100.0, 60.0, 60.0, 0.95, "car");
    let mut t = Tracker::new("cam", config(|c| c.min_hits = 3));
    let mut all = Vec::new();
    for n in 0..20 {
        let mut dets = Vec::new();
        if n == 0 {
            dets.push(fp.clone()); // a single-frame false positive
        }
        if matches!(n, 3 | 4 | 6 | 7 | 10 | 11) {
            dets.push(flicker.clone()); // two on, one or more off: never three in a row
        }
        let u = t.update(&frame(n, dets));
        assert!(u.track_ids.iter().all(Option::is_none), "frame {n}: {:?}", u.track_ids);
        assert!(u.ended.is_empty());
        all.push(u);
    }
    assert_eq!(t.live_tracks(), 0);
    assert!(t.finish().is_empty());
    // No id was used up by the tentative tracks.
    let real = Obj { x: 100.0, y: 100.0, vx: 1.0, vy: 0.0, w: 50.0, h: 50.0 };
    let ids: Vec<_> = (20..23).map(|n| t.update(&frame(n, vec![real.at(n, 0.9, "car")])).track_ids[0]).collect();
    assert_eq!(ids, vec![None, None, Some(1)]);
}

#[test]
fn min_hits_one_confirms_immediately() {
    let mut t = Tracker::new("cam", config(|c| {
        c.min_hits = 1;
        c.max_missed = 0;
    }));
    let u = t.update(&frame(0, vec![det(0.0, 0.0, 30.0, 30.0, 0.9, "dog")]));
    assert_eq!(u.track_ids, vec![Some(1)]);
    assert_eq!(t.live_tracks(), 1);
    let u = t.update(&frame(1, vec![]));
    assert_eq!(u.ended.len(), 1);
    assert_eq!((u.ended[0].track_id, u.ended[0].frames, u.ended[0].class), (1, 1, class("dog")));
}

#[test]
fn low_confidence_extends_but_never_starts_tracks() {
    let o = Obj { x: 0.0, y: 0.0, vx: 2.0, vy: 1.0, w: 60.0, h: 60.0 };
    let mut t = Tracker::new("cam", TrackerConfig::default());

    // Low (0.3) and high-but-under-new_track_threshold (0.55) detections start nothing.
    for n in 0..20 {
        let conf = if n < 10 { 0.3 } else { 0.55 };
        let u = t.update(&frame(n, vec![o.at(n, conf, "car")]));
        assert_eq!(u.track_ids, vec![None]);
    }
    assert!(t.finish().is_empty());

    let mut t = Tracker::new("cam", TrackerConfig::default());
    let plan: &[(std::ops::Range<u64>, f32, Option<u64>)] = &[
        (0..2, 0.9, None),       // tentative
        (2..5, 0.9, Some(1)),    // confirmed at the third hit
        (5..15, 0.3, Some(1)),   // low scores keep a tracked track alive (stage 2)
        (15..17, 0.05, None),    // below low_threshold: ignored, the track misses
        (17..18, 0.3, None),     // the track was lost last frame: low scores do not revive it
        (18..20, 0.9, Some(1)),  // a high score does
    ];
    for (range, conf, want) in plan {
        for n in range.clone() {
            let u = t.update(&frame(n, vec![o.at(n, *conf, "car")]));
            assert_eq!(u.track_ids, vec![*want], "frame {n} conf {conf}");
        }
    }
    let rows = t.finish();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].frames, rows[0].first_ts_ms, rows[0].last_ts_ms), (17, ts(0), ts(19)));
}

#[test]
fn class_is_the_majority_vote() {
    let o = Obj { x: 0.0, y: 0.0, vx: 1.0, vy: 0.0, w: 80.0, h: 50.0 };
    let cases: &[(&[&str], &str)] = &[
        (&["car", "truck", "truck", "car", "bus", "truck", "car", "truck", "car", "truck"], "truck"),
        (&["car", "car", "car", "truck", "truck"], "car"),
        // Ties go to the tied class seen most recently.
        (&["car", "truck", "truck", "car"], "car"),
        (&["truck", "car", "car", "bus", "truck"], "truck"),
    ];
    for (classes, want) in cases {
        let mut t = Tracker::new("cam", TrackerConfig::default());
        for (n, c) in classes.iter().enumerate() {
            t.update(&frame(n as u64, vec![o.at(n as u64, 0.9, c)]));
        }
        let rows = t.finish();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].class, class(want), "{classes:?}");
        assert_eq!(rows[0].frames, classes.len() as u64);
    }
}

#[test]
fn finish_returns_live_confirmed_tracks() {
    let a = Obj { x: 0.0, y: 0.0, vx: 3.0, vy: 0.0, w: 50.0, h: 50.0 };
    let b = Obj { x: 0.0, y: 300.0, vx: 3.0, vy: 0.0, w: 50.0, h: 50.0 };
    let c = Obj { x: 0.0, y: 600.0, vx: 3.0, vy: 0.0, w: 50.0, h: 50.0 };
    let mut t = Tracker::new("cam", TrackerConfig::default());
    for n in 0..20 {
        let mut dets = vec![a.at(n, 0.9, "car")];
        if (5..18).contains(&n) {
            dets.push(b.at(n, 0.9, "person")); // lost for the last two frames, still alive
        }
        if n == 19 {
            dets.push(c.at(n, 0.9, "car")); // tentative at the end
        }
        assert!(t.update(&frame(n, dets)).ended.is_empty());
    }
    assert_eq!(t.live_tracks(), 2);
    let rows = t.finish();
    let summary: Vec<_> =
        rows.iter().map(|r| (r.track_id, r.class, r.first_ts_ms, r.last_ts_ms, r.frames, r.camera_id.as_str())).collect();
    assert_eq!(
        summary,
        vec![(1, class("car"), ts(0), ts(19), 20, "cam"), (2, class("person"), ts(5), ts(17), 13, "cam")]
    );
    assert!(rows.iter().all(|r| r.mean_speed_kmh.is_none() && r.max_speed_kmh.is_none()));
    assert_eq!(t.live_tracks(), 0);
    assert!(t.finish().is_empty());
    // Ids are never reused.
    let ids: Vec<_> = (20..23).map(|n| t.update(&frame(n, vec![a.at(n, 0.9, "car")])).track_ids[0]).collect();
    assert_eq!(ids, vec![None, None, Some(3)]);
}

// --- Calibrated cameras: association on the ground plane. ---

/// A camera 1500 px from the road plane's scale: ground point `(x, y)` metres (`x` across the
/// road, `y` away from the camera) is seen at `u = 960 + 1500 x / y`, `v = 100 + 3000 / y`
/// (the horizon at `v = 100`), a projective map that the homography fitted below recovers.
fn image_of(x: f64, y: f64) -> (f64, f64) {
    (960.0 + 1500.0 * x / y, 100.0 + 3000.0 / y)
}

fn road() -> itscam_geo::Homography {
    let world = [[-4.0, 20.0], [4.0, 20.0], [-4.0, 80.0], [4.0, 80.0]];
    let image: Vec<[f64; 2]> = world.iter().map(|p| image_of(p[0], p[1])).map(|(u, v)| [u, v]).collect();
    itscam_geo::Homography::fit(&image, &world).expect("four points in general position")
}

/// A vehicle `size.0` m wide and `size.1` m high whose ground point is at `(x, y)`, as a box.
fn vehicle(x: f64, y: f64, size: (f64, f64), class_name: &str) -> Detection {
    let (u, v) = image_of(x, y);
    let (w, h) = (size.0 * 1500.0 / y, size.1 * 1500.0 / y);
    det((u - w / 2.0) as f32, (v - h) as f32, w as f32, h as f32, 0.9, class_name)
}

const CAR: (f64, f64) = (1.8, 1.5);
const TRUCK: (f64, f64) = (2.5, 3.2);

/// A frame at 10 fps.
fn frame10(n: u64, detections: Vec<Detection>) -> Frame {
    Frame { camera_id: "cam".into(), ts_ms: T0 + 100 * n, frame: n, width: 1920, height: 1080, detections, model_version: None }
}

fn calibrated(f: impl FnOnce(&mut TrackerConfig)) -> Tracker {
    Tracker::calibrated("cam", config(f), road())
}

/// The ByteTrack baseline: image association only, no recovery.
fn image_only() -> Tracker {
    Tracker::new("cam", config(|c| c.recovery_std_boxes = 0.0))
}

#[test]
fn a_track_hidden_behind_an_occluder_is_recovered_by_its_predicted_ground_position() {
    // A car approaching at 15 m/s from 50 m, hidden for 1.7 s (frames 8..25) behind an
    // occluder. In the image it speeds up and grows while hidden (from 40 m to 14 m away), so
    // its box reappears where the image filter's coasting box barely overlaps it; on the ground
    // it is where it should be.
    let frames: Vec<Scripted> = (0..30)
        .map(|n| {
            let y = 50.0 - 1.5 * n as f64;
            if (8..25).contains(&n) { (frame10(n, vec![]), vec![]) } else { (frame10(n, vec![vehicle(1.5, y, CAR, "car")]), vec![0]) }
        })
        .collect();
    let out = run(&mut calibrated(|_| {}), &frames, 1);
    assert_eq!(out.distinct(0), vec![1], "{:?}", out.ids[0]);
    assert_eq!(out.id_at(0, 25), Some(1), "re-activated on the first frame it is seen again");
    // The baseline loses it: a second id after the occlusion.
    let out = run(&mut image_only(), &frames, 1);
    assert_eq!(out.distinct(0).len(), 2, "the scenario defeats IoU association: {:?}", out.ids[0]);
}

#[test]
fn a_new_vehicle_over_a_lost_track_in_the_image_but_far_from_it_on_the_ground_gets_its_own_id() {
    // A car stopped at 40 m is tracked, then occluded (no detections from frame 20). At frame 22
    // another car appears 15 m nearer in the same lane: its box overlaps the lost car's box
    // enough for IoU association, but on the ground it is outside the car's gate, even widened
    // for recovery.
    let car = vehicle(1.5, 40.0, CAR, "car");
    let truck = vehicle(1.2, 25.0, CAR, "car");
    assert!(car.bbox.iou(&truck.bbox) > 0.2, "the boxes overlap: IoU {}", car.bbox.iou(&truck.bbox));
    let frames: Vec<Scripted> = (0..40)
        .map(|n| match n {
            0..20 => (frame10(n, vec![car.clone()]), vec![0]),
            20..22 => (frame10(n, vec![]), vec![]),
            _ => (frame10(n, vec![truck.clone()]), vec![1]),
        })
        .collect();
    let out = run(&mut calibrated(|_| {}), &frames, 2);
    assert_eq!(out.distinct(0), vec![1]);
    assert_eq!(out.distinct(1), vec![2], "the truck is a new track: {:?}", out.ids[1]);
    // Image association hands the car's id to the truck.
    let out = run(&mut image_only(), &frames, 2);
    assert_eq!(out.distinct(1), vec![1], "the scenario fools IoU association: {:?}", out.ids[1]);
}

#[test]
fn a_vehicle_crossing_in_front_of_another_keeps_both_ids() {
    // A car approaches in its lane (12 m/s from 60 m) while a car on the cross street 20 m from
    // the camera drives across the view (10 m/s) and passes in front of it in the image; a
    // deterministic jitter of ±1 px on every box, one detection in ten missed.
    let mut frames = Vec::new();
    for n in 0..60u64 {
        let t = n as f64 / 10.0;
        let mut dets = Vec::new();
        let mut labels = Vec::new();
        let a = vehicle(1.5, 60.0 - 12.0 * t, CAR, "car");
        let b = vehicle(-12.0 + 10.0 * t, 20.0, (4.5, 1.5), "car");
        for (k, mut d) in [a, b].into_iter().enumerate() {
            if (n + 3 * k as u64) % 10 == 9 {
                continue;
            }
            let j = if (n + k as u64).is_multiple_of(2) { 1.0 } else { -1.0 };
            d.bbox = BBox { x1: d.bbox.x1 + j, y1: d.bbox.y1 - j, x2: d.bbox.x2 + j, y2: d.bbox.y2 + j };
            dets.push(d);
            labels.push(k);
        }
        frames.push((frame10(n, dets), labels));
    }
    let out = run(&mut calibrated(|_| {}), &frames, 2);
    let (a, b) = (out.distinct(0), out.distinct(1));
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    assert_ne!(a, b);
}

#[test]
fn an_abrupt_lane_change_keeps_the_id() {
    // Far from the camera (90 m) a car moves 3.5 m across in one frame: its box jumps by more
    // than its own width, overlapping nothing; recovery within a lane's reach keeps the track.
    let frames: Vec<Scripted> = (0..40)
        .map(|n| {
            let x = if n < 20 { 1.5 } else { -2.0 };
            (frame10(n, vec![vehicle(x, 90.0 - 1.2 * n as f64, CAR, "car")]), vec![0])
        })
        .collect();
    let out = run(&mut calibrated(|_| {}), &frames, 1);
    assert_eq!(out.distinct(0), vec![1], "{:?}", out.ids[0]);
    assert_eq!(out.id_at(0, 20), Some(1));
    // With recovery off the jump starts a new track.
    let out = run(&mut calibrated(|c| c.recovery_std_m = 0.0), &frames, 1);
    assert_eq!(out.distinct(0).len(), 2, "{:?}", out.ids[0]);
}

#[test]
fn uncalibrated_recovery_takes_a_box_that_jumped_by_its_width() {
    // The same kind of jump in the image: a 40 px box moving right shifts 50 px down in one
    // frame (no overlap left). Recovery in box sizes keeps the id; without it, a new one.
    let o = Obj { x: 100.0, y: 300.0, vx: 3.0, vy: 0.0, w: 40.0, h: 40.0 };
    let frames: Vec<Scripted> = (0..30)
        .map(|n| {
            let mut d = o.at(n, 0.9, "car");
            if n >= 15 {
                d.bbox.y1 += 50.0;
                d.bbox.y2 += 50.0;
            }
            (frame(n, vec![d]), vec![0])
        })
        .collect();
    let out = run(&mut Tracker::new("cam", TrackerConfig::default()), &frames, 1);
    assert_eq!(out.distinct(0), vec![1], "{:?}", out.ids[0]);
    let out = run(&mut image_only(), &frames, 1);
    assert_eq!(out.distinct(0).len(), 2, "{:?}", out.ids[0]);
    // A box of a very different size is another object, never recovered.
    let frames: Vec<Scripted> = (0..30)
        .map(|n| {
            let mut d = o.at(n, 0.9, "car");
            if n >= 15 {
                d.bbox.y1 += 50.0;
                d.bbox.y2 += 120.0;
            }
            (frame(n, vec![d]), vec![0])
        })
        .collect();
    let out = run(&mut Tracker::new("cam", TrackerConfig::default()), &frames, 1);
    assert_eq!(out.distinct(0).len(), 2, "{:?}", out.ids[0]);
}

#[test]
fn a_track_that_left_through_the_border_ends_and_never_passes_its_id_on() {
    // A car leaves through the bottom of the image (its box clipped at y = 1080) and is gone
    // after frame 9; the next car enters the same clipped spot at frame 14.
    let clipped = |n: u64| det(900.0 + n as f32, 700.0, 300.0, 380.0, 0.9, "car");
    let frames: Vec<Scripted> = (0..25)
        .map(|n| match n {
            0..10 => (frame10(n, vec![clipped(n)]), vec![0]),
            10..14 => (frame10(n, vec![]), vec![]),
            _ => (frame10(n, vec![clipped(n)]), vec![1]),
        })
        .collect();
    for mut t in [calibrated(|_| {}), Tracker::new("cam", TrackerConfig::default())] {
        let out = run(&mut t, &frames, 2);
        assert_eq!(out.ended.iter().map(|(n, r)| (*n, r.track_id)).collect::<Vec<_>>(), vec![(12, 1)], "ends after border_max_missed = 2");
        assert_eq!(out.distinct(1), vec![2]);
    }
}

#[test]
fn a_short_class_confusion_keeps_the_id_and_the_class() {
    // A truck seen as a bus for three frames in twenty, on a calibrated and an uncalibrated camera.
    let frames: Vec<Scripted> = (0..20)
        .map(|n| {
            let name = if (8..11).contains(&n) { "bus" } else { "truck" };
            (frame10(n, vec![vehicle(1.5, 50.0 - 1.0 * n as f64, TRUCK, name)]), vec![0])
        })
        .collect();
    for mut t in [calibrated(|_| {}), Tracker::new("cam", TrackerConfig::default())] {
        let out = run(&mut t, &frames, 1);
        assert_eq!(out.distinct(0), vec![1]);
        let rows = t.finish();
        assert_eq!((rows.len(), rows[0].class, rows[0].frames), (1, class("truck"), 20));
    }
}
