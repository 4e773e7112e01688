//! `GET /health` and `GET /api/v1/openapi.json`.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

/// `GET /health`: the API answers; the lake it serves; the version.
/// With a running pipeline, `lake_health` says whether its writer reaches the lake: `up`;
/// `degraded` while it waits an outage out or ships the spool (since when, tries, the store's
/// last answer, what the spool holds); `down` while the writer waits (no spool, or a full one
/// under `block`), with the state in one line (`summary`). With `[lake.sync]`, `lake_sync`
/// says whether the central lake is caught up (`synced`) or `behind`, and the lag.
pub(super) async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    let lake_health = state.live.lake_health.as_ref().map(|h| {
        let mut v = serde_json::to_value(h.get()).unwrap_or_default();
        v["summary"] = json!(h.describe());
        v
    });
    let mut body = json!({ "status": "ok", "lake": &*state.lake_url, "lake_health": lake_health, "version": env!("CARGO_PKG_VERSION") });
    if let Some(sync) = &state.live.lake_sync {
        body["lake_sync"] = serde_json::to_value(sync.get()).unwrap_or_default();
    }
    Json(body)
}

/// `GET /api/v1/openapi.json`.
pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}
