//! Alerts to Kafka: [`KafkaAlerts`] publishes every alert to `[alerts.kafka] topic` (escalations
//! to `escalation_topic`), keyed by camera, as the alert's JSON with headers `alert_id`, `kind`
//! and `severity`, through the durable [`Outbox`](super::outbox::Outbox). README "Alerts on
//! Kafka" documents the message, the delivery guarantee and the keys.

use super::kafka_client::{Event, StartupContext, base_config};
use super::kafka_delivery::{Delivery, new_producer};
use super::outbox::{Outbox, OutboxError};
use super::{AlertOutlet, AlertStream};
use itscam_types::analytics::Alert;
use itscam_types::config::{KafkaAlertsConfig, KafkaConfig, OutboxConfig, Problem};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{Producer, ThreadedProducer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A failure of the Kafka outlet, by who is to blame.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The settings are wrong (user input); every problem is listed.
    #[error("invalid Kafka alert settings:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<Problem>),
    /// librdkafka refused the client properties (user input: `[kafka.properties]`).
    #[error("Kafka client for brokers {brokers} refused its settings: {reason}")]
    ClientConfig {
        /// `[kafka] brokers`.
        brokers: String,
        /// librdkafka's message.
        reason: String,
    },
    /// No broker answered in time (external system, or wrong address/credentials); retrying
    /// later may help.
    #[error("cannot reach the Kafka brokers {brokers} (topic {topic:?}) within {timeout_ms} ms: {reason}; check that the broker runs and that [kafka] brokers and the security properties are right")]
    Unreachable {
        /// `[kafka] brokers`.
        brokers: String,
        /// The alert topic.
        topic: String,
        /// `startup_timeout_ms`.
        timeout_ms: u64,
        /// The client's last error.
        reason: String,
    },
    /// The broker refused the client's credentials (user input: `sasl.*` in `[kafka.properties]`).
    #[error("the Kafka brokers {brokers} refused the credentials (topic {topic:?}): {reason}; check sasl.* in [kafka.properties]")]
    CredentialsRefused {
        /// `[kafka] brokers`.
        brokers: String,
        /// The alert topic.
        topic: String,
        /// The client's errors.
        reason: String,
    },
    /// The topic does not exist and `create_topics = false` (user input or cluster setup).
    #[error("topic {topic:?} does not exist on the Kafka brokers {brokers} and [alerts.kafka] create_topics = false")]
    TopicMissing {
        /// `[kafka] brokers`.
        brokers: String,
        /// The topic.
        topic: String,
    },
    /// The broker refused the topic (creation or access denied: external system or ACLs).
    #[error("the Kafka brokers {brokers} refused topic {topic:?}: {reason}")]
    TopicRefused {
        /// `[kafka] brokers`.
        brokers: String,
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// Transactions could not start (`transactional = true`).
    #[error("Kafka transactions could not start on brokers {brokers}: {reason}")]
    Transactions {
        /// `[kafka] brokers`.
        brokers: String,
        /// librdkafka's message.
        reason: String,
    },
    /// The outbox directory is unusable (local system).
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The delivery thread ended unexpectedly: this is a bug.
    #[error("the Kafka delivery thread failed (this is a bug): {0}")]
    Stopped(String),
}

/// `skip_published`: ids on the topic at start-up, and every id published since.
#[derive(Debug, Default)]
pub(crate) struct Skip {
    /// On the topic at start-up: outbox records with these ids are not sent again.
    pub on_topic: std::collections::HashSet<String>,
    /// On the topic, in the outbox, or published in this run: not appended again.
    pub seen: std::collections::HashSet<String>,
    /// Alerts not published because their id was seen.
    pub skipped: u64,
}

impl Skip {
    fn new(on_topic: std::collections::HashSet<String>, queued: Vec<String>) -> Skip {
        let mut seen = on_topic.clone();
        seen.extend(queued);
        Skip { on_topic, seen, skipped: 0 }
    }
}

/// The settings of a running outlet.
#[derive(Debug)]
pub(crate) struct Settings {
    pub kafka: KafkaConfig,
    pub alerts: KafkaAlertsConfig,
    pub escalation_topic: String,
}

/// Counters shared by the outlet, its delivery thread and `/health`.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    /// Published, not yet appended to the outbox.
    pub waiting: AtomicU64,
    /// In the outbox, not yet acknowledged.
    pub in_outbox: AtomicU64,
    pub resends: AtomicU64,
    broker_down: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    pub fn set_last_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }
    pub fn set_broker_up(&self, up: bool) {
        self.broker_down.store(!up, Ordering::Relaxed);
    }
}

/// The outlet's counters, for `/health` and logs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KafkaStats {
    /// Alerts the broker acknowledged (since start).
    pub sent: u64,
    /// Alerts waiting: in the outbox and not yet acknowledged, or about to be appended.
    pub queued: u64,
    /// Alerts given up on: refused by the broker for good (kept in the outbox's
    /// `dead-letter.jsonl`), or published after the outlet finished.
    pub failed: u64,
    /// Times the producer was replaced to re-send from the outbox after a delivery error.
    pub resends: u64,
    /// False after the client lost every broker connection, true again after a delivery.
    pub broker_reachable: bool,
    /// The last error seen (client, delivery or outbox), if any.
    pub last_error: Option<String>,
}

/// A handle on the outlet's counters; cheap to clone, usable after the outlet finished.
#[derive(Clone, Debug)]
pub struct KafkaHealth(Arc<Shared>);

impl KafkaHealth {
    /// The counters now.
    pub fn stats(&self) -> KafkaStats {
        let s = &self.0;
        KafkaStats {
            sent: s.sent.load(Ordering::Relaxed),
            queued: s.waiting.load(Ordering::Relaxed) + s.in_outbox.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed) + s.rejected.load(Ordering::Relaxed),
            resends: s.resends.load(Ordering::Relaxed),
            broker_reachable: !s.broker_down.load(Ordering::Relaxed),
            last_error: s.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// What a finished outlet did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSummary {
    /// Alerts the broker acknowledged in this run (re-sent ones from earlier runs included).
    pub sent: u64,
    /// Alerts the broker refused for good, kept in `dead-letter.jsonl`.
    pub dead_lettered: u64,
    /// Alerts not published because their `alert_id` was already on the topic or in the outbox
    /// (`skip_published`: a replayed or repeated input).
    pub skipped_published: u64,
    /// Alerts still undelivered at the end: they stay in the outbox and the next run sends them
    /// first.
    pub left_in_outbox: u64,
    /// Damaged outbox records skipped at start-up (reported with file and line in the log).
    pub damaged_skipped: u64,
    /// The outbox directory.
    pub outbox_dir: String,
}

/// The handle the alert hub publishes through: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct KafkaOutlet {
    events: Sender<Event>,
    shared: Arc<Shared>,
    skips_published: bool,
}

impl AlertOutlet for KafkaOutlet {
    fn name(&self) -> &str {
        "kafka"
    }

    fn skips_published(&self) -> bool {
        self.skips_published
    }

    fn publish(&self, alert: &Alert, stream: AlertStream) {
        self.shared.waiting.fetch_add(1, Ordering::Relaxed);
        if self.events.send(Event::Publish(stream, alert.clone())).is_err() {
            self.shared.waiting.fetch_sub(1, Ordering::Relaxed);
            self.shared.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::error!(alert_id = %alert.alert_id, "alert published to Kafka after the outlet finished; not sent");
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Event::Publish(..) => "Publish",
            Event::Delivered { .. } => "Delivered",
            Event::Fatal { .. } => "Fatal",
            Event::Finish { .. } => "Finish",
            Event::Stop => "Stop",
        })
    }
}

/// The Kafka alert outlet: an idempotent producer behind a durable outbox, delivering on its
/// own thread. Dropping it without [`finish`](Self::finish) stops delivery at once; what was
/// not acknowledged stays in the outbox for the next start.
#[derive(Debug)]
pub struct KafkaAlerts {
    outlet: KafkaOutlet,
    task: Option<tokio::task::JoinHandle<KafkaSummary>>,
    exited: Mutex<mpsc::Receiver<()>>,
    flush_timeout: Duration,
}

impl KafkaAlerts {
    /// Validates the settings, opens (and locks) the outbox, checks that the broker answers and
    /// that both topics exist (creating them when `create_topics`), then starts delivering on
    /// a blocking thread of `runtime` — undelivered alerts of an earlier run first.
    ///
    /// Blocks up to `startup_timeout_ms` (twice with topic creation): call it at start-up, not
    /// on a timely worker or an async task that must stay responsive.
    pub fn start(kafka: &KafkaConfig, alerts: &KafkaAlertsConfig, outbox: &OutboxConfig, runtime: &tokio::runtime::Handle) -> Result<KafkaAlerts, KafkaSinkError> {
        let mut problems = Vec::new();
        if kafka.brokers.trim().is_empty() {
            problems.push(Problem::new("kafka.brokers", "empty broker list"));
        }
        problems.extend(alerts.problems("alerts.kafka"));
        problems.extend(outbox.problems("alerts.outbox"));
        if !problems.is_empty() {
            return Err(KafkaSinkError::Config(problems));
        }
        let settings = Arc::new(Settings { kafka: kafka.clone(), alerts: alerts.clone(), escalation_topic: alerts.escalation_topic() });
        let (mut ob, recovery) = Outbox::open(&outbox.dir, outbox.segment_bytes)?;
        ensure_topics(&settings, Duration::from_millis(alerts.startup_timeout_ms))?;
        let skip = if alerts.skip_published {
            let on_topic = super::kafka_published::published_ids(&settings, Duration::from_millis(alerts.startup_timeout_ms))?;
            let queued = ob.undelivered_ids()?;
            tracing::info!(on_topic = on_topic.len(), in_outbox = queued.len(), "Kafka alerts: ids already published are not published again");
            Some(Skip::new(on_topic, queued))
        } else {
            None
        };

        let shared = Arc::new(Shared::default());
        shared.in_outbox.store(recovery.undelivered, Ordering::Relaxed);
        let (events, receiver) = mpsc::channel();
        let producer = new_producer(&settings, 1, &events, &shared).map_err(|reason| {
            let brokers = kafka.brokers.clone();
            if alerts.transactional { KafkaSinkError::Transactions { brokers, reason } } else { KafkaSinkError::ClientConfig { brokers, reason } }
        })?;
        tracing::info!(
            brokers = %kafka.brokers, topic = %alerts.topic, escalation_topic = %settings.escalation_topic,
            outbox = %outbox.dir, undelivered = recovery.undelivered, damaged = recovery.damaged.len(),
            "Kafka alerts: connected"
        );
        let delivery = Delivery::new(settings.clone(), shared.clone(), events.clone(), ob, producer, recovery.damaged.len() as u64, skip);
        let (exit_tx, exited) = mpsc::channel::<()>();
        let task = runtime.spawn_blocking(move || {
            let summary = delivery.run(receiver);
            drop(exit_tx);
            summary
        });
        Ok(KafkaAlerts { outlet: KafkaOutlet { events, shared, skips_published: alerts.skip_published }, task: Some(task), exited: Mutex::new(exited), flush_timeout: Duration::from_millis(alerts.flush_timeout_ms) })
    }

    /// A publishing handle for the alert hub.
    pub fn outlet(&self) -> KafkaOutlet {
        self.outlet.clone()
    }

    /// A handle on the counters, for `/health`.
    pub fn health(&self) -> KafkaHealth {
        KafkaHealth(self.outlet.shared.clone())
    }

    /// The counters now.
    pub fn stats(&self) -> KafkaStats {
        self.health().stats()
    }

    /// Delivers what is queued, waiting up to `flush_timeout_ms`; what is still undelivered
    /// then stays in the outbox (`left_in_outbox`) and goes first in the next run.
    pub async fn finish(mut self) -> Result<KafkaSummary, KafkaSinkError> {
        let _ = self.outlet.events.send(Event::Finish { deadline: Instant::now() + self.flush_timeout });
        let task = self.task.take().expect("finish consumes the outlet");
        let summary = task.await.map_err(|e| KafkaSinkError::Stopped(e.to_string()))?;
        if summary.left_in_outbox > 0 {
            tracing::warn!(left = summary.left_in_outbox, outbox = %summary.outbox_dir, "Kafka alerts: undelivered alerts stay in the outbox; the next start sends them first");
        }
        Ok(summary)
    }
}

impl AlertOutlet for KafkaAlerts {
    fn name(&self) -> &str {
        self.outlet.name()
    }

    fn publish(&self, alert: &Alert, stream: AlertStream) {
        self.outlet.publish(alert, stream)
    }

    fn skips_published(&self) -> bool {
        self.outlet.skips_published
    }
}

impl Drop for KafkaAlerts {
    fn drop(&mut self) {
        if self.task.take().is_some() {
            let _ = self.outlet.events.send(Event::Stop);
            // Wait for the thread to let go of the outbox, so a new outlet can open it.
            let _ = self.exited.get_mut().unwrap_or_else(|p| p.into_inner()).recv_timeout(Duration::from_secs(10));
        }
    }
}

/// Checks that the brokers answer and that both topics exist, creating missing ones when
/// `create_topics`.
pub(crate) fn ensure_topics(settings: &Settings, timeout: Duration) -> Result<(), KafkaSinkError> {
    let kafka = &settings.kafka;
    let alerts = &settings.alerts;
    let brokers = kafka.brokers.clone();
    let config = base_config(kafka);
    let client_error = |e: rdkafka::error::KafkaError| KafkaSinkError::ClientConfig { brokers: brokers.clone(), reason: e.to_string() };
    // A producer's client polls its main queue, so the context sees connection errors.
    let probe: ThreadedProducer<StartupContext> = ThreadedProducer::from_config_and_context(&config, StartupContext::default()).map_err(client_error)?;
    let metadata = probe.client().fetch_metadata(None, timeout).map_err(|e| {
        let context = probe.context();
        let reason = context.errors().unwrap_or_else(|| e.to_string());
        let (brokers, topic) = (brokers.clone(), alerts.topic.clone());
        if context.authentication_failed() {
            KafkaSinkError::CredentialsRefused { brokers, topic, reason }
        } else {
            KafkaSinkError::Unreachable { brokers, topic, timeout_ms: timeout.as_millis() as u64, reason }
        }
    })?;
    let mut missing = Vec::new();
    for topic in [alerts.topic.as_str(), settings.escalation_topic.as_str()] {
        match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(t) => match t.error().map(RDKafkaErrorCode::from) {
                None => {}
                Some(RDKafkaErrorCode::UnknownTopicOrPartition) => missing.push(topic),
                Some(code) => return Err(KafkaSinkError::TopicRefused { brokers, topic: topic.to_string(), reason: code.to_string() }),
            },
            None => missing.push(topic),
        }
    }
    drop(probe);
    if missing.is_empty() {
        return Ok(());
    }
    if !alerts.create_topics {
        return Err(KafkaSinkError::TopicMissing { brokers, topic: missing[0].to_string() });
    }
    let admin: AdminClient<StartupContext> = AdminClient::from_config_and_context(&config, StartupContext::default()).map_err(client_error)?;
    let new: Vec<NewTopic<'_>> = missing.iter().map(|t| NewTopic::new(t, alerts.partitions as i32, TopicReplication::Fixed(alerts.replication as i32))).collect();
    let options = AdminOptions::new().request_timeout(Some(timeout)).operation_timeout(Some(timeout));
    let results = futures::executor::block_on(admin.create_topics(&new, &options))
        .map_err(|e| KafkaSinkError::TopicRefused { brokers: brokers.clone(), topic: missing[0].to_string(), reason: e.to_string() })?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, partitions = alerts.partitions, replication = alerts.replication, "Kafka alerts: created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaSinkError::TopicRefused { brokers, topic, reason: code.to_string() }),
        }
    }
    Ok(())
}
