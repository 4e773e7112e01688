//! Sinks of itscam: Arrow schemas of the tables, rows → record batches, the Parquet lake
//! writer on `object_store` (a local directory or S3), the commit log that makes its files
//! visible atomically, the control log of operators' changes, lake maintenance (compaction,
//! retention, garbage collection) and erasure (`forget`).
//!
//! Sinks run off the timely workers: the dataflow hands rows to a [`LakeSink`] handle (a
//! non-blocking channel send) and the writer task encodes and uploads files on a Tokio runtime.
#![warn(missing_docs)]

pub mod alerts;
pub mod backfill;
mod batch;
mod commit_log;
mod concat;
mod control_log;
mod dir_lock;
mod error;
pub mod evidence_paths;
mod forget;
mod lake;
mod maintenance;
mod outage;
mod rows;
pub mod schema;
#[cfg(test)]
mod test_rows;
mod ship;
mod objects;
mod side_log;
mod spool;
mod sync;
mod unwritten;
mod writer;

pub use batch::*;
pub use error::SinkError;
pub use evidence_paths::{EVIDENCE_TABLE, EvidencePath, evidence_path, parse_evidence_path};
pub use forget::{FORGET_RUN_PREFIX, ForgetReport, TableForgotten, TimeRule, time_rule};
pub use commit_log::{Change, Commit, FileEntry, LOG_DIR, LakeState, Tombstone};
pub use control_log::{ControlChange, ControlEntry, ControlKind, ControlOp};
pub use lake::Lake;
pub use maintenance::{CompactReport, VacuumReport};
pub use outage::{HealthState, LakeHealth};
pub use schema::Table;
pub use side_log::SideLog;
pub use spool::{Spool, SpoolStats};
pub use sync::{LakeSync, SyncReport, SyncStatus};
pub use rows::SinkRows;
pub use unwritten::{Unwritten, UnwrittenPart};
pub use writer::{CommitPolicy, LakeSink, LakeWriter, PendingRows, SINK_HIGH_WATER_ROWS, UnwrittenRows, WriterSummary};
