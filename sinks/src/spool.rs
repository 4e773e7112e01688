//! The spool: finished Parquet files and the commits that list them, kept on local disk while
//! an `s3://` lake does not answer (`[lake.spool]`). No I/O to the lake here: the writer adds,
//! the drain (`drain.rs`) uploads and publishes, in order.
//!
//! **On disk.** `dir/manifest.json` lists the pending commits, oldest first; each lists its
//! files in order, with the name of the local copy (`<12-digit id>.parquet`) while it is not
//! uploaded. Every change is written whole to `manifest.json.tmp`, synced, and renamed over
//! the manifest; a file is written to `<id>.parquet.tmp`, synced and renamed before the
//! manifest names it. So after a crash the manifest names only complete files, and a file the
//! manifest does not name (a crash between the two renames) is deleted on the next open.
//!
//! **Exactly once.** Files keep the lake path they were given (unique per run), so an upload
//! repeated after a crash overwrites the same object. A commit is removed from the manifest
//! right after it is published; if the process dies in between, the next open marks the
//! spool *recovered* and the drain first checks whether the lake already lists the files of
//! the front commit (then it is dropped instead of published again). Only the front commit can
//! be in that state: commits are published one at a time, in order.
//!
//! **Open commits.** The newest pending commit is *open* while the writer still adds files to
//! it, and is *sealed* by the writer's next commit (with its checkpoint, if any). A commit left
//! open by a crash is sealed on the next open when its rows are nobody else's to replay
//! (`replayed == false`), and dropped when its sources replay them from the last checkpoint.

use crate::commit_log::FileEntry;
use crate::dir_lock::{LockError, lock_dir};
use crate::error::SinkError;
use itscam_types::config::SpoolConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const MANIFEST: &str = "manifest.json";

/// One spooled file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Spooled {
    /// The file as its commit will list it.
    pub entry: FileEntry,
    /// Name of the local copy while it is not uploaded; `None` once the lake has it.
    pub local: Option<String>,
    /// When it was spooled (ms since the Unix epoch).
    pub at_ms: u64,
}

/// One commit waiting to be published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The writer that made it.
    pub run_id: String,
    /// Its files, in order.
    pub files: Vec<Spooled>,
    /// The checkpoint it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Value>,
    /// No more files are added.
    pub sealed: bool,
    /// Its rows are replayed by their sources when it is lost (a checkpointed run): an open
    /// commit left by a crash is then dropped, not sealed.
    pub replayed: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// The lake its files are for.
    #[serde(default)]
    lake: String,
    next_id: u64,
    commits: VecDeque<Pending>,
}

/// What the spool holds, for `/health`, `/metrics` and the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SpoolStats {
    /// Files held locally (not uploaded yet).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Commits waiting to be published.
    pub commits: u64,
    /// When the oldest file still held was spooled (ms since the Unix epoch).
    pub oldest_ms: Option<u64>,
    /// Per table: (files, rows) dropped to make room (`full = "drop_oldest"`), since the start.
    pub dropped: BTreeMap<String, (u64, u64)>,
}

/// The spool directory, locked by this process.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    config: SpoolConfig,
    manifest: Manifest,
    bytes: u64,
    dropped: BTreeMap<String, (u64, u64)>,
    /// The manifest came from an earlier process: the front commit may be published already.
    pub(crate) recovered: bool,
    /// Local copies of uploaded files, kept until the deadline (ms) for queries that listed
    /// them before their upload ([`Spool::local_files`]).
    trash: Vec<(PathBuf, u64)>,
    _lock: File,
}

/// How long the local copy of an uploaded file stays for queries that listed it (ms).
const READ_GRACE_MS: u64 = 60_000;

impl Spool {
    /// Opens (creates) the spool of `config` for the lake at `lake` (its URL), locks it, and
    /// recovers what an earlier process left: complete files named by the manifest stay,
    /// anything else is deleted. A spool holding files of another lake is refused.
    pub fn open(config: &SpoolConfig, lake: &str) -> Result<Spool, SinkError> {
        let dir = PathBuf::from(&config.dir);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let dir = dir.canonicalize().map_err(io(&dir))?;
        let lock = match lock_dir(&dir) {
            Ok(lock) => lock,
            Err(LockError::Held) => return Err(SinkError::SpoolLocked { dir: dir.display().to_string() }),
            Err(LockError::Io(path, e)) => return Err(io(&path)(e)),
        };
        let path = dir.join(MANIFEST);
        let mut manifest: Manifest = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SinkError::Spool { path: path.display().to_string(), reason: format!("damaged manifest: {e}") })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(io(&path)(e)),
        };
        if !manifest.commits.is_empty() && manifest.lake != lake {
            return Err(SinkError::Spool {
                path: path.display().to_string(),
                reason: format!("holds files for the lake {}, not {lake}: run with that lake to ship them, or give this one its own [lake.spool] dir", manifest.lake),
            });
        }
        manifest.lake = lake.to_string();
        // An open commit of a crashed run: sealed when nobody replays its rows, else dropped.
        if manifest.commits.back().is_some_and(|c| !c.sealed) {
            let last = manifest.commits.back_mut().expect("checked");
            if last.replayed {
                manifest.commits.pop_back();
            } else {
                last.sealed = true;
            }
        }
        let named: std::collections::HashSet<String> = manifest.commits.iter().flat_map(|c| c.files.iter().filter_map(|f| f.local.clone())).collect();
        let mut bytes = 0;
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if named.contains(&name) {
                bytes += entry.metadata().map_err(io(&entry.path()))?.len();
            } else if name.ends_with(".parquet") || name.ends_with(".tmp") {
                std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        for name in &named {
            if !dir.join(name).exists() {
                return Err(SinkError::Spool { path: dir.join(name).display().to_string(), reason: "the manifest names a file that is gone (deleted by hand?)".into() });
            }
        }
        let recovered = !manifest.commits.is_empty();
        if recovered {
            tracing::info!(dir = %dir.display(), commits = manifest.commits.len(), files = named.len(), bytes, "the lake spool holds files of an earlier run: they are shipped first");
        }
        let mut spool = Spool { dir, config: config.clone(), manifest, bytes, dropped: BTreeMap::new(), recovered, trash: Vec::new(), _lock: lock };
        spool.save()?;
        Ok(spool)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long the end of a run waits for the lake to take the spool (ms).
    pub(crate) fn exit_wait_ms(&self) -> u64 {
        self.config.exit_wait_ms
    }

    /// Files of pending commits the lake has already (readers read them there).
    pub(crate) fn uploaded_files(&self) -> impl Iterator<Item = FileEntry> + '_ {
        self.manifest.commits.iter().flat_map(|c| c.files.iter()).filter(|f| f.local.is_none()).map(|f| f.entry.clone())
    }

    /// Files of pending commits held only here, with the absolute path of their local copy:
    /// what a query reads beside the lake's files.
    pub(crate) fn local_files(&self) -> impl Iterator<Item = (FileEntry, PathBuf)> + '_ {
        self.manifest.commits.iter().flat_map(|c| c.files.iter()).filter_map(|f| f.local.as_ref().map(|l| (f.entry.clone(), self.dir.join(l))))
    }

    /// Nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.manifest.commits.is_empty()
    }

    /// The newest checkpoint a pending commit carries: where a checkpointed run resumes when
    /// its spool was not shipped yet (the lake's own is older).
    pub fn last_checkpoint(&self) -> Option<Value> {
        self.manifest.commits.iter().rev().find_map(|c| c.checkpoint.clone())
    }

    /// The oldest pending commit.
    pub(crate) fn front(&self) -> Option<&Pending> {
        self.manifest.commits.front()
    }

    /// The local copy of a spooled file.
    pub(crate) fn local_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// What it holds.
    pub fn stats(&self) -> SpoolStats {
        let held = || self.manifest.commits.iter().flat_map(|c| c.files.iter()).filter(|f| f.local.is_some());
        SpoolStats {
            files: held().count() as u64,
            bytes: self.bytes,
            commits: self.manifest.commits.len() as u64,
            oldest_ms: held().map(|f| f.at_ms).min(),
            dropped: self.dropped.clone(),
        }
    }

    /// Whether `len` more bytes fit, after dropping the oldest files when the policy allows.
    /// A file larger than the whole spool is taken when the spool holds nothing else.
    pub(crate) fn make_room(&mut self, len: u64) -> Result<bool, SinkError> {
        let max = self.config.max_bytes;
        let fits = |held: u64| held == 0 || held + len <= max;
        if fits(self.bytes) {
            return Ok(true);
        }
        let mut victims = Vec::new();
        let mut freed = 0;
        'find: for c in &self.manifest.commits {
            for f in c.files.iter().filter(|f| f.local.is_some() && self.config.drops(&f.entry.table)) {
                if fits(self.bytes.saturating_sub(freed)) {
                    break 'find;
                }
                freed += f.entry.bytes;
                victims.push(f.entry.path.clone());
            }
        }
        if !fits(self.bytes.saturating_sub(freed)) {
            return Ok(false);
        }
        for path in victims {
            let Some(f) = self.remove_file(&path) else { continue };
            let d = self.dropped.entry(f.entry.table.clone()).or_default();
            d.0 += 1;
            d.1 += f.entry.rows;
            tracing::warn!(table = %f.entry.table, rows = f.entry.rows, file = %f.entry.path, dropped_files = d.0, dropped_rows = d.1, "the lake spool is full: dropped its oldest file of this table ([lake.spool] full = \"drop_oldest\")");
        }
        self.save()?;
        Ok(true)
    }

    /// Takes `entry`'s bytes into the open commit (opened when needed). Call
    /// [`Spool::make_room`] first: this does not check the limit.
    pub(crate) fn add_file(&mut self, run_id: &str, replayed: bool, entry: FileEntry, bytes: &[u8]) -> Result<(), SinkError> {
        let id = self.manifest.next_id;
        let name = format!("{id:012}.parquet");
        let tmp = self.dir.join(format!("{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        std::fs::rename(&tmp, self.dir.join(&name)).map_err(io(&tmp))?;
        self.manifest.next_id += 1;
        self.bytes += bytes.len() as u64;
        let at_ms = itscam_types::time::now_ms();
        self.open_commit(run_id, replayed).files.push(Spooled { entry, local: Some(name), at_ms });
        self.save()
    }

    /// Takes files the lake has already (uploaded, not committed) into the open commit.
    pub(crate) fn add_uploaded(&mut self, run_id: &str, replayed: bool, entries: Vec<FileEntry>) -> Result<(), SinkError> {
        if entries.is_empty() {
            return Ok(());
        }
        let at_ms = itscam_types::time::now_ms();
        self.open_commit(run_id, replayed).files.extend(entries.into_iter().map(|entry| Spooled { entry, local: None, at_ms }));
        self.save()
    }

    /// Seals the open commit with `checkpoint`; a checkpoint without an open commit becomes a
    /// commit of its own. Nothing to seal and no checkpoint: nothing happens.
    pub(crate) fn seal(&mut self, run_id: &str, replayed: bool, checkpoint: Option<Value>) -> Result<(), SinkError> {
        let open = self.manifest.commits.back().is_some_and(|c| !c.sealed);
        if !open && checkpoint.is_none() {
            return Ok(());
        }
        let c = self.open_commit(run_id, replayed);
        c.sealed = true;
        c.checkpoint = checkpoint;
        self.save()
    }

    /// Drops the open commit (its rows are replayed by their sources): the end of a
    /// checkpointed run.
    pub(crate) fn discard_open(&mut self) -> Result<(), SinkError> {
        if self.manifest.commits.back().is_some_and(|c| !c.sealed) {
            let c = self.manifest.commits.pop_back().expect("checked");
            for f in c.files {
                self.delete_local(&f);
            }
            self.save()?;
        }
        Ok(())
    }

    /// Records that the lake has the file at `path` (its local copy is deleted).
    pub(crate) fn uploaded(&mut self, path: &str) -> Result<(), SinkError> {
        let Some(f) = self.manifest.commits.iter_mut().flat_map(|c| c.files.iter_mut()).find(|f| f.entry.path == path) else {
            return Ok(()); // dropped meanwhile
        };
        let copy = f.clone();
        f.local = None;
        self.save()?;
        // A query may have listed the local copy: it stays a while (not counted as held).
        if let Some(name) = &copy.local {
            let path = self.dir.join(name);
            self.bytes = self.bytes.saturating_sub(std::fs::metadata(&path).map_or(copy.entry.bytes, |m| m.len()));
            self.trash.push((path, itscam_types::time::now_ms() + READ_GRACE_MS));
        }
        self.empty_trash();
        Ok(())
    }

    /// Removes the front commit once it is published.
    pub(crate) fn pop_front(&mut self) -> Result<(), SinkError> {
        if let Some(c) = self.manifest.commits.pop_front() {
            self.recovered = false;
            self.save()?;
            for f in c.files {
                self.delete_local(&f);
            }
        }
        Ok(())
    }

    /// Deletes the local copies whose grace is over.
    pub(crate) fn empty_trash(&mut self) {
        let now = itscam_types::time::now_ms();
        self.trash.retain(|(path, due)| {
            if *due > now {
                return true;
            }
            let _ = std::fs::remove_file(path);
            false
        });
    }

    fn open_commit(&mut self, run_id: &str, replayed: bool) -> &mut Pending {
        if self.manifest.commits.back().is_none_or(|c| c.sealed) {
            self.manifest.commits.push_back(Pending { run_id: run_id.into(), files: Vec::new(), checkpoint: None, sealed: false, replayed });
        }
        self.manifest.commits.back_mut().expect("pushed above")
    }

    /// Takes the file at `path` out of its commit, deleting its local copy.
    fn remove_file(&mut self, path: &str) -> Option<Spooled> {
        for c in &mut self.manifest.commits {
            if let Some(i) = c.files.iter().position(|f| f.entry.path == path) {
                let f = c.files.remove(i);
                self.delete_local(&f);
                return Some(f);
            }
        }
        None
    }

    fn delete_local(&mut self, f: &Spooled) {
        if let Some(name) = &f.local {
            let path = self.dir.join(name);
            let len = std::fs::metadata(&path).map_or(f.entry.bytes, |m| m.len());
            if std::fs::remove_file(&path).is_ok() {
                self.bytes = self.bytes.saturating_sub(len);
            }
        }
    }

    /// Writes the manifest whole: to a temporary file, synced, renamed over the old one.
    fn save(&mut self) -> Result<(), SinkError> {
        let path = self.dir.join(MANIFEST);
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        let json = serde_json::to_vec(&self.manifest).map_err(|e| SinkError::encode("spool manifest", e))?;
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(io(&path))
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SinkError + '_ {
    move |e| SinkError::Spool { path: path.display().to_string(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::config::SpoolFull;

    fn entry(table: &str, i: u64, bytes: u64) -> FileEntry {
        FileEntry { table: table.into(), path: format!("{table}/date=2026-01-01/part-r-{i:06}.parquet"), rows: 10, bytes }
    }

    fn config(dir: &Path, max_bytes: u64, full: SpoolFull) -> SpoolConfig {
        SpoolConfig { dir: dir.display().to_string(), max_bytes, full, ..Default::default() }
    }

    #[test]
    fn a_reopened_spool_keeps_complete_files_in_order_and_deletes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), 1 << 20, SpoolFull::Block);
        {
            let mut s = Spool::open(&c, "s3://b/").unwrap();
            assert!(matches!(Spool::open(&c, "s3://b/"), Err(SinkError::SpoolLocked { .. })), "one engine per spool");
            s.add_uploaded("r", false, vec![entry("tracks", 0, 5)]).unwrap();
            s.add_file("r", false, entry("detections", 1, 3), b"abc").unwrap();
            s.seal("r", false, Some(serde_json::json!({"k": 1}))).unwrap();
            s.add_file("r", false, entry("detections", 2, 3), b"def").unwrap();
            // A crash between a file's write and the manifest: a stray file.
            std::fs::write(dir.path().join("000000000099.parquet.tmp"), b"partial").unwrap();
        }
        assert!(matches!(Spool::open(&c, "s3://other/"), Err(SinkError::Spool { .. })), "another lake's spool");
        let s = Spool::open(&c, "s3://b/").unwrap();
        assert!(s.recovered);
        assert!(!dir.path().join("000000000099.parquet.tmp").exists());
        let commits: Vec<(usize, bool, Option<Value>)> = s.manifest.commits.iter().map(|c| (c.files.len(), c.sealed, c.checkpoint.clone())).collect();
        assert_eq!(commits, vec![(2, true, Some(serde_json::json!({"k": 1}))), (1, true, None)], "the open commit is sealed: nobody replays it");
        assert_eq!((s.stats().files, s.stats().bytes), (2, 6));
        assert_eq!(s.last_checkpoint(), Some(serde_json::json!({"k": 1})));
    }

    /// A full disk under the spool is an error naming the file and the cause (retrying does
    /// not make room), and the manifest still names only complete files.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_under_the_spool_is_an_error_naming_the_file_and_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), 1 << 20, SpoolFull::Block);
        let mut s = Spool::open(&c, "s3://b/").unwrap();
        // The next file's temporary name leads to /dev/full: every write fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", dir.path().join("000000000000.parquet.tmp")).unwrap();
        let err = s.add_file("r", false, entry("detections", 1, 3), b"abc").unwrap_err().to_string();
        assert!(err.contains("000000000000.parquet.tmp") && err.contains("No space left on device"), "{err}");
        assert!(s.is_empty() && s.stats().bytes == 0, "nothing half-written is listed");
    }

    #[test]
    fn a_crashed_checkpointed_runs_open_commit_is_dropped_for_its_sources_replay_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), 1 << 20, SpoolFull::Block);
        {
            let mut s = Spool::open(&c, "s3://b/").unwrap();
            s.add_file("r", true, entry("detections", 1, 3), b"abc").unwrap();
            s.seal("r", true, Some(serde_json::json!(1))).unwrap();
            s.add_file("r", true, entry("detections", 2, 3), b"def").unwrap();
        }
        let s = Spool::open(&c, "s3://b/").unwrap();
        assert_eq!(s.manifest.commits.len(), 1);
        assert_eq!((s.stats().files, s.stats().bytes), (1, 3), "the dropped commit's file is deleted");
    }

    #[test]
    fn a_full_spool_drops_the_oldest_files_of_the_chosen_tables_or_says_it_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), 10, SpoolFull::DropOldest);
        c.drop_tables = vec!["detections".into()];
        let mut s = Spool::open(&c, "s3://b/").unwrap();
        s.add_file("r", false, entry("tracks", 1, 4), b"tttt").unwrap();
        s.add_file("r", false, entry("detections", 2, 4), b"dddd").unwrap();
        assert!(s.make_room(4).unwrap(), "the detections file goes");
        s.add_file("r", false, entry("detections", 3, 4), b"eeee").unwrap();
        assert_eq!(s.stats().dropped, BTreeMap::from([("detections".to_string(), (1, 10))]));
        assert!(!s.make_room(8).unwrap(), "tracks are not dropped: full");
        let paths: Vec<&str> = s.manifest.commits[0].files.iter().map(|f| f.entry.path.as_str()).collect();
        assert_eq!(paths, ["tracks/date=2026-01-01/part-r-000001.parquet", "detections/date=2026-01-01/part-r-000003.parquet"]);

        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&config(dir.path(), 5, SpoolFull::Block), "s3://b/").unwrap();
        s.add_file("r", false, entry("detections", 1, 4), b"dddd").unwrap();
        assert!(!s.make_room(4).unwrap(), "block never drops");
        s.uploaded("detections/date=2026-01-01/part-r-000001.parquet").unwrap();
        assert!(s.make_room(4).unwrap(), "an upload makes room");
        s.seal("r", false, None).unwrap();
        s.pop_front().unwrap();
        assert!(s.is_empty());
    }
}
