//! `[lake]` and its sub-tables: `[lake.writer]` (file rolling), `[lake.s3]` (S3/MinIO access),
//! `[lake.retention]` (max age per table) and `[lake.compaction]` (small-file merging and the
//! grace periods before removed or orphan files are deleted); `[lake.spool]` and `[lake.sync]`
//! are in `spool.rs`.

use super::Problem;
use super::spool::{SpoolConfig, SyncConfig};
use serde::{Deserialize, Serialize};

/// `[lake]`: the Parquet lake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LakeConfig {
    /// Lake root: `file://./lake` (relative to the working directory), `file:///abs/path`,
    /// a plain path, or `s3://bucket/prefix`.
    pub url: String,
    /// `[lake.writer]`: how files are rolled.
    pub writer: WriterConfig,
    /// `[lake.s3]`: how an `s3://` lake is reached (ignored for local lakes).
    pub s3: S3Config,
    /// `[lake.retention]`: how long each table keeps its partitions.
    pub retention: RetentionConfig,
    /// `[lake.compaction]`: small-file merging and garbage collection.
    pub compaction: CompactionConfig,
    /// How new files are laid out in directories: `"date"` (the default: one directory per
    /// table and UTC day, `camera_id` a column of each file, sorted, one row group per camera)
    /// or `"camera_id,date"` (a directory per camera and day). Files already written keep
    /// theirs; a lake may hold both and reads both.
    pub partition_by: PartitionBy,
    /// `[lake.spool]`: where finished files wait while an `s3://` lake does not answer.
    pub spool: SpoolConfig,
    /// `[lake.sync]`: copy this lake's committed files to a central lake (edge sites).
    pub sync: SyncConfig,
}

/// `[lake] partition_by`: the directories a table's files are written to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartitionBy {
    /// `date=YYYY-MM-DD/`: files per hour grow with tables and rolls, not with cameras;
    /// `camera_id` is a file column whose row-group statistics let a camera filter skip
    /// the other cameras' rows.
    #[default]
    #[serde(rename = "date")]
    Date,
    /// `camera_id=…/date=YYYY-MM-DD/`: a camera filter skips whole directories, at the cost
    /// of a file per camera per table per roll.
    #[serde(rename = "camera_id,date")]
    CameraDate,
}

impl PartitionBy {
    /// The value as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionBy::Date => "date",
            PartitionBy::CameraDate => "camera_id,date",
        }
    }
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            url: "file://./lake".into(),
            writer: WriterConfig::default(),
            s3: S3Config::default(),
            retention: RetentionConfig::default(),
            compaction: CompactionConfig::default(),
            partition_by: PartitionBy::default(),
            spool: SpoolConfig::default(),
            sync: SyncConfig::default(),
        }
    }
}

/// `[lake.writer]`: a file is written when a partition's buffer reaches `max_rows`, when its
/// oldest row has waited `max_age_ms` of wall-clock time, when the buffers of all partitions
/// together hold more than `max_buffer_bytes` (the largest first), or when the pipeline ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriterConfig {
    /// Rows per file at most (per table and partition).
    pub max_rows: usize,
    /// Wall-clock milliseconds a row may wait in memory before its file is written.
    pub max_age_ms: u64,
    /// Bytes of memory the buffers of all partitions may hold together (rows waiting to be
    /// encoded, encoded columns of files in progress); above it the largest buffers are written
    /// as files at once, so memory does not grow with the number of cameras.
    pub max_buffer_bytes: usize,
    /// The writer publishes a snapshot of the live file list after this many of its commits,
    /// so readers replay few commits (0: never; `itscam lake vacuum` still writes one).
    pub snapshot_every: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig { max_rows: 1_000_000, max_age_ms: 30_000, max_buffer_bytes: 128 << 20, snapshot_every: 100 }
    }
}

/// `[lake.s3]`: access to an `s3://bucket/prefix` lake. Every key is optional: unset keys come
/// from the usual AWS environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:8333` (MinIO, SeaweedFS);
    /// unset: `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    /// Region; unset: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Access key id; unset: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// Secret access key; unset: `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints; unset: true when the endpoint starts with `http://`.
    pub allow_http: Option<bool>,
    /// Path-style requests (`endpoint/bucket/key`, what MinIO and SeaweedFS expect) instead of
    /// virtual-hosted style (`bucket.endpoint/key`); unset: true when an endpoint is set.
    pub path_style: Option<bool>,
    /// Files larger than this many bytes are uploaded in parts (multipart upload).
    pub multipart_threshold_bytes: u64,
    /// Size of each part of a multipart upload (S3 requires at least 5 MiB).
    pub multipart_part_bytes: u64,
}

/// S3's smallest part size (except the last part).
pub const S3_MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: None,
            path_style: None,
            multipart_threshold_bytes: 16 * 1024 * 1024,
            multipart_part_bytes: 8 * 1024 * 1024,
        }
    }
}

impl S3Config {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                out.push(Problem::new("lake.s3.endpoint", format!("{e:?} must start with http:// or https://")));
            } else if e.starts_with("http://") && self.allow_http == Some(false) {
                out.push(Problem::new("lake.s3.allow_http", "is false but lake.s3.endpoint is http://"));
            }
        }
        if self.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
            out.push(Problem::new("lake.s3.region", "empty region"));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            let missing = if self.access_key_id.is_some() { "secret_access_key" } else { "access_key_id" };
            out.push(Problem::new(format!("lake.s3.{missing}"), "access_key_id and secret_access_key are set together or not at all"));
        }
        if self.multipart_part_bytes < S3_MIN_PART_BYTES {
            out.push(Problem::new("lake.s3.multipart_part_bytes", format!("must be at least {S3_MIN_PART_BYTES} (5 MiB, S3's smallest part)")));
        }
        if self.multipart_threshold_bytes < self.multipart_part_bytes {
            out.push(Problem::new("lake.s3.multipart_threshold_bytes", "must be at least lake.s3.multipart_part_bytes"));
        }
    }
}

/// `[lake.retention]`: maximum age in days per table. Partitions whose `date` is older are
/// removed by `itscam lake vacuum` (and by `itscam run` when `[lake.compaction] interval_ms`
/// is set). Unset: kept for ever.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// `detections`.
    pub detections_days: Option<u32>,
    /// `tracks`.
    pub tracks_days: Option<u32>,
    /// `errors`.
    pub errors_days: Option<u32>,
    /// `frame_quality`.
    pub frame_quality_days: Option<u32>,
    /// `line_crossings`.
    pub line_crossings_days: Option<u32>,
    /// `zone_events`.
    pub zone_events_days: Option<u32>,
    /// `traffic_metrics`.
    pub traffic_metrics_days: Option<u32>,
    /// `violations`.
    pub violations_days: Option<u32>,
    /// `anomalies`.
    pub anomalies_days: Option<u32>,
    /// `alerts`.
    pub alerts_days: Option<u32>,
    /// `audit` (the lake's `_itscam/audit/` log; 365 days unless set): batches whose newest row
    /// is older are deleted by `itscam lake vacuum`, and a serving process keeps no older rows
    /// in memory.
    pub audit_days: Option<u32>,
    /// `evidence` (pictures of violations under `evidence/`; 30 days unless set): objects whose
    /// `date` (the violation's start) is older are removed by `itscam lake vacuum` like a
    /// table's files, and deleted after `[lake.compaction] grace_ms`.
    pub evidence_days: Option<u32>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            detections_days: None,
            tracks_days: None,
            errors_days: None,
            frame_quality_days: None,
            line_crossings_days: None,
            zone_events_days: None,
            traffic_metrics_days: None,
            violations_days: None,
            anomalies_days: None,
            alerts_days: None,
            audit_days: Some(365),
            evidence_days: Some(30),
        }
    }
}

impl RetentionConfig {
    /// The max age in days of a table, by its SQL name; `None`: kept for ever.
    pub fn days(&self, table: &str) -> Option<u32> {
        match table {
            "detections" => self.detections_days,
            "tracks" => self.tracks_days,
            "errors" => self.errors_days,
            "frame_quality" => self.frame_quality_days,
            "line_crossings" => self.line_crossings_days,
            "zone_events" => self.zone_events_days,
            "traffic_metrics" => self.traffic_metrics_days,
            "violations" => self.violations_days,
            "anomalies" => self.anomalies_days,
            "alerts" => self.alerts_days,
            "audit" => self.audit_days,
            "evidence" => self.evidence_days,
            _ => None,
        }
    }

    fn check(&self, out: &mut Vec<Problem>) {
        let all = [
            ("detections", self.detections_days),
            ("tracks", self.tracks_days),
            ("errors", self.errors_days),
            ("frame_quality", self.frame_quality_days),
            ("line_crossings", self.line_crossings_days),
            ("zone_events", self.zone_events_days),
            ("traffic_metrics", self.traffic_metrics_days),
            ("violations", self.violations_days),
            ("anomalies", self.anomalies_days),
            ("alerts", self.alerts_days),
            ("audit", self.audit_days),
            ("evidence", self.evidence_days),
        ];
        for (table, days) in all {
            if days == Some(0) {
                out.push(Problem::new(format!("lake.retention.{table}_days"), "must be at least 1 (leave it unset to keep the table for ever)"));
            }
        }
    }
}

/// `[lake.compaction]`: `itscam lake compact` merges a partition's small committed files into
/// one; `itscam lake vacuum` deletes files no commit lists any more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompactionConfig {
    /// A partition is compacted when it has at least this many files smaller than
    /// `target_file_bytes`.
    pub min_files: usize,
    /// Size a merged file aims at (Parquet bytes); larger files are left alone.
    pub target_file_bytes: u64,
    /// A file removed by a commit (compaction, retention) is deleted only this long after that
    /// commit, so queries that started before it can still read it.
    pub grace_ms: u64,
    /// A data file that no commit lists (an upload whose writer crashed before its commit) is
    /// deleted once it is this old. Must exceed the longest time a writer holds a file between
    /// its upload and its commit.
    pub orphan_grace_ms: u64,
    /// `itscam run` compacts and vacuums the lake this often (0: never; use the CLI).
    pub interval_ms: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig { min_files: 4, target_file_bytes: 128 * 1024 * 1024, grace_ms: 600_000, orphan_grace_ms: 3_600_000, interval_ms: 0 }
    }
}

impl CompactionConfig {
    fn check(&self, writer: &WriterConfig, out: &mut Vec<Problem>) {
        if self.min_files < 2 {
            out.push(Problem::new("lake.compaction.min_files", "must be at least 2"));
        }
        if self.target_file_bytes == 0 {
            out.push(Problem::new("lake.compaction.target_file_bytes", "must be at least 1"));
        }
        if self.interval_ms > 0 && self.orphan_grace_ms <= writer.max_age_ms {
            out.push(Problem::new(
                "lake.compaction.orphan_grace_ms",
                format!("must exceed lake.writer.max_age_ms ({}) so that files awaiting their commit are not deleted", writer.max_age_ms),
            ));
        }
    }
}

impl LakeConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        let url = self.url.as_str();
        if let Some(rest) = url.strip_prefix("s3://") {
            let bucket = rest.split('/').next().unwrap_or("");
            if bucket.is_empty() {
                out.push(Problem::new("lake.url", format!("{url:?} has no bucket; use s3://bucket/prefix")));
            } else if !valid_bucket(bucket) {
                out.push(Problem::new("lake.url", format!("{bucket:?} is not a valid bucket name (3–63 characters: a-z 0-9 . -)")));
            }
        } else if url.contains("://") && !url.starts_with("file://") {
            out.push(Problem::new("lake.url", format!("unsupported scheme in {url:?}; use file://PATH, a plain path or s3://bucket/prefix")));
        } else if url.trim_start_matches("file://").is_empty() {
            out.push(Problem::new("lake.url", "empty path"));
        }
        if self.writer.max_rows == 0 {
            out.push(Problem::new("lake.writer.max_rows", "must be at least 1"));
        }
        if self.writer.max_buffer_bytes < 1 << 20 {
            out.push(Problem::new("lake.writer.max_buffer_bytes", "must be at least 1048576 (1 MiB)"));
        }
        if self.writer.max_age_ms == 0 {
            out.push(Problem::new("lake.writer.max_age_ms", "must be at least 1"));
        }
        self.s3.check(out);
        self.retention.check(out);
        self.compaction.check(&self.writer, out);
        self.spool.check(out);
        self.sync.check(url, out);
    }
}

/// S3 bucket naming rules (the subset that matters for a URL).
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(c: &LakeConfig) -> Vec<String> {
        let mut out = Vec::new();
        c.check(&mut out);
        out.into_iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn s3_urls_and_keys_are_checked_with_their_paths() {
        let mut c = LakeConfig { url: "s3://lake-bucket/itscam".into(), ..Default::default() };
        assert!(problems(&c).is_empty(), "{:?}", problems(&c));
        c.url = "s3:///x".into();
        assert!(problems(&c)[0].starts_with("lake.url: "), "{:?}", problems(&c));
        c.url = "s3://Bad_Bucket/x".into();
        assert!(problems(&c)[0].contains("not a valid bucket name"));
        c.url = "s3://ok-bucket".into();
        c.s3.endpoint = Some("localhost:9000".into());
        c.s3.access_key_id = Some("k".into());
        c.s3.multipart_part_bytes = 1024;
        c.retention.detections_days = Some(0);
        let p = problems(&c);
        for key in ["lake.s3.endpoint", "lake.s3.secret_access_key", "lake.s3.multipart_part_bytes", "lake.retention.detections_days"] {
            assert!(p.iter().any(|m| m.starts_with(&format!("{key}: "))), "{key} missing in {p:?}");
        }
    }

    #[test]
    fn retention_is_per_table_and_unset_keeps_for_ever() {
        let r = RetentionConfig { detections_days: Some(30), ..Default::default() };
        assert_eq!(r.days("detections"), Some(30));
        assert_eq!(r.days("tracks"), None);
        assert_eq!(r.days("evidence"), Some(30), "evidence is kept 30 days unless set");
    }
}
