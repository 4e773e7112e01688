//! Counters of a run, shared by the workers (relaxed atomic adds), the run summary and the
//! Prometheus endpoint (`GET /metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a run has produced so far.
#[derive(Debug, Default)]
pub struct RunCounters {
    /// Valid frames read from detections sources (video frames are counted by the vision path).
    pub frames: AtomicU64,
    /// Rows of `detections`.
    pub detections: AtomicU64,
    /// Rows of `tracks`.
    pub tracks: AtomicU64,
    /// Rows of `errors`.
    pub rejected: AtomicU64,
    /// Of those, late frames.
    pub late: AtomicU64,
    /// Rows of `line_crossings`.
    pub crossings: AtomicU64,
    /// Rows of `zone_events`.
    pub zone_events: AtomicU64,
    /// Rows of `traffic_metrics`.
    pub metrics: AtomicU64,
    /// Rows of `violations` (closed episodes).
    pub violations: AtomicU64,
    /// Rows of `anomalies`.
    pub anomalies: AtomicU64,
}

impl RunCounters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The counters in the Prometheus text format (`itscam_<name>_total`).
    pub fn prometheus(&self, out: &mut String) {
        let rows = [
            ("detections", &self.detections, "Rows written to detections"),
            ("tracks", &self.tracks, "Confirmed tracks ended (rows of tracks)"),
            ("rejected", &self.rejected, "Rejected input (rows of errors)"),
            ("late", &self.late, "Frames rejected as later than lateness_ms"),
            ("line_crossings", &self.crossings, "Rows of line_crossings"),
            ("zone_events", &self.zone_events, "Rows of zone_events"),
            ("traffic_metrics", &self.metrics, "Rows of traffic_metrics"),
            ("violations", &self.violations, "Closed violation episodes (rows of violations)"),
            ("anomalies", &self.anomalies, "Rows of anomalies"),
        ];
        for (name, c, help) in rows {
            let _ = writeln!(out, "# HELP itscam_{name}_total {help}.\n# TYPE itscam_{name}_total counter\nitscam_{name}_total {}", Self::get(c));
        }
    }
}
