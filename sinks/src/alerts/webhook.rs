//! The webhook outlet: alerts as signed JSON `POST`s to an HTTP endpoint, retried with
//! exponential backoff and jitter.
//!
//! One task per webhook delivers one alert at a time, in publish order. `publish` puts the alert
//! in a bounded queue (`queue`); an alert that finds it full is dropped and counted, so a dead
//! receiver never blocks the pipeline. An attempt that fails to connect, times out, or gets
//! 408, 429 or 5xx is retried up to `max_retries` times; any other answer (2xx delivered, other
//! 4xx refused) ends the delivery. Given-up alerts are counted and logged.
//!
//! Request: `POST <url>`, `Content-Type: application/json`, body
//! `{"event":"alert"|"escalation","alert":{…}}`, headers `X-Itscam-Event` (the event),
//! `X-Itscam-Delivery` (`<alert_id>/<event>`, the same on every attempt: receivers dedupe on it),
//! `X-Itscam-Attempt` (1, 2, …) and, with a secret, `X-Itscam-Timestamp` (unix ms of this
//! attempt) and `X-Itscam-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.

use super::{AlertOutlet, AlertStream};
use crate::SinkError;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::http::{Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use itscam_types::analytics::Alert;
use itscam_types::config::{WebhookConfig, WebhookStream};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::Sha256;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Header with the event name: `alert` or `escalation`.
pub const EVENT_HEADER: &str = "x-itscam-event";
/// Header with the delivery id `<alert_id>/<event>`, the same on every attempt.
pub const DELIVERY_HEADER: &str = "x-itscam-delivery";
/// Header with the attempt number, from 1.
pub const ATTEMPT_HEADER: &str = "x-itscam-attempt";
/// Header with the unix time in ms at which the attempt was signed.
pub const TIMESTAMP_HEADER: &str = "x-itscam-timestamp";
/// Header with `sha256=<hex>`: HMAC-SHA256 of `"<timestamp>.<body>"` keyed with the secret.
pub const SIGNATURE_HEADER: &str = "x-itscam-signature";

/// The signature header's value for one attempt: `sha256=` and the lowercase hex HMAC-SHA256 of
/// `"<timestamp_ms>.<body>"` keyed with `secret`.
pub fn signature(secret: &[u8], timestamp_ms: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Delay before retry number `retry` (1-based): `backoff_ms · 2^(retry-1)` capped at
/// `max_backoff_ms`, drawn uniformly from the upper half of that (jitter spreads retries of many
/// engines hitting one receiver).
pub fn backoff_delay(config: &WebhookConfig, retry: u32, rng: &mut impl Rng) -> Duration {
    let doubled = config.backoff_ms.saturating_mul(1u64 << (retry.saturating_sub(1)).min(40));
    let cap = doubled.min(config.max_backoff_ms).max(1);
    Duration::from_millis(rng.random_range(cap.div_ceil(2)..=cap))
}

/// Counters of one webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Alerts the receiver accepted (2xx).
    pub delivered: u64,
    /// Attempts after the first, over all alerts.
    pub retries: u64,
    /// Alerts given up: retries exhausted or refused with a 4xx other than 408/429.
    pub failed: u64,
    /// Alerts dropped because the queue was full.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

enum Job {
    Deliver { body: Bytes, event: &'static str, delivery: String },
    Flush(oneshot::Sender<()>),
}

/// A webhook receiving alerts (see the module docs for the request format and retry policy).
/// Dropping it cancels deliveries in progress: call [`AlertOutlet::flush`] first.
pub struct WebhookOutlet {
    name: String,
    config: WebhookConfig,
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for WebhookOutlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookOutlet").field("url", &self.config.url).field("stats", &self.stats()).finish()
    }
}

impl WebhookOutlet {
    /// Checks the URL and secret and starts the delivery task on `runtime`.
    pub fn start(config: &WebhookConfig, runtime: &tokio::runtime::Handle) -> Result<Arc<WebhookOutlet>, SinkError> {
        let invalid = |reason: String| SinkError::InvalidWebhook { url: config.url.clone(), reason };
        let uri: Uri = config.url.parse().map_err(|e| invalid(format!("not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(invalid("must be http://host[:port]/path (TLS is not built in)".into()));
        }
        let secret = config.resolve_secret().map_err(invalid)?.map(String::into_bytes);
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_millis(config.timeout_ms)));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64) ^ config.url.len() as u64;
        let delivery = Delivery { uri, secret, config: config.clone(), client, counters: counters.clone(), rng: SmallRng::seed_from_u64(seed) };
        let task = runtime.spawn(delivery.run(rx));
        Ok(Arc::new(WebhookOutlet { name: format!("webhook {}", config.url), config: config.clone(), tx, counters, task }))
    }

    /// Counters so far.
    pub fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        WebhookStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

impl Drop for WebhookOutlet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AlertOutlet for WebhookOutlet {
    fn name(&self) -> &str {
        &self.name
    }

    fn publish(&self, alert: &Alert, stream: AlertStream) {
        let wanted = match stream {
            AlertStream::Raised => WebhookStream::Alert,
            AlertStream::Escalation => WebhookStream::Escalation,
        };
        if !self.config.wants(wanted, alert.severity) {
            return;
        }
        let event = stream.as_str();
        let body = serde_json::to_vec(&serde_json::json!({ "event": event, "alert": alert })).expect("an alert serializes");
        let job = Job::Deliver { body: body.into(), event, delivery: format!("{}/{event}", alert.alert_id) };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(webhook = %self.config.url, alert_id = %alert.alert_id, queue = self.config.queue, "webhook queue full: alert dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(webhook = %self.config.url, alert_id = %alert.alert_id, "webhook task stopped (this is a bug): alert dropped");
            }
        }
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            if self.tx.send(Job::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        })
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    Retry(String),
    Refused(String),
}

struct Delivery {
    uri: Uri,
    secret: Option<Vec<u8>>,
    config: WebhookConfig,
    client: Client<HttpConnector, Full<Bytes>>,
    counters: Arc<Counters>,
    rng: SmallRng,
}

impl Delivery {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            match job {
                Job::Deliver { body, event, delivery } => self.deliver(body, event, &delivery).await,
                Job::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    async fn deliver(&mut self, body: Bytes, event: &'static str, delivery: &str) {
        let mut last = String::new();
        for attempt in 0..=self.config.max_retries {
            if attempt > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff_delay(&self.config, attempt, &mut self.rng)).await;
            }
            match self.attempt(&body, event, delivery, attempt + 1).await {
                Attempt::Delivered => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Attempt::Refused(why) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(webhook = %self.config.url, delivery, reason = %why, "webhook refused the alert; not retried");
                    return;
                }
                Attempt::Retry(why) => {
                    tracing::debug!(webhook = %self.config.url, delivery, attempt = attempt + 1, reason = %why, "webhook attempt failed");
                    last = why;
                }
            }
        }
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(webhook = %self.config.url, delivery, attempts = self.config.max_retries + 1, reason = %last, "webhook delivery given up");
    }

    async fn attempt(&self, body: &Bytes, event: &'static str, delivery: &str, number: u32) -> Attempt {
        let mut req = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, concat!("itscam/", env!("CARGO_PKG_VERSION")))
            .header(EVENT_HEADER, event)
            .header(DELIVERY_HEADER, delivery)
            .header(ATTEMPT_HEADER, number);
        if let Some(secret) = &self.secret {
            let ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            req = req.header(TIMESTAMP_HEADER, ts).header(SIGNATURE_HEADER, signature(secret, ts, body));
        }
        let req = match req.body(Full::new(body.clone())) {
            Ok(r) => r,
            Err(e) => return Attempt::Refused(format!("cannot build the request (this is a bug): {e}")),
        };
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status();
            // Read the (small) answer so the connection can be reused.
            let _ = resp.into_body().collect().await;
            Ok::<_, String>(status)
        };
        match tokio::time::timeout(Duration::from_millis(self.config.timeout_ms), exchange).await {
            Err(_) => Attempt::Retry(format!("no answer within {} ms (timeout_ms)", self.config.timeout_ms)),
            Ok(Err(e)) => Attempt::Retry(e),
            Ok(Ok(s)) if s.is_success() => Attempt::Delivered,
            Ok(Ok(s)) if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT || s == StatusCode::TOO_MANY_REQUESTS => {
                Attempt::Retry(format!("answered {s}"))
            }
            Ok(Ok(s)) => Attempt::Refused(format!("answered {s}")),
        }
    }
}

#[cfg(test)]
mod tests;
