//! `GET /api/v1/cameras/{id}/turning-counts`: a junction camera's turning movement count report
//! as CSV ([`crate::report`]), for dashboards and the traffic engineers' tools.

use super::error::{ApiError, ErrorBody, ErrorKind, bad_request};
use super::AppState;
use crate::auth::Identity;
use crate::report;
use crate::sql::Scope;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use utoipa::IntoParams;

/// The longest range one report covers (31 days): its rows stay bounded.
const MAX_RANGE_MS: u64 = 31 * 86_400_000;

/// The query of `GET /api/v1/cameras/{id}/turning-counts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RangeQuery {
    /// Bins that start at or after this event time (ms since the Unix epoch).
    #[param(value_type = u64, minimum = 0)]
    from: String,
    /// … and before this one (at most 31 days after `from`).
    #[param(value_type = u64, minimum = 0)]
    to: String,
}

/// A query string's time: whole ms since the epoch.
fn ms(name: &str, text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| bad_request(format!("{name} must be ms since the Unix epoch (a whole number ≥ 0), got {text:?}")))
}

/// `GET /api/v1/cameras/{id}/turning-counts?from=&to=`: the camera's turning movement counts
/// per bin and class as CSV — columns `<approach> left|through|right|u_turn|total` (approaches
/// in the order of the camera's config when the pipeline runs here, else sorted),
/// `<crosswalk> pedestrians`, `intersection total`; the newest revision of each count.
#[utoipa::path(get, path = "/cameras/{id}/turning-counts", tag = "cameras", params(("id" = String, Path, description = "The camera's id"), RangeQuery), responses(
    (status = 200, description = "The report (a header line and nothing else when the camera has no counts in the range)", content_type = "text/csv", body = String),
    (status = 400, description = "`bad_request`: `from` or `to` not a whole number of ms", body = ErrorBody),
    (status = 422, description = "`bad_request`: `from` not before `to`, or a range over 31 days", body = ErrorBody),
    (status = 404, description = "`not_found`: a camera the caller does not see", body = ErrorBody),
))]
pub(super) async fn turning_counts(
    State(state): State<AppState>,
    Extension(me): Extension<Identity>,
    Path(id): Path<String>,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // A missing or malformed parameter is the API's JSON error, like every other refusal.
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    if !me.sees(&id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("no camera {id:?}")));
    }
    let (from, to) = (ms("from", &q.from)?, ms("to", &q.to)?);
    if from >= to || to - from > MAX_RANGE_MS {
        return Err(super::lake::unprocessable(format!("from ({from}) must be before to ({to}), at most 31 days apart")));
    }
    let scope = Scope { role: me.role, cameras: me.cameras.clone() };
    let counts = report::turning_counts(&state.engine, &scope, &id, from, to).await?;
    let configured = state.live.runtime_cameras.as_ref().and_then(|h| h.cameras.control.get(&id)).map(|c| c.camera);
    let (approaches, crosswalks) = match configured {
        Some(c) if !c.approach.is_empty() || !c.crosswalk.is_empty() => (c.approach.iter().map(|a| a.id.clone()).collect(), c.crosswalk.iter().map(|w| w.id.clone()).collect()),
        _ => report::sites_of(&counts),
    };
    let mut response = report::render(&counts, &approaches, &crosswalks).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    Ok(response)
}
