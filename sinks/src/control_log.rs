//! The control log: every change an operator made to a running service (a rule put or deleted
//! over HTTP today; cameras, signals, users and keys later), in the order it took effect. One
//! protocol for `file://` and `s3://` lakes, the commit log's.
//!
//! An entry is `_itscam/control/<20-digit seq>.json`, written with a conditional create
//! (`If-None-Match: *` on S3, a no-replace link locally): two writers can never publish the
//! same seq, the loser takes the next one. Seqs are dense (n is only tried once n − 1 exists),
//! so readers apply the entries in seq order. An entry says who made the change, when (wall
//! clock), what it changed (`kind`, `id`, `op`), the object before and after (JSON, `null`
//! when absent), and `since_ms`: the event time from which the change applies. The writer
//! fixes `since_ms` before it appends and the dataflow applies the change at exactly that time,
//! so a replay (a restart, a checkpointed run) applies it at the same moment of event time.
//!
//! The log is the durable desired state: a change is acknowledged only once its entry exists.
//! Nothing ever rewrites or deletes an entry (it is also the audit trail, the `changes` table).

use crate::error::SinkError;
use crate::lake::Lake;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Folder of the control log under `_itscam/`.
const CONTROL: &str = "control";

/// What a control entry changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    /// A rule (`[[rule]]`).
    Rule,
    /// A camera (`[[camera]]`, with its calibration, lines and zones).
    Camera,
    /// A signal (`[[signal]]`).
    Signal,
    /// A registered model version's stage (`name@version`; before/after `{"stage": …}`).
    Model,
}

impl ControlKind {
    /// The name in the log and in the `changes` table.
    pub fn name(self) -> &'static str {
        match self {
            ControlKind::Rule => "rule",
            ControlKind::Camera => "camera",
            ControlKind::Signal => "signal",
            ControlKind::Model => "model",
        }
    }
}

/// What a control entry does to its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlOp {
    /// Adds or replaces the object.
    Put,
    /// Removes the object.
    Delete,
}

impl ControlOp {
    /// The name in the log and in the `changes` table.
    pub fn name(self) -> &'static str {
        match self {
            ControlOp::Put => "put",
            ControlOp::Delete => "delete",
        }
    }
}

/// A published entry: `_itscam/control/<seq>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlEntry {
    /// Position in the log (0 is the first change).
    pub seq: u64,
    /// Wall-clock time it was written, ms since the Unix epoch.
    pub at_ms: u64,
    /// Who made it: what the service knew of the caller (the peer address over HTTP, or
    /// `anonymous`; there are no identities yet).
    pub who: String,
    /// What kind of object it changes.
    pub kind: ControlKind,
    /// The object's id.
    pub id: String,
    /// Put or delete.
    pub op: ControlOp,
    /// The object before (`None`: it did not exist).
    pub before: Option<Value>,
    /// The object after (`None`: deleted).
    pub after: Option<Value>,
    /// Event time (ms) from which the change applies.
    pub since_ms: u64,
}

impl ControlEntry {
    /// The change this entry records, with its wall-clock time kept (to copy a log).
    pub fn change(&self) -> ControlChange {
        ControlChange {
            who: self.who.clone(),
            kind: self.kind,
            id: self.id.clone(),
            op: self.op,
            before: self.before.clone(),
            after: self.after.clone(),
            since_ms: self.since_ms,
            at_ms: Some(self.at_ms),
        }
    }
}

/// A change to append; [`Lake::append_control`] gives it its seq (and its time).
#[derive(Clone, Debug, PartialEq)]
pub struct ControlChange {
    /// Who made it.
    pub who: String,
    /// What kind of object it changes.
    pub kind: ControlKind,
    /// The object's id.
    pub id: String,
    /// Put or delete.
    pub op: ControlOp,
    /// The object before.
    pub before: Option<Value>,
    /// The object after.
    pub after: Option<Value>,
    /// Event time from which it applies.
    pub since_ms: u64,
    /// Wall-clock time to record; `None`: now.
    pub at_ms: Option<u64>,
}

impl Lake {
    /// Appends `change` at the first free seq after the newest entry (a conflict with another
    /// writer moves on to the next seq). Returns the published entry once it is durable.
    pub async fn append_control(&self, change: &ControlChange) -> Result<ControlEntry, SinkError> {
        let mut seq = self.list_seqs(CONTROL, None).await?.last().map_or(0, |(s, _)| s + 1);
        loop {
            if let Some(entry) = self.create_control_at(seq, change).await? {
                return Ok(entry);
            }
            seq += 1;
        }
    }

    /// Publishes `change` at exactly `seq`; `None` when another writer took that seq first (the
    /// caller reads what it says, then tries the next). A cluster's processes append this way,
    /// so each change is made against every change before it in the log.
    pub async fn create_control_at(&self, seq: u64, change: &ControlChange) -> Result<Option<ControlEntry>, SinkError> {
        let entry = ControlEntry {
            seq,
            at_ms: change.at_ms.unwrap_or_else(itscam_types::time::now_ms),
            who: change.who.clone(),
            kind: change.kind,
            id: change.id.clone(),
            op: change.op,
            before: change.before.clone(),
            after: change.after.clone(),
            since_ms: change.since_ms,
        };
        if !self.create_json(&self.log_path(CONTROL, seq), &entry).await? {
            return Ok(None);
        }
        tracing::info!(seq, kind = entry.kind.name(), id = %entry.id, op = entry.op.name(), since_ms = entry.since_ms, who = %entry.who, "control log: change recorded");
        Ok(Some(entry))
    }

    /// Every entry of the control log, in seq order (empty when there is none).
    pub async fn read_control(&self) -> Result<Vec<ControlEntry>, SinkError> {
        self.read_control_from(0).await
    }

    /// The entries at seq `from` and after, in seq order.
    pub async fn read_control_from(&self, from: u64) -> Result<Vec<ControlEntry>, SinkError> {
        let mut entries = Vec::new();
        for (seq, meta) in self.list_seqs(CONTROL, from.checked_sub(1)).await? {
            let entry: ControlEntry = self
                .read_json(&meta.location)
                .await?
                .ok_or_else(|| SinkError::CorruptLog { location: self.describe(&meta.location), reason: "listed, then gone (entries are never deleted)".into() })?;
            if entry.seq != seq {
                return Err(SinkError::CorruptLog { location: self.describe(&meta.location), reason: format!("holds seq {}", entry.seq) });
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn local_lake(name: &str) -> (tempfile::TempDir, Lake) {
        let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        (dir, lake)
    }

    fn change(id: &str, op: ControlOp, since_ms: u64) -> ControlChange {
        let after = (op == ControlOp::Put).then(|| json!({ "id": id, "kind": "zone_intrusion" }));
        ControlChange { who: "127.0.0.1:1".into(), kind: ControlKind::Rule, id: id.into(), op, before: None, after, since_ms, at_ms: None }
    }

    #[tokio::test]
    async fn entries_read_back_in_seq_order_with_every_field() {
        let (_dir, lake) = local_lake("control-order");
        assert!(lake.read_control().await.unwrap().is_empty(), "no log yet: no entries");
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            let e = lake.append_control(&change(id, ControlOp::Put, 10 * i as u64)).await.unwrap();
            assert_eq!(e.seq, i as u64);
        }
        let deleted = lake.append_control(&ControlChange { before: Some(json!({"id": "a"})), ..change("a", ControlOp::Delete, 40) }).await.unwrap();
        assert_eq!((deleted.seq, deleted.after.clone()), (3, None));
        let entries = lake.read_control().await.unwrap();
        let seen: Vec<(u64, &str, &str, u64)> = entries.iter().map(|e| (e.seq, e.id.as_str(), e.op.name(), e.since_ms)).collect();
        assert_eq!(seen, vec![(0, "a", "put", 0), (1, "b", "put", 10), (2, "c", "put", 20), (3, "a", "delete", 40)]);
        assert_eq!(entries[3], deleted);
        assert_eq!(entries[0].kind.name(), "rule");
    }

    #[tokio::test]
    async fn a_writer_that_loses_a_seq_takes_the_next_and_nothing_is_overwritten() {
        let (_dir, lake) = local_lake("control-conflict");
        // Writers racing for the same seqs: each listing finds the same newest entry, every
        // create but one fails, and the losers move on.
        let appends = (0..8).map(|i| {
            let lake = lake.clone();
            async move { lake.append_control(&change(&format!("r{i}"), ControlOp::Put, i)).await.unwrap() }
        });
        let published = futures::future::join_all(appends).await;
        let mut seqs: Vec<u64> = published.iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..8).collect::<Vec<_>>(), "dense and distinct");
        let entries = lake.read_control().await.unwrap();
        for e in &published {
            assert_eq!(&entries[e.seq as usize], e, "what each writer was told is what the log holds");
        }
        // A copy keeps the wall-clock time and the event time.
        let (_copy, other) = local_lake("control-copy");
        for e in &entries {
            other.append_control(&e.change()).await.unwrap();
        }
        assert_eq!(other.read_control().await.unwrap(), entries);
    }

    #[tokio::test]
    async fn a_create_at_a_taken_seq_changes_nothing_and_reads_resume_at_a_seq() {
        let (_dir, lake) = local_lake("control-at");
        let first = lake.create_control_at(0, &change("a", ControlOp::Put, 0)).await.unwrap().expect("seq 0 is free");
        assert!(lake.create_control_at(0, &change("b", ControlOp::Put, 5)).await.unwrap().is_none(), "seq 0 is taken");
        lake.create_control_at(1, &change("b", ControlOp::Put, 5)).await.unwrap().expect("seq 1 is free");
        assert_eq!(lake.read_control().await.unwrap()[0], first);
        let tail: Vec<(u64, String)> = lake.read_control_from(1).await.unwrap().into_iter().map(|e| (e.seq, e.id)).collect();
        assert_eq!(tail, vec![(1, "b".to_string())]);
        assert!(lake.read_control_from(2).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_damaged_entry_is_an_error_naming_it() {
        let (dir, lake) = local_lake("control-damaged");
        lake.append_control(&change("a", ControlOp::Put, 0)).await.unwrap();
        let path = dir.path().join("_itscam/control/00000000000000000000.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = lake.read_control().await.unwrap_err().to_string();
        assert!(err.contains("00000000000000000000.json"), "{err}");
    }
}
