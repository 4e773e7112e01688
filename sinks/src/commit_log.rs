//! The commit log: which data files of the lake are visible. One protocol for `file://` and
//! `s3://` lakes.
//!
//! Data files are uploaded under the table directories first; they become visible only when a
//! commit that lists them is published as `_itscam/commits/<20-digit seq>.json`, written with a
//! conditional create (`If-None-Match: *` on S3, a no-replace link locally): two writers can
//! never publish the same seq, the loser takes the next one. A crash between an upload and its
//! commit leaves an orphan file that no reader ever sees (`itscam lake vacuum` deletes it).
//! Snapshots (`_itscam/snapshots/<seq>.json`: every live file as of that commit) spare readers
//! the replay of old commits; commits a snapshot covers may be deleted by vacuum.
//!
//! Commits are dense (seq n is only tried once n − 1 exists), so readers apply them in order
//! and stop at the first one not yet visible.
//!
//! Several writers may publish to one lake at once (the processes of a cluster, compaction):
//! each race for a seq has one winner, the others take the next. A checkpoint that names its
//! writer's cluster process (`"process": I`) is kept per process ([`LakeState::checkpoints`]):
//! each process of a cluster resumes from its own.

use crate::error::SinkError;
use crate::lake::Lake;
use crate::schema::Table;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Folder of the log, under the lake root.
pub const LOG_DIR: &str = "_itscam";

/// One data file, as a commit lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Table name (`detections`, …).
    pub table: String,
    /// Path relative to the lake root: `detections/date=2026-01-01/part-….parquet`, or
    /// `detections/camera_id=cam-1/date=2026-01-01/part-….parquet` when laid out by camera.
    pub path: String,
    /// Rows in the file (0 when unknown: files adopted from a lake written before the log).
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

impl FileEntry {
    /// Hive partition values parsed from the path (`camera_id=…`, `date=…`), in path order.
    pub fn partition_values(&self) -> Vec<(&str, &str)> {
        let dirs = self.path.rsplit_once('/').map_or("", |(d, _)| d);
        dirs.split('/').filter_map(|seg| seg.split_once('=')).collect()
    }

    /// How the file is laid out: by camera directory when its path has a `camera_id=` one.
    pub fn layout(&self) -> crate::schema::PartitionBy {
        if self.partition_values().iter().any(|(k, _)| *k == "camera_id") { crate::schema::PartitionBy::CameraDate } else { crate::schema::PartitionBy::Date }
    }

    /// The partition directory, relative to the lake root.
    pub fn partition_dir(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(d, _)| d)
    }
}

/// A published commit: `_itscam/commits/<seq>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// Position in the log (0 is the commit that started the log).
    pub seq: u64,
    /// Who published it (a writer's run id, `compact-…`, `vacuum-…`).
    pub run_id: String,
    /// Wall-clock time of publication, ms since the Unix epoch.
    pub at_ms: u64,
    /// Files that become visible.
    #[serde(default)]
    pub added: Vec<FileEntry>,
    /// Files that stop being visible (deleted later, after the grace period).
    #[serde(default)]
    pub removed: Vec<FileEntry>,
    /// Opaque position of the writer's sources (e.g. Kafka offsets) that the files of this
    /// and earlier commits cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Value>,
}

/// What a commit changes; [`Lake::publish`] gives it its seq and time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    /// The publisher (run id).
    pub run_id: String,
    /// Files to make visible.
    pub added: Vec<FileEntry>,
    /// Files to hide.
    pub removed: Vec<FileEntry>,
    /// Checkpoint to carry.
    pub checkpoint: Option<Value>,
    /// Publication time to record (ms since the Unix epoch); `None`: the wall clock.
    pub at_ms: Option<u64>,
}

/// A file hidden by a commit and not deleted yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The file.
    #[serde(flatten)]
    pub file: FileEntry,
    /// When the commit that removed it was published.
    pub removed_at_ms: u64,
}

/// `_itscam/snapshots/<seq>.json`: the state after commit `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    seq: u64,
    at_ms: u64,
    files: Vec<FileEntry>,
    #[serde(default)]
    tombstones: Vec<Tombstone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpoint: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    checkpoints: BTreeMap<u64, Value>,
}

/// The committed state of a lake after one commit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LakeState {
    /// The last commit applied; `None` before the first.
    pub seq: Option<u64>,
    /// Live (visible) files by path.
    pub files: BTreeMap<String, FileEntry>,
    /// Hidden files not deleted yet, by path.
    pub tombstones: BTreeMap<String, Tombstone>,
    /// The newest checkpoint any commit carried.
    pub checkpoint: Option<Value>,
    /// The newest checkpoint of each cluster process, by the checkpoint's `"process"` (0 when
    /// it names none: a single process).
    pub checkpoints: BTreeMap<u64, Value>,
    /// The lake has no log (written before the log existed): `files` is a directory listing.
    pub legacy: bool,
}

impl LakeState {
    /// Live files of one table, in path order.
    pub fn files_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a FileEntry> + 'a {
        self.files.values().filter(move |f| f.table == table)
    }

    /// Rows of a table over its live files.
    pub fn rows_of(&self, table: &str) -> u64 {
        self.files_of(table).map(|f| f.rows).sum()
    }

    pub(crate) fn apply(&mut self, c: &Commit) {
        for f in &c.removed {
            if let Some(file) = self.files.remove(&f.path) {
                self.tombstones.insert(f.path.clone(), Tombstone { file, removed_at_ms: c.at_ms });
            }
        }
        for f in &c.added {
            self.tombstones.remove(&f.path);
            self.files.insert(f.path.clone(), f.clone());
        }
        if let Some(checkpoint) = &c.checkpoint {
            let process = checkpoint.get("process").and_then(Value::as_u64).unwrap_or(0);
            self.checkpoints.insert(process, checkpoint.clone());
            self.checkpoint = Some(checkpoint.clone());
        }
        self.seq = Some(c.seq);
    }
}

fn seq_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

fn parse_seq(path: &Path) -> Option<u64> {
    let name = path.filename()?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

impl Lake {
    fn log_dir(&self, kind: &str) -> Path {
        self.path_of(&format!("{LOG_DIR}/{kind}"))
    }

    pub(crate) fn log_path(&self, kind: &str, seq: u64) -> Path {
        self.path_of(&format!("{LOG_DIR}/{kind}/{}", seq_name(seq)))
    }

    /// Seqs of the `kind` folder (`commits`, `snapshots` or `control`) after `after`, ascending.
    pub(crate) async fn list_seqs(&self, kind: &str, after: Option<u64>) -> Result<Vec<(u64, ObjectMeta)>, SinkError> {
        let dir = self.log_dir(kind);
        let stream = match after {
            Some(s) => self.store().list_with_offset(Some(&dir), &self.log_path(kind, s)),
            None => self.store().list(Some(&dir)),
        };
        let listed: Vec<ObjectMeta> = stream.try_collect().await.map_err(|e| self.storage_error(&dir, e))?;
        let mut out: Vec<(u64, ObjectMeta)> =
            listed.into_iter().filter_map(|m| parse_seq(&m.location).filter(|s| after.is_none_or(|a| *s > a)).map(|s| (s, m))).collect();
        out.sort_by_key(|(s, _)| *s);
        Ok(out)
    }

    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, SinkError> {
        let bytes = match self.store().get(path).await {
            Ok(r) => r.bytes().await.map_err(|e| self.storage_error(path, e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.storage_error(path, e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| SinkError::CorruptLog { location: self.describe(path), reason: e.to_string() })
    }

    /// Writes `value` at `path` unless something is there already (then `Ok(false)`).
    pub(crate) async fn create_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<bool, SinkError> {
        let json = serde_json::to_vec_pretty(value).map_err(|e| SinkError::encode("commit log", e))?;
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store().put_opts(path, PutPayload::from(json), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.storage_error(path, e)),
        }
    }

    /// Every `.parquet` object under a table's directory (committed or not).
    pub async fn list_data_files(&self, table: Table) -> Result<Vec<ObjectMeta>, SinkError> {
        let dir = self.table_path(table);
        let listed: Vec<ObjectMeta> = self.store().list(Some(&dir)).try_collect().await.map_err(|e| self.storage_error(&dir, e))?;
        Ok(listed.into_iter().filter(|m| m.location.as_ref().ends_with(".parquet")).collect())
    }

    async fn has_log(&self) -> Result<bool, SinkError> {
        for kind in ["commits", "snapshots"] {
            let dir = self.log_dir(kind);
            let first = self.store().list(Some(&dir)).try_next().await.map_err(|e| self.unreachable(&dir, e))?;
            if first.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Start-up step for writers: checks that the lake is reachable and writable (an error
    /// names the bucket and key) and starts the log when there is none. A lake written before
    /// the log existed gets commit 0 listing every data file it holds, so nothing disappears.
    pub async fn init_log(&self, run_id: &str) -> Result<(), SinkError> {
        self.ensure_table_dirs()?;
        if self.has_log().await? {
            return Ok(());
        }
        let mut added = Vec::new();
        for table in Table::ALL {
            for meta in self.list_data_files(table).await? {
                if let Some(rel) = self.relative(&meta.location) {
                    added.push(FileEntry { table: table.name().into(), path: rel.into(), rows: 0, bytes: meta.size });
                }
            }
        }
        if !added.is_empty() {
            tracing::info!(files = added.len(), lake = self.url(), "starting the commit log with the files already in the lake");
        }
        let commit = Commit { seq: 0, run_id: run_id.into(), at_ms: itscam_types::time::now_ms(), added, removed: Vec::new(), checkpoint: None };
        let path = self.log_path("commits", 0);
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let json = serde_json::to_vec_pretty(&commit).map_err(|e| SinkError::encode("commit log", e))?;
        match self.store().put_opts(&path, PutPayload::from(json), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(self.unreachable(&path, e)),
        }
    }

    /// The newest seq in the log (`None`: no log yet).
    pub async fn latest_seq(&self) -> Result<Option<u64>, SinkError> {
        let snap = self.list_seqs("snapshots", None).await?.last().map(|(s, _)| *s);
        let commit = self.list_seqs("commits", snap).await?.last().map(|(s, _)| *s);
        Ok(commit.or(snap))
    }

    /// Publishes a commit at the first free seq from `next` on (`None`: after the newest). When
    /// the change removes files, every commit published from `next` on is checked: if one
    /// removed the same files, or a snapshot already covers `next` (vacuum ran since), nothing
    /// is published ([`SinkError::Conflict`]). Pass the seq after the state the change was
    /// computed from.
    pub async fn publish(&self, change: &Change, next: Option<u64>) -> Result<Commit, SinkError> {
        // Vacuum deletes commits that a snapshot covers: never re-create one of those seqs.
        let snapshot = self.list_seqs("snapshots", None).await?.last().map(|(s, _)| *s);
        let next = match (next, snapshot) {
            (Some(n), Some(snap)) if snap >= n && !change.removed.is_empty() => {
                return Err(SinkError::Conflict(format!("the lake was vacuumed since commit {}", n.saturating_sub(1))));
            }
            (Some(n), Some(snap)) if snap >= n => None,
            (next, _) => next,
        };
        let mut seq = match next {
            Some(s) => s,
            None => match self.latest_seq().await? {
                Some(s) => s + 1,
                None => {
                    self.init_log(&change.run_id).await?;
                    self.latest_seq().await?.map_or(0, |s| s + 1)
                }
            },
        };
        loop {
            let commit = Commit {
                seq,
                run_id: change.run_id.clone(),
                at_ms: change.at_ms.unwrap_or_else(itscam_types::time::now_ms),
                added: change.added.clone(),
                removed: change.removed.clone(),
                checkpoint: change.checkpoint.clone(),
            };
            let path = self.log_path("commits", seq);
            if self.create_json(&path, &commit).await? {
                tracing::debug!(seq, added = commit.added.len(), removed = commit.removed.len(), "published commit");
                return Ok(commit);
            }
            // A try whose answer was lost (the connection dropped after the store took it) left
            // our commit there: it is ours, not a race lost.
            let theirs: Option<Commit> = self.read_json(&path).await?;
            if let Some(theirs) = theirs.filter(|t| t.run_id == commit.run_id && t.added == commit.added && t.removed == commit.removed && t.checkpoint == commit.checkpoint) {
                tracing::debug!(seq, "our commit was published by an earlier try");
                return Ok(theirs);
            }
            if !change.removed.is_empty() {
                let theirs: Option<Commit> = self.read_json(&path).await?;
                if let Some(theirs) = theirs {
                    let mine: std::collections::HashSet<&str> = change.removed.iter().map(|f| f.path.as_str()).collect();
                    if let Some(f) = theirs.removed.iter().find(|f| mine.contains(f.path.as_str())) {
                        return Err(SinkError::Conflict(format!("commit {seq} by {} already removed {}", theirs.run_id, f.path)));
                    }
                }
            }
            seq += 1;
        }
    }

    /// The committed state: the newest snapshot, then every commit after it. A lake without a
    /// log is listed instead (`legacy`).
    pub async fn load_state(&self) -> Result<LakeState, SinkError> {
        let mut last_err = None;
        for _ in 0..3 {
            match self.try_load_state().await {
                Ok(Some(state)) => return Ok(state),
                // A snapshot or commit vanished between listing and reading: vacuum ran; again.
                Ok(None) => continue,
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| SinkError::CorruptLog { location: self.url().into(), reason: "the log kept changing while it was read".into() }))
    }

    async fn try_load_state(&self) -> Result<Option<LakeState>, SinkError> {
        let mut state = LakeState::default();
        if let Some((seq, meta)) = self.list_seqs("snapshots", None).await?.pop() {
            let Some(snap): Option<Snapshot> = self.read_json(&meta.location).await? else { return Ok(None) };
            if snap.seq != seq {
                return Err(SinkError::CorruptLog { location: self.describe(&meta.location), reason: format!("holds seq {}", snap.seq) });
            }
            state.seq = Some(seq);
            state.files = snap.files.into_iter().map(|f| (f.path.clone(), f)).collect();
            state.tombstones = snap.tombstones.into_iter().map(|t| (t.file.path.clone(), t)).collect();
            // A snapshot written before checkpoints were kept per process has the newest only.
            state.checkpoints = snap.checkpoints;
            if state.checkpoints.is_empty()
                && let Some(c) = &snap.checkpoint
            {
                state.checkpoints.insert(c.get("process").and_then(Value::as_u64).unwrap_or(0), c.clone());
            }
            state.checkpoint = snap.checkpoint;
        }
        match self.apply_new_commits(&mut state).await? {
            Applied::Gap => Ok(None),
            Applied::Ok if state.seq.is_none() => self.legacy_state().await.map(Some),
            Applied::Ok => Ok(Some(state)),
        }
    }

    async fn legacy_state(&self) -> Result<LakeState, SinkError> {
        let mut state = LakeState { legacy: true, ..LakeState::default() };
        for table in Table::ALL {
            for meta in self.list_data_files(table).await? {
                if let Some(rel) = self.relative(&meta.location) {
                    let entry = FileEntry { table: table.name().into(), path: rel.into(), rows: 0, bytes: meta.size };
                    state.files.insert(rel.into(), entry);
                }
            }
        }
        Ok(state)
    }

    /// Applies the commits published after `state.seq`, in order.
    async fn apply_new_commits(&self, state: &mut LakeState) -> Result<Applied, SinkError> {
        self.apply_commits_until(state, u64::MAX).await
    }

    /// Applies the commits published after `state.seq` up to `until`, in order.
    async fn apply_commits_until(&self, state: &mut LakeState, until: u64) -> Result<Applied, SinkError> {
        let mut listed = self.list_seqs("commits", state.seq).await?;
        listed.retain(|(seq, _)| *seq <= until);
        let first = state.seq.map_or(0, |s| s + 1);
        let mut expected = first;
        for (seq, meta) in listed {
            if seq != expected {
                // The first commit after ours is gone (covered by a newer snapshot): reload.
                // A later hole is a commit not visible yet: stop before it.
                return Ok(if expected == first { Applied::Gap } else { Applied::Ok });
            }
            let Some(commit): Option<Commit> = self.read_json(&meta.location).await? else { return Ok(Applied::Gap) };
            if commit.seq != seq {
                return Err(SinkError::CorruptLog { location: self.describe(&meta.location), reason: format!("holds seq {}", commit.seq) });
            }
            state.apply(&commit);
            expected = seq + 1;
        }
        Ok(Applied::Ok)
    }

    /// Brings `state` up to date with the commits published since (cheap: one listing when
    /// nothing changed). Reloads from the newest snapshot when vacuum removed the commits it
    /// needed.
    pub async fn refresh(&self, state: &mut LakeState) -> Result<(), SinkError> {
        if state.legacy || state.seq.is_none() {
            *state = self.load_state().await?;
            return Ok(());
        }
        let mut next = state.clone();
        match self.apply_new_commits(&mut next).await? {
            Applied::Ok => *state = next,
            Applied::Gap => *state = self.load_state().await?,
        }
        Ok(())
    }

    /// Brings `state` up to commit `until`, not beyond, unless vacuum removed the commits it
    /// needed: then it is reloaded from the newest snapshot and may pass `until` (callers that
    /// need the exact seq check `state.seq`).
    pub async fn refresh_until(&self, state: &mut LakeState, until: u64) -> Result<(), SinkError> {
        if state.seq.is_some_and(|s| s >= until) {
            return Ok(());
        }
        if state.legacy || state.seq.is_none() {
            *state = self.load_state().await?;
            return Ok(());
        }
        let mut next = state.clone();
        match self.apply_commits_until(&mut next, until).await? {
            Applied::Ok => *state = next,
            Applied::Gap => *state = self.load_state().await?,
        }
        Ok(())
    }

    /// The checkpoint of the newest commit that carried one: where a restarted writer's
    /// sources resume. `None`: no commit carried one.
    pub async fn last_checkpoint(&self) -> Result<Option<Value>, SinkError> {
        Ok(self.load_state().await?.checkpoint)
    }

    /// The newest checkpoint of each cluster process ([`LakeState::checkpoints`]): where each
    /// process of a restarted cluster resumes.
    pub async fn last_checkpoints(&self) -> Result<BTreeMap<u64, Value>, SinkError> {
        Ok(self.load_state().await?.checkpoints)
    }

    /// Publishes a snapshot of `state` (no-op when one exists for its seq or the lake has no
    /// log). Returns whether one was written.
    pub async fn write_snapshot(&self, state: &LakeState) -> Result<bool, SinkError> {
        let Some(seq) = state.seq.filter(|_| !state.legacy) else { return Ok(false) };
        let snap = Snapshot {
            seq,
            at_ms: itscam_types::time::now_ms(),
            files: state.files.values().cloned().collect(),
            tombstones: state.tombstones.values().cloned().collect(),
            checkpoint: state.checkpoint.clone(),
            checkpoints: state.checkpoints.clone(),
        };
        self.create_json(&self.log_path("snapshots", seq), &snap).await
    }

    /// Deletes commits and snapshots that the second-newest snapshot covers (one vacuum cycle
    /// of slack for readers still replaying them). Returns how many objects were deleted.
    pub(crate) async fn prune_log(&self) -> Result<usize, SinkError> {
        let snaps = self.list_seqs("snapshots", None).await?;
        if snaps.len() < 2 {
            return Ok(0);
        }
        let keep_from = snaps[snaps.len() - 2].0;
        let mut doomed: Vec<Path> = snaps[..snaps.len() - 2].iter().map(|(_, m)| m.location.clone()).collect();
        doomed.extend(self.list_seqs("commits", None).await?.into_iter().filter(|(s, _)| *s <= keep_from).map(|(_, m)| m.location));
        for path in &doomed {
            match self.store().delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.storage_error(path, e)),
            }
        }
        Ok(doomed.len())
    }
}

enum Applied {
    Ok,
    Gap,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_come_from_the_path() {
        let f = FileEntry { table: "detections".into(), path: "detections/camera_id=cam-1/date=2026-01-01/part-1.parquet".into(), rows: 1, bytes: 1 };
        assert_eq!(f.partition_values(), vec![("camera_id", "cam-1"), ("date", "2026-01-01")]);
        assert_eq!(f.partition_dir(), "detections/camera_id=cam-1/date=2026-01-01");
        assert_eq!(parse_seq(&Path::from("x/_itscam/commits/00000000000000000042.json")), Some(42));
        assert_eq!(parse_seq(&Path::from("x/_itscam/commits/42.json")), None);
    }

    #[test]
    fn commits_add_remove_and_carry_the_newest_checkpoint() {
        let f = |p: &str| FileEntry { table: "t".into(), path: p.into(), rows: 1, bytes: 1 };
        let mut s = LakeState::default();
        s.apply(&Commit { seq: 0, run_id: "a".into(), at_ms: 1, added: vec![f("a"), f("b")], removed: vec![], checkpoint: Some(7.into()) });
        s.apply(&Commit { seq: 1, run_id: "c".into(), at_ms: 5, added: vec![f("c")], removed: vec![f("a"), f("b")], checkpoint: None });
        assert_eq!(s.files.keys().collect::<Vec<_>>(), vec!["c"]);
        assert_eq!(s.tombstones["a"].removed_at_ms, 5);
        assert_eq!(s.checkpoint, Some(7.into()));
        assert_eq!(s.seq, Some(1));
    }

    #[test]
    fn the_processes_of_a_cluster_each_keep_their_newest_checkpoint() {
        let mut s = LakeState::default();
        let commit = |seq, checkpoint: Value| Commit { seq, run_id: "r".into(), at_ms: 1, added: vec![], removed: vec![], checkpoint: Some(checkpoint) };
        s.apply(&commit(0, serde_json::json!({"time": 10, "process": 0})));
        s.apply(&commit(1, serde_json::json!({"time": 20, "process": 1})));
        s.apply(&commit(2, serde_json::json!({"time": 15, "process": 0})));
        assert_eq!(s.checkpoints[&0]["time"], 15);
        assert_eq!(s.checkpoints[&1]["time"], 20);
        assert_eq!(s.checkpoint.as_ref().unwrap()["time"], 15, "the newest of any process");
        // A single process's checkpoints name no process: they are process 0's.
        s.apply(&commit(3, serde_json::json!({"time": 30})));
        assert_eq!(s.checkpoints[&0]["time"], 30);
    }
}
