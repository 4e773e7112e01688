//! `[alerts]` and `[kafka]`: where alerts go and how their lifecycle runs.
//! The Kafka part (`[kafka]`, `[alerts.kafka]`, `[alerts.outbox]`) lives in `kafka.rs`; the
//! lifecycle (suppression, escalation, webhooks) in `lifecycle.rs`.

use super::Problem;
use super::kafka::{KafkaAlertsConfig, OutboxConfig};
use super::lifecycle::{LifecycleConfig, WebhookConfig};
use serde::{Deserialize, Serialize};

/// `[alerts]`: alerts from violations and anomalies. Without `[alerts.kafka]` they still reach
/// the `alerts` table, SSE and webhooks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertsConfig {
    /// `[alerts.kafka]`: publish to Kafka (needs `[kafka]`).
    pub kafka: Option<KafkaAlertsConfig>,
    /// `[alerts.outbox]`: the durable local outbox used while the broker is unreachable.
    pub outbox: OutboxConfig,
    /// `[alerts.lifecycle]`: suppression and escalation.
    pub lifecycle: LifecycleConfig,
    /// `[[alerts.webhook]]`: HTTP endpoints that receive alerts (signed JSON POSTs, retried).
    pub webhook: Vec<WebhookConfig>,
    /// Clients of `GET /api/v1/alerts/stream` (SSE) at once; one more is answered 429.
    pub max_stream_clients: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig { kafka: None, outbox: OutboxConfig::default(), lifecycle: LifecycleConfig::default(), webhook: Vec::new(), max_stream_clients: 64 }
    }
}

impl AlertsConfig {
    pub(crate) fn check(&self, has_kafka: bool, out: &mut Vec<Problem>) {
        if let Some(k) = &self.kafka {
            if !has_kafka {
                out.push(Problem::new("alerts.kafka", "needs a [kafka] section with the brokers"));
            }
            k.check("alerts.kafka", out);
        }
        self.outbox.check("alerts.outbox", out);
        if self.max_stream_clients == 0 {
            out.push(Problem::new("alerts.max_stream_clients", "must be at least 1"));
        }
        self.lifecycle.check("alerts.lifecycle", out);
        for (i, w) in self.webhook.iter().enumerate() {
            w.check(&format!("alerts.webhook[{i}]"), out);
        }
    }
}
