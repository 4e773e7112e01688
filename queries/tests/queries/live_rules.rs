//! A rule added and removed while the dataflow runs: it applies from the event time it entered
//! (`since_ms`), its open episode closes when it goes, and the other rules' outputs are exactly
//! those of a run without the change. Changes logged with their times and replayed into a new
//! run give exactly the outputs of the run that made them live.

use itscam_queries::{AnalyticsPlan, LoggedRule, build_analytics};
use itscam_types::analytics::ViolationRow;
use itscam_types::config::{PipelineConfig, RuleConfig, RuleParams, Severity, ZoneIntrusionRule};
use itscam_types::{DetectionRow, ObjectClass, TrackRow, Tracked};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use crate::support::{T0, calibrated_camera};
use timely::dataflow::operators::{Inspect, Probe};

const FRAMES: u64 = 100;

const CONFIG: &str = concat!(
    calibrated_camera!(),
    r#"[[camera.zone]]
id = "z"
polygon = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
[[rule]]
id = "no-trucks"
kind = "zone_intrusion"
camera = "cam-1"
zone = "z"
classes = ["truck"]
"#
);

fn det(track: u64, class: &str, frame: u64, y: f32) -> Tracked {
    let x = 50.0 + 8.0 * frame as f32;
    Tracked::Detection(DetectionRow {
        camera_id: "cam-1".into(),
        ts_ms: T0 + 100 * frame,
        frame,
        track_id: Some(track),
        class: ObjectClass::from_name(class).unwrap(),
        confidence: 0.9,
        x1: x - 40.0,
        y1: y - 40.0,
        x2: x + 40.0,
        y2: y,
        ground_x: None,
        ground_y: None,
        speed_kmh: None,
        frame_size: [0, 0],
        model_version: None,
    })
}

fn ended(track: u64, class: &str) -> Tracked {
    Tracked::Ended(TrackRow {
        camera_id: "cam-1".into(),
        track_id: track,
        class: ObjectClass::from_name(class).unwrap(),
        first_ts_ms: T0,
        last_ts_ms: T0 + 100 * (FRAMES - 1),
        frames: FRAMES,
        mean_speed_kmh: None,
        max_speed_kmh: None,
        model_versions: None,
    })
}

/// Runs the queries over a car (track 1) and a truck (track 2) crossing the zone for 10 s;
/// `change(frame, plan)` may change rules after each frame has been taken in.
fn run(change: impl Fn(u64, &AnalyticsPlan) + Send + Sync + 'static) -> (Vec<ViolationRow>, AnalyticsPlan) {
    run_plan(new_plan(), change)
}

fn new_plan() -> AnalyticsPlan {
    let config = Arc::new(PipelineConfig::from_toml(CONFIG).expect("valid config"));
    AnalyticsPlan::new(config, Vec::new()).expect("plan")
}

/// [`run`] with a plan prepared beforehand (e.g. with logged changes replayed into it).
fn run_plan(plan: AnalyticsPlan, change: impl Fn(u64, &AnalyticsPlan) + Send + Sync + 'static) -> (Vec<ViolationRow>, AnalyticsPlan) {
    let out: Arc<Mutex<Vec<ViolationRow>>> = Arc::default();
    let (sink, p) = (out.clone(), plan.clone());
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, tracked) = scope.new_input::<Tracked>();
            let streams = build_analytics(tracked, &p, 0);
            let probe = streams.violations.inspect(move |v| sink.lock().unwrap().push(v.clone())).probe().0;
            (input, probe)
        });
        for frame in 0..FRAMES {
            let t = T0 + 100 * frame;
            input.advance_to(t);
            input.send(det(1, "car", frame, 300.0));
            input.send(det(2, "truck", frame, 700.0));
            if frame == FRAMES - 1 {
                input.send(ended(1, "car"));
                input.send(ended(2, "truck"));
            }
            input.advance_to(t + 1);
            // Let the dataflow take in everything before t + 1: a change made now enters at
            // the next moment of event time.
            while probe.less_than(&(t + 1)) {
                worker.step();
            }
            change(frame, &p);
        }
        input.close();
        while !probe.done() {
            worker.step();
        }
    });
    let mut v = out.lock().unwrap().clone();
    v.sort_by(|a, b| (&a.rule_id, a.ts_start_ms, a.ongoing).cmp(&(&b.rule_id, b.ts_start_ms, b.ongoing)));
    (v, plan)
}

fn no_cars() -> RuleConfig {
    let params = ZoneIntrusionRule { zone: Some("z".into()), classes: Some(vec!["car".into()]), min_duration_ms: None };
    RuleConfig::new("no-cars", "cam-1", RuleParams::ZoneIntrusion(params)).with_severity(Severity::High)
}

#[test]
fn a_rule_added_and_removed_mid_stream_changes_only_its_own_outputs() {
    let (baseline, _) = run(|_, _| {});
    assert_eq!(baseline.iter().filter(|v| !v.ongoing).count(), 1, "{baseline:#?}");
    assert!(baseline.iter().all(|v| v.rule_id == "no-trucks" && v.track_id == 2));

    let since: Arc<Mutex<Option<u64>>> = Arc::default();
    let seen = since.clone();
    let (changed, plan) = run(move |frame, plan| {
        if frame == 30 {
            assert!(!plan.rules.put("no-cars", no_cars()).unwrap(), "a new rule");
        }
        if frame == 31 {
            *seen.lock().unwrap() = plan.rules.get("no-cars").and_then(|e| e.since_ms);
        }
        if frame == 70 {
            plan.rules.delete("no-cars").unwrap();
        }
    });
    assert!(plan.rules.get("no-cars").is_none());
    let since = since.lock().unwrap().expect("the rule entered the dataflow");
    assert!((T0 + 3_000..=T0 + 3_100).contains(&since), "entered at the frontier after frame 30: {since}");

    // The config rule's outputs are exactly those of the run without the change.
    let others: Vec<_> = changed.iter().filter(|v| v.rule_id != "no-cars").cloned().collect();
    assert_eq!(others, baseline);
    // The added rule: one episode on the car, from the moment it entered to its removal.
    let mine: Vec<_> = changed.iter().filter(|v| v.rule_id == "no-cars").collect();
    assert_eq!(mine.len(), 2, "{mine:#?}");
    let closed = mine.iter().find(|v| !v.ongoing).unwrap();
    assert_eq!(closed.track_id, 1);
    // Its first point is the car's first frame at or after the moment the rule entered.
    let first_frame_after = T0 + (since - T0).div_ceil(100) * 100;
    assert_eq!(closed.ts_start_ms, first_frame_after, "nothing before the rule existed");
    assert!(closed.ts_end_ms < T0 + 7_100, "closed when removed at frame 70: {}", closed.ts_end_ms);
    assert!(closed.ts_end_ms >= T0 + 6_900);
}

#[test]
fn a_rule_that_does_not_fit_the_pipeline_is_refused_with_every_problem() {
    let config = Arc::new(PipelineConfig::from_toml(CONFIG).unwrap());
    let plan = AnalyticsPlan::new(config, Vec::new()).unwrap();
    let params = ZoneIntrusionRule { zone: Some("nowhere".into()), classes: Some(vec!["spaceship".into()]), min_duration_ms: None };
    let bad = RuleConfig::new("no-cars", "cam-1", RuleParams::ZoneIntrusion(params)).with_severity(Severity::High);
    let err = plan.rules.put("no-cars", bad).unwrap_err().to_string();
    assert!(err.contains("no zone \"nowhere\"") && err.contains("spaceship"), "{err}");
    let err = plan.rules.put("other-id", no_cars()).unwrap_err().to_string();
    assert!(err.contains("differs"), "{err}");
    assert!(plan.rules.delete("missing").is_err());
    assert_eq!(plan.rules.list().len(), 1);
}

#[test]
fn logged_changes_replayed_at_their_times_give_the_outputs_of_the_live_run() {
    let log: Arc<Mutex<Vec<LoggedRule>>> = Arc::default();
    let logged = log.clone();
    let (live, _) = run(move |frame, plan| {
        let change = match frame {
            30 => plan.rules.prepare_put("no-cars", no_cars()).unwrap(),
            50 => plan.rules.prepare_delete("no-trucks").unwrap(),
            70 => plan.rules.prepare_delete("no-cars").unwrap(),
            _ => return,
        };
        logged.lock().unwrap().push(LoggedRule { id: change.id.clone(), rule: change.after.clone(), since_ms: change.since_ms });
        let _ = change.apply();
    });
    let log = log.lock().unwrap().clone();
    assert!(log.windows(2).all(|w| w[0].since_ms < w[1].since_ms), "each change at the frontier it found: {log:?}");
    assert!(live.iter().any(|v| v.rule_id == "no-cars") && live.iter().any(|v| v.rule_id == "no-trucks"), "{live:#?}");

    // A restart: the config's rules, then the log, before the dataflow runs.
    let plan = new_plan();
    assert!(plan.rules.replay(log.clone()).is_empty());
    assert!(plan.rules.list().is_empty(), "both rules deleted by the log");
    let (replayed, _) = run_plan(plan, |_, _| {});
    assert_eq!(replayed, live);

    // A change made after the replay never takes effect before the last logged one.
    let plan = new_plan();
    let _ = plan.rules.replay(log.clone());
    let change = plan.rules.prepare_put("no-cars", no_cars()).unwrap();
    assert_eq!(change.since_ms, log.last().unwrap().since_ms);
}

#[test]
fn a_prepared_change_that_is_dropped_changes_nothing() {
    let (baseline, _) = run(|_, _| {});
    let (dropped, plan) = run(|frame, plan| {
        if frame == 30 {
            let change = plan.rules.prepare_put("no-cars", no_cars()).unwrap();
            assert!(change.before.is_none() && change.after.is_some());
            drop(change); // the log could not record it
        }
    });
    assert_eq!(dropped, baseline);
    assert!(plan.rules.get("no-cars").is_none());
    assert!(plan.rules.prepare_delete("missing").is_err(), "a delete of an unknown rule is refused before anything is reserved");
}

#[test]
fn a_reserved_time_holds_the_rule_outputs_until_the_change_is_applied_there() {
    let plan = new_plan();
    let p = plan.clone();
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, tracked) = scope.new_input::<Tracked>();
            (input, build_analytics(tracked, &p, 0).violations.probe().0)
        });
        for frame in 0..10 {
            input.advance_to(T0 + 100 * frame);
            input.send(det(1, "car", frame, 300.0));
        }
        input.advance_to(T0 + 1_000);
        while probe.less_than(&(T0 + 1_000)) {
            worker.step();
        }
        let change = p.rules.prepare_put("no-cars", no_cars()).unwrap();
        let since = change.since_ms;
        assert_eq!(since, T0 + 1_000, "the frontier the change found");
        // The input moves on; the rule outputs cannot pass the reserved time, however long the
        // log takes (here: as many steps as it gets).
        for frame in 10..20 {
            input.advance_to(T0 + 100 * frame);
            input.send(det(1, "car", frame, 300.0));
        }
        input.advance_to(T0 + 2_000);
        for _ in 0..1_000 {
            worker.step();
        }
        assert!(probe.less_equal(&since), "the outputs passed the reserved time");
        assert!(change.apply().is_none(), "a new rule");
        while probe.less_than(&(T0 + 2_000)) {
            worker.step();
        }
        assert_eq!(p.rules.get("no-cars").and_then(|e| e.since_ms), Some(since));
    });
}

#[test]
fn a_rule_in_the_rule_language_added_and_removed_mid_stream_acts_like_the_built_in() {
    let sql = "CREATE RULE no_cars_sql SEVERITY high AS SELECT * FROM track_points WHERE camera_id = 'cam-1' AND in_zone('z') AND class = 'car'";
    let rule = RuleConfig::new("no_cars_sql", "", RuleParams::Sql(itscam_types::config::SqlRule { sql: Some(sql.into()) }));
    let add = |id: &'static str, rule: RuleConfig| {
        move |frame: u64, plan: &AnalyticsPlan| {
            if frame == 30 {
                plan.rules.put(id, rule.clone()).unwrap();
            }
            if frame == 70 {
                plan.rules.delete(id).unwrap();
            }
        }
    };
    let (built_in, _) = run(add("no-cars", no_cars()));
    let (sql_run, plan) = run(add("no_cars_sql", rule));
    assert!(plan.rules.get("no_cars_sql").is_none(), "removed");
    let mine = |v: &[ViolationRow], id: &str| -> Vec<(u64, u64, u64, bool)> {
        v.iter().filter(|r| r.rule_id == id).map(|r| (r.track_id, r.ts_start_ms, r.ts_end_ms, r.ongoing)).collect()
    };
    let expected = mine(&built_in, "no-cars");
    assert_eq!(expected.len(), 2, "{built_in:#?}");
    assert_eq!(mine(&sql_run, "no_cars_sql"), expected, "the same episode, from its entry to its removal");
    let others = |v: &[ViolationRow]| v.iter().filter(|r| r.rule_id == "no-trucks").cloned().collect::<Vec<_>>();
    assert_eq!(others(&sql_run), others(&built_in));
    let row = sql_run.iter().find(|r| r.rule_id == "no_cars_sql").unwrap();
    assert_eq!((row.kind, row.severity, row.place.as_str()), (itscam_types::config::RuleKind::Sql, Severity::High, "z"), "the zone its condition requires");
}
