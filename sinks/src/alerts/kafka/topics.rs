//! The start-up check of the Kafka outlet: the brokers answer and both topics exist (created
//! when `create_topics`); the delivery thread runs it again when the broker lost a topic.

use super::client::{StartupContext, base_config};
use super::state::Settings;
use itscam_types::kafka::{KafkaClient, KafkaClientError};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{Producer, ThreadedProducer};
use std::time::Duration;

/// Checks that the brokers answer and that both topics exist, creating missing ones when
/// `create_topics`.
pub(crate) fn ensure_topics(settings: &Settings, timeout: Duration) -> Result<(), KafkaClientError> {
    let kafka = &settings.kafka;
    let alerts = &settings.alerts;
    let brokers = kafka.brokers.clone();
    let config = base_config(kafka);
    let client_error = |e: rdkafka::error::KafkaError| KafkaClientError::ClientConfig { client: KafkaClient::Alerts, brokers: brokers.clone(), reason: e.to_string() };
    // A producer's client polls its main queue, so the context sees connection errors.
    let probe: ThreadedProducer<StartupContext> = ThreadedProducer::from_config_and_context(&config, StartupContext::default()).map_err(client_error)?;
    let metadata = probe.client().fetch_metadata(None, timeout).map_err(|e| {
        let context = probe.context();
        let reason = context.errors().unwrap_or_else(|| e.to_string());
        let (brokers, topic) = (brokers.clone(), alerts.topic.clone());
        if context.authentication_failed() {
            KafkaClientError::CredentialsRefused { client: KafkaClient::Alerts, brokers, topic, reason }
        } else {
            KafkaClientError::Unreachable { client: KafkaClient::Alerts, brokers, topic, timeout_ms: timeout.as_millis() as u64, reason }
        }
    })?;
    let mut missing = Vec::new();
    for topic in [alerts.topic.as_str(), settings.escalation_topic.as_str()] {
        match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(t) => match t.error().map(RDKafkaErrorCode::from) {
                None => {}
                Some(RDKafkaErrorCode::UnknownTopicOrPartition) => missing.push(topic),
                Some(code) => return Err(KafkaClientError::TopicRefused { client: KafkaClient::Alerts, brokers, topic: topic.to_string(), reason: code.to_string() }),
            },
            None => missing.push(topic),
        }
    }
    drop(probe);
    if missing.is_empty() {
        return Ok(());
    }
    if !alerts.create_topics {
        return Err(KafkaClientError::TopicMissing { client: KafkaClient::Alerts, brokers, topic: missing[0].to_string() });
    }
    let admin: AdminClient<StartupContext> = AdminClient::from_config_and_context(&config, StartupContext::default()).map_err(client_error)?;
    let new: Vec<NewTopic<'_>> = missing.iter().map(|t| NewTopic::new(t, alerts.partitions as i32, TopicReplication::Fixed(alerts.replication as i32))).collect();
    let options = AdminOptions::new().request_timeout(Some(timeout)).operation_timeout(Some(timeout));
    let results = futures::executor::block_on(admin.create_topics(&new, &options))
        .map_err(|e| KafkaClientError::TopicRefused { client: KafkaClient::Alerts, brokers: brokers.clone(), topic: missing[0].to_string(), reason: e.to_string() })?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, partitions = alerts.partitions, replication = alerts.replication, "Kafka alerts: created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaClientError::TopicRefused { client: KafkaClient::Alerts, brokers, topic, reason: code.to_string() }),
        }
    }
    Ok(())
}
