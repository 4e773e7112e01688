//! The guard in front of every route: the permission table ([`super::permissions`]), then the
//! caller's credentials, rate budget and role; the [`Identity`] it finds goes into the
//! request's extensions for the handler, and every request that is not a plain read becomes a
//! row of the `audit` table ([`crate::audit`]).
//!
//! Answers: 401 `unauthorized` (with `WWW-Authenticate: Bearer`) for missing, wrong,
//! expired or revoked credentials; 403 `forbidden` for a role below the route's (or a route
//! spanning every camera for a camera-scoped user); 404 for another camera's path; 405 for a
//! method the table does not list; 429 `rate_limited` with `Retry-After` past the rate limit.
//! Secrets are never logged: credentials are read from their headers and dropped.

use super::permissions::{Access, PERMISSIONS, access};
use super::{ApiError, AppState, ErrorKind};
use crate::audit::{AuditNote, AuditRow};
use crate::auth::{AuthError, Identity};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::Unauthenticated(_) => ApiError::new(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message),
            AuthError::MfaRequired(_) => ApiError::new(StatusCode::UNAUTHORIZED, ErrorKind::MfaRequired, message),
            AuthError::Locked { until_ms } => {
                let wait = until_ms.saturating_sub(itscam_types::time::now_ms());
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::Locked, message).retry_after(Duration::from_millis(wait))
            }
            AuthError::Throttled { wait_ms } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::RateLimited, message).retry_after(Duration::from_millis(wait_ms)),
            AuthError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidUser, message),
            AuthError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message),
            AuthError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, message),
            AuthError::Off => ApiError::new(StatusCode::CONFLICT, ErrorKind::AuthOff, message),
            AuthError::Store(_) => ApiError::blamed(&e, ErrorKind::Store, StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}

/// The peer's address, or `local` (no socket: tests).
pub(crate) fn peer(request: &Request) -> String {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "local".to_string(), |ConnectInfo(a)| a.ip().to_string())
}

/// The credentials of a request: an `Authorization` header wins over `X-API-Key`, and one
/// that is not `Bearer <token>` is refused (never skipped for the key beside it).
fn credentials(request: &Request) -> Result<(Option<String>, Option<String>), ApiError> {
    let header = |name: &str| request.headers().get(name).map(|v| v.to_str().map(str::trim));
    let unreadable = |what: &str| ApiError::new(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, format!("the {what} header is not readable text"));
    if let Some(value) = header(header::AUTHORIZATION.as_str()) {
        let value = value.map_err(|_| unreadable("Authorization"))?;
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim).filter(|t| !t.is_empty());
        let token = token.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, "Authorization must be `Bearer <access token>` (or send X-API-Key alone)"))?;
        return Ok((Some(token.to_string()), None));
    }
    let key = header("x-api-key").transpose().map_err(|_| unreadable("X-API-Key"))?;
    Ok((None, key.map(str::to_string)))
}

/// Who the caller is (`None`: a public route, nobody asked) and whether they may call this
/// route; `Err` is the answer.
fn admit(state: &AppState, request: &Request, route: &str, address: &str) -> Result<Option<Identity>, ApiError> {
    let needs = match access(request.method().as_str(), route) {
        Some(needs) => needs,
        // The route is listed for other methods: this one is not allowed (whatever the router
        // holds, nothing unlisted runs).
        None if PERMISSIONS.iter().any(|p| p.path == route) => {
            return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorKind::MethodNotAllowed, format!("{} is not a method of {route}", request.method())));
        }
        None => return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, format!("{} {route} is not in the permission table", request.method()))),
    };
    let auth = &state.auth;
    if needs == Access::Public {
        auth.rate(address)?;
        return Ok(None);
    }
    let who = if auth.enabled() {
        let (bearer, key) = credentials(request)?;
        auth.authenticate(bearer.as_deref(), key.as_deref())?
    } else {
        Identity::open()
    };
    let budget = match &who.via {
        crate::auth::Via::Open => address.to_string(),
        _ => who.who(),
    };
    auth.rate(&budget)?;
    match needs {
        Access::Least(role) if who.role < role => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, format!("{} {route} needs the role {role} or above; {} is {}", request.method(), who.name, who.role))),
        // Routes that span every camera and cannot be narrowed to some: the process metrics,
        // the push of lines routed by their camera id, signal states shared by cameras.
        _ if who.scoped() && UNSCOPABLE.contains(&route) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, format!("{route} spans every camera; {} sees only the cameras {}", who.name, who.cameras.join(", "))))
        }
        _ => match camera_of(route, request.uri().path()) {
            // A camera outside the caller's scope does not exist for them.
            Some(camera) if !who.sees(&camera) => Err(ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("no camera {camera:?}"))),
            _ => Ok(Some(who)),
        },
    }
}

/// The routes of pushed detections (not audited when accepted).
const PUSHED_DATA: [&str; 2] = ["/api/v1/cameras/{id}/detections", "/api/v1/ingest"];

/// Routes a camera-scoped user may not call whatever their role (README "Security").
const UNSCOPABLE: [&str; 3] = ["/metrics", "/api/v1/ingest", "/api/v1/signals"];

/// The camera a route names in its path (`/api/v1/cameras/{id}…`), percent-decoded.
fn camera_of(route: &str, path: &str) -> Option<String> {
    let mut route_parts = route.split('/');
    let mut path_parts = path.split('/');
    let mut previous = "";
    loop {
        let (r, p) = (route_parts.next()?, path_parts.next()?);
        if r == "{id}" && previous == "cameras" {
            return Some(percent_encoding_decode(p));
        }
        previous = r;
    }
}

fn percent_encoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes()).next().map_or_else(|| s.to_string(), |(_, v)| v.into_owned())
}

/// The middleware (`route_layer`, so every route has a [`MatchedPath`]).
pub(crate) async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| request.uri().path().to_string(), |m| m.as_str().to_string());
    let path = request.uri().path().to_string();
    let address = peer(&request);
    let method = request.method().clone();
    let started = Instant::now();
    let reads = method == Method::GET || method == Method::HEAD;
    // Pushed detections are data, not changes: a row per frame would drown the trail. Their
    // refusals are audited like any other.
    let data = PUSHED_DATA.contains(&route.as_str());
    let who = match admit(&state, &request, &route, &address) {
        Ok(who) => who,
        Err(e) => {
            let response = e.into_response();
            // Refusals of changes, and every 403, are audited; a 401 on a read is not (noise).
            if !reads || response.status() == StatusCode::FORBIDDEN {
                state.audit.record(AuditRow::of_request(None, &address, &method, &path, &response, None, started.elapsed()));
            }
            return response;
        }
    };
    if let Some(who) = &who {
        request.extensions_mut().insert(who.clone());
    }
    request.extensions_mut().insert(Peer(address.clone()));
    let response = next.run(request).await;
    if !reads && !data {
        let note = response.extensions().get::<AuditNote>().cloned();
        state.audit.record(AuditRow::of_request(who.as_ref(), &address, &method, &path, &response, note, started.elapsed()));
    }
    response
}

/// `response` with `detail` for its audit row (the user a change or a login is about).
pub(crate) fn noted(response: impl IntoResponse, detail: &str) -> Response {
    let mut response = response.into_response();
    response.extensions_mut().insert(AuditNote { detail: Some(detail.to_string()), ..AuditNote::default() });
    response
}

/// The caller's address (a request extension set by the guard).
#[derive(Clone, Debug)]
pub(crate) struct Peer(pub String);
