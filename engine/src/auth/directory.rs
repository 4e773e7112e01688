//! The users, API keys and ended sessions: the fold of the lake's auth log
//! (`_itscam/auth/<seq>.json`, [`itscam_sinks::SideLog::Auth`]). No I/O here: [`Directory::apply`]
//! takes entries in log order, as the service and the CLI read them.
//!
//! What the log keeps of secrets: argon2id hashes of passwords, SHA-256 of API keys, TOTP
//! secrets (they must be read to check a code; whoever can read the lake's `_itscam/` folder
//! is an administrator of the lake anyway). Never a password, key or token.

use super::Role;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A user as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The cameras the user sees (empty: every camera).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// A disabled user cannot log in, and their tokens and keys stop working.
    #[serde(default)]
    pub disabled: bool,
    /// argon2id PHC string of the password (empty: no password login, keys only).
    pub password_hash: String,
    /// Base32 TOTP secret, when a second factor is set up.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// Tokens issued before this time (ms) are refused: set by a password change, a disable
    /// and "sign out everywhere".
    #[serde(default)]
    pub tokens_after_ms: u64,
}

/// An API key as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Its id (the `itk_<id>_` part).
    pub id: String,
    /// Whose key it is: it acts as that user.
    pub user: String,
    /// What it is for.
    #[serde(default)]
    pub label: String,
    /// SHA-256 (hex) of its secret.
    pub hash: String,
    /// When it was made (ms).
    pub created_ms: u64,
}

/// A change of the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AuthChange {
    /// A user added or replaced.
    UserPut {
        /// The user.
        user: UserRecord,
    },
    /// A key made.
    KeyPut {
        /// The key (hash only).
        key: KeyRecord,
    },
    /// A key revoked.
    KeyRevoked {
        /// Its id.
        id: String,
    },
    /// A session signed out: its access and refresh tokens are refused from now on.
    SessionEnded {
        /// The session id (`sid` of its tokens).
        sid: String,
        /// When its refresh token expires anyway (ms): the entry is forgotten after.
        until_ms: u64,
    },
}

/// An entry of the auth log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthEntry {
    /// Wall-clock time of the change (ms).
    pub at_ms: u64,
    /// Who made it (`user:<name>`, `cli`).
    pub who: String,
    /// The change.
    #[serde(flatten)]
    pub change: AuthChange,
}

/// Users, keys and ended sessions, as of the last entry applied.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    users: HashMap<String, UserRecord>,
    keys: HashMap<String, KeyRecord>,
    ended: HashMap<String, u64>,
    /// The last seq applied.
    pub seq: Option<u64>,
}

impl Directory {
    /// Applies entry `seq` (entries at or before the last applied one are skipped).
    pub fn apply(&mut self, seq: u64, change: &AuthChange, now_ms: u64) {
        if self.seq.is_some_and(|s| seq <= s) {
            return;
        }
        self.seq = Some(seq);
        match change {
            AuthChange::UserPut { user } => {
                self.users.insert(user.name.clone(), user.clone());
            }
            AuthChange::KeyPut { key } => {
                self.keys.insert(key.id.clone(), key.clone());
            }
            AuthChange::KeyRevoked { id } => {
                self.keys.remove(id);
            }
            AuthChange::SessionEnded { sid, until_ms } => {
                self.ended.insert(sid.clone(), *until_ms);
                self.ended.retain(|_, until| *until > now_ms);
            }
        }
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(name)
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<&UserRecord> {
        let mut all: Vec<_> = self.users.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The key with id `id`.
    pub fn key(&self, id: &str) -> Option<&KeyRecord> {
        self.keys.get(id)
    }

    /// The keys of `user`, oldest first.
    pub fn keys_of(&self, user: &str) -> Vec<&KeyRecord> {
        let mut all: Vec<_> = self.keys.values().filter(|k| k.user == user).collect();
        all.sort_by_key(|k| (k.created_ms, k.id.clone()));
        all
    }

    /// Whether session `sid` was signed out.
    pub fn ended(&self, sid: &str) -> bool {
        self.ended.contains_key(sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role) -> UserRecord {
        UserRecord { name: name.into(), role, cameras: vec![], disabled: false, password_hash: String::new(), totp_secret: None, tokens_after_ms: 0 }
    }

    #[test]
    fn the_log_folds_in_order_and_replays_are_skipped() {
        let mut d = Directory::default();
        d.apply(0, &AuthChange::UserPut { user: user("ann", Role::Viewer) }, 0);
        d.apply(1, &AuthChange::UserPut { user: user("ann", Role::Admin) }, 0);
        d.apply(0, &AuthChange::UserPut { user: user("ann", Role::Viewer) }, 0);
        assert_eq!(d.user("ann").unwrap().role, Role::Admin, "a replayed older entry changes nothing");
        let key = KeyRecord { id: "abc".into(), user: "ann".into(), label: String::new(), hash: "h".into(), created_ms: 5 };
        d.apply(2, &AuthChange::KeyPut { key }, 0);
        assert_eq!(d.keys_of("ann").len(), 1);
        d.apply(3, &AuthChange::KeyRevoked { id: "abc".into() }, 0);
        assert!(d.key("abc").is_none());
        d.apply(4, &AuthChange::SessionEnded { sid: "s1".into(), until_ms: 100 }, 50);
        assert!(d.ended("s1"));
        d.apply(5, &AuthChange::SessionEnded { sid: "s2".into(), until_ms: 300 }, 200);
        assert!(!d.ended("s1") && d.ended("s2"), "ended sessions are forgotten once their tokens expire anyway");
    }

    #[test]
    fn an_entry_reads_back_with_its_op_tag() {
        let e = AuthEntry { at_ms: 1, who: "cli".into(), change: AuthChange::KeyRevoked { id: "abc".into() } };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["op"], "key_revoked");
        assert_eq!(serde_json::from_value::<AuthEntry>(v).unwrap(), e);
    }
}
