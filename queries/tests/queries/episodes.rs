//! Episodes: one violation per (rule, track, episode), confirmed after `min_duration_ms`,
//! closed after the grace, on leaving, or when the rule goes.

use itscam_queries::facts::{CrossPoint, Place, PlaceKind, RuleSpec, ZonePoint};
use itscam_queries::rules::Episodes;
use itscam_types::ObjectClass;
use itscam_types::analytics::{Direction, ViolationRow};
use itscam_types::config::{RuleKind, Severity};

fn speeding() -> RuleSpec {
    RuleSpec {
        id: "speed".into(),
        kind: RuleKind::Speeding,
        place: Place { camera: "cam-1".into(), kind: PlaceKind::Zone, id: "approach".into() },
        severity: Severity::High,
        signal: None,
        threshold_ck: 6_000,
        limit: Some(5_000),
        min_duration_ms: 1_000,
        allowed_dir: (0, 0),
        classes: Vec::new(),
    }
}

fn point(track: u64, ts: u64, kmh: f64) -> ZonePoint {
    ZonePoint { track, ts, class: ObjectClass(2), speed_ck: Some((kmh * 100.0) as i64), speed_std_ck: Some(0), moving: true, dir: (0, 1000), left: false }
}

fn feed(e: &mut Episodes, spec: &RuleSpec, points: impl IntoIterator<Item = ZonePoint>) -> Vec<ViolationRow> {
    let mut out = Vec::new();
    for p in points {
        e.zone_point(spec, &p, &mut out);
    }
    out
}

#[test]
fn speeding_is_confirmed_after_min_duration_and_closed_once() {
    let spec = speeding();
    let mut e = Episodes::new(500);
    // 0.8 s above the limit + tolerance: not long enough; then below; then 1.5 s above.
    let mut pts: Vec<ZonePoint> = (0..=8).map(|i| point(7, 10_000 + 100 * i, 70.0)).collect();
    pts.extend((9..=20).map(|i| point(7, 10_000 + 100 * i, 40.0)));
    pts.extend((21..=36).map(|i| point(7, 10_000 + 100 * i, 72.0 + (i % 3) as f64)));
    let mut out = feed(&mut e, &spec, pts);
    out.extend(feed(&mut e, &spec, [ZonePoint { left: true, ..point(7, 13_700, 72.0) }]));
    assert_eq!(out.len(), 2, "{out:#?}");
    let (confirmed, closed) = (&out[0], &out[1]);
    assert!(confirmed.ongoing && !closed.ongoing);
    assert_eq!(confirmed.violation_id, closed.violation_id);
    assert_eq!(closed.violation_id, "speed:cam-1:7:12100");
    assert_eq!((closed.ts_start_ms, closed.ts_end_ms), (12_100, 13_600));
    assert_eq!(closed.value, 74.0);
    assert_eq!(closed.limit_value, Some(50.0));
    assert_eq!(e.open(), 0);
}

#[test]
fn a_dip_shorter_than_the_grace_does_not_split_an_episode() {
    let spec = speeding();
    let mut e = Episodes::new(500);
    let mut pts: Vec<ZonePoint> = (0..20).map(|i| point(1, 100 * i, 80.0)).collect();
    pts[10] = point(1, 1_000, 55.0); // one frame under the threshold
    pts[11] = point(1, 1_100, 58.0);
    let mut out = feed(&mut e, &spec, pts);
    // A dip longer than the grace ends it.
    out.extend(feed(&mut e, &spec, (20..30).map(|i| point(1, 100 * i, 30.0))));
    let closed: Vec<_> = out.iter().filter(|v| !v.ongoing).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].ts_start_ms, closed[0].ts_end_ms), (0, 1_900));
}

#[test]
fn removing_the_rule_closes_its_episodes_and_only_its_own() {
    let spec = speeding();
    let other = RuleSpec { id: "speed-2".into(), ..speeding() };
    let mut e = Episodes::new(500);
    let mut out = Vec::new();
    for i in 0..15 {
        e.zone_point(&spec, &point(1, 100 * i, 80.0), &mut out);
        e.zone_point(&other, &point(1, 100 * i, 80.0), &mut out);
    }
    assert_eq!(out.iter().filter(|v| v.ongoing).count(), 2);
    e.rule_removed(&spec, &mut out);
    let closed: Vec<_> = out.iter().filter(|v| !v.ongoing).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].rule_id, "speed");
    assert_eq!(e.open(), 1);
    e.finish(&mut out);
    assert_eq!(out.iter().filter(|v| !v.ongoing).count(), 2);
}

#[test]
fn stopped_vehicle_wrong_way_and_intrusion_conditions() {
    let stopped = RuleSpec { id: "stop".into(), kind: RuleKind::StoppedVehicle, threshold_ck: 200, limit: Some(200), min_duration_ms: 3_000, ..speeding() };
    let mut e = Episodes::new(500);
    let out = feed(&mut e, &stopped, (0..50).map(|i| point(3, 100 * i, if i < 10 { 30.0 } else { 0.5 })));
    let confirmed: Vec<_> = out.iter().filter(|v| v.ongoing).collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].ts_start_ms, 1_000);
    assert_eq!(confirmed[0].ts_end_ms, 4_000, "confirmed when 3 s have passed");

    // Allowed direction is +y (down the image); this track moves up.
    let wrong = RuleSpec { id: "wrong".into(), kind: RuleKind::WrongWay, allowed_dir: (0, 1000), min_duration_ms: 1_000, ..speeding() };
    let mut e = Episodes::new(500);
    let up = |ts| ZonePoint { dir: (0, -1000), ..point(4, ts, 30.0) };
    let right = |ts| ZonePoint { dir: (1000, 0), ..point(5, ts, 30.0) };
    let mut out = feed(&mut e, &wrong, (0..15).map(|i| up(100 * i)));
    out.extend(feed(&mut e, &wrong, (0..15).map(|i| right(100 * i))));
    e.finish(&mut out);
    let closed: Vec<_> = out.iter().filter(|v| !v.ongoing).collect();
    assert_eq!(closed.len(), 1, "crossing traffic (90°) is not wrong-way");
    assert_eq!(closed[0].track_id, 4);
    assert_eq!(closed[0].value, 1.4);

    let intrusion = RuleSpec { id: "bus".into(), kind: RuleKind::ZoneIntrusion, classes: vec![ObjectClass(2)], min_duration_ms: 0, ..speeding() };
    let mut e = Episodes::new(500);
    let bus = |ts| ZonePoint { class: ObjectClass(5), ..point(6, ts, 30.0) };
    let mut out = feed(&mut e, &intrusion, (0..5).map(|i| bus(100 * i)));
    out.extend(feed(&mut e, &intrusion, (0..5).map(|i| point(8, 100 * i, 30.0))));
    assert_eq!(out.iter().filter(|v| v.ongoing).map(|v| v.track_id).collect::<Vec<_>>(), vec![8], "a bus is allowed, a car is not");
}

#[test]
fn crossings_are_one_violation_each() {
    let lane = RuleSpec { id: "solid".into(), kind: RuleKind::LaneViolation, place: Place { camera: "cam-1".into(), kind: PlaceKind::Line, id: "solid-1".into() }, limit: None, ..speeding() };
    let mut e = Episodes::new(500);
    let mut out = Vec::new();
    for ts in [1_000, 5_000] {
        e.crossing(&lane, &CrossPoint { track: 2, ts, class: ObjectClass(2), direction: Direction::Backward, speed_ck: Some(3_000) }, &mut out);
    }
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|v| !v.ongoing && v.ts_start_ms == v.ts_end_ms && v.value == 30.0));
    assert_ne!(out[0].violation_id, out[1].violation_id);
}

/// A point `kmh` with standard deviation `std` km/h.
fn uncertain(track: u64, ts: u64, kmh: f64, std: f64) -> ZonePoint {
    ZonePoint { speed_std_ck: Some((std * 100.0) as i64), ..point(track, ts, kmh) }
}

#[test]
fn speeding_needs_the_speed_clear_of_its_uncertainty() {
    let spec = speeding();
    // Threshold 60 km/h. 2 s at 61 ± 2 km/h: within one σ of the threshold, no evidence.
    let mut e = Episodes::new(500);
    let out = feed(&mut e, &spec, (0..20).map(|i| uncertain(1, 10_000 + 100 * i, 61.0, 2.0)));
    assert!(out.is_empty() && e.open() == 0, "{out:#?}");
    // The same readings with a tight estimate (± 0.5) are speeding.
    let out = feed(&mut e, &spec, (0..20).map(|i| uncertain(2, 10_000 + 100 * i, 61.0, 0.5)));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].ongoing);
    // An open episode: 1 s of uncertain readings around the threshold neither ends it (longer
    // than the grace) nor extends it; a confident reading below ends it after the grace.
    let mut e = Episodes::new(500);
    let mut pts: Vec<ZonePoint> = (0..12).map(|i| uncertain(3, 10_000 + 100 * i, 70.0, 2.0)).collect();
    pts.extend((12..22).map(|i| uncertain(3, 10_000 + 100 * i, 59.0 + (i % 2) as f64 * 2.0, 2.0)));
    pts.extend((22..30).map(|i| uncertain(3, 10_000 + 100 * i, 70.0, 2.0)));
    pts.extend((30..40).map(|i| uncertain(3, 10_000 + 100 * i, 50.0, 2.0)));
    let out = feed(&mut e, &spec, pts);
    assert_eq!(out.len(), 2, "one episode, confirmed and closed: {out:#?}");
    assert_eq!((out[1].ts_start_ms, out[1].ts_end_ms), (10_000, 12_900));
    assert_eq!(e.open(), 0);
}
