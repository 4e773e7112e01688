//! `[lake.spool]` (where finished files wait while an `s3://` lake is unreachable) and
//! `[lake.sync]` (an edge site's local lake copied to a central one). README "When the lake
//! goes away" and "Edge sync".

use super::{Problem, S3Config};
use serde::{Deserialize, Serialize};

/// The tables of the lake, by SQL name (what `drop_tables` may name).
pub const LAKE_TABLES: [&str; 16] = [
    "detections", "tracks", "errors", "frame_quality", "line_crossings", "zone_events", "traffic_metrics", "violations", "anomalies", "alerts",
    "movements", "turning_counts", "queues", "queue_samples", "lane_metrics", "signal_performance",
];

/// `[lake.spool]`: when an `s3://` lake does not answer, finished Parquet files and the commits
/// that list them wait here on local disk, and are uploaded and committed in their order once
/// it answers again, each exactly once (also after a crash: the next start ships them first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpoolConfig {
    /// Directory of the spool (created if missing; one engine at a time, it is locked).
    pub dir: String,
    /// Bytes of files the spool may hold (0: no spool — the writer holds what it has in memory
    /// and the sources pause until the lake answers).
    pub max_bytes: u64,
    /// What a full spool does: `"block"` (the writer waits for room: file, stdin and Kafka
    /// sources pause, nothing is lost; pushes answer 429 and live video drops frames, counted)
    /// or `"drop_oldest"` (the oldest spooled files of `drop_tables` are deleted, counted and
    /// logged per table; when none is left to drop, it blocks).
    pub full: SpoolFull,
    /// Under `drop_oldest`: the tables whose files may be dropped (empty: every table).
    pub drop_tables: Vec<String>,
    /// How long the end of a run waits for the lake to take what is spooled (ms); what is
    /// left stays in the spool and is shipped by the next `run` or `serve`.
    pub exit_wait_ms: u64,
}

/// `[lake.spool] full`: what happens when the spool holds `max_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpoolFull {
    /// Backpressure: nothing is lost.
    #[default]
    Block,
    /// The oldest files of the chosen tables make room.
    DropOldest,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { dir: "./itscam-spool".into(), max_bytes: 10 << 30, full: SpoolFull::Block, drop_tables: Vec::new(), exit_wait_ms: 60_000 }
    }
}

impl SpoolConfig {
    /// Whether a table's files may be dropped when the spool is full.
    pub fn drops(&self, table: &str) -> bool {
        self.full == SpoolFull::DropOldest && (self.drop_tables.is_empty() || self.drop_tables.iter().any(|t| t == table))
    }

    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if self.dir.trim().is_empty() {
            out.push(Problem::new("lake.spool.dir", "empty path"));
        }
        for t in &self.drop_tables {
            if !LAKE_TABLES.contains(&t.as_str()) {
                out.push(Problem::new("lake.spool.drop_tables", format!("{t:?} is not a table (tables: {})", LAKE_TABLES.join(", "))));
            }
        }
        if !self.drop_tables.is_empty() && self.full != SpoolFull::DropOldest {
            out.push(Problem::new("lake.spool.drop_tables", "is only used with full = \"drop_oldest\""));
        }
    }
}

/// `[lake.sync]`: an edge site's lake (`file://`) copied to a central lake: every committed
/// file, in commit order, committed there through its own commit log; resumable (the position
/// is kept in the edge lake, and a file the central lake already lists is never sent twice).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncConfig {
    /// The central lake, `s3://bucket/prefix` (or a `file://` path); unset: no sync.
    pub to: Option<String>,
    /// `[lake.sync.s3]`: how the central lake is reached (unset keys: the AWS environment).
    pub s3: S3Config,
    /// Age limit: a commit reaches the central lake at most about this long after it was made
    /// while the link is up (the sync looks this often; ms).
    pub max_age_ms: u64,
    /// Bandwidth limit: bytes per second uploaded at most (0: no limit).
    pub max_bytes_per_s: u64,
}

impl Default for SyncConfig {
    /// No sync; when `to` is set: every 10 s, without a bandwidth limit.
    fn default() -> Self {
        SyncConfig { to: None, s3: S3Config::default(), max_age_ms: 10_000, max_bytes_per_s: 0 }
    }
}

impl SyncConfig {
    pub(crate) fn check(&self, lake_url: &str, out: &mut Vec<Problem>) {
        let Some(to) = &self.to else { return };
        if !(to.starts_with("s3://") || to.starts_with("file://")) {
            out.push(Problem::new("lake.sync.to", format!("{to:?}: use s3://bucket/prefix or file://PATH")));
        } else if to.trim_end_matches('/') == lake_url.trim_end_matches('/') {
            out.push(Problem::new("lake.sync.to", "is the lake itself"));
        }
        if self.max_age_ms == 0 {
            out.push(Problem::new("lake.sync.max_age_ms", "must be at least 1"));
        }
        let mut s3 = Vec::new();
        self.s3.check(&mut s3);
        out.extend(s3.into_iter().map(|p| Problem::new(p.key.replacen("lake.s3", "lake.sync.s3", 1), p.message)));
    }
}
