//! `[alerts.lifecycle]` and `[[alerts.webhook]]`: suppression, escalation, retention, webhooks.

use super::{Problem, Severity};
use serde::{Deserialize, Serialize};

/// `[alerts.lifecycle]`: what the alert hub suppresses, when it escalates, how long it remembers.
///
/// A *repeat* is an alert with the same suppression key as an alert published before it:
/// for violations the key is `(rule_id, camera_id, track_id)` (the same vehicle breaking the
/// same rule again), for
/// anomalies `(kind, camera_id, zone_id)`. A repeat is suppressed when its event time `ts_ms`
/// lies within `suppress_ms` of the published alert's, that alert is not resolved, and the repeat
/// is not more severe. Windows are anchored on the published alert, so a steady stream of repeats
/// yields one alert per `suppress_ms` of event time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleConfig {
    /// Repeats within this many ms of event time are suppressed (0: never suppress).
    pub suppress_ms: u64,
    /// A `high` alert still open this many ms (wall clock) after it was raised is escalated
    /// (0: never).
    pub escalate_high_ms: u64,
    /// A `critical` alert still open this many ms after it was raised is escalated (0: never).
    pub escalate_critical_ms: u64,
    /// Resolved alerts leave the in-memory book (and the live endpoints) this many ms after they
    /// were resolved; the `alerts` table keeps them.
    pub retain_resolved_ms: u64,
    /// Alerts the in-memory book holds at most; beyond it the oldest resolved ones leave first,
    /// then the oldest unresolved ones (counted and logged).
    pub max_alerts: usize,
    /// When a run ends, how long the hub waits for the outlets (webhooks, Kafka) to deliver what
    /// they hold before it gives up on it.
    pub flush_timeout_ms: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            suppress_ms: 60_000,
            escalate_high_ms: 300_000,
            escalate_critical_ms: 60_000,
            retain_resolved_ms: 3_600_000,
            max_alerts: 10_000,
            flush_timeout_ms: 30_000,
        }
    }
}

impl LifecycleConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if self.max_alerts == 0 {
            out.push(Problem::new(format!("{at}.max_alerts"), "must be at least 1"));
        }
        const WEEK_MS: u64 = 7 * 86_400_000;
        for (key, v) in [
            ("suppress_ms", self.suppress_ms),
            ("escalate_high_ms", self.escalate_high_ms),
            ("escalate_critical_ms", self.escalate_critical_ms),
            ("retain_resolved_ms", self.retain_resolved_ms),
            ("flush_timeout_ms", self.flush_timeout_ms),
        ] {
            if v > WEEK_MS {
                out.push(Problem::new(format!("{at}.{key}"), format!("must be at most {WEEK_MS} (one week), got {v}")));
            }
        }
    }

    /// How long an alert of `severity` may stay open before it is escalated; `None` = never.
    pub fn escalate_after_ms(&self, severity: Severity) -> Option<u64> {
        let ms = match severity {
            Severity::Low | Severity::Medium => 0,
            Severity::High => self.escalate_high_ms,
            Severity::Critical => self.escalate_critical_ms,
        };
        (ms > 0).then_some(ms)
    }
}

/// Which alert streams a webhook receives (the names of the SSE events too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStream {
    /// Alerts as raised.
    Alert,
    /// High/critical alerts re-published because nobody acknowledged them in time.
    Escalation,
}

impl WebhookStream {
    /// The name in config, payloads and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStream::Alert => "alert",
            WebhookStream::Escalation => "escalation",
        }
    }
}

/// `[[alerts.webhook]]`: an HTTP endpoint that receives alerts as JSON `POST`s.
///
/// Body: `{"event": "alert"|"escalation", "alert": {…}}`. With a secret, each request carries
/// `X-Itscam-Timestamp: <unix ms>` and `X-Itscam-Signature: sha256=<hex>`, the HMAC-SHA256 of
/// `"<timestamp>.<body>"` keyed with the secret; receivers recompute it and reject stale
/// timestamps to stop replays. Deliveries to one webhook are made one at a time, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// `http://host[:port]/path` (TLS is not built in: put a TLS-terminating proxy in front of an
    /// `https://` receiver).
    pub url: String,
    /// Shared secret for the signature header (or use `secret_env`); unsigned without either.
    #[serde(default)]
    pub secret: Option<String>,
    /// Name of an environment variable holding the secret (keeps it out of the config file).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Streams delivered: `alert`, `escalation` (default both).
    #[serde(default = "all_streams")]
    pub streams: Vec<WebhookStream>,
    /// Alerts below this severity are not delivered (default `low`: all).
    #[serde(default = "lowest")]
    pub min_severity: Severity,
    /// Retries after the first attempt before an alert is given up (counted and logged).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Delay before the first retry; it doubles per retry up to `max_backoff_ms`, and each delay
    /// is drawn uniformly from its upper half (jitter).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Longest delay between retries.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// Per-attempt limit (connect, send, response headers).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Alerts waiting for delivery at most; a new alert finding the queue full is dropped
    /// (counted and logged), so a dead receiver never blocks the pipeline.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn all_streams() -> Vec<WebhookStream> {
    vec![WebhookStream::Alert, WebhookStream::Escalation]
}
fn lowest() -> Severity {
    Severity::Low
}
fn default_retries() -> u32 {
    5
}
fn default_backoff() -> u64 {
    500
}
fn default_max_backoff() -> u64 {
    30_000
}
fn default_timeout() -> u64 {
    5_000
}
fn default_queue() -> usize {
    1_024
}

impl WebhookConfig {
    /// A webhook to `url` with every other key at its default.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret: None,
            secret_env: None,
            streams: all_streams(),
            min_severity: lowest(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
            max_backoff_ms: default_max_backoff(),
            timeout_ms: default_timeout(),
            queue: default_queue(),
        }
    }

    /// The secret from `secret` or the `secret_env` variable; an error names the variable.
    pub fn resolve_secret(&self) -> Result<Option<String>, String> {
        if let Some(s) = &self.secret {
            return Ok(Some(s.clone()));
        }
        match &self.secret_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(Some(s)),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(_) => Err(format!("environment variable {var} is not set")),
            },
        }
    }

    /// Whether this webhook receives alerts of `stream` and `severity`.
    pub fn wants(&self, stream: WebhookStream, severity: Severity) -> bool {
        self.streams.contains(&stream) && severity >= self.min_severity
    }

    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        match self.url.strip_prefix("http://") {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
            Some(_) => out.push(Problem::new(format!("{at}.url"), format!("{:?} has no host", self.url))),
            None if self.url.starts_with("https://") => out.push(Problem::new(
                format!("{at}.url"),
                "https:// webhooks need TLS, which this build does not include: use http:// (e.g. a local TLS-terminating proxy)",
            )),
            None => out.push(Problem::new(format!("{at}.url"), format!("{:?} must start with http://", self.url))),
        }
        if self.secret.is_some() && self.secret_env.is_some() {
            out.push(Problem::new(format!("{at}.secret"), "give secret or secret_env, not both"));
        } else if self.secret.as_deref() == Some("") {
            out.push(Problem::new(format!("{at}.secret"), "empty secret"));
        } else if let Err(e) = self.resolve_secret() {
            out.push(Problem::new(format!("{at}.secret_env"), e));
        }
        if self.streams.is_empty() {
            out.push(Problem::new(format!("{at}.streams"), "empty: list alert and/or escalation"));
        }
        if self.backoff_ms == 0 {
            out.push(Problem::new(format!("{at}.backoff_ms"), "must be at least 1"));
        }
        if self.max_backoff_ms < self.backoff_ms {
            out.push(Problem::new(format!("{at}.max_backoff_ms"), format!("must be at least backoff_ms ({})", self.backoff_ms)));
        }
        if self.timeout_ms == 0 {
            out.push(Problem::new(format!("{at}.timeout_ms"), "must be at least 1"));
        }
        if self.queue == 0 {
            out.push(Problem::new(format!("{at}.queue"), "must be at least 1"));
        }
        if self.max_retries > 100 {
            out.push(Problem::new(format!("{at}.max_retries"), format!("must be at most 100, got {}", self.max_retries)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::PipelineConfig;
    use super::*;

    fn config(alerts: &str) -> Result<PipelineConfig, Vec<Problem>> {
        let dir = std::env::temp_dir().join(format!("itscam-lifecycle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.jsonl");
        std::fs::write(&input, "").unwrap();
        PipelineConfig::from_toml(&format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:{}\"\n{alerts}", input.display()))
    }

    #[test]
    fn lifecycle_and_webhook_keys_parse_with_defaults() {
        let c = config(
            "[alerts.lifecycle]\nsuppress_ms = 5000\nescalate_high_ms = 0\n\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:9000/hook\"\nsecret = \"s\"\nstreams = [\"escalation\"]\nmin_severity = \"high\"\nmax_retries = 2\n",
        )
        .unwrap();
        let l = &c.alerts.lifecycle;
        assert_eq!((l.suppress_ms, l.escalate_high_ms, l.escalate_critical_ms), (5_000, 0, 60_000));
        assert_eq!(l.escalate_after_ms(Severity::High), None, "0 turns escalation off");
        assert_eq!(l.escalate_after_ms(Severity::Critical), Some(60_000));
        assert_eq!(l.escalate_after_ms(Severity::Medium), None);
        let w = &c.alerts.webhook[0];
        assert_eq!((w.max_retries, w.backoff_ms, w.timeout_ms, w.queue), (2, 500, 5_000, 1_024));
        assert!(w.wants(WebhookStream::Escalation, Severity::Critical));
        assert!(!w.wants(WebhookStream::Alert, Severity::Critical));
        assert!(!w.wants(WebhookStream::Escalation, Severity::Medium));
        assert_eq!(w.resolve_secret(), Ok(Some("s".to_string())));
    }

    #[test]
    fn every_webhook_and_lifecycle_problem_is_reported() {
        let problems = config(
            "[alerts.lifecycle]\nmax_alerts = 0\nsuppress_ms = 999999999999\n\n[[alerts.webhook]]\nurl = \"https://example.org/hook\"\nsecret = \"s\"\nsecret_env = \"X\"\nstreams = []\nbackoff_ms = 0\ntimeout_ms = 0\nqueue = 0\n\n[[alerts.webhook]]\nurl = \"ftp://x\"\nbackoff_ms = 100\nmax_backoff_ms = 10\nretries = 3\nsecret_env = \"ITSCAM_TEST_SURELY_UNSET_VARIABLE\"\n",
        )
        .unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let has = |needle: &str| shown.iter().any(|s| s.contains(needle));
        for needle in [
            "alerts.lifecycle.max_alerts: must be at least 1",
            "alerts.lifecycle.suppress_ms: must be at most",
            "alerts.webhook[0].url: https:// webhooks need TLS",
            "alerts.webhook[0].secret: give secret or secret_env, not both",
            "alerts.webhook[0].streams: empty",
            "alerts.webhook[0].backoff_ms: must be at least 1",
            "alerts.webhook[0].timeout_ms: must be at least 1",
            "alerts.webhook[0].queue: must be at least 1",
            "alerts.webhook[1].url: \"ftp://x\" must start with http://",
            "alerts.webhook[1].max_backoff_ms: must be at least backoff_ms (100)",
            "alerts.webhook[1].secret_env: environment variable ITSCAM_TEST_SURELY_UNSET_VARIABLE is not set",
            "alerts.webhook[1].retries: unknown key",
        ] {
            assert!(has(needle), "{needle}: {shown:#?}");
        }
        assert_eq!(shown.len(), 12, "{shown:#?}");
    }
}
