//! The HTTP API of `itscam serve` (axum): SQL over the lake, health, and the OpenAPI document.
//! `app(state)` builds the router so tests drive it without a socket.

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
}

/// The router: `GET /health`, `GET /cameras`, `POST /query`, `GET /tables`, `GET /openapi.json`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/cameras", get(cameras))
        .route("/query", post(query))
        .route("/tables", get(tables))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "lake": &*state.lake_url, "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /cameras`: each video camera's health (connecting, up, reconnecting, down), attempts,
/// last error and counters, while `itscam run --http` runs.
async fn cameras(State(state): State<AppState>) -> Json<serde_json::Value> {
    let cameras: Vec<_> = state.cameras.iter().map(|c| c.snapshot()).collect();
    Json(json!({ "cameras": cameras }))
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

/// Starts the API on `runtime` for the duration of a run (`itscam run --http ADDR`).
pub fn serve_in_background(
    runtime: &tokio::runtime::Handle,
    addr: &str,
    lake: &itscam_sinks::Lake,
    limits: itscam_types::config::QueryConfig,
    cameras: Vec<Arc<itscam_operators::video::CameraStatus>>,
) -> anyhow::Result<()> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let engine = runtime.block_on(QueryEngine::open(lake, limits))?;
    eprintln!("itscam run: HTTP API on http://{}", listener.local_addr()?);
    let state = AppState { engine, lake_url: lake.url().into(), cameras: Arc::from(cameras) };
    runtime.spawn(async move {
        if let Err(e) = axum::serve(listener, app(state)).await {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    });
    Ok(())
}
