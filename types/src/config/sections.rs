//! The single-table sections: `[pipeline]`, `[query]`, `[http]` (`[lake]` is in `lake.rs`).

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[pipeline]`: how the dataflow runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// Timely worker threads; cameras are partitioned across them. `--workers` overrides.
    pub workers: usize,
    /// How far (ms of event time) a frame may arrive behind the newest frame of its camera and
    /// still be processed in order. Later frames go to the `errors` table as `late`.
    pub lateness_ms: u64,
    /// How far (ms of event time) a file or stdin source may read ahead of the finished
    /// outputs: what waits inside the dataflow is at most this lead of every camera's frames, so
    /// memory does not grow with the input's length. Must exceed `lateness_ms` +
    /// `[analytics.speed] smooth_lag_ms` (the outputs wait that far behind the input); unset,
    /// it is that plus `DEFAULT_LEAD_MARGIN_MS`.
    pub max_lead_ms: Option<u64>,
}

/// What an unset `[pipeline] max_lead_ms` adds to the lateness and the smoothing lag, ms.
pub const DEFAULT_LEAD_MARGIN_MS: u64 = 10_000;

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { workers: 1, lateness_ms: 1_000, max_lead_ms: None }
    }
}

impl RunConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if !(1..=64).contains(&self.workers) {
            out.push(Problem::new("pipeline.workers", format!("must be within 1..=64, got {}", self.workers)));
        }
        if self.lateness_ms > 3_600_000 {
            out.push(Problem::new("pipeline.lateness_ms", "must be at most 3600000 (one hour)"));
        }
    }
}

/// `[query]`: limits that apply to every SQL query (CLI and HTTP).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryConfig {
    /// A query running longer is cancelled with an error.
    pub timeout_ms: u64,
    /// Results are cut at this many rows (and flagged as truncated).
    pub max_rows: usize,
    /// In the process that runs the pipeline (`itscam run --http`, `itscam serve --config`),
    /// queries also read the rows the lake writer holds and has not committed, so a row is
    /// visible within a second of arriving; `false`: committed files only.
    pub fresh: bool,
    /// Memory one query may hold (MiB): past it, operators that can spill to disk do, and the
    /// others end the query with a `resources_exhausted` error.
    pub memory_limit_mb: usize,
    /// Queries running at once in one process; so the process's queries hold at most
    /// `max_concurrent × memory_limit_mb`.
    pub max_concurrent: usize,
    /// How long a query waits for a slot when `max_concurrent` run (ms); then it is refused
    /// (HTTP 429 with `Retry-After`).
    pub queue_ms: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig { timeout_ms: 30_000, max_rows: 100_000, fresh: true, memory_limit_mb: 512, max_concurrent: 4, queue_ms: 2_000 }
    }
}

impl QueryConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if self.timeout_ms == 0 {
            out.push(Problem::new("query.timeout_ms", "must be at least 1"));
        }
        if self.max_rows == 0 {
            out.push(Problem::new("query.max_rows", "must be at least 1"));
        }
        if self.memory_limit_mb < 16 {
            out.push(Problem::new("query.memory_limit_mb", "must be at least 16"));
        }
        if self.max_concurrent == 0 {
            out.push(Problem::new("query.max_concurrent", "must be at least 1"));
        }
    }
}

/// `[http]`: the HTTP API of `itscam serve`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: String,
    /// PEM certificate chain: with `tls_key`, the API speaks HTTPS only (rustls).
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
    /// The largest request body of every route but the push routes (those take
    /// `[service] push_max_body_bytes`); a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// Origins allowed to call the API from a browser (CORS); empty: no CORS headers, so
    /// browsers refuse cross-origin calls.
    pub cors_origins: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: "127.0.0.1:8080".into(), tls_cert: None, tls_key: None, max_body_bytes: 1 << 20, cors_origins: Vec::new() }
    }
}

impl HttpConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(Problem::new("http.listen", format!("{:?} is not an address like 127.0.0.1:8080", self.listen)));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push(Problem::new("http.tls_cert", "tls_cert and tls_key go together"));
        }
        if self.max_body_bytes == 0 {
            out.push(Problem::new("http.max_body_bytes", "must be at least 1"));
        }
        for (i, o) in self.cors_origins.iter().enumerate() {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                out.push(Problem::new(format!("http.cors_origins[{i}]"), format!("{o:?} is not an origin like https://dashboard.example.org")));
            }
        }
    }
}

/// `[service]`: `itscam serve` with cameras, the long-running form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    /// After SIGTERM or Ctrl-C, how long the drain (inputs stopped, open tracks and episodes
    /// closed, every row committed, alerts handed to their outlets) may take before the process
    /// gives up and exits 1. The default fits Kubernetes' 30 s termination grace period.
    pub shutdown_grace_ms: u64,
    /// The largest body `POST /api/v1/cameras/{id}/detections`, `POST /api/v1/ingest` and
    /// `POST /api/v1/signals` take, after gzip is undone; a larger one is refused with 413 and
    /// nothing of it is taken.
    pub push_max_body_bytes: usize,
    /// Lines pushed to one camera that may wait for the pipeline; a push that would exceed it is
    /// refused whole with 429 and `Retry-After` (nothing of it is taken, so a retry duplicates
    /// nothing). Also the bound on pushed signal changes waiting.
    pub push_queue_lines: usize,
    /// Push cameras' event time follows the wall clock: a pushed frame whose `ts_ms` is more
    /// than this behind now is `late` (an `errors` row), and a push camera that sends nothing
    /// holds the pipeline's outputs no further back than this behind now (ms).
    pub push_max_delay_ms: u64,
}

/// The default of `[service] shutdown_grace_ms`.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 25_000;

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig { shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS, push_max_body_bytes: 16 << 20, push_queue_lines: 65_536, push_max_delay_ms: 10_000 }
    }
}

impl ServiceConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if !(100..=3_600_000).contains(&self.shutdown_grace_ms) {
            out.push(Problem::new("service.shutdown_grace_ms", format!("{} is not between 100 and 3600000 (one hour)", self.shutdown_grace_ms)));
        }
        if !(1_024..=1 << 30).contains(&self.push_max_body_bytes) {
            out.push(Problem::new("service.push_max_body_bytes", format!("{} is not between 1024 and 1073741824 (1 GiB)", self.push_max_body_bytes)));
        }
        if !(1..=16_777_216).contains(&self.push_queue_lines) {
            out.push(Problem::new("service.push_queue_lines", format!("{} is not between 1 and 16777216", self.push_queue_lines)));
        }
        if !(100..=86_400_000).contains(&self.push_max_delay_ms) {
            out.push(Problem::new("service.push_max_delay_ms", format!("{} is not between 100 and 86400000 (one day)", self.push_max_delay_ms)));
        }
    }
}
