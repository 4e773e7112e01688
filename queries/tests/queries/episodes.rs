//! Episodes: one violation per (rule, track, episode), confirmed after `min_duration_ms`,
//! closed after the grace, on leaving, or when the rule goes.

use itscam_queries::facts::{CrossPoint, Place, PlaceKind, Readers, ZonePoint};
use itscam_queries::rules::eval::{Env, Row};
use itscam_queries::rules::ir::RuleIr;
use itscam_queries::rules::{Episodes, RuleBook, holds};
use itscam_types::ObjectClass;
use itscam_types::analytics::{Direction, ViolationRow};
use itscam_types::config::*;
use std::sync::Arc;

fn rule(id: &str, params: RuleParams) -> Arc<RuleIr> {
    Arc::new(RuleIr::from_config(&RuleConfig::new(id, "cam-1", params).with_severity(Severity::High)).expect("a built-in kind"))
}

/// Limit 50 km/h + 10 tolerance, 1 s.
fn speeding_rule(id: &str) -> Arc<RuleIr> {
    let zone = Some("approach".to_string());
    rule(id, RuleParams::Speeding(SpeedingRule { zone, limit_kmh: Some(50.0), tolerance_kmh: Some(10.0), min_duration_ms: Some(1_000) }))
}

fn speeding() -> Arc<RuleIr> {
    speeding_rule("speed")
}

/// Feeds zone points of the place `approach` (or a crossing) to the episodes as the half-join
/// does: the rule's `WHERE` on each row, then the episode.
fn on_zone(e: &mut Episodes, spec: &Arc<RuleIr>, p: &ZonePoint, out: &mut Vec<ViolationRow>) {
    let place = Place { camera: "cam-1".into(), kind: PlaceKind::Zone, id: "approach".into() };
    let book = RuleBook::new();
    let env = Env { book: &book, tz: chrono_tz::UTC, aggs: &[] };
    let row = Row::Zone(&place, p);
    e.row(spec, &row, holds(spec, &row, &env), &env, out);
}

fn point(track: u64, ts: u64, kmh: f64) -> ZonePoint {
    ZonePoint { track, ts, class: ObjectClass(2), speed_ck: Some((kmh * 100.0) as i64), speed_std_ck: Some(0), moving: true, dir: (0, 1000), left: false, readers: Readers::Every }
}

fn feed(e: &mut Episodes, spec: &Arc<RuleIr>, points: impl IntoIterator<Item = ZonePoint>) -> Vec<ViolationRow> {
    let mut out = Vec::new();
    for p in points {
        on_zone(e, spec, &p, &mut out);
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
    let other = speeding_rule("speed-2");
    let mut e = Episodes::new(500);
    let mut out = Vec::new();
    for i in 0..15 {
        on_zone(&mut e, &spec, &point(1, 100 * i, 80.0), &mut out);
        on_zone(&mut e, &other, &point(1, 100 * i, 80.0), &mut out);
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
    let zone = || Some("approach".to_string());
    let stopped = rule("stop", RuleParams::StoppedVehicle(StoppedVehicleRule { zone: zone(), max_speed_kmh: Some(2.0), min_duration_ms: Some(3_000) }));
    let mut e = Episodes::new(500);
    let out = feed(&mut e, &stopped, (0..50).map(|i| point(3, 100 * i, if i < 10 { 30.0 } else { 0.5 })));
    let confirmed: Vec<_> = out.iter().filter(|v| v.ongoing).collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].ts_start_ms, 1_000);
    assert_eq!(confirmed[0].ts_end_ms, 4_000, "confirmed when 3 s have passed");

    // Allowed direction is +y (down the image); this track moves up.
    let down = Some(vec![[0.0, 0.0], [0.0, 10.0]]);
    let wrong = rule("wrong", RuleParams::WrongWay(WrongWayRule { zone: zone(), allowed_direction: down, min_duration_ms: Some(1_000) }));
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

    let intrusion = rule("bus", RuleParams::ZoneIntrusion(ZoneIntrusionRule { zone: zone(), classes: Some(vec!["car".into()]), min_duration_ms: None }));
    let mut e = Episodes::new(500);
    let bus = |ts| ZonePoint { class: ObjectClass(5), ..point(6, ts, 30.0) };
    let mut out = feed(&mut e, &intrusion, (0..5).map(|i| bus(100 * i)));
    out.extend(feed(&mut e, &intrusion, (0..5).map(|i| point(8, 100 * i, 30.0))));
    assert_eq!(out.iter().filter(|v| v.ongoing).map(|v| v.track_id).collect::<Vec<_>>(), vec![8], "a bus is allowed, a car is not");
}

#[test]
fn crossings_are_one_violation_each() {
    let lane = rule("solid", RuleParams::LaneViolation(LaneViolationRule { line: Some("solid-1".into()) }));
    let place = Place { camera: "cam-1".into(), kind: PlaceKind::Line, id: "solid-1".into() };
    let mut e = Episodes::new(500);
    let mut out = Vec::new();
    let book = RuleBook::new();
    let env = Env { book: &book, tz: chrono_tz::UTC, aggs: &[] };
    for ts in [1_000, 5_000] {
        let c = CrossPoint { track: 2, ts, class: ObjectClass(2), direction: Direction::Backward, speed_ck: Some(3_000) };
        let row = Row::Cross(&place, &c);
        e.row(&lane, &row, holds(&lane, &row, &env), &env, &mut out);
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
