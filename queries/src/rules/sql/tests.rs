use super::*;
use crate::rules::ir::{AggFunc, Func};

const CONFIG: &str = r#"
[[camera]]
id = "cam-1"
source = "detections:-"
[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
world = [[0, 50], [50, 50], [50, 0], [0, 0]]
[[camera.zone]]
id = "left-lane"
polygon = [[0, 0], [500, 0], [500, 1000], [0, 1000]]
[[camera.zone]]
id = "approach"
polygon = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
[[camera.line]]
id = "stop-1"
points = [[0, 500], [1000, 500]]
[[camera]]
id = "cam-2"
source = "detections:-"
[[signal]]
id = "tl-1"
source = "push"
"#;

fn config() -> PipelineConfig {
    PipelineConfig::from_toml(CONFIG).expect("valid")
}

fn keys(id: &str) -> RuleConfig {
    RuleConfig::new(id, "", RuleParams::Sql(Default::default()))
}

fn ok(text: &str) -> RuleIr {
    match compile(text, &keys(""), &config()) {
        Ok(c) => c.ir,
        Err(ps) => panic!("{text}: {}", ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")),
    }
}

fn errors(text: &str) -> Vec<String> {
    match compile(text, &keys(""), &config()) {
        Ok(c) => panic!("{text} compiled: {:?}", c.ir),
        Err(ps) => ps.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn the_issues_examples_compile() {
    let slow = ok("CREATE RULE slow_truck SEVERITY medium AS\n  SELECT * FROM track_points\n  WHERE camera_id = 'cam-1' AND in_zone('left-lane') AND class = 'truck' AND speed_kmh < 10\n  FOR 5 s;");
    assert_eq!((&*slow.id, slow.severity, slow.cameras.as_deref()), ("slow_truck", Severity::Medium, Some(&["cam-1".to_string()][..])));
    assert_eq!(slow.source, Source::TrackPoints);
    assert_eq!(slow.output, Output::Episode { min_ms: 5_000, value: Measure::Duration });
    let spill = ok("CREATE RULE spillback SEVERITY high AS\n  SELECT camera_id, zone_id, count(DISTINCT track_id) AS vehicles\n  FROM zone_presence GROUP BY camera_id, zone_id, WINDOW 10 s\n  HAVING count(DISTINCT track_id) > 20 FOR 30 s;");
    let Output::Window(w) = &spill.output else { panic!("{spill:?}") };
    assert_eq!((w.size_ms, w.min_ms, w.group.clone()), (10_000, 30_000, vec![Column::CameraId, Column::ZoneId]));
    assert_eq!(w.aggs[0].func, AggFunc::CountDistinct);
    assert_eq!(spill.cameras, None, "every camera");
    let bike = ok("SELECT * FROM track_points WHERE class = 'bicycle' AND in_zone('approach') FOR 2 s");
    assert_eq!(bike.cameras, None);
    let school = ok("SELECT max(speed_kmh) FROM zone_presence WHERE zone_id = 'approach' AND speed_over(30) AND hour_of_day() BETWEEN 7 AND 8 AND day_of_week() <= 5 FOR 1 s");
    assert_eq!(school.source, Source::ZonePresence(Some("approach".into())), "a rule on one zone is looked up by it");
    assert_eq!(school.output, Output::Episode { min_ms: 1_000, value: Measure::MaxSpeed });
    let green = ok("SELECT * FROM track_points WHERE in_zone('left-lane') AND speed_kmh < 10 AND signal_state('tl-1') = 'green' FOR 10 s");
    assert!(matches!(green.filter, Expr::And(..)));
    let red = ok("SELECT * FROM line_crossings WHERE crossed('stop-1') AND signal_state('tl-1') = 'red'");
    assert_eq!((red.source.clone(), red.output.clone()), (Source::LineCrossings(Some("stop-1".into())), Output::Each));
    let u_turn = ok("SELECT * FROM track_points WHERE in_zone('approach') AND against(1, 0) FOR 1500 ms");
    assert!(matches!(&u_turn.filter, Expr::And(_, b) if **b == Expr::Call(Func::Against(1000, 0))));
}

#[test]
fn every_built_in_kind_has_an_equivalent_that_compiles_to_the_same_plan() {
    let text = format!(
        "{CONFIG}\n{}",
        r#"
[[rule]]
id = "speed"
kind = "speeding"
camera = "cam-1"
zone = "approach"
limit_kmh = 50
tolerance_kmh = 3.5
[[rule]]
id = "stop"
kind = "stopped_vehicle"
camera = "cam-1"
zone = "approach"
[[rule]]
id = "wrong"
kind = "wrong_way"
camera = "cam-1"
zone = "approach"
allowed_direction = [[0, 0], [0, 100]]
[[rule]]
id = "trucks"
kind = "zone_intrusion"
camera = "cam-1"
zone = "left-lane"
classes = ["truck", "bus"]
[[rule]]
id = "red"
kind = "red_light"
camera = "cam-1"
line = "stop-1"
signal = "tl-1"
[[rule]]
id = "solid"
kind = "lane_violation"
camera = "cam-1"
line = "stop-1"
"#
    );
    let config = PipelineConfig::from_toml(&text).expect("valid");
    for r in &config.rule {
        let built_in = RuleIr::from_config(r).expect("built-in");
        let sql = RuleIr::sql_equivalent(r).expect("built-in");
        let mut keys = RuleConfig::new(r.id.clone(), r.camera.clone(), RuleParams::Sql(Default::default()));
        keys.severity = r.severity;
        let compiled = compile(&sql, &keys, &config).unwrap_or_else(|e| panic!("{sql}: {e:?}")).ir;
        assert_eq!(compiled.source, built_in.source, "{sql}");
        assert_eq!(compiled.output, built_in.output, "{sql}");
        assert_eq!(compiled.cameras, built_in.cameras, "{sql}");
        // The built-in's condition is the SQL's last conjunct (the first pins the place).
        let last = match &compiled.filter {
            Expr::And(_, b) => (**b).clone(),
            other => other.clone(),
        };
        let expected = match &built_in.filter {
            Expr::Lit(Value::Bool(true)) => compiled.filter.clone(),
            f => f.clone(),
        };
        assert_eq!(if matches!(built_in.filter, Expr::Lit(_)) { compiled.filter.clone() } else { last }, expected, "{sql}");
    }
}

#[test]
fn problems_have_their_line_and_column() {
    assert_eq!(errors("SELECT * FROM track_points\nWHERE in_zone('left-lan')"), ["line 2, column 15: any camera has no zone \"left-lan\""]);
    assert_eq!(errors("SELECT * FROM track_points WHERE speed_kmhh > 3"), ["line 1, column 34: no column \"speed_kmhh\" in track_points: its columns are camera_id, track_id, class, ts, x, y, speed_kmh, speed_std_kmh, heading_deg, moving"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE camera_id = 'cam-9'"), ["line 1, column 46: no camera \"cam-9\""]);
    assert_eq!(errors("SELECT * FROM track_point"), ["line 1, column 15: no relation track_point: the rule language reads track_points, zone_presence, line_crossings, queue_samples and queues"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE class = 'truk' FOR 2 s"), ["line 1, column 42: \"truk\" is not a COCO class name (such as car, truck, bus, bicycle, person)"]);
    assert_eq!(errors("SELECT * FROM line_crossings WHERE signal_state('tl-9') = 'red'"), ["line 1, column 49: no signal \"tl-9\" (signals are declared with [[signal]])"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE wobble(1)"), ["line 1, column 34: no function wobble(): the rule language has in_zone, crossed, signal_state, speed_over, against, hour_of_day, minute_of_day, day_of_week, abs, and count, sum, avg, min, max in HAVING"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE speed_kmh > 'fast'"), ["line 1, column 34: cannot compare a number with text"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE speed_kmh > 3 FOR 5 parsecs"), ["line 1, column 54: \"parsecs\" is not a unit: ms, s, min or h"]);
    assert_eq!(errors("SELECT * FROM line_crossings WHERE crossed('stop-1') FOR 5 s"), ["line 1, column 1: a crossing is an instant: FOR does not apply to line_crossings (count crossings in a WINDOW instead)"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE count(*) > 3"), ["line 1, column 34: count() is an aggregate: it belongs in HAVING (and the select list) of a rule with GROUP BY …, WINDOW d"]);
    assert_eq!(errors("SELECT zone_id FROM zone_presence GROUP BY zone_id, WINDOW 10 s"), ["line 1, column 53: a windowed rule needs HAVING: the condition on the window's aggregates"]);
    assert_eq!(errors("SELECT * FROM track_points WHERE"), ["line 1, column 33: Expected: an expression, found: EOF"]);
    assert_eq!(errors("CREATE RULE x SEVERITY dire AS SELECT * FROM track_points"), ["line 1, column 24: \"dire\" is not a severity: low, medium, high or critical"]);
    // Several problems at once, in text order.
    let many = errors("SELECT * FROM track_points\nWHERE in_zone('nowhere')\n  AND class = 'spaceship'");
    assert_eq!(many.len(), 2, "{many:?}");
    assert!(many[0].starts_with("line 2, column 15") && many[1].starts_with("line 3, column 15"), "{many:?}");
}

#[test]
fn the_name_must_agree_with_the_id() {
    let e = compile("CREATE RULE other AS SELECT * FROM track_points", &keys("mine"), &config()).unwrap_err();
    assert_eq!(e[0].to_string(), "line 1, column 13: the rule is named \"other\" but its id is \"mine\"");
}

#[test]
fn explain_shows_the_plan() {
    let c = compile("EXPLAIN CREATE RULE spill AS SELECT count(DISTINCT track_id) FROM zone_presence WHERE zone_id = 'approach' GROUP BY zone_id, WINDOW 10 s HAVING count(DISTINCT track_id) > 20 FOR 30 s", &keys(""), &config()).expect("compiles");
    assert!(c.explain);
    let plan = explain(&c.ir, 500);
    assert!(plan.contains("read    zone_presence of zone approach on every camera: looked up by (camera, zone)"), "{plan}");
    assert!(plan.contains("window  10000 ms sliding, per (camera_id, zone_id): count(DISTINCT track_id)"), "{plan}");
    assert!(plan.contains("having  count(DISTINCT track_id) > 20"), "{plan}");
}

/// A junction camera: one approach with one lane (ground metres).
const JUNCTION: &str = r#"
[[camera]]
id = "j-1"
source = "detections:-"
[camera.calibration]
image = [[0, 0], [100, 0], [100, 100], [0, 100]]
world = [[-50, 50], [50, 50], [50, -50], [-50, -50]]
[[camera.approach]]
id = "north"
signal = "tl-n"
entry = [[-8, 40], [0, 40]]
exit = [[0, 30], [8, 30]]
stop_line = [[-8, 10], [0, 10]]
lanes = [{ id = "north-1", polygon = [[-8, 50], [0, 50], [0, 10], [-8, 10]] }]
[[signal]]
id = "tl-n"
source = "push"
"#;

fn junction_compile(text: &str) -> Result<RuleIr, Vec<String>> {
    let config = PipelineConfig::from_toml(JUNCTION).expect("valid");
    compile(text, &keys(""), &config).map(|c| c.ir).map_err(|ps| ps.iter().map(|p| p.to_string()).collect())
}

#[test]
fn the_junction_lanes_are_relations_spillback_and_split_failure_streaks() {
    // Spillback: the queue of one lane past 40 m for 20 s, valued by its longest queue.
    let spill = junction_compile("SELECT max(queue_m) FROM queue_samples WHERE lane_id = 'north-1' AND queue_m > 40 FOR 20 s").expect("compiles");
    assert_eq!(spill.source, Source::QueueSamples(Some("north-1".into())), "a rule on one lane reads that lane");
    assert_eq!(spill.output, Output::Episode { min_ms: 20_000, value: Measure::MaxQueue });
    // A streak of split failures: two or more cycles of a lane in 10 min.
    let streak = junction_compile("SELECT lane_id, count(*) FROM queues WHERE split_failure GROUP BY lane_id, WINDOW 10 min HAVING count(*) >= 2").expect("compiles");
    let Output::Window(w) = &streak.output else { panic!("{streak:?}") };
    assert_eq!((streak.source.clone(), w.group.clone()), (Source::LaneCycles(None), vec![Column::LaneId]));
    // Each failing cycle alone.
    let each = junction_compile("SELECT * FROM queues WHERE approach = 'north' AND NOT cleared").expect("compiles");
    assert_eq!(each.output, Output::Each);
    // Problems: a lane the junction lacks, a track column, FOR on cycles, the wrong value.
    let e = junction_compile("SELECT * FROM queue_samples WHERE lane_id = 'south-1' AND speed_kmh > 3").expect_err("refused");
    assert!(e.iter().any(|p| p.contains("no approach lane \"south-1\"")) && e.iter().any(|p| p.contains("queue_samples has no column speed_kmh")), "{e:?}");
    let e = junction_compile("SELECT * FROM queues WHERE split_failure FOR 10 s").expect_err("refused");
    assert!(e.iter().any(|p| p.contains("FOR does not apply to queues")), "{e:?}");
    let e = junction_compile("SELECT max(speed_kmh) FROM queue_samples WHERE queue_m > 10 FOR 5 s").expect_err("refused");
    assert!(e.iter().any(|p| p.contains("max(queue_m)")), "{e:?}");
}
