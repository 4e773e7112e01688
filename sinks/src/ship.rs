//! Shipping finished files to the lake: the [`Ledger`] the writer and the drain share (what is
//! published, the spool, the outage), and the drain task that empties the spool in order.
//!
//! **Two modes.** While the lake answers, the writer uploads each file and publishes each
//! commit itself. When an upload or a publication fails in a way worth waiting out (see
//! `outage.rs`) and a spool is configured, the writer switches to *spooling*: from then on
//! every file goes to the spool and every commit seals the spool's open commit, and the drain
//! task uploads and publishes them in order, waiting the outage out with backoff. The writer
//! never waits for the lake meanwhile (only for room in a full spool, under `full = "block"`).
//! When the drain finds the spool empty, under the ledger's lock, it switches spooling off and
//! ends; the writer's next file goes straight to the lake again. Every publication, the
//! writer's or the drain's, is recorded here, so the order of commits is the order of files.

use crate::commit_log::{Change, Commit, FileEntry};
use crate::error::SinkError;
use crate::lake::Lake;
use crate::outage::{LakeHealth, Outage};
use crate::schema::Table;
use crate::spool::Spool;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// What the writer and the drain share.
#[derive(Debug)]
pub(crate) struct Ledger {
    pub lake: Lake,
    pub run_id: String,
    /// Rows of an unpublished commit are replayed by their sources (checkpointed runs).
    pub replayed: bool,
    /// A snapshot after this many commits (0: never).
    pub snapshot_every: u64,
    pub health: LakeHealth,
    pub committed: tokio::sync::watch::Sender<Option<Value>>,
    /// Writer → drain: a file was spooled or a commit sealed.
    pub work: Notify,
    /// Drain → writer: the spool has room again.
    pub room: Notify,
    state: Mutex<LedgerState>,
}

/// The ledger's state, behind its lock (never held across an await).
#[derive(Debug)]
pub(crate) struct LedgerState {
    /// Seq to try for the next commit.
    pub next_commit: Option<u64>,
    /// The seq of this writer's newest commit.
    pub last_commit: Option<u64>,
    /// Per table: (files, rows) committed.
    pub tables: BTreeMap<&'static str, (u64, u64)>,
    /// Commits published.
    pub commits: u64,
    /// Waits out a lake that does not answer.
    pub outage: Outage,
    /// The spool, when configured.
    pub spool: Option<Spool>,
    /// Files and commits go to the spool; the drain runs.
    pub spooling: bool,
}

impl Ledger {
    pub(crate) fn new(lake: Lake, run_id: String, replayed: bool, snapshot_every: u64, spool: Option<Spool>) -> (Ledger, tokio::sync::watch::Receiver<Option<Value>>) {
        let health = LakeHealth::default();
        let (committed, rx) = tokio::sync::watch::channel(None);
        let spooling = spool.as_ref().is_some_and(|s| !s.is_empty());
        let state = LedgerState { next_commit: None, last_commit: None, tables: BTreeMap::new(), commits: 0, outage: Outage::new(health.clone()), spool, spooling };
        let ledger = Ledger { lake, run_id, replayed, snapshot_every, health, committed, work: Notify::new(), room: Notify::new(), state: Mutex::new(state) };
        ledger.show_spool(&ledger.lock());
        (ledger, rx)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a failure: how long to wait, or `None` when retrying cannot help.
    pub(crate) fn failed(&self, e: &SinkError) -> Option<Duration> {
        self.lock().outage.failed(&self.lake, e)
    }

    /// The lake answered.
    pub(crate) fn answered(&self) {
        self.lock().outage.succeeded(&self.lake);
    }

    /// Puts what the spool holds into the lake's health.
    pub(crate) fn show_spool(&self, state: &LedgerState) {
        self.health.set_spool(state.spool.as_ref().map(Spool::stats));
    }

    /// Publishes `change` once, after this writer's last commit, and records it.
    pub(crate) async fn publish(&self, change: &Change) -> Result<Commit, SinkError> {
        let next = self.lock().next_commit;
        let commit = self.lake.publish(change, next).await?;
        self.record(&commit).await;
        Ok(commit)
    }

    /// Records a published commit: the next seq, the counts, the checkpoint sources wait
    /// for, and a snapshot every `snapshot_every` commits.
    async fn record(&self, commit: &Commit) {
        let commits = {
            let mut s = self.lock();
            s.next_commit = Some(commit.seq + 1);
            s.last_commit = Some(commit.seq);
            for f in &commit.added {
                if let Some(t) = Table::ALL.iter().find(|t| t.name() == f.table) {
                    let entry = s.tables.entry(t.name()).or_default();
                    entry.0 += 1;
                    entry.1 += f.rows;
                }
            }
            s.commits += 1;
            s.commits
        };
        if commit.checkpoint.is_some() {
            self.committed.send_replace(commit.checkpoint.clone());
        }
        if self.snapshot_every > 0 && commits.is_multiple_of(self.snapshot_every) {
            // Readers replay fewer commits; a failure here costs only speed.
            match self.lake.load_state().await {
                Ok(state) => {
                    if let Err(e) = self.lake.write_snapshot(&state).await {
                        tracing::warn!(error = %e, "could not write a lake snapshot");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the lake state for a snapshot"),
            }
        }
    }

    /// Starts spooling (when a spool is configured and it is not on yet): `uploaded`, the
    /// files the lake has and no commit lists, go into the spool's open commit. True when the
    /// drain must be started.
    pub(crate) fn start_spooling(&self, uploaded: Vec<FileEntry>) -> Result<bool, SinkError> {
        let mut s = self.lock();
        let Some(spool) = s.spool.as_mut() else { return Ok(false) };
        spool.add_uploaded(&self.run_id, self.replayed, uploaded)?;
        let start = !s.spooling;
        s.spooling = true;
        self.show_spool(&s);
        Ok(start)
    }

    /// Applies `f` to the spool (if any) and shows its new state.
    pub(crate) fn with_spool<T>(&self, f: impl FnOnce(&mut Spool) -> Result<T, SinkError>) -> Result<Option<T>, SinkError> {
        let mut s = self.lock();
        let Some(spool) = s.spool.as_mut() else { return Ok(None) };
        let out = f(spool)?;
        self.show_spool(&s);
        Ok(Some(out))
    }
}

/// Empties the spool: uploads each commit's files and publishes it, oldest first, waiting out
/// the lake's outage; ends (switching spooling off) when nothing is pending, or with an error
/// retrying cannot fix.
pub(crate) async fn drain(ledger: std::sync::Arc<Ledger>) -> Result<(), SinkError> {
    // The writer's start may have found the lake away: the log is started first.
    retry(&ledger, || ledger.lake.init_log(&ledger.run_id)).await?;
    loop {
        let (front, recovered) = {
            let mut s = ledger.lock();
            let front = s.spool.as_ref().and_then(|sp| sp.front().cloned());
            match front {
                Some(f) => (f, s.spool.as_ref().is_some_and(|sp| sp.recovered)),
                None => {
                    s.spooling = false;
                    ledger.show_spool(&s);
                    ledger.room.notify_one();
                    return Ok(());
                }
            }
        };
        let mut shipped_one = false;
        for f in front.files.iter().filter(|f| f.local.is_some()) {
            let path = ledger.lock().spool.as_ref().map(|sp| sp.local_path(f.local.as_deref().expect("filtered")));
            let Some(path) = path else { return Ok(()) };
            let bytes = match tokio::fs::read(&path).await {
                Ok(b) => bytes::Bytes::from(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // dropped for room meanwhile
                Err(e) => return Err(SinkError::Spool { path: path.display().to_string(), reason: e.to_string() }),
            };
            let target = ledger.lake.path_of(&f.entry.path);
            retry(&ledger, || ledger.lake.put_file(&target, bytes.clone())).await?;
            ledger.with_spool(|sp| sp.uploaded(&f.entry.path))?;
            ledger.room.notify_one();
            shipped_one = true;
        }
        if shipped_one {
            continue; // look again: files may have been added or dropped meanwhile
        }
        if !front.sealed {
            ledger.work.notified().await;
            continue;
        }
        if recovered && published_before(&ledger, &front).await? {
            tracing::info!(files = front.files.len(), run_id = %front.run_id, "a spooled commit of an earlier run was published before it stopped: not published again");
            ledger.with_spool(Spool::pop_front)?;
            continue;
        }
        let change = Change { run_id: front.run_id.clone(), added: front.files.iter().map(|f| f.entry.clone()).collect(), removed: Vec::new(), checkpoint: front.checkpoint.clone(), at_ms: None };
        retry(&ledger, || ledger.publish(&change)).await?;
        ledger.with_spool(Spool::pop_front)?;
        ledger.room.notify_one();
    }
}

/// Whether the lake lists a file of `pending` already, or (a commit of a checkpoint alone)
/// carries its checkpoint: the process that spooled it died after publishing it.
async fn published_before(ledger: &Ledger, pending: &crate::spool::Pending) -> Result<bool, SinkError> {
    let state = retry(ledger, || ledger.lake.load_state()).await?;
    Ok(match pending.files.first() {
        Some(_) => pending.files.iter().any(|f| state.files.contains_key(&f.entry.path) || state.tombstones.contains_key(&f.entry.path)),
        // Any process's: in a cluster another process may have committed since.
        None => pending.checkpoint.as_ref().is_some_and(|c| state.checkpoints.values().any(|theirs| theirs == c)),
    })
}

/// Tries `op` until it succeeds, waiting out failures the outage policy waits out.
pub(crate) async fn retry<T, F, Fut>(ledger: &Ledger, mut op: F) -> Result<T, SinkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SinkError>>,
{
    loop {
        match op().await {
            Ok(v) => {
                ledger.answered();
                return Ok(v);
            }
            Err(e) => match ledger.failed(&e) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::commit_log::{Change, FileEntry};
    use crate::spool::Spool;
    use crate::{CommitPolicy, Lake, LakeWriter};
    use itscam_types::config::{SpoolConfig, WriterConfig};

    fn entry(i: u64) -> FileEntry {
        FileEntry { table: "detections".into(), path: format!("detections/date=2026-01-01/part-old-{i:06}.parquet"), rows: 10 + i, bytes: 4 }
    }

    /// A process died after publishing a spooled commit and before taking it out of the
    /// manifest; the next writer ships the rest of its spool first and publishes nothing twice.
    #[test]
    fn a_spool_left_by_a_crash_is_shipped_first_and_nothing_is_published_twice() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().join("lake").display())).unwrap();
        runtime.block_on(lake.init_log("t")).unwrap();
        let config = SpoolConfig { dir: dir.path().join("spool").display().to_string(), ..Default::default() };
        {
            let mut spool = Spool::open(&config, lake.url()).unwrap();
            spool.add_file("old", false, entry(1), b"one!").unwrap();
            spool.seal("old", false, None).unwrap();
            spool.add_file("old", false, entry(2), b"two!").unwrap();
            spool.seal("old", false, Some(serde_json::json!({"at": 2}))).unwrap();
            // The first commit went out just before the crash.
            runtime.block_on(async {
                lake.put_file(&lake.path_of(&entry(1).path), bytes::Bytes::from_static(b"one!")).await.unwrap();
                lake.publish(&Change { run_id: "old".into(), added: vec![entry(1)], ..Default::default() }, None).await.unwrap();
            });
        }
        let spool = Spool::open(&config, lake.url()).unwrap();
        assert_eq!(spool.last_checkpoint(), Some(serde_json::json!({"at": 2})), "a checkpointed run resumes from the spool");
        let (sink, writer, _) = LakeWriter::start_spooled(lake.clone(), WriterConfig::default(), "new".into(), CommitPolicy::EveryWrite, false, Some(spool), runtime.handle());
        drop(sink);
        let summary = runtime.block_on(writer.finish()).unwrap();
        assert_eq!(summary.commits, 1, "only the second spooled commit is published");
        let spool = summary.spool.expect("a spool");
        assert_eq!((spool.files, spool.commits), (0, 0), "the spool is empty");
        let state = runtime.block_on(lake.load_state()).unwrap();
        let files: Vec<&str> = state.files_of("detections").map(|f| f.path.as_str()).collect();
        assert_eq!(files, [entry(1).path, entry(2).path]);
        assert_eq!(state.checkpoint, Some(serde_json::json!({"at": 2})));
        assert_eq!(std::fs::read(dir.path().join("lake").join(&entry(2).path)).unwrap(), b"two!");
        // Local copies stay a minute for readers that listed them; the next open deletes them.
        drop(Spool::open(&config, lake.url()).unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("spool")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).filter(|n| n.ends_with(".parquet")).collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
