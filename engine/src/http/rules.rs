//! Rules and zones of the running pipeline over HTTP: `GET /api/v1/rules`, `GET|PUT|DELETE
//! /rules/{id}`, `GET /api/v1/zones`. A rule put or deleted here enters the dataflow's rule collection
//! at the event-time frontier it finds: it applies from that moment on, nothing restarts, and
//! only that rule's outputs change. Each change is an entry of the lake's control log before it
//! is applied and answered (see [`crate::control`]): a change the log could not record is not
//! applied (503 `control_log`, with `Retry-After`).

use super::{ApiError, AppState, ErrorBody, ErrorKind, no_pipeline_running as no_pipeline};
use crate::auth::Identity;
use crate::control::ControlError;
use axum::{Extension, Json};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use itscam_queries::{RuleEntry, RuleError};
use itscam_types::config::RuleConfig;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::ToSchema;

/// The answer of `GET /api/v1/rules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// The live rules.
    pub rules: Vec<RuleEntry>,
}

/// A rule put.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulePut {
    /// The rule.
    pub id: String,
    /// Whether it replaced a rule of that id.
    pub replaced: bool,
    /// Event time from which it applies.
    pub since_ms: u64,
    /// The change's position in the control log.
    pub seq: u64,
}

/// A rule deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleDeleted {
    /// The rule.
    pub deleted: String,
    /// Event time from which it no longer applies.
    pub since_ms: u64,
    /// The change's position in the control log.
    pub seq: u64,
}

/// The answer of `GET /api/v1/zones`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneList {
    /// Every zone with tracks inside.
    pub zones: Vec<ZoneOccupancy>,
}

/// Tracks inside one zone now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneOccupancy {
    /// The camera.
    pub camera_id: String,
    /// The zone.
    pub zone_id: String,
    /// Confirmed tracks inside.
    pub occupancy: u64,
}

/// Who makes a change, as the control log records it: the authenticated user (`ann`,
/// `ann (key …)`); with auth off, the peer's address, or `anonymous` (no socket, e.g. tests).
#[derive(Clone, Debug, PartialEq)]
pub struct Who(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(me) = parts.extensions.get::<crate::auth::Identity>().filter(|me| me.via != crate::auth::Via::Open) {
            return Ok(Who(me.who()));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.to_string());
        Ok(Who(peer.unwrap_or_else(|| "anonymous".to_string())))
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Rule(e) => e.into(),
            e => ApiError::blamed(&e, ErrorKind::ControlLog, StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        let (status, kind) = match &e {
            RuleError::Invalid(_) | RuleError::IdMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidRule),
            RuleError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            RuleError::Ended => (StatusCode::CONFLICT, ErrorKind::Ended),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

/// A camera-scoped caller changes only rules that watch nothing but their cameras (a rule in
/// the rule language without a camera watches every camera, those added later included).
fn within_scope(me: &Identity, rules: &itscam_queries::RuleControl, rule: Option<&RuleConfig>) -> Result<(), ApiError> {
    let Some(rule) = rule.filter(|_| me.scoped()) else { return Ok(()) };
    // A rule that does not compile is refused by the put itself, with its problems.
    let Ok(ir) = itscam_queries::rules::checked(rule, &rules.config()) else { return Ok(()) };
    match ir.cameras {
        Some(cameras) if cameras.iter().all(|c| me.sees(c)) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorKind::Forbidden,
            format!("rule {:?} watches cameras beyond yours ({}): a camera-scoped caller changes rules of their cameras only", rule.id, me.cameras.join(", ")),
        )),
    }
}

/// Whether a camera-scoped caller sees the rule: it watches one of their cameras (a rule in the
/// rule language without a camera watches every camera).
fn visible(me: &Identity, rules: &itscam_queries::RuleControl, rule: &RuleConfig) -> bool {
    if !me.scoped() {
        return true;
    }
    match itscam_queries::rules::checked(rule, &rules.config()) {
        Ok(ir) => ir.cameras.is_none_or(|cameras| cameras.iter().any(|c| me.sees(c))),
        Err(_) => me.sees(&rule.camera),
    }
}

/// `GET /api/v1/rules`: the live rules with the event time each applies from.
#[utoipa::path(get, path = "/rules", tag = "rules", responses(
    (status = 200, description = "The live rules", body = RuleList),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Result<Json<RuleList>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    Ok(Json(RuleList { rules: a.rules.list().into_iter().filter(|r| visible(&me, &a.rules, &r.rule)).collect() }))
}

/// `GET /api/v1/rules/{id}`.
#[utoipa::path(get, path = "/rules/{id}", tag = "rules", params(("id" = String, Path, description = "The rule's id")), responses(
    (status = 200, description = "The rule", body = RuleEntry),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
))]
pub async fn get_one(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>) -> Result<Json<RuleEntry>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let rule = a.rules.get(&id).filter(|r| visible(&me, &a.rules, &r.rule)).ok_or(RuleError::NotFound(id))?;
    Ok(Json(rule))
}

/// `PUT /api/v1/rules/{id}`: adds or replaces a rule (body: the rule as in `[[rule]]`, as JSON;
/// `{"sql": "SELECT … FOR 5 s"}` for one in the rule language, docs/rules.md),
/// logged first. Answers the event time it applies from and the control log's seq.
#[utoipa::path(put, path = "/rules/{id}", tag = "rules", params(("id" = String, Path, description = "The rule's id")), request_body = RuleConfig, responses(
    (status = 200, description = "Replaced", body = RulePut),
    (status = 201, description = "Added", body = RulePut),
    (status = 400, description = "`bad_request`: not a rule as JSON", body = ErrorBody),
    (status = 403, description = "`forbidden`: a camera-scoped caller and a rule (new or replaced) that watches other cameras", body = ErrorBody),
    (status = 409, description = "`ended`, `no_pipeline`", body = ErrorBody),
    (status = 422, description = "`invalid_rule`: every problem (its camera, zone, line or signal unknown; a key it needs missing; an id other than the path's)", body = ErrorBody),
    (status = 502, description = "`control_log`", body = ErrorBody),
    (status = 503, description = "`control_log`, with `Retry-After`", body = ErrorBody),
))]
pub async fn put(State(state): State<AppState>, Extension(me): Extension<Identity>, who: Who, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let rule: RuleConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, format!("the body must be a rule as JSON (keys as in [[rule]]): {e}")))?;
    within_scope(&me, &a.rules, Some(&rule))?;
    within_scope(&me, &a.rules, a.rules.get(&id).map(|e| e.rule).as_ref())?;
    let (entry, replaced) = a.control.put_rule(&a.rules, &who.0, &id, rule).await?;
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(RulePut { id, replaced, since_ms: entry.since_ms, seq: entry.seq })).into_response())
}

/// `DELETE /api/v1/rules/{id}`, logged first.
#[utoipa::path(delete, path = "/rules/{id}", tag = "rules", params(("id" = String, Path, description = "The rule's id")), responses(
    (status = 200, description = "Deleted", body = RuleDeleted),
    (status = 403, description = "`forbidden`: a camera-scoped caller and a rule that watches other cameras", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`ended`, `no_pipeline`", body = ErrorBody),
    (status = 502, description = "`control_log`", body = ErrorBody),
    (status = 503, description = "`control_log`, with `Retry-After`", body = ErrorBody),
))]
pub async fn delete(State(state): State<AppState>, Extension(me): Extension<Identity>, who: Who, Path(id): Path<String>) -> Result<Json<RuleDeleted>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    within_scope(&me, &a.rules, a.rules.get(&id).map(|e| e.rule).as_ref())?;
    let (entry, _) = a.control.delete_rule(&a.rules, &who.0, &id).await?;
    Ok(Json(RuleDeleted { deleted: id, since_ms: entry.since_ms, seq: entry.seq }))
}

/// The body of `POST /api/v1/rules/{id}/check`.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCheck {
    /// The rule's text in the rule language (docs/rules.md), at most 16 KiB.
    pub sql: String,
}

/// A rule's plan (`EXPLAIN`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RulePlan {
    /// The plan, one step per line.
    pub plan: String,
}

/// `POST /api/v1/rules/{id}/check`: compiles a rule of that id against the running pipeline
/// without adding it; answers its plan, or 422 with every problem and its line and column.
#[utoipa::path(post, path = "/rules/{id}/check", tag = "rules", params(("id" = String, Path, description = "The rule's id")), request_body = RuleCheck, responses(
    (status = 200, description = "It compiles: its plan", body = RulePlan),
    (status = 400, description = "`bad_request`: not a check as JSON", body = ErrorBody),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
    (status = 422, description = "`invalid_rule`: every problem, `line L, column C: …`", body = ErrorBody),
))]
pub async fn check(State(state): State<AppState>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<RulePlan>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let c: RuleCheck = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, format!("the body must be {{\"sql\": \"…\"}}: {e}")))?;
    if c.sql.len() > itscam_types::config::MAX_SQL_BYTES {
        let msg = format!("the rule is {} bytes; at most {}", c.sql.len(), itscam_types::config::MAX_SQL_BYTES);
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidRule, msg));
    }
    match a.rules.check(&id, &c.sql) {
        Ok(plan) => Ok(Json(RulePlan { plan })),
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidRule, format!("invalid rule: {}", list.join("; "))))
        }
    }
}

/// `GET /api/v1/rules/{id}/plan`: the live rule's plan (`EXPLAIN RULE id`).
#[utoipa::path(get, path = "/rules/{id}/plan", tag = "rules", params(("id" = String, Path, description = "The rule's id")), responses(
    (status = 200, description = "Its plan", body = RulePlan),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
))]
pub async fn plan(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>) -> Result<Json<RulePlan>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    a.rules.get(&id).filter(|r| visible(&me, &a.rules, &r.rule)).ok_or_else(|| RuleError::NotFound(id.clone()))?;
    let plan = a.rules.plan(&id).ok_or(RuleError::NotFound(id))?;
    Ok(Json(RulePlan { plan }))
}

/// The body of `POST /api/v1/rules/{id}/backfill`.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// Start of the range (event time), ms since the Unix epoch.
    #[serde(deserialize_with = "super::lake::whole_ms")]
    #[schema(value_type = u64)]
    pub from_ms: u64,
    /// End of the range, exclusive; at most 31 days after `from_ms`.
    #[serde(deserialize_with = "super::lake::whole_ms")]
    #[schema(value_type = u64)]
    pub to_ms: u64,
}

/// `POST /api/v1/rules/{id}/backfill`: runs the live rule over the lake's history in
/// `[from_ms, to_ms)` as a job (one at a time) and answers at once with its progress; the
/// violations it writes have `origin = 'backfill'` (docs/rules.md "Backfill").
#[utoipa::path(post, path = "/rules/{id}/backfill", tag = "rules", params(("id" = String, Path, description = "The rule's id")), request_body = BackfillRequest, responses(
    (status = 202, description = "Started: its progress", body = crate::backfill::BackfillProgress),
    (status = 400, description = "`bad_request`: not a range as JSON", body = ErrorBody),
    (status = 403, description = "`forbidden`: a camera-scoped caller and a rule that watches other cameras", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`busy`: a backfill runs; `no_pipeline`", body = ErrorBody),
    (status = 422, description = "`invalid_rule`: an empty or too long range", body = ErrorBody),
))]
pub async fn backfill(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    use crate::backfill::{BackfillProgress, check_range, run};
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let r: BackfillRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, format!("the body must be {{\"from_ms\": …, \"to_ms\": …}}: {e}")))?;
    check_range(r.from_ms, r.to_ms).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidRule, e))?;
    let rule = a.rules.get(&id).ok_or_else(|| RuleError::NotFound(id.clone()))?.rule;
    within_scope(&me, &a.rules, Some(&rule))?;
    let progress = {
        let mut jobs = a.backfills.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.values().any(|p| p.lock().unwrap_or_else(|e| e.into_inner()).state == "running") {
            return Err(ApiError::new(StatusCode::CONFLICT, ErrorKind::Busy, "a backfill is running; one runs at a time (GET /api/v1/rules/{id}/backfill shows it)"));
        }
        let p = Arc::new(std::sync::Mutex::new(BackfillProgress { rule_id: id.clone(), from_ms: r.from_ms, to_ms: r.to_ms, state: "running".into(), ..BackfillProgress::default() }));
        jobs.insert(id.clone(), p.clone());
        p
    };
    let (config, lake, job) = (a.rules.config(), a.control.lake().clone(), progress.clone());
    tokio::spawn(async move {
        if let Err(e) = run(&config, &lake, &rule, r.from_ms, r.to_ms, &job).await {
            tracing::warn!(rule = %rule.id, error = %e, "backfill failed");
            let mut p = job.lock().unwrap_or_else(|e| e.into_inner());
            (p.state, p.error) = ("failed".into(), Some(e.to_string()));
        }
    });
    let now = progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((StatusCode::ACCEPTED, Json(now)).into_response())
}

/// `GET /api/v1/rules/{id}/backfill`: the progress of the rule's last backfill in this process.
#[utoipa::path(get, path = "/rules/{id}/backfill", tag = "rules", params(("id" = String, Path, description = "The rule's id")), responses(
    (status = 200, description = "Its progress", body = crate::backfill::BackfillProgress),
    (status = 404, description = "`not_found`: no backfill of that rule", body = ErrorBody),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
))]
pub async fn backfill_progress(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<crate::backfill::BackfillProgress>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let jobs = a.backfills.lock().unwrap_or_else(|e| e.into_inner());
    let p = jobs.get(&id).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("no backfill of rule {id:?} in this process")))?;
    let now = p.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Json(now))
}

/// `GET /api/v1/zones`: tracks inside each zone now (event time of the pipeline).
#[utoipa::path(get, path = "/zones", tag = "rules", responses(
    (status = 200, description = "Tracks inside each zone", body = ZoneList),
    (status = 409, description = "`no_pipeline`", body = ErrorBody),
))]
pub async fn zones(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Result<Json<ZoneList>, ApiError> {
    let a = state.live.analytics.as_ref().ok_or_else(no_pipeline)?;
    let live = a.zones.lock().map(|z| z.clone()).unwrap_or_default();
    let zones = live.into_iter().filter(|((camera_id, _), _)| me.sees(camera_id)).map(|((camera_id, zone_id), n)| ZoneOccupancy { camera_id, zone_id, occupancy: n as u64 }).collect();
    Ok(Json(ZoneList { zones }))
}
