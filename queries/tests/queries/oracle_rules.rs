//! The rule half-join against a from-scratch recomputation: at every time, the hits are exactly
//! the rows of that time looked up in the rules live at that time, each with what the rule's
//! condition says of it (evaluated here by hand, with the signal states at that time) — whatever
//! was added or removed before. Built-in kinds and rule-language filters on all three relations.

use itscam_queries::facts::{CrossPoint, Place, PlaceKind, Readers, SignalState, TrackPoint, ZonePoint};
use itscam_queries::rules::ir::RuleIr;
use itscam_queries::rules::sql::compile;
use itscam_queries::rules::{Hit, RuleInputs, hits};
use itscam_types::ObjectClass;
use itscam_types::analytics::Direction;
use itscam_types::config::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

const CONFIG: &str = r#"
[[camera]]
id = "cam-1"
source = "detections:-"
zone = [{ id = "z1", polygon = [[0, 0], [10, 0], [10, 10]] }, { id = "z2", polygon = [[0, 0], [10, 0], [10, 10]] }, { id = "z3", polygon = [[0, 0], [10, 0], [10, 10]] }]
line = [{ id = "l1", points = [[0, 0], [10, 0]] }, { id = "l2", points = [[0, 0], [10, 0]] }, { id = "l3", points = [[0, 0], [10, 0]] }]
[[signal]]
id = "tl-1"
source = "push"
[[signal]]
id = "tl-2"
source = "push"
"#;

fn place(line: bool, id: &str) -> Place {
    let kind = if line { PlaceKind::Line } else { PlaceKind::Zone };
    Place { camera: "cam-1".into(), kind, id: id.into() }
}

/// What each rule of the pool says of a row, by hand: `None` when it does not read the row.
type Oracle = fn(&Row, Option<SignalState>, Option<SignalState>) -> Option<Option<bool>>;

enum Row {
    Zone(String, ZonePoint),
    Cross(String, CrossPoint),
    Point(TrackPoint),
}

fn rule_pool(config: &PipelineConfig) -> Vec<(RuleIr, Oracle)> {
    let built_in = |id: &str, params: RuleParams| RuleIr::from_config(&RuleConfig::new(id, "cam-1", params)).expect("built-in");
    let sql = |id: &str, text: &str| compile(text, &RuleConfig::new(id, "", RuleParams::Sql(SqlRule { sql: Some(text.into()) })), config).expect("compiles").ir;
    let zone = |z: &str| Some(z.to_string());
    vec![
        (built_in("speed-z1", RuleParams::Speeding(SpeedingRule { zone: zone("z1"), limit_kmh: Some(50.0), ..Default::default() })), |r, _, _| match r {
            // Each point comes twice: `speed_over` reads the smoothed one.
            Row::Zone(z, p) if z == "z1" && p.readers.include(true) => Some(p.speed_ck.map(|s| s > 5_000)),
            _ => None,
        }),
        (built_in("intrusion-z2", RuleParams::ZoneIntrusion(ZoneIntrusionRule { zone: zone("z2"), classes: Some(vec!["bus".into()]), ..Default::default() })), |r, _, _| match r {
            Row::Zone(z, p) if z == "z2" && p.readers.include(false) => Some(Some(p.class == ObjectClass(5))),
            _ => None,
        }),
        (built_in("lane-l1", RuleParams::LaneViolation(LaneViolationRule { line: Some("l1".into()) })), |r, _, _| match r {
            Row::Cross(l, _) if l == "l1" => Some(Some(true)),
            _ => None,
        }),
        (built_in("red-l2", RuleParams::RedLight(RedLightRule { line: Some("l2".into()), signal: Some("tl-1".into()) })), |r, s1, _| match r {
            Row::Cross(l, _) if l == "l2" => Some(s1.map(|s| s == SignalState::Red)),
            _ => None,
        }),
        (sql("slow-anywhere", "SELECT * FROM zone_presence WHERE speed_kmh < 20 OR class = 'bus'"), |r, _, _| match r {
            Row::Zone(_, p) if p.readers.include(false) => Some(match (p.speed_ck.map(|s| s < 2_000), p.class == ObjectClass(5)) {
                (_, true) | (Some(true), _) => Some(true),
                (None, false) => None,
                (Some(false), false) => Some(false),
            }),
            _ => None,
        }),
        (sql("green-l3", "SELECT * FROM line_crossings WHERE crossed('l3') AND signal_state('tl-2') = 'green' AND direction = 'forward'"), |r, _, s2| match r {
            Row::Cross(l, c) if l == "l3" => Some(match (s2.map(|s| s == SignalState::Green), c.direction == Direction::Forward) {
                (_, false) | (Some(false), _) => Some(false),
                (None, true) => None,
                (Some(true), true) => Some(true),
            }),
            _ => None,
        }),
        (sql("points-in-z3", "SELECT * FROM track_points WHERE in_zone('z3') AND NOT moving AND track_id % 2 = 0"), |r, _, _| match r {
            Row::Point(p) => Some(Some(p.zones.iter().any(|z| &**z == "z3") && !p.moving && p.track % 2 == 0)),
            _ => None,
        }),
    ]
}

struct Scenario {
    rule_updates: Vec<(RuleIr, u64, isize)>,
    signal_updates: Vec<((String, SignalState), u64, isize)>,
    rows: Vec<(u64, Row)>,
    live_at: Vec<Vec<bool>>,
    signals_at: Vec<BTreeMap<&'static str, SignalState>>,
}

fn scenario(rng: &mut StdRng, pool: &[(RuleIr, Oracle)], horizon: u64) -> Scenario {
    let mut live = vec![false; pool.len()];
    let mut state: BTreeMap<&'static str, SignalState> = BTreeMap::new();
    let mut s = Scenario { rule_updates: Vec::new(), signal_updates: Vec::new(), rows: Vec::new(), live_at: vec![Vec::new(); horizon as usize], signals_at: vec![BTreeMap::new(); horizon as usize] };
    let class = |rng: &mut StdRng| ObjectClass(if rng.random_bool(0.3) { 5 } else { 2 });
    for t in 1..horizon {
        for (i, (spec, _)) in pool.iter().enumerate() {
            if rng.random_bool(0.15) {
                live[i] = !live[i];
                s.rule_updates.push((spec.clone(), t, if live[i] { 1 } else { -1 }));
            }
        }
        for sig in ["tl-1", "tl-2"] {
            if rng.random_bool(0.2) {
                let next = [SignalState::Red, SignalState::Green, SignalState::Yellow][rng.random_range(0..3)];
                if let Some(prev) = state.insert(sig, next) {
                    s.signal_updates.push(((sig.to_string(), prev), t, -1));
                }
                s.signal_updates.push(((sig.to_string(), next), t, 1));
            }
        }
        for _ in 0..rng.random_range(0..4) {
            let z = ["z1", "z2", "z3"][rng.random_range(0..3)];
            let speed_ck = rng.random_bool(0.8).then(|| rng.random_range(0..10_000));
            let p = ZonePoint { track: rng.random_range(0..5), ts: t, class: class(rng), speed_ck, speed_std_ck: Some(0), moving: true, dir: (0, 1000), left: false, readers: [Readers::Every, Readers::NotSpeed, Readers::Speed][rng.random_range(0..3)] };
            s.rows.push((t, Row::Zone(z.into(), p)));
        }
        for _ in 0..rng.random_range(0..3) {
            let l = ["l1", "l2", "l3"][rng.random_range(0..3)];
            let direction = if rng.random_bool(0.5) { Direction::Forward } else { Direction::Backward };
            let c = CrossPoint { track: rng.random_range(0..5), ts: t, class: class(rng), direction, speed_ck: None };
            s.rows.push((t, Row::Cross(l.into(), c)));
        }
        for _ in 0..rng.random_range(0..3) {
            let zones = if rng.random_bool(0.5) { vec![Arc::from("z3")] } else { vec![Arc::from("z1")] };
            let p = TrackPoint { track: rng.random_range(0..6), ts: t, class: class(rng), ground: None, speed_ck: Some(100), speed_std_ck: Some(0), moving: rng.random_bool(0.5), dir: (0, 0), zones, ended: false };
            s.rows.push((t, Row::Point(p)));
        }
        s.live_at[t as usize] = live.clone();
        s.signals_at[t as usize] = state.clone();
    }
    s
}

/// Runs the half-join on the scenario; the hits with their times.
fn run(s: &Scenario, horizon: u64) -> Vec<(Hit, u64)> {
    let out: Arc<Mutex<Vec<(Hit, u64)>>> = Arc::default();
    let sink = out.clone();
    let rows: Vec<(u64, Row)> = s.rows.iter().map(|(t, r)| (*t, clone_row(r))).collect();
    let (ru, su) = (s.rule_updates.clone(), s.signal_updates.clone());
    timely::execute_directly(move |worker| {
        let (mut zin, mut cin, mut pin, mut rin, mut sin, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (zin, zone_facts) = scope.new_input::<(Place, ZonePoint)>();
            let (cin, crossings) = scope.new_input::<(Place, CrossPoint)>();
            let (pin, points) = scope.new_input::<(Arc<str>, TrackPoint)>();
            let (sin, signals) = scope.new_input::<((String, SignalState), u64, isize)>();
            let (rin, rules) = scope.new_input::<(RuleIr, u64, isize)>();
            // No junction lanes here: their input closes at once.
            let (lanes_in, lanes) = scope.new_input::<(Arc<str>, itscam_queries::facts::LaneFact)>();
            drop(lanes_in);
            let probe = hits(RuleInputs { zone_facts, crossings, points, signals, lanes }, rules, chrono_tz::UTC)
                .inspect_core(move |event| {
                    if let Ok((stamp, batch)) = event {
                        let t = *stamp.iter().min().expect("a batch has a time");
                        sink.lock().unwrap().extend(batch.iter().map(|h| (h.clone(), t)));
                    }
                })
                .probe()
                .0;
            (zin, cin, pin, rin, sin, probe)
        });
        for t in 1..horizon {
            zin.advance_to(t);
            cin.advance_to(t);
            pin.advance_to(t);
            sin.advance_to(t);
            rin.advance_to(t);
            for (_, row) in rows.iter().filter(|r| r.0 == t) {
                match row {
                    Row::Zone(z, p) => zin.send((place(false, z), p.clone())),
                    Row::Cross(l, c) => cin.send((place(true, l), c.clone())),
                    Row::Point(p) => pin.send(("cam-1".into(), p.clone())),
                }
            }
            for u in su.iter().filter(|u| u.1 == t) {
                sin.send(u.clone());
            }
            for u in ru.iter().filter(|u| u.1 == t) {
                rin.send(u.clone());
            }
        }
        drop((zin, cin, pin, sin, rin));
        while !probe.done() {
            worker.step();
        }
    });
    Arc::try_unwrap(out).expect("the dataflow has ended").into_inner().unwrap()
}

fn clone_row(r: &Row) -> Row {
    match r {
        Row::Zone(z, p) => Row::Zone(z.clone(), p.clone()),
        Row::Cross(l, c) => Row::Cross(l.clone(), c.clone()),
        Row::Point(p) => Row::Point(p.clone()),
    }
}

#[test]
fn hits_match_recomputation_at_every_time() {
    let config = PipelineConfig::from_toml(CONFIG).expect("valid");
    let pool = rule_pool(&config);
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(100 + seed);
        let horizon = 80u64;
        let s = scenario(&mut rng, &pool, horizon);
        let out = run(&s, horizon);
        let mut seen_true = 0;
        for t in 1..horizon {
            let mut got: BTreeMap<Hit, isize> = BTreeMap::new();
            for (h, _) in out.iter().filter(|u| u.1 == t) {
                *got.entry(h.clone()).or_default() += 1;
            }
            let mut expected: BTreeMap<Hit, isize> = BTreeMap::new();
            let signals = &s.signals_at[t as usize];
            for (_, row) in s.rows.iter().filter(|r| r.0 == t) {
                for (i, (spec, oracle)) in pool.iter().enumerate() {
                    if !s.live_at[t as usize][i] {
                        continue;
                    }
                    let Some(holds) = oracle(row, signals.get("tl-1").copied(), signals.get("tl-2").copied()) else { continue };
                    let (track, place) = match row {
                        Row::Zone(z, p) => (p.track, z.clone()),
                        Row::Cross(l, c) => (c.track, l.clone()),
                        Row::Point(p) => (p.track, String::new()),
                    };
                    seen_true += usize::from(holds == Some(true));
                    let hit = Hit { rule: spec.id.to_string(), camera: "cam-1".into(), ts: t, track, place, holds };
                    *expected.entry(hit).or_default() += 1;
                }
            }
            assert_eq!(got, expected, "seed {seed}, time {t}");
        }
        assert!(seen_true > 20, "seed {seed}: the scenario exercises matching rows ({seen_true})");
    }
}
