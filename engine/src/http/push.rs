//! Pushed input: `POST /api/v1/cameras/{id}/detections` (lines of that camera) and `POST
//! /api/v1/ingest` (lines routed by their `camera_id`), for cameras with `source = "push"`;
//! `POST /api/v1/signals` for `[[signal]] source = "push"` ([`itscam_queries::signal_control`]).
//! The body is detections JSON Lines, `Content-Encoding: gzip` accepted, at most `[service]
//! push_max_body_bytes` after decompression. The protocol (all or nothing, rejected lines,
//! 429 when a queue is full, event time) is [`itscam_operators::source::push`]'s.

use super::{ApiError, AppState};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use itscam_operators::source::push::{PushError, Pushed};
use itscam_queries::{SignalPushError, SignalsPushed};
use std::io::Read;
use std::time::Duration;

/// How long a client told 429 or 503 waits before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        let message = e.to_string();
        match e {
            PushError::UnknownCamera(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            PushError::NotPush { .. } | PushError::NoPushCamera => ApiError::new(StatusCode::CONFLICT, "not_push", message),
            PushError::TooManyLines { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message),
            PushError::Full { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", message).retry_after(RETRY_AFTER),
            PushError::Closed(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopping", message).retry_after(RETRY_AFTER),
        }
    }
}

impl From<SignalPushError> for ApiError {
    fn from(e: SignalPushError) -> Self {
        let message = e.to_string();
        match e {
            SignalPushError::NoPushSignal => ApiError::new(StatusCode::CONFLICT, "not_push", message),
            SignalPushError::Full { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", message).retry_after(RETRY_AFTER),
            SignalPushError::Ended => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopping", message),
        }
    }
}

/// `POST /api/v1/signals`: signal changes as JSON Lines `{"signal_id", "ts_ms", "state"}` for
/// `[[signal]] source = "push"`. 200 with `{"accepted", "rejected": [{"line", "kind", "reason"}]}`.
/// The changes are an entry of the control log before they take effect (503 `control_log`,
/// nothing taken, when it cannot be written); a restart enters them again.
pub async fn signals(State(state): State<AppState>, who: super::rules::Who, headers: HeaderMap, body: Body) -> Result<Json<SignalsPushed>, ApiError> {
    let analytics = state.live.analytics.as_ref().ok_or_else(super::rules::no_pipeline)?;
    let control = analytics.signals.clone();
    let body = read_body(&headers, body, state.live.push_max_body_bytes.max(1)).await?;
    let _one = analytics.control.one_at_a_time().await;
    let prepared = tokio::task::spawn_blocking(move || control.prepare(&body))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the signal parser failed: {e} (this is a bug)")))??;
    if !prepared.changes().is_empty() {
        analytics.control.record_signals(&who.0, prepared.changes()).await?;
    }
    Ok(Json(prepared.apply()))
}

/// `POST /api/v1/cameras/{id}/detections`: detections JSON Lines of camera `id`. 200 with
/// `{"accepted", "detections", "rejected": [{"line", "kind", "reason"}]}`.
pub async fn camera(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Result<Json<Pushed>, ApiError> {
    push(state, Some(id), headers, body).await
}

/// `POST /api/v1/ingest`: detections JSON Lines of any push camera, routed by `camera_id`.
pub async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Pushed>, ApiError> {
    push(state, None, headers, body).await
}

async fn push(state: AppState, camera: Option<String>, headers: HeaderMap, body: Body) -> Result<Json<Pushed>, ApiError> {
    if state.live.analytics.is_none() {
        return Err(super::rules::no_pipeline());
    }
    let inlets = state.live.push.clone().ok_or(PushError::NoPushCamera)?;
    let limit = state.live.push_max_body_bytes.max(1);
    let body = read_body(&headers, body, limit).await?;
    // Parsing a large body is CPU work: off the async threads.
    let pushed = tokio::task::spawn_blocking(move || inlets.push(camera.as_deref(), &body))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the push parser failed: {e} (this is a bug)")))??;
    Ok(Json(pushed))
}

/// The body, gunzipped when `Content-Encoding: gzip`, refused with 413 past `limit` bytes.
pub(super) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the body exceeds [service] push_max_body_bytes = {limit} bytes; send it in smaller pushes"));
    let raw = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(raw),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            let read = flate2::read::MultiGzDecoder::new(&raw[..]).take(limit as u64 + 1).read_to_end(&mut out);
            match read {
                Ok(n) if n > limit => Err(too_large()),
                Ok(_) => Ok(Bytes::from(out)),
                Err(e) => Err(super::bad_request(format!("the body is not valid gzip: {e}"))),
            }
        }
        Some(other) => Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding", format!("Content-Encoding {other:?} is not supported: send identity or gzip"))),
    }
}
