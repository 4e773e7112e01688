//! Alert outlets: where alerts leave the engine (Kafka, webhooks, SSE). The engine's alert hub
//! (suppression, lifecycle, escalation) hands every alert it lets through to each outlet.

use itscam_types::analytics::Alert;

/// Which stream an alert goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStream {
    /// The alert as raised.
    Raised,
    /// Re-published because a high/critical alert was not acknowledged in time.
    Escalation,
}

/// A destination of alerts. `publish` must not block: outlets queue and deliver on their own
/// tasks, in the order `publish` was called.
pub trait AlertOutlet: Send + Sync {
    /// Short name for logs and `/health`.
    fn name(&self) -> &str;
    /// Queues one alert for delivery.
    fn publish(&self, alert: &Alert, stream: AlertStream);
}

pub mod outbox;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "kafka")]
mod kafka_client;
#[cfg(feature = "kafka")]
mod kafka_delivery;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaAlerts, KafkaHealth, KafkaOutlet, KafkaSinkError, KafkaStats, KafkaSummary};
