//! The OpenAPI document is generated from the handlers (`itscam_engine::http::openapi`): the
//! served document is that one, every documented operation is served, and the parts the
//! handlers do not say themselves (security, error kinds) are there.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use itscam_engine::alerts::AlertFilter;
use itscam_engine::http::permissions::{Access, PERMISSIONS, access};
use itscam_engine::http::{AppState, app, openapi};
use itscam_sinks::Lake;
use itscam_types::config::QueryConfig;
use serde_json::Value;
use tower::ServiceExt;

/// The document as JSON.
fn document() -> Value {
    serde_json::to_value(openapi()).unwrap()
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str())) {
            ops.push((method.clone(), path.clone()));
        }
    }
    ops
}

async fn served() -> axum::Router {
    let lake = Lake::open(&format!("file://{}/lake", scratch("openapi-served").display())).unwrap();
    app(AppState::open(&lake, QueryConfig::default()).await.unwrap())
}

async fn call(app: &axum::Router, method: &str, uri: &str) -> (StatusCode, bytes::Bytes) {
    let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    if resp.headers().get(axum::http::header::CONTENT_TYPE).is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream")) {
        return (resp.status(), bytes::Bytes::from_static(b"(a stream that does not end)"));
    }
    (resp.status(), resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let (status, body) = call(&served().await, "GET", "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, document());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"), "{}", served["openapi"]);
}

#[tokio::test]
async fn every_operation_of_the_api_is_documented_served_and_in_the_permission_table() {
    let doc = document();
    let mut ops = operations(&doc);
    ops.sort();
    // The router's routes are the document's (utoipa-axum adds both at once), and the
    // permission table lists exactly those: no route without an owner role.
    let mut want: Vec<(String, String)> = PERMISSIONS.iter().map(|p| (p.method.to_lowercase(), p.path.to_string())).collect();
    want.sort();
    assert_eq!(ops, want);
    let app = served().await;
    for (method, path) in ops {
        let (status, body) = call(&app, &method.to_uppercase(), &path.replace("{id}", "some-id").replace("{name}", "some-name")).await;
        // An unrouted path answers 404/405 with an empty body; ours always say why.
        assert!(!matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) || !body.is_empty(), "{method} {path} is documented but not served ({status})");
    }
}

#[tokio::test]
async fn an_error_answer_is_the_documented_api_error() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["ApiError"];
    assert_eq!(schema["required"], serde_json::json!(["error", "message"]), "{schema}");
    let kinds: Vec<&str> = doc["components"]["schemas"]["ErrorKind"]["enum"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    for kind in ["bad_request", "invalid_rule", "invalid_query", "no_pipeline", "not_found", "too_large", "queue_full", "unauthorized", "forbidden", "rate_limited"] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
    let app = served().await;
    for (method, uri, want) in [("GET", "/api/v1/alerts?limit=0", StatusCode::BAD_REQUEST), ("GET", "/api/v1/rules", StatusCode::CONFLICT), ("GET", "/api/v1/alerts/some-id", StatusCode::NOT_FOUND)] {
        let (status, body) = call(&app, method, uri).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, want, "{uri}: {body}");
        assert!(kinds.contains(&body["error"].as_str().unwrap()), "{uri}: {body}");
        let op = &doc["paths"][uri.split('?').next().unwrap().replace("some-id", "{id}")]["get"];
        let documented = &op["responses"][status.as_str()]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(documented, "#/components/schemas/ApiError", "{uri}: {status} is not documented");
    }
}

#[test]
fn every_operation_but_the_public_ones_needs_a_bearer_token_or_an_api_key() {
    let doc = document();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!((schemes["bearer"]["type"].as_str(), schemes["bearer"]["scheme"].as_str(), schemes["bearer"]["bearerFormat"].as_str()), (Some("http"), Some("bearer"), Some("JWT")));
    assert_eq!((schemes["api_key"]["type"].as_str(), schemes["api_key"]["in"].as_str(), schemes["api_key"]["name"].as_str()), (Some("apiKey"), Some("header"), Some("X-API-Key")));
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        // The permission table is rendered into each operation's description.
        let needs = match access(&method.to_uppercase(), &path) {
            Some(Access::Least(role)) => format!("Needs the role `{role}` or above"),
            _ => "Public: no credentials needed".to_string(),
        };
        assert!(op["description"].as_str().is_some_and(|d| d.contains(&needs)), "{method} {path}: {}", op["description"]);
        if access(&method.to_uppercase(), &path) == Some(Access::Public) {
            assert_eq!(op["security"], serde_json::json!([{}]), "{method} {path} is public");
            continue;
        }
        assert_eq!(op["security"], serde_json::json!([{ "bearer": [] }, { "api_key": [] }]), "{method} {path}");
        for status in ["401", "403", "429"] {
            assert!(op["responses"][status].is_object(), "{method} {path} does not list {status}");
        }
    }
}

#[test]
fn the_alert_list_documents_the_limits_it_enforces() {
    let doc = document();
    let params = doc["paths"]["/api/v1/alerts"]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(AlertFilter::MAX_LIMIT as u64)), "{limit}");
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["status", "severity", "camera", "limit"]);
}
