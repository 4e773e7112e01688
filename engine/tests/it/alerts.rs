//! The alert lifecycle end to end: the hub behind the HTTP API, its rows in the lake, SSE over a
//! real socket, and a webhook delivered to a real HTTP server and checked with `openssl`.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use itscam_engine::alerts::{AlertHub, AlertHubHandle, AlertHubTask, as_outlets, webhook_outlets};
use itscam_engine::http::{AppState, app};
use itscam_engine::sql::QueryEngine;
use itscam_sinks::alerts::webhook::{WebhookOutlet, WebhookStats};
use itscam_sinks::{Lake, LakeWriter};
use itscam_types::ObjectClass;
use itscam_types::analytics::{Alert, ViolationRow};
use itscam_types::config::{AlertsConfig, QueryConfig, RuleKind, Severity, WebhookConfig, WriterConfig};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn violation(rule: &str, track: u64, start: u64, severity: Severity, ongoing: bool) -> ViolationRow {
    violation_on("cam-1", rule, track, start, severity, ongoing)
}

fn violation_on(camera: &str, rule: &str, track: u64, start: u64, severity: Severity, ongoing: bool) -> ViolationRow {
    ViolationRow {
        violation_id: format!("{rule}:{camera}:{track}:{start}"),
        rule_id: rule.into(),
        kind: RuleKind::Speeding,
        camera_id: camera.into(),
        track_id: track,
        class: ObjectClass::from_name("car").unwrap(),
        ts_start_ms: start,
        ts_end_ms: start + if ongoing { 1_000 } else { 3_000 },
        value: if ongoing { 66.0 } else { 74.0 },
        limit_value: Some(50.0),
        severity,
        place: "approach".into(),
        ongoing,
        evidence: Vec::new(),
    }
}

struct Running {
    lake: Lake,
    hub: AlertHubHandle,
    task: AlertHubTask,
    writer: LakeWriter,
    webhooks: Vec<std::sync::Arc<WebhookOutlet>>,
}

fn start(name: &str, config: &AlertsConfig) -> Running {
    let dir = scratch(name);
    let lake = Lake::open(&format!("file://{}/lake", dir.display())).unwrap();
    let rt = tokio::runtime::Handle::current();
    let (sink, writer) = LakeWriter::start(lake.clone(), WriterConfig::default(), "t".into(), &rt);
    let webhooks = webhook_outlets(config, &rt).unwrap();
    let (hub, task) = AlertHub::start(config, as_outlets(&webhooks), sink, &rt);
    Running { lake, hub, task, writer, webhooks }
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes))))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri).header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap()
}

fn ids(list: &Value) -> Vec<&str> {
    list["alerts"].as_array().unwrap().iter().map(|a| a["alert_id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_runs_over_http_and_every_change_is_a_lake_row() {
    let Running { lake, hub, task, writer, .. } = start("alerts-lifecycle", &AlertsConfig::default());
    let live = app(AppState::open(&lake, QueryConfig::default()).await.unwrap().with_alerts(hub.clone()));

    let speeding = Alert::from_violation(&violation("speed-1", 7, 100_000, Severity::High, true), 1);
    let id = speeding.alert_id.clone();
    assert!(hub.raise(speeding));
    assert!(hub.raise(Alert::from_violation(&violation("stop-1", 9, 120_000, Severity::Low, true), 2)));
    // The closing copy of the first violation: same id, no second alert.
    assert!(hub.raise(Alert::from_violation(&violation("speed-1", 7, 100_000, Severity::High, false), 3)));

    let (status, body) = call(&live, get("/api/v1/alerts?status=open")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "live");
    assert_eq!(ids(&body), ["stop-1:cam-1:9:120000", id.as_str()], "newest first, one alert per id");
    let (_, body) = call(&live, get("/api/v1/alerts?severity=high,critical&camera=cam-1")).await;
    assert_eq!(ids(&body), [id.as_str()]);
    assert_eq!(body["alerts"][0]["value"], 74.0, "the closing copy updated the value");

    let uri = |action: &str| format!("/api/v1/alerts/{id}/{action}");
    let (status, body) = call(&live, post(&uri("acknowledge"), r#"{"by": "ana", "note": "on my way"}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["alert"]["status"].as_str(), body["alert"]["acknowledged"]["by"].as_str()), (Some("acknowledged"), Some("ana")));
    let (_, body) = call(&live, get("/api/v1/alerts?status=open")).await;
    assert_eq!(ids(&body), ["stop-1:cam-1:9:120000"]);
    let (status, body) = call(&live, post(&uri("resolve"), r#"{"by": "ana"}"#)).await;
    assert_eq!((status, body["alert"]["status"].as_str()), (StatusCode::OK, Some("resolved")));

    let (status, body) = call(&live, post(&uri("acknowledge"), r#"{"by": "bo"}"#)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("resolved by ana"), "{body}");
    let (status, body) = call(&live, post("/api/v1/alerts/no-such-alert/resolve", r#"{"by": "bo"}"#)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    let (status, body) = call(&live, get(&format!("/api/v1/alerts/{id}"))).await;
    assert_eq!((status, body["alert"]["status"].as_str()), (StatusCode::OK, Some("resolved")));

    let summary = task.finish().await.unwrap();
    assert_eq!((summary.counters.raised, summary.counters.duplicates, summary.rows), (2, 1, 4));
    let (status, body) = call(&live, get("/api/v1/alerts")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("stopped")));
    writer.finish().await.unwrap();

    let engine = QueryEngine::open(&lake, QueryConfig::default()).await.unwrap();
    let result = engine
        .run(&format!("SELECT status, changed_by, note, escalated, severity, camera_id FROM alerts WHERE alert_id = '{id}' ORDER BY changed_at_ms"))
        .await
        .unwrap();
    let rows: Vec<Value> = serde_json::from_str(&itscam_engine::format::json_rows(&result.batches).unwrap()).unwrap();
    let statuses: Vec<(&str, &str, Option<&str>)> =
        rows.iter().map(|r| (r["status"].as_str().unwrap(), r["changed_by"].as_str().unwrap(), r["note"].as_str())).collect();
    assert_eq!(statuses, [("open", "engine", None), ("acknowledged", "ana", Some("on my way")), ("resolved", "ana", None)]);
    assert!(rows.iter().all(|r| r["escalated"] == false && r["severity"] == "high" && r["camera_id"] == "cam-1"));

    // `itscam serve`: no hub; the lake answers the reads, the changes say why they cannot.
    let served = app(AppState::open(&lake, QueryConfig::default()).await.unwrap());
    let (status, body) = call(&served, get("/api/v1/alerts")).await;
    assert_eq!((status, body["source"].as_str()), (StatusCode::OK, Some("lake")), "{body}");
    assert_eq!(ids(&body), ["stop-1:cam-1:9:120000", id.as_str()]);
    assert_eq!((body["alerts"][0]["status"].as_str(), body["alerts"][1]["status"].as_str()), (Some("open"), Some("resolved")));
    let (_, body) = call(&served, get("/api/v1/alerts?status=resolved")).await;
    assert_eq!(ids(&body), [id.as_str()]);
    let (status, body) = call(&served, get(&format!("/api/v1/alerts/{id}"))).await;
    assert_eq!((status, body["alert"]["changed_by"].as_str()), (StatusCode::OK, Some("ana")));
    let (status, _) = call(&served, get("/api/v1/alerts/no-such-alert")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for req in [post(&uri("acknowledge"), r#"{"by": "bo"}"#), get("/api/v1/alerts/stream")] {
        let (status, body) = call(&served, req).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("no_pipeline")), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_with_the_reason() {
    let Running { lake, hub, task, writer, .. } = start("alerts-bad-requests", &AlertsConfig::default());
    let app = app(AppState::open(&lake, QueryConfig::default()).await.unwrap().with_alerts(hub.clone()));
    let alert = Alert::from_violation(&violation("speed-1", 1, 0, Severity::High, true), 0);
    hub.raise(alert.clone());
    let ack = format!("/api/v1/alerts/{}/acknowledge", alert.alert_id);
    let long_note = format!(r#"{{"by": "ana", "note": "{}"}}"#, "x".repeat(2_001));
    let cases = [
        (post(&ack, ""), "empty body"),
        (post(&ack, "by=ana"), "body must be JSON"),
        (post(&ack, r#"{"note": "x"}"#), "missing field `by`"),
        (post(&ack, r#"{"by": "   "}"#), "\"by\" must name who makes the change"),
        (post(&ack, r#"{"by": "ana\u0007"}"#), "control characters"),
        (post(&ack, r#"{"by": "ana", "urgent": true}"#), "unknown field `urgent`"),
        (post(&ack, &long_note), "\"note\" is longer than 2000 characters"),
        (get("/api/v1/alerts?status=pending"), "status \"pending\" is not one of open, acknowledged, resolved"),
        (get("/api/v1/alerts?severity=urgent"), "severity \"urgent\" is not one of"),
        (get("/api/v1/alerts?limit=0"), "limit \"0\" is not a whole number"),
        (get("/api/v1/alerts?camera=a%20b"), "is not a camera id"),
        (get("/api/v1/alerts?colour=red"), "unknown query parameter \"colour\""),
        (get("/api/v1/alerts/stream?status=open"), "unknown query parameter \"status\""),
    ];
    for (req, reason) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, body) = call(&app, req).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{what}: {body}");
        assert!(body["message"].as_str().unwrap().contains(reason), "{what}: {body}");
    }
    // Nothing changed.
    let (_, body) = call(&app, get(&format!("/api/v1/alerts/{}", alert.alert_id))).await;
    assert_eq!(body["alert"]["status"], "open");
    task.finish().await.unwrap();
    writer.finish().await.unwrap();
}

/// A minimal SSE client over a raw socket: HTTP/1.1 chunked body, events split on blank lines.
struct SseClient {
    socket: tokio::net::TcpStream,
    raw: Vec<u8>,
    text: String,
}

impl SseClient {
    async fn connect(addr: std::net::SocketAddr, path: &str) -> SseClient {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut client = SseClient { socket, raw: Vec::new(), text: String::new() };
        let head_end = loop {
            if let Some(i) = client.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            client.read_more().await;
        };
        let head = String::from_utf8_lossy(&client.raw[..head_end]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        client.raw.drain(..head_end + 4);
        client
    }

    async fn read_more(&mut self) {
        let mut buf = [0u8; 4096];
        let n = self.socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed the stream");
        self.raw.extend_from_slice(&buf[..n]);
    }

    /// Moves complete chunks from `raw` to `text`.
    fn dechunk(&mut self) {
        while let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&self.raw[..eol]).unwrap().trim(), 16).unwrap();
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.text.push_str(std::str::from_utf8(&self.raw[eol + 2..eol + 2 + size]).unwrap());
            self.raw.drain(..eol + 2 + size + 2);
        }
    }

    /// The next event (name, data), skipping keep-alive comments.
    async fn next_event(&mut self) -> (String, Value) {
        loop {
            self.dechunk();
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_start().to_string());
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return (event, serde_json::from_str(&data).unwrap());
                }
            }
            self.read_more().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_clients_receive_alerts_and_escalations_over_a_socket() {
    let mut config = AlertsConfig::default();
    config.lifecycle.escalate_high_ms = 300;
    let Running { lake, hub, task, writer, .. } = start("alerts-sse", &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::open(&lake, QueryConfig::default()).await.unwrap().with_alerts(hub.clone());
    let server = tokio::spawn(axum::serve(listener, app(state)).into_future());

    // The handler subscribes before it answers, so everything raised after the headers is seen.
    let mut client = SseClient::connect(addr, "/api/v1/alerts/stream?severity=high").await;
    let low = Alert::from_violation(&violation("stop-1", 1, 0, Severity::Low, true), 0);
    let high = Alert::from_violation(&violation("speed-1", 2, 0, Severity::High, true), 0);
    hub.raise(low);
    hub.raise(high.clone());

    let events = tokio::time::timeout(Duration::from_secs(30), async {
        let first = client.next_event().await;
        let second = client.next_event().await;
        (first, second)
    })
    .await
    .expect("alert and escalation events within 30 s");
    let ((e1, d1), (e2, d2)) = events;
    assert_eq!((e1.as_str(), d1["alert_id"].as_str(), d1["status"].as_str()), ("alert", Some(high.alert_id.as_str()), Some("open")));
    assert_eq!(d1["escalated"], false);
    assert_eq!((e2.as_str(), d2["alert_id"].as_str(), d2["escalated"].as_bool()), ("escalation", Some(high.alert_id.as_str()), Some(true)));
    assert!(d2["escalated_at_ms"].as_u64().unwrap() >= d1["raised_at_ms"].as_u64().unwrap() + 300);

    let summary = task.finish().await.unwrap();
    assert_eq!((summary.counters.raised, summary.counters.escalated), (2, 1));
    server.abort();
    writer.finish().await.unwrap();
}

/// `[alerts] max_stream_clients` streams at once; one more is answered 429 `busy` with
/// `Retry-After`, and the streams already open go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_client_past_the_limit_is_answered_429() {
    let config = AlertsConfig { max_stream_clients: 1, ..AlertsConfig::default() };
    let Running { lake, hub, task, writer, .. } = start("alerts-sse-limit", &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::open(&lake, QueryConfig::default()).await.unwrap().with_alerts(hub.clone());
    let server = tokio::spawn(axum::serve(listener, app(state)).into_future());
    let mut first = SseClient::connect(addr, "/api/v1/alerts/stream").await;
    let (status, body) = tokio::task::spawn_blocking(move || http(&addr.to_string(), "GET", "/api/v1/alerts/stream", "")).await.unwrap();
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("\"busy\"") && body.contains("max_stream_clients"), "{body}");
    let high = Alert::from_violation(&violation("speed-1", 2, 0, Severity::High, true), 0);
    hub.raise(high.clone());
    let (event, data) = tokio::time::timeout(Duration::from_secs(30), first.next_event()).await.expect("the open stream goes on");
    assert_eq!((event.as_str(), data["alert_id"].as_str()), ("alert", Some(high.alert_id.as_str())));
    task.finish().await.unwrap();
    server.abort();
    writer.finish().await.unwrap();
}

/// What the webhook receiver saw of one request.
struct Seen {
    attempt: u32,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_retried_until_delivered_with_a_valid_signature() {
    // The receiver fails the first two attempts with 503 and accepts the third.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let receiver = axum::Router::new().route(
        "/hooks/itscam",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let _ = seen_tx.send(Seen { attempt, headers, body });
            async move { if attempt < 3 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::NO_CONTENT } }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/itscam", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, receiver).into_future());

    let mut config = AlertsConfig::default();
    let mut hook = WebhookConfig::new(url);
    hook.secret = Some("topsecret".into());
    hook.backoff_ms = 20;
    hook.max_backoff_ms = 100;
    config.webhook.push(hook);
    let Running { hub, task, writer, webhooks, .. } = start("alerts-webhook", &config);
    let alert = Alert::from_violation(&violation("speed-1", 3, 0, Severity::High, true), 0);
    hub.raise(alert.clone());

    let mut requests = Vec::new();
    while requests.len() < 3 {
        let s = tokio::time::timeout(Duration::from_secs(30), seen.recv()).await.expect("three attempts within 30 s").unwrap();
        requests.push(s);
    }
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.attempt, i as u32 + 1);
        assert_eq!(r.headers["x-itscam-attempt"], (i + 1).to_string().as_str());
        assert_eq!(r.headers["x-itscam-event"], "alert");
        assert_eq!(r.headers["x-itscam-delivery"], format!("{}/alert", alert.alert_id).as_str());
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    }
    let delivered = &requests[2];
    let body: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(body["event"], "alert");
    assert_eq!(body["alert"], serde_json::to_value(&alert).unwrap());

    // Verify the signature independently, as the README tells receivers to.
    let ts = delivered.headers["x-itscam-timestamp"].to_str().unwrap();
    let signature = delivered.headers["x-itscam-signature"].to_str().unwrap();
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&delivered.body);
    assert_eq!(signature, format!("sha256={}", openssl_hmac_sha256("topsecret", &signed)));
    assert_ne!(signature, format!("sha256={}", openssl_hmac_sha256("wrong", &signed)));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(now.abs_diff(ts.parse().unwrap()) < 300_000, "a fresh timestamp");

    // Each attempt is signed with its own timestamp.
    let first_ts = requests[0].headers["x-itscam-timestamp"].to_str().unwrap();
    let mut first_signed = format!("{first_ts}.").into_bytes();
    first_signed.extend_from_slice(&requests[0].body);
    assert_eq!(requests[0].headers["x-itscam-signature"].to_str().unwrap(), format!("sha256={}", openssl_hmac_sha256("topsecret", &first_signed)));

    let summary = task.finish().await.unwrap();
    assert_eq!(summary.outlets.len(), 1);
    assert!(summary.outlets[0].starts_with("webhook http://127.0.0.1:"));
    assert_eq!(webhooks[0].stats(), WebhookStats { delivered: 1, retries: 2, failed: 0, dropped: 0 });
    server.abort();
    writer.finish().await.unwrap();
}

/// `openssl dgst -sha256 -hmac KEY` over `data`: the hex digest.
fn openssl_hmac_sha256(key: &str, data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("this test needs the openssl command line tool (Debian package openssl)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit(' ').next().unwrap().to_string()
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_scoped_operator_sees_and_changes_only_their_cameras_alerts() {
    use crate::security::{auth_on, secured, user_with_key};
    let Running { lake, hub, task, writer, .. } = start("alerts-scoped", &AlertsConfig::default());
    let state = secured(&lake, &auth_on()).await.with_alerts(hub.clone());
    let key = user_with_key(&state, "east-ops", itscam_engine::auth::Role::Operator, &["cam-2"]).await;
    let admin = user_with_key(&state, "alerts-admin", itscam_engine::auth::Role::Admin, &[]).await;
    let live = app(state);
    let mine = Alert::from_violation(&violation_on("cam-2", "speed-2", 3, 110_000, Severity::High, true), 1);
    let theirs = Alert::from_violation(&violation_on("cam-1", "speed-1", 7, 100_000, Severity::High, true), 2);
    let (mine_id, theirs_id) = (mine.alert_id.clone(), theirs.alert_id.clone());
    assert!(hub.raise(mine) && hub.raise(theirs));
    let with_key = |req: Request<Body>| {
        let (mut parts, body) = req.into_parts();
        parts.headers.insert("x-api-key", key.parse().unwrap());
        Request::from_parts(parts, body)
    };

    let (status, body) = call(&live, with_key(get("/api/v1/alerts"))).await;
    assert_eq!((status, ids(&body)), (StatusCode::OK, vec![mine_id.as_str()]), "{body}");
    let (_, body) = call(&live, with_key(get("/api/v1/alerts?camera=cam-1"))).await;
    assert_eq!(ids(&body), Vec::<&str>::new(), "asking for another camera finds nothing");
    let (status, _) = call(&live, with_key(get(&format!("/api/v1/alerts/{theirs_id}")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&live, with_key(post(&format!("/api/v1/alerts/{theirs_id}/acknowledge"), r#"{"by": "east-ops"}"#))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another camera's alert cannot be acknowledged");
    let (status, body) = call(&live, with_key(post(&format!("/api/v1/alerts/{mine_id}/acknowledge"), r#"{"by": "east-ops"}"#))).await;
    assert_eq!((status, body["alert"]["status"].as_str()), (StatusCode::OK, Some("acknowledged")), "{body}");
    // Paths naming another camera do not exist for them; routes spanning every camera are refused.
    assert_eq!(call(&live, with_key(get("/api/v1/cameras/cam-1"))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&live, with_key(post("/api/v1/ingest", "{}"))).await.0, StatusCode::FORBIDDEN);
    let resp = live.clone().oneshot(with_key(get("/metrics"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Both acknowledges are in the audit trail, the refused one with its outcome.
    let audit = r#"{"sql": "SELECT action, status, outcome FROM audit WHERE action LIKE '%acknowledge' ORDER BY at_ms"}"#;
    let req = Request::post("/api/v1/query").header(header::CONTENT_TYPE, "application/json").header("x-api-key", admin.as_str()).body(Body::from(audit)).unwrap();
    let (status, body) = call(&live, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut outcomes: Vec<(u64, &str)> = body["rows"].as_array().unwrap().iter().map(|r| (r["status"].as_u64().unwrap(), r["outcome"].as_str().unwrap())).collect();
    outcomes.sort_unstable(); // both may fall in the same millisecond
    assert_eq!(outcomes, [(200, "ok"), (404, "not_found")], "{body}");

    drop(live);
    drop(hub);
    task.finish().await.unwrap();
    writer.finish().await.unwrap();
}
