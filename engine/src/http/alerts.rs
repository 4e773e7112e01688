//! The alert lifecycle over HTTP:
//! `GET /api/v1/alerts`, `GET /api/v1/alerts/{id}`, `POST /api/v1/alerts/{id}/acknowledge`, `POST /api/v1/alerts/{id}/resolve`
//! and the SSE stream `GET /api/v1/alerts/stream`.
//!
//! With a running pipeline (`itscam serve --config`, `itscam run --http`) they answer from the hub (`"source": "live"`).
//! Under `itscam serve` there is no hub: the two `GET`s answer from the lake's `alerts` table
//! (the latest row of each alert, `"source": "lake"`), and the changes and the stream answer
//! 503 `no_pipeline`.

use super::{ApiError, AppState, bad_request};
use crate::alerts::{AlertFilter, HubError};
use crate::format::json_rows;
use crate::sql::QueryEngine;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use itscam_types::analytics::AlertStatus;
use itscam_types::config::{Severity, is_valid_id};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Longest `by` accepted, in characters.
pub const MAX_BY_CHARS: usize = 128;
/// Longest `note` accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let (status, kind) = match &e {
            HubError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            HubError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            HubError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "stopped"),
            HubError::TooManyClients { .. } => return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string()).retry_after(Duration::from_secs(5)),
            HubError::Lake(_) | HubError::Inconsistent { .. } => return ApiError::blamed(&e, "execution", StatusCode::BAD_REQUEST),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

fn no_pipeline() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_pipeline",
        "no pipeline is attached: alerts change and stream only where a pipeline runs (`itscam serve --config FILE` with cameras, `itscam run --http ADDR`); \
         GET /api/v1/alerts and GET /api/v1/alerts/{id} show the lake's alerts table",
    )
}

/// Parses `status`, `severity` (comma-separated or repeated), `camera` and `limit`; rejects
/// parameters not in `allowed`.
fn parse_filter(query: Option<&str>, allowed: &[&str]) -> Result<AlertFilter, ApiError> {
    let mut filter = AlertFilter::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(bad_request(format!("unknown query parameter {key:?}; known: {}", allowed.join(", "))));
        }
        match key.as_ref() {
            "status" => {
                for v in value.split(',') {
                    let s = match v.trim() {
                        "open" => AlertStatus::Open,
                        "acknowledged" => AlertStatus::Acknowledged,
                        "resolved" => AlertStatus::Resolved,
                        other => return Err(bad_request(format!("status {other:?} is not one of open, acknowledged, resolved"))),
                    };
                    filter.status.push(s);
                }
            }
            "severity" => {
                for v in value.split(',') {
                    let s = match v.trim() {
                        "low" => Severity::Low,
                        "medium" => Severity::Medium,
                        "high" => Severity::High,
                        "critical" => Severity::Critical,
                        other => return Err(bad_request(format!("severity {other:?} is not one of low, medium, high, critical"))),
                    };
                    filter.severity.push(s);
                }
            }
            "camera" => {
                if !is_valid_id(&value) {
                    return Err(bad_request(format!("camera {value:?} is not a camera id ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 bytes)")));
                }
                filter.camera = Some(value.into_owned());
            }
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=AlertFilter::MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad_request(format!("limit {value:?} is not a whole number from 1 to {}", AlertFilter::MAX_LIMIT)))?;
            }
            _ => unreachable!("checked against allowed"),
        }
    }
    Ok(filter)
}

/// `GET /api/v1/alerts?status=&severity=&camera=&limit=`.
pub(super) async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    let filter = parse_filter(query.as_deref(), &["status", "severity", "camera", "limit"])?;
    Ok(Json(match &state.live.alerts {
        Some(hub) => json!({ "source": "live", "alerts": hub.list(filter).await? }),
        None => json!({ "source": "lake", "alerts": lake_alerts(&state.engine, &filter, None).await? }),
    }))
}

/// `GET /api/v1/alerts/{id}`.
pub(super) async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(match &state.live.alerts {
        Some(hub) => json!({ "source": "live", "alert": hub.get(&id).await? }),
        None => {
            let filter = AlertFilter { limit: 1, ..AlertFilter::default() };
            let row = lake_alerts(&state.engine, &filter, Some(&id)).await?.into_iter().next();
            let row = row.ok_or_else(|| ApiError::from(HubError::NotFound { id: id.clone(), hint: Some("not in the alerts table".into()) }))?;
            json!({ "source": "lake", "alert": row })
        }
    }))
}

/// The body of acknowledge/resolve.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    by: String,
    #[serde(default)]
    note: Option<String>,
}

fn parse_change(body: &[u8]) -> Result<(String, Option<String>), ApiError> {
    const SHAPE: &str = r#"{"by": "who", "note": "optional text"}"#;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request(format!("empty body: send JSON {SHAPE}")));
    }
    let b: ChangeBody = serde_json::from_slice(body).map_err(|e| bad_request(format!("body must be JSON {SHAPE}: {e}")))?;
    let by = b.by.trim();
    if by.is_empty() || by.chars().count() > MAX_BY_CHARS {
        return Err(bad_request(format!("\"by\" must name who makes the change (1 to {MAX_BY_CHARS} characters)")));
    }
    if by.chars().any(char::is_control) {
        return Err(bad_request("\"by\" must not contain control characters"));
    }
    let note = b.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(bad_request(format!("\"note\" is longer than {MAX_NOTE_CHARS} characters")));
    }
    Ok((by.to_string(), note))
}

/// `POST /api/v1/alerts/{id}/acknowledge` with `{"by": …, "note": …}`.
pub(super) async fn acknowledge(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let (by, note) = parse_change(&body)?;
    let hub = state.live.alerts.as_ref().ok_or_else(no_pipeline)?;
    Ok(Json(json!({ "alert": hub.acknowledge(&id, &by, note).await? })))
}

/// `POST /api/v1/alerts/{id}/resolve` with `{"by": …, "note": …}`.
pub(super) async fn resolve(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let (by, note) = parse_change(&body)?;
    let hub = state.live.alerts.as_ref().ok_or_else(no_pipeline)?;
    Ok(Json(json!({ "alert": hub.resolve(&id, &by, note).await? })))
}

/// `GET /api/v1/alerts/stream?severity=&camera=`: Server-Sent Events `alert`, `escalation`, `update`
/// (data: the alert as in `GET /api/v1/alerts`) and `lagged` (data `{"missed": n}` when this client
/// fell more than [`crate::alerts::SSE_BUFFER`] events behind); a keep-alive comment every 15 s.
pub(super) async fn stream(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let filter = parse_filter(query.as_deref(), &["severity", "camera"])?;
    let hub = state.live.alerts.as_ref().ok_or_else(no_pipeline)?;
    let rx = hub.subscribe().await?;
    let events = futures::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            let event = match rx.recv().await {
                Ok(ev) if filter.matches(&ev.view.alert, ev.view.status) => {
                    let data = serde_json::to_string(&ev.view).expect("an alert view serializes");
                    Event::default().event(ev.kind.as_str()).data(data)
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(json!({ "missed": missed }).to_string()),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok::<_, Infallible>(event), (rx, filter)));
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The latest `alerts` row of each alert passing `filter` (and with `id`), newest event time first.
async fn lake_alerts(engine: &QueryEngine, filter: &AlertFilter, id: Option<&str>) -> Result<Vec<Value>, ApiError> {
    let mut conds = vec!["rn = 1".to_string()];
    if !filter.status.is_empty() {
        conds.push(format!("status IN ({})", filter.status.iter().map(|s| quote(s.as_str())).collect::<Vec<_>>().join(", ")));
    }
    if !filter.severity.is_empty() {
        conds.push(format!("severity IN ({})", filter.severity.iter().map(|s| quote(s.as_str())).collect::<Vec<_>>().join(", ")));
    }
    if let Some(c) = &filter.camera {
        conds.push(format!("camera_id = {}", quote(c)));
    }
    if let Some(id) = id {
        conds.push(format!("alert_id = {}", quote(id)));
    }
    let sql = format!(
        "SELECT alert_id, source, source_id, kind, severity, camera_id, status, escalated, suppressed_count, ts_ms, changed_at_ms, changed_by, note \
         FROM (SELECT *, row_number() OVER (PARTITION BY alert_id ORDER BY changed_at_ms DESC) AS rn FROM alerts) \
         WHERE {} ORDER BY ts_ms DESC, alert_id LIMIT {}",
        conds.join(" AND "),
        filter.limit
    );
    let result = engine.run(&sql).await?;
    let internal = |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "encode", format!("encoding the alerts failed (this is a bug): {e}"));
    let text = json_rows(&result.batches).map_err(|e| internal(&e))?;
    serde_json::from_str(&text).map_err(|e| internal(&e))
}
