//! The API's error answer: a status and a JSON body `{"error": kind, "message": text}`. Errors of
//! the library crates get their status from who is to blame ([`itscam_types::Blame`]): a user's
//! mistake is a 4xx, a failing outside system (storage, broker) 502 — 503 with `Retry-After`
//! when a retry may help — and a bug 500 with a message that says so.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use itscam_types::{Blame, Blamed};
use serde_json::json;
use std::time::Duration;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with this status, kind (the `error` field) and message.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, message: message.into(), retry_after: None }
    }

    /// An error of a library crate, answered by who is to blame: `user_status` when it is the
    /// user's, 502 (503 with `Retry-After` when a retry may help) when an outside system's,
    /// 500 when it is a bug.
    pub fn blamed<E: Blamed + ?Sized>(e: &E, kind: &'static str, user_status: StatusCode) -> ApiError {
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.kind, "message": self.message }))).into_response();
        response.extensions_mut().insert(crate::audit::ErrorKind(self.kind));
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

/// A 400 `bad_request`.
pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
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
        let user = ApiError::blamed(&E("bad lake url", Blame::User, None), "k", StatusCode::BAD_REQUEST);
        assert_eq!(user.status(), StatusCode::BAD_REQUEST);
        let down = ApiError::blamed(&E("storage down", Blame::External, Some(Duration::from_millis(1500))), "k", StatusCode::BAD_REQUEST).into_response();
        assert_eq!((down.status(), down.headers()[header::RETRY_AFTER].to_str().unwrap()), (StatusCode::SERVICE_UNAVAILABLE, "2"));
        assert_eq!(ApiError::blamed(&E("refused", Blame::External, None), "k", StatusCode::BAD_REQUEST).status(), StatusCode::BAD_GATEWAY);
        let bug = ApiError::blamed(&E("invariant broke", Blame::Bug, None), "k", StatusCode::BAD_REQUEST);
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(bug.message.ends_with("(this is a bug)"), "{}", bug.message);
    }
}
