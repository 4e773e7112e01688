//! Rules and zones of the running pipeline over HTTP: `GET /api/v1/rules`, `GET|PUT|DELETE
//! /rules/{id}`, `GET /api/v1/zones`. A rule put or deleted here enters the dataflow's rule collection
//! at the event-time frontier it finds: it applies from that moment on, nothing restarts, and
//! only that rule's outputs change. Each change is an entry of the lake's control log before it
//! is applied and answered (see [`crate::control`]): a change the log could not record is not
//! applied (503 `control_log`, with `Retry-After`).

use super::{ApiError, AppState};
use crate::control::ControlError;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use itscam_queries::RuleError;
use itscam_types::config::RuleConfig;
use serde_json::json;
use std::net::SocketAddr;

/// Who makes a change, as the control log records it: the authenticated user (`ann`,
/// `ann (key …)`); with auth off, the peer's address, or `anonymous` (no socket, e.g. tests).
#[derive(Clone, Debug, PartialEq)]
pub struct Who(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(me) = parts.extensions.get::<crate::auth::Identity>().filter(|me| me.via != crate::auth::Via::Open) {
            return Ok(Who(me.who()));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.to_string());
        Ok(Who(peer.unwrap_or_else(|| "anonymous".to_string())))
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Rule(e) => e.into(),
            e => ApiError::blamed(&e, "control_log", StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}

pub(super) fn no_pipeline() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_pipeline", "no pipeline is running in this process: rules and zones are served where a pipeline runs (`itscam serve --config FILE` with cameras, `itscam run --http ADDR`)")
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        let (status, kind) = match &e {
            RuleError::Invalid(_) | RuleError::IdMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule"),
            RuleError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            RuleError::Ended => (StatusCode::CONFLICT, "ended"),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

/// `GET /api/v1/rules`: the live rules with the event time each applies from.
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    Ok(Json(json!({ "rules": a.rules.list() })))
}

/// `GET /api/v1/rules/{id}`.
pub async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let rule = a.rules.get(&id).ok_or(RuleError::NotFound(id))?;
    Ok(Json(json!(rule)))
}

/// `PUT /api/v1/rules/{id}`: adds or replaces a rule (body: the rule as in `[[rule]]`, as JSON),
/// logged first. Answers the event time it applies from and the control log's seq.
pub async fn put(State(state): State<AppState>, who: Who, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let rule: RuleConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("the body must be a rule as JSON (keys as in [[rule]]): {e}")))?;
    let (entry, replaced) = a.control.put_rule(&a.rules, &who.0, &id, rule).await?;
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(json!({ "id": id, "replaced": replaced, "since_ms": entry.since_ms, "seq": entry.seq }))).into_response())
}

/// `DELETE /api/v1/rules/{id}`, logged first.
pub async fn delete(State(state): State<AppState>, who: Who, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let (entry, _) = a.control.delete_rule(&a.rules, &who.0, &id).await?;
    Ok(Json(json!({ "deleted": id, "since_ms": entry.since_ms, "seq": entry.seq })))
}

/// `GET /api/v1/zones`: tracks inside each zone now (event time of the pipeline).
pub async fn zones(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let live = a.zones.lock().map(|z| z.clone()).unwrap_or_default();
    let zones: Vec<_> = live.into_iter().map(|((camera, zone), n)| json!({ "camera_id": camera, "zone_id": zone, "occupancy": n })).collect();
    Ok(Json(json!({ "zones": zones })))
}
