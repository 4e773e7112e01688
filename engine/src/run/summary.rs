//! What a run did: the summary `itscam run` prints at the end.

use super::vision::VisionSummary;
use itscam_sinks::WriterSummary;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Valid frames read.
    pub frames: u64,
    /// Detections in valid frames.
    pub detections: u64,
    /// Confirmed tracks (rows of `tracks`).
    pub tracks: u64,
    /// Rejected input lines, all kinds (rows of `errors`).
    pub rejected: u64,
    /// Of those, frames rejected as later than `lateness_ms`.
    pub late: u64,
    /// Frames delivered twice (a `(camera_id, ts_ms)` accepted before), dropped; those whose
    /// content differed are also in `errors` as `duplicate_frame`.
    pub duplicates: u64,
    /// Rows of `line_crossings`.
    pub crossings: u64,
    /// Closed violation episodes (rows of `violations`).
    pub violations: u64,
    /// Rows of `anomalies`.
    pub anomalies: u64,
    /// Alerts raised (after dedupe and suppression).
    pub alerts: u64,
    /// Alerts to Kafka, when configured.
    pub kafka: Option<itscam_sinks::alerts::KafkaSummary>,
    /// Files and rows written per table.
    pub written: WriterSummary,
    /// Wall-clock duration.
    pub elapsed: Duration,
    /// Workers used.
    pub workers: usize,
    /// (this process, processes) in a cluster: the other counts are this process's share.
    pub cluster: Option<(usize, usize)>,
    /// The lake's URL.
    pub lake_url: String,
    /// Per class: (detections, confirmed tracks).
    pub classes: BTreeMap<String, (u64, u64)>,
    /// The vision path, when video cameras ran.
    pub vision: Option<VisionSummary>,
    /// The edge sync's lag at the end (`[lake.sync]`).
    pub sync: Option<itscam_sinks::SyncStatus>,
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        match self.cluster {
            Some((process, processes)) => {
                writeln!(f, "itscam run finished in {secs:.2} s on {} worker(s) of process {process} of a cluster of {processes} (this process's share below)", self.workers)?
            }
            None => writeln!(f, "itscam run finished in {:.2} s on {} worker(s)", secs, self.workers)?,
        }
        writeln!(f, "  frames      {:>12}  ({:.0}/s)", self.frames, self.frames as f64 / secs)?;
        writeln!(f, "  detections  {:>12}  ({:.0}/s)", self.detections, self.detections as f64 / secs)?;
        writeln!(f, "  tracks      {:>12}", self.tracks)?;
        writeln!(f, "  rejected    {:>12}  (late: {}; see the errors table)", self.rejected, self.late)?;
        if self.duplicates > 0 {
            writeln!(f, "  duplicates  {:>12}  (frames delivered twice, dropped)", self.duplicates)?;
        }
        writeln!(f, "  crossings   {:>12}", self.crossings)?;
        writeln!(f, "  violations  {:>12}", self.violations)?;
        writeln!(f, "  anomalies   {:>12}", self.anomalies)?;
        writeln!(f, "  alerts      {:>12}", self.alerts)?;
        if let Some(k) = &self.kafka {
            writeln!(f, "    to Kafka   {:>11} sent, {} left in the outbox, {} dead-lettered", k.sent, k.left_in_outbox, k.dead_lettered)?;
        }
        writeln!(f, "  files       {:>12}  in {}", self.written.files(), self.lake_url)?;
        if self.written.outages > 0 || self.written.lake.starts_with('d') {
            writeln!(f, "  lake        {:>12}  {} outage(s) waited out", self.written.lake, self.written.outages)?;
        }
        for (table, (files, rows)) in &self.written.tables {
            writeln!(f, "    {table:<14} {rows:>10} rows in {files} file(s)")?;
        }
        if let Some(spool) = &self.written.spool {
            if spool.files > 0 || spool.commits > 0 {
                writeln!(f, "  spooled     {:>12}  file(s), {} bytes, {} commit(s) left in the spool: the next run ships them", spool.files, spool.bytes, spool.commits)?;
            }
            for (table, (files, rows)) in &spool.dropped {
                writeln!(f, "    dropped    {table:<14} {rows:>10} rows in {files} file(s) (the spool was full)")?;
            }
        }
        if let Some(s) = &self.sync {
            match s.lag_commits {
                0 => writeln!(f, "  synced      {:>12}  (edge commit {} is the last on {})", "all", s.synced_seq.map_or("-".into(), |q| q.to_string()), s.to)?,
                n => writeln!(f, "  to sync     {:>12}  commit(s), {} file(s), {} bytes not on {} yet (`itscam lake sync` or the next run sends them)", n, s.lag_files, s.lag_bytes, s.to)?,
            }
        }
        if let Some(v) = &self.vision {
            write!(f, "{v}")?;
        }
        if !self.classes.is_empty() {
            writeln!(f, "  by class     detections     tracks")?;
            for (class, (d, t)) in &self.classes {
                writeln!(f, "    {class:<12} {d:>10} {t:>10}")?;
            }
        }
        Ok(())
    }
}
