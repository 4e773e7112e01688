//! Golden scenarios: `engine/tests/scenarios/<name>/{config.toml, input.jsonl, expected/*.jsonl}`.
//! Each scenario runs through the CLI; its tables must equal the expected rows.
//! `ITSCAM_BLESS=1 cargo nextest run -p itscam golden` rewrites `expected/` (review the diff).

use crate::support::*;

const TABLES: [(&str, &str); 3] = [
    ("detections", "SELECT camera_id, ts_ms, frame, track_id, class, confidence, x1, y1, x2, y2 FROM detections ORDER BY camera_id, ts_ms, x1, y1"),
    ("tracks", "SELECT camera_id, track_id, class, first_ts_ms, last_ts_ms, frames FROM tracks ORDER BY camera_id, track_id"),
    ("errors", "SELECT source, line, camera_id, ts_ms, kind, reason FROM errors ORDER BY line"),
];

#[test]
fn golden_scenarios() {
    let root = repo_root().join("engine/tests/scenarios");
    let bless = std::env::var_os("ITSCAM_BLESS").is_some();
    let mut names: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(!names.is_empty());
    let mut failures = Vec::new();
    for name in &names {
        let src = root.join(name);
        let dir = scratch(&format!("golden-{name}"));
        copy_dir(&src, &dir);
        itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
        for (table, sql) in TABLES {
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
