//! Episodes and windows against a from-scratch recomputation: rules of the rule language (an
//! episode rule and a windowed rule) are inserted and retracted at random times while random
//! zone rows flow; every violation the dataflow emits must be one the recomputation finds by
//! replaying, for each span a rule was live, the rows of that span from the beginning — and no
//! other. Seeded, several seeds.

use itscam_queries::facts::{CrossPoint, Place, PlaceKind, Readers, SignalState, TrackPoint, ZonePoint};
use itscam_queries::rules::ir::RuleIr;
use itscam_queries::rules::sql::compile;
use itscam_queries::rules::{Episodes, RuleInputs, match_rules};
use itscam_types::ObjectClass;
use itscam_types::analytics::ViolationRow;
use itscam_types::config::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

const GRACE: u64 = 3;
const CONFIG: &str = r#"
[[camera]]
id = "cam-1"
source = "detections:-"
zone = [{ id = "z1", polygon = [[0, 0], [10, 0], [10, 10]] }, { id = "z2", polygon = [[0, 0], [10, 0], [10, 10]] }]
"#;

fn rules() -> Vec<RuleIr> {
    let config = PipelineConfig::from_toml(CONFIG).expect("valid");
    let sql = |id: &str, text: &str| compile(text, &RuleConfig::new(id, "", RuleParams::Sql(SqlRule { sql: Some(text.into()) })), &config).expect("compiles").ir;
    vec![
        sql("fast", "SELECT max(speed_kmh) FROM zone_presence WHERE zone_id = 'z1' AND speed_kmh > 50 FOR 4 ms"),
        sql("crowd", "SELECT zone_id, count(DISTINCT track_id) FROM zone_presence GROUP BY zone_id, WINDOW 5 ms HAVING count(DISTINCT track_id) >= 3 FOR 2 ms"),
    ]
}

/// One subject's episode machine over truth values in time order (`None`: the rule went or
/// the track left; closes). Emits (start, end, value, ongoing) per confirmed episode.
#[derive(Default)]
struct Machine {
    open: Option<(u64, u64, Option<u64>, bool, f64)>,
}

impl Machine {
    fn step(&mut self, ts: u64, holds: Option<bool>, value: f64, min: u64, out: &mut Vec<(u64, u64, bool, i64)>) {
        match (self.open.as_mut(), holds) {
            (_, None) => self.close(out),
            (None, Some(false)) => {}
            (None, Some(true)) => {
                self.open = Some((ts, ts, None, false, value));
                self.confirm(min, out);
            }
            (Some(e), Some(true)) => {
                (e.1, e.2, e.4) = (ts, None, e.4.max(value));
                self.confirm(min, out);
            }
            (Some(e), Some(false)) => {
                let since = *e.2.get_or_insert(ts);
                if ts - since >= GRACE {
                    self.close(out);
                }
            }
        }
    }

    fn confirm(&mut self, min: u64, out: &mut Vec<(u64, u64, bool, i64)>) {
        let e = self.open.as_mut().expect("open");
        if !e.3 && e.1 - e.0 >= min {
            e.3 = true;
            out.push((e.0, e.1, true, (e.4 * 100.0).round() as i64));
        }
    }

    fn close(&mut self, out: &mut Vec<(u64, u64, bool, i64)>) {
        if let Some(e) = self.open.take().filter(|e| e.3) {
            out.push((e.0, e.1, false, (e.4 * 100.0).round() as i64));
        }
    }
}

type Row = (u64, String, ZonePoint);

/// What each rule makes over the rows of each span it was live, recomputed from scratch.
fn recompute(rows: &[Row], spans: &BTreeMap<String, Vec<(u64, u64)>>) -> BTreeSet<(String, u64, u64, bool, i64)> {
    let mut out = BTreeSet::new();
    for (rule, spans) in spans {
        for &(from, to) in spans {
            let mine: Vec<&Row> = rows.iter().filter(|r| (from..to).contains(&r.0)).collect();
            let mut emitted = Vec::new();
            if rule == "fast" {
                let mut machines: BTreeMap<u64, Machine> = BTreeMap::new();
                for (_, zone, p) in mine.iter().map(|r| (r.0, &r.1, &r.2)).filter(|r| r.1 == "z1") {
                    let m = machines.entry(p.track).or_default();
                    let holds = if p.left { None } else { p.speed_ck.map(|s| s > 5_000) };
                    if p.left || holds.is_some() {
                        m.step(p.ts, holds, p.speed_ck.unwrap_or(0) as f64 / 100.0, 4, &mut emitted);
                    }
                    let _ = zone;
                }
                machines.values_mut().for_each(|m| m.close(&mut emitted));
            } else {
                let mut machines: BTreeMap<String, Machine> = BTreeMap::new();
                for (i, (_, zone, p)) in mine.iter().map(|r| (r.0, &r.1, &r.2)).enumerate() {
                    if p.left {
                        continue;
                    }
                    // The window: this group's rows (not leavings) up to this one, younger than 5 ms.
                    let tracks: BTreeSet<u64> = mine[..=i].iter().filter(|r| r.1 == *zone && !r.2.left && r.2.ts + 5 > p.ts).map(|r| r.2.track).collect();
                    machines.entry(zone.clone()).or_default().step(p.ts, Some(tracks.len() >= 3), tracks.len() as f64, 2, &mut emitted);
                }
                machines.values_mut().for_each(|m| m.close(&mut emitted));
            }
            out.extend(emitted.into_iter().map(|(s, e, ongoing, v)| (rule.clone(), s, e, ongoing, v)));
        }
    }
    out
}

#[test]
fn episodes_and_windows_match_recomputation_under_rule_inserts_and_retractions() {
    let pool = rules();
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(500 + seed);
        let horizon = 120u64;
        let mut live: HashMap<String, u64> = HashMap::new();
        let mut spans: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        let mut updates: Vec<(RuleIr, u64, isize)> = Vec::new();
        let mut rows: Vec<Row> = Vec::new();
        let mut inside: BTreeSet<(String, u64)> = BTreeSet::new();
        for t in 1..horizon {
            for spec in &pool {
                if rng.random_bool(0.04) {
                    match live.remove(&*spec.id) {
                        Some(since) => {
                            spans.entry(spec.id.to_string()).or_default().push((since, t));
                            updates.push((spec.clone(), t, -1));
                        }
                        None => {
                            live.insert(spec.id.to_string(), t);
                            updates.push((spec.clone(), t, 1));
                        }
                    }
                }
            }
            for _ in 0..rng.random_range(0..5) {
                let zone = ["z1", "z2"][rng.random_range(0..2)].to_string();
                let track = rng.random_range(0..6);
                let left = inside.contains(&(zone.clone(), track)) && rng.random_bool(0.1);
                if left { inside.remove(&(zone.clone(), track)); } else { inside.insert((zone.clone(), track)); }
                let speed_ck = rng.random_bool(0.9).then(|| rng.random_range(3_000..7_000));
                let p = ZonePoint { track, ts: t, class: ObjectClass(2), speed_ck, speed_std_ck: Some(0), moving: true, dir: (1000, 0), left, readers: Readers::Every };
                rows.push((t, zone, p));
            }
        }
        for (id, since) in live.drain() {
            spans.entry(id).or_default().push((since, u64::MAX));
        }
        let got = run(&rows, &updates, horizon);
        let got: BTreeSet<_> = got.iter().map(|v| (v.rule_id.clone(), v.ts_start_ms, v.ts_end_ms, v.ongoing, (v.value * 100.0).round() as i64)).collect();
        let expected = recompute(&rows, &spans);
        assert!(expected.iter().filter(|e| !e.3).count() >= 3, "seed {seed}: the scenario closes episodes: {expected:?}");
        assert_eq!(got, expected, "seed {seed}");
    }
}

fn run(rows: &[Row], updates: &[(RuleIr, u64, isize)], horizon: u64) -> Vec<ViolationRow> {
    let out: Arc<Mutex<Vec<ViolationRow>>> = Arc::default();
    let sink = out.clone();
    let (rows, updates) = (rows.to_vec(), updates.to_vec());
    timely::execute_directly(move |worker| {
        let (mut zin, mut rin, probe, others) = worker.dataflow::<u64, _, _>(|scope| {
            let (zin, zone_facts) = scope.new_input::<(Place, ZonePoint)>();
            let (cin, crossings) = scope.new_input::<(Place, CrossPoint)>();
            let (pin, points) = scope.new_input::<(Arc<str>, TrackPoint)>();
            let (sin, signals) = scope.new_input::<((String, SignalState), u64, isize)>();
            let (rin, rules) = scope.new_input::<(RuleIr, u64, isize)>();
            // No junction lanes here: their input closes at once.
            let (lanes_in, lanes) = scope.new_input::<(Arc<str>, itscam_queries::facts::LaneFact)>();
            drop(lanes_in);
            let probe = match_rules(RuleInputs { zone_facts, crossings, points, signals, lanes }, rules, Episodes::new(GRACE), chrono_tz::UTC)
                .inspect(move |v: &ViolationRow| sink.lock().unwrap().push(v.clone()))
                .probe()
                .0;
            (zin, rin, probe, (cin, pin, sin))
        });
        drop(others);
        for t in 1..horizon {
            zin.advance_to(t);
            rin.advance_to(t);
            for (_, zone, p) in rows.iter().filter(|r| r.0 == t) {
                zin.send((Place { camera: "cam-1".into(), kind: PlaceKind::Zone, id: zone.as_str().into() }, p.clone()));
            }
            for u in updates.iter().filter(|u| u.1 == t) {
                rin.send(u.clone());
            }
        }
        drop((zin, rin));
        while !probe.done() {
            worker.step();
        }
    });
    Arc::try_unwrap(out).expect("ended").into_inner().unwrap()
}
