//! Pushed input: `POST /api/v1/cameras/{id}/detections` (lines of that camera) and `POST
//! /api/v1/ingest` (lines routed by their `camera_id`), for cameras with `source = "push"`;
//! `POST /api/v1/signals` for `[[signal]] source = "push"` ([`itscam_queries::signal_control`]).
//! The body is detections JSON Lines, `Content-Encoding: gzip` accepted, at most `[service]
//! push_max_body_bytes` after decompression. The protocol (all or nothing, rejected lines,
//! 429 when a queue is full, event time) is [`itscam_operators::source::push`]'s.

use super::{ApiError, AppState, ErrorBody, ErrorKind, no_pipeline_running};
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
            PushError::UnknownCamera(_) => ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message),
            PushError::NotPush { .. } | PushError::NoPushCamera => ApiError::new(StatusCode::CONFLICT, ErrorKind::NotPush, message),
            PushError::TooManyLines { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge, message),
            PushError::Full { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::QueueFull, message).retry_after(RETRY_AFTER),
            PushError::Closed(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Stopping, message).retry_after(RETRY_AFTER),
        }
    }
}

impl From<SignalPushError> for ApiError {
    fn from(e: SignalPushError) -> Self {
        let message = e.to_string();
        match e {
            SignalPushError::NoPushSignal => ApiError::new(StatusCode::CONFLICT, ErrorKind::NotPush, message),
            SignalPushError::Full { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::QueueFull, message).retry_after(RETRY_AFTER),
            SignalPushError::Ended => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Stopping, message),
        }
    }
}

/// `POST /api/v1/signals`: signal changes as JSON Lines `{"signal_id", "ts_ms", "state"}` for
/// `[[signal]] source = "push"`. 200 with `{"accepted", "rejected": [{"line", "kind", "reason"}]}`.
/// The changes are an entry of the control log before they take effect (503 `control_log`,
/// nothing taken, when it cannot be written); a restart enters them again.
#[utoipa::path(post, path = "/signals", tag = "push", request_body(content = String, description = "Signal changes, JSON Lines `{\"signal_id\", \"ts_ms\", \"state\"}` (gzip with `Content-Encoding: gzip`)", content_type = "text/plain"), responses(
    (status = 200, description = "Taken; the lines refused listed", body = SignalsPushed),
    (status = 400, description = "`bad_request`: not valid gzip", body = ErrorBody),
    (status = 409, description = "`not_push` (no `[[signal]] source = \"push\"`), `no_pipeline`", body = ErrorBody),
    (status = 413, description = "`too_large`: over `[service] push_max_body_bytes`", body = ErrorBody),
    (status = 415, description = "`unsupported_encoding`", body = ErrorBody),
    (status = 429, description = "`queue_full`, with `Retry-After`", body = ErrorBody),
    (status = 503, description = "`stopping`; `control_log`, with `Retry-After`", body = ErrorBody),
))]
pub async fn signals(State(state): State<AppState>, who: super::rules::Who, headers: HeaderMap, body: Body) -> Result<Json<SignalsPushed>, ApiError> {
    let analytics = state.live.analytics.as_ref().ok_or_else(no_pipeline_running)?;
    let control = analytics.signals.clone();
    let body = read_body(&headers, body, state.live.push_max_body_bytes.max(1)).await?;
    let _one = analytics.control.one_at_a_time().await;
    // In a cluster: the others' pushes first, so this one changes from the signals' last states.
    analytics.control.follow_held(&_one).await?;
    let prepared = tokio::task::spawn_blocking(move || control.prepare(&body))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("the signal parser failed: {e} (this is a bug)")))??;
    if !prepared.changes().is_empty() {
        analytics.control.record_signals(&who.0, prepared.changes()).await?;
    }
    Ok(Json(prepared.apply()))
}

/// `POST /api/v1/cameras/{id}/detections`: detections JSON Lines of camera `id`. 200 with
/// `{"accepted", "detections", "rejected": [{"line", "kind", "reason"}]}`.
#[utoipa::path(post, path = "/cameras/{id}/detections", tag = "push", params(("id" = String, Path, description = "The push camera's id")), request_body(content = String, description = "Detections JSON Lines of this camera (gzip with `Content-Encoding: gzip`)", content_type = "text/plain"), responses(
    (status = 200, description = "Taken; the lines refused listed", body = Pushed),
    (status = 400, description = "`bad_request`: not valid gzip", body = ErrorBody),
    (status = 404, description = "`not_found`: no such camera", body = ErrorBody),
    (status = 409, description = "`not_push` (not a push camera), `no_pipeline`", body = ErrorBody),
    (status = 413, description = "`too_large`: over `[service] push_max_body_bytes` or the queue's lines", body = ErrorBody),
    (status = 415, description = "`unsupported_encoding`", body = ErrorBody),
    (status = 429, description = "`queue_full`, with `Retry-After`", body = ErrorBody),
    (status = 503, description = "`stopping`, with `Retry-After`", body = ErrorBody),
))]
pub async fn camera(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Result<Json<Pushed>, ApiError> {
    push(state, Some(id), headers, body).await
}

/// `POST /api/v1/ingest`: detections JSON Lines of any push camera, routed by `camera_id`.
#[utoipa::path(post, path = "/ingest", tag = "push", request_body(content = String, description = "Detections JSON Lines of any push camera, routed by `camera_id` (gzip with `Content-Encoding: gzip`)", content_type = "text/plain"), responses(
    (status = 200, description = "Taken; the lines refused listed", body = Pushed),
    (status = 400, description = "`bad_request`: not valid gzip", body = ErrorBody),
    (status = 404, description = "`not_found`: a line's camera is unknown", body = ErrorBody),
    (status = 409, description = "`not_push` (no push camera, or a line's camera is not one), `no_pipeline`", body = ErrorBody),
    (status = 413, description = "`too_large`", body = ErrorBody),
    (status = 415, description = "`unsupported_encoding`", body = ErrorBody),
    (status = 429, description = "`queue_full`, with `Retry-After`", body = ErrorBody),
    (status = 503, description = "`stopping`, with `Retry-After`", body = ErrorBody),
))]
pub async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Pushed>, ApiError> {
    push(state, None, headers, body).await
}

async fn push(state: AppState, camera: Option<String>, headers: HeaderMap, body: Body) -> Result<Json<Pushed>, ApiError> {
    if state.live.analytics.is_none() {
        return Err(no_pipeline_running());
    }
    let inlets = state.live.push.clone().ok_or(PushError::NoPushCamera)?;
    let limit = state.live.push_max_body_bytes.max(1);
    let body = read_body(&headers, body, limit).await?;
    // Parsing a large body is CPU work: off the async threads.
    let pushed = tokio::task::spawn_blocking(move || inlets.push(camera.as_deref(), &body))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("the push parser failed: {e} (this is a bug)")))??;
    Ok(Json(pushed))
}

/// The body, gunzipped when `Content-Encoding: gzip`, refused with 413 past `limit` bytes.
pub(super) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge, format!("the body exceeds [service] push_max_body_bytes = {limit} bytes; send it in smaller pushes"));
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
        Some(other) => Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorKind::UnsupportedEncoding, format!("Content-Encoding {other:?} is not supported: send identity or gzip"))),
    }
}
