//! The HTTP API of `itscam serve` (axum): SQL over the lake, health, alerts (see
//! [`crate::alerts::routes`]), and the OpenAPI document.
//! `app(state)` builds the router so tests drive it without a socket.

use crate::alerts::{AlertHubHandle, routes as alerts};
use crate::format::json_rows;
use crate::sql::{QueryEngine, QueryError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

/// Media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Shared state of the HTTP handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// SQL over the lake.
    pub engine: QueryEngine,
    /// The lake URL, reported by `/health`.
    pub lake_url: Arc<str>,
    /// Video cameras of the running pipeline (empty for `itscam serve`).
    pub cameras: Arc<[Arc<itscam_operators::video::CameraStatus>]>,
    /// Rules and zones of the running pipeline (`None` for `itscam serve`).
    pub analytics: Option<crate::pipeline::AnalyticsHandles>,
    /// The alert hub of the running pipeline; `None` under `itscam serve` (the alert endpoints
    /// then read the lake's `alerts` table, and changes answer 503 `no_pipeline`).
    pub alerts: Option<AlertHubHandle>,
    /// Counters of the running pipeline (`GET /metrics`); `None` for `itscam serve`.
    pub run: Option<Arc<RunHandles>>,
}

/// Counters of a running pipeline, for `GET /metrics`.
#[derive(Debug)]
pub struct RunHandles {
    /// The run's counters.
    pub counters: Option<Arc<crate::counters::RunCounters>>,
    /// Detections sources' counters.
    pub feeds: Vec<Arc<itscam_operators::source::FeedStats>>,
    /// The lake writer (rows waiting).
    pub lake_pending: Option<itscam_sinks::PendingRows>,
}

impl AppState {
    /// SQL over `lake`, no cameras, no pipeline (what `itscam serve` runs).
    pub async fn open(lake: &itscam_sinks::Lake, limits: itscam_types::config::QueryConfig) -> Result<AppState, QueryError> {
        Ok(AppState {
            engine: QueryEngine::open(lake, limits).await?,
            lake_url: lake.url().into(),
            cameras: Arc::from(Vec::new()),
            analytics: None,
            alerts: None,
            run: None,
        })
    }

    /// With the video cameras of the running pipeline.
    pub fn with_cameras(mut self, cameras: Vec<Arc<itscam_operators::video::CameraStatus>>) -> AppState {
        self.cameras = Arc::from(cameras);
        self
    }

    /// With the running pipeline's alert hub.
    pub fn with_alerts(mut self, hub: AlertHubHandle) -> AppState {
        self.alerts = Some(hub);
        self
    }

    /// With the running pipeline's rules and zones.
    pub fn with_analytics(mut self, analytics: crate::pipeline::AnalyticsHandles) -> AppState {
        self.analytics = Some(analytics);
        self
    }
}

/// The router: `GET /health`, `GET /cameras`, `POST /query`, `GET /tables`, the alert endpoints
/// (`GET /alerts`, `GET /alerts/stream`, `GET /alerts/{id}`, `POST /alerts/{id}/acknowledge`,
/// `POST /alerts/{id}/resolve`), the rule endpoints (`GET /rules`, `GET|PUT|DELETE
/// /rules/{id}`), `GET /zones` and `GET /openapi.json`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/cameras", get(cameras))
        .route("/query", post(query))
        .route("/tables", get(tables))
        .route("/alerts", get(alerts::list))
        .route("/alerts/stream", get(alerts::stream))
        .route("/alerts/{id}", get(alerts::get_one))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/openapi.json", get(openapi))
        .route("/rules", get(crate::http_rules::list))
        .route("/rules/{id}", get(crate::http_rules::get_one).put(crate::http_rules::put).delete(crate::http_rules::delete))
        .route("/zones", get(crate::http_rules::zones))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "lake": &*state.lake_url, "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /cameras`: each video camera's health (connecting, up, reconnecting, down, finished), attempts,
/// last error and counters, and each calibrated camera's reprojection error, while
/// `itscam run --http` runs.
async fn cameras(State(state): State<AppState>) -> Json<serde_json::Value> {
    let cameras: Vec<_> = state.cameras.iter().map(|c| c.snapshot()).collect();
    let calibration = state.analytics.as_ref().map(|a| a.calibration.clone()).unwrap_or_default();
    Json(json!({ "cameras": cameras, "calibration": calibration }))
}

/// `GET /metrics`: Prometheus text format — the run's row counters, frames read, rows waiting
/// for the lake, video camera health, live rules, zone occupancy and alert lifecycle counts.
/// Under `itscam serve` only `itscam_up`.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    use std::sync::atomic::Ordering;
    let mut out = String::from("# HELP itscam_up The API answers.\n# TYPE itscam_up gauge\nitscam_up 1\n");
    if let Some(run) = &state.run {
        if let Some(c) = &run.counters {
            c.prometheus(&mut out);
        }
        let frames: u64 = run.feeds.iter().map(|f| f.frames.load(Ordering::Relaxed)).sum();
        let _ = writeln!(out, "# HELP itscam_source_frames_total Valid frames read from detections sources.\n# TYPE itscam_source_frames_total counter\nitscam_source_frames_total {frames}");
        if let Some(sink) = &run.lake_pending {
            let _ = writeln!(out, "# HELP itscam_lake_pending_rows Rows queued for the lake writer.\n# TYPE itscam_lake_pending_rows gauge\nitscam_lake_pending_rows {}", sink.get());
        }
    }
    if !state.cameras.is_empty() {
        let _ = writeln!(out, "# HELP itscam_camera_up Video camera health: 1 when up.\n# TYPE itscam_camera_up gauge");
        for c in state.cameras.iter() {
            let up = c.health() == itscam_types::CameraHealth::Up;
            let _ = writeln!(out, "itscam_camera_up{{camera_id=\"{}\"}} {}", c.camera_id(), u8::from(up));
        }
    }
    if let Some(a) = &state.analytics {
        let _ = writeln!(out, "# HELP itscam_rules Live rules.\n# TYPE itscam_rules gauge\nitscam_rules {}", a.rules.list().len());
        let zones = a.zones.lock().map(|z| z.clone()).unwrap_or_default();
        let _ = writeln!(out, "# HELP itscam_zone_occupancy Confirmed tracks inside the zone.\n# TYPE itscam_zone_occupancy gauge");
        for ((camera, zone), n) in zones {
            let _ = writeln!(out, "itscam_zone_occupancy{{camera_id=\"{camera}\",zone_id=\"{zone}\"}} {n}");
        }
    }
    if let Some(hub) = &state.alerts
        && let Ok(c) = hub.counters().await
    {
        for (name, v) in [("raised", c.raised), ("suppressed", c.suppressed), ("escalated", c.escalated), ("acknowledged", c.acknowledged), ("resolved", c.resolved)] {
            let _ = writeln!(out, "# TYPE itscam_alerts_{name}_total counter\nitscam_alerts_{name}_total {v}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

async fn tables() -> Json<serde_json::Value> {
    let tables: Vec<_> = itscam_sinks::Table::ALL
        .iter()
        .map(|t| {
            let columns: Vec<_> = t
                .table_schema()
                .fields()
                .iter()
                .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable() }))
                .collect();
            json!({ "name": t.name(), "partitioned_by": t.partition_columns(), "columns": columns })
        })
        .collect();
    Json(json!({ "tables": tables }))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}

/// An API error: a status and a JSON body `{"error": kind, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, kind (the `error` field) and message.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.kind, "message": self.message }))).into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let (status, kind) = match &e {
            QueryError::NotReadOnly(_) => (StatusCode::FORBIDDEN, "read_only"),
            QueryError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            QueryError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            QueryError::Execution(_) | QueryError::Lake(_) => (StatusCode::INTERNAL_SERVER_ERROR, "execution"),
        };
        ApiError { status, kind, message: e.to_string() }
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError { status: StatusCode::BAD_REQUEST, kind: "bad_request", message: message.into() }
}

/// `POST /query`: body `{"sql": "..."}` (JSON) or the SQL text itself (any other content type).
/// `Accept: application/vnd.apache.arrow.stream` returns an Arrow IPC stream, otherwise JSON.
async fn query(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let sql = if is_json {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            sql: String,
        }
        serde_json::from_slice::<Body>(&body).map_err(|e| bad_request(format!("body must be {{\"sql\": \"...\"}}: {e}")))?.sql
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| bad_request("the SQL text is not UTF-8"))?
    };
    if sql.trim().is_empty() {
        return Err(bad_request("empty query"));
    }
    let result = state.engine.run(&sql).await?;
    let wants_arrow = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(ARROW_STREAM));
    let internal = |e: &dyn std::fmt::Display| ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, kind: "encode", message: e.to_string() };
    if wants_arrow {
        let mut out = Vec::new();
        {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema).map_err(|e| internal(&e))?;
            for b in &result.batches {
                w.write(b).map_err(|e| internal(&e))?;
            }
            w.finish().map_err(|e| internal(&e))?;
        }
        let truncated = if result.truncated { "true" } else { "false" };
        return Ok(([(header::CONTENT_TYPE, ARROW_STREAM), (header::HeaderName::from_static("x-itscam-truncated"), truncated)], out).into_response());
    }
    let rows = json_rows(&result.batches).map_err(|e| internal(&e))?;
    let rows: serde_json::Value = serde_json::from_str(&rows).map_err(|e| internal(&e))?;
    let columns: Vec<_> = result.schema.fields().iter().map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() })).collect();
    Ok(Json(json!({ "columns": columns, "rows": rows, "row_count": result.row_count, "truncated": result.truncated })).into_response())
}

/// What a running pipeline shows through the HTTP API.
#[derive(Clone, Debug, Default)]
pub struct LiveHandles {
    /// Video cameras.
    pub cameras: Vec<Arc<itscam_operators::video::CameraStatus>>,
    /// Rules and zones.
    pub analytics: Option<crate::pipeline::AnalyticsHandles>,
    /// The alert hub.
    pub alerts: Option<AlertHubHandle>,
    /// The run's counters.
    pub counters: Option<Arc<crate::counters::RunCounters>>,
    /// Detections sources' counters.
    pub feeds: Vec<Arc<itscam_operators::source::FeedStats>>,
    /// The lake writer (rows waiting).
    pub lake_pending: Option<itscam_sinks::PendingRows>,
}

/// Starts the API on `runtime` for the duration of a run (`itscam run --http ADDR`).
pub fn serve_in_background(runtime: &tokio::runtime::Handle, addr: &str, lake: &itscam_sinks::Lake, limits: itscam_types::config::QueryConfig, live: LiveHandles) -> anyhow::Result<()> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let mut state = runtime.block_on(AppState::open(lake, limits))?.with_cameras(live.cameras);
    state.analytics = live.analytics;
    state.alerts = live.alerts;
    state.run = Some(Arc::new(RunHandles { counters: live.counters, feeds: live.feeds, lake_pending: live.lake_pending }));
    eprintln!("itscam run: HTTP API on http://{}", listener.local_addr()?);
    runtime.spawn(async move {
        if let Err(e) = axum::serve(listener, app(state)).await {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    });
    Ok(())
}
