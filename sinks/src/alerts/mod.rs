//! Alert outlets: where alerts leave the engine (Kafka, webhooks, SSE). The engine's alert hub
//! (suppression, lifecycle, escalation) hands every alert it lets through to each outlet.

pub mod webhook;

use itscam_types::analytics::Alert;
use std::future::Future;
use std::pin::Pin;

/// Which stream an alert goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStream {
    /// The alert as raised.
    Raised,
    /// Re-published because a high/critical alert was not acknowledged in time.
    Escalation,
}

impl AlertStream {
    /// The name in payloads, headers and SSE events: `alert` or `escalation`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStream::Raised => "alert",
            AlertStream::Escalation => "escalation",
        }
    }
}

/// A destination of alerts. `publish` must not block: outlets queue and deliver on their own
/// tasks, in the order `publish` was called.
pub trait AlertOutlet: Send + Sync {
    /// Short name for logs and `/health`.
    fn name(&self) -> &str;
    /// Queues one alert for delivery.
    fn publish(&self, alert: &Alert, stream: AlertStream);
    /// Whether the outlet never delivers an `alert_id` twice to its raised stream (the Kafka
    /// outlet with `skip_published`): the hub then hands it alerts a restarted run replays, in
    /// case the crash came before it had them.
    fn skips_published(&self) -> bool {
        false
    }
    /// Resolves once every alert published before the call was delivered or given up (called by
    /// the hub when it finishes). The default has nothing to wait for.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

pub mod outbox;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaAlerts, KafkaHealth, KafkaOutlet, KafkaSinkError, KafkaStats, KafkaSummary};
