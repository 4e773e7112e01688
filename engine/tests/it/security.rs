//! Security of the HTTP API (README "Security"): the permission table against the router for
//! every role, sessions and their attacks (tampered, `alg: none`, foreign key, logout, disable),
//! lockout and throttling, camera scopes in SQL, the audit trail; and over real sockets: TLS
//! through curl, the loopback rule, users made with the CLI, no secret in the logs.

use crate::support::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt;
use itscam_engine::audit::Audit;
use itscam_engine::auth::{Auth, NewUser, Role};
use itscam_engine::http::permissions::{Access, PERMISSIONS};
use itscam_engine::http::{AppState, app};
use itscam_engine::run::{RunOptions, run};
use itscam_sinks::Lake;
use itscam_types::config::{AuthConfig, PipelineConfig, QueryConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "a long enough password";

/// A lake with rows of two cameras, `east` and `west` (the bad-input scenario under both ids).
fn two_camera_lake(name: &str) -> Lake {
    let dir = scratch(name);
    let input = repo_root().join("engine/tests/scenarios/bad-input/input.jsonl");
    let camera = |id: &str| format!("[[camera]]\nid = \"{id}\"\nsource = \"detections:{}\"\n", input.display());
    let text = format!("[lake]\nurl = \"file://{}/lake\"\n[pipeline]\nlateness_ms = 500\n[tracker]\nmin_hits = 2\n{}{}", dir.display(), camera("east"), camera("west"));
    let config = PipelineConfig::from_toml(&text).unwrap();
    std::thread::scope(|s| s.spawn(|| run(&config, &RunOptions::default(), Arc::default()).unwrap()).join().unwrap());
    Lake::open(&config.lake.url).unwrap()
}

pub(crate) fn auth_on() -> AuthConfig {
    AuthConfig { enabled: true, rate_burst: 10_000, rate_per_s: 10_000, ..AuthConfig::default() }
}

/// The API over `lake` with auth on and an audit trail.
pub(crate) async fn secured(lake: &Lake, config: &AuthConfig) -> AppState {
    let state = AppState::open(lake, QueryConfig::default()).await.unwrap();
    let auth = Auth::open(lake, config).await.unwrap();
    state.with_security(lake, auth, Audit::new(lake.clone())).unwrap()
}

/// Adds `name` with `role` (and cameras); returns an API key of theirs.
pub(crate) async fn user_with_key(state: &AppState, name: &str, role: Role, cameras: &[&str]) -> String {
    let new = NewUser { name: name.into(), role, password: PASSWORD.into(), cameras: cameras.iter().map(|c| c.to_string()).collect() };
    state.auth.add_user("test", new).await.unwrap();
    state.auth.add_key("test", name, "tests").await.unwrap().key
}

async fn call(app: &Router, method: &str, path: &str, creds: Option<(&str, &str)>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some((name, value)) = creds {
        req = req.header(name, value);
    }
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    let resp = app.clone().oneshot(req.unwrap()).await.unwrap();
    let status = resp.status();
    if resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream")) {
        return (status, Value::Null); // a stream that does not end; its status is the answer
    }
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn key(k: &str) -> Option<(&'static str, &str)> {
    Some(("x-api-key", k))
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_permission_table_says() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("rbac-matrix").display())).unwrap();
    let state = secured(&lake, &auth_on()).await;
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, user_with_key(&state, &format!("matrix-{role}"), role, &[]).await));
    }
    let app = app(state);
    for p in PERMISSIONS {
        let path = p.path.replace("{id}", "nothing").replace("{name}", "nobody");
        let body = (p.method != "GET" && p.method != "DELETE").then(|| json!({}));
        let (status, answer) = call(&app, p.method, &path, None, body.clone()).await;
        match p.access {
            Access::Public => assert_ne!(status, StatusCode::UNAUTHORIZED, "{} {} is public: {answer}", p.method, p.path),
            Access::Least(_) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {} without credentials: {answer}", p.method, p.path),
        }
        for (role, k) in &keys {
            let (status, answer) = call(&app, p.method, &path, key(k), body.clone()).await;
            let allowed = match p.access {
                Access::Public => true,
                Access::Least(needed) => *role >= needed,
            };
            if allowed {
                assert!(status != StatusCode::UNAUTHORIZED && !(status == StatusCode::FORBIDDEN && answer["error"] == "forbidden"), "{} {} as {role}: {status} {answer}", p.method, p.path);
            } else {
                assert_eq!((status, answer["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{} {} as {role}: {answer}", p.method, p.path);
            }
        }
    }
    // A route the router has and the table does not list would answer 403 to everyone; a
    // path the router does not have is 404 before any guard.
    let admin = &keys[3].1;
    assert_eq!(call(&app, "GET", "/api/v1/nowhere", key(admin), None).await.0, StatusCode::NOT_FOUND);
    // The table in README is the table in code.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains(&itscam_engine::http::permissions::markdown()), "README \"Security\" must hold the permission table as `permissions::markdown()` renders it");
}

fn forged(token: &str) -> Vec<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let as_admin = URL_SAFE_NO_PAD.encode(payload.replace("\"sess-user\"", "\"sess-admin\""));
    let unsigned = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    vec![
        format!("{}.{as_admin}.{}", parts[0], parts[2]),
        format!("{unsigned}.{}.", parts[1]),
        format!("{unsigned}.{as_admin}."),
        format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
        "not.a.token".into(),
    ]
}

#[tokio::test]
async fn sessions_refuse_tampered_tokens_and_end_on_logout_and_disable() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("sessions").display())).unwrap();
    let state = secured(&lake, &auth_on()).await;
    let admin_key = user_with_key(&state, "sess-admin", Role::Admin, &[]).await;
    user_with_key(&state, "sess-user", Role::Viewer, &[]).await;
    let other_lake = Lake::open(&format!("file://{}/lake", scratch("sessions-other").display())).unwrap();
    let foreign = secured(&other_lake, &auth_on()).await;
    user_with_key(&foreign, "sess-user", Role::Viewer, &[]).await;
    let app = app(state);

    let (status, tokens) = call(&app, "POST", "/api/v1/auth/login", None, Some(json!({ "user": "sess-user", "password": PASSWORD }))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {access}");
    let (status, me) = call(&app, "GET", "/api/v1/auth/me", Some(("authorization", &bearer)), None).await;
    assert_eq!((status, me["user"].as_str(), me["role"].as_str()), (StatusCode::OK, Some("sess-user"), Some("viewer")));

    for bad in forged(&access) {
        let (status, answer) = call(&app, "GET", "/api/v1/auth/me", Some(("authorization", &format!("Bearer {bad}"))), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {answer}");
    }
    // A token of another lake's key (same user name) is refused.
    let foreign_app = itscam_engine::http::app(foreign);
    let (_, theirs) = call(&foreign_app, "POST", "/api/v1/auth/login", None, Some(json!({ "user": "sess-user", "password": PASSWORD }))).await;
    let (status, _) = call(&app, "GET", "/api/v1/auth/me", Some(("authorization", &format!("Bearer {}", theirs["access_token"].as_str().unwrap()))), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A refresh token is not an access token, and an access token does not refresh.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", Some(("authorization", &format!("Bearer {refresh}"))), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "POST", "/api/v1/auth/refresh", None, Some(json!({ "refresh_token": access }))).await.0, StatusCode::UNAUTHORIZED);
    let (status, renewed) = call(&app, "POST", "/api/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");

    // Logout ends the session: both tokens stop working.
    assert_eq!(call(&app, "POST", "/api/v1/auth/logout", Some(("authorization", &bearer)), None).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", Some(("authorization", &bearer)), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "POST", "/api/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await.0, StatusCode::UNAUTHORIZED);

    // A disabled user's new session and key stop at once.
    let (_, tokens) = call(&app, "POST", "/api/v1/auth/login", None, Some(json!({ "user": "sess-user", "password": PASSWORD }))).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let (status, made) = call(&app, "POST", "/api/v1/users/sess-user/keys", key(&admin_key), Some(json!({ "label": "ci" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let user_key = made["key"].as_str().unwrap().to_string();
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", key(&user_key), None).await.0, StatusCode::OK);
    let (status, changed) = call(&app, "PATCH", "/api/v1/users/sess-user", key(&admin_key), Some(json!({ "disabled": true }))).await;
    assert_eq!((status, changed["disabled"].as_bool()), (StatusCode::OK, Some(true)), "{changed}");
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", Some(("authorization", &bearer)), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", key(&user_key), None).await.0, StatusCode::UNAUTHORIZED);
    let (status, answer) = call(&app, "POST", "/api/v1/auth/login", None, Some(json!({ "user": "sess-user", "password": PASSWORD }))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    // A revoked key stops too.
    let (_, admin_keys) = call(&app, "GET", "/api/v1/users/sess-admin", key(&admin_key), None).await;
    let spare = call(&app, "POST", "/api/v1/users/sess-admin/keys", key(&admin_key), None).await.1;
    let spare_id = spare["id"].as_str().unwrap();
    assert_eq!(admin_keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(call(&app, "DELETE", &format!("/api/v1/users/sess-admin/keys/{spare_id}"), key(&admin_key), None).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", key(spare["key"].as_str().unwrap()), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_lock_the_account_and_addresses_are_throttled() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("lockout").display())).unwrap();
    let config = AuthConfig { login_per_min: 9, ..auth_on() };
    let state = secured(&lake, &config).await;
    user_with_key(&state, "locked", Role::Viewer, &[]).await;
    let app = app(state);
    let login = |password: &str| json!({ "user": "locked", "password": password });
    for i in 0..4 {
        let (status, answer) = call(&app, "POST", "/api/v1/auth/login", None, Some(login("wrong password!"))).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "attempt {i}");
    }
    let (status, answer) = call(&app, "POST", "/api/v1/auth/login", None, Some(login("wrong password!"))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("locked")), "the fifth failure locks: {answer}");
    let (status, answer) = call(&app, "POST", "/api/v1/auth/login", None, Some(login(PASSWORD))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("locked")), "even the right password, while locked: {answer}");
    // Nine attempts a minute from one address (six made above): soon one is throttled,
    // whoever it names (a slow machine may have earned a token back meanwhile, hence the loop).
    let mut throttled = None;
    for attempt in 7..=20 {
        let body = Body::from(json!({ "user": format!("someone-{attempt}"), "password": "x" }).to_string());
        let resp = app.clone().oneshot(Request::post("/api/v1/auth/login").body(body).unwrap()).await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key(header::RETRY_AFTER));
            throttled = Some(attempt);
            break;
        }
    }
    assert!(throttled.is_some_and(|n| n >= 10), "the address is throttled after its nine attempts: {throttled:?}");
}

#[tokio::test]
async fn a_camera_scoped_user_sees_only_their_cameras_in_sql_and_the_audit_is_for_admins() {
    let lake = two_camera_lake("scopes");
    let state = secured(&lake, &auth_on()).await;
    let admin = user_with_key(&state, "scope-admin", Role::Admin, &[]).await;
    let east = user_with_key(&state, "scope-east", Role::Analyst, &["east"]).await;
    let viewer = user_with_key(&state, "scope-viewer", Role::Viewer, &[]).await;
    let app = app(state);
    let sql = |q: &str| Some(json!({ "sql": q }));
    let count = "SELECT camera_id, count(*) AS n FROM detections GROUP BY camera_id ORDER BY camera_id";
    let (status, all) = call(&app, "POST", "/api/v1/query", key(&admin), sql(count)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["rows"].as_array().unwrap().len(), 2, "{all}");
    let (status, mine) = call(&app, "POST", "/api/v1/query", key(&east), sql(count)).await;
    assert_eq!((status, mine["rows"].as_array().unwrap().len()), (StatusCode::OK, 1), "{mine}");
    assert_eq!(mine["rows"][0]["camera_id"], "east");
    assert_eq!(mine["rows"][0]["n"], all["rows"][0]["n"]);
    // No query text gets around it: a subquery, a join, an explicit filter on the other camera.
    for q in [
        "SELECT count(*) AS n FROM (SELECT * FROM detections WHERE camera_id = 'west')",
        "SELECT count(*) AS n FROM tracks t JOIN detections d ON t.camera_id = d.camera_id WHERE d.camera_id = 'west'",
        "SELECT count(*) AS n FROM errors WHERE camera_id IN (SELECT camera_id FROM detections WHERE camera_id <> 'east')",
    ] {
        let (status, answer) = call(&app, "POST", "/api/v1/query", key(&east), sql(q)).await;
        assert_eq!((status, answer["rows"][0]["n"].as_i64()), (StatusCode::OK, Some(0)), "{q}: {answer}");
    }
    let (status, answer) = call(&app, "POST", "/api/v1/query", key(&east), sql("SELECT * FROM changes")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a table without cameras: {answer}");
    // Viewers read the aggregates, not the raw tables; nobody but admins reads the audit.
    assert_eq!(call(&app, "POST", "/api/v1/query", key(&viewer), sql("SELECT count(*) FROM traffic_metrics")).await.0, StatusCode::OK);
    assert_eq!(call(&app, "POST", "/api/v1/query", key(&viewer), sql("SELECT count(*) FROM detections")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, "POST", "/api/v1/query", key(&east), sql("SELECT * FROM audit")).await.0, StatusCode::FORBIDDEN);

    // The audit: the queries above (text, hash, rows), a failed and a good login, a user change.
    call(&app, "POST", "/api/v1/auth/login", None, Some(json!({ "user": "scope-east", "password": "not it at all" }))).await;
    call(&app, "POST", "/api/v1/auth/login", None, Some(json!({ "user": "scope-east", "password": PASSWORD }))).await;
    call(&app, "PATCH", "/api/v1/users/scope-viewer", key(&admin), Some(json!({ "role": "analyst" }))).await;
    let audit = "SELECT who, action, status, outcome, detail, statement_hash, rows FROM audit ORDER BY at_ms";
    let (status, rows) = call(&app, "POST", "/api/v1/query", key(&admin), sql(audit)).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows["rows"].as_array().unwrap();
    let find = |action: &str, outcome: &str| rows.iter().find(|r| r["action"] == action && r["outcome"] == outcome).unwrap_or_else(|| panic!("no {action} {outcome} row in {rows:?}"));
    let query = rows.iter().find(|r| r["detail"] == count && r["who"].as_str().unwrap().starts_with("scope-east")).unwrap();
    assert_eq!((query["rows"].as_u64(), query["status"].as_u64()), (Some(1), Some(200)));
    assert_eq!(query["statement_hash"].as_str().unwrap().len(), 64);
    assert_eq!(find("POST /api/v1/query", "forbidden")["who"].as_str().map(|w| w.starts_with("scope-")), Some(true));
    assert_eq!(find("POST /api/v1/auth/login", "unauthorized")["detail"], "scope-east");
    assert_eq!(find("POST /api/v1/auth/login", "ok")["detail"], "scope-east");
    assert!(find("PATCH /api/v1/users/scope-viewer", "ok")["who"].as_str().unwrap().starts_with("scope-admin"));
    assert!(!rows.iter().any(|r| r.to_string().contains(PASSWORD)), "no password in the audit");
}

/// Runs `itscam` with `stdin` as its standard input; returns stdout (insists on success).
fn itscam_fed(cwd: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = itscam_child(cwd, args, "warn");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "itscam {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn curl(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new("curl").args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"]).args(args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

#[test]
fn https_with_users_from_the_cli_and_no_secret_in_the_logs() {
    let dir = scratch("tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let config = "[lake]\nurl = \"file://./lake\"\n[http]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n[auth]\nenabled = true\n[[camera]]\nid = \"cam-1\"\nsource = \"push\"\n";
    std::fs::write(dir.join("config.toml"), config).unwrap();
    itscam_fed(&dir, &["users", "add", "ops", "--role", "admin", "--config", "config.toml"], &format!("{PASSWORD}\n"));
    let api_key = itscam_fed(&dir, &["users", "keys", "add", "ops", "--label", "tls test", "--config", "config.toml"], "").trim().to_string();
    assert!(api_key.starts_with("itk_"), "{api_key}");
    let listed = itscam_fed(&dir, &["users", "list", "--config", "config.toml"], "");
    assert!(listed.starts_with("ops\tadmin\tall cameras\tenabled"), "{listed}");

    let served = Served::start_scheme(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"], "debug", "https://");
    let port = served.addr.rsplit(':').next().unwrap().to_string();
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let cacert = dir.join("cert.pem").display().to_string();
    let tls = ["--cacert", cacert.as_str(), "--resolve", resolve.as_str()];
    let (code, body) = curl(&[&tls[..], &["-H", &format!("X-API-Key: {api_key}"), &url("/api/v1/auth/me")]].concat());
    assert_eq!(code, "200", "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["user"], "ops");
    assert_eq!(curl(&[&tls[..], &[&url("/health")]].concat()).0, "401", "credentials needed");
    let login = json!({ "user": "ops", "password": PASSWORD }).to_string();
    let (code, body) = curl(&[&tls[..], &["-H", "Content-Type: application/json", "-d", &login, &url("/api/v1/auth/login")]].concat());
    assert_eq!(code, "200", "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"].as_str().unwrap().to_string();
    let (code, body) = curl(&[&tls[..], &["-H", &format!("Authorization: Bearer {token}"), &url("/health")]].concat());
    assert_eq!(code, "200", "{body}");
    // Plain HTTP on the TLS port gets no answer; an unknown certificate is refused by the client.
    assert_ne!(curl(&[&format!("http://127.0.0.1:{port}/health")]).0, "200");
    assert_ne!(curl(&["--resolve", &resolve, &url("/health")]).0, "200");

    let (status, _, log) = served.terminate_with_log();
    assert!(status.success(), "{log:?}");
    let log = log.join("\n");
    for secret in [PASSWORD, api_key.as_str(), token.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
    // The audit trail was written before the exit: the CLI's change and the logins.
    let rows = query_json(&dir, "SELECT who, action, outcome FROM audit ORDER BY at_ms");
    assert!(rows.iter().any(|r| r["who"] == "cli" && r["action"] == "users add"), "{rows:?}");
    assert!(rows.iter().any(|r| r["action"] == "POST /api/v1/auth/login" && r["outcome"] == "ok"), "{rows:?}");
}

#[test]
fn an_open_api_listens_beyond_loopback_only_when_told_insecure() {
    let dir = scratch("insecure");
    let out = itscam(&dir, &["serve", "--lake", "file://./lake", "--listen", "0.0.0.0:0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refusing to listen on 0.0.0.0"), "{err}");
    let mut child = itscam_child(&dir, &["serve", "--lake", "file://./lake", "--listen", "0.0.0.0:0", "--insecure"], "warn");
    let lines = StderrLines::of(child.stderr.take().unwrap());
    lines.wait_for("WARNING: --insecure");
    let line = lines.wait_for("http://");
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let (status, body) = http(&format!("127.0.0.1:{port}"), "GET", "/health", "");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_second_factor_is_asked_once_set_up_and_required_for_the_roles_configured() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("totp").display())).unwrap();
    let config = AuthConfig { require_mfa_for: vec!["admin".into()], ..auth_on() };
    let state = secured(&lake, &config).await;
    user_with_key(&state, "mfa-admin", Role::Admin, &[]).await;
    let analyst = user_with_key(&state, "mfa-analyst", Role::Analyst, &[]).await;
    let app = app(state);
    let login = |user: &str, totp: Option<String>| Some(json!({ "user": user, "password": PASSWORD, "totp": totp }));
    let (status, answer) = call(&app, "POST", "/api/v1/auth/login", None, login("mfa-admin", None)).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("mfa_required")), "an admin without TOTP: {answer}");
    assert_eq!(call(&app, "POST", "/api/v1/auth/login", None, login("mfa-analyst", None)).await.0, StatusCode::OK);
    let (status, setup) = call(&app, "POST", "/api/v1/auth/totp", key(&analyst), None).await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap();
    assert!(setup["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/"));
    let (status, answer) = call(&app, "POST", "/api/v1/auth/login", None, login("mfa-analyst", None)).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("mfa_required")), "{answer}");
    let now = itscam_types::time::now_ms();
    let wrong = if itscam_engine::auth::totp::code_at(secret, "mfa-analyst", now).as_deref() == Some("000000") { "111111" } else { "000000" };
    assert_eq!(call(&app, "POST", "/api/v1/auth/login", None, login("mfa-analyst", Some(wrong.into()))).await.0, StatusCode::UNAUTHORIZED);
    let code = itscam_engine::auth::totp::code_at(secret, "mfa-analyst", now).unwrap();
    let (status, tokens) = call(&app, "POST", "/api/v1/auth/login", None, login("mfa-analyst", Some(code))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
}

#[tokio::test]
async fn callers_are_rate_limited_bodies_capped_and_cors_is_off_unless_configured() {
    let lake = Lake::open(&format!("file://{}/lake", scratch("limits-http").display())).unwrap();
    let state = secured(&lake, &AuthConfig { rate_per_s: 1, rate_burst: 3, ..auth_on() }).await;
    let one = user_with_key(&state, "rate-one", Role::Viewer, &[]).await;
    let other = user_with_key(&state, "rate-two", Role::Viewer, &[]).await;
    let mut cors_state = state.clone();
    cors_state.cors_origins = Arc::from(vec!["https://dash.example.org".to_string()]);
    let app = app(state);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(call(&app, "GET", "/api/v1/auth/me", key(&one), None).await.0);
    }
    // A slow machine may have earned one token back: at least the burst passes, and soon one is refused.
    assert!(statuses[..3].iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    let mut refused = None;
    for _ in 0..5 {
        let resp = app.clone().oneshot(Request::get("/api/v1/auth/me").header("x-api-key", &one).body(Body::empty()).unwrap()).await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = resp.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
            break;
        }
    }
    assert!(refused.is_some(), "the fourth to ninth call within a second: one is 429 with Retry-After");
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", key(&other), None).await.0, StatusCode::OK, "each caller has its own budget");

    let big = "x".repeat(2 << 20);
    let resp = app.clone().oneshot(Request::post("/api/v1/query").header("x-api-key", &other).body(Body::from(big)).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "a body over [http] max_body_bytes");

    let preflight = || Request::builder().method("OPTIONS").uri("/api/v1/auth/me").header("origin", "https://dash.example.org").header("access-control-request-method", "GET").body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(preflight()).await.unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"), "no CORS unless configured");
    let resp = itscam_engine::http::app(cors_state).oneshot(preflight()).await.unwrap();
    assert_eq!(resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("https://dash.example.org"));
}

#[test]
fn users_made_by_one_process_reach_a_serving_process_of_the_same_s3_lake() {
    let dir = scratch("auth-s3");
    let s3 = SeaweedFs::start(&dir);
    let config = format!("{}\n[auth]\nenabled = true\nrefresh_ms = 200\n[[camera]]\nid = \"cam-1\"\nsource = \"push\"\n", s3.lake_toml("shared"));
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let served = Served::start_logging(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"], "warn,itscam_engine::auth=info");
    itscam_fed(&dir, &["users", "add", "ops", "--role", "operator", "--config", "config.toml"], &format!("{PASSWORD}\n"));
    let api_key = itscam_fed(&dir, &["users", "keys", "add", "ops", "--config", "config.toml"], "").trim().to_string();
    served.wait_for("auth: users, keys and sign-outs read from the lake");
    let me = |key: &str| http_raw(&served.addr, "GET", "/api/v1/auth/me", &[("X-API-Key", key)], b"").0;
    // The serving process may have read the user before the key: wait for the entry of the key.
    if me(&api_key) != 200 {
        served.wait_for("auth: users, keys and sign-outs read from the lake");
    }
    assert_eq!(me(&api_key), 200, "a key made by another process works");
    itscam_fed(&dir, &["users", "disable", "ops", "--config", "config.toml"], "");
    served.wait_for("auth: users, keys and sign-outs read from the lake");
    assert_eq!(me(&api_key), 401, "disabled by another process: refused once read");
}

#[tokio::test]
async fn a_camera_scoped_admin_changes_and_sees_only_rules_of_their_cameras() {
    use itscam_engine::live::{AnalyticsHandles, Live};
    let lake = two_camera_lake("scoped-rules");
    let state = secured(&lake, &auth_on()).await;
    let east = user_with_key(&state, "rules-east", Role::Admin, &["east"]).await;
    let admin = user_with_key(&state, "rules-admin", Role::Admin, &[]).await;
    let camera = |id: &str| format!("[[camera]]\nid = \"{id}\"\nsource = \"detections:-\"\n[[camera.zone]]\nid = \"z\"\npolygon = [[0, 0], [10, 0], [10, 10]]\n");
    let config = PipelineConfig::from_toml(&format!("{}{}", camera("east"), camera("west"))).unwrap();
    let plan = itscam_queries::AnalyticsPlan::new(Arc::new(config), Vec::new()).unwrap();
    let control = itscam_engine::control::ControlLog::new(lake.clone());
    let app = app(state.with_live(Live { analytics: Some(AnalyticsHandles::of(&plan, control)), ..Live::default() }));
    let bikes = |id: &str, filter: &str| json!({ "id": id, "sql": format!("SELECT * FROM track_points WHERE {filter}in_zone('z') AND class = 'bicycle'") });
    // A rule without a camera watches every camera, those added later too: not theirs to add.
    let (status, body) = call(&app, "PUT", "/api/v1/rules/bikes", key(&east), Some(bikes("bikes", ""))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(&app, "PUT", "/api/v1/rules/bikes", key(&east), Some(bikes("bikes", "camera_id = 'west' AND "))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(&app, "PUT", "/api/v1/rules/bikes", key(&east), Some(bikes("bikes", "camera_id = 'east' AND "))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // An unscoped admin's rule on every camera: the scoped admin sees it, but cannot change it.
    let (status, _) = call(&app, "PUT", "/api/v1/rules/everywhere", key(&admin), Some(bikes("everywhere", ""))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = call(&app, "GET", "/api/v1/rules", key(&east), None).await;
    let ids: Vec<&str> = list["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bikes", "everywhere"], "{list}");
    let (status, body) = call(&app, "DELETE", "/api/v1/rules/everywhere", key(&east), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = call(&app, "DELETE", "/api/v1/rules/bikes", key(&east), None).await;
    assert_eq!(status, StatusCode::OK);
}
