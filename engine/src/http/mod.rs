//! The HTTP API (axum), one module per resource: [`query`] (SQL, tables), [`cameras`],
//! [`rules`] (rules and zones), [`alerts`], [`metrics`] (Prometheus) and [`health`] (health,
//! the OpenAPI document). Handlers read the lake through [`QueryEngine`] and a running
//! pipeline through [`Live`] only. `app(state)` builds the router, so tests drive it without a
//! socket. The OpenAPI document is generated from the handlers' `#[utoipa::path]` entries and
//! types ([`openapi`]): a route is added with its entry ([`routes`]), never without.

pub mod alerts;
pub mod auth;
pub mod cameras;
pub mod dashboard;
mod document;
mod error;
pub mod evidence;
mod guard;
pub mod health;
mod junction;
pub mod lake;
pub mod live_feed;
pub mod metrics;
pub mod permissions;
pub mod push;
pub mod query;
pub mod rules;
pub mod serve;
pub mod tls;
pub mod models;
pub mod users;

pub use error::{ApiError, ErrorBody, ErrorKind};
pub(crate) use error::{bad_request, no_pipeline, no_pipeline_running};

use crate::alerts::AlertHubHandle;
use crate::audit::Audit;
use crate::auth::Auth;
use crate::live::Live;
use crate::sql::{QueryEngine, QueryError};
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
    /// Who the callers are ([`Auth::off`] unless `[auth] enabled`).
    pub auth: Auth,
    /// The audit trail.
    pub audit: Audit,
    /// `[http] max_body_bytes`.
    pub max_body_bytes: usize,
    /// `[http] cors_origins`.
    pub cors_origins: Arc<[String]>,
    /// The lake's model registry.
    pub registry: crate::models::Registry,
    /// `[model]` and `[models]`, for registrations over the API.
    pub models: Arc<(itscam_types::config::ModelConfig, itscam_types::config::ModelsConfig)>,
}

impl AppState {
    /// SQL over `lake`, no pipeline (what `itscam serve` runs).
    pub async fn open(lake: &itscam_sinks::Lake, limits: itscam_types::config::QueryConfig) -> Result<AppState, QueryError> {
        Ok(AppState::new(QueryEngine::open(lake, limits).await?, lake))
    }

    /// `engine` over `lake`: no pipeline, auth off, an audit trail kept in memory only.
    pub fn new(engine: QueryEngine, lake: &itscam_sinks::Lake) -> AppState {
        AppState {
            engine,
            lake_url: lake.url().into(),
            live: Arc::default(),
            auth: Auth::off(),
            audit: Audit::default(),
            max_body_bytes: itscam_types::config::HttpConfig::default().max_body_bytes,
            cors_origins: Arc::new([]),
            registry: crate::models::Registry::new(lake.clone(), itscam_types::config::ModelsConfig::default().cache_dir),
            models: Arc::default(),
        }
    }

    /// With these identities and this audit trail (its rows readable in the `audit` table).
    pub fn with_security(mut self, lake: &itscam_sinks::Lake, auth: Auth, audit: Audit) -> Result<AppState, QueryError> {
        self.engine = self.engine.with_audit(lake, audit.clone())?;
        self.auth = auth;
        self.audit = audit;
        Ok(self)
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
    let router = router
        .merge(moved)
        // After every route: each one is guarded (permission table, credentials, rate, audit).
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body_bytes));
    let router = match cors(&state.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.with_state(state)
}

/// CORS for the configured origins (`[http] cors_origins`); none: no CORS headers at all.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, HeaderName::from_static("x-api-key")]),
    )
}

/// Every documented route: at the root `GET /health` and `GET /metrics` (the orchestrator and
/// Prometheus conventions) and the dashboard (`GET /`, `GET /assets/{file}`), the rest under
/// [`API_V1`] ([`routes`]).
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document::Frame::openapi())
        .routes(routes!(health::health))
        .routes(routes!(metrics::metrics))
        .routes(routes!(dashboard::index))
        .routes(routes!(dashboard::asset))
        .nest(API_V1, routes())
}

/// The versioned routes, each with its document entry: `GET /openapi.json`, the cameras
/// (`GET|POST /cameras`, `GET|PUT|DELETE /cameras/{id}`, the live view `GET /cameras/{id}/live`), pushed detections
/// (`POST /cameras/{id}/detections`, `POST /ingest`) and signal states (`POST /signals`),
/// `POST /query`, `GET /tables`, the alerts (`GET /alerts`, `GET /alerts/stream`,
/// `GET /alerts/{id}`, `POST /alerts/{id}/acknowledge`, `POST /alerts/{id}/resolve`), the
/// evidence (`GET /alerts/{id}/evidence`, `GET /alerts/{id}/evidence/{name}`, the newest frame
/// `GET /cameras/{id}/frame`), the rules (`GET /rules`, `GET|PUT|DELETE /rules/{id}`),
/// `GET /zones`, the users, the models and the erasure `POST /lake/forget`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::openapi))
        .routes(routes!(cameras::list, cameras::add))
        .routes(routes!(cameras::get_one, cameras::replace, cameras::remove))
        .routes(routes!(live_feed::live))
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
        .routes(routes!(evidence::index))
        .routes(routes!(evidence::item))
        .routes(routes!(evidence::frame))
        .routes(routes!(junction::turning_counts))
        .routes(routes!(rules::list))
        .routes(routes!(rules::get_one, rules::put, rules::delete))
        .routes(routes!(rules::check))
        .routes(routes!(rules::plan))
        .routes(routes!(rules::backfill, rules::backfill_progress))
        .routes(routes!(rules::zones))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::totp))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::get_one, users::change))
        .routes(routes!(users::add_key))
        .routes(routes!(users::revoke_key))
        .routes(routes!(models::list))
        .routes(routes!(models::get_one, models::register))
        .routes(routes!(models::promote))
        .routes(routes!(models::rollback))
        .routes(routes!(lake::forget))
}

/// The OpenAPI 3.1 document of [`app`], served at `GET /api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = documented().split_for_parts();
    document::secure(&mut doc);
    doc
}

/// The paths served before the API was versioned; each now redirects to [`API_V1`] + path.
pub(crate) const UNVERSIONED: [&str; 12] = [
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
/// With `unwritten`, queries also read what the pipeline's lake writer holds. Returns the API's
/// audit trail (flush it when the run ends).
pub fn serve_in_background(runtime: &tokio::runtime::Handle, addr: &str, lake: &itscam_sinks::Lake, config: &itscam_types::config::PipelineConfig, options: &serve::ServeOptions, unwritten: Option<itscam_sinks::UnwrittenRows>, live: Live) -> anyhow::Result<Audit> {
    let limits = config.query.clone();
    let bound = runtime.block_on(serve::bind(addr, options))?;
    let state = runtime.block_on(async {
        let engine = match unwritten {
            Some(unwritten) => QueryEngine::open_fresh(lake, limits, unwritten).await?,
            None => QueryEngine::open(lake, limits).await?,
        };
        serve::secure(AppState::new(engine, lake).with_live(live), lake, options).await
    })?;
    eprintln!("itscam: HTTP API on {}://{} (lake {})", bound.scheme(), bound.local, lake.url());
    let audit = state.audit.clone();
    runtime.spawn(async move {
        if let Err(e) = serve::serve(bound, state, std::future::pending()).await {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    });
    Ok(audit)
}
