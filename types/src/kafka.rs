//! Why one of the engine's Kafka clients cannot work: the `kafka:` source's consumer
//! (itscam-operators) and the alert outlet's producer (itscam-sinks) fail the same ways, so they
//! share this error. librdkafka's answers are carried as text (this crate does not depend on
//! rdkafka).

use crate::blame::{Blame, Blamed};
use std::time::Duration;

/// Which of the engine's Kafka clients failed: the messages name it as they always did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaClient {
    /// The consumer of a `kafka:` camera source.
    Source,
    /// The producer of `[alerts.kafka]`.
    Alerts,
}

/// A Kafka client that cannot start or cannot reach its topic, by who is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaClientError {
    /// librdkafka refused the client properties.
    ///
    /// Blame: user — `[kafka.properties]` holds something librdkafka does not take.
    ClientConfig {
        /// Which client.
        client: KafkaClient,
        /// `[kafka] brokers`.
        brokers: String,
        /// librdkafka's message.
        reason: String,
    },
    /// No broker answered in time.
    ///
    /// Blame: external, retry later — the client has no way to tell a broker that is down
    /// from a wrong address (a refused credential is [`CredentialsRefused`](Self::CredentialsRefused)).
    Unreachable {
        /// Which client.
        client: KafkaClient,
        /// `[kafka] brokers`.
        brokers: String,
        /// The topic.
        topic: String,
        /// How long it waited (`startup_timeout_ms`).
        timeout_ms: u64,
        /// The client's errors.
        reason: String,
    },
    /// The broker refused the client's credentials.
    ///
    /// Blame: user — `sasl.*` in `[kafka.properties]`.
    CredentialsRefused {
        /// Which client.
        client: KafkaClient,
        /// `[kafka] brokers`.
        brokers: String,
        /// The topic.
        topic: String,
        /// The client's errors.
        reason: String,
    },
    /// The topic does not exist (and, for alerts, `create_topics = false`).
    ///
    /// Blame: user — a topic name or cluster setup that the config relies on.
    TopicMissing {
        /// Which client.
        client: KafkaClient,
        /// `[kafka] brokers`.
        brokers: String,
        /// The topic.
        topic: String,
    },
    /// The broker refused the topic: creation or access denied, an error code in its metadata,
    /// no partitions.
    ///
    /// Blame: external — the broker's answer; ACLs are the cluster's, and a retry after the
    /// broker recovers may work.
    TopicRefused {
        /// Which client.
        client: KafkaClient,
        /// `[kafka] brokers`.
        brokers: String,
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// Committing a source's offsets to its consumer group failed.
    ///
    /// Blame: external, retry — the broker did not take the commit; the lake already holds the
    /// rows, so a later commit (or the next run) catches up.
    OffsetCommit {
        /// `[kafka] brokers`.
        brokers: String,
        /// The source topic.
        topic: String,
        /// `[kafka.consumer] group_id`.
        group: String,
        /// The broker's answer.
        reason: String,
    },
}

impl std::fmt::Display for KafkaClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use KafkaClient::{Alerts, Source};
        match self {
            KafkaClientError::ClientConfig { client: Source, brokers, reason } => write!(f, "Kafka consumer for brokers {brokers} refused its settings: {reason}"),
            KafkaClientError::ClientConfig { client: Alerts, brokers, reason } => write!(f, "Kafka client for brokers {brokers} refused its settings: {reason}"),
            KafkaClientError::Unreachable { client: Source, brokers, topic, timeout_ms, reason } => write!(
                f,
                "cannot reach the Kafka brokers {brokers} for source topic {topic:?} within {timeout_ms} ms: {reason}; check that the broker runs and [kafka] brokers"
            ),
            KafkaClientError::Unreachable { client: Alerts, brokers, topic, timeout_ms, reason } => write!(
                f,
                "cannot reach the Kafka brokers {brokers} (topic {topic:?}) within {timeout_ms} ms: {reason}; check that the broker runs and that [kafka] brokers and the security properties are right"
            ),
            KafkaClientError::CredentialsRefused { client, brokers, topic, reason } => {
                let which = if *client == Source { "source topic" } else { "topic" };
                write!(f, "the Kafka brokers {brokers} refused the credentials ({which} {topic:?}): {reason}; check sasl.* in [kafka.properties]")
            }
            KafkaClientError::TopicMissing { client: Source, brokers, topic } => write!(f, "source topic {topic:?} on the Kafka brokers {brokers}: does not exist"),
            KafkaClientError::TopicMissing { client: Alerts, brokers, topic } => {
                write!(f, "topic {topic:?} does not exist on the Kafka brokers {brokers} and [alerts.kafka] create_topics = false")
            }
            KafkaClientError::TopicRefused { client: Source, brokers, topic, reason } => write!(f, "source topic {topic:?} on the Kafka brokers {brokers}: {reason}"),
            KafkaClientError::TopicRefused { client: Alerts, brokers, topic, reason } => write!(f, "the Kafka brokers {brokers} refused topic {topic:?}: {reason}"),
            KafkaClientError::OffsetCommit { brokers, topic, group, reason } => {
                write!(f, "source topic {topic:?} on the Kafka brokers {brokers}: committing offsets to group {group:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for KafkaClientError {}

impl Blamed for KafkaClientError {
    fn blame(&self) -> Blame {
        match self {
            KafkaClientError::ClientConfig { .. } | KafkaClientError::CredentialsRefused { .. } | KafkaClientError::TopicMissing { .. } => Blame::User,
            KafkaClientError::Unreachable { .. } | KafkaClientError::TopicRefused { .. } | KafkaClientError::OffsetCommit { .. } => Blame::External,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            KafkaClientError::Unreachable { .. } => Some(Duration::from_secs(5)),
            KafkaClientError::OffsetCommit { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_name_the_client_and_say_who_is_to_blame() {
        let missing = |client| KafkaClientError::TopicMissing { client, brokers: "b:9092".into(), topic: "t".into() };
        assert_eq!(missing(KafkaClient::Source).to_string(), "source topic \"t\" on the Kafka brokers b:9092: does not exist");
        assert_eq!(missing(KafkaClient::Alerts).to_string(), "topic \"t\" does not exist on the Kafka brokers b:9092 and [alerts.kafka] create_topics = false");
        assert_eq!(missing(KafkaClient::Source).blame(), Blame::User);
        let down = KafkaClientError::Unreachable { client: KafkaClient::Alerts, brokers: "b:9092".into(), topic: "a".into(), timeout_ms: 1500, reason: "all brokers down".into() };
        assert!(down.to_string().contains("(topic \"a\") within 1500 ms: all brokers down"), "{down}");
        assert_eq!((down.blame(), down.retry_after().is_some()), (Blame::External, true));
    }
}
