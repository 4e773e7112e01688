//! The model registry (README "Models"): `GET /api/v1/models` (every version, its stage, and
//! what the running pipeline's inference threads run), `GET /api/v1/models/{model}`
//! (`name@version`: manifest, validation, stage history), `POST /api/v1/models/{model}/promote`
//! (admins; `{"stage": "staging" | "canary" | "production" | "retired"}`) and
//! `POST /api/v1/models/{model}/rollback` (admins; `{model}` is the name). Changes are
//! control-log entries and take effect in the running pipeline at once (hot swap).
//! Registration is `itscam models register` (it runs the model on sample video frames).

use super::guard::noted;
use super::{ApiError, AppState, ErrorBody, ErrorKind, bad_request};
use crate::auth::Identity;
use crate::models::stages::StageChange;
use crate::models::{Manifest, RegistryError, Stage};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A registered version in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    /// `name@version`.
    pub id: String,
    /// Its stage (`None` when the control log has no entry for it).
    pub stage: Option<Stage>,
    /// The manifest.
    pub manifest: Manifest,
}

/// What the running pipeline's inference threads run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Serving {
    /// The registry name the cameras follow (`[model] registry`), if any.
    pub follows: Option<String>,
    /// The routing's generation (each promotion, canary change or rollback publishes one).
    pub generation: u64,
    /// Production version.
    pub production: Option<String>,
    /// Canary version and its share of the cameras (percent).
    pub canary: Option<(String, u8)>,
    /// Shadow candidate and its share of the frames.
    pub shadow: Option<(String, f32)>,
    /// Pinned cameras → version.
    pub pinned: BTreeMap<String, String>,
    /// Per inference thread: the generation it runs (equal to `generation` once the swap is done).
    pub threads: BTreeMap<usize, u64>,
    /// The latest generation that could not be loaded, and why.
    pub failed: Option<(u64, String)>,
}

/// `GET /api/v1/models`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    /// Every registered version, by name and version.
    pub models: Vec<ModelView>,
    /// The running pipeline's models (absent without a pipeline running video).
    pub serving: Option<Serving>,
}

/// `GET /api/v1/models/{model}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelDetail {
    /// The version.
    #[serde(flatten)]
    pub model: ModelView,
    /// Its stage changes, oldest first.
    pub history: Vec<StageChange>,
}

fn registry_error(e: RegistryError) -> ApiError {
    match &e {
        RegistryError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, e.to_string()),
        RegistryError::Invalid(_) | RegistryError::Exists { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidModel, e.to_string()),
        RegistryError::Stage(_) => ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, e.to_string()),
        _ => ApiError::blamed(&e, ErrorKind::ControlLog, StatusCode::BAD_REQUEST),
    }
}

fn serving(state: &AppState) -> Option<Serving> {
    let live = state.live.models.as_ref()?;
    let board = live.board();
    let (generation, r) = board.current();
    Some(Serving {
        follows: live.follows().map(str::to_string),
        generation,
        production: r.production.as_ref().map(|s| s.version.to_string()),
        canary: r.canary.as_ref().map(|(s, p)| (s.version.to_string(), *p)),
        shadow: r.shadow.as_ref().map(|(s, p)| (s.version.to_string(), *p)),
        pinned: r.pinned.iter().map(|(c, s)| (c.clone(), s.version.to_string())).collect(),
        threads: board.adoptions().into_iter().map(|(t, a)| (t, a.generation)).collect(),
        failed: board.failure(),
    })
}

/// `GET /api/v1/models`.
#[utoipa::path(get, path = "/models", tag = "models", responses(
    (status = 200, description = "Every registered version and what the pipeline runs", body = ModelList),
    (status = 502, description = "`control_log`: the lake refused", body = ErrorBody),
    (status = 503, description = "`control_log`: the lake did not answer", body = ErrorBody),
))]
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let stages = state.registry.stages().await.map_err(registry_error)?;
    let models = state.registry.manifests().await.map_err(registry_error)?;
    let models = models.into_iter().map(|m| ModelView { id: m.id(), stage: stages.stage(&m.id()), manifest: m }).collect();
    Ok(Json(ModelList { models, serving: serving(&state) }))
}

/// `GET /api/v1/models/{model}`.
#[utoipa::path(get, path = "/models/{model}", tag = "models", params(("model" = String, Path, description = "NAME@VERSION")), responses(
    (status = 200, description = "The version", body = ModelDetail),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 422, description = "`invalid_model`: not NAME@VERSION", body = ErrorBody),
    (status = 502, description = "`control_log`: the lake refused", body = ErrorBody),
    (status = 503, description = "`control_log`: the lake did not answer", body = ErrorBody),
))]
pub(super) async fn get_one(State(state): State<AppState>, Path(model): Path<String>) -> Result<Json<ModelDetail>, ApiError> {
    let m = state.registry.require(&model).await.map_err(registry_error)?;
    let stages = state.registry.stages().await.map_err(registry_error)?;
    let history = stages.history(&model).to_vec();
    Ok(Json(ModelDetail { model: ModelView { id: m.id(), stage: stages.stage(&model), manifest: m }, history }))
}

/// A stage change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    /// `staging`, `canary`, `production` or `retired`.
    stage: Stage,
}

/// The stage changes made, and the routing generation the pipeline switches to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageChanges {
    /// Each change (`name@version`, from, to), in log order.
    pub changes: Vec<(String, Option<Stage>, Stage)>,
    /// The new routing's generation (absent: no pipeline here, or nothing it runs changed).
    pub generation: Option<u64>,
}

async fn changed(state: &AppState, entries: Vec<itscam_sinks::ControlEntry>) -> Result<Json<StageChanges>, ApiError> {
    let stage = |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.get("stage")).and_then(|s| serde_json::from_value(s.clone()).ok());
    let changes = entries.iter().map(|e| (e.id.clone(), stage(&e.before), stage(&e.after).unwrap_or(Stage::Retired))).collect();
    let generation = match &state.live.models {
        Some(live) => live.refresh().await.map_err(registry_error)?,
        None => None,
    };
    Ok(Json(StageChanges { changes, generation }))
}

/// `POST /api/v1/models/{model}/promote`.
#[utoipa::path(post, path = "/models/{model}/promote", tag = "models", params(("model" = String, Path, description = "NAME@VERSION")), request_body = Promote, responses(
    (status = 200, description = "Changed; the pipeline swaps models", body = StageChanges),
    (status = 400, description = "`bad_request`: not a stage body", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 502, description = "`control_log`: the lake did not take the change (not made)", body = ErrorBody),
    (status = 503, description = "`control_log`: the lake did not answer (not made)", body = ErrorBody),
    (status = 409, description = "`conflict`: not allowed from its stage (failed validation, production retired, already there)", body = ErrorBody),
    (status = 422, description = "`invalid_model`: not NAME@VERSION", body = ErrorBody),
))]
pub(super) async fn promote(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(model): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let body: Promote = serde_json::from_slice(&body).map_err(|e| bad_request(format!(r#"body must be {{"stage": "staging" | "canary" | "production" | "retired"}}: {e}"#)))?;
    let entries = state.registry.promote(&me.who(), &model, body.stage).await.map_err(registry_error)?;
    let answer = changed(&state, entries).await?;
    Ok(noted(answer, &format!("{model} → {}", body.stage)))
}

/// `POST /api/v1/models/{model}/rollback`.
#[utoipa::path(post, path = "/models/{model}/rollback", tag = "models", params(("model" = String, Path, description = "Registry name")), responses(
    (status = 200, description = "Production is the previous production version again", body = StageChanges),
    (status = 409, description = "`conflict`: no earlier production version", body = ErrorBody),
    (status = 502, description = "`control_log`: the lake did not take the change (not made)", body = ErrorBody),
    (status = 503, description = "`control_log`: the lake did not answer (not made)", body = ErrorBody),
))]
pub(super) async fn rollback(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(model): Path<String>) -> Result<Response, ApiError> {
    let entries = state.registry.rollback(&me.who(), &model).await.map_err(registry_error)?;
    let answer = changed(&state, entries).await?;
    Ok(noted(answer, &format!("rollback {model}")))
}
