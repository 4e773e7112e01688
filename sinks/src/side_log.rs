//! Logs beside the commit log, for the service's own state: `_itscam/<log>/<20-digit seq>.json`,
//! each entry written once with a conditional create (so several processes of one lake append
//! without a lock: a writer that loses a seq to another takes the next) and never rewritten.
//! The entries are opaque JSON to this crate; the engine gives them meaning:
//!
//! - [`SideLog::Auth`]: users, API keys and sign-outs (password and key *hashes* only). Not a
//!   table: nothing in it is readable over SQL.
//! - [`SideLog::Audit`]: batches of audit rows (logins, changes, queries), the `audit` table.
//!
//! Also one-off values created once and then shared ([`Lake::create_or_read`]), such as the
//! generated token key, `_itscam/auth/jwt-key.json`.

use crate::{Lake, SinkError};
use object_store::ObjectStoreExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A side log of the lake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideLog {
    /// Users, API keys, revoked sessions.
    Auth,
    /// Audit rows, in batches.
    Audit,
}

impl SideLog {
    /// Its folder under `_itscam/`.
    pub fn folder(self) -> &'static str {
        match self {
            SideLog::Auth => "auth",
            SideLog::Audit => "audit",
        }
    }
}

impl Lake {
    /// Appends `make(seq)` at the first free seq after the newest entry; returns the seq once the
    /// entry is durable.
    pub async fn append_side<T: Serialize>(&self, log: SideLog, make: impl Fn(u64) -> T) -> Result<u64, SinkError> {
        let mut seq = self.list_seqs(log.folder(), None).await?.last().map_or(0, |(s, _)| s + 1);
        loop {
            if self.create_json(&self.log_path(log.folder(), seq), &make(seq)).await? {
                return Ok(seq);
            }
            seq += 1;
        }
    }

    /// The entries after `after` (all with `None`), in seq order.
    pub async fn read_side<T: DeserializeOwned>(&self, log: SideLog, after: Option<u64>) -> Result<Vec<(u64, T)>, SinkError> {
        let mut out = Vec::new();
        for (seq, meta) in self.list_seqs(log.folder(), after).await? {
            let entry = self
                .read_json(&meta.location)
                .await?
                .ok_or_else(|| SinkError::CorruptLog { location: self.describe(&meta.location), reason: "listed, then gone (entries are never deleted)".into() })?;
            out.push((seq, entry));
        }
        Ok(out)
    }

    /// Deletes entry `seq` (retention: only logs whose entries may expire, such as the audit).
    pub async fn delete_side(&self, log: SideLog, seq: u64) -> Result<(), SinkError> {
        let path = self.log_path(log.folder(), seq);
        match self.store().delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.storage_error(&path, e)),
        }
    }

    /// The value at `_itscam/<log>/<name>.json`: `value` when none is there yet (it is written),
    /// else the one another process wrote first.
    pub async fn create_or_read<T: Serialize + DeserializeOwned>(&self, log: SideLog, name: &str, value: T) -> Result<T, SinkError> {
        let path = self.path_of(&format!("{}/{}/{name}.json", crate::commit_log::LOG_DIR, log.folder()));
        if self.create_json(&path, &value).await? {
            return Ok(value);
        }
        self.read_json(&path).await?.ok_or_else(|| SinkError::CorruptLog { location: self.describe(&path), reason: "exists, then gone".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_append_in_order_and_read_from_an_offset() {
        let dir = tempfile::Builder::new().prefix("side-log").tempdir().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        for i in 0..3u64 {
            assert_eq!(lake.append_side(SideLog::Auth, |seq| serde_json::json!({ "seq": seq, "i": i })).await.unwrap(), i);
        }
        let all: Vec<(u64, serde_json::Value)> = lake.read_side(SideLog::Auth, None).await.unwrap();
        assert_eq!(all.iter().map(|(s, v)| (*s, v["i"].as_u64().unwrap())).collect::<Vec<_>>(), vec![(0, 0), (1, 1), (2, 2)]);
        let tail: Vec<(u64, serde_json::Value)> = lake.read_side(SideLog::Auth, Some(1)).await.unwrap();
        assert_eq!(tail.len(), 1);
        assert!(lake.read_side::<serde_json::Value>(SideLog::Audit, None).await.unwrap().is_empty(), "the logs are apart");
        let first = lake.create_or_read(SideLog::Auth, "key", "a".to_string()).await.unwrap();
        let second = lake.create_or_read(SideLog::Auth, "key", "b".to_string()).await.unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("a", "a"), "the first value written is kept");
    }
}
