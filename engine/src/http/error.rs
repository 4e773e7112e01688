//! The API's error answer: a status and a JSON body `{"error": kind, "message": text}`. Errors of
//! the library crates get their status from who is to blame ([`itscam_types::Blame`]): a user's
//! mistake is a 4xx, a failing outside system (storage, broker) 502 — 503 with `Retry-After`
//! when a retry may help — and a bug 500 with a message that says so.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use itscam_types::{Blame, Blamed};
use std::time::Duration;

/// Every kind of error the API answers with (the `error` field): the one list the server
/// answers from and the document declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A malformed request: body, query parameter, encoding (400).
    BadRequest,
    /// Too many queries or alert streams at once (429, `Retry-After`).
    Busy,
    /// An alert change that its status does not allow (409).
    Conflict,
    /// The control log could not record a change, which was not made (503 or 502).
    ControlLog,
    /// Encoding an answer failed (500: a bug).
    Encode,
    /// The pipeline has ended: it takes no changes (409).
    Ended,
    /// A query failed running (422), or the lake's storage failed (502/503).
    Execution,
    /// A camera with this id exists (409).
    Exists,
    /// A camera that rules still need (409).
    InUse,
    /// A bug (500).
    Internal,
    /// A camera that does not fit the pipeline (422).
    InvalidCamera,
    /// A model id or file the registry cannot take (422).
    InvalidModel,
    /// SQL that does not plan (422).
    InvalidQuery,
    /// A rule that does not fit the pipeline (422).
    InvalidRule,
    /// No pipeline runs in this process, or not one that takes this change (409).
    NoPipeline,
    /// No such alert, camera or rule (404).
    NotFound,
    /// The camera or signal does not take pushes (409).
    NotPush,
    /// A push camera's or the signals' queue is full (429, `Retry-After`).
    QueueFull,
    /// SQL that would change the lake (403).
    ReadOnly,
    /// The camera is being removed (409).
    Removing,
    /// A query ran out of its memory (422).
    ResourcesExhausted,
    /// The alert hub has stopped (503).
    Stopped,
    /// The pipeline is stopping (503, `Retry-After`).
    Stopping,
    /// A query ran out of time (504).
    Timeout,
    /// A body or push over its limit (413).
    TooLarge,
    /// A `Content-Encoding` other than identity or gzip (415).
    UnsupportedEncoding,
    /// No credentials, or credentials that are not valid (401).
    Unauthorized,
    /// Credentials whose role or camera scopes do not allow this (403).
    Forbidden,
    /// Too many requests from this caller (429, `Retry-After`).
    RateLimited,
    /// The login needs a TOTP code, or the role must set one up first (401).
    MfaRequired,
    /// Too many failed logins: the account is locked for a while (429, `Retry-After`).
    Locked,
    /// A user or API key change that is refused: a weak password, a bad name or role (422).
    InvalidUser,
    /// Authentication is off: there is nothing to log in to (409).
    AuthOff,
    /// The lake's log of users cannot be reached (503 or 502).
    Store,
    /// A method the route does not have (405).
    MethodNotAllowed,
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ApiError)]
pub struct ErrorBody {
    /// What went wrong, for programs.
    pub error: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with this status, kind (the `error` field) and message.
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, message: message.into(), retry_after: None }
    }

    /// An error of a library crate, answered by who is to blame: `user_status` when it is the
    /// user's, 502 (503 with `Retry-After` when a retry may help) when an outside system's,
    /// 500 when it is a bug.
    pub fn blamed<E: Blamed + ?Sized>(e: &E, kind: ErrorKind, user_status: StatusCode) -> ApiError {
        let message = e.to_string();
        match e.blame() {
            Blame::User => ApiError::new(user_status, kind, message),
            Blame::External => match e.retry_after() {
                Some(wait) => ApiError { retry_after: Some(wait), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, kind, message) },
                None => ApiError::new(StatusCode::BAD_GATEWAY, kind, message),
            },
            Blame::Bug => {
                let message = if message.contains("this is a bug") { message } else { format!("{message} (this is a bug)") };
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, kind, message)
            }
        }
    }

    /// The same error, telling the client when to retry (`Retry-After`).
    pub fn retry_after(mut self, wait: Duration) -> ApiError {
        self.retry_after = Some(wait);
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Its message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = serde_json::to_value(self.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let mut response = (self.status, Json(ErrorBody { error: self.kind, message: self.message })).into_response();
        response.extensions_mut().insert(crate::audit::Outcome(kind));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            response.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// A 409 `no_pipeline`: this process runs no pipeline, or not one that takes this request.
/// Not a 503: waiting does not help, another process (`itscam serve --config`) does.
pub(crate) fn no_pipeline(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, ErrorKind::NoPipeline, message)
}

/// [`no_pipeline`] for what needs a running pipeline (rules, zones, pushes).
pub(crate) fn no_pipeline_running() -> ApiError {
    no_pipeline("no pipeline is running in this process: rules, zones and pushes are served where a pipeline runs (`itscam serve --config FILE` with cameras, `itscam run --http ADDR`)")
}

/// A 400 `bad_request`.
pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct E(&'static str, Blame, Option<Duration>);

    impl Blamed for E {
        fn blame(&self) -> Blame {
            self.1
        }
        fn retry_after(&self) -> Option<Duration> {
            self.2
        }
    }

    #[test]
    fn the_status_follows_who_is_to_blame() {
        let user = ApiError::blamed(&E("bad lake url", Blame::User, None), ErrorKind::Internal, StatusCode::BAD_REQUEST);
        assert_eq!(user.status(), StatusCode::BAD_REQUEST);
        let down = ApiError::blamed(&E("storage down", Blame::External, Some(Duration::from_millis(1500))), ErrorKind::Internal, StatusCode::BAD_REQUEST).into_response();
        assert_eq!((down.status(), down.headers()[header::RETRY_AFTER].to_str().unwrap()), (StatusCode::SERVICE_UNAVAILABLE, "2"));
        assert_eq!(ApiError::blamed(&E("refused", Blame::External, None), ErrorKind::Internal, StatusCode::BAD_REQUEST).status(), StatusCode::BAD_GATEWAY);
        let bug = ApiError::blamed(&E("invariant broke", Blame::Bug, None), ErrorKind::Internal, StatusCode::BAD_REQUEST);
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(bug.message.ends_with("(this is a bug)"), "{}", bug.message);
    }
}
