//! `[kafka]` (the cluster), `[alerts.kafka]` (the alert topics and producer) and
//! `[alerts.outbox]` (the durable queue in front of the broker). README "Alerts on Kafka".

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
    /// `[kafka.consumer]`: how `kafka:` camera sources read, checkpoint and commit.
    #[serde(default)]
    pub consumer: KafkaConsumerConfig,
}

/// `[kafka.consumer]`: the `kafka:TOPIC` camera sources (README "Detections from Kafka").
///
/// A run with a `kafka:` source is *checkpointed*: every `checkpoint_interval_ms` the engine
/// commits the lake files of all rows whose event time is below a checkpoint time T together
/// with T and the source offsets, then commits those offsets to `group_id`. A restarted engine
/// re-reads its partitions from the start, rebuilds its state, and writes only what comes at
/// or after T: the lake ends with exactly the rows of an uninterrupted run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaConsumerConfig {
    /// Consumer group the offsets are committed to (after the lake commit that covers them).
    pub group_id: String,
    /// Stop when every partition reaches the end it had at start-up (a batch run) instead of
    /// following the topic.
    pub stop_at_end: bool,
    /// How often a checkpoint (lake commit + offsets) is taken.
    pub checkpoint_interval_ms: u64,
    /// How long start-up waits for the broker and the topic's partitions.
    pub startup_timeout_ms: u64,
    /// Event time the sources may read ahead of what the queries have finished: a replay
    /// (after a restart) then takes checkpoints as it goes and holds at most this much input.
    pub max_lead_ms: u64,
}

impl Default for KafkaConsumerConfig {
    fn default() -> Self {
        KafkaConsumerConfig { group_id: "itscam".into(), stop_at_end: false, checkpoint_interval_ms: 1_000, startup_timeout_ms: 10_000, max_lead_ms: 30_000 }
    }
}

/// librdkafka properties that itscam sets from its own keys; `[kafka.properties]` must not set
/// them, or one setting would silently win over the other.
const OWNED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "[kafka] brokers"),
    ("metadata.broker.list", "[kafka] brokers"),
    ("enable.idempotence", "[alerts.kafka] acks"),
    ("acks", "[alerts.kafka] acks"),
    ("request.required.acks", "[alerts.kafka] acks"),
    ("linger.ms", "[alerts.kafka] linger_ms"),
    ("queue.buffering.max.ms", "[alerts.kafka] linger_ms"),
    ("transactional.id", "[alerts.kafka] transactional"),
    ("group.id", "[kafka.consumer] group_id"),
    ("enable.auto.commit", "checkpoints (offsets are committed after the lake commit)"),
    ("message.timeout.ms", "the outbox (alerts are retried until delivered)"),
    ("delivery.timeout.ms", "the outbox (alerts are retried until delivered)"),
];

impl KafkaConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if self.brokers.trim().is_empty() {
            out.push(Problem::new(format!("{at}.brokers"), "empty broker list"));
        }
        let c = &self.consumer;
        if c.group_id.trim().is_empty() {
            out.push(Problem::new(format!("{at}.consumer.group_id"), "empty group id"));
        }
        if !(10..=3_600_000).contains(&c.checkpoint_interval_ms) {
            out.push(Problem::new(format!("{at}.consumer.checkpoint_interval_ms"), "must be between 10 and 3600000"));
        }
        if c.max_lead_ms == 0 {
            out.push(Problem::new(format!("{at}.consumer.max_lead_ms"), "at least 1"));
        }
        if c.startup_timeout_ms < 100 {
            out.push(Problem::new(format!("{at}.consumer.startup_timeout_ms"), "at least 100"));
        }
        for key in self.properties.keys() {
            if let Some((_, owner)) = OWNED_PROPERTIES.iter().find(|(k, _)| k == key) {
                out.push(Problem::new(format!("{at}.properties.{key}"), format!("set by itscam from {owner}; remove it here")));
            }
        }
    }
}

/// `[alerts.kafka]`: alert topics and how the producer delivers to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KafkaAlertsConfig {
    /// Topic of raised alerts.
    pub topic: String,
    /// Topic of escalations (unacknowledged high/critical alerts re-published); default
    /// `"<topic>.escalation"`.
    #[serde(default)]
    pub escalation_topic: Option<String>,
    /// Create missing topics at start-up (with `partitions` and `replication`); when false a
    /// missing topic is a start-up error.
    #[serde(default = "yes")]
    pub create_topics: bool,
    /// Partitions of created topics. Alerts are keyed by camera, so one camera's alerts stay in
    /// one partition, in order.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Replication factor of created topics.
    #[serde(default = "default_replication")]
    pub replication: u32,
    /// `"all"`: idempotent producer, every in-sync replica acknowledges (no duplicates from
    /// producer retries, order kept). `"1"`: the leader acknowledges; not idempotent (one
    /// request in flight keeps the order, a retry may duplicate).
    #[serde(default = "default_acks")]
    pub acks: String,
    /// How long the producer waits to batch alerts (librdkafka `linger.ms`).
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Wrap each batch in a Kafka transaction (`read_committed` consumers then never see a batch
    /// that was aborted). For real Kafka only: the test broker Tansu does not honour
    /// transactions. Needs `acks = "all"`.
    #[serde(default)]
    pub transactional: bool,
    /// How long start-up waits for the broker (metadata, topic creation) before it fails.
    #[serde(default = "default_startup_timeout_ms")]
    pub startup_timeout_ms: u64,
    /// How long the end of a run waits for undelivered alerts; what is left stays in the outbox
    /// and is sent first by the next run.
    #[serde(default = "default_flush_timeout_ms")]
    pub flush_timeout_ms: u64,
    /// Alerts handed to the Kafka client at once; the rest wait in the outbox files.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// First wait before re-sending after a delivery error, and librdkafka's reconnect backoff.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// The wait doubles per consecutive failure up to this.
    #[serde(default = "default_retry_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// librdkafka retries on its own; when alerts are in flight and none was acknowledged for
    /// this long, the producer is replaced (a fresh producer id, topics re-checked) and
    /// everything unacknowledged is re-sent from the outbox. This recovers from a broker that
    /// came back without the producer's state or the topics.
    #[serde(default = "default_stall_timeout_ms")]
    pub stall_timeout_ms: u64,
    /// Read the ids already on `topic` at start-up (one pass over the topic) and never publish
    /// an `alert_id` twice: a restarted engine that replays its input — or re-runs the same
    /// input — adds no duplicate to the topic. Costs one read of the topic per start; turn it
    /// off for a topic too large to read (consumers then dedupe on `alert_id`).
    #[serde(default = "yes")]
    pub skip_published: bool,
}

fn yes() -> bool {
    true
}
fn default_partitions() -> u32 {
    3
}
fn default_replication() -> u32 {
    1
}
fn default_acks() -> String {
    "all".into()
}
fn default_linger_ms() -> u64 {
    5
}
fn default_startup_timeout_ms() -> u64 {
    10_000
}
fn default_flush_timeout_ms() -> u64 {
    10_000
}
fn default_max_in_flight() -> u32 {
    10_000
}
fn default_retry_backoff_ms() -> u64 {
    200
}
fn default_retry_backoff_max_ms() -> u64 {
    5_000
}
fn default_stall_timeout_ms() -> u64 {
    30_000
}

/// How the producer acknowledges, from `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// `"all"`: idempotent, all in-sync replicas.
    All,
    /// `"1"`: the partition leader only.
    Leader,
}

impl KafkaAlertsConfig {
    /// A config with this topic and every other key at its default.
    pub fn new(topic: impl Into<String>) -> Self {
        KafkaAlertsConfig {
            topic: topic.into(),
            escalation_topic: None,
            create_topics: true,
            partitions: default_partitions(),
            replication: default_replication(),
            acks: default_acks(),
            linger_ms: default_linger_ms(),
            transactional: false,
            startup_timeout_ms: default_startup_timeout_ms(),
            flush_timeout_ms: default_flush_timeout_ms(),
            max_in_flight: default_max_in_flight(),
            retry_backoff_ms: default_retry_backoff_ms(),
            retry_backoff_max_ms: default_retry_backoff_max_ms(),
            stall_timeout_ms: default_stall_timeout_ms(),
            skip_published: true,
        }
    }

    /// The escalation topic: `escalation_topic`, or `"<topic>.escalation"`.
    pub fn escalation_topic(&self) -> String {
        self.escalation_topic.clone().unwrap_or_else(|| format!("{}.escalation", self.topic))
    }

    /// `acks` parsed; `None` when invalid (reported by validation).
    pub fn acks(&self) -> Option<Acks> {
        match self.acks.as_str() {
            "all" | "-1" => Some(Acks::All),
            "1" => Some(Acks::Leader),
            _ => None,
        }
    }

    /// Every problem of this section, each under `at` (e.g. `alerts.kafka`).
    pub fn problems(&self, at: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        self.check(at, &mut out);
        out
    }

    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if let Err(why) = check_topic_name(&self.topic) {
            out.push(Problem::new(format!("{at}.topic"), why));
        }
        if let Some(t) = &self.escalation_topic {
            if let Err(why) = check_topic_name(t) {
                out.push(Problem::new(format!("{at}.escalation_topic"), why));
            } else if *t == self.topic {
                out.push(Problem::new(format!("{at}.escalation_topic"), "must differ from topic"));
            }
        } else if check_topic_name(&self.topic).is_ok() && check_topic_name(&self.escalation_topic()).is_err() {
            out.push(Problem::new(format!("{at}.topic"), "too long to derive \"<topic>.escalation\"; set escalation_topic"));
        }
        if !(1..=100_000).contains(&self.partitions) {
            out.push(Problem::new(format!("{at}.partitions"), "must be between 1 and 100000"));
        }
        if !(1..=32_767).contains(&self.replication) {
            out.push(Problem::new(format!("{at}.replication"), "must be between 1 and 32767"));
        }
        match self.acks() {
            None => out.push(Problem::new(format!("{at}.acks"), format!("{:?}: expected \"all\" or \"1\" (\"0\" gives no acknowledgement to advance the outbox on)", self.acks))),
            Some(Acks::Leader) if self.transactional => {
                out.push(Problem::new(format!("{at}.transactional"), "transactions need acks = \"all\""));
            }
            Some(_) => {}
        }
        if self.linger_ms > 900_000 {
            out.push(Problem::new(format!("{at}.linger_ms"), "at most 900000 (librdkafka's limit)"));
        }
        if self.startup_timeout_ms < 100 {
            out.push(Problem::new(format!("{at}.startup_timeout_ms"), "at least 100"));
        }
        if !(1..=1_000_000).contains(&self.max_in_flight) {
            out.push(Problem::new(format!("{at}.max_in_flight"), "must be between 1 and 1000000"));
        }
        if self.retry_backoff_ms == 0 {
            out.push(Problem::new(format!("{at}.retry_backoff_ms"), "at least 1"));
        }
        if self.stall_timeout_ms < 100 {
            out.push(Problem::new(format!("{at}.stall_timeout_ms"), "at least 100"));
        }
        if self.retry_backoff_max_ms < self.retry_backoff_ms {
            out.push(Problem::new(format!("{at}.retry_backoff_max_ms"), "must be at least retry_backoff_ms"));
        }
    }
}

/// Kafka's rule for topic names: 1–249 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn check_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty topic name".into());
    }
    if name.len() > 249 {
        return Err(format!("topic name of {} characters; Kafka allows at most 249", name.len()));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid topic name"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("{name:?}: {c:?} is not allowed in a topic name (letters, digits, '.', '_', '-')"));
    }
    Ok(())
}

/// `[alerts.outbox]`: alerts are written here (durably) before they are sent, and stay until the
/// broker acknowledged them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboxConfig {
    /// Directory of the outbox (created if missing; one engine at a time, it is locked).
    pub dir: String,
    /// A segment file is closed and a new one started past this size; fully delivered segments
    /// are deleted.
    pub segment_bytes: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { dir: "./itscam-outbox".into(), segment_bytes: 16 << 20 }
    }
}

impl OutboxConfig {
    /// An outbox in this directory, other keys at their defaults.
    pub fn at(dir: impl Into<String>) -> Self {
        OutboxConfig { dir: dir.into(), ..OutboxConfig::default() }
    }

    /// Every problem of this section, each under `at` (e.g. `alerts.outbox`).
    pub fn problems(&self, at: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        self.check(at, &mut out);
        out
    }

    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if self.dir.trim().is_empty() {
            out.push(Problem::new(format!("{at}.dir"), "empty path"));
        }
        if self.segment_bytes < 4096 {
            out.push(Problem::new(format!("{at}.segment_bytes"), "at least 4096"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::PipelineConfig;

    fn load(extra: &str) -> Result<PipelineConfig, Vec<String>> {
        let dir = std::env::temp_dir().join(format!("itscam-kafka-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.jsonl");
        std::fs::write(&input, "").unwrap();
        let text = format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:{}\"\n{extra}", input.display());
        PipelineConfig::from_toml(&text).map_err(|ps| ps.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn defaults_and_derived_escalation_topic() {
        let c = load("[kafka]\nbrokers = \"127.0.0.1:9092\"\n[alerts.kafka]\ntopic = \"itscam.alerts\"\n").unwrap();
        let k = c.alerts.kafka.unwrap();
        assert_eq!(k.escalation_topic(), "itscam.alerts.escalation");
        assert_eq!(k.acks(), Some(super::Acks::All));
        assert!(k.create_topics);
        assert!(!k.transactional);
        assert_eq!((k.partitions, k.replication, k.linger_ms), (3, 1, 5));
        assert_eq!(k, super::KafkaAlertsConfig::new("itscam.alerts"));
        assert_eq!(c.alerts.outbox, super::OutboxConfig::default());
    }

    #[test]
    fn every_problem_of_the_sections_is_reported() {
        let problems = load(
            r#"[kafka]
brokers = " "
[kafka.properties]
"enable.idempotence" = "false"
"security.protocol" = "SASL_SSL"
[alerts.kafka]
topic = "bad topic!"
escalation_topic = ".."
partitions = 0
acks = "0"
linger_ms = 1000000
max_in_flight = 0
retry_backoff_ms = 10
retry_backoff_max_ms = 5
[alerts.outbox]
dir = ""
segment_bytes = 10
"#,
        )
        .unwrap_err();
        let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
        assert!(has("kafka.brokers: empty broker list"), "{problems:#?}");
        assert!(has("kafka.properties.enable.idempotence: set by itscam from [alerts.kafka] acks"), "{problems:#?}");
        assert!(!has("security.protocol"), "{problems:#?}");
        assert!(has("alerts.kafka.topic: \"bad topic!\": ' ' is not allowed"), "{problems:#?}");
        assert!(has("alerts.kafka.escalation_topic: \"..\" is not a valid topic name"), "{problems:#?}");
        assert!(has("alerts.kafka.partitions"), "{problems:#?}");
        assert!(has("alerts.kafka.acks: \"0\""), "{problems:#?}");
        assert!(has("alerts.kafka.linger_ms"), "{problems:#?}");
        assert!(has("alerts.kafka.max_in_flight"), "{problems:#?}");
        assert!(has("alerts.kafka.retry_backoff_max_ms"), "{problems:#?}");
        assert!(has("alerts.outbox.dir: empty path"), "{problems:#?}");
        assert!(has("alerts.outbox.segment_bytes"), "{problems:#?}");
    }

    #[test]
    fn transactions_need_acks_all_and_escalation_must_differ() {
        let problems = load(
            "[kafka]\nbrokers = \"b:9092\"\n[alerts.kafka]\ntopic = \"a\"\nescalation_topic = \"a\"\nacks = \"1\"\ntransactional = true\n",
        )
        .unwrap_err();
        assert!(problems.iter().any(|p| p.contains("alerts.kafka.transactional: transactions need acks = \"all\"")), "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("alerts.kafka.escalation_topic: must differ from topic")), "{problems:#?}");
    }

    #[test]
    fn kafka_alerts_without_a_cluster_is_a_problem() {
        let problems = load("[alerts.kafka]\ntopic = \"a\"\n").unwrap_err();
        assert!(problems.iter().any(|p| p.contains("alerts.kafka: needs a [kafka] section")), "{problems:#?}");
    }
}
