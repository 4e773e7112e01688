//! The `movements` / `turning_counts` operator against a from-scratch recomputation: random
//! vehicles (every entry → exit pair, some lost inside the junction, some stopping, some
//! decided after their bin ended) and pedestrians, fed point by point with random activation
//! boundaries; the rows must say exactly what a fresh state machine over all the points says.
//!
//! The operator's input is insert-only (track points are facts, never retracted), so there
//! are no retractions to test; "late" here is a movement decided after its stop-line bin was
//! emitted, which must arrive as a correction with the next revision.

use super::*;
use crate::junction::movements::tests::{LEGS, at, drive, geom, path};
use itscam_types::config::PipelineConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

const BIN: u64 = 60_000;

fn plan() -> JunctionPlan {
    let config = PipelineConfig::from_toml(&crate::junction::movements::tests::config("")).expect("valid");
    JunctionPlan::new(&config)
}

/// Random road users: (points, whether a vehicle).
fn scenario(rng: &mut StdRng, n: usize) -> Vec<TrackPoint> {
    let mut all = Vec::new();
    for track in 0..n as u64 {
        let t0 = rng.random_range(0..240_000u64) / 100 * 100;
        let pts = if rng.random_bool(0.15) {
            // A pedestrian across a random crosswalk, either way.
            let leg = rng.random_range(0..4);
            let l = if rng.random_bool(0.5) { 9.0 } else { -9.0 };
            drive(track, 0, t0, &[at(leg, 12.0, l), at(leg, 12.0, -l)], 1.4, &[])
        } else {
            let (a, b) = (rng.random_range(0..4), rng.random_range(0..4));
            let class = [2u8, 2, 2, 7, 5, 3, 1][rng.random_range(0..7)];
            let mut wp = path(a, b);
            if rng.random_bool(0.1) {
                // Lost inside the junction.
                wp.truncate(3);
            }
            let stops: Vec<(usize, u64)> = if rng.random_bool(0.4) { vec![(1, rng.random_range(1..40) * 1_000)] } else { Vec::new() };
            drive(track, class, t0, &wp, rng.random_range(6.0..14.0), &stops)
        };
        // Thin the points (200 ms) but keep the end.
        all.extend(pts.into_iter().enumerate().filter(|(i, p)| i % 2 == 0 || p.ended).map(|(_, p)| p));
    }
    all.sort_by_key(|p| (p.ts, p.track, p.ended));
    all
}

/// Runs the operator; the turning_counts and movements rows with their times.
/// Rows with the times they left at.
type Timed<R> = Vec<(u64, R)>;

fn run(points: &[TrackPoint], seed: u64) -> (Timed<TurningCountRow>, Timed<MovementRow>) {
    let counts: Arc<Mutex<Vec<(u64, TurningCountRow)>>> = Arc::default();
    let moves: Arc<Mutex<Vec<(u64, MovementRow)>>> = Arc::default();
    let (c_sink, m_sink) = (counts.clone(), moves.clone());
    let points = points.to_vec();
    let plan = plan();
    timely::execute_directly(move |worker| {
        let (mut pin, mut sin, mut gin, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (pin, points) = scope.new_input::<(Arc<str>, TrackPoint)>();
            let (sin, signals) = scope.new_input::<crate::facts::SignalUpdate>();
            let (gin, geoms) = scope.new_input::<super::super::GeomChange>();
            let out = movement_tables(&JunctionInputs { points, signals, geoms }, &plan);
            let probe = out
                .turning_counts
                .inspect_core(move |e| {
                    if let Ok((stamp, batch)) = e {
                        let t = *stamp.iter().min().expect("a time");
                        c_sink.lock().expect("sink").extend(batch.iter().map(|r| (t, r.clone())));
                    }
                })
                .probe()
                .0;
            out.movements.inspect_core(move |e| {
                if let Ok((stamp, batch)) = e {
                    let t = *stamp.iter().min().expect("a time");
                    m_sink.lock().expect("sink").extend(batch.iter().map(|r| (t, r.clone())));
                }
            });
            (pin, sin, gin, probe)
        });
        let mut rng = StdRng::seed_from_u64(seed);
        let mut i = 0;
        while i < points.len() {
            let t = points[i].ts;
            pin.advance_to(t);
            sin.advance_to(t);
            gin.advance_to(t);
            let mut batch = Vec::new();
            while i < points.len() && points[i].ts == t {
                batch.push(points[i].clone());
                i += 1;
            }
            // Tracks of one time in any order (a track has one point per time).
            for k in (1..batch.len()).rev() {
                batch.swap(k, rng.random_range(0..=k));
            }
            for p in batch {
                pin.send(("cam".into(), p));
            }
            for _ in 0..rng.random_range(0..3) {
                worker.step();
            }
        }
        drop((pin, sin, gin));
        while !probe.done() {
            worker.step();
        }
    });
    let c = Arc::try_unwrap(counts).expect("ended").into_inner().expect("sink");
    let m = Arc::try_unwrap(moves).expect("ended").into_inner().expect("sink");
    (c, m)
}

/// From scratch: every decision of a fresh state machine over all points, with the time it
/// was made (each track ends with an `ended` point before any deadline, so decisions are made
/// at points).
fn recompute(points: &[TrackPoint]) -> Vec<(u64, Decision)> {
    // The operator's geometry: from the config, with its calibration.
    let g = crate::junction::movements::tests::configured_geom("");
    let mut cam = CameraMovements::new(g);
    let mut out = Vec::new();
    for p in points {
        let mut d = Vec::new();
        cam.point(p, &super::super::movements::NoSignals, &mut d);
        out.extend(d.into_iter().map(|d| (p.ts, d)));
    }
    out
}

type Key = (u64, String, String, String, String);

fn key_of(r: &TurningCountRow) -> Key {
    (r.bin_start_ms, r.site.clone(), r.approach.clone(), r.movement.clone(), r.class.clone())
}

#[test]
fn turning_counts_match_a_recomputation_with_corrections_in_order() {
    let g = geom("");
    let mut corrections = 0;
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(500 + seed);
        let points = scenario(&mut rng, 60);
        let (rows, moves) = run(&points, seed);
        let decisions = recompute(&points);
        // Every key's final count, and the count at the bin's close (decided before its end).
        let mut final_counts: BTreeMap<Key, u64> = BTreeMap::new();
        let mut at_close: BTreeMap<Key, u64> = BTreeMap::new();
        for (t, d) in &decisions {
            let Some((start, k)) = count_of(d, &g, BIN) else { continue };
            let key = (start, k.0.as_str().to_string(), k.1.to_string(), k.2.to_string(), k.3.to_string());
            *final_counts.entry(key.clone()).or_default() += 1;
            if *t < start + BIN {
                *at_close.entry(key).or_default() += 1;
            }
        }
        // Rows per key in emission order: revisions 0, 1, 2…, counts growing, the first at the
        // bin's end − 1 when it was decided in time, each later one at its decision's time.
        let mut by_key: BTreeMap<Key, Vec<(u64, &TurningCountRow)>> = BTreeMap::new();
        for (t, r) in &rows {
            by_key.entry(key_of(r)).or_default().push((*t, r));
        }
        assert_eq!(by_key.keys().collect::<Vec<_>>(), final_counts.keys().collect::<Vec<_>>(), "seed {seed}: the keys");
        for (key, list) in &by_key {
            let revs: Vec<u32> = list.iter().map(|(_, r)| r.revision).collect();
            assert_eq!(revs, (0..list.len() as u32).collect::<Vec<_>>(), "seed {seed} {key:?}");
            assert!(list.windows(2).all(|w| w[0].1.count < w[1].1.count && w[0].0 <= w[1].0), "seed {seed} {key:?}: {list:?}");
            assert_eq!(list.last().expect("a row").1.count, final_counts[key], "seed {seed} {key:?}");
            match at_close.get(key) {
                Some(n) => assert_eq!((list[0].0, list[0].1.count), (key.0 + BIN - 1, *n), "seed {seed} {key:?}"),
                None => assert!(list[0].0 >= key.0 + BIN, "seed {seed} {key:?}: decided after the bin"),
            }
            assert!(list.iter().all(|(_, r)| r.bin_end_ms == r.bin_start_ms + BIN));
            corrections += list.len() - 1;
        }
        // movements: one row per decided vehicle track, at its decision, as from scratch.
        let mut expected: Vec<(u64, MovementRow)> = decisions.into_iter().filter_map(|(t, d)| if let Decision::Movement(m) = d { Some((t, m.row)) } else { None }).collect();
        let mut got = moves;
        expected.sort_by_key(|(t, r)| (*t, r.track_id));
        got.sort_by_key(|(t, r)| (*t, r.track_id));
        assert_eq!(got, expected, "seed {seed}");
        let kinds: std::collections::BTreeSet<&str> = got.iter().map(|(_, r)| r.movement.as_str()).collect();
        assert_eq!(kinds.len(), 5, "seed {seed}: every movement and unknown occur: {kinds:?}");
        assert!(rows.iter().any(|(_, r)| r.site == "crosswalk"), "seed {seed}: crosswalk rows");
    }
    assert!(corrections > 0, "the scenarios exercise corrections");
}

#[test]
fn a_movement_decided_after_its_bin_is_a_correction() {
    // Two cars north → south through; the first decided in bin 0, the second crosses the stop
    // line at ~59.6 s and leaves the view after the bin ended.
    let mut points = drive(1, 2, 10_000, &path(0, 2), 10.0, &[]);
    let second = drive(2, 2, 52_000, &path(0, 2), 10.0, &[]);
    points.extend(second);
    points.sort_by_key(|p| (p.ts, p.track, p.ended));
    let (rows, moves) = run(&points, 1);
    let north: Vec<_> = rows.iter().filter(|(_, r)| r.approach == LEGS[0].0).collect();
    assert_eq!(north.len(), 2, "{rows:?}");
    assert_eq!((north[0].0, north[0].1.count, north[0].1.revision), (BIN - 1, 1, 0));
    let decided = moves.iter().find(|(_, m)| m.track_id == 2).expect("the second car").0;
    assert!(decided >= BIN, "decided after the bin: {decided}");
    assert_eq!((north[1].0, north[1].1.count, north[1].1.revision, north[1].1.bin_start_ms), (decided, 2, 1, 0));
}
