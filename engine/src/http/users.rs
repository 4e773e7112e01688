//! Users and API keys (admins): `GET|POST /api/v1/users`, `GET|PATCH /api/v1/users/{name}`,
//! `POST /api/v1/users/{name}/keys` (the key is in this answer only),
//! `DELETE /api/v1/users/{name}/keys/{id}`. The same changes as `itscam users …`.

use super::{ApiError, AppState, ErrorBody, ErrorKind, bad_request};
use super::guard::noted;
use crate::auth::directory::{KeyRecord, UserRecord};
use crate::auth::{Identity, NewUser, UserPatch, Via, parse_role};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

/// A user as the API shows it (no hashes, no secrets).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: &'static str,
    /// Cameras seen (empty: all).
    pub cameras: Vec<String>,
    /// Disabled users cannot log in; their tokens and keys do not work.
    pub disabled: bool,
    /// Whether a TOTP second factor is set up.
    pub totp: bool,
    /// Their API keys (ids and labels).
    pub keys: Vec<KeyView>,
}

/// An API key as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Its id.
    pub id: String,
    /// What it is for.
    pub label: String,
    /// When it was made (ms).
    pub created_ms: u64,
}

fn key_view(k: &KeyRecord) -> KeyView {
    KeyView { id: k.id.clone(), label: k.label.clone(), created_ms: k.created_ms }
}

fn view(state: &AppState, u: &UserRecord) -> UserView {
    let keys = state.auth.keys_of(&u.name).iter().map(key_view).collect();
    UserView { name: u.name.clone(), role: u.role.name(), cameras: u.cameras.clone(), disabled: u.disabled, totp: u.totp_secret.is_some(), keys }
}


/// `GET /api/v1/users`.
#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, description = "Every user", body = Vec<UserView>)))]
pub(super) async fn list(State(state): State<AppState>) -> Json<Vec<UserView>> {
    Json(state.auth.users().iter().map(|u| view(&state, u)).collect())
}

/// `GET /api/v1/users/{name}`.
#[utoipa::path(get, path = "/users/{name}", tag = "users", params(("name" = String, Path, description = "Login name")), responses(
    (status = 200, description = "The user", body = UserView),
    (status = 404, description = "`not_found`", body = ErrorBody),
))]
pub(super) async fn get_one(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<UserView>, ApiError> {
    let user = state.auth.user(&name).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("no user {name:?}")))?;
    Ok(Json(view(&state, &user)))
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    /// Login name: 1 to 64 of letters, digits and `. _ @ -`.
    name: String,
    /// `viewer`, `analyst`, `operator` or `admin`.
    role: String,
    /// At least 10 characters.
    password: String,
    /// The cameras the user sees (empty or absent: every camera).
    #[serde(default)]
    cameras: Vec<String>,
}

/// `POST /api/v1/users`: `{"name", "role", "password", "cameras": [...]}` → 201.
#[utoipa::path(post, path = "/users", tag = "users", request_body = AddUser, responses(
    (status = 201, description = "Added", body = UserView),
    (status = 400, description = "`bad_request`: not a user body", body = ErrorBody),
    (status = 409, description = "`conflict`: the name is taken; `auth_off`", body = ErrorBody),
    (status = 422, description = "`invalid_user`: a bad name, role or camera id, or a weak password", body = ErrorBody),
    (status = 503, description = "`store`", body = ErrorBody),
))]
pub(super) async fn add(State(state): State<AppState>, Extension(me): Extension<Identity>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let a: AddUser = serde_json::from_slice(&body).map_err(|e| bad_request(format!(r#"body must be {{"name", "role", "password", "cameras": [...]}}: {e}"#)))?;
    let new = NewUser { name: a.name, role: parse_role(&a.role)?, password: a.password, cameras: a.cameras };
    let user = state.auth.add_user(&me.who(), new).await?;
    Ok(noted((StatusCode::CREATED, Json(view(&state, &user))), &user.name))
}

/// A change of a user: any of the fields.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    /// New role.
    role: Option<String>,
    /// New camera scope (empty: every camera).
    cameras: Option<Vec<String>>,
    /// Disable (tokens and keys stop at once) or enable.
    disabled: Option<bool>,
    /// New password (ends every session of the user).
    password: Option<String>,
    /// End every session of the user.
    #[serde(default)]
    sign_out: bool,
}

/// `PATCH /api/v1/users/{name}`: any of `role`, `cameras`, `disabled`, `password`,
/// `sign_out` (ends every session of the user).
#[utoipa::path(patch, path = "/users/{name}", tag = "users", params(("name" = String, Path, description = "Login name")), request_body = ChangeUser, responses(
    (status = 200, description = "Changed", body = UserView),
    (status = 400, description = "`bad_request`", body = ErrorBody),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`conflict`: disabling or demoting oneself; `auth_off`", body = ErrorBody),
    (status = 422, description = "`invalid_user`", body = ErrorBody),
    (status = 503, description = "`store`", body = ErrorBody),
))]
pub(super) async fn change(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(name): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let c: ChangeUser = serde_json::from_slice(&body).map_err(|e| bad_request(format!(r#"body must be {{"role", "cameras", "disabled", "password", "sign_out"}} (any of them): {e}"#)))?;
    let role = c.role.as_deref().map(parse_role).transpose()?;
    if name == me.name && (c.disabled == Some(true) || role.is_some_and(|r| r < me.role)) {
        return Err(ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, "you cannot disable or demote yourself (another admin, or `itscam users`, can)"));
    }
    let patch = UserPatch { role, cameras: c.cameras, disabled: c.disabled, password: c.password, sign_out: c.sign_out };
    let user = state.auth.change_user(&me.who(), &name, patch).await?;
    Ok(noted(Json(view(&state, &user)), &name))
}

/// A new API key's label.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// What the key is for (at most 200 bytes).
    #[serde(default)]
    label: String,
}

/// An API key just made: the key itself is in this answer only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyMade {
    /// `X-API-Key: <key>`; only its hash is kept.
    pub key: String,
    /// Its id (to revoke it).
    pub id: String,
    /// Whose key.
    pub user: String,
    /// What it is for.
    pub label: String,
    /// When it was made (ms).
    pub created_ms: u64,
}

/// `POST /api/v1/users/{name}/keys`: `{"label": "..."}` → 201 `{"key", "id", "label",
/// "created_ms"}`; the key is shown this once.
#[utoipa::path(post, path = "/users/{name}/keys", tag = "users", params(("name" = String, Path, description = "Whose key")), request_body(content = Option<AddKey>, description = "Optional: the key's label"), responses(
    (status = 201, description = "Made; the key is shown this once", body = KeyMade),
    (status = 400, description = "`bad_request`", body = ErrorBody),
    (status = 404, description = "`not_found`: no such user", body = ErrorBody),
    (status = 409, description = "`auth_off`", body = ErrorBody),
    (status = 422, description = "`invalid_user`: a label over 200 bytes", body = ErrorBody),
    (status = 503, description = "`store`", body = ErrorBody),
))]
pub(super) async fn add_key(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(name): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let a: Option<AddKey> = if body.is_empty() { None } else { serde_json::from_slice(&body).map_err(|e| bad_request(format!(r#"body must be {{"label": "..."}}: {e}"#)))? };
    let a = a.unwrap_or_default();
    let made = state.auth.add_key(&me.who(), &name, &a.label).await?;
    let body = KeyMade { key: made.key, id: made.record.id.clone(), user: name.clone(), label: made.record.label, created_ms: made.record.created_ms };
    Ok(noted((StatusCode::CREATED, Json(body)), &format!("{name} key {}", made.record.id)))
}

/// `DELETE /api/v1/users/{name}/keys/{id}`: the key stops working at once.
#[utoipa::path(delete, path = "/users/{name}/keys/{id}", tag = "users", params(("name" = String, Path, description = "Whose key"), ("id" = String, Path, description = "The key's id")), responses(
    (status = 200, description = "Revoked", body = KeyView),
    (status = 404, description = "`not_found`", body = ErrorBody),
    (status = 409, description = "`conflict`: the key this request uses", body = ErrorBody),
    (status = 503, description = "`store`", body = ErrorBody),
))]
pub(super) async fn revoke_key(State(state): State<AppState>, Extension(me): Extension<Identity>, Path((name, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    if state.auth.key(&id).is_none_or(|k| k.user != name) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("user {name:?} has no API key {id:?}")));
    }
    if me.via == (Via::Key { id: id.clone() }) {
        return Err(ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, "this request uses that key: revoke it with other credentials (or `itscam users keys revoke`)"));
    }
    let k = state.auth.revoke_key(&me.who(), &id).await?;
    Ok(noted(Json(key_view(&k)), &format!("{name} key {id}")))
}
