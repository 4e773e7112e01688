//! The model registry (README "Models"): `GET /api/v1/models` (every version, its stage, and
//! what the running pipeline's inference threads run), `GET /api/v1/models/{model}`
//! (`name@version`: manifest, validation, stage history), `POST /api/v1/models/{model}/promote`
//! (admins; `{"stage": "staging" | "canary" | "production" | "retired"}`) and
//! `POST /api/v1/models/{model}/rollback` (admins; `{model}` is the name). Changes are
//! control-log entries and take effect in the running pipeline at once (hot swap).
//! `PUT /api/v1/models/{model}` (admins) registers the ONNX file in the body like `itscam
//! models register` (validated on `[models] validation_video`).

use super::guard::noted;
use super::{ApiError, AppState, ErrorBody, ErrorKind, bad_request};
use crate::auth::Identity;
use crate::models::stages::StageChange;
use crate::models::{Manifest, RegistryError, Stage};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
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

/// The query of `PUT /api/v1/models/{model}` (read by hand: unknown keys are refused).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct RegisterQuery {
    /// `centernet` (default) or `yolo`.
    family: Option<String>,
    /// Model input size `WxH` (default 512x512).
    #[param(pattern = "^[0-9]{1,5}x[0-9]{1,5}$")]
    input_size: Option<String>,
    /// Free text kept in the manifest.
    #[param(max_length = 1000)]
    notes: Option<String>,
}

/// A file under the cache directory removed when dropped.
struct Upload(std::path::PathBuf);

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn parse_register_query(query: Option<&str>) -> Result<(itscam_types::config::ModelFamily, Option<(u32, u32)>, Option<String>), ApiError> {
    let (mut family, mut size, mut notes) = (itscam_types::config::ModelFamily::Centernet, None, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "family" => family = serde_json::from_value(serde_json::Value::String(v.to_string())).map_err(|_| bad_request(format!("unknown family {v:?}: expected centernet or yolo")))?,
            "input_size" => {
                let parsed = v.split_once('x').and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
                size = Some(parsed.ok_or_else(|| bad_request(format!("input_size {v:?}: expected WxH, such as 512x512")))?);
            }
            "notes" if v.len() <= 1000 => notes = Some(v.to_string()),
            "notes" => return Err(bad_request("notes: at most 1000 bytes")),
            other => return Err(bad_request(format!("unknown query parameter {other:?}: expected family, input_size, notes"))),
        }
    }
    Ok((family, size, notes))
}

/// The body, at most `limit` bytes kept. A larger one is read on (and dropped) up to twice the
/// limit before the 413, so that the client gets the answer instead of a reset connection.
async fn read_upload(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let (mut kept, mut total) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("reading the body failed: {e}")))?;
        total += chunk.len();
        if total <= limit {
            kept.extend_from_slice(&chunk);
        } else if total > limit.saturating_mul(2) {
            break;
        }
    }
    if total > limit {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge, format!("the model exceeds [models] max_upload_bytes = {limit} bytes")));
    }
    Ok(kept)
}

/// `PUT /api/v1/models/{model}`: the body is the ONNX file.
#[utoipa::path(put, path = "/models/{model}", tag = "models", params(("model" = String, Path, description = "NAME@VERSION"), RegisterQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The ONNX file"),
    responses(
        (status = 200, description = "The same bytes were registered under this version before: nothing changed", body = ModelView),
        (status = 201, description = "Registered (stage development) with its validation report", body = ModelView),
        (status = 400, description = "`bad_request`: a bad query parameter", body = ErrorBody),
        (status = 413, description = "`too_large`: over `[models] max_upload_bytes`", body = ErrorBody),
        (status = 422, description = "`invalid_model`: not NAME@VERSION, not ONNX, not a model of the family, outputs that do not decode, or other bytes under a registered version", body = ErrorBody),
        (status = 502, description = "`control_log`: the lake refused", body = ErrorBody),
        (status = 503, description = "`control_log`: the lake did not answer", body = ErrorBody),
    ))]
pub(super) async fn register(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(model): Path<String>, RawQuery(query): RawQuery, body: Body) -> Result<Response, ApiError> {
    let (base, settings) = &*state.models;
    // The body first, whatever else is wrong: a client still sending gets its answer, not a
    // reset connection.
    let bytes = read_upload(body, settings.max_upload_bytes).await?;
    let (name, version) = crate::models::registry::parse_id(&model).map_err(registry_error)?;
    let (family, input, notes) = parse_register_query(query.as_deref())?;
    static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::path::PathBuf::from(&settings.cache_dir);
    let upload = Upload(dir.join(format!("upload-{}-{n}.onnx", std::process::id())));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&upload.0, &bytes))
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorKind::ControlLog, format!("cannot stage the upload in {}: {e}", dir.display())))?;
    let reg = crate::models::Registration {
        file: upload.0.clone(),
        name,
        version,
        family,
        input,
        notes,
        who: me.who(),
        video: settings.validation_video.clone().into(),
        frames: settings.validation_frames,
        base: base.clone(),
    };
    let (manifest, stored) = crate::models::register(&state.registry, reg).await.map_err(registry_error)?;
    drop(upload);
    let stage = state.registry.stages().await.map_err(registry_error)?.stage(&manifest.id());
    let status = if stored == crate::models::Stored::New { StatusCode::CREATED } else { StatusCode::OK };
    let id = manifest.id();
    Ok(noted((status, Json(ModelView { id: id.clone(), stage, manifest })), &format!("register {id}")))
}
