//! Changes of users and keys, shared by `itscam users …` and `/api/v1/users` (admins). Each is
//! one entry of the auth log; hashing runs off the async workers.

use super::directory::{AuthChange, KeyRecord, UserRecord};
use super::service::check_user_name;
use super::{Auth, AuthError, Role, secrets, totp};

/// A new user.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Password (checked: [`secrets::check_password`]).
    pub password: String,
    /// Cameras seen (empty: all).
    pub cameras: Vec<String>,
}

/// A change of a user; `None` fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    /// New role.
    pub role: Option<Role>,
    /// New camera scope (empty: all).
    pub cameras: Option<Vec<String>>,
    /// Disable (their tokens and keys stop at once) or enable.
    pub disabled: Option<bool>,
    /// New password (signs every session of the user out).
    pub password: Option<String>,
    /// Sign every session out.
    pub sign_out: bool,
}

/// A key made: the key itself is shown this once.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// `X-API-Key: <key>`.
    pub key: String,
    /// What is kept.
    pub record: KeyRecord,
}

async fn hash(password: String) -> Result<String, AuthError> {
    secrets::check_password(&password).map_err(AuthError::Invalid)?;
    tokio::task::spawn_blocking(move || secrets::hash_password(&password)).await.map_err(|e| AuthError::Invalid(format!("hashing failed: {e}")))
}

fn check_cameras(cameras: &[String]) -> Result<(), AuthError> {
    match cameras.iter().find(|c| c.is_empty() || c.len() > 128) {
        Some(c) => Err(AuthError::Invalid(format!("camera id {c:?}: 1 to 128 characters"))),
        None => Ok(()),
    }
}

impl Auth {
    /// Adds a user (refused when the name is taken).
    pub async fn add_user(&self, who: &str, new: NewUser) -> Result<UserRecord, AuthError> {
        check_user_name(&new.name)?;
        check_cameras(&new.cameras)?;
        if self.user(&new.name).is_some() {
            return Err(AuthError::Conflict(format!("user {:?} exists", new.name)));
        }
        let password_hash = hash(new.password).await?;
        let user = UserRecord { name: new.name, role: new.role, cameras: new.cameras, disabled: false, password_hash, totp_secret: None, tokens_after_ms: 0 };
        self.record(who, AuthChange::UserPut { user: user.clone() }).await?;
        Ok(user)
    }

    /// Changes a user.
    pub async fn change_user(&self, who: &str, name: &str, patch: UserPatch) -> Result<UserRecord, AuthError> {
        let mut user = self.user(name).ok_or_else(|| AuthError::NotFound(format!("no user {name:?}")))?;
        let now = itscam_types::time::now_ms();
        if let Some(role) = patch.role {
            user.role = role;
        }
        if let Some(cameras) = patch.cameras {
            check_cameras(&cameras)?;
            user.cameras = cameras;
        }
        if let Some(password) = patch.password {
            user.password_hash = hash(password).await?;
            user.tokens_after_ms = now;
        }
        if let Some(disabled) = patch.disabled {
            user.disabled = disabled;
            if disabled {
                user.tokens_after_ms = now;
            }
        }
        if patch.sign_out {
            user.tokens_after_ms = now;
        }
        self.record(who, AuthChange::UserPut { user: user.clone() }).await?;
        Ok(user)
    }

    /// Sets up (or replaces) `name`'s TOTP second factor; returns the secret and its
    /// `otpauth://` URL, shown this once.
    pub async fn set_totp(&self, who: &str, name: &str) -> Result<(String, String), AuthError> {
        let mut user = self.user(name).ok_or_else(|| AuthError::NotFound(format!("no user {name:?}")))?;
        let (secret, url) = totp::new_secret(name);
        user.totp_secret = Some(secret.clone());
        self.record(who, AuthChange::UserPut { user }).await?;
        Ok((secret, url))
    }

    /// Makes an API key for `user`.
    pub async fn add_key(&self, who: &str, user: &str, label: &str) -> Result<NewKey, AuthError> {
        if self.user(user).is_none() {
            return Err(AuthError::NotFound(format!("no user {user:?}")));
        }
        if label.len() > 200 {
            return Err(AuthError::Invalid("a key's label has at most 200 bytes".into()));
        }
        let (key, id, hash) = secrets::new_api_key();
        let record = KeyRecord { id, user: user.to_string(), label: label.to_string(), hash, created_ms: itscam_types::time::now_ms() };
        self.record(who, AuthChange::KeyPut { key: record.clone() }).await?;
        Ok(NewKey { key, record })
    }

    /// Revokes key `id`.
    pub async fn revoke_key(&self, who: &str, id: &str) -> Result<KeyRecord, AuthError> {
        let record = self.key(id).ok_or_else(|| AuthError::NotFound(format!("no API key {id:?}")))?;
        self.record(who, AuthChange::KeyRevoked { id: id.to_string() }).await?;
        Ok(record)
    }
}
