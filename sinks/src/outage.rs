//! The lake going away for a while: an S3 server restarting, a network blip, an edge site's
//! uplink down. The writer keeps what it has (its buffers, the file it was putting, the commit
//! it was publishing) and tries again with capped exponential backoff and jitter until the
//! store answers — the pipeline does not stop. Meanwhile rows queue for the writer, and above
//! [`crate::SINK_HIGH_WATER_ROWS`] the sources pause: files and Kafka wait where they are,
//! stdin is no longer read (its writer blocks), pushes answer 429, live video drops frames
//! (counted). Nothing is lost; nothing is stored twice (a commit whose answer was lost is
//! recognised as ours: `commit_log`).
//!
//! One WARN when an outage starts and one INFO when it ends, not one per retry; the state is
//! [`LakeHealth`], which `/health` and `/metrics` report. What retrying cannot fix ends the
//! run with the store's own answer, naming the bucket and key or the path: credentials refused,
//! a missing bucket, and any failure of a local lake (a full disk, a directory that is not
//! writable — retrying does not make room).

use crate::error::SinkError;
use crate::lake::Lake;
use crate::spool::SpoolStats;
use itscam_types::{Blame, Blamed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first wait after a failure; each further one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The lake as the writer last found it. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct LakeHealth(Arc<Mutex<HealthState>>);

/// What [`LakeHealth`] says.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct HealthState {
    /// `up`; `degraded` while the lake does not answer or the spool holds files (the pipeline
    /// flows); `down` while the writer waits for the lake or for room in the spool.
    #[schema(value_type = String, pattern = "^(up|degraded|down)$")]
    pub state: &'static str,
    /// Since when it is unreachable (ms since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Tries that failed in this outage.
    pub retries: u64,
    /// The store's last answer.
    pub last_error: Option<String>,
    /// Outages so far.
    pub outages: u64,
    /// What the spool holds (`None`: no spool — a local lake, or `[lake.spool] max_bytes = 0`).
    pub spool: Option<SpoolStats>,
    /// The writer waits for the lake (no spool, or a full one under `full = "block"`): the
    /// sources pause once rows pile up.
    pub blocked: bool,
}

impl LakeHealth {
    /// A copy of the state.
    pub fn get(&self) -> HealthState {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let spooled = s.spool.as_ref().is_some_and(|sp| sp.files > 0 || sp.commits > 0);
        let state = if s.blocked {
            "down"
        } else if s.since_ms.is_some() || spooled {
            "degraded"
        } else {
            "up"
        };
        HealthState { state, ..s }
    }

    /// The state in one line: `up`, `degraded (spooling 12 files, 3.4 MB, oldest 40 s)`, `down (…)`.
    pub fn describe(&self) -> String {
        let h = self.get();
        let spool = h.spool.as_ref().filter(|sp| sp.files > 0).map(|sp| {
            let age = sp.oldest_ms.map(|t| itscam_types::time::now_ms().saturating_sub(t) / 1000).unwrap_or(0);
            format!("spooling {} files, {:.1} MB, oldest {age} s", sp.files, sp.bytes as f64 / 1e6)
        });
        let why = match (&spool, h.blocked) {
            (Some(sp), true) => Some(format!("{sp}; the spool is full")),
            (Some(sp), false) => Some(sp.clone()),
            (None, true) => Some("the writer waits for the lake".to_string()),
            (None, false) => h.last_error.clone().filter(|_| h.since_ms.is_some()),
        };
        match why {
            Some(w) => format!("{} ({w})", h.state),
            None => h.state.to_string(),
        }
    }

    pub(crate) fn set_spool(&self, stats: Option<SpoolStats>) {
        self.update(|h| h.spool = stats);
    }

    pub(crate) fn set_blocked(&self, blocked: bool) {
        self.update(|h| h.blocked = blocked);
    }

    fn update(&self, f: impl FnOnce(&mut HealthState)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The writer's side: decides whether a failure is waited out, and for how long.
#[derive(Debug)]
pub(crate) struct Outage {
    health: LakeHealth,
    started: Option<Instant>,
    attempt: u32,
    jitter: u64,
}

impl Outage {
    pub(crate) fn new(health: LakeHealth) -> Outage {
        Outage { health, started: None, attempt: 0, jitter: 0x9e37_79b9_7f4a_7c15 }
    }

    /// After `e` on `lake`: how long to wait before trying again, or `None` when retrying
    /// cannot help (the error ends the run).
    pub(crate) fn failed(&mut self, lake: &Lake, e: &SinkError) -> Option<Duration> {
        if !waits_out(lake, e) {
            return None;
        }
        if self.started.is_none() {
            self.started = Some(Instant::now());
            tracing::warn!(lake = lake.url(), error = %e, "the lake is unreachable: finished files wait in the spool (without one, rows wait in memory and sources pause) and are shipped in order when it answers");
            self.health.update(|h| {
                h.since_ms = Some(itscam_types::time::now_ms());
                h.retries = 0;
                h.outages += 1;
            });
        }
        self.health.update(|h| {
            h.retries += 1;
            h.last_error = Some(e.to_string());
        });
        let base = FIRST_BACKOFF.saturating_mul(1 << self.attempt.min(6)).min(MAX_BACKOFF);
        self.attempt += 1;
        // xorshift: up to a quarter more, so writers that failed together do not retry together.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        Some(base + base.mul_f64((self.jitter % 1000) as f64 / 4000.0))
    }

    /// The store answered.
    pub(crate) fn succeeded(&mut self, lake: &Lake) {
        if let Some(started) = self.started.take() {
            let retries = self.health.get().retries;
            tracing::info!(lake = lake.url(), down_s = started.elapsed().as_secs_f64(), retries, "the lake answers again");
            self.health.update(|h| h.since_ms = None);
        }
        self.attempt = 0;
    }
}

/// Whether a failure is waited out: a remote (S3) store's failure that is not the setup's
/// (credentials, a missing bucket) and not a bug.
fn waits_out(lake: &Lake, e: &SinkError) -> bool {
    lake.is_remote() && matches!(e, SinkError::Storage { .. } | SinkError::Unreachable { .. }) && e.blame() == Blame::External && !e.is_setup()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(source: object_store::Error) -> SinkError {
        SinkError::Storage { location: "bucket \"b\", key \"k\"".into(), reason: crate::error::short_reason(&source), source: Box::new(source) }
    }

    #[test]
    fn a_remote_lake_that_does_not_answer_is_waited_out_with_growing_waits_and_a_refusal_is_not() {
        let s3 = Lake::open_with("s3://b/p", &Default::default()).unwrap();
        let local = Lake::open(&format!("file://{}", std::env::temp_dir().join("itscam-outage-test").display())).unwrap();
        let health = LakeHealth::default();
        let mut outage = Outage::new(health.clone());
        let refused = storage(object_store::Error::Generic { store: "S3", source: "connection refused".into() });
        let waits: Vec<Duration> = (0..10).map(|_| outage.failed(&s3, &refused).expect("waited out")).collect();
        assert!(waits[0] >= FIRST_BACKOFF && waits[1] > waits[0] && waits[9] <= MAX_BACKOFF.mul_f64(1.25), "{waits:?}");
        let state = health.get();
        assert_eq!((state.state, state.retries, state.outages), ("degraded", 10, 1));
        outage.succeeded(&s3);
        assert_eq!(health.get().state, "up");
        let denied = storage(object_store::Error::PermissionDenied { path: "k".into(), source: "AccessDenied".into() });
        assert_eq!(outage.failed(&s3, &denied), None, "credentials: retrying cannot help");
        assert_eq!(outage.failed(&local, &refused), None, "a local lake's failure ends the run");
    }
}
