//! Counters of a run, shared by the workers (relaxed atomic adds), the run summary and the
//! Prometheus endpoint (`GET /metrics`). Each is a
//! `prometheus-client` counter, so the exposition is the library's (HELP and TYPE for every
//! series), and a scrape reads the same atomics the workers add to.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// What a run has produced so far.
#[derive(Debug, Default)]
pub struct RunCounters {
    /// Rows of `detections`.
    pub detections: Counter,
    /// Rows of `tracks`.
    pub tracks: Counter,
    /// Rows of `errors`.
    pub rejected: Counter,
    /// Of those, late frames.
    pub late: Counter,
    /// Rows of `line_crossings`.
    pub crossings: Counter,
    /// Rows of `zone_events`.
    pub zone_events: Counter,
    /// Rows of `traffic_metrics`.
    pub metrics: Counter,
    /// Rows of `violations` (closed episodes).
    pub violations: Counter,
    /// Rows of `anomalies`.
    pub anomalies: Counter,
    /// Rows of the junction tables (`movements`, `turning_counts`, `queues`, `queue_samples`,
    /// `lane_metrics`, `signal_performance`).
    pub junction: Counter,
}

impl RunCounters {
    /// Adds `n` to a counter.
    pub fn add(counter: &Counter, n: usize) {
        counter.inc_by(n as u64);
    }

    /// Registers every counter (as `<prefix>_<name>_total`) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
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
            ("junction_rows", &self.junction, "Rows of the junction tables (movements, turning_counts, queues, queue_samples, lane_metrics, signal_performance)"),
        ];
        for (name, counter, help) in rows {
            registry.register(name, help, counter.clone());
        }
    }
}
