//! One process per local state directory (the alert outbox, the lake spool): an exclusive
//! advisory lock on `DIR/lock`, held as long as the returned file is open and released by the
//! OS when the process dies (SIGKILL included), so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Why a directory could not be locked.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another process holds it.
    Held,
    /// The lock file could not be opened or locked.
    Io(PathBuf, std::io::Error),
}

/// Locks `dir` (which must exist) for this process.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, LockError> {
    let path = dir.join("lock");
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| LockError::Io(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Held),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Io(path, e)),
    }
}
