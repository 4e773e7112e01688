//! `GET /health` and `GET /api/v1/openapi.json`.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

/// `GET /health`: the API answers; the lake it serves; the version.
/// With a running pipeline, `lake_health` says whether its writer reaches the lake: `up`, or
/// `degraded` (since when, tries, the store's last answer) while it waits an outage out.
pub(super) async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    let lake_health = state.live.lake_health.as_ref().map(|h| h.get());
    Json(json!({ "status": "ok", "lake": &*state.lake_url, "lake_health": lake_health, "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /api/v1/openapi.json`.
pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}
