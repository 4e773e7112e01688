//! Sessions: `POST /api/v1/auth/login` (user, password and — when set up — a TOTP code → an
//! access token and a refresh token), `POST /api/v1/auth/refresh`, `POST /api/v1/auth/logout`
//! (ends the session: both tokens stop working), `GET /api/v1/auth/me`, and
//! `POST /api/v1/auth/totp` (sets up the caller's own second factor; the secret is shown once).

use super::{ApiError, AppState, ErrorBody, bad_request};
use crate::auth::{Identity, TokenPair, Via};
use super::guard::{Peer, noted};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

/// The body of a login.
#[derive(Deserialize, utoipa::ToSchema)]
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

/// The user only: a login is never logged with its password.
impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "login of {:?}", self.user)
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("body must be {shape}: {e}")))
}


/// `POST /api/v1/auth/login`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login, responses(
    (status = 200, description = "A session: the access token for `Authorization: Bearer`, and the refresh token", body = TokenPair),
    (status = 400, description = "`bad_request`: not a login body", body = ErrorBody),
    (status = 401, description = "`unauthorized`: wrong user name or password (or a disabled user); `mfa_required`: a TOTP code is needed", body = ErrorBody),
    (status = 409, description = "`auth_off`: authentication is off", body = ErrorBody),
    (status = 429, description = "`locked`: too many failed logins; `rate_limited`: too many attempts from this address (both with `Retry-After`)", body = ErrorBody),
    (status = 503, description = "`store`: the users' log cannot be reached", body = ErrorBody),
))]
pub(super) async fn login(State(state): State<AppState>, Extension(Peer(address)): Extension<Peer>, body: axum::body::Bytes) -> Response {
    let login: Login = match parse(&body, r#"{"user": "...", "password": "...", "totp": "123456" (optional)}"#) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    tracing::debug!(login = ?login, "auth: login");
    let answer: Result<Json<TokenPair>, ApiError> = state.auth.login(&login.user, &login.password, login.totp.as_deref(), &address).await.map(Json).map_err(ApiError::from);
    noted(answer, &login.user)
}

/// The body of a refresh.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    /// The refresh token of a login.
    refresh_token: String,
}

/// `POST /api/v1/auth/refresh`: `{"refresh_token": "..."}` → new tokens of the same session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = Refresh, responses(
    (status = 200, description = "New tokens of the same session", body = TokenPair),
    (status = 400, description = "`bad_request`", body = ErrorBody),
    (status = 401, description = "`unauthorized`: not a valid refresh token, or the session has ended", body = ErrorBody),
))]
pub(super) async fn refresh(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Json<TokenPair>, ApiError> {
    let r: Refresh = parse(&body, r#"{"refresh_token": "..."}"#)?;
    Ok(Json(state.auth.refresh(&r.refresh_token)?))
}

/// The answer of a logout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedOut {
    /// Always `true`: the session's tokens no longer work.
    pub ok: bool,
}

/// `POST /api/v1/auth/logout`: ends the caller's session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses(
    (status = 200, description = "The session has ended", body = LoggedOut),
    (status = 422, description = "`invalid_user`: an API key has no session (revoke it instead)", body = ErrorBody),
    (status = 503, description = "`store`", body = ErrorBody),
))]
pub(super) async fn logout(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Result<Json<LoggedOut>, ApiError> {
    state.auth.logout(&me).await?;
    Ok(Json(LoggedOut { ok: true }))
}

/// Who the caller is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, description = "The caller", body = Me)))]
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
#[utoipa::path(post, path = "/auth/totp", tag = "auth", responses(
    (status = 200, description = "The new secret, shown once", body = TotpSetup),
    (status = 409, description = "`auth_off`", body = ErrorBody),
    (status = 503, description = "`store`", body = ErrorBody),
))]
pub(super) async fn totp(State(state): State<AppState>, Extension(me): Extension<Identity>) -> Result<Response, ApiError> {
    if me.via == Via::Open {
        return Err(crate::auth::AuthError::Off.into());
    }
    let (secret, otpauth_url) = state.auth.set_totp(&me.who(), &me.name).await?;
    Ok(noted(Json(TotpSetup { secret, otpauth_url }), &me.name))
}

/// A TOTP second factor just set up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpSetup {
    /// The base32 secret (for an authenticator app).
    pub secret: String,
    /// The same as an `otpauth://` URL (a QR code of it is what apps scan).
    pub otpauth_url: String,
}
