//! Alerts to Kafka: [`KafkaAlerts`] publishes every alert to `[alerts.kafka] topic` (escalations
//! to `escalation_topic`), keyed by camera, as the alert's JSON with headers `alert_id`, `kind`
//! and `severity`, through the durable [`Outbox`](super::outbox::Outbox). README "Alerts on
//! Kafka" documents the message, the delivery guarantee and the keys.

mod client;
mod delivery;
mod error;
mod published;
mod state;
mod topics;

pub use error::KafkaSinkError;
pub use state::{KafkaStats, KafkaSummary};

use delivery::{Delivery, new_producer};
use crate::alerts::outbox::Outbox;
use crate::alerts::{AlertOutlet, AlertStream};
use itscam_types::analytics::Alert;
use itscam_types::config::{KafkaAlertsConfig, KafkaConfig, OutboxConfig, Problem};
use itscam_types::kafka::{KafkaClient, KafkaClientError};
use state::{Event, Settings, Shared, Skip};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A handle on the outlet's counters; cheap to clone, usable after the outlet finished.
#[derive(Clone, Debug)]
pub struct KafkaHealth(Arc<Shared>);

impl KafkaHealth {
    /// The counters now.
    pub fn stats(&self) -> KafkaStats {
        self.0.stats()
    }
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
        topics::ensure_topics(&settings, Duration::from_millis(alerts.startup_timeout_ms))?;
        let skip = if alerts.skip_published {
            let on_topic = published::published_ids(&settings, Duration::from_millis(alerts.startup_timeout_ms))?;
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
            if alerts.transactional { KafkaSinkError::Transactions { brokers, reason } } else { KafkaClientError::ClientConfig { client: KafkaClient::Alerts, brokers, reason }.into() }
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
        let summary = task.await.map_err(KafkaSinkError::Stopped)?;
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
