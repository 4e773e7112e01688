//! `queue_samples` and `queues` of the lanes operator against a from-scratch recomputation:
//! seeded random tracks standing, creeping and driving in two lanes (speeds below and above the
//! queue speed, unknown speeds, people, tracks that end and tracks that just stop), two signals
//! with random phase lengths, fed through timely with the worker stepped at random times. At
//! every sample instant the oracle takes each track's latest point, applies the definition of
//! `itscam_queries::junction::queue` and the cycle rules by hand, and the rows must be equal.

use itscam_geo::Polygon;
use itscam_queries::facts::{SignalState, SignalUpdate, TrackPoint, from_ck, to_ck};
use itscam_queries::junction::geometry::{ApproachGeom, JunctionGeom, LaneGeom};
use itscam_queries::junction::lane_book::{ACTIVE_MS, DETECTION_ZONE_M, RED_OCCUPANCY_MS, STALE_MS};
use itscam_queries::junction::lanes::lane_tables;
use itscam_queries::junction::queue::{LaneVehicle, class_length_m, measure};
use itscam_queries::junction::{GeomChange, JunctionInputs, JunctionPlan};
use itscam_types::ObjectClass;
use itscam_types::config::{JunctionConfig, Movement};
use itscam_types::junction_rows::{QueueRow, QueueSampleRow};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

const LANES: [(&str, f64, &str); 2] = [("n-1", 0.0, "tl"), ("n-2", 3.5, "tl-left")];

/// One approach from the north: two lanes 3.5 m wide and 80 m long, stop line at y = 0.
fn junction(settings: &JunctionConfig) -> Arc<JunctionGeom> {
    let lanes = LANES
        .iter()
        .map(|(id, x0, sig)| LaneGeom {
            id: (*id).into(),
            polygon: Polygon::new(&[[*x0, 0.0], [x0 + 3.5, 0.0], [x0 + 3.5, 80.0], [*x0, 80.0]]).unwrap(),
            signal: (*sig != "tl").then(|| Arc::from(*sig)),
        })
        .collect();
    let approach = ApproachGeom {
        id: "north".into(),
        signal: Some("tl".into()),
        entry: vec![[0.0, 50.0], [7.0, 50.0]],
        exit: vec![[-7.0, 30.0], [-0.5, 30.0]],
        stop_line: Some(vec![[0.0, 0.0], [7.0, 0.0]]),
        lanes,
        exit_lanes: vec![],
        inbound: [0.0, -1.0],
        outbound: [0.0, 1.0],
        entry_to_stop_m: 50.0,
    };
    Arc::new(JunctionGeom { camera: "cam".into(), approaches: vec![approach], crosswalks: vec![], movements: vec![vec![Movement::UTurn]], centre: [0.0, -10.0], settings: settings.clone(), homography: None })
}

struct Scenario {
    points: Vec<TrackPoint>,
    signals: Vec<SignalUpdate>,
    /// Per signal: (time, state) in order.
    program: Vec<(&'static str, Vec<(u64, SignalState)>)>,
}

fn scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let classes = ["car", "car", "car", "truck", "bus", "motorcycle", "bicycle", "person"];
    let mut points = Vec::new();
    for track in 0..14u64 {
        let lane = rng.random_range(0..2);
        let x = LANES[lane].1 + rng.random_range(0.3..3.2);
        let class = ObjectClass::from_name(classes[rng.random_range(0..classes.len())]).unwrap();
        let mut t = rng.random_range(0..90_000u64);
        let end = t + rng.random_range(2_000..40_000u64);
        // Half of them near the stop line, where the detection zone is.
        let mut y: f64 = if rng.random_bool(0.5) { rng.random_range(0.5..10.0) } else { rng.random_range(1.0..79.0) };
        while t < end {
            let slow = rng.random_bool(0.6);
            let speed = if slow { rng.random_range(0.0..4.9) } else { rng.random_range(5.1..40.0) };
            y = (y + rng.random_range(-1.5..1.5)).clamp(0.5, 79.5);
            points.push(TrackPoint {
                track,
                ts: t,
                class,
                ground: Some((x, y)),
                speed_ck: rng.random_bool(0.9).then(|| to_ck(speed)),
                speed_std_ck: None,
                moving: !slow,
                dir: (0, -1000),
                zones: vec![],
                ended: false,
            });
            // Mostly every 100 ms; sometimes a gap longer than the staleness.
            t += if rng.random_bool(0.03) { rng.random_range(3_000..6_000) } else { 100 };
        }
        if rng.random_bool(0.7)
            && let Some(last) = points.last().filter(|p| p.track == track).cloned()
        {
            points.push(TrackPoint { ts: last.ts + 100, ended: true, ..last });
        }
    }
    points.sort_by_key(|p| (p.ts, p.track));
    let mut signals = Vec::new();
    let mut program = Vec::new();
    for sig in ["tl", "tl-left"] {
        let mut states = Vec::new();
        let mut t = rng.random_range(0..5_000u64);
        let mut prev: Option<SignalState> = None;
        let cycle = [SignalState::Green, SignalState::Yellow, SignalState::Red];
        let mut i = rng.random_range(0..3);
        while t < 130_000 {
            let s = cycle[i % 3];
            if let Some(p) = prev {
                signals.push(((sig.to_string(), p), t, -1));
            }
            signals.push(((sig.to_string(), s), t, 1));
            states.push((t, s));
            prev = Some(s);
            t += match s {
                SignalState::Yellow => 3_000,
                _ => rng.random_range(4_000..25_000),
            };
            i += 1;
        }
        program.push((sig, states));
    }
    Scenario { points, signals, program }
}

/// Runs the operator; its samples and cycles.
fn run(s: &Scenario, settings: &JunctionConfig, seed: u64) -> (Vec<QueueSampleRow>, Vec<QueueRow>) {
    let samples: Arc<Mutex<Vec<QueueSampleRow>>> = Arc::default();
    let queues: Arc<Mutex<Vec<QueueRow>>> = Arc::default();
    let (ss, qs) = (samples.clone(), queues.clone());
    let (points, signals) = (s.points.clone(), s.signals.clone());
    let mut plan = JunctionPlan { settings: settings.clone(), ..Default::default() };
    plan.initial.insert("cam".into(), junction(settings));
    timely::execute_directly(move |worker| {
        let (mut pin, mut sin, mut gin, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (pin, points) = scope.new_input::<(Arc<str>, TrackPoint)>();
            let (sin, signals) = scope.new_input::<SignalUpdate>();
            let (gin, geoms) = scope.new_input::<GeomChange>();
            let out = lane_tables(&JunctionInputs { points, signals, geoms }, &plan);
            out.queue_samples.inspect(move |r| ss.lock().unwrap().push(r.clone()));
            let probe = out.queues.inspect(move |r| qs.lock().unwrap().push(r.clone())).probe().0;
            (pin, sin, gin, probe)
        });
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let times: BTreeSet<u64> = points.iter().map(|p| p.ts).chain(signals.iter().map(|u| u.1)).collect();
        for t in times {
            pin.advance_to(t);
            sin.advance_to(t);
            gin.advance_to(t);
            for p in points.iter().filter(|p| p.ts == t) {
                pin.send(("cam".into(), p.clone()));
            }
            for u in signals.iter().filter(|u| u.1 == t) {
                sin.send(u.clone());
            }
            if rng.random_bool(0.05) {
                worker.step();
            }
        }
        drop((pin, sin, gin));
        while !probe.done() {
            worker.step();
        }
    });
    let samples = Arc::try_unwrap(samples).unwrap().into_inner().unwrap();
    let queues = Arc::try_unwrap(queues).unwrap().into_inner().unwrap();
    (samples, queues)
}

/// The vehicles of each lane at `t` (after the points at `t`), from scratch.
fn vehicles_at(points: &[TrackPoint], t: u64) -> [Vec<LaneVehicle>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    let tracks: BTreeSet<u64> = points.iter().map(|p| p.track).collect();
    for track in tracks {
        let mine: Vec<&TrackPoint> = points.iter().filter(|p| p.track == track && p.ts <= t).collect();
        let Some(last) = mine.last() else { continue };
        let Some(length_m) = class_length_m(last.class) else { continue };
        if last.ended || last.ts + STALE_MS < t {
            continue;
        }
        let (x, y) = last.ground.unwrap();
        let lane = if x < 3.5 { 0 } else { 1 };
        let first = mine[0];
        let speed_kmh = last.speed_ck.map(from_ck).or_else(|| {
            let dt = last.ts - first.ts;
            let (x0, y0) = first.ground.unwrap();
            (dt >= 1_000).then(|| (x - x0).hypot(y - y0) / (dt as f64 / 1000.0) * 3.6)
        });
        out[lane].push(LaneVehicle { dist_m: y, length_m, speed_kmh });
    }
    out
}

/// The rows the operator should produce, from scratch.
fn oracle(s: &Scenario, settings: &JunctionConfig) -> (Vec<QueueSampleRow>, Vec<QueueRow>) {
    let first = s.points.first().map(|p| p.ts).unwrap();
    let last = s.points.iter().map(|p| p.ts).chain(s.signals.iter().map(|u| u.1)).max().unwrap();
    let sample_ms = settings.queue_sample_ms;
    let instants: Vec<u64> = (first.div_ceil(sample_ms) * sample_ms..=last).step_by(sample_ms as usize).collect();
    let mut samples = Vec::new();
    // Per lane: (instant, queue m, vehicles), every instant.
    let mut series: [Vec<(u64, f64, u32)>; 2] = [Vec::new(), Vec::new()];
    for &t in &instants {
        let active = s.points.iter().any(|p| p.ts <= t && p.ts + ACTIVE_MS >= t && !p.ended && class_length_m(p.class).is_some());
        for (lane, vs) in vehicles_at(&s.points, t).iter().enumerate() {
            let q = measure(vs, settings.queue_speed_kmh, settings.queue_gap_m);
            let m = (q.length_m * 100.0).round() / 100.0;
            series[lane].push((t, q.length_m, q.vehicles));
            if active {
                samples.push(QueueSampleRow { camera_id: "cam".into(), approach: "north".into(), lane_id: LANES[lane].0.into(), ts_ms: t, queue_m: m, queue_veh: q.vehicles });
            }
        }
    }
    // The steps of the camera: every point time and every sample instant; the zone is covered
    // from a step to the next as the vehicles after that step say.
    let steps: Vec<u64> = s.points.iter().map(|p| p.ts).chain(instants.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
    // Signal changes after the last step are never seen.
    let last_step = *steps.last().unwrap();
    let covered: Vec<[bool; 2]> = steps.iter().map(|&t| vehicles_at(&s.points, t).map(|vs| vs.iter().any(|v| v.front_m() <= DETECTION_ZONE_M))).collect();
    let mut queues = Vec::new();
    for (lane, (id, _, sig)) in LANES.iter().enumerate() {
        let states = &s.program.iter().find(|(p, _)| p == sig).unwrap().1;
        let mut prev = states.iter().rev().find(|(t, _)| *t < first).map(|(_, s)| *s);
        let mut reds = Vec::new();
        let mut greens = Vec::new();
        for &(t, st) in states.iter().filter(|(t, _)| (first..=last_step).contains(t)) {
            if st == SignalState::Red && matches!(prev, Some(SignalState::Green | SignalState::Yellow)) {
                reds.push(t);
            }
            if st == SignalState::Green {
                greens.push(t);
            }
            prev = Some(st);
        }
        for w in reds.windows(2) {
            let (start, end) = (w[0], w[1]);
            let green = greens.iter().copied().find(|g| *g > start && *g < end);
            let inside = series[lane].iter().filter(|(t, _, _)| *t >= start && *t < end);
            let max_m = inside.clone().map(|x| x.1).fold(0.0, f64::max);
            let max_veh = inside.map(|x| x.2).max().unwrap_or(0);
            let cleared = green.is_some_and(|g| series[lane].iter().any(|(t, m, _)| *t >= g && *t < end && *m == 0.0));
            let mut occupied = 0;
            for (i, &a) in steps.iter().enumerate() {
                let b = steps.get(i + 1).copied().unwrap_or(a);
                if covered[i][lane] {
                    occupied += b.min(end + RED_OCCUPANCY_MS).saturating_sub(a.max(end));
                }
            }
            let window = steps.last().unwrap().saturating_sub(end).clamp(1, RED_OCCUPANCY_MS);
            let occupancy = (occupied as f64 / window as f64).min(1.0);
            queues.push(QueueRow {
                camera_id: "cam".into(),
                approach: "north".into(),
                lane_id: (*id).into(),
                signal_id: (*sig).into(),
                cycle_start_ms: start,
                green_start_ms: green,
                cycle_end_ms: end,
                max_queue_m: (max_m * 100.0).round() / 100.0,
                max_queue_veh: max_veh,
                cleared,
                red_start_occupancy: Some(occupancy),
                split_failure: !cleared && occupancy >= settings.split_failure_occupancy,
                revision: 0,
            });
        }
    }
    (samples, queues)
}

fn sorted_samples(mut v: Vec<QueueSampleRow>) -> Vec<QueueSampleRow> {
    v.sort_by(|a, b| (a.ts_ms, &a.lane_id).cmp(&(b.ts_ms, &b.lane_id)));
    v
}

fn sorted_queues(mut v: Vec<QueueRow>) -> Vec<QueueRow> {
    v.sort_by(|a, b| (&a.lane_id, a.cycle_start_ms).cmp(&(&b.lane_id, b.cycle_start_ms)));
    v
}

#[test]
fn samples_and_cycles_equal_a_recomputation_from_scratch() {
    let settings = JunctionConfig { bin_ms: 60_000, split_failure_occupancy: 0.5, ..JunctionConfig::default() };
    let (mut queued_samples, mut cycles, mut failures, mut uncleared) = (0, 0, 0, 0);
    for seed in 0..6 {
        let s = scenario(seed);
        let (samples, queues) = run(&s, &settings, seed);
        let (want_samples, want_queues) = oracle(&s, &settings);
        let (samples, want_samples) = (sorted_samples(samples), sorted_samples(want_samples));
        assert_eq!(samples.len(), want_samples.len(), "seed {seed}: sample rows");
        for (got, want) in samples.iter().zip(&want_samples) {
            assert_eq!(got, want, "seed {seed}");
        }
        let (queues, want_queues) = (sorted_queues(queues), sorted_queues(want_queues));
        assert_eq!(queues.len(), want_queues.len(), "seed {seed}: cycles {queues:#?} vs {want_queues:#?}");
        for (got, want) in queues.iter().zip(&want_queues) {
            let (go, wo) = (got.red_start_occupancy.unwrap(), want.red_start_occupancy.unwrap());
            assert!((go - wo).abs() < 1e-9, "seed {seed}: occupancy {got:?} vs {want:?}");
            assert_eq!(QueueRow { red_start_occupancy: None, ..got.clone() }, QueueRow { red_start_occupancy: None, ..want.clone() }, "seed {seed}");
        }
        queued_samples += samples.iter().filter(|r| r.queue_veh > 0).count();
        cycles += queues.len();
        failures += queues.iter().filter(|r| r.split_failure).count();
        uncleared += queues.iter().filter(|r| !r.cleared).count();
    }
    // The scenarios exercise what they test.
    assert!(queued_samples > 100, "queued samples: {queued_samples}");
    assert!(cycles >= 12, "cycles: {cycles}");
    assert!(uncleared > 0 && uncleared < cycles, "some cycles cleared, some not: {uncleared} of {cycles}");
    assert!(failures > 0, "some split failures");
}
