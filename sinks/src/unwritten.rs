//! What the lake writer holds and has not committed, for readers in the same process: the
//! fresh part of a query (see the engine's `lake_table.rs`); the writer's handle that asks for
//! it is [`crate::UnwrittenRows`].
//!
//! **Protocol.** A reader asks the writer (a message in the same channel as the rows, so it
//! comes after every row sent before it) and gets an [`Unwritten`]: the rows taken in and not
//! committed, and `after_commit`, the seq of the writer's newest commit. Every row the writer
//! took in is then in exactly one of: a commit at or below `after_commit`, or this answer. A
//! reader that unions this answer with the lake state at `after_commit` (or at any later seq
//! read *before* it asked: the writer's commits after that point do not exist yet) counts no
//! row twice and misses none; commits by others (compaction) only rearrange committed rows.

use crate::commit_log::FileEntry;
use crate::schema::Table;
use arrow::record_batch::RecordBatch;

/// Rows of one partition that the writer holds.
#[derive(Clone, Debug)]
pub struct UnwrittenPart {
    /// Their table.
    pub table: Table,
    /// Their camera (`None` for tables not partitioned by camera).
    pub camera_id: Option<String>,
    /// Their UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// The rows, in the table's file schema.
    pub batches: Vec<RecordBatch>,
}

/// A snapshot of what the writer has not committed.
#[derive(Clone, Debug, Default)]
pub struct Unwritten {
    /// The seq of the writer's newest commit (`None`: it has committed nothing).
    pub after_commit: Option<u64>,
    /// Rows in memory: files in progress, and rows waiting for a checkpoint.
    pub parts: Vec<UnwrittenPart>,
    /// Files uploaded and not committed yet (they wait for a checkpoint, or in the spool for
    /// their turn).
    pub files: Vec<FileEntry>,
    /// Files waiting in the spool for the lake: each as its commit will list it, and the
    /// absolute path of its local copy (kept a minute after its upload for such readers).
    pub spooled: Vec<(FileEntry, std::path::PathBuf)>,
}
