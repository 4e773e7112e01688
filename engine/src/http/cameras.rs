//! The cameras: `GET /api/v1/cameras` (each camera's configuration and the event time it
//! applies from, each video camera's health, each calibrated camera's fit, each push camera's
//! queue) and, under `itscam serve`, cameras added, changed and removed while the pipeline runs
//! (`POST /api/v1/cameras`, `GET|PUT|DELETE /api/v1/cameras/{id}`; see
//! `itscam_operators::source::cameras` for when each change takes effect). Each change is an entry of
//! the lake's control log before it is applied and answered (`crate::control`); a restarted
//! `serve` comes back with the cameras the log left.

use super::{ApiError, AppState, ErrorBody, ErrorKind, no_pipeline};
use super::rules::Who;
use crate::auth::Identity;
use crate::control::ControlLog;
use crate::live::RuntimeCameraHandles;
use axum::{Extension, Json};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use itscam_operators::source::cameras::{CameraChangeError, LiveCamera};
use itscam_operators::source::push::PushStatus;
use itscam_operators::source::{FeedSpec, FeedStats};
use itscam_operators::video::StatusSnapshot;
use itscam_queries::CalibrationReport;
use itscam_types::config::{CameraConfig, PipelineConfig, Problem, Source};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// The answer of `GET /api/v1/cameras`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraList {
    /// Each video camera's health.
    pub cameras: Vec<StatusSnapshot>,
    /// Each calibrated camera's fit.
    pub calibration: Vec<CalibrationReport>,
    /// Each push camera's queue.
    pub push: Vec<PushStatus>,
    /// Under `itscam serve --config`: every camera's configuration (`null` elsewhere).
    pub configured: Option<Vec<LiveCamera>>,
}

/// A camera added or changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraChanged {
    /// The camera.
    pub id: String,
    /// Always `null`: the change applies at the event time the camera's tracker finds
    /// (`since_ms` of `GET /api/v1/cameras/{id}`).
    pub since_ms: Option<u64>,
    /// The change's position in the control log.
    pub seq: u64,
}

/// A camera removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraDeleted {
    /// The camera.
    pub deleted: String,
    /// The change's position in the control log.
    pub seq: u64,
}

/// One camera.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraDetail {
    /// Its configuration, the event time it applies from and where it came from.
    pub camera: LiveCamera,
    /// A push camera's queue.
    pub push: Option<PushStatus>,
    /// A video camera's health.
    pub health: Option<StatusSnapshot>,
}

/// `GET /api/v1/cameras`: each video camera's health (connecting, up, reconnecting, down, finished), attempts,
/// last error and counters, each calibrated camera's reprojection error, and each push camera's
/// queue (`queued_lines`, `queue_limit`, `accepting`) and counters, while a pipeline runs.
#[utoipa::path(get, path = "/cameras", tag = "cameras", responses((status = 200, description = "The cameras", body = CameraList)))]
pub(super) async fn list(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Json<CameraList> {
    let cameras: Vec<_> = state.live.cameras.list().iter().map(|c| c.snapshot()).filter(|c| me.sees(&c.camera_id)).collect();
    let mut calibration = state.live.analytics.as_ref().map(|a| a.calibration.clone()).unwrap_or_default();
    calibration.retain(|c| me.sees(&c.camera_id));
    let mut push = state.live.push.as_ref().map(|p| p.status()).unwrap_or_default();
    push.retain(|p| me.sees(&p.camera_id));
    let configured = state.live.runtime_cameras.as_ref().map(|h| h.cameras.control.list().into_iter().filter(|c| me.sees(&c.camera.id)).collect());
    Json(CameraList { cameras, calibration, push, configured })
}

/// The cameras' endpoints that change cameras need `itscam serve --config FILE`.
fn no_runtime_cameras() -> ApiError {
    no_pipeline(
        "cameras are added, changed and removed where `itscam serve --config FILE` runs a pipeline (not `itscam run`, not a checkpointed Kafka run)",
    )
}

impl From<CameraChangeError> for ApiError {
    fn from(e: CameraChangeError) -> Self {
        let (status, kind) = match &e {
            CameraChangeError::Exists(_) => (StatusCode::CONFLICT, ErrorKind::Exists),
            CameraChangeError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            CameraChangeError::Removing(_) => (StatusCode::CONFLICT, ErrorKind::Removing),
            CameraChangeError::Ended => (StatusCode::CONFLICT, ErrorKind::Ended),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

fn handles(state: &AppState) -> Result<(&RuntimeCameraHandles, &ControlLog), ApiError> {
    let h = state.live.runtime_cameras.as_ref().ok_or_else(no_runtime_cameras)?;
    let log = state.live.analytics.as_ref().map(|a| &a.control).ok_or_else(no_runtime_cameras)?;
    Ok((h, log))
}

/// The body as a camera (`[[camera]]` as JSON).
fn parse_camera(body: &[u8]) -> Result<CameraConfig, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, format!("the body must be a camera as JSON (keys as in [[camera]]): {e}")))
}

/// Every problem of the pipeline with `cameras` in place of its cameras and the live rules: a
/// camera that does not fit (geometry, calibration) or that a rule still needs. Each names the
/// camera or rule by id (`camera "cam-2".zone[0].polygon: …`).
fn problems_with(h: &RuntimeCameraHandles, state: &AppState, cameras: Vec<CameraConfig>) -> Vec<String> {
    let rules = state.live.analytics.as_ref().map(|a| a.rules.list().into_iter().map(|r| r.rule).collect()).unwrap_or_default();
    let config = PipelineConfig { camera: cameras, rule: rules, ..PipelineConfig::clone(&h.config) };
    let mut problems = config.validate();
    if problems.is_empty()
        && let Err(mut p) = itscam_queries::Scenes::build(&config)
    {
        problems.append(&mut p);
    }
    let mut named: Vec<String> = problems.iter().map(Problem::to_string).collect();
    for text in &mut named {
        for (i, c) in config.camera.iter().enumerate() {
            *text = text.replace(&format!("camera[{i}]"), &format!("camera {:?}", c.id));
        }
        for (i, r) in config.rule.iter().enumerate() {
            *text = text.replace(&format!("rule[{i}]"), &format!("rule {:?}", r.id));
        }
    }
    named
}

fn invalid(problems: Vec<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidCamera, format!("invalid camera: {}", problems.join("; ")))
}

/// The live rules are checked against the cameras as they are now.
fn cameras_changed(state: &AppState, h: &RuntimeCameraHandles) {
    changed(h, state.live.evidence.as_ref(), state.live.analytics.as_ref().map(|a| &a.rules));
}

fn changed(h: &RuntimeCameraHandles, evidence: Option<&crate::evidence::EvidenceView>, rules: Option<&itscam_queries::RuleControl>) {
    let configs = h.cameras.control.configs();
    if let Some(evidence) = evidence {
        // Pictures draw the new lines and zones, with the camera's privacy.
        for camera in &configs {
            evidence.set_camera(camera);
        }
    }
    if let Some(rules) = rules {
        rules.set_cameras(configs);
    }
}

/// A new camera's detections feed (`None`: a video camera, started from its configuration);
/// a push camera's inlet is opened.
fn feed_of(h: &RuntimeCameraHandles, camera: &CameraConfig) -> Option<FeedSpec> {
    let (id, stats) = (camera.id.clone(), Arc::new(FeedStats::default()));
    let feed = match camera.source {
        Source::Push => {
            h.cameras.push.add(&id, stats.clone());
            Some(FeedSpec { source: Source::Push, cameras: vec![id.clone()], stats, kafka: None, push: Some(h.cameras.push.clone()), limits: h.config.input })
        }
        Source::VideoFile(_) | Source::Rtsp(_) => None,
        _ => Some(FeedSpec { source: camera.source.clone(), cameras: vec![id.clone()], stats, kafka: None, push: None, limits: h.config.input }),
    };
    if camera.source != Source::Push {
        h.cameras.push.add_other(&id, camera.source.label());
    }
    feed
}

/// In a cluster: applies the camera changes the other processes logged to this process's book
/// (checked by the process that made them), as its own API would have: the camera's worker,
/// when it is one of this process's, starts or stops its feed and its tracker takes the change
/// in (`CameraControl::set_local_workers`).
pub(crate) fn follower(h: RuntimeCameraHandles, evidence: Option<crate::evidence::EvidenceView>, rules: itscam_queries::RuleControl) -> crate::control::CameraFollower {
    Box::new(move |e: &itscam_sinks::ControlEntry| {
        let control = &h.cameras.control;
        let camera = e.after.clone().map(serde_json::from_value::<CameraConfig>);
        let done = match camera {
            Some(Ok(camera)) if control.get(&camera.id).is_some() => control.replace(camera).map(drop),
            Some(Ok(camera)) => {
                let feed = feed_of(&h, &camera);
                control.add(camera, feed)
            }
            Some(Err(err)) => {
                tracing::warn!(seq = e.seq, id = %e.id, error = %err, "control log: a camera another process logged cannot be read; left out");
                return;
            }
            None => control.remove(&e.id).map(|_| drop(h.cameras.push.remove(&e.id))),
        };
        if let Err(err) = done {
            tracing::warn!(seq = e.seq, id = %e.id, error = %err, "control log: a camera change another process logged does not apply here");
        }
        changed(&h, evidence.as_ref(), Some(&rules));
    })
}

/// In a cluster, a camera that takes pushes reads them on every process: one added or removed
/// while it runs would open or close its inlets on the processes one by one.
fn push_in_a_cluster(log: &ControlLog, camera: &CameraConfig) -> Result<(), ApiError> {
    if log.in_a_cluster() && camera.source == Source::Push {
        return Err(invalid(vec![format!(
            "source: push cameras of a cluster are set in its config (every process takes their pushes); camera {:?} cannot be added or removed while it runs",
            camera.id
        )]));
    }
    Ok(())
}

/// Why `camera`'s source cannot start while the pipeline runs, if it cannot: standard input is
/// the process's, a Kafka topic makes a run checkpointed (a config matter), and a detections
/// file another camera reads is one feed for both (set in the config).
fn unstartable(camera: &CameraConfig, live: &[CameraConfig]) -> Option<String> {
    let source = camera.source.label();
    match &camera.source {
        Source::Push | Source::VideoFile(_) | Source::Rtsp(_) => None,
        Source::DetectionsStdin => Some(format!("source: {source} is the process's standard input, read from the start by the cameras of the config; add a push camera (source = \"push\") instead")),
        Source::Kafka(_) => Some(format!("source: {source} cannot be started while the pipeline runs: Kafka sources make the run checkpointed, so their cameras are set in the config")),
        Source::DetectionsFile(_) => live
            .iter()
            .find(|c| c.source == camera.source)
            .map(|c| format!("source: {source} is read by camera {:?}: cameras sharing a detections file are set together in the config", c.id)),
    }
}

/// `POST /api/v1/cameras`: adds a camera (body: `[[camera]]` as JSON) while the pipeline runs
/// and starts its source: a push camera takes pushes at once, a video file or RTSP camera
/// starts its ffmpeg and goes through the detector, a detections file is read. A video file
/// without `start_ms` starts at the time it is added (the pipeline's event time is the wall
/// clock's); frames older than the event time reached are `late`.
#[utoipa::path(post, path = "/cameras", tag = "cameras", request_body = CameraConfig, responses(
    (status = 201, description = "Added; its source started", body = CameraChanged),
    (status = 400, description = "`bad_request`: not a camera as JSON", body = ErrorBody),
    (status = 409, description = "`exists`, `ended`, `no_pipeline` (not `itscam serve --config`)", body = ErrorBody),
    (status = 422, description = "`invalid_camera`: every problem", body = ErrorBody),
    (status = 502, description = "`control_log`: the control log's storage failed", body = ErrorBody),
    (status = 503, description = "`control_log`, with `Retry-After`", body = ErrorBody),
))]
pub(super) async fn add(State(state): State<AppState>, who: Who, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let (h, log) = handles(&state)?;
    let mut camera = parse_camera(&body)?;
    let control = &h.cameras.control;
    let _one = log.one_at_a_time().await;
    log.follow_held(&_one).await?;
    push_in_a_cluster(log, &camera)?;
    if control.get(&camera.id).is_some() {
        return Err(CameraChangeError::Exists(camera.id).into());
    }
    let mut cameras = control.configs();
    if let Some(reason) = unstartable(&camera, &cameras) {
        return Err(invalid(vec![reason]));
    }
    if matches!(camera.source, Source::VideoFile(_)) && camera.start_ms.is_none() {
        camera.start_ms = Some(itscam_types::time::now_ms());
    }
    cameras.push(camera.clone());
    let problems = problems_with(h, &state, cameras);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let entry = log.record_camera(&who.0, &camera.id, None, Some(&camera), control.reached_ms()).await?;
    let id = camera.id.clone();
    let feed = feed_of(h, &camera);
    if let Err(e) = control.add(camera, feed) {
        h.cameras.push.remove(&id);
        return Err(e.into());
    }
    cameras_changed(&state, h);
    Ok((StatusCode::CREATED, Json(CameraChanged { id, since_ms: None, seq: entry.seq })).into_response())
}

/// `GET /api/v1/cameras/{id}`: the camera's configuration, the event time it applies from, and
/// its push queue or video health.
#[utoipa::path(get, path = "/cameras/{id}", tag = "cameras", params(("id" = String, Path, description = "The camera's id")), responses(
    (status = 200, description = "The camera", body = CameraDetail),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`no_pipeline` (not `itscam serve --config`)", body = ErrorBody),
))]
pub(super) async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<CameraDetail>, ApiError> {
    let (h, _) = handles(&state)?;
    let camera = h.cameras.control.get(&id).ok_or_else(|| ApiError::from(CameraChangeError::NotFound(id.clone())))?;
    let push = h.cameras.push.status().into_iter().find(|p| p.camera_id == id);
    let health = state.live.cameras.list().iter().map(|c| c.snapshot()).find(|c| c.camera_id == id);
    Ok(Json(CameraDetail { camera, push, health }))
}

/// `PUT /api/v1/cameras/{id}`: changes a camera's scene (calibration, lines, zones,
/// road_length_m); its source stays. Applies at the event-time frontier it finds: the camera's
/// open tracks end there and go on as new tracks.
#[utoipa::path(put, path = "/cameras/{id}", tag = "cameras", params(("id" = String, Path, description = "The camera's id")), request_body = CameraConfig, responses(
    (status = 200, description = "Changed", body = CameraChanged),
    (status = 400, description = "`bad_request`: not a camera as JSON", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`removing`, `ended`, `no_pipeline`", body = ErrorBody),
    (status = 422, description = "`invalid_camera`: every problem (a different id or source included)", body = ErrorBody),
    (status = 502, description = "`control_log`", body = ErrorBody),
    (status = 503, description = "`control_log`, with `Retry-After`", body = ErrorBody),
))]
pub(super) async fn replace(State(state): State<AppState>, who: Who, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<CameraChanged>, ApiError> {
    let (h, log) = handles(&state)?;
    let mut camera = parse_camera(&body)?;
    let _one = log.one_at_a_time().await;
    log.follow_held(&_one).await?;
    if camera.id != id {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidCamera, format!("the camera's id {:?} differs from the id in the path {id:?}", camera.id)));
    }
    let control = &h.cameras.control;
    let old = control.get(&id).ok_or_else(|| ApiError::from(CameraChangeError::NotFound(id.clone())))?;
    // A video file's start was fixed when it was added: a body without one keeps it.
    camera.start_ms = camera.start_ms.or(old.camera.start_ms);
    if old.camera.source != camera.source || old.camera.pacing != camera.pacing || old.camera.start_ms != camera.start_ms {
        return Err(invalid(vec![format!("source: a camera's source (and pacing, start_ms) cannot change while it runs (it reads {}): remove the camera and add it again", old.camera.source.label())]));
    }
    let cameras = control.configs().into_iter().map(|c| if c.id == id { camera.clone() } else { c }).collect();
    let problems = problems_with(h, &state, cameras);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    if old.removing {
        return Err(CameraChangeError::Removing(id).into());
    }
    let entry = log.record_camera(&who.0, &id, Some(&old.camera), Some(&camera), control.reached_ms()).await?;
    control.replace(camera)?;
    cameras_changed(&state, h);
    Ok(Json(CameraChanged { id, since_ms: None, seq: entry.seq }))
}

/// `DELETE /api/v1/cameras/{id}`: removes a camera. Its input stops first — a push camera takes
/// no push from now on and what it queued is processed; a video camera's ffmpeg ends; a
/// detections file is no longer read (one shared with other cameras reads on, and its lines of
/// this camera go to `errors` as `unknown_camera`) — then its open tracks and zone stays end
/// (their rows are written).
#[utoipa::path(delete, path = "/cameras/{id}", tag = "cameras", params(("id" = String, Path, description = "The camera's id")), responses(
    (status = 200, description = "Removed", body = CameraDeleted),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`in_use` (rules need it), `removing`, `ended`, `no_pipeline`", body = ErrorBody),
    (status = 502, description = "`control_log`", body = ErrorBody),
    (status = 503, description = "`control_log`, with `Retry-After`", body = ErrorBody),
))]
pub(super) async fn remove(State(state): State<AppState>, who: Who, Path(id): Path<String>) -> Result<Json<CameraDeleted>, ApiError> {
    let (h, log) = handles(&state)?;
    let control = &h.cameras.control;
    let _one = log.one_at_a_time().await;
    log.follow_held(&_one).await?;
    let old = control.get(&id).ok_or_else(|| ApiError::from(CameraChangeError::NotFound(id.clone())))?;
    push_in_a_cluster(log, &old.camera)?;
    let cameras = control.configs().into_iter().filter(|c| c.id != id).collect();
    let problems = problems_with(h, &state, cameras);
    if !problems.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, ErrorKind::InUse, format!("camera {id:?} cannot be removed: {}", problems.join("; "))));
    }
    if old.removing {
        return Err(CameraChangeError::Removing(id).into());
    }
    let entry = log.record_camera(&who.0, &id, Some(&old.camera), None, control.reached_ms()).await?;
    // The removal is booked before the input stops, so the source's report of its last frame finds it.
    control.remove(&id)?;
    h.cameras.push.remove(&id);
    cameras_changed(&state, h);
    Ok(Json(CameraDeleted { deleted: id, seq: entry.seq }))
}
