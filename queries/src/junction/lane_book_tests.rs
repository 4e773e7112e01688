//! The lane book on hand-made tracks: a queue built at red and discharged at green, a stalled
//! vehicle's split failure, vehicles outside the lanes, lane metrics at the stop line.

use super::*;
use crate::junction::geometry::{ApproachGeom, LaneGeom};
use itscam_geo::Polygon;
use itscam_types::ObjectClass;
use itscam_types::config::{JunctionConfig, Movement};

/// One approach from the north: two lanes 3.5 m wide, 80 m long, the stop line at y = 0,
/// traffic driving south; lane `n-1` is controlled by `tl`, `n-2` by its own `tl-left`.
pub(super) fn junction(settings: JunctionConfig) -> Arc<JunctionGeom> {
    let lane = |id: &str, x0: f64, signal: Option<&str>| LaneGeom {
        id: id.into(),
        polygon: Polygon::new(&[[x0, 0.0], [x0 + 3.5, 0.0], [x0 + 3.5, 80.0], [x0, 80.0]]).unwrap(),
        signal: signal.map(Arc::from),
    };
    let approach = ApproachGeom {
        id: "north".into(),
        signal: Some("tl".into()),
        entry: vec![[0.0, 50.0], [7.0, 50.0]],
        exit: vec![[-7.0, 30.0], [-0.5, 30.0]],
        stop_line: Some(vec![[0.0, 0.0], [7.0, 0.0]]),
        lanes: vec![lane("n-1", 0.0, None), lane("n-2", 3.5, Some("tl-left"))],
        exit_lanes: vec![],
        inbound: [0.0, -1.0],
        outbound: [0.0, 1.0],
        entry_to_stop_m: 50.0,
    };
    Arc::new(JunctionGeom { camera: "cam".into(), approaches: vec![approach], crosswalks: vec![], movements: vec![vec![Movement::UTurn]], centre: [0.0, -10.0], settings, homography: None })
}

fn point(track: u64, class: &str, at: [f64; 2], kmh: Option<f64>) -> TrackPoint {
    TrackPoint {
        track,
        ts: 0,
        class: ObjectClass::from_name(class).unwrap(),
        ground: Some((at[0], at[1])),
        speed_ck: kmh.map(crate::facts::to_ck),
        speed_std_ck: None,
        moving: kmh.is_some_and(|v| v >= 3.0),
        dir: (0, -1000),
        zones: vec![],
        ended: false,
    }
}

/// Steps the book like the operator does: every 100 ms, advance, points, settle, sample.
fn run(book: &mut LaneBook, tl: &SignalTimeline, until: u64, points_at: impl Fn(u64) -> Vec<TrackPoint>) -> LaneRows {
    let mut rows = LaneRows::default();
    for t in (0..=until).step_by(100) {
        book.advance_to(t, tl, &mut rows);
        for mut p in points_at(t) {
            p.ts = t;
            book.point(&p);
        }
        book.settle();
        if book.next_sample() == t {
            book.sample(&mut rows);
        }
    }
    rows
}

fn timeline(changes: &[(u64, SignalState)], signal: &str) -> Vec<crate::facts::SignalUpdate> {
    let mut ups = vec![];
    for (i, (t, s)) in changes.iter().enumerate() {
        if i > 0 {
            ups.push(((signal.to_string(), changes[i - 1].1), *t, -1));
        }
        ups.push(((signal.to_string(), *s), *t, 1));
    }
    ups
}

/// Cars 0..3 of lane `n-1`: drive in at 36 km/h during red, stop nose to tail from the stop
/// line (ground points 2.25, 9.25, 16.25 m), and leave at 20 km/h one every 2 s from `go`.
fn queued_car(i: u64, t: u64, go: u64) -> Option<TrackPoint> {
    let stop = 2.25 + 7.0 * i as f64;
    let arrive = 15_000 + 2_000 * i;
    let ts = t as f64 / 1000.0;
    let leave = go + 2_000 * i;
    if t < arrive {
        return None;
    }
    let (y, v) = if t < leave {
        let y = 80.0 - 10.0 * (ts - arrive as f64 / 1000.0);
        if y > stop { (y, 36.0) } else { (stop, 0.0) }
    } else {
        (stop - 20.0 / 3.6 * (ts - leave as f64 / 1000.0), 20.0)
    };
    if y < -12.0 {
        let mut p = point(i, "car", [1.75, y], Some(v));
        p.ended = true;
        return (y > -12.6).then_some(p);
    }
    Some(point(i, "car", [1.75, y], Some(v)))
}

#[test]
fn a_queue_builds_at_red_and_clears_at_green_then_a_stalled_car_fails_the_split() {
    use SignalState::*;
    let settings = JunctionConfig { bin_ms: 60_000, ..JunctionConfig::default() };
    let mut tl = SignalTimeline::default();
    let program = [(0, Green), (10_000, Yellow), (13_000, Red), (43_000, Green), (73_000, Yellow), (76_000, Red), (106_000, Green), (136_000, Yellow), (139_000, Red)];
    tl.update(timeline(&program, "tl"));
    let mut book = LaneBook::new(junction(settings), 0, &tl);
    let rows = run(&mut book, &tl, 150_000, |t| {
        let mut ps: Vec<TrackPoint> = (0..3).filter_map(|i| queued_car(i, t, 43_000)).collect();
        // A car parked beside the lanes and a pedestrian in lane 1: neither is queued.
        ps.push(point(10, "car", [20.0, 5.0], Some(0.0)));
        if t < 60_000 {
            ps.push(point(11, "person", [1.0, 30.0], Some(0.0)));
        }
        // From 82 s a car stalls at the stop line for good.
        if t >= 82_000 {
            ps.push(point(12, "car", [1.75, 2.25], Some(0.0)));
        }
        ps
    });
    let sample = |ts: u64, lane: &str| rows.samples.iter().find(|r| r.ts_ms == ts && r.lane_id == lane).map(|r| (r.queue_m, r.queue_veh));
    assert_eq!(sample(14_000, "n-1"), Some((0.0, 0)), "nobody yet");
    assert_eq!(sample(30_000, "n-1"), Some((18.5, 3)), "three cars nose to tail: the back of the third at 16.25 + 2.25 m");
    assert_eq!(sample(30_000, "n-2"), Some((0.0, 0)), "the other lane is empty");
    assert_eq!(sample(44_000, "n-1"), Some((18.5, 2)), "the head has crossed the line, the two behind still stand");
    assert_eq!(sample(52_000, "n-1"), Some((0.0, 0)), "discharged");
    assert_eq!(rows.samples.iter().filter(|r| r.ts_ms == 30_000).count(), 2, "one row per lane and instant");

    let cycles: Vec<&QueueRow> = rows.queues.iter().filter(|r| r.lane_id == "n-1").collect();
    assert_eq!(cycles.len(), 2, "cycles 13 s → 76 s and 76 s → 139 s; the initial green is not a red start: {cycles:?}");
    let (c1, c2) = (cycles[0], cycles[1]);
    assert_eq!((c1.cycle_start_ms, c1.green_start_ms, c1.cycle_end_ms, c1.signal_id.as_str()), (13_000, Some(43_000), 76_000, "tl"));
    assert_eq!((c1.max_queue_m, c1.max_queue_veh, c1.cleared, c1.split_failure), (18.5, 3, true, false));
    assert_eq!(c1.red_start_occupancy, Some(0.0), "nobody at the stop line in the 5 s after 76 s");
    assert_eq!((c2.cycle_start_ms, c2.green_start_ms, c2.cycle_end_ms), (76_000, Some(106_000), 139_000));
    assert_eq!((c2.max_queue_m, c2.max_queue_veh, c2.cleared), (4.5, 1, false), "the stalled car never clears");
    assert_eq!(c2.red_start_occupancy, Some(1.0));
    assert!(c2.split_failure, "not cleared, and the detection zone full at the start of red");
    assert!(rows.queues.iter().all(|r| r.lane_id != "n-2"), "tl-left never changed: no cycle of lane 2");

    // Lane metrics of the first minute: the cars left 2 s apart from 7 m apart at 20 km/h, so
    // they crossed 2 + 7 / 5.56 s apart; each takes 4.5 / 5.56 s over the line.
    let v = 20.0 / 3.6;
    let m = rows.metrics.iter().find(|r| r.lane_id == "n-1" && r.bin_start_ms == 0).expect("bin 0");
    assert_eq!(m.volume, 3);
    let h = m.mean_headway_s.expect("two headways");
    assert!((h - (2.0 + 7.0 / v)).abs() < 0.05, "headway {h}");
    let g = m.mean_gap_s.expect("gaps");
    assert!((g - (2.0 + 7.0 / v - 4.5 / v)).abs() < 0.05, "gap {g}");
    assert!((m.mean_speed_kmh.unwrap() - 20.0).abs() < 1e-9);
    assert!(m.occupancy > 0.3 && m.occupancy < 0.5, "the queue's head covered the zone from ~18 s to ~44 s: {}", m.occupancy);
    let m2 = rows.metrics.iter().find(|r| r.lane_id == "n-1" && r.bin_start_ms == 60_000).expect("bin 1");
    assert_eq!(m2.volume, 0);
    assert!(m2.occupancy > 0.3, "the stalled car from 82 s");
    assert_eq!(book.tracks_held(), 1, "only the stalled car: the ended cars' state is gone, the parked car outside and the person were never held");
}

#[test]
fn a_vehicle_that_strays_beside_the_lane_just_before_the_line_still_crosses_it() {
    let settings = JunctionConfig { bin_ms: 60_000, ..JunctionConfig::default() };
    let tl = SignalTimeline::default();
    let mut book = LaneBook::new(junction(settings), 0, &tl);
    // In lane n-1 at 6 m and 3 m, then its ground point 0.3 m beside the curb, then past the line.
    let path = [(0, [1.0, 6.0]), (300, [1.0, 3.0]), (600, [-0.3, 1.0]), (900, [0.5, -2.0]), (1_200, [0.5, -5.0])];
    let mut rows = run(&mut book, &tl, 70_000, |t| path.iter().filter(|(at, _)| *at == t).map(|(_, g)| point(1, "car", *g, Some(36.0))).collect());
    book.finish(&mut rows);
    let m = rows.metrics.iter().find(|r| r.lane_id == "n-1" && r.bin_start_ms == 0).expect("bin 0");
    assert_eq!(m.volume, 1, "crossed from its last point in the lane (3 m) to 2 m past the line");
    assert!(rows.metrics.iter().filter(|r| r.lane_id != "n-1").all(|r| r.volume == 0));
}
