//! The librdkafka side of the Kafka outlet: client properties from the config, and the client
//! contexts that turn delivery reports and client errors into events for the delivery thread
//! and librdkafka's log into `tracing` events.

use super::state::{Event, Failure, Shared};
use itscam_types::config::{Acks, KafkaAlertsConfig, KafkaConfig};
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use std::sync::Arc;
use std::sync::mpsc::Sender;

/// The context of each producer: one per generation, so reports of a replaced producer can be
/// told apart.
pub(crate) struct AlertContext {
    pub generation: u64,
    pub events: Sender<Event>,
    pub shared: Arc<Shared>,
}

impl ClientContext for AlertContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_to_tracing(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        if matches!(code, Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)) {
            self.shared.set_broker_up(false);
        }
        self.shared.set_last_error(format!("{error}: {reason}"));
        if matches!(code, Some(RDKafkaErrorCode::Fatal)) {
            let _ = self.events.send(Event::Fatal { generation: self.generation, reason: reason.to_string() });
        } else {
            tracing::debug!(target: "librdkafka", %error, reason, "Kafka client error");
        }
    }
}

impl ProducerContext for AlertContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(Failure::new(e)),
        };
        let _ = self.events.send(Event::Delivered { generation: self.generation, seq: seq as u64, outcome });
    }
}

/// Context of the start-up check: keeps the client's first error of each kind for the error
/// message.
#[derive(Default)]
pub(crate) struct StartupContext {
    errors: std::sync::Mutex<Vec<(Option<RDKafkaErrorCode>, String)>>,
}

impl StartupContext {
    /// The first error of each kind, the telling ones first ("all brokers down" says least).
    pub fn errors(&self) -> Option<String> {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
        errors.sort_by_key(|(code, _)| *code == Some(RDKafkaErrorCode::AllBrokersDown));
        (!errors.is_empty()).then(|| errors.into_iter().map(|(_, text)| text).collect::<Vec<_>>().join("; "))
    }

    /// Whether the broker refused the credentials.
    pub fn authentication_failed(&self) -> bool {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|(code, _)| *code == Some(RDKafkaErrorCode::Authentication))
    }
}

impl ClientContext for StartupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_to_tracing(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if !errors.iter().any(|(c, _)| *c == code) {
            errors.push((code, reason.to_string()));
        }
    }
}

impl ProducerContext for StartupContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

fn log_to_tracing(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", fac, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
    }
}

/// Properties shared by every client of the outlet: brokers and `[kafka.properties]`.
pub(crate) fn base_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &kafka.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", &kafka.brokers);
    c.set("client.id", "itscam-alerts");
    c
}

/// The producer's properties. Delivery never times out (`message.timeout.ms = 0`) outside
/// transactions: librdkafka retries in order until the broker takes the message, and the outbox
/// bounds what it holds (`max_in_flight`).
pub(crate) fn producer_config(kafka: &KafkaConfig, alerts: &KafkaAlertsConfig) -> ClientConfig {
    let mut c = base_config(kafka);
    match alerts.acks().unwrap_or(Acks::All) {
        Acks::All => {
            c.set("enable.idempotence", "true");
            c.set("acks", "all");
            c.set("max.in.flight.requests.per.connection", "5");
        }
        Acks::Leader => {
            c.set("enable.idempotence", "false");
            c.set("acks", "1");
            // One request at a time keeps the order across retries.
            c.set("max.in.flight.requests.per.connection", "1");
        }
    }
    c.set("linger.ms", alerts.linger_ms.to_string());
    c.set("queue.buffering.max.messages", alerts.max_in_flight.max(1000).to_string());
    c.set("reconnect.backoff.ms", alerts.retry_backoff_ms.to_string());
    c.set("reconnect.backoff.max.ms", alerts.retry_backoff_max_ms.to_string());
    c.set("retry.backoff.ms", alerts.retry_backoff_ms.min(1000).to_string());
    c.set("retry.backoff.max.ms", alerts.retry_backoff_max_ms.to_string());
    if alerts.transactional {
        // librdkafka wants message.timeout.ms ≤ transaction.timeout.ms: a batch that cannot be
        // delivered in time is aborted and re-sent from the outbox.
        c.set("transactional.id", format!("itscam-alerts-{}", alerts.topic));
        c.set("transaction.timeout.ms", "60000");
        c.set("message.timeout.ms", "60000");
    } else {
        c.set("message.timeout.ms", "0");
    }
    c
}

impl rdkafka::consumer::ConsumerContext for StartupContext {}
