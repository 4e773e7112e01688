//! `itscam serve`: the pipeline and the API in one process, drained on SIGTERM; the query-only
//! server without cameras.

use crate::support::*;
use std::io::Write;

/// `SELECT count(*) AS n FROM <table>` over the served API.
fn served_count(addr: &str, table: &str) -> i64 {
    let body = serde_json::json!({ "sql": format!("SELECT count(*) AS n FROM {table}") }).to_string();
    let (status, text) = http(addr, "POST", "/api/v1/query", &body);
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["rows"][0]["n"].as_i64().unwrap()
}

/// Asks `SELECT count(*) FROM <table>` until it answers `n` (the rows' arrival is the signal
/// waited for); panics with the last answer after a minute.
fn wait_for_count(addr: &str, table: &str, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = served_count(addr, table);
        if got == n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{table}: {got} rows, expected {n}");
        std::thread::sleep(std::time::Duration::from_millis(20)); // polling period, not a synchronization
    }
}

/// The value of an OpenMetrics counter without labels, 0 when absent.
fn metric(addr: &str, name: &str) -> u64 {
    let (status, text) = http(addr, "GET", "/metrics", "");
    assert_eq!(status, 200);
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0)
}

#[test]
fn serve_runs_the_pipeline_until_sigterm_then_drains_every_row_and_exits_0() {
    let dir = scratch("serve-sigterm");
    std::fs::write(dir.join("config.toml"), "[service]\nshutdown_grace_ms = 60000\n[[camera]]\nid = \"cam-1\"\nsource = \"detections:-\"\n").unwrap();
    let text = std::fs::read_to_string(repo_root().join("examples/data/two-cameras.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\"cam-1\"")).collect();
    let detections: usize = lines.iter().map(|l| itscam_types::jsonl::parse_frame(l).unwrap().detections.len()).sum();
    let mut served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let mut stdin = served.child.stdin.take().unwrap();
    stdin.write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    served.child.stdin = Some(stdin);
    // Every frame read (a real counter of the running pipeline); the input stays open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while metric(&served.addr, "itscam_source_frames_total") < lines.len() as u64 {
        assert!(std::time::Instant::now() < deadline, "the pipeline did not read its {} frames", lines.len());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(http(&served.addr, "GET", "/health", "").0, 200);
    let (status, stdout) = served.terminate();
    assert!(status.success(), "itscam serve exited with {status}");
    assert!(stdout.contains("detections"), "{stdout}");
    // The drain wrote what the lateness and the smoother still held, and closed the open tracks.
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections") as usize, detections);
    assert!(query_int(&dir, "SELECT count(*) AS n FROM tracks") > 5);
}

#[test]
fn serve_answers_after_its_input_ended_and_without_cameras_serves_the_lake() {
    let dir = scratch("serve-after-input");
    let input = repo_root().join("engine/tests/scenarios/bad-input/input.jsonl");
    let config = format!(
        "[lake]\nurl = \"file://./lake\"\n[pipeline]\nlateness_ms = 500\n[tracker]\nmin_hits = 2\n[[camera]]\nid = \"east\"\nsource = \"detections:{}\"\n",
        input.display()
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    // The pipeline goes on after its file ended (cameras may still be added): its event time
    // follows the wall clock, so every row of the file comes out and SQL sees it.
    wait_for_count(&served.addr, "detections", 17);
    wait_for_count(&served.addr, "errors", 7);
    let (status, _) = http(&served.addr, "GET", "/api/v1/cameras", "");
    assert_eq!(status, 200);
    let (status, stdout) = served.terminate();
    assert!(status.success(), "{status}");
    assert!(stdout.contains("detections             17 rows"), "{stdout}");

    // No cameras: the query-only server over the same lake; old paths are redirected.
    let served = Served::start(&dir, &["--lake", "file://./lake", "--listen", "127.0.0.1:0"]);
    assert_eq!(served_count(&served.addr, "detections"), 17);
    let (status, _) = http(&served.addr, "POST", "/query", "{\"sql\": \"SELECT 1\"}");
    assert_eq!(status, 308);
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");

    // The grace period is checked like every key.
    std::fs::write(dir.join("bad.toml"), "[service]\nshutdown_grace_ms = 0\n").unwrap();
    let out = itscam(&dir, &["check", "--config", "bad.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("service.shutdown_grace_ms"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rules_changed_over_http_come_back_after_a_restart_and_are_listed_in_changes() {
    let dir = scratch("serve-control-log");
    let config = r#"
[[camera]]
id = "cam-1"
source = "detections:-"
[[camera.zone]]
id = "bus-lane"
polygon = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
[[rule]]
id = "from-config"
kind = "zone_intrusion"
camera = "cam-1"
zone = "bus-lane"
classes = ["truck"]
"#;
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let put = r#"{"id":"no-cars","kind":"zone_intrusion","camera":"cam-1","zone":"bus-lane","classes":["car"],"severity":"high"}"#;
    let (status, body) = http(&served.addr, "PUT", "/api/v1/rules/no-cars", put);
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(&served.addr, "DELETE", "/api/v1/rules/from-config", "");
    assert_eq!(status, 200, "{body}");
    // A rule that does not fit is refused and not logged.
    let bad = r#"{"id":"bad","kind":"zone_intrusion","camera":"cam-1","zone":"nowhere","classes":["car"]}"#;
    let (status, body) = http(&served.addr, "PUT", "/api/v1/rules/bad", bad);
    assert_eq!(status, 422, "{body}");
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");

    // Restarted with the same config: the rules are as the log says.
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let (status, body) = http(&served.addr, "GET", "/api/v1/rules", "");
    assert_eq!(status, 200, "{body}");
    let rules: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = rules["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["no-cars"], "the put rule is back, the deleted config rule stays deleted: {body}");
    assert_eq!((rules["rules"][0]["origin"].as_str(), rules["rules"][0]["classes"][0].as_str()), (Some("api"), Some("car")));
    assert!(rules["rules"][0]["since_ms"].is_u64(), "{body}");

    let sql = serde_json::json!({ "sql": "SELECT seq, who, kind, id, op, before, after FROM changes ORDER BY seq" }).to_string();
    let (status, body) = http(&served.addr, "POST", "/api/v1/query", &sql);
    assert_eq!(status, 200, "{body}");
    let rows = serde_json::from_str::<serde_json::Value>(&body).unwrap()["rows"].clone();
    let seen: Vec<(i64, &str, &str, &str)> =
        rows.as_array().unwrap().iter().map(|r| (r["seq"].as_i64().unwrap(), r["kind"].as_str().unwrap(), r["id"].as_str().unwrap(), r["op"].as_str().unwrap())).collect();
    assert_eq!(seen, vec![(0, "rule", "no-cars", "put"), (1, "rule", "from-config", "delete")], "{body}");
    assert!(rows[0]["who"].as_str().unwrap().starts_with("127.0.0.1:"), "the peer's address: {body}");
    assert!(rows[0]["before"].is_null() && rows[1]["after"].is_null(), "{body}");
    let before: serde_json::Value = serde_json::from_str(rows[1]["before"].as_str().unwrap()).unwrap();
    assert_eq!(before["classes"][0], "truck", "the deleted rule as it was: {body}");
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");
}
