//! Fresh SQL inside `itscam serve`: `POST /api/v1/query` reads the committed files and the rows
//! the writer holds, so a row is visible before any commit, and queries that run while commits
//! (the writer's and compaction's) happen never count a row twice or lose one.

use crate::push::{frames, push};
use crate::support::*;
use std::collections::BTreeMap;

/// Rows of one answer, as a multiset of their JSON text.
type Rows = BTreeMap<String, usize>;

const SQL: &str = "SELECT camera_id, ts_ms, frame, CAST(round(x1 * 100) AS BIGINT) AS x, CAST(round(y1 * 100) AS BIGINT) AS y FROM detections";

fn rows_of(rows: &[serde_json::Value]) -> Rows {
    let mut out = Rows::new();
    for r in rows {
        *out.entry(r.to_string()).or_default() += 1;
    }
    out
}

/// `POST /api/v1/query` with [`SQL`]'s rows.
fn query_http(addr: &str, sql: &str) -> Rows {
    let (status, text) = http(addr, "POST", "/api/v1/query", &serde_json::json!({ "sql": sql }).to_string());
    assert_eq!(status, 200, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["truncated"], false, "{text}");
    rows_of(body["rows"].as_array().unwrap())
}

/// Whether every row of `a` is in `b` at least as often.
fn within(a: &Rows, b: &Rows) -> bool {
    a.iter().all(|(row, n)| b.get(row).is_some_and(|m| m >= n))
}

/// The newest commit's seq (commits are vacuumed once a snapshot covers them, so not a count).
fn newest_commit(dir: &std::path::Path) -> u64 {
    let names = std::fs::read_dir(dir.join("lake/_itscam/commits")).into_iter().flatten().flatten();
    names.filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok()).max().unwrap_or(0)
}

#[test]
fn a_pushed_row_is_visible_to_sql_before_any_commit_and_itscam_query_sees_committed_rows_only() {
    let dir = scratch("fresh-uncommitted");
    // No roll before the end: every row the API shows is one the writer holds.
    let config = "[service]\nshutdown_grace_ms = 60000\n[lake.writer]\nmax_age_ms = 3600000\n[[camera]]\nid = \"p1\"\nsource = \"push\"\n";
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let lines = frames("p1", itscam_types::time::now_ms(), 100);
    let (status, _, answer) = push(&served.addr, "/api/v1/cameras/p1/detections", &lines);
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(100)), "{answer}");
    // The frames' watermark passes the first ones once the pipeline has taken the push.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let seen = loop {
        let rows = query_http(&served.addr, "SELECT count(*) AS n FROM detections");
        let n: i64 = rows.keys().next().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()).and_then(|v| v["n"].as_i64()).unwrap();
        if n > 0 {
            break n;
        }
        assert!(std::time::Instant::now() < deadline, "no pushed row became visible");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(seen > 0);
    // Another process reads committed files only: none yet.
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections"), 0);
    let (status, _) = served.terminate();
    assert!(status.success(), "itscam serve exited with {status}");
    assert!(query_int(&dir, "SELECT count(*) AS n FROM detections") >= seen, "the drain committed what the API showed");
}

#[test]
fn queries_during_commits_and_compaction_never_count_a_row_twice_or_lose_one() {
    let dir = scratch("fresh-commits");
    // Rolls every 200 ms and compaction every 300 ms: commits land between and during queries.
    let config = "[service]\nshutdown_grace_ms = 60000\n[lake.writer]\nmax_age_ms = 200\n\
        [lake.compaction]\ninterval_ms = 300\nmin_files = 2\n\
        [[camera]]\nid = \"p1\"\nsource = \"push\"\n[[camera]]\nid = \"p2\"\nsource = \"push\"\n";
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let now = itscam_types::time::now_ms();
    let mut answers: Vec<Rows> = Vec::new();
    let at_start = newest_commit(&dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    // Push 2 s of each camera (20 frames), ask, and again, until a dozen commits happened: the
    // answers straddle commits of rows they had seen in memory.
    let mut chunk = 0;
    while chunk < 10 || newest_commit(&dir) < at_start + 12 {
        for camera in ["p1", "p2"] {
            let lines = frames(camera, now + chunk * 2_000, 20);
            let (status, _, answer) = push(&served.addr, &format!("/api/v1/cameras/{camera}/detections"), &lines);
            assert_eq!((status, answer["accepted"].as_u64()), (200, Some(20)), "{answer}");
        }
        chunk += 1;
        answers.push(query_http(&served.addr, SQL));
        assert!(std::time::Instant::now() < deadline, "the lake made {} commits in 5 minutes", newest_commit(&dir) - at_start);
    }
    let (status, _) = served.terminate();
    assert!(status.success(), "itscam serve exited with {status}");
    let lake: Vec<serde_json::Value> = query_json(&dir, SQL).into_iter().map(serde_json::Value::Object).collect();
    let lake = rows_of(&lake);
    assert!(newest_commit(&dir) > at_start + 12);
    // Rows only ever arrive: each answer holds every row of the one before (a row missed
    // across a commit would vanish for one answer), and none more often than the lake does
    // in the end (a row counted in memory and in a file would be there twice).
    let mut previous = Rows::new();
    for (i, answer) in answers.iter().enumerate() {
        assert!(within(&previous, answer), "answer {i} lost rows that answer {} had", i.saturating_sub(1));
        assert!(within(answer, &lake), "answer {i} has rows the lake does not have (or has them more often)");
        previous = answer.clone();
    }
    let grew = answers.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(grew > 5, "the answers grew only {grew} times");
    assert!(answers.last().unwrap().values().sum::<usize>() > 0);
}
