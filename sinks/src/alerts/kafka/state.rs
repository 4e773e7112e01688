//! What the parts of the Kafka outlet share: its settings, its counters, the events its
//! delivery thread takes, and the summary it ends with. Every other module of the outlet
//! depends on this one; it depends on none of them.

use crate::alerts::AlertStream;
use itscam_types::analytics::Alert;
use itscam_types::config::{KafkaAlertsConfig, KafkaConfig};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    pub fn new(on_topic: std::collections::HashSet<String>, queued: Vec<String>) -> Skip {
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

    /// The counters now.
    pub fn stats(&self) -> KafkaStats {
        KafkaStats {
            sent: self.sent.load(Ordering::Relaxed),
            queued: self.waiting.load(Ordering::Relaxed) + self.in_outbox.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed) + self.rejected.load(Ordering::Relaxed),
            resends: self.resends.load(Ordering::Relaxed),
            broker_reachable: !self.broker_down.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
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

/// A delivery that did not succeed: librdkafka's code and text.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub code: Option<RDKafkaErrorCode>,
    pub reason: String,
}

impl Failure {
    pub fn new(e: &KafkaError) -> Self {
        Failure { code: e.rdkafka_error_code(), reason: e.to_string() }
    }

    /// The broker will never take this message as it is: re-sending cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.code,
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::InvalidRecord
                    | RDKafkaErrorCode::InvalidMessage
            )
        )
    }

    /// The topic is gone (e.g. the broker lost it): recreating it may help.
    pub fn is_unknown_topic(&self) -> bool {
        matches!(self.code, Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownPartition | RDKafkaErrorCode::UnknownTopicId))
    }
}

/// What the producer's threads tell the delivery thread (and what the outlet sends it).
pub(crate) enum Event {
    /// An alert to append and send.
    Publish(AlertStream, Alert),
    /// A delivery report of the producer of `generation`.
    Delivered { generation: u64, seq: u64, outcome: Result<(), Failure> },
    /// The producer of `generation` is unusable (librdkafka fatal error).
    Fatal { generation: u64, reason: String },
    /// Deliver what is left until the deadline, then end.
    Finish { deadline: std::time::Instant },
    /// End now; undelivered alerts stay in the outbox.
    Stop,
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
