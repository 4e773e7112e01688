//! `GET /api/v1/cameras`: each video camera's health and each calibrated camera's fit.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::json;

/// `GET /api/v1/cameras`: each video camera's health (connecting, up, reconnecting, down, finished), attempts,
/// last error and counters, each calibrated camera's reprojection error, and each push camera's
/// queue (`queued_lines`, `queue_limit`, `accepting`) and counters, while a pipeline runs.
pub(super) async fn list(State(state): State<AppState>) -> Json<serde_json::Value> {
    let cameras: Vec<_> = state.live.cameras.iter().map(|c| c.snapshot()).collect();
    let calibration = state.live.analytics.as_ref().map(|a| a.calibration.clone()).unwrap_or_default();
    let push = state.live.push.as_ref().map(|p| p.status()).unwrap_or_default();
    Json(json!({ "cameras": cameras, "calibration": calibration, "push": push }))
}
