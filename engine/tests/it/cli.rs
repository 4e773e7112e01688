//! The CLI end to end: run → Parquet lake → SQL, bad input, config checks, read-only queries.

use crate::support::*;
use itscam_types::jsonl::parse_frame;
use std::io::Write;
use std::process::{Command, Stdio};

/// (frames, detections) of the valid lines of a JSONL file.
fn count_valid(path: &std::path::Path) -> (i64, i64) {
    let text = std::fs::read_to_string(path).expect("read input");
    let frames: Vec<_> = text.lines().filter_map(|l| parse_frame(l).ok()).collect();
    (frames.len() as i64, frames.iter().map(|f| f.detections.len() as i64).sum())
}

fn example_config(dir: &std::path::Path, workers: usize) -> std::path::PathBuf {
    let input = repo_root().join("examples/data/two-cameras.jsonl");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\nworkers = {workers}\n\n[[camera]]\nid = \"cam-1\"\nsource = \"detections:{0}\"\n\n[[camera]]\nid = \"cam-2\"\nsource = \"detections:{0}\"\n",
            input.display()
        ),
    )
    .unwrap();
    config
}

/// `examples/detections/config.toml` (calibration, lines, zones, a signal, rules) with its
/// paths made absolute and the given worker count.
fn full_example_config(dir: &std::path::Path, workers: usize) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("examples/detections/config.toml")).unwrap();
    let data = repo_root().join("examples/data");
    let text = text.replace("examples/data", data.to_str().unwrap()).replace("workers = 2", &format!("workers = {workers}"));
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn run_then_sql_counts_equal_the_valid_input() {
    let dir = scratch("run-then-sql");
    let config = example_config(&dir, 2);
    let summary = itscam_ok(&dir, &["run", "--config", config.to_str().unwrap(), "--no-progress"]);
    assert!(summary.contains("detections"), "{summary}");
    let (frames, detections) = count_valid(&repo_root().join("examples/data/two-cameras.jsonl"));
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections"), detections);
    assert_eq!(query_int(&dir, "SELECT count(DISTINCT camera_id || ':' || CAST(frame AS VARCHAR)) AS n FROM detections"), frames);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors"), 0);
    // Every tracked detection belongs to a row of `tracks`, and every track's frame count covers it.
    assert_eq!(
        query_int(&dir, "SELECT count(*) AS n FROM detections d LEFT JOIN tracks t ON d.camera_id = t.camera_id AND d.track_id = t.track_id WHERE d.track_id IS NOT NULL AND t.track_id IS NULL"),
        0
    );
    assert_eq!(
        query_int(&dir, "SELECT count(*) AS n FROM (SELECT d.camera_id, d.track_id, count(*) AS c, max(t.frames) AS f FROM detections d JOIN tracks t ON d.camera_id = t.camera_id AND d.track_id = t.track_id GROUP BY 1, 2) WHERE c > f"),
        0
    );
    let tracks = query_int(&dir, "SELECT count(*) AS n FROM tracks");
    assert!(tracks > 10, "expected many tracks from 12 objects per camera over 60 s, got {tracks}");
    // The default layout: date from the directory, camera_id a column; both cameras share files.
    let parts = query_json(&dir, "SELECT DISTINCT camera_id, date FROM detections ORDER BY camera_id");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["camera_id"], "cam-1");
    assert_eq!(parts[0]["date"], "2026-01-01");
    assert!(!dir.join("lake/detections/camera_id=cam-2").exists());
    // Files are rolled by size: a handful of files, not one per tick.
    let files = std::fs::read_dir(dir.join("lake/detections/date=2026-01-01")).unwrap().count();
    assert!((1..=3).contains(&files), "{files} files");
}

#[test]
fn one_and_two_workers_give_the_same_tables_and_every_query_runs() {
    let mut results = Vec::new();
    for workers in [1, 2] {
        let dir = scratch(&format!("workers-{workers}"));
        let config = full_example_config(&dir, workers);
        itscam_ok(&dir, &["run", "--config", config.to_str().unwrap(), "--no-progress"]);
        results.push((
            query_json(&dir, "SELECT camera_id, frame, track_id, class, x1 FROM detections ORDER BY camera_id, frame, x1, y1"),
            query_json(&dir, "SELECT camera_id, track_id, class, first_ts_ms, last_ts_ms, frames, mean_speed_kmh FROM tracks ORDER BY camera_id, track_id"),
            query_json(&dir, "SELECT camera_id, line_id, track_id, ts_ms, direction FROM line_crossings ORDER BY camera_id, line_id, ts_ms, track_id"),
            query_json(&dir, "SELECT camera_id, zone_id, track_id, enter_ts_ms, exit_ts_ms FROM zone_events ORDER BY camera_id, zone_id, enter_ts_ms, track_id"),
            query_json(&dir, "SELECT camera_id, window_start_ms, class, vehicle_count, avg_speed_kmh, density_veh_per_km FROM traffic_metrics ORDER BY camera_id, window_start_ms, class"),
            query_json(&dir, "SELECT violation_id, kind, ts_start_ms, ts_end_ms, value FROM violations ORDER BY violation_id"),
        ));
    }
    assert_eq!(results[0], results[1]);
    // The example exercises every query: speeds, crossings, stays, metrics and violations.
    let (_, tracks, crossings, stays, metrics, violations) = &results[0];
    assert!(tracks.iter().any(|t| t["mean_speed_kmh"].is_number()));
    assert!(!crossings.is_empty() && !stays.is_empty() && !metrics.is_empty());
    let kinds: std::collections::BTreeSet<&str> = violations.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["red_light", "speeding", "zone_intrusion"].into_iter().collect());
}

#[test]
fn stdin_source_flows_into_the_lake() {
    let dir = scratch("stdin");
    std::fs::write(dir.join("config.toml"), "[[camera]]\nid = \"cam-1\"\nsource = \"detections:-\"\n").unwrap();
    let input = std::fs::read_to_string(repo_root().join("engine/tests/scenarios/bad-input/input.jsonl")).unwrap();
    let input = input.replace("\"east\"", "\"cam-1\"");
    let mut child = Command::new(env!("CARGO_BIN_EXE_itscam"))
        .args(["run", "--config", "config.toml", "--no-progress"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let errors = query_json(&dir, "SELECT line, kind FROM errors ORDER BY line");
    let lines: Vec<i64> = errors.iter().map(|r| r["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![3, 5, 6, 7, 8, 25]);
    assert!(errors.iter().all(|r| r["kind"] != "io_error"));
    // 17 valid frames of one detection each; line 23 sends frame 1 (line 2) again: within
    // 2 × lateness_ms (1 s by default) of the newest frame it is known as a repeat, dropped
    // and counted, not late (the golden scenario, at lateness_ms 500, finds it late).
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections"), 17);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(late: 0;") && stdout.contains(&format!("duplicates  {:>12}", 1)), "{stdout}");
}

#[test]
fn check_lists_every_problem_and_run_refuses_the_same_config() {
    let dir = scratch("check");
    std::fs::write(
        dir.join("bad.toml"),
        "[pipeline]\nworkerz = 2\n\n[[camera]]\nid = \"cam-1\"\nsource = \"detections:missing.jsonl\"\n[[camera.zone]]\nid = \"z\"\npolygon = [[0, 0], [1, 1]]\n",
    )
    .unwrap();
    for cmd in ["check", "run"] {
        let out = itscam(&dir, &[cmd, "--config", "bad.toml"]);
        assert!(!out.status.success(), "{cmd} accepted a bad config");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 2: pipeline.workerz: unknown key"), "{cmd}: {err}");
        assert!(err.contains("camera[0].source: file missing.jsonl does not exist"), "{cmd}: {err}");
        assert!(err.contains("camera[0].zone[0].polygon: a polygon needs at least 3 points"), "{cmd}: {err}");
        assert!(err.contains("3 problem(s)"), "{cmd}: {err}");
    }
    std::fs::write(dir.join("in.jsonl"), "").unwrap();
    std::fs::write(dir.join("good.toml"), "[[camera]]\nid = \"cam-1\"\nsource = \"detections:in.jsonl\"\n").unwrap();
    let ok = itscam_ok(&dir, &["check", "--config", "good.toml"]);
    assert!(ok.contains("ok (1 camera(s)"), "{ok}");
}

#[test]
fn queries_are_read_only_and_formats_work() {
    let dir = scratch("read-only");
    for sql in [
        "DROP TABLE detections",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO detections SELECT * FROM detections",
        "COPY (SELECT 1) TO 'out.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let out = itscam(&dir, &["query", "--lake", "file://./lake", sql]);
        assert!(!out.status.success(), "{sql} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("read-only"), "{sql}: {err}");
    }
    assert!(!dir.join("out.csv").exists());
    let out = itscam(&dir, &["query", "--lake", "file://./lake", "SELECT nope FROM detections"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid query"));
    let csv = itscam_ok(&dir, &["query", "--lake", "file://./lake", "--format", "csv", "SELECT 1 AS a, 'x' AS b"]);
    assert_eq!(csv, "a,b\n1,x\n");
    let table = itscam_ok(&dir, &["query", "--lake", "file://./lake", "SELECT count(*) AS n FROM tracks"]);
    assert!(table.contains("| n |") && table.contains("| 0 |"), "{table}");
    let cut = itscam(&dir, &["query", "--lake", "file://./lake", "--max-rows", "3", "--format", "json", "SELECT * FROM generate_series(1, 10)"]);
    let rows: serde_json::Value = serde_json::from_slice(&cut.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(String::from_utf8_lossy(&cut.stderr).contains("cut at 3 rows"));

    // An export is whole: [query] max_rows limits the HTTP API, not the CLI.
    std::fs::write(dir.join("small-limit.toml"), "[lake]\nurl = \"file://./lake\"\n[query]\nmax_rows = 5\n[[camera]]\nid = \"c\"\nsource = \"detections:-\"\n").unwrap();
    let out = itscam(&dir, &["query", "--config", "small-limit.toml", "--format", "csv", "SELECT value FROM generate_series(1, 250000)"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!((lines.len(), lines[0], lines[1], lines[250_000]), (250_001, "value", "1", "250000"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cut at"));
    // No rows: the CSV header alone, an empty JSON array.
    let csv = itscam_ok(&dir, &["query", "--lake", "file://./lake", "--format", "csv", "SELECT 1 AS a WHERE false"]);
    assert_eq!(csv, "a\n");
    let json = itscam_ok(&dir, &["query", "--lake", "file://./lake", "--format", "json", "SELECT 1 AS a WHERE false"]);
    assert_eq!(json.trim(), "[]");
    // EXPLAIN ANALYZE is the root of its plan: no limit is wrapped around it.
    let explained = itscam_ok(&dir, &["query", "--lake", "file://./lake", "--max-rows", "5", "EXPLAIN ANALYZE SELECT count(*) FROM generate_series(1, 10)"]);
    assert!(explained.contains("output_rows"), "{explained}");
}

#[test]
fn the_compose_setup_config_checks() {
    let dir = scratch("deploy-config");
    let text = std::fs::read_to_string(repo_root().join("deploy/itscam.toml")).unwrap();
    std::fs::write(dir.join("itscam.toml"), text.replace("examples/data", repo_root().join("examples/data").to_str().unwrap())).unwrap();
    let out = itscam_ok(&dir, &["check", "--config", "itscam.toml"]);
    assert!(out.contains("ok (1 camera(s)") && out.contains("calibration cam-1"), "{out}");
}

#[test]
fn a_run_with_the_http_api_ends_when_its_input_ends() {
    // The API holds handles on the run (rules, alerts, counters); none may keep it alive.
    let dir = scratch("run-http-ends");
    let config = full_example_config(&dir, 1);
    let child = Command::new(env!("CARGO_BIN_EXE_itscam"))
        .args(["run", "--config", config.to_str().unwrap(), "--no-progress", "--http", "127.0.0.1:0"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()).unwrap());
    let Ok(out) = rx.recv_timeout(std::time::Duration::from_secs(120)) else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("itscam run --http did not end after its input ended");
    };
    let out = out.unwrap();
    let status = out.status;
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("violations"));
}
