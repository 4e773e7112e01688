//! Identities and what they may do (README "Security"): users with argon2id-hashed passwords,
//! API keys kept as hashes, short-lived JWT access tokens with refresh tokens, a TOTP second
//! factor, lockout after failed logins and rate limits per caller.
//!
//! Users, keys and sign-outs are entries of the lake's auth log ([`directory`]), so every
//! process of a lake — on one machine or many, local or S3 — sees the same users. The roles
//! ([`Role`], with the tables each may read) are here; the permission of each route is in the
//! HTTP module's permission table.

pub mod directory;
pub mod guard;
mod identity;
mod manage;
mod role;
pub mod secrets;
mod service;
pub mod tokens;
pub mod totp;

pub use identity::{Identity, Via};
pub use manage::{NewKey, NewUser, UserPatch};
pub use role::Role;
pub use service::{Auth, TokenPair, check_user_name, parse_role};

use itscam_types::{Blame, Blamed};

/// Why a request was not let in, or an auth change not made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No, wrong, expired or revoked credentials (the caller's: 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// A TOTP code is needed (401 `mfa_required`).
    #[error("{0}")]
    MfaRequired(String),
    /// Too many failed logins: the account is locked until then (ms).
    #[error("too many failed logins: the account is locked for now; try again later")]
    Locked {
        /// When it unlocks.
        until_ms: u64,
    },
    /// Over the rate limit; wait this long (429).
    #[error("too many requests; retry in {wait_ms} ms")]
    Throttled {
        /// Milliseconds to wait.
        wait_ms: u64,
    },
    /// A refused change: bad name, weak password… (the caller's: 400/422).
    #[error("{0}")]
    Invalid(String),
    /// No such user or key.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// Auth is off (`[auth] enabled = false`): there are no users to log in as.
    #[error("authentication is off ([auth] enabled = false): there is nothing to log in to")]
    Off,
    /// The lake's auth log could not be read or written.
    #[error("the users' log in the lake cannot be reached: {0}")]
    Store(itscam_sinks::SinkError),
}

impl Blamed for AuthError {
    fn blame(&self) -> Blame {
        match self {
            AuthError::Store(e) => match e.blame() {
                Blame::User => Blame::External,
                b => b,
            },
            _ => Blame::User,
        }
    }
}
