//! Erasure end to end (README "Erasure"): `itscam lake forget` on a lake written by `itscam run`
//! over the detections example removes one camera's rows of a time range from every table,
//! keeps everything else, and is audited; `POST /api/v1/lake/forget` does the same for admins
//! within their camera scopes.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use itscam_engine::auth::Role;
use itscam_engine::http::app;
use itscam_sinks::Lake;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The example's data: 60 s from 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600_000;
const FROM: u64 = START + 20_000;
const TO: u64 = START + 40_000;

/// `examples/detections/config.toml` with its paths made absolute; returns its path.
fn example(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("examples/detections/config.toml")).unwrap();
    let text = text.replace("examples/data", repo_root().join("examples/data").to_str().unwrap());
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// (table, the condition of a row in [FROM, TO)) for the tables the example fills.
fn in_range() -> Vec<(&'static str, String)> {
    let at = |c: &str| format!("{c} >= {FROM} AND {c} < {TO}");
    vec![
        ("detections", at("ts_ms")),
        ("line_crossings", at("ts_ms")),
        ("tracks", format!("first_ts_ms < {TO} AND last_ts_ms >= {FROM}")),
        ("zone_events", format!("enter_ts_ms < {TO} AND exit_ts_ms >= {FROM}")),
        ("traffic_metrics", at("window_start_ms")),
        ("violations", at("ts_start_ms")),
        ("alerts", at("ts_ms")),
    ]
}

/// Rows per (table, camera, in the range or not).
fn census(dir: &std::path::Path) -> Vec<(String, i64, i64, i64)> {
    in_range()
        .into_iter()
        .map(|(table, cond)| {
            let n = |where_: String| query_int(dir, &format!("SELECT count(*) AS n FROM {table} WHERE {where_}"));
            (table.to_string(), n(format!("camera_id = 'cam-1' AND {cond}")), n(format!("camera_id = 'cam-1' AND NOT ({cond})")), n("camera_id = 'cam-2'".into()))
        })
        .collect()
}

#[test]
fn forget_removes_one_cameras_rows_of_the_range_keeps_the_rest_and_is_audited() {
    let dir = scratch("lake-forget");
    let config = example(&dir);
    itscam_ok(&dir, &["run", "--config", config.to_str().unwrap(), "--no-progress"]);
    let before = census(&dir);
    let in_range_rows: i64 = before.iter().map(|c| c.1).sum();
    assert!(before.iter().find(|c| c.0 == "detections").unwrap().1 > 100, "{before:?}");
    assert!(before.iter().filter(|c| ["detections", "line_crossings", "tracks"].contains(&c.0.as_str())).all(|c| c.3 > 0), "cam-2 has rows: {before:?}");

    let started = std::time::Instant::now();
    let out = itscam_ok(&dir, &["lake", "forget", "--lake", "file://./lake", "--camera", "cam-1", "--from", &FROM.to_string(), "--to", "2026-01-01T00:00:40Z", "--by", "dpo@example.org", "--json"]);
    let took = started.elapsed();
    let report: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["rows_removed"].as_i64(), Some(in_range_rows), "{report}");
    assert!(report["commit"].is_u64() && report["files_rewritten"].as_u64() > Some(0), "{report}");
    eprintln!("forget of 20 s of cam-1: {in_range_rows} rows in {took:?}: {report}");

    let after = census(&dir);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a, &(b.0.clone(), 0, b.2, b.3), "{}: cam-1's rows in the range are gone, the rest is there", b.0);
    }
    let audit = query_json(&dir, "SELECT who, outcome, rows, detail FROM audit WHERE action = 'lake forget'");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!((audit[0]["who"].as_str(), audit[0]["outcome"].as_str(), audit[0]["rows"].as_i64()), (Some("dpo@example.org"), Some("ok"), Some(in_range_rows)));
    assert!(audit[0]["detail"].as_str().unwrap().contains("camera cam-1"), "{audit:?}");

    // Again: nothing to do, no commit; a bad range is refused.
    let again: Value = serde_json::from_str(itscam_ok(&dir, &["lake", "forget", "--camera", "cam-1", "--from", &FROM.to_string(), "--to", &TO.to_string(), "--json"]).trim()).unwrap();
    assert_eq!((again["rows_removed"].as_i64(), again["commit"].is_null()), (Some(0), true), "{again}");
    let bad = itscam(&dir, &["lake", "forget", "--camera", "cam-1", "--from", &TO.to_string(), "--to", &FROM.to_string()]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("must be before"), "{bad:?}");
    // Vacuum with no grace deletes the replaced files; the tables stay as they were.
    itscam_ok(&dir, &["lake", "vacuum", "--lake", "file://./lake", "--grace-ms", "0"]);
    assert_eq!(census(&dir), after);
}

async fn post(app: &axum::Router, key: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post("/api/v1/lake/forget").header(header::CONTENT_TYPE, "application/json").header("x-api-key", key).body(Body::from(body.to_string())).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_forget_over_http_within_their_scopes_with_clear_errors() {
    let dir = scratch("lake-forget-http");
    let config = example(&dir);
    let out = itscam(&dir, &["run", "--config", config.to_str().unwrap(), "--no-progress"]);
    assert!(out.status.success(), "{out:?}");
    let lake = Lake::open(&format!("file://{}/lake", dir.display())).unwrap();
    let state = crate::security::secured(&lake, &crate::security::auth_on()).await;
    let admin = crate::security::user_with_key(&state, "dpo", Role::Admin, &[]).await;
    let scoped = crate::security::user_with_key(&state, "east-admin", Role::Admin, &["cam-2"]).await;
    let operator = crate::security::user_with_key(&state, "op", Role::Operator, &[]).await;
    let audit = state.audit.clone();
    let app = app(state);

    let body = |camera: &str, from: u64, to: u64| json!({"camera_id": camera, "from_ms": from, "to_ms": to});
    assert_eq!(post(&app, &operator, body("cam-1", FROM, TO)).await.0, StatusCode::FORBIDDEN);
    let (status, answer) = post(&app, &scoped, body("cam-1", FROM, TO)).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{answer}");
    for bad in [body("", FROM, TO), json!({"camera_id": "cam-1"})] {
        let (status, answer) = post(&app, &admin, bad.clone()).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{bad}: {answer}");
    }
    // Well-formed, but a range that cannot be erased at once.
    for bad in [body("cam-1", TO, FROM), body("cam-1", FROM, FROM + 32 * 86_400_000)] {
        let (status, answer) = post(&app, &admin, bad.clone()).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_request")), "{bad}: {answer}");
    }
    let (status, answer) = post(&app, &admin, body("cam-9", FROM, TO)).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{answer}");

    let (status, report) = post(&app, &scoped, body("cam-2", FROM, TO)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["rows_removed"].as_u64() > Some(0) && report["commit"].is_u64(), "{report}");
    let (status, again) = post(&app, &scoped, body("cam-2", FROM, TO)).await;
    assert_eq!((status, again["rows_removed"].as_u64(), again["commit"].is_null()), (StatusCode::OK, Some(0), true), "{again}");
    assert_eq!(query_int(&dir, &format!("SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-2' AND ts_ms >= {FROM} AND ts_ms < {TO}")), 0);
    assert!(query_int(&dir, &format!("SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-1' AND ts_ms >= {FROM} AND ts_ms < {TO}")) > 0);

    let rows = audit.waiting();
    let forgets: Vec<_> = rows.iter().filter(|r| r.action == "POST /api/v1/lake/forget" && r.status == 200).collect();
    assert_eq!(forgets.len(), 2, "{rows:?}");
    assert!(forgets[0].who.starts_with("east-admin (key "), "{:?}", forgets[0]);
    assert!(forgets[0].detail.as_deref().is_some_and(|d| d.contains("camera cam-2")), "{:?}", forgets[0]);
}
