//! `GET /health` and `GET /api/v1/openapi.json`.

use super::AppState;
use crate::run::edge_sync::SyncView;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use itscam_sinks::HealthState;
use serde::Serialize;
use std::sync::LazyLock;
use utoipa::ToSchema;

/// The answer of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the API answers.
    #[schema(value_type = String, pattern = "^ok$")]
    pub status: &'static str,
    /// The lake's URL.
    pub lake: String,
    /// With a running pipeline: whether its writer reaches the lake.
    pub lake_health: Option<LakeHealthView>,
    /// The version of itscam.
    #[schema(value_type = String)]
    pub version: &'static str,
    /// With `[lake.sync]`: whether the central lake is caught up.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub lake_sync: Option<SyncView>,
}

/// The lake writer's state and that state in one line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LakeHealthView {
    /// The state.
    #[serde(flatten)]
    pub state: HealthState,
    /// The state in one line.
    pub summary: String,
}

/// `GET /health`: the API answers; the lake it serves; the version.
/// With a running pipeline, `lake_health` says whether its writer reaches the lake: `up`;
/// `degraded` while it waits an outage out or ships the spool (since when, tries, the store's
/// last answer, what the spool holds); `down` while the writer waits (no spool, or a full one
/// under `block`), with the state in one line (`summary`). With `[lake.sync]`, `lake_sync`
/// says whether the central lake is caught up (`synced`) or `behind`, and the lag.
#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, description = "The API answers", body = Health)))]
pub(super) async fn health(State(state): State<AppState>) -> Json<Health> {
    let lake_health = state.live.lake_health.as_ref().map(|h| LakeHealthView { state: h.get(), summary: h.describe() });
    let lake_sync = state.live.lake_sync.as_ref().map(|s| s.get());
    Json(Health { status: "ok", lake: state.lake_url.to_string(), lake_health, version: env!("CARGO_PKG_VERSION"), lake_sync })
}

/// The document, serialized once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| super::openapi().to_json().expect("the OpenAPI document serializes"));

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 document, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}
