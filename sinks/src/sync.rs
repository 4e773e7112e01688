//! Edge sync: an edge site's lake copied to a central lake with the lake's own protocol —
//! no service between them. `[lake.sync] to` names the central lake.
//!
//! **Protocol.** The edge's commits are replayed on the central lake in commit order: each
//! commit's new files are copied (same relative path: a path holds its writer's run id, so
//! sites never collide) and published there in one commit of the central log. The position
//! is kept in the *edge* lake (`_itscam/sync/cursor.json`: the central URL and the last edge
//! seq replayed), written after the central commit. A crash in between replays that commit
//! again, and a file the central lake lists already (live or removed) is never copied or
//! committed twice, so a replay publishes nothing. The central lake's tables are the union of
//! its sites' (camera ids are global).
//!
//! **What is replayed.** A writer's commit: its files. A compaction on the edge: the merged
//! file, removing there the files it replaces that the central lake still lists (when the
//! central lake had compacted them itself, the commit is skipped: their rows are there
//! already). Retention and vacuum are each lake's own: the edge may keep a week while the
//! centre keeps a year. An erasure (`itscam lake forget`) is replayed like a compaction, its
//! removals included; where the central lake compacted the files itself, run the erasure
//! there too. When the edge's commits after the position were vacuumed (a snapshot
//! covers them), the edge's live files are compared with the central ones instead.
//!
//! **Limits.** `max_bytes_per_s` caps the upload rate; the engine syncs every `max_age_ms`.

use crate::commit_log::{Change, Commit, FileEntry, LOG_DIR, LakeState};
use crate::error::SinkError;
use crate::lake::Lake;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Where the edge's position is kept, in the edge lake.
const CURSOR: &str = "sync/cursor.json";

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// The central lake's URL: a position for another central lake is not used.
    to: String,
    /// The last edge commit replayed.
    seq: u64,
    /// When it was written.
    at_ms: u64,
}

/// How far the central lake is behind the edge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    /// The central lake.
    pub to: String,
    /// The edge's newest commit.
    pub edge_seq: Option<u64>,
    /// The last edge commit replayed on the central lake.
    pub synced_seq: Option<u64>,
    /// Edge commits not replayed yet.
    pub lag_commits: u64,
    /// Files they add.
    pub lag_files: u64,
    /// Their bytes.
    pub lag_bytes: u64,
    /// When the oldest of them was made (ms since the Unix epoch).
    pub oldest_unsynced_ms: Option<u64>,
}

/// What one [`LakeSync::sync`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Commits published on the central lake.
    pub commits: u64,
    /// Files copied.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files the central lake had already (a replay after a crash).
    pub already_there: u64,
    /// Files gone from the edge before they were copied (vacuumed; their rows travel in the
    /// compacted file that replaced them).
    pub gone: u64,
    /// The edge seq the central lake is now at.
    pub synced_seq: Option<u64>,
}

/// An edge lake and the central lake it is copied to.
#[derive(Clone, Debug)]
pub struct LakeSync {
    edge: Lake,
    central: Lake,
    max_bytes_per_s: u64,
}

impl LakeSync {
    /// Sync from `edge` to `central`, uploading at most `max_bytes_per_s` (0: no limit).
    pub fn new(edge: Lake, central: Lake, max_bytes_per_s: u64) -> LakeSync {
        LakeSync { edge, central, max_bytes_per_s }
    }

    /// The central lake.
    pub fn central(&self) -> &Lake {
        &self.central
    }

    /// How far the central lake is behind (reads the edge only).
    pub async fn status(&self) -> Result<SyncStatus, SinkError> {
        let synced = self.cursor().await?;
        let edge_seq = self.edge.latest_seq().await?;
        let mut status = SyncStatus { to: self.central.url().to_string(), edge_seq, synced_seq: synced, ..Default::default() };
        match self.commits_after(synced).await? {
            Some(commits) => {
                for c in commits.iter().filter(|c| !c.added.is_empty()) {
                    status.lag_files += c.added.len() as u64;
                    status.lag_bytes += c.added.iter().map(|f| f.bytes).sum::<u64>();
                    status.oldest_unsynced_ms = Some(status.oldest_unsynced_ms.unwrap_or(c.at_ms).min(c.at_ms));
                }
                status.lag_commits = commits.len() as u64;
            }
            None => status.lag_commits = edge_seq.map_or(0, |e| e.saturating_sub(synced.unwrap_or(0))),
        }
        Ok(status)
    }

    /// Replays every edge commit after the position on the central lake, in order, moving
    /// the position after each.
    pub async fn sync(&self) -> Result<SyncReport, SinkError> {
        self.central.init_log("sync").await?;
        let mut central = self.central.load_state().await?;
        let mut report = SyncReport { synced_seq: self.cursor().await?, ..Default::default() };
        let Some(commits) = self.commits_after(report.synced_seq).await? else {
            // The commits after the position were vacuumed: compare the live files instead.
            let edge = self.edge.load_state().await?;
            let added: Vec<FileEntry> = edge.files.values().filter(|f| !listed(&central, &f.path)).cloned().collect();
            tracing::info!(files = added.len(), "edge sync: the edge's commits after the position were vacuumed; copying the live files the central lake lacks");
            self.replay(&mut central, Change { run_id: "sync".into(), added, ..Default::default() }, &mut report).await?;
            if let Some(seq) = edge.seq {
                self.set_cursor(seq).await?;
                report.synced_seq = Some(seq);
            }
            return Ok(report);
        };
        for commit in commits {
            report.already_there += commit.added.iter().filter(|f| listed(&central, &f.path)).count() as u64;
            if let Some(change) = plan(&commit, &central) {
                self.replay(&mut central, change, &mut report).await?;
            }
            self.set_cursor(commit.seq).await?;
            report.synced_seq = Some(commit.seq);
        }
        Ok(report)
    }

    /// Copies `change`'s files and publishes it on the central lake.
    async fn replay(&self, central: &mut LakeState, mut change: Change, report: &mut SyncReport) -> Result<(), SinkError> {
        let started = Instant::now();
        let mut sent = 0u64;
        let mut copied = Vec::new();
        for f in std::mem::take(&mut change.added) {
            let from = self.edge.path_of(&f.path);
            let bytes = match self.edge.store().get(&from).await {
                Ok(r) => r.bytes().await.map_err(|e| self.edge.storage_error(&from, e))?,
                Err(object_store::Error::NotFound { .. }) => {
                    report.gone += 1;
                    continue;
                }
                Err(e) => return Err(self.edge.storage_error(&from, e)),
            };
            sent += bytes.len() as u64;
            self.central.put_file(&self.central.path_of(&f.path), bytes).await?;
            report.files += 1;
            report.bytes += f.bytes;
            copied.push(f);
            if self.max_bytes_per_s > 0 {
                let due = Duration::from_secs_f64(sent as f64 / self.max_bytes_per_s as f64);
                tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
            }
        }
        change.added = copied;
        if change.added.is_empty() && change.removed.is_empty() {
            return Ok(());
        }
        let commit = self.central.publish(&change, None).await?;
        central.apply(&commit);
        report.commits += 1;
        Ok(())
    }

    /// The edge commits after `after`, in order; `None` when some of them were vacuumed.
    async fn commits_after(&self, after: Option<u64>) -> Result<Option<Vec<Commit>>, SinkError> {
        let listed = self.edge.list_seqs("commits", after).await?;
        let mut expected = after.map_or(0, |s| s + 1);
        let mut commits = Vec::with_capacity(listed.len());
        for (seq, meta) in listed {
            if seq != expected {
                return Ok(if commits.is_empty() && (after.is_some() || seq > 0) { None } else { Some(commits) });
            }
            let Some(commit): Option<Commit> = self.edge.read_json(&meta.location).await? else { return Ok(Some(commits)) };
            commits.push(commit);
            expected = seq + 1;
        }
        Ok(Some(commits))
    }

    /// The last edge seq replayed on this central lake.
    async fn cursor(&self) -> Result<Option<u64>, SinkError> {
        let cursor: Option<Cursor> = self.edge.read_json(&self.cursor_path()).await?;
        Ok(cursor.filter(|c| c.to == self.central.url()).map(|c| c.seq))
    }

    async fn set_cursor(&self, seq: u64) -> Result<(), SinkError> {
        let path = self.cursor_path();
        let cursor = Cursor { to: self.central.url().to_string(), seq, at_ms: itscam_types::time::now_ms() };
        let json = serde_json::to_vec(&cursor).map_err(|e| SinkError::encode("sync cursor", e))?;
        self.edge.store().put(&path, PutPayload::from(json)).await.map_err(|e| self.edge.storage_error(&path, e))?;
        Ok(())
    }

    fn cursor_path(&self) -> object_store::path::Path {
        self.edge.path_of(&format!("{LOG_DIR}/{CURSOR}"))
    }
}

/// Whether the central lake lists `path`, live or removed.
fn listed(central: &LakeState, path: &str) -> bool {
    central.files.contains_key(path) || central.tombstones.contains_key(path)
}

/// What an edge commit becomes on the central lake (`None`: nothing).
fn plan(commit: &Commit, central: &LakeState) -> Option<Change> {
    if commit.added.is_empty() && !commit.run_id.starts_with(crate::forget::FORGET_RUN_PREFIX) {
        return None; // retention, vacuum, the log's start: each lake's own (an erasure is not)
    }
    let removed: Vec<FileEntry> = commit.removed.iter().filter(|f| central.files.contains_key(&f.path)).cloned().collect();
    if !commit.removed.is_empty() && removed.is_empty() && commit.removed.iter().any(|f| central.tombstones.contains_key(&f.path)) {
        return None; // the central lake compacted these rows itself
    }
    let added: Vec<FileEntry> = commit.added.iter().filter(|f| !listed(central, &f.path)).cloned().collect();
    (!added.is_empty() || !removed.is_empty()).then(|| Change { run_id: "sync".into(), added, removed, checkpoint: None, at_ms: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> FileEntry {
        FileEntry { table: "detections".into(), path: format!("detections/date=2026-01-01/part-e-{i:06}.parquet"), rows: 10, bytes: 5 }
    }

    async fn write(lake: &Lake, files: &[u64], removed: &[u64]) {
        for &i in files {
            lake.put_file(&lake.path_of(&entry(i).path), bytes::Bytes::from(format!("file{i}"))).await.unwrap();
        }
        let change = Change { run_id: "w".into(), added: files.iter().map(|&i| entry(i)).collect(), removed: removed.iter().map(|&i| entry(i)).collect(), ..Default::default() };
        lake.publish(&change, None).await.unwrap();
    }

    fn paths(state: &LakeState) -> Vec<String> {
        state.files.keys().cloned().collect()
    }

    #[test]
    fn an_erasure_that_only_removes_is_replayed_and_retention_is_not() {
        let mut central = LakeState::default();
        central.apply(&Commit { seq: 0, run_id: "w".into(), at_ms: 1, added: vec![entry(1), entry(2)], removed: vec![], checkpoint: None });
        let commit = |run_id: &str| Commit { seq: 5, run_id: run_id.into(), at_ms: 2, added: vec![], removed: vec![entry(1)], checkpoint: None };
        assert_eq!(plan(&commit("vacuum-1"), &central), None);
        assert_eq!(plan(&commit("forget-1"), &central).map(|c| c.removed), Some(vec![entry(1)]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_central_lake_follows_the_edge_in_order_and_a_lost_position_copies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let edge = Lake::open(&format!("file://{}", dir.path().join("edge").display())).unwrap();
        let central = Lake::open(&format!("file://{}", dir.path().join("central").display())).unwrap();
        edge.init_log("w").await.unwrap();
        write(&edge, &[1, 2], &[]).await;
        let sync = LakeSync::new(edge.clone(), central.clone(), 0);
        let status = sync.status().await.unwrap();
        assert_eq!((status.lag_files, status.lag_bytes, status.synced_seq), (2, 10, None));
        let r = sync.sync().await.unwrap();
        assert_eq!((r.commits, r.files, r.synced_seq), (1, 2, Some(1)));
        assert_eq!(sync.status().await.unwrap().lag_commits, 0);

        // A compaction on the edge: the merged file replaces the two there too.
        write(&edge, &[3], &[1, 2]).await;
        write(&edge, &[4], &[]).await;
        // Retention on the edge (removal only) stays on the edge.
        let retention = Change { run_id: "vacuum".into(), removed: vec![entry(4)], ..Default::default() };
        edge.publish(&retention, None).await.unwrap();
        // The position is lost (a crash before it was written): nothing is copied twice.
        edge.store().delete(&sync.cursor_path()).await.unwrap();
        let r = sync.sync().await.unwrap();
        assert_eq!((r.commits, r.files), (2, 2), "{r:?}");
        let state = central.load_state().await.unwrap();
        assert_eq!(paths(&state), [entry(3).path, entry(4).path]);
        assert_eq!(std::fs::read(dir.path().join("central").join(entry(3).path)).unwrap(), b"file3");
        let again = sync.sync().await.unwrap();
        assert_eq!((again.commits, again.files), (0, 0));
    }
}
