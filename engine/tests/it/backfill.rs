//! Backfill equals live: a lake written with the rules present from the start, and a lake of
//! the same input written without them and then backfilled, hold the same violations, ids
//! included (`origin` aside). The input spans three 15-minute parts, with a slow truck and a
//! crowd across a part boundary. A second run of the same backfill skips the committed parts.

use crate::support::*;
use std::fmt::Write;

const T0: u64 = 1_767_225_600_000;
const MINUTES: u64 = 40;

const CAMERA: &str = r#"[lake]
url = "file://./lake"

[tracker]
min_hits = 3

[[camera]]
id = "cam-1"
source = "detections:input.jsonl"
[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000], [500, 500]]
world = [[0, 50], [50, 50], [50, 0], [0, 0], [25, 25]]
[[camera.zone]]
id = "approach"
polygon = [[50, 250], [950, 250], [950, 750], [50, 750]]
"#;

const RULES: &str = r#"
[[rule]]
id = "speeding-approach"
kind = "speeding"
camera = "cam-1"
zone = "approach"
limit_kmh = 50.0
tolerance_kmh = 5.0
severity = "high"

[[rule]]
id = "slow_truck"
sql = "SELECT * FROM track_points WHERE in_zone('approach') AND class = 'truck' AND speed_kmh < 10 FOR 5 s"

[[rule]]
id = "crowded"
sql = "SELECT zone_id, count(DISTINCT track_id) FROM zone_presence GROUP BY zone_id, WINDOW 10 s HAVING count(DISTINCT track_id) >= 4 FOR 2 s"
"#;

/// A vehicle: start time (ms after T0), lane, speed km/h, class.
struct Vehicle(u64, u32, f64, &'static str);

fn vehicles() -> Vec<Vehicle> {
    let mut v = Vec::new();
    let mut t = 0;
    let mut i = 0u64;
    while t < (MINUTES - 1) * 60_000 {
        let speed = [35.0, 48.0, 62.0, 44.0, 71.0, 52.0, 39.0][(i % 7) as usize];
        let class = if i % 9 == 4 { "truck" } else { "car" };
        v.push(Vehicle(t, (i % 3) as u32, speed, class));
        // Every so often a burst of four (the crowded rule), otherwise one every 20 s.
        t += if i % 25 < 4 { 1_500 } else { 20_000 };
        i += 1;
    }
    // Slow trucks: one well inside a part, one across the first part boundary (15 min).
    v.push(Vehicle(6 * 60_000, 3, 4.0, "truck"));
    v.push(Vehicle(15 * 60_000 - 20_000, 3, 3.0, "truck"));
    v
}

/// The input: 10 fps, a frame every 100 ms with every vehicle in view (x from 0 to 1000 px,
/// 20 px per metre).
fn input() -> String {
    let vs = vehicles();
    let mut out = String::new();
    for frame in 0..MINUTES * 600 {
        let ts = T0 + frame * 100;
        let mut dets = Vec::new();
        for v in &vs {
            let Some(dt) = (ts - T0).checked_sub(v.0) else { continue };
            let x = dt as f64 / 1000.0 * v.2 / 3.6 * 20.0;
            if x > 1000.0 {
                continue;
            }
            let y = 300.0 + 110.0 * f64::from(v.1);
            dets.push(format!(r#"{{"class":"{}","confidence":0.9,"bbox":[{:.1},{:.1},{:.1},{:.1}]}}"#, v.3, x - 40.0, y - 40.0, x + 40.0, y));
        }
        let _ = writeln!(out, r#"{{"camera_id":"cam-1","ts_ms":{ts},"frame":{frame},"width":1000,"height":1000,"detections":[{}]}}"#, dets.join(","));
    }
    out
}

const VIOLATIONS: &str = "SELECT violation_id, rule_id, kind, camera_id, track_id, class, ts_start_ms, ts_end_ms, round(value, 2) AS value, limit_value, severity, place FROM violations";

#[test]
fn a_backfilled_rule_writes_what_it_would_have_written_live() {
    let input = input();
    let live = scratch("backfill-live");
    std::fs::write(live.join("input.jsonl"), &input).unwrap();
    std::fs::write(live.join("config.toml"), format!("{CAMERA}{RULES}")).unwrap();
    itscam_ok(&live, &["run", "--config", "config.toml", "--no-progress"]);
    let expected = query_json(&live, &format!("{VIOLATIONS} ORDER BY violation_id"));
    for rule in ["speeding-approach", "slow_truck", "crowded"] {
        assert!(expected.iter().any(|r| r["rule_id"] == rule), "the input makes {rule} violations: {expected:#?}");
    }
    let boundary = T0 + 15 * 60_000;
    assert!(
        expected.iter().any(|r| r["rule_id"] == "slow_truck" && r["ts_start_ms"].as_u64().is_some_and(|s| s < boundary) && r["ts_end_ms"].as_u64().is_some_and(|e| e >= boundary - 5_000)),
        "a slow truck around the part boundary: {expected:#?}"
    );
    assert_eq!(query_int(&live, "SELECT count(*) FROM violations WHERE origin <> 'live'"), 0);

    let later = scratch("backfill-later");
    std::fs::write(later.join("input.jsonl"), &input).unwrap();
    std::fs::write(later.join("config.toml"), CAMERA).unwrap();
    itscam_ok(&later, &["run", "--config", "config.toml", "--no-progress"]);
    assert_eq!(query_int(&later, "SELECT count(*) FROM violations"), 0);
    // The rules arrive afterwards; each is run over the history.
    std::fs::write(later.join("config.toml"), format!("{CAMERA}{RULES}")).unwrap();
    let (from, to) = (T0.to_string(), (T0 + MINUTES * 60_000).to_string());
    for rule in ["speeding-approach", "slow_truck", "crowded"] {
        let out = itscam_ok(&later, &["rules", "backfill", rule, "--from", &from, "--to", &to, "--config", "config.toml"]);
        assert!(out.contains("3 parts (0 done before)"), "{out}");
    }
    let got = query_json(&later, &format!("{VIOLATIONS} WHERE origin = 'backfill' ORDER BY violation_id"));
    assert_eq!(got, expected, "backfill equals live, ids included");

    // Again: every part with violations is committed already and skipped; nothing is doubled.
    let out = itscam_ok(&later, &["rules", "backfill", "slow_truck", "--from", &from, "--to", &to, "--config", "config.toml"]);
    let parts_with_rows = query_int(&later, "SELECT count(DISTINCT ts_start_ms / 900000) FROM violations WHERE rule_id = 'slow_truck'");
    assert!(out.contains(&format!("({parts_with_rows} done before)")), "{out}");
    assert_eq!(query_json(&later, &format!("{VIOLATIONS} ORDER BY violation_id")), expected);
}

#[test]
fn a_backfill_of_an_unknown_rule_or_a_bad_range_is_refused() {
    let dir = scratch("backfill-refused");
    std::fs::write(dir.join("input.jsonl"), "").unwrap();
    std::fs::write(dir.join("config.toml"), CAMERA).unwrap();
    let out = itscam(&dir, &["rules", "backfill", "nope", "--from", "0", "--to", "1000", "--config", "config.toml"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no rule \"nope\""), "{out:?}");
    let out = itscam(&dir, &["rules", "backfill", "nope", "--from", "1000", "--to", "1000", "--config", "config.toml"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("must be after"), "{out:?}");
}
