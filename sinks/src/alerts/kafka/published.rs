//! `[alerts.kafka] skip_published`: the alert ids already on the topic, read once at start-up,
//! so a restarted engine that replays its input (or re-runs it) never publishes an id twice.

use super::client::{StartupContext, base_config};
use super::state::Settings;
use itscam_types::kafka::{KafkaClient, KafkaClientError};
use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

/// Reads every message of the raised-alerts topic from the start to the end it has now and
/// returns their `alert_id`s (header, or the JSON value's field for messages without it).
/// Fails when no message arrives for `timeout` while some partition is not read to its end.
pub(crate) fn published_ids(settings: &Settings, timeout: Duration) -> Result<HashSet<String>, KafkaClientError> {
    let brokers = settings.kafka.brokers.clone();
    let topic = settings.alerts.topic.clone();
    let unreachable = |reason: String| KafkaClientError::Unreachable { client: KafkaClient::Alerts, brokers: brokers.clone(), topic: topic.clone(), timeout_ms: timeout.as_millis() as u64, reason };
    let mut config = base_config(&settings.kafka);
    config.set("group.id", format!("itscam-alerts-readback-{topic}"));
    config.set("enable.auto.commit", "false");
    // Read to what a fetch reports as the end (Tansu 0.6 answers ListOffsets(latest) with the
    // base offset of the last record batch).
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<StartupContext> = BaseConsumer::from_config_and_context(&config, StartupContext::default())
        .map_err(|e| KafkaClientError::ClientConfig { client: KafkaClient::Alerts, brokers: brokers.clone(), reason: e.to_string() })?;
    let metadata = consumer.fetch_metadata(Some(&topic), timeout).map_err(|e| unreachable(e.to_string()))?;
    let partitions: Vec<i32> = metadata.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    // Partitions still to read to their end (every one: an empty partition reports its end too).
    let mut ends: BTreeSet<i32> = BTreeSet::new();
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        ends.insert(p);
        assignment.add_partition_offset(&topic, p, Offset::Beginning).map_err(|e| unreachable(e.to_string()))?;
    }
    let mut ids = HashSet::new();
    if ends.is_empty() {
        return Ok(ids);
    }
    consumer.assign(&assignment).map_err(|e| unreachable(e.to_string()))?;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let id = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "alert_id").and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned())))
                    .or_else(|| {
                        let v: serde_json::Value = serde_json::from_slice(m.payload()?).ok()?;
                        v.get("alert_id")?.as_str().map(str::to_string)
                    });
                if let Some(id) = id {
                    ids.insert(id);
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                ends.remove(&p);
            }
            Some(Err(e)) => return Err(unreachable(format!("reading the ids already on the topic: {e}"))),
            None if last_progress.elapsed() > timeout => {
                return Err(unreachable(format!("reading the ids already on the topic stalled with partitions {:?} unfinished", ends.iter().collect::<Vec<_>>())));
            }
            None => {}
        }
    }
    Ok(ids)
}
