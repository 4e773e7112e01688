//! Erasure over HTTP (admins): `POST /api/v1/lake/forget` removes one camera's rows of a time
//! range from every table of the lake, and its evidence, through the commit log — what
//! `itscam lake forget` does ([`itscam_sinks::Lake::forget`]).
//!
//! The work is bounded: a range of at most [`MAX_RANGE_MS`] per request (longer ones: the CLI,
//! or several requests), one erasure at a time per process (`busy` otherwise), and at most
//! [`FORGET_TIMEOUT`]; an erasure stopped before its commit changes nothing visible (the files
//! it wrote are orphans that vacuum deletes), and running it again finishes it.

use super::guard::noted;
use super::{ApiError, AppState, ErrorBody, ErrorKind, bad_request};
use crate::auth::Identity;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use itscam_sinks::{ForgetReport, SinkError};
use serde::Deserialize;
use std::time::Duration;

/// The longest range one request may erase (31 days).
pub const MAX_RANGE_MS: u64 = 31 * 86_400_000;
/// How long one erasure may take.
pub const FORGET_TIMEOUT: Duration = Duration::from_secs(300);

/// One erasure at a time: two would race for the same files (the second one's commit would
/// conflict and be tried again).
static FORGETTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// What to erase.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// The camera.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    pub camera_id: String,
    /// Start of the range, inclusive (event time, ms since the Unix epoch).
    #[serde(deserialize_with = "whole_ms")]
    pub from_ms: u64,
    /// End of the range, exclusive; at most 31 days after `from_ms`.
    #[serde(deserialize_with = "whole_ms")]
    pub to_ms: u64,
}

/// A whole number of milliseconds ≥ 0, also written with a fraction (`1000.0`): JSON Schema
/// counts that as an integer, and so does the API's document.
pub(crate) fn whole_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        // 2^64 is the first float past u64::MAX.
        Some(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => Ok(f as u64),
        _ => Err(D::Error::custom(format!("{n} is not a whole number of milliseconds ≥ 0"))),
    }
}

/// `POST /api/v1/lake/forget`: `{"camera_id", "from_ms", "to_ms"}` → what was removed.
///
/// Removes, through one commit of the lake's log, the camera's rows whose event time is in
/// `[from_ms, to_ms)` from every table (files holding such rows are rewritten without them)
/// and its evidence of violations that started in the range. The old files are deleted by the
/// next vacuum after `[lake.compaction] grace_ms`: the erasure is complete then. A repeated
/// request finds nothing and changes nothing. Admins only; a scoped admin only for their
/// cameras.
#[utoipa::path(post, path = "/lake/forget", tag = "lake", request_body = ForgetRequest, responses(
    (status = 200, description = "Erased (`commit` is null when nothing matched)", body = ForgetReport),
    (status = 400, description = "`bad_request`: not a forget body, a bad camera id", body = ErrorBody),
    (status = 422, description = "`bad_request`: an empty range, or one longer than 31 days", body = ErrorBody),
    (status = 403, description = "`forbidden`: the camera is outside the caller's camera scopes", body = ErrorBody),
    (status = 404, description = "`not_found`: no such camera in this pipeline, and nothing of it in the lake's partitions (days) of the range", body = ErrorBody),
    (status = 429, description = "`busy`: another erasure is running (`Retry-After`)", body = ErrorBody),
    (status = 502, description = "`execution`: the lake's storage failed, or a file cannot be read", body = ErrorBody),
    (status = 503, description = "`execution`: the lake is unreachable, or another change raced (`Retry-After`)", body = ErrorBody),
    (status = 504, description = "`timeout`: stopped before its commit; run it again", body = ErrorBody),
))]
pub(super) async fn forget(State(state): State<AppState>, Extension(me): Extension<Identity>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let r: ForgetRequest = serde_json::from_slice(&body).map_err(|e| bad_request(format!(r#"body must be {{"camera_id", "from_ms", "to_ms"}}: {e}"#)))?;
    if r.camera_id.is_empty() || r.camera_id.contains('/') {
        return Err(bad_request(format!("{:?} is not a camera id", r.camera_id)));
    }
    if r.from_ms >= r.to_ms {
        return Err(unprocessable(format!("empty range: from_ms ({}) must be before to_ms ({})", r.from_ms, r.to_ms)));
    }
    if r.to_ms - r.from_ms > MAX_RANGE_MS {
        return Err(unprocessable(format!("the range is longer than 31 days ({} ms): split it, or use `itscam lake forget`", r.to_ms - r.from_ms)));
    }
    if !me.sees(&r.camera_id) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, format!("camera {:?} is outside your camera scopes", r.camera_id)));
    }
    let Ok(_permit) = FORGETTING.try_acquire() else {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::Busy, "another erasure is running in this process").retry_after(Duration::from_secs(5)));
    };
    let lake = state.registry.lake().clone();
    let run_id = format!("forget-{}", itscam_types::time::now_ms());
    let report = match tokio::time::timeout(FORGET_TIMEOUT, lake.forget(&r.camera_id, r.from_ms, r.to_ms, &run_id)).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => return Err(forget_error(&e)),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::Timeout,
                format!("the erasure took more than {} s and was stopped before its commit (or its commit's answer was lost): run it again, over a shorter range, or with `itscam lake forget`", FORGET_TIMEOUT.as_secs()),
            ));
        }
    };
    if !report.camera_seen && !known_camera(&state, &r.camera_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            format!("no camera {:?} in this pipeline, and nothing of it in the lake's partitions of {}..{}", r.camera_id, r.from_ms, r.to_ms),
        ));
    }
    let detail = report.summary();
    Ok(noted(Json(report), &detail))
}

/// Whether the camera is one of this process's pipeline.
fn known_camera(state: &AppState, id: &str) -> bool {
    state.live.cameras.list().iter().any(|c| c.snapshot().camera_id == id)
        || state.live.runtime_cameras.as_ref().is_some_and(|h| h.cameras.control.get(id).is_some())
        || state.live.push.as_ref().is_some_and(|p| p.status().iter().any(|s| s.camera_id == id))
}

fn forget_error(e: &SinkError) -> ApiError {
    match e {
        SinkError::InvalidRequest(m) => bad_request(m.clone()),
        e => ApiError::blamed(e, ErrorKind::Execution, StatusCode::BAD_REQUEST),
    }
}

/// A well-formed request that cannot be done (its range): 422, as the schema cannot say it.
pub(crate) fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::BadRequest, message)
}
