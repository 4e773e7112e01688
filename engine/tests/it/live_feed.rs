//! The live view's feed (`GET /api/v1/cameras/{id}/live`) against a direct SQL count, its
//! bounds and its limit; and the dashboard's page and files (`GET /`, `GET /assets/{file}`).
//! Both through `app(state)` without a socket.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use itscam_engine::http::live_feed::MAX_LIVE_STREAMS;
use itscam_engine::http::{AppState, app};
use itscam_engine::run::{RunOptions, run};
use itscam_sinks::Lake;
use itscam_types::config::{PipelineConfig, QueryConfig};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// The detections example (two cameras, lines, zones, calibration) run into a scratch lake.
fn example_lake(name: &str) -> Lake {
    let dir = scratch(name);
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("examples/detections/config.toml")).unwrap();
    let text = text
        .replace("file://./lake", &format!("file://{}/lake", dir.display()))
        .replace("detections:examples/", &format!("detections:{}/examples/", root.display()))
        .replace("signals:examples/", &format!("signals:{}/examples/", root.display()));
    let config = PipelineConfig::from_toml(&text).unwrap();
    std::thread::scope(|s| s.spawn(|| run(&config, &RunOptions::default(), Arc::default()).unwrap()).join().unwrap());
    Lake::open(&config.lake.url).unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// The first event of an SSE answer: its name and its data as JSON.
async fn first_event(resp: axum::response::Response) -> (String, Value) {
    let mut body = resp.into_body();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let frame = body.frame().await.expect("the stream ended before an event").unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let block = text.split("\n\n").next().unwrap();
    let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default().trim().to_string();
    (field("event:"), serde_json::from_str(&field("data:")).unwrap())
}

async fn sql(state: &AppState, text: &str) -> Vec<Value> {
    let result = state.engine.run(text).await.unwrap();
    serde_json::from_str(&itscam_engine::format::json_rows(&result.batches).unwrap()).unwrap()
}

#[tokio::test]
async fn the_first_live_event_counts_what_sql_counts_in_its_window() {
    let lake = example_lake("live-feed");
    let state = AppState::open(&lake, QueryConfig::default()).await.unwrap();
    let app = app(state.clone());
    let window_ms = 20_000;
    let resp = app.clone().oneshot(get(&format!("/api/v1/cameras/cam-1/live?interval_ms=250&window_ms={window_ms}"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/event-stream"));
    let (name, view) = first_event(resp).await;
    assert_eq!(name, "live", "{view}");
    // The window ends at the camera's latest frame (event time), not at the wall clock.
    let end = sql(&state, "SELECT max(ts_ms) AS t FROM detections WHERE camera_id = 'cam-1'").await[0]["t"].as_i64().unwrap();
    assert_eq!((view["camera_id"].as_str(), view["ts_ms"].as_i64(), view["window_ms"].as_u64()), (Some("cam-1"), Some(end), Some(window_ms)));
    let counts = sql(&state, &format!(
        "SELECT line_id, direction, count(*) AS n FROM line_crossings WHERE camera_id = 'cam-1' AND ts_ms > {} AND ts_ms <= {end} GROUP BY 1, 2 ORDER BY 1, 2",
        end - window_ms as i64
    )).await;
    assert!(counts.len() >= 2, "the example crosses its lines both ways: {counts:?}");
    let want: Vec<(String, String, u64)> = counts.iter().map(|r| (r["line_id"].as_str().unwrap().into(), r["direction"].as_str().unwrap().into(), r["n"].as_u64().unwrap())).collect();
    let got: Vec<(String, String, u64)> = view["lines"].as_array().unwrap().iter().map(|l| (l["line_id"].as_str().unwrap().into(), l["direction"].as_str().unwrap().into(), l["count"].as_u64().unwrap())).collect();
    assert_eq!(got, want);
    let all: u64 = sql(&state, "SELECT count(*) AS n FROM line_crossings WHERE camera_id = 'cam-1'").await[0]["n"].as_u64().unwrap();
    assert!(got.iter().map(|g| g.2).sum::<u64>() < all, "a 20 s window of a 60 s run holds fewer crossings than the run");
    // Tracks by mean speed: as many as tracks with a speed in the window; no pipeline, no zones.
    let tracked = sql(&state, &format!("SELECT count(DISTINCT track_id) AS n FROM detections WHERE camera_id = 'cam-1' AND speed_kmh IS NOT NULL AND ts_ms > {} AND ts_ms <= {end}", end - window_ms as i64)).await;
    let binned: u64 = view["speeds"]["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(binned, tracked[0]["n"].as_u64().unwrap());
    assert_eq!(view["zones"], serde_json::json!([]));
}

#[tokio::test]
async fn the_live_feed_is_bounded() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("live-feed-bounds").display())).unwrap();
    let app = app(AppState::open(&lake, QueryConfig::default()).await.unwrap());
    for bad in ["/api/v1/cameras/cam-1/live?interval_ms=10", "/api/v1/cameras/cam-1/live?window_ms=0", "/api/v1/cameras/cam-1/live?camera=x", "/api/v1/cameras/bad%20id/live"] {
        let resp = app.clone().oneshot(get(bad)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // An empty lake: a reading with no frame yet.
    let (name, view) = first_event(app.clone().oneshot(get("/api/v1/cameras/cam-9/live")).await.unwrap()).await;
    assert_eq!((name.as_str(), &view["ts_ms"]), ("live", &Value::Null));
    // Past the limit: 429 `busy` with Retry-After; a slot comes back when a client goes.
    // (The limit is the process's: under `cargo test` another test's stream may hold a slot.)
    let mut open = Vec::new();
    let refused = loop {
        let resp = app.clone().oneshot(get("/api/v1/cameras/cam-1/live")).await.unwrap();
        if resp.status() != StatusCode::OK {
            break resp;
        }
        open.push(resp);
        assert!(open.len() <= MAX_LIVE_STREAMS, "more than {MAX_LIVE_STREAMS} streams open");
    };
    assert!(!open.is_empty());
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let body: Value = serde_json::from_slice(&refused.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"], "busy", "{body}");
    drop(open.pop());
    assert_eq!(app.clone().oneshot(get("/api/v1/cameras/cam-1/live")).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_dashboard_is_served_with_its_policy_and_validators() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("dashboard").display())).unwrap();
    let app = app(AppState::open(&lake, QueryConfig::default()).await.unwrap());
    let page = app.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers().clone();
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    let html = String::from_utf8(page.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(html.contains(r#"<script type="module" src="/assets/app.js">"#) && !html.contains("<script>"), "no inline script");
    assert!(html.contains(r#"rel="icon""#), "an icon, so the browser asks for no /favicon.ico");

    let js = app.clone().oneshot(get("/assets/app.js")).await.unwrap();
    assert_eq!((js.status(), js.headers()[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    let etag = js.headers()[header::ETAG].clone();
    let again = app.clone().oneshot(Request::get("/assets/app.js").header(header::IF_NONE_MATCH, etag.clone()).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!((again.status(), &again.headers()[header::ETAG]), (StatusCode::NOT_MODIFIED, &etag));
    assert_eq!(app.clone().oneshot(get("/assets/app.css")).await.unwrap().headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    for missing in ["/assets/nothing.js", "/assets/..%2FCargo.toml", "/assets/index.html"] {
        let resp = app.clone().oneshot(get(missing)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: Value = serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["error"], "not_found");
    }

}
