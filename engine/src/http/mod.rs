//! The HTTP API (axum), one module per resource: [`query`] (SQL, tables), [`cameras`],
//! [`rules`] (rules and zones), [`alerts`], [`metrics`] (Prometheus) and [`health`] (health,
//! the OpenAPI document). Handlers read the lake through [`QueryEngine`] and a running
//! pipeline through [`Live`] only. `app(state)` builds the router, so tests drive it without a
//! socket.

pub mod alerts;
pub mod cameras;
mod error;
pub mod health;
pub mod metrics;
pub mod query;
pub mod rules;

pub use error::ApiError;
pub(crate) use error::bad_request;

use crate::alerts::AlertHubHandle;
use crate::live::Live;
use crate::sql::{QueryEngine, QueryError};
use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
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
    /// The running pipeline's handles ([`Live::default`] under `itscam serve`: the alert
    /// endpoints then read the lake's `alerts` table, and changes answer 503 `no_pipeline`).
    pub live: Arc<Live>,
}

impl AppState {
    /// SQL over `lake`, no pipeline (what `itscam serve` runs).
    pub async fn open(lake: &itscam_sinks::Lake, limits: itscam_types::config::QueryConfig) -> Result<AppState, QueryError> {
        Ok(AppState { engine: QueryEngine::open(lake, limits).await?, lake_url: lake.url().into(), live: Arc::default() })
    }

    /// With a running pipeline's handles.
    pub fn with_live(mut self, live: Live) -> AppState {
        self.live = Arc::new(live);
        self
    }

    /// With a running pipeline's alert hub (and nothing else of it).
    pub fn with_alerts(self, hub: AlertHubHandle) -> AppState {
        let live = Live { alerts: Some(hub), ..Live::clone(&self.live) };
        self.with_live(live)
    }
}

/// The router: `GET /health`, `GET /cameras`, `POST /query`, `GET /tables`, the alert endpoints
/// (`GET /alerts`, `GET /alerts/stream`, `GET /alerts/{id}`, `POST /alerts/{id}/acknowledge`,
/// `POST /alerts/{id}/resolve`), the rule endpoints (`GET /rules`, `GET|PUT|DELETE
/// /rules/{id}`), `GET /zones`, `GET /metrics` and `GET /openapi.json`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(health::openapi))
        .route("/cameras", get(cameras::list))
        .route("/query", post(query::query))
        .route("/tables", get(query::tables))
        .route("/alerts", get(alerts::list))
        .route("/alerts/stream", get(alerts::stream))
        .route("/alerts/{id}", get(alerts::get_one))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/rules", get(rules::list))
        .route("/rules/{id}", get(rules::get_one).put(rules::put).delete(rules::delete))
        .route("/zones", get(rules::zones))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}

/// Starts the API on `runtime` for the duration of a run (`itscam run --http ADDR`).
pub fn serve_in_background(runtime: &tokio::runtime::Handle, addr: &str, lake: &itscam_sinks::Lake, limits: itscam_types::config::QueryConfig, live: Live) -> anyhow::Result<()> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).with_context(|| format!("cannot listen on {addr}"))?;
    let state = runtime.block_on(AppState::open(lake, limits))?.with_live(live);
    eprintln!("itscam run: HTTP API on http://{}", listener.local_addr()?);
    runtime.spawn(async move {
        if let Err(e) = axum::serve(listener, app(state)).await {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    });
    Ok(())
}
