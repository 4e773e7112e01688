//! [`Auth`]: the directory of a lake kept current, and the checks of one request — credentials
//! ([`Auth::authenticate`]), logins ([`Auth::login`]), refreshes, logouts, and changes of users
//! and keys (each appended to the lake's auth log first, then read back, so several processes
//! of one lake agree on the order).
//!
//! Other processes' changes are read every `[auth] refresh_ms`; this process's own take
//! effect before the call that makes them returns.

use super::directory::{AuthChange, AuthEntry, Directory, KeyRecord, UserRecord};
use super::guard::{Lockout, RateLimiter};
use super::tokens::{TokenKeys, TokenUse};
use super::{AuthError, Identity, Role, Via, secrets, totp};
use itscam_sinks::{Lake, SideLog};
use itscam_types::config::AuthConfig;
use std::sync::{Arc, Mutex, RwLock};

/// A login's tokens.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// `Authorization: Bearer <access_token>` on every call.
    pub access_token: String,
    /// For `POST /api/v1/auth/refresh` once the access token expires.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
}

/// The auth service of one process.
#[derive(Clone, Debug)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: AuthConfig,
    lake: Option<Lake>,
    keys: TokenKeys,
    directory: RwLock<Directory>,
    /// One reader of the log at a time (keeps the directory's seq monotone).
    sync: tokio::sync::Mutex<()>,
    lockout: Mutex<Lockout>,
    logins: Mutex<RateLimiter>,
    requests: Mutex<RateLimiter>,
}

fn now_ms() -> u64 {
    itscam_types::time::now_ms()
}

impl Auth {
    /// The auth of `lake`: its token key (from `[auth] jwt_secret`, else generated once and
    /// kept in the lake) and its directory as of now.
    pub async fn open(lake: &Lake, config: &AuthConfig) -> Result<Auth, AuthError> {
        let secret = if config.jwt_secret.is_empty() {
            #[derive(serde::Serialize, serde::Deserialize)]
            struct KeyFile {
                hs256_key: String,
            }
            let made = KeyFile { hs256_key: secrets::random_token(48) };
            lake.create_or_read(SideLog::Auth, "jwt-key", made).await.map_err(AuthError::Store)?.hs256_key
        } else {
            config.jwt_secret.clone()
        };
        let auth = Auth::with_key(Some(lake.clone()), config, secret.as_bytes());
        auth.sync().await?;
        Ok(auth)
    }

    /// Auth with no lake behind it: `[auth] enabled = false` (every caller an anonymous admin).
    pub fn off() -> Auth {
        Auth::with_key(None, &AuthConfig::default(), secrets::random_token(48).as_bytes())
    }

    fn with_key(lake: Option<Lake>, config: &AuthConfig, secret: &[u8]) -> Auth {
        Auth {
            inner: Arc::new(Inner {
                config: config.clone(),
                lake,
                keys: TokenKeys::new(secret),
                directory: RwLock::default(),
                sync: tokio::sync::Mutex::default(),
                lockout: Mutex::new(Lockout::new(config.max_failed_logins, config.lockout_ms)),
                logins: Mutex::new(RateLimiter::new(f64::from(config.login_per_min) / 60.0, config.login_per_min)),
                requests: Mutex::new(RateLimiter::new(f64::from(config.rate_per_s), config.rate_burst)),
            }),
        }
    }

    /// Whether credentials are required.
    pub fn enabled(&self) -> bool {
        self.inner.config.enabled && self.inner.lake.is_some()
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// Reads the auth log's entries this process has not seen.
    pub async fn sync(&self) -> Result<(), AuthError> {
        let Some(lake) = &self.inner.lake else { return Ok(()) };
        let _one = self.inner.sync.lock().await;
        let after = self.read().seq;
        let entries: Vec<(u64, AuthEntry)> = lake.read_side(SideLog::Auth, after).await.map_err(AuthError::Store)?;
        let now = now_ms();
        let mut d = self.inner.directory.write().unwrap_or_else(|p| p.into_inner());
        for (seq, e) in &entries {
            d.apply(*seq, &e.change, now);
        }
        if !entries.is_empty() {
            tracing::info!(entries = entries.len(), seq = ?d.seq, "auth: users, keys and sign-outs read from the lake");
        }
        Ok(())
    }

    /// Reads other processes' changes every `[auth] refresh_ms`, for as long as the runtime runs.
    pub fn spawn_sync(&self, runtime: &tokio::runtime::Handle) {
        let auth = self.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(auth.inner.config.refresh_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = auth.sync().await {
                    tracing::warn!(error = %e, "auth: reading the users of other processes failed; retrying");
                }
            }
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.inner.directory.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `change` by `who`, then reads the log up to it.
    pub async fn record(&self, who: &str, change: AuthChange) -> Result<(), AuthError> {
        let lake = self.inner.lake.as_ref().ok_or(AuthError::Off)?;
        let entry = AuthEntry { at_ms: now_ms(), who: who.to_string(), change };
        lake.append_side(SideLog::Auth, |_| &entry).await.map_err(AuthError::Store)?;
        self.sync().await
    }

    /// Takes one request of `caller` from its rate budget.
    pub fn rate(&self, caller: &str) -> Result<(), AuthError> {
        let mut r = self.inner.requests.lock().unwrap_or_else(|p| p.into_inner());
        r.take(caller, now_ms()).map_err(|wait_ms| AuthError::Throttled { wait_ms })
    }

    /// The caller of a request with these credentials (`bearer`: an access token; `api_key`).
    pub fn authenticate(&self, bearer: Option<&str>, api_key: Option<&str>) -> Result<Identity, AuthError> {
        if !self.enabled() {
            return Ok(Identity::open());
        }
        let now = now_ms();
        let d = self.read();
        let (user, via) = match (bearer, api_key) {
            (Some(token), _) => {
                let claims = self.inner.keys.verify(token, TokenUse::Access, now).map_err(AuthError::Unauthenticated)?;
                let user = d.user(&claims.sub).ok_or_else(|| AuthError::Unauthenticated("the token's user does not exist".into()))?;
                if claims.iat_ms < user.tokens_after_ms || d.ended(&claims.sid) {
                    return Err(AuthError::Unauthenticated("the session has ended; log in again".into()));
                }
                (user, Via::Token { sid: claims.sid })
            }
            (None, Some(key)) => {
                let bad = || AuthError::Unauthenticated("unknown or revoked API key".into());
                let (id, secret) = secrets::parse_api_key(key).ok_or_else(bad)?;
                let record = d.key(id).filter(|k| secrets::same(&k.hash, &secrets::sha256_hex(secret.as_bytes()))).ok_or_else(bad)?;
                (d.user(&record.user).ok_or_else(bad)?, Via::Key { id: id.to_string() })
            }
            (None, None) => return Err(AuthError::Unauthenticated("credentials needed: Authorization: Bearer <token> or X-API-Key: <key>".into())),
        };
        if user.disabled {
            return Err(AuthError::Unauthenticated(format!("user {:?} is disabled", user.name)));
        }
        Ok(Identity { name: user.name.clone(), role: user.role, cameras: user.cameras.clone(), via })
    }

    /// Checks a password login from `address` and opens a session.
    pub async fn login(&self, name: &str, password: &str, code: Option<&str>, address: &str) -> Result<TokenPair, AuthError> {
        if !self.enabled() {
            return Err(AuthError::Off);
        }
        let now = now_ms();
        self.inner.logins.lock().unwrap_or_else(|p| p.into_inner()).take(address, now).map_err(|wait_ms| AuthError::Throttled { wait_ms })?;
        if let Some(until_ms) = self.inner.lockout.lock().unwrap_or_else(|p| p.into_inner()).locked_until(name, now) {
            return Err(AuthError::Locked { until_ms });
        }
        let user = self.read().user(name).cloned();
        let phc = user.as_ref().filter(|u| !u.password_hash.is_empty()).map_or_else(|| secrets::decoy_hash().to_string(), |u| u.password_hash.clone());
        let given = password.to_string();
        let matches = tokio::task::spawn_blocking(move || secrets::verify_password(&given, &phc)).await.unwrap_or(false);
        let user = match user {
            Some(u) if matches && !u.disabled && !u.password_hash.is_empty() => u,
            _ => return Err(self.failed(name, now, "wrong user name or password")),
        };
        match (&user.totp_secret, code) {
            (Some(secret), Some(code)) if totp::check(secret, &user.name, code, now) => {}
            (Some(_), Some(_)) => return Err(self.failed(name, now, "wrong TOTP code")),
            (Some(_), None) => return Err(AuthError::MfaRequired("this user logs in with a TOTP code too (\"totp\")".into())),
            (None, _) if self.inner.config.require_mfa_for.iter().any(|r| r == user.role.name()) => {
                return Err(AuthError::MfaRequired(format!("[auth] require_mfa_for: a {} must set up TOTP first (itscam users totp {})", user.role, user.name)));
            }
            (None, _) => {}
        }
        self.inner.lockout.lock().unwrap_or_else(|p| p.into_inner()).succeeded(name);
        Ok(self.issue(&user.name, &secrets::random_id(), now))
    }

    fn failed(&self, name: &str, now: u64, why: &str) -> AuthError {
        match self.inner.lockout.lock().unwrap_or_else(|p| p.into_inner()).failed(name, now) {
            Some(until_ms) => AuthError::Locked { until_ms },
            None => AuthError::Unauthenticated(why.into()),
        }
    }

    fn issue(&self, user: &str, sid: &str, now: u64) -> TokenPair {
        let c = &self.inner.config;
        TokenPair {
            access_token: self.inner.keys.issue(user, sid, TokenUse::Access, now, c.access_ttl_ms),
            refresh_token: self.inner.keys.issue(user, sid, TokenUse::Refresh, now, c.refresh_ttl_ms),
            token_type: "Bearer",
            expires_in: c.access_ttl_ms / 1000,
        }
    }

    /// A new access (and refresh) token of the session of `refresh_token`.
    pub fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let now = now_ms();
        let claims = self.inner.keys.verify(refresh_token, TokenUse::Refresh, now).map_err(AuthError::Unauthenticated)?;
        let d = self.read();
        let user = d.user(&claims.sub).filter(|u| !u.disabled && claims.iat_ms >= u.tokens_after_ms && !d.ended(&claims.sid));
        let user = user.ok_or_else(|| AuthError::Unauthenticated("the session has ended; log in again".into()))?;
        Ok(self.issue(&user.name, &claims.sid, now))
    }

    /// Ends the caller's session (its access and refresh tokens stop working).
    pub async fn logout(&self, caller: &Identity) -> Result<(), AuthError> {
        let Via::Token { sid } = &caller.via else { return Err(AuthError::Invalid("only a token session can log out; revoke an API key instead".into())) };
        let until_ms = now_ms() + self.inner.config.refresh_ttl_ms;
        self.record(&caller.who(), AuthChange::SessionEnded { sid: sid.clone(), until_ms }).await
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<UserRecord> {
        self.read().user(name).cloned()
    }

    /// Every user.
    pub fn users(&self) -> Vec<UserRecord> {
        self.read().users().into_iter().cloned().collect()
    }

    /// The keys of `user`.
    pub fn keys_of(&self, user: &str) -> Vec<KeyRecord> {
        self.read().keys_of(user).into_iter().cloned().collect()
    }

    /// The key with id `id`.
    pub fn key(&self, id: &str) -> Option<KeyRecord> {
        self.read().key(id).cloned()
    }
}

/// Checks a user name: 1 to 64 of `[A-Za-z0-9._@-]`.
pub fn check_user_name(name: &str) -> Result<(), AuthError> {
    let ok = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if ok { Ok(()) } else { Err(AuthError::Invalid(format!("user name {name:?}: 1 to 64 of letters, digits and . _ @ -"))) }
}

/// The role named `name`, or a clear error.
pub fn parse_role(name: &str) -> Result<Role, AuthError> {
    Role::parse(name).ok_or_else(|| AuthError::Invalid(format!("unknown role {name:?}; roles: {}", itscam_types::config::ROLE_NAMES.join(", "))))
}
