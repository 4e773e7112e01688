//! The rule half-join against a from-scratch recomputation: at every time, the hits are exactly
//! the facts of that time matched with the rules live at that time (and, for red_light, the
//! signal state at that time) — whatever was added or removed before.

use itscam_queries::facts::{CrossPoint, Place, PlaceKind, RuleSpec, SignalState, ZonePoint};
use itscam_queries::rules::{Hit, RuleInputs, hits};
use itscam_types::ObjectClass;
use itscam_types::analytics::Direction;
use itscam_types::config::{RuleKind, Severity};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

fn place(line: bool, id: &str) -> Place {
    let kind = if line { PlaceKind::Line } else { PlaceKind::Zone };
    Place { camera: "cam-1".into(), kind, id: id.into() }
}

fn rule_pool() -> Vec<RuleSpec> {
    let mut pool = Vec::new();
    let base = |id: &str, kind: RuleKind, place: Place, signal: Option<&str>| RuleSpec {
        id: id.into(),
        kind,
        place,
        severity: Severity::High,
        signal: signal.map(str::to_string),
        threshold_ck: 5_000,
        limit: Some(5_000),
        min_duration_ms: 0,
        allowed_dir: (1000, 0),
        classes: vec![ObjectClass(2)],
    };
    for z in ["z1", "z2"] {
        pool.push(base(&format!("speed-{z}"), RuleKind::Speeding, place(false, z), None));
        pool.push(base(&format!("intrusion-{z}"), RuleKind::ZoneIntrusion, place(false, z), None));
    }
    for l in ["l1", "l2"] {
        pool.push(base(&format!("lane-{l}"), RuleKind::LaneViolation, place(true, l), None));
        pool.push(base(&format!("red-{l}"), RuleKind::RedLight, place(true, l), Some("tl-1")));
        pool.push(base(&format!("red2-{l}"), RuleKind::RedLight, place(true, l), Some("tl-2")));
    }
    pool
}

#[test]
fn hits_match_recomputation_at_every_time() {
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(100 + seed);
        let pool = rule_pool();
        let horizon = 80u64;
        // Rules: random adds and removes over time.
        let mut live = vec![false; pool.len()];
        let mut rule_updates: Vec<(RuleSpec, u64, isize)> = Vec::new();
        // Signals: a state per signal, changing now and then.
        let mut signal_state: BTreeMap<&str, SignalState> = BTreeMap::new();
        let mut signal_updates: Vec<((String, SignalState), u64, isize)> = Vec::new();
        let mut zone_facts: Vec<(u64, Place, ZonePoint)> = Vec::new();
        let mut crossings: Vec<(u64, Place, CrossPoint)> = Vec::new();
        let mut live_at: Vec<Vec<bool>> = vec![Vec::new(); horizon as usize];
        let mut signals_at: Vec<BTreeMap<&str, SignalState>> = vec![BTreeMap::new(); horizon as usize];
        for t in 1..horizon {
            for (i, spec) in pool.iter().enumerate() {
                if rng.random_bool(0.15) {
                    live[i] = !live[i];
                    rule_updates.push((spec.clone(), t, if live[i] { 1 } else { -1 }));
                }
            }
            for s in ["tl-1", "tl-2"] {
                if rng.random_bool(0.2) {
                    let next = [SignalState::Red, SignalState::Green, SignalState::Yellow][rng.random_range(0..3)];
                    if let Some(prev) = signal_state.insert(s, next) {
                        signal_updates.push(((s.to_string(), prev), t, -1));
                    }
                    signal_updates.push(((s.to_string(), next), t, 1));
                }
            }
            for _ in 0..rng.random_range(0..4) {
                let z = ["z1", "z2", "z3"][rng.random_range(0..3)];
                let p = ZonePoint { track: rng.random_range(0..5), ts: t, class: ObjectClass(2), speed_ck: Some(rng.random_range(0..10_000)), speed_std_ck: Some(0), moving: true, dir: (0, 1000), left: false };
                zone_facts.push((t, place(false, z), p));
            }
            for _ in 0..rng.random_range(0..3) {
                let l = ["l1", "l2", "l3"][rng.random_range(0..3)];
                let c = CrossPoint { track: rng.random_range(0..5), ts: t, class: ObjectClass(2), direction: Direction::Forward, speed_ck: None };
                crossings.push((t, place(true, l), c));
            }
            live_at[t as usize] = live.clone();
            signals_at[t as usize] = signal_state.clone();
        }
        let out: Arc<Mutex<Vec<(Hit, u64)>>> = Arc::default();
        let sink = out.clone();
        let (zf, cf, ru, su) = (zone_facts.clone(), crossings.clone(), rule_updates.clone(), signal_updates.clone());
        timely::execute_directly(move |worker| {
            let (mut zin, mut cin, mut rin, mut sin, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (zin, zone_facts) = scope.new_input::<(Place, ZonePoint)>();
                let (cin, crossings) = scope.new_input::<(Place, CrossPoint)>();
                let (sin, signals) = scope.new_input::<((String, SignalState), u64, isize)>();
                let (rin, rules) = scope.new_input::<(RuleSpec, u64, isize)>();
                let probe = hits(RuleInputs { zone_facts, crossings, signals }, rules)
                    .inspect_core(move |event| {
                        if let Ok((stamp, batch)) = event {
                            let t = *stamp.iter().min().expect("a batch has a time");
                            sink.lock().unwrap().extend(batch.iter().map(|h| (h.clone(), t)));
                        }
                    })
                    .probe()
                    .0;
                (zin, cin, rin, sin, probe)
            });
            for t in 1..horizon {
                zin.advance_to(t);
                cin.advance_to(t);
                sin.advance_to(t);
                rin.advance_to(t);
                for (_, p, z) in zf.iter().filter(|f| f.0 == t) {
                    zin.send((p.clone(), z.clone()));
                }
                for (_, p, c) in cf.iter().filter(|f| f.0 == t) {
                    cin.send((p.clone(), c.clone()));
                }
                for u in su.iter().filter(|u| u.1 == t) {
                    sin.send(u.clone());
                }
                for u in ru.iter().filter(|u| u.1 == t) {
                    rin.send(u.clone());
                }
            }
            drop((zin, cin, sin, rin));
            while !probe.done() {
                worker.step();
            }
        });
        let out = out.lock().unwrap();
        for t in 1..horizon {
            // Hits at t, each counted.
            let mut got: BTreeMap<Hit, isize> = BTreeMap::new();
            for (h, _) in out.iter().filter(|u| u.1 == t) {
                *got.entry(h.clone()).or_default() += 1;
            }
            let mut expected: BTreeMap<Hit, isize> = BTreeMap::new();
            for (_, p, z) in zone_facts.iter().filter(|f| f.0 == t) {
                for (i, spec) in pool.iter().enumerate() {
                    if live_at[t as usize][i] && spec.place == *p {
                        *expected.entry(Hit::Zone(Arc::new(spec.clone()), z.clone())).or_default() += 1;
                    }
                }
            }
            for (_, p, c) in crossings.iter().filter(|f| f.0 == t) {
                for (i, spec) in pool.iter().enumerate() {
                    let red = spec.signal.as_deref().is_some_and(|s| signals_at[t as usize].get(s) == Some(&SignalState::Red));
                    let fires = match spec.kind {
                        RuleKind::LaneViolation => true,
                        RuleKind::RedLight => red,
                        _ => false,
                    };
                    if live_at[t as usize][i] && spec.place == *p && fires {
                        *expected.entry(Hit::Cross(Arc::new(spec.clone()), c.clone())).or_default() += 1;
                    }
                }
            }
            assert_eq!(got, expected, "seed {seed}, time {t}");
        }
    }
}
