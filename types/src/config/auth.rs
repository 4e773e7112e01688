//! `[auth]`: who may call the HTTP API, and how hard it pushes back. README "Security".

use super::Problem;
use serde::{Deserialize, Serialize};

/// The roles, lowest first; each may do what the ones below it may (README "Security").
pub const ROLE_NAMES: [&str; 4] = ["viewer", "analyst", "operator", "admin"];

/// `[auth]`: identities (users with passwords, API keys, JWT sessions, TOTP) and the limits on
/// callers. Off by default: then every caller is an anonymous admin, and `itscam serve` /
/// `run --http` refuse to listen beyond loopback unless started with `--insecure`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Require credentials (`Authorization: Bearer <token>` or `X-API-Key: <key>`) on every
    /// route but login, refresh and the OpenAPI document.
    pub enabled: bool,
    /// The HS256 key of access and refresh tokens (at least 32 bytes). Empty: a random key is
    /// generated once and kept in the lake (`_itscam/auth/jwt-key.json`), shared by every
    /// process of the lake. Changing it signs every session out.
    pub jwt_secret: String,
    /// How long an access token is valid (ms).
    pub access_ttl_ms: u64,
    /// How long a refresh token is valid (ms); logout or a disabled user ends it earlier.
    pub refresh_ttl_ms: u64,
    /// Roles that must log in with a TOTP code (a second factor); a user of such a role
    /// without TOTP set up cannot log in with a password (API keys still work).
    pub require_mfa_for: Vec<String>,
    /// Failed logins in a row that lock an account.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked (ms).
    pub lockout_ms: u64,
    /// Login attempts one address may make per minute (then 429).
    pub login_per_min: u32,
    /// Requests per second one caller (user or key, else address) may make on average (a push
    /// gateway on one address sending many cameras' frames is one caller).
    pub rate_per_s: u32,
    /// Requests one caller may make at once above the average.
    pub rate_burst: u32,
    /// How often users, keys and sign-outs made by other processes of the lake are read (ms);
    /// this process's own changes take effect at once.
    pub refresh_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            jwt_secret: String::new(),
            access_ttl_ms: 15 * 60_000,
            refresh_ttl_ms: 7 * 24 * 3_600_000,
            require_mfa_for: Vec::new(),
            max_failed_logins: 5,
            lockout_ms: 15 * 60_000,
            login_per_min: 30,
            rate_per_s: 500,
            rate_burst: 1000,
            refresh_ms: 1_000,
        }
    }
}

impl AuthConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if !self.jwt_secret.is_empty() && self.jwt_secret.len() < 32 {
            out.push(Problem::new("auth.jwt_secret", "must be at least 32 bytes (or empty: generated and kept in the lake)"));
        }
        for (key, v) in [("access_ttl_ms", self.access_ttl_ms), ("refresh_ttl_ms", self.refresh_ttl_ms), ("lockout_ms", self.lockout_ms), ("refresh_ms", self.refresh_ms)] {
            if v == 0 {
                out.push(Problem::new(format!("auth.{key}"), "must be at least 1"));
            }
        }
        if self.refresh_ttl_ms < self.access_ttl_ms {
            out.push(Problem::new("auth.refresh_ttl_ms", "must be at least auth.access_ttl_ms"));
        }
        for (key, v) in [("max_failed_logins", self.max_failed_logins), ("login_per_min", self.login_per_min), ("rate_per_s", self.rate_per_s), ("rate_burst", self.rate_burst)] {
            if v == 0 {
                out.push(Problem::new(format!("auth.{key}"), "must be at least 1"));
            }
        }
        for (i, role) in self.require_mfa_for.iter().enumerate() {
            if !ROLE_NAMES.contains(&role.as_str()) {
                out.push(Problem::new(format!("auth.require_mfa_for[{i}]"), format!("unknown role {role:?}; roles: {}", ROLE_NAMES.join(", "))));
            }
        }
    }
}
