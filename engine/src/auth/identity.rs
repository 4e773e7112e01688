//! Who a request comes from, once authenticated.

use super::Role;

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// `[auth] enabled = false`: nobody is asked; every caller is an anonymous admin.
    Open,
    /// An access token of session `sid`.
    Token {
        /// The session.
        sid: String,
    },
    /// API key `id`.
    Key {
        /// The key's id.
        id: String,
    },
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user's name (`anonymous` when auth is off).
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// The cameras the caller sees (empty: every camera).
    pub cameras: Vec<String>,
    /// How they proved it.
    pub via: Via,
}

impl Identity {
    /// The caller when auth is off.
    pub fn open() -> Identity {
        Identity { name: "anonymous".into(), role: Role::Admin, cameras: Vec::new(), via: Via::Open }
    }

    /// Who, as the control log, the `changes` and `audit` tables record it: `ann`,
    /// `ann (key 1a2b3c4d5e6f)`, `anonymous`.
    pub fn who(&self) -> String {
        match &self.via {
            Via::Key { id } => format!("{} (key {id})", self.name),
            _ => self.name.clone(),
        }
    }

    /// Whether the caller sees only some cameras.
    pub fn scoped(&self) -> bool {
        !self.cameras.is_empty()
    }

    /// Whether the caller sees `camera`.
    pub fn sees(&self, camera: &str) -> bool {
        self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera)
    }
}
