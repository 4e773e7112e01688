//! Sessions: `POST /api/v1/auth/login` (user, password and — when set up — a TOTP code → an
//! access token and a refresh token), `POST /api/v1/auth/refresh`, `POST /api/v1/auth/logout`
//! (ends the session: both tokens stop working), `GET /api/v1/auth/me`, and
//! `POST /api/v1/auth/totp` (sets up the caller's own second factor; the secret is shown once).

use super::{ApiError, AppState, bad_request};
use crate::audit::AuditNote;
use crate::auth::{Identity, TokenPair, Via};
use super::guard::Peer;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

/// The body of a login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The current TOTP code, for users with a second factor.
    #[serde(default)]
    pub totp: Option<String>,
}

impl std::fmt::Debug for LoginShown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "login of {:?}", self.0.user)
    }
}

/// A login as it may be logged: the user only.
struct LoginShown<'a>(&'a Login);

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("body must be {shape}: {e}")))
}

fn with_note(response: impl IntoResponse, detail: &str) -> Response {
    let mut response = response.into_response();
    response.extensions_mut().insert(AuditNote { detail: Some(detail.to_string()), ..AuditNote::default() });
    response
}

/// `POST /api/v1/auth/login`.
pub(super) async fn login(State(state): State<AppState>, Extension(Peer(address)): Extension<Peer>, body: axum::body::Bytes) -> Response {
    let login: Login = match parse(&body, r#"{"user": "...", "password": "...", "totp": "123456" (optional)}"#) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    tracing::debug!(login = ?LoginShown(&login), "auth: login");
    let answer: Result<Json<TokenPair>, ApiError> = state.auth.login(&login.user, &login.password, login.totp.as_deref(), &address).await.map(Json).map_err(ApiError::from);
    with_note(answer, &login.user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refresh {
    refresh_token: String,
}

/// `POST /api/v1/auth/refresh`: `{"refresh_token": "..."}` → new tokens of the same session.
pub(super) async fn refresh(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Json<TokenPair>, ApiError> {
    let r: Refresh = parse(&body, r#"{"refresh_token": "..."}"#)?;
    Ok(Json(state.auth.refresh(&r.refresh_token)?))
}

/// `POST /api/v1/auth/logout`: ends the caller's session.
pub(super) async fn logout(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Result<Json<serde_json::Value>, ApiError> {
    state.auth.logout(&me).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// Who the caller is.
#[derive(Debug, Serialize)]
pub struct Me {
    /// User name (`anonymous` with auth off).
    pub user: String,
    /// Role.
    pub role: &'static str,
    /// Cameras seen (empty: all).
    pub cameras: Vec<String>,
    /// `token`, `key` or `open` (auth off).
    pub via: &'static str,
}

/// `GET /api/v1/auth/me`.
pub(super) async fn me(Extension(me): Extension<Identity>) -> Json<Me> {
    let via = match me.via {
        Via::Open => "open",
        Via::Token { .. } => "token",
        Via::Key { .. } => "key",
    };
    Json(Me { user: me.name.clone(), role: me.role.name(), cameras: me.cameras.clone(), via })
}

/// `POST /api/v1/auth/totp`: sets up (or replaces) the caller's TOTP; answers the secret and
/// its `otpauth://` URL once. From then on their logins need a code.
pub(super) async fn totp(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Result<Response, ApiError> {
    if me.via == Via::Open {
        return Err(crate::auth::AuthError::Off.into());
    }
    let (secret, url) = state.auth.set_totp(&me.who(), &me.name).await?;
    Ok(with_note(Json(serde_json::json!({ "secret": secret, "otpauth_url": url })), &me.name))
}
