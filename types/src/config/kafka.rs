//! `[kafka]` (the cluster), `[alerts.kafka]` (the alert topics) and `[alerts.outbox]`.

use super::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[kafka]`: the Kafka cluster used by `kafka:` camera sources and the alert sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, e.g. `"127.0.0.1:9092"`.
    pub brokers: String,
    /// Extra librdkafka properties for every client (`security.protocol`, `sasl.*`, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if self.brokers.trim().is_empty() {
            out.push(Problem::new(format!("{at}.brokers"), "empty broker list"));
        }
    }
}

/// `[alerts.kafka]`: alert topics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KafkaAlertsConfig {
    /// Topic of alerts.
    pub topic: String,
}

impl KafkaAlertsConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if self.topic.trim().is_empty() {
            out.push(Problem::new(format!("{at}.topic"), "empty topic name"));
        }
    }
}

/// `[alerts.outbox]`: alerts wait here (durably) while the broker is unreachable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboxConfig {
    /// Directory of the outbox.
    pub dir: String,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { dir: "./itscam-outbox".into() }
    }
}

impl OutboxConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if self.dir.trim().is_empty() {
            out.push(Problem::new(format!("{at}.dir"), "empty path"));
        }
    }
}
