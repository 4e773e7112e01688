//! `GET /api/v1/cameras`: each video camera's health and each calibrated camera's fit.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::json;

/// `GET /api/v1/cameras`: each video camera's health (connecting, up, reconnecting, down, finished), attempts,
/// last error and counters, and each calibrated camera's reprojection error, while
/// `itscam run --http` runs.
pub(super) async fn list(State(state): State<AppState>) -> Json<serde_json::Value> {
    let cameras: Vec<_> = state.live.cameras.iter().map(|c| c.snapshot()).collect();
    let calibration = state.live.analytics.as_ref().map(|a| a.calibration.clone()).unwrap_or_default();
    Json(json!({ "cameras": cameras, "calibration": calibration }))
}
