//! The HTTP API (axum), one module per resource: [`query`] (SQL, tables), [`cameras`],
//! [`rules`] (rules and zones), [`alerts`], [`metrics`] (Prometheus) and [`health`] (health,
//! the OpenAPI document). Handlers read the lake through [`QueryEngine`] and a running
//! pipeline through [`Live`] only. `app(state)` builds the router, so tests drive it without a
//! socket. The OpenAPI document is generated from the handlers' `#[utoipa::path]` entries and
//! types ([`openapi`]): a route is added with its entry ([`routes`]), never without.

pub mod alerts;
pub mod cameras;
mod document;
mod error;
pub mod health;
pub mod metrics;
pub mod push;
pub mod query;
pub mod rules;

pub use document::PUBLIC;
pub use error::{ApiError, ErrorBody, ErrorKind};
pub(crate) use error::{bad_request, no_pipeline, no_pipeline_running};

use crate::alerts::AlertHubHandle;
use crate::live::Live;
use crate::sql::{QueryEngine, QueryError};
use anyhow::Context;
use axum::Router;
use axum::routing::any;
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The prefix of every versioned route.
pub const API_V1: &str = "/api/v1";

/// The router: [`documented`]'s routes, and the unversioned paths of earlier releases, which
/// answer `308 Permanent Redirect` to their v1 path (method and body kept).
pub fn app(state: AppState) -> Router {
    let (router, _) = documented().split_for_parts();
    let moved = UNVERSIONED.iter().fold(Router::new(), |r, path| r.route(path, any(to_v1)));
    router.merge(moved).with_state(state)
}

/// Every documented route: at the root `GET /health` and `GET /metrics` (the orchestrator and
/// Prometheus conventions), the rest under [`API_V1`] ([`routes`]).
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document::Frame::openapi())
        .routes(routes!(health::health))
        .routes(routes!(metrics::metrics))
        .nest(API_V1, routes())
}

/// The versioned routes, each with its document entry: `GET /openapi.json`, the cameras
/// (`GET|POST /cameras`, `GET|PUT|DELETE /cameras/{id}`), pushed detections
/// (`POST /cameras/{id}/detections`, `POST /ingest`) and signal states (`POST /signals`),
/// `POST /query`, `GET /tables`, the alerts (`GET /alerts`, `GET /alerts/stream`,
/// `GET /alerts/{id}`, `POST /alerts/{id}/acknowledge`, `POST /alerts/{id}/resolve`), the
/// rules (`GET /rules`, `GET|PUT|DELETE /rules/{id}`) and `GET /zones`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::openapi))
        .routes(routes!(cameras::list, cameras::add))
        .routes(routes!(cameras::get_one, cameras::replace, cameras::remove))
        .routes(routes!(push::camera))
        .routes(routes!(push::ingest))
        .routes(routes!(push::signals))
        .routes(routes!(query::query))
        .routes(routes!(query::tables))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::stream))
        .routes(routes!(alerts::get_one))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
        .routes(routes!(rules::list))
        .routes(routes!(rules::get_one, rules::put, rules::delete))
        .routes(routes!(rules::zones))
}

/// The OpenAPI 3.1 document of [`app`], served at `GET /api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = documented().split_for_parts();
    document::secure(&mut doc);
    doc
}

/// The paths served before the API was versioned; each now redirects to [`API_V1`] + path.
const UNVERSIONED: [&str; 12] = [
    "/openapi.json",
    "/cameras",
    "/query",
    "/tables",
    "/alerts",
    "/alerts/stream",
    "/alerts/{id}",
    "/alerts/{id}/acknowledge",
    "/alerts/{id}/resolve",
    "/rules",
    "/rules/{id}",
    "/zones",
];

/// `308` to the same path and query under [`API_V1`] (308, unlike 301, keeps method and body).
async fn to_v1(uri: axum::http::Uri) -> axum::response::Redirect {
    let rest = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    axum::response::Redirect::permanent(&format!("{API_V1}{rest}"))
}

/// Starts the API on `runtime` for the duration of a run (`itscam run --http ADDR`, `itscam serve
/// --config FILE`).
/// With `unwritten`, queries also read what the pipeline's lake writer holds.
pub fn serve_in_background(runtime: &tokio::runtime::Handle, addr: &str, lake: &itscam_sinks::Lake, limits: itscam_types::config::QueryConfig, unwritten: Option<itscam_sinks::UnwrittenRows>, live: Live) -> anyhow::Result<()> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).with_context(|| format!("cannot listen on {addr}"))?;
    let engine = match unwritten {
        Some(unwritten) => runtime.block_on(QueryEngine::open_fresh(lake, limits, unwritten))?,
        None => runtime.block_on(QueryEngine::open(lake, limits))?,
    };
    let state = AppState { engine, lake_url: lake.url().into(), live: Arc::new(live) };
    eprintln!("itscam: HTTP API on http://{} (lake {})", listener.local_addr()?, lake.url());
    runtime.spawn(async move {
        // The peer's address is who makes a change (no identities yet).
        if let Err(e) = axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>()).await {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    });
    Ok(())
}
