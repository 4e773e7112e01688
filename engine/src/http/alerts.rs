//! The alert lifecycle over HTTP:
//! `GET /api/v1/alerts`, `GET /api/v1/alerts/{id}`, `POST /api/v1/alerts/{id}/acknowledge`, `POST /api/v1/alerts/{id}/resolve`
//! and the SSE stream `GET /api/v1/alerts/stream`.
//!
//! With a running pipeline (`itscam serve --config`, `itscam run --http`) they answer from the hub (`"source": "live"`).
//! Under `itscam serve` there is no hub: the two `GET`s answer from the lake's `alerts` table
//! (the latest row of each alert, `"source": "lake"`), and the changes and the stream answer
//! 503 `no_pipeline`.

use super::{ApiError, AppState, ErrorBody, ErrorKind, bad_request, no_pipeline};
use crate::alerts::{AlertFilter, AlertHubHandle, AlertView, HubError};
use crate::auth::Identity;
use crate::format::json_rows;
use crate::sql::QueryEngine;
use axum::{Extension, Json};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use itscam_types::analytics::AlertStatus;
use itscam_types::config::{Severity, is_valid_id};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

/// Longest `by` accepted, in characters.
pub const MAX_BY_CHARS: usize = 128;
/// Longest `note` accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let (status, kind) = match &e {
            HubError::NotFound { .. } => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            HubError::Conflict { .. } => (StatusCode::CONFLICT, ErrorKind::Conflict),
            HubError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Stopped),
            HubError::TooManyClients { .. } => return ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::Busy, e.to_string()).retry_after(Duration::from_secs(5)),
            HubError::Lake(_) | HubError::Inconsistent { .. } => return ApiError::blamed(&e, ErrorKind::Execution, StatusCode::UNPROCESSABLE_ENTITY),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

fn no_hub() -> ApiError {
    no_pipeline(
        "no pipeline is attached: alerts change and stream only where a pipeline runs (`itscam serve --config FILE` with cameras, `itscam run --http ADDR`); \
         GET /api/v1/alerts and GET /api/v1/alerts/{id} show the lake's alerts table",
    )
}

/// The query of `GET /api/v1/alerts` (read by [`parse_filter`], which also takes comma-separated lists).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListQuery {
    /// Only alerts with one of these statuses.
    #[param(style = Form, explode)]
    status: Option<Vec<AlertStatus>>,
    /// Only alerts of one of these severities.
    #[param(style = Form, explode)]
    severity: Option<Vec<Severity>>,
    /// Only this camera's alerts.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length = 64)]
    camera: Option<String>,
    /// At most this many alerts, newest first (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// The query of `GET /api/v1/alerts/stream` (read by [`parse_filter`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct StreamQuery {
    /// Only alerts of one of these severities.
    #[param(style = Form, explode)]
    severity: Option<Vec<Severity>>,
    /// Only this camera's alerts.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length = 64)]
    camera: Option<String>,
}

/// The latest `alerts` row of an alert (under `itscam serve` without a pipeline).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertRow {
    /// The alert's id.
    pub alert_id: String,
    /// `violation` or `anomaly`.
    pub source: String,
    /// Its violation's or anomaly's id.
    pub source_id: String,
    /// Rule or anomaly kind.
    pub kind: String,
    /// Severity.
    pub severity: String,
    /// Camera id.
    pub camera_id: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// Whether it was escalated.
    pub escalated: bool,
    /// Repeats suppressed onto it.
    pub suppressed_count: i64,
    /// Event time it was raised.
    pub ts_ms: i64,
    /// Wall-clock time of this row's change.
    pub changed_at_ms: i64,
    /// Who made the change (`engine` for the engine's own).
    pub changed_by: String,
    /// Free text given with the change.
    #[serde(default)]
    pub note: Option<String>,
}

/// The alerts, from the running pipeline's hub (`live`) or from the lake's `alerts` table (`lake`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum AlertList {
    /// From the running pipeline.
    Live {
        /// Newest event time first.
        alerts: Vec<AlertView>,
    },
    /// From the lake's `alerts` table.
    Lake {
        /// Newest event time first.
        alerts: Vec<AlertRow>,
    },
}

/// One alert, from the hub (`live`) or the lake (`lake`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum OneAlert {
    /// From the running pipeline.
    Live {
        /// The alert.
        alert: AlertView,
    },
    /// From the lake's `alerts` table.
    Lake {
        /// The alert's latest row.
        alert: AlertRow,
    },
}

/// An alert after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertChanged {
    /// The alert.
    pub alert: AlertView,
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
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(ListQuery), responses(
    (status = 200, description = "The alerts", body = AlertList),
    (status = 400, description = "`bad_request`: a query parameter that is not one of these, or not valid", body = ErrorBody),
    (status = 422, description = "`execution`: reading the lake's alerts failed", body = ErrorBody),
))]
pub(super) async fn list(State(state): State<AppState>, Extension(me): Extension<Identity>, RawQuery(query): RawQuery) -> Result<Json<AlertList>, ApiError> {
    let filter = AlertFilter { scope: me.cameras.clone(), ..parse_filter(query.as_deref(), &["status", "severity", "camera", "limit"])? };
    Ok(Json(match &state.live.alerts {
        Some(hub) => AlertList::Live { alerts: hub.list(filter).await? },
        None => AlertList::Lake { alerts: lake_alerts(&state.engine, &filter, None).await? },
    }))
}

/// `GET /api/v1/alerts/{id}`.
#[utoipa::path(get, path = "/alerts/{id}", tag = "alerts", params(("id" = String, Path, description = "The alert's id")), responses(
    (status = 200, description = "The alert", body = OneAlert),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 422, description = "`execution`: reading the lake's alerts failed", body = ErrorBody),
))]
pub(super) async fn get_one(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>) -> Result<Json<OneAlert>, ApiError> {
    Ok(Json(match &state.live.alerts {
        Some(hub) => OneAlert::Live { alert: seen(hub, &me, &id).await? },
        None => {
            let filter = AlertFilter { limit: 1, scope: me.cameras.clone(), ..AlertFilter::default() };
            let row = lake_alerts(&state.engine, &filter, Some(&id)).await?.into_iter().next();
            let row = row.ok_or_else(|| ApiError::from(HubError::NotFound { id: id.clone(), hint: Some("not in the alerts table".into()) }))?;
            OneAlert::Lake { alert: row }
        }
    }))
}

/// The live alert `id`, when the caller sees its camera (else: not found, as for any unknown id).
pub(super) async fn seen(hub: &AlertHubHandle, me: &Identity, id: &str) -> Result<AlertView, ApiError> {
    let alert = hub.get(id).await?;
    if !me.sees(&alert.alert.camera_id) {
        return Err(HubError::NotFound { id: id.to_string(), hint: None }.into());
    }
    Ok(alert)
}

/// The body of acknowledge/resolve.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    /// Who makes the change: 1 to 128 characters once trimmed, no control characters.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$")]
    by: String,
    /// Free text, at most 2000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
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
#[utoipa::path(post, path = "/alerts/{id}/acknowledge", tag = "alerts", params(("id" = String, Path, description = "The alert's id")), request_body = ChangeBody, responses(
    (status = 200, description = "Acknowledged", body = AlertChanged),
    (status = 400, description = "`bad_request`: the body", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`conflict` (a resolved alert), `no_pipeline`", body = ErrorBody),
    (status = 503, description = "`stopped`: the alert hub has stopped", body = ErrorBody),
))]
pub(super) async fn acknowledge(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>, body: Bytes) -> Result<Json<AlertChanged>, ApiError> {
    let (by, note) = parse_change(&body)?;
    let hub = state.live.alerts.as_ref().ok_or_else(no_hub)?;
    seen(hub, &me, &id).await?;
    Ok(Json(AlertChanged { alert: hub.acknowledge(&id, &by, note).await? }))
}

/// `POST /api/v1/alerts/{id}/resolve` with `{"by": …, "note": …}`.
#[utoipa::path(post, path = "/alerts/{id}/resolve", tag = "alerts", params(("id" = String, Path, description = "The alert's id")), request_body = ChangeBody, responses(
    (status = 200, description = "Resolved", body = AlertChanged),
    (status = 400, description = "`bad_request`: the body", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`conflict`, `no_pipeline`", body = ErrorBody),
    (status = 503, description = "`stopped`: the alert hub has stopped", body = ErrorBody),
))]
pub(super) async fn resolve(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>, body: Bytes) -> Result<Json<AlertChanged>, ApiError> {
    let (by, note) = parse_change(&body)?;
    let hub = state.live.alerts.as_ref().ok_or_else(no_hub)?;
    seen(hub, &me, &id).await?;
    Ok(Json(AlertChanged { alert: hub.resolve(&id, &by, note).await? }))
}

/// `GET /api/v1/alerts/stream?severity=&camera=`: Server-Sent Events `alert`, `escalation`, `update`
/// (data: the alert as in `GET /api/v1/alerts`) and `lagged` (data `{"missed": n}` when this client
/// fell more than [`crate::alerts::SSE_BUFFER`] events behind); a keep-alive comment every 15 s.
#[utoipa::path(get, path = "/alerts/stream", tag = "alerts", params(StreamQuery), responses(
    (status = 200, description = "Server-Sent Events: `alert`, `escalation`, `update` (data: an AlertView), `lagged` (data `{\"missed\": n}`)", content_type = "text/event-stream", body = String),
    (status = 400, description = "`bad_request`: a query parameter", body = ErrorBody),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
    (status = 429, description = "`busy`: as many streams as `[alerts] max_stream_clients` are open", body = ErrorBody),
    (status = 503, description = "`stopped`", body = ErrorBody),
))]
pub(super) async fn stream(State(state): State<AppState>, Extension(me): Extension<Identity>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let filter = AlertFilter { scope: me.cameras.clone(), ..parse_filter(query.as_deref(), &["severity", "camera"])? };
    let hub = state.live.alerts.as_ref().ok_or_else(no_hub)?;
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
pub(super) async fn lake_alerts(engine: &QueryEngine, filter: &AlertFilter, id: Option<&str>) -> Result<Vec<AlertRow>, ApiError> {
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
    if !filter.scope.is_empty() {
        conds.push(format!("camera_id IN ({})", filter.scope.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")));
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
    let internal = |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Encode, format!("encoding the alerts failed (this is a bug): {e}"));
    let text = json_rows(&result.batches).map_err(|e| internal(&e))?;
    serde_json::from_str(&text).map_err(|e| internal(&e))
}
