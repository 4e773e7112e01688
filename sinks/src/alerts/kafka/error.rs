//! Why the Kafka outlet cannot start or finish, by who is to blame.

use crate::alerts::outbox::OutboxError;
use itscam_types::config::Problem;
use itscam_types::kafka::KafkaClientError;
use itscam_types::{Blame, Blamed};

/// A failure of the Kafka outlet, by who is to blame.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The settings are wrong; every problem is listed.
    ///
    /// Blame: user — `[kafka]`, `[alerts.kafka]` or `[alerts.outbox]`.
    #[error("invalid Kafka alert settings:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<Problem>),
    /// The Kafka client cannot start or reach its topics (the error the `kafka:` source shares).
    ///
    /// Blame: the client error's own (client settings, credentials and a missing topic are the
    /// user's; an unreachable broker or a refused topic is external).
    #[error(transparent)]
    Client(#[from] KafkaClientError),
    /// Transactions could not start (`transactional = true`).
    ///
    /// Blame: external — the broker did not take the transactional producer (no transaction
    /// support, or it did not answer in time); the settings themselves were validated.
    #[error("Kafka transactions could not start on brokers {brokers}: {reason}")]
    Transactions {
        /// `[kafka] brokers`.
        brokers: String,
        /// librdkafka's message.
        reason: String,
    },
    /// The outbox directory is unusable.
    ///
    /// Blame: the outbox error's own.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The delivery thread ended unexpectedly (it panicked or was cancelled).
    ///
    /// Blame: bug.
    #[error("the Kafka delivery thread failed (this is a bug): {0}")]
    Stopped(#[source] tokio::task::JoinError),
}

impl Blamed for KafkaSinkError {
    fn blame(&self) -> Blame {
        match self {
            KafkaSinkError::Config(_) => Blame::User,
            KafkaSinkError::Client(e) => e.blame(),
            KafkaSinkError::Transactions { .. } => Blame::External,
            KafkaSinkError::Outbox(e) => e.blame(),
            KafkaSinkError::Stopped(_) => Blame::Bug,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            KafkaSinkError::Client(e) => e.retry_after(),
            KafkaSinkError::Outbox(e) => e.retry_after(),
            _ => None,
        }
    }
}
