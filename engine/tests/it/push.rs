//! Pushed detections (`source = "push"`): `POST /api/v1/cameras/{id}/detections` and `POST
//! /api/v1/ingest` into a running `itscam serve`; the lake holds exactly what the answers said
//! was taken, the rejected lines are in `errors`, and a full queue refuses a push whole.

use crate::support::*;
use std::io::Write;

/// The cam-1 frames of the example, as camera `camera`, shifted so the first is at `start_ms`.
pub(crate) fn frames(camera: &str, start_ms: u64, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("examples/data/two-cameras.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().filter(|l| l.contains("\"cam-1\"")).take(n).map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = lines[0]["ts_ms"].as_u64().unwrap();
    lines
        .into_iter()
        .map(|mut v| {
            v["ts_ms"] = (v["ts_ms"].as_u64().unwrap() - first + start_ms).into();
            v["camera_id"] = camera.into();
            v.to_string()
        })
        .collect()
}

fn detections_in(lines: &[String]) -> u64 {
    lines.iter().map(|l| itscam_types::jsonl::parse_frame(l).unwrap().detections.len() as u64).sum()
}

pub(crate) fn push(addr: &str, path: &str, lines: &[String]) -> (u16, String, serde_json::Value) {
    let body = lines.join("\n") + "\n";
    let (status, head, text) = http_raw(addr, "POST", path, &[("Content-Type", "application/x-ndjson")], body.as_bytes());
    (status, head, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

#[test]
fn pushed_detections_reach_the_lake_exactly_as_answered_and_bad_pushes_get_clear_errors() {
    let dir = scratch("push");
    let config = "[service]\nshutdown_grace_ms = 60000\npush_queue_lines = 50\n\
        [[camera]]\nid = \"p1\"\nsource = \"push\"\n[[camera]]\nid = \"p2\"\nsource = \"push\"\n\
        [[camera]]\nid = \"s1\"\nsource = \"detections:-\"\n";
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let addr = served.addr.clone();
    let now = itscam_types::time::now_ms();
    let mut expected_detections = 0u64;
    let mut expected_errors = 0u64;

    // One camera's endpoint: a malformed line and another camera's line are rejected with their
    // line numbers; the valid lines around them are taken.
    let p1 = frames("p1", now, 200);
    let mut body = p1[..20].to_vec();
    body.insert(5, "{\"camera_id\": \"p1\", not json".to_string());
    body.insert(9, frames("p2", now, 1).remove(0));
    let (status, _, answer) = push(&addr, "/api/v1/cameras/p1/detections", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 20, "{answer}");
    assert_eq!(answer["detections"].as_u64().unwrap(), detections_in(&p1[..20]));
    let rejected: Vec<(u64, &str)> = answer["rejected"].as_array().unwrap().iter().map(|r| (r["line"].as_u64().unwrap(), r["kind"].as_str().unwrap())).collect();
    assert_eq!(rejected, vec![(6, "malformed_json"), (10, "unknown_camera")], "{answer}");
    expected_detections += detections_in(&p1[..20]);
    expected_errors += 2;

    // The ingest endpoint routes by camera_id and takes gzip; an unknown camera's line is rejected.
    let mut lines = frames("p2", now, 30);
    lines.push(frames("zz", now, 1).remove(0));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let (status, _, text) = http_raw(&addr, "POST", "/api/v1/ingest", &[("Content-Encoding", "gzip")], &gz);
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["accepted"].as_u64(), answer["rejected"][0]["line"].as_u64()), (Some(30), Some(31)), "{answer}");
    assert_eq!(answer["rejected"][0]["kind"], "unknown_camera");
    expected_detections += detections_in(&lines[..30]);
    expected_errors += 1;

    // A frame older than push_max_delay_ms is taken, then written to errors as late.
    let old = frames("p2", now - 3_600_000, 1);
    let (status, _, answer) = push(&addr, "/api/v1/cameras/p2/detections", &old);
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)), "{answer}");
    expected_errors += 1;

    // Clear refusals that take nothing.
    let (status, _, answer) = push(&addr, "/api/v1/cameras/s1/detections", &frames("s1", now, 1));
    assert_eq!((status, answer["error"].as_str()), (409, Some("not_push")), "{answer}");
    let (status, _, answer) = push(&addr, "/api/v1/cameras/nope/detections", &frames("nope", now, 1));
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")), "{answer}");
    let (status, _, answer) = push(&addr, "/api/v1/cameras/p1/detections", &p1[20..71]);
    assert_eq!((status, answer["error"].as_str()), (413, Some("too_large")), "{answer}");
    let (status, _, text) = http_raw(&addr, "POST", "/api/v1/ingest", &[("Content-Encoding", "br")], b"x");
    assert_eq!(status, 415, "{text}");

    // The silent stdin camera holds the outputs' frontier, so p1 runs a lead ahead and its queue
    // stops draining: pushes are taken until the queue (50 lines) is full, then refused whole.
    let mut next = 20;
    let refused = loop {
        assert!(next + 40 <= p1.len(), "no push was refused with a queue of 50 lines");
        let (status, head, answer) = push(&addr, "/api/v1/cameras/p1/detections", &p1[next..next + 40]);
        match status {
            200 => {
                assert_eq!(answer["accepted"], 40, "{answer}");
                expected_detections += detections_in(&p1[next..next + 40]);
                next += 40;
            }
            429 => break (head, answer),
            other => panic!("{other}: {answer}"),
        }
    };
    let (head, answer) = refused;
    assert_eq!(answer["error"], "queue_full", "{answer}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    // The camera list shows the queue that refused it.
    let (status, text) = http(&addr, "GET", "/api/v1/cameras", "");
    let cameras: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status, 200);
    let p1_status = cameras["push"].as_array().unwrap().iter().find(|c| c["camera_id"] == "p1").cloned().unwrap();
    assert_eq!((p1_status["queue_limit"].as_u64(), p1_status["accepting"].as_bool()), (Some(50), Some(true)), "{p1_status}");
    assert!(p1_status["queued_lines"].as_u64().unwrap() + 40 > 50, "{p1_status}");

    let (status, _) = served.terminate();
    assert!(status.success(), "itscam serve exited with {status}");
    // Exactly what the answers said: every taken frame's detections, nothing of the refused push.
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections") as u64, expected_detections);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors WHERE source = 'push'") as u64, expected_errors);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors WHERE source = 'push' AND kind = 'late'"), 1);
    assert_eq!(query_int(&dir, "SELECT count(DISTINCT camera_id) AS n FROM detections"), 2);
}

#[test]
fn a_push_camera_needs_the_http_api() {
    let dir = scratch("push-no-http");
    std::fs::write(dir.join("config.toml"), "[[camera]]\nid = \"p1\"\nsource = \"push\"\n").unwrap();
    let out = itscam(&dir, &["run", "--config", "config.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("p1") && stderr.contains("--http"), "{stderr}");
}

#[test]
fn pushed_signal_states_judge_pushed_crossings_like_the_batch_run_of_the_same_scenario() {
    let dir = scratch("push-signals");
    let scenario = repo_root().join("engine/tests/scenarios/rule-red-light");
    let config = std::fs::read_to_string(scenario.join("config.toml"))
        .unwrap()
        .replace("source = \"detections:input.jsonl\"", "source = \"push\"")
        .replace("source = \"signals:signals.jsonl\"", "source = \"push\"");
    std::fs::write(dir.join("config.toml"), format!("[service]\nshutdown_grace_ms = 60000\n{config}")).unwrap();
    let expected: Vec<serde_json::Value> =
        std::fs::read_to_string(scenario.join("expected/violations.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first_ts = 1_767_225_600_000u64;
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    // The scenario replayed as if it started now: event time of push input follows the clock.
    let shift = itscam_types::time::now_ms() - first_ts;

    let mut signals = shifted(&std::fs::read_to_string(scenario.join("signals.jsonl")).unwrap(), shift);
    // A change an hour ahead: the signal's last state, which a restart must remember.
    let ahead = first_ts + shift + 3_600_000;
    signals.push(format!("{{\"signal_id\":\"tl-1\",\"ts_ms\":{ahead},\"state\":\"red\"}}"));
    signals.push(format!("{{\"signal_id\":\"tl-1\",\"ts_ms\":{},\"state\":\"red\"}}", first_ts + shift - 3_600_000));
    signals.push("{\"signal_id\":\"tl-9\",\"ts_ms\":1,\"state\":\"red\"}".to_string());
    signals.push("{\"signal_id\":\"tl-1\",\"state\":\"blue\"}".to_string());
    let (status, _, answer) = push(&served.addr, "/api/v1/signals", &signals);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 4, "{answer}");
    let kinds: Vec<&str> = answer["rejected"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["late", "unknown_signal", "malformed_signal"], "{answer}");

    let frames = shifted(&std::fs::read_to_string(scenario.join("input.jsonl")).unwrap(), shift);
    let (status, _, answer) = push(&served.addr, "/api/v1/ingest", &frames);
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(frames.len() as u64)), "{answer}");

    let (status, _) = served.terminate();
    assert!(status.success(), "itscam serve exited with {status}");
    let got = query_json(&dir, "SELECT rule_id, track_id, ts_start_ms, ts_end_ms FROM violations ORDER BY ts_start_ms");
    let got: Vec<(String, i64, i64)> = got
        .iter()
        .map(|r| (r["rule_id"].as_str().unwrap().to_string(), r["track_id"].as_i64().unwrap(), r["ts_start_ms"].as_i64().unwrap() - shift as i64))
        .collect();
    let want: Vec<(String, i64, i64)> =
        expected.iter().map(|v| (v["rule_id"].as_str().unwrap().to_string(), v["track_id"].as_i64().unwrap(), v["ts_start_ms"].as_i64().unwrap())).collect();
    assert_eq!(got, want);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors WHERE source = 'push:signals'"), 3);

    // The push is an entry of the control log (the accepted changes)...
    let logged = query_json(&dir, "SELECT id, op, after FROM changes WHERE kind = 'signal'");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["id"], "tl-1");
    let after: Vec<serde_json::Value> = serde_json::from_str(logged[0]["after"].as_str().unwrap()).unwrap();
    assert_eq!(after.len(), 4, "the accepted changes, not the rejected lines: {after:?}");
    // ...and a restart enters it again: the signal's last change is the one an hour ahead, so a
    // change before it is refused.
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let (status, _, answer) = push(&served.addr, "/api/v1/signals", &[format!("{{\"signal_id\":\"tl-1\",\"ts_ms\":{},\"state\":\"green\"}}", ahead - 1)]);
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(0)), "{answer}");
    assert!(answer["rejected"][0]["reason"].as_str().unwrap().contains("previous change"), "{answer}");
    let (status, _) = served.terminate();
    assert!(status.success());
}
