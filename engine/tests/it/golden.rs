//! Golden scenarios: `engine/tests/scenarios/<name>/{config.toml, input.jsonl, expected/*.jsonl}`.
//! Each scenario runs through the CLI; its tables must equal the expected rows.
//! `ITSCAM_BLESS=1 cargo nextest run -p itscam golden` rewrites `expected/` (review the diff).

use crate::support::*;

/// Each table's rows, with floats rounded so the files stay stable and readable.
pub(crate) const TABLES: [(&str, &str); 7] = [
    ("detections", "SELECT camera_id, ts_ms, frame, track_id, class, confidence, x1, y1, x2, y2, round(ground_x, 2) AS ground_x, round(ground_y, 2) AS ground_y, round(speed_kmh, 1) AS speed_kmh FROM detections ORDER BY camera_id, ts_ms, x1, y1"),
    ("tracks", "SELECT camera_id, track_id, class, first_ts_ms, last_ts_ms, frames, round(mean_speed_kmh, 1) AS mean_speed_kmh, round(max_speed_kmh, 1) AS max_speed_kmh FROM tracks ORDER BY camera_id, track_id"),
    ("errors", "SELECT source, line, camera_id, ts_ms, kind, reason FROM errors ORDER BY source, line"),
    ("line_crossings", "SELECT camera_id, line_id, track_id, class, ts_ms, direction, round(speed_kmh, 1) AS speed_kmh FROM line_crossings ORDER BY camera_id, ts_ms, line_id, track_id"),
    ("zone_events", "SELECT camera_id, zone_id, track_id, class, enter_ts_ms, exit_ts_ms, dwell_ms FROM zone_events ORDER BY camera_id, enter_ts_ms, zone_id, track_id"),
    ("traffic_metrics", "SELECT camera_id, window_start_ms, window_end_ms, class, vehicle_count, round(avg_speed_kmh, 1) AS avg_speed_kmh, round(density_veh_per_km, 2) AS density_veh_per_km, congestion_level, revision FROM traffic_metrics ORDER BY camera_id, window_start_ms, class, revision"),
    ("violations", "SELECT violation_id, rule_id, kind, camera_id, track_id, class, ts_start_ms, ts_end_ms, round(value, 1) AS value, limit_value, severity, place FROM violations ORDER BY camera_id, ts_start_ms, rule_id, track_id"),
];

/// The junction tables, checked for the `junction-*` scenarios.
pub(crate) const JUNCTION_TABLES: [(&str, &str); 6] = [
    ("movements", "SELECT camera_id, track_id, class, entry_approach, exit_approach, entry_lane, exit_lane, movement, entry_ts_ms, stop_line_ts_ms, exit_ts_ms, travel_time_ms, stops, round(control_delay_s, 1) AS control_delay_s, revision FROM movements ORDER BY camera_id, track_id, revision"),
    ("turning_counts", "SELECT camera_id, bin_start_ms, bin_end_ms, site, approach, movement, class, count, revision FROM turning_counts ORDER BY camera_id, bin_start_ms, site, approach, movement, class, revision"),
    ("queues", "SELECT camera_id, approach, lane_id, signal_id, cycle_start_ms, green_start_ms, cycle_end_ms, round(max_queue_m, 1) AS max_queue_m, max_queue_veh, cleared, round(red_start_occupancy, 2) AS red_start_occupancy, split_failure, revision FROM queues ORDER BY camera_id, lane_id, cycle_start_ms, revision"),
    ("queue_samples", "SELECT camera_id, lane_id, ts_ms, round(queue_m, 1) AS queue_m, queue_veh FROM queue_samples WHERE queue_veh > 0 ORDER BY camera_id, lane_id, ts_ms"),
    ("lane_metrics", "SELECT camera_id, approach, lane_id, bin_start_ms, volume, round(occupancy, 3) AS occupancy, round(mean_headway_s, 1) AS mean_headway_s, round(mean_gap_s, 1) AS mean_gap_s, round(mean_speed_kmh, 1) AS mean_speed_kmh, revision FROM lane_metrics ORDER BY camera_id, lane_id, bin_start_ms, revision"),
    ("signal_performance", "SELECT camera_id, approach, signal_id, period, period_start_ms, period_end_ms, vehicles, arrivals_on_green, arrivals_on_yellow, arrivals_on_red, round(aog_share, 3) AS aog_share, split_failure, split_failures, round(mean_control_delay_s, 1) AS mean_control_delay_s, los, revision FROM signal_performance ORDER BY camera_id, approach, period, period_start_ms, revision"),
];

#[test]
fn golden_scenarios() {
    let root = repo_root().join("engine/tests/scenarios");
    let bless = std::env::var_os("ITSCAM_BLESS").is_some();
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let mut failures = Vec::new();
    for name in &names {
        let src = root.join(name);
        let dir = scratch(&format!("golden-{name}"));
        copy_dir(&src, &dir);
        itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
        let junction = if name.starts_with("junction-") { &JUNCTION_TABLES[..] } else { &[] };
        for (table, sql) in TABLES.iter().chain(junction) {
            let rows = query_json(&dir, sql);
            let got: String = rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
            let path = src.join("expected").join(format!("{table}.jsonl"));
            if bless {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing: run with ITSCAM_BLESS=1", path.display()));
            if want != got {
                failures.push(format!("{name}/{table}:\n--- expected\n{want}--- got\n{got}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The rule scenarios with each built-in rule replaced by its rule-language equivalent
/// (`RuleIr::sql_equivalent`, docs/rules.md): the same violations, row for row, but for `kind`
/// (`sql`) and `limit_value` (none).
#[test]
fn built_in_rules_written_in_the_rule_language_give_the_same_violations() {
    use itscam_types::config::RuleKind;
    let root = repo_root().join("engine/tests/scenarios");
    let sql = "SELECT violation_id, rule_id, camera_id, track_id, class, ts_start_ms, ts_end_ms, round(value, 1) AS value, severity, place FROM violations ORDER BY camera_id, ts_start_ms, rule_id, track_id";
    let mut compared = 0;
    for kind in RuleKind::ALL {
        let name = format!("rule-{}", kind.as_str().replace('_', "-"));
        let src = root.join(&name);
        let text = std::fs::read_to_string(src.join("config.toml")).unwrap();
        let Some(at) = text.find("[[rule]]") else { continue };
        #[derive(serde::Deserialize)]
        struct Rules {
            rule: Vec<itscam_types::config::RuleConfig>,
        }
        let config: Rules = toml::from_str(&text[at..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut rewritten = text[..at].to_string();
        for r in &config.rule {
            let equivalent = itscam_queries::rules::ir::RuleIr::sql_equivalent(r).expect("a built-in rule");
            rewritten += &format!("[[rule]]\nid = {:?}\ncamera = {:?}\nseverity = {:?}\nsql = {equivalent:?}\n", r.id, r.camera, r.severity.as_str());
        }
        assert!(!text[at..].contains("[[camera") && !text[at..].contains("[[signal"), "{name}: rules come last in the config");
        let run = |dir_name: &str, config_text: &str| {
            let dir = scratch(dir_name);
            copy_dir(&src, &dir);
            std::fs::write(dir.join("config.toml"), config_text).unwrap();
            itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
            query_json(&dir, sql)
        };
        let built_in = run(&format!("golden-builtin-{name}"), &text);
        let as_sql = run(&format!("golden-sql-{name}"), &rewritten);
        assert!(!built_in.is_empty(), "{name}: the scenario has violations");
        assert_eq!(as_sql, built_in, "{name}: {rewritten}");
        compared += 1;
    }
    assert_eq!(compared, RuleKind::ALL.len(), "every built-in kind has its scenario");
}
