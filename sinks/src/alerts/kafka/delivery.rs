//! The delivery thread of the Kafka outlet: the single queue of alerts. It appends each batch
//! of published alerts to the outbox (synced), hands records to the producer in outbox order,
//! and advances the outbox cursor over the prefix the broker acknowledged.
//!
//! While the broker is unreachable, librdkafka keeps retrying the records it holds (in order,
//! idempotently) and new alerts wait in the outbox files. A delivery error (or a fatal producer
//! error) replaces the producer after a backoff and re-sends everything not yet acknowledged
//! from the outbox, recreating the topics first when the broker lost them.

use super::client::{AlertContext, producer_config};
use super::state::{Event, Failure, KafkaSummary, Settings, Shared, Skip};
use super::topics::ensure_topics;
use crate::alerts::AlertStream;
use crate::alerts::outbox::{Outbox, OutboxRecord};
use itscam_types::analytics::Alert;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

pub(crate) type AlertProducer = ThreadedProducer<AlertContext>;

/// Creates the producer of one generation (and starts its transactions when configured).
pub(crate) fn new_producer(settings: &Settings, generation: u64, events: &Sender<Event>, shared: &Arc<Shared>) -> Result<AlertProducer, String> {
    let config = producer_config(&settings.kafka, &settings.alerts);
    let context = AlertContext { generation, events: events.clone(), shared: shared.clone() };
    let producer = AlertProducer::from_config_and_context(&config, context).map_err(|e| e.to_string())?;
    if settings.alerts.transactional {
        producer.init_transactions(Duration::from_millis(settings.alerts.startup_timeout_ms)).map_err(|e| format!("init_transactions: {e}"))?;
    }
    Ok(producer)
}

/// Everything the delivery thread owns.
pub(crate) struct Delivery {
    pub settings: Arc<Settings>,
    pub shared: Arc<Shared>,
    pub events: Sender<Event>,
    pub outbox: Outbox,
    pub producer: Option<AlertProducer>,
    pub generation: u64,
    pub damaged: u64,
    /// Every record up to here is resolved (delivered or dead-lettered).
    delivered_through: u64,
    /// Resolved records above `delivered_through`.
    done_above: BTreeSet<u64>,
    /// Records handed to the current producer, waiting for their report.
    in_flight: BTreeMap<u64, OutboxRecord>,
    /// Last seq the outbox reader returned (gaps before a record are damaged lines).
    read_through: u64,
    /// A record the producer's queue had no room for.
    held: Option<OutboxRecord>,
    /// Published alerts not yet in the outbox (waiting for the next append, or an append failed).
    unappended: Vec<(AlertStream, Alert)>,
    /// Ids not to publish again (`skip_published`).
    skip: Option<Skip>,
    /// When set, the producer is replaced at this instant.
    reset_at: Option<Instant>,
    /// Check (and recreate) the topics at the next reset: the broker did not know a topic, or
    /// deliveries stalled.
    recheck_topics: bool,
    backoff: Duration,
    /// Last acknowledgement, or when the producer started holding records.
    last_progress: Instant,
    persisted_at: Instant,
    finishing: Option<Instant>,
    stopping: bool,
    sent: u64,
    dead: u64,
}

impl Delivery {
    pub fn new(settings: Arc<Settings>, shared: Arc<Shared>, events: Sender<Event>, outbox: Outbox, producer: AlertProducer, damaged: u64, skip: Option<Skip>) -> Self {
        let delivered_through = outbox.delivered_through();
        let backoff = Duration::from_millis(settings.alerts.retry_backoff_ms);
        Delivery {
            settings,
            shared,
            events,
            outbox,
            producer: Some(producer),
            generation: 1,
            damaged,
            delivered_through,
            done_above: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            read_through: delivered_through,
            held: None,
            unappended: Vec::new(),
            skip,
            reset_at: None,
            recheck_topics: false,
            backoff,
            last_progress: Instant::now(),
            persisted_at: Instant::now(),
            finishing: None,
            stopping: false,
            sent: 0,
            dead: 0,
        }
    }

    /// Runs until `Finish` (everything delivered, or its deadline) or `Stop`.
    pub fn run(mut self, events: Receiver<Event>) -> KafkaSummary {
        self.update_gauges();
        loop {
            let wait = if self.stopping {
                Duration::ZERO
            } else if self.finishing.is_some() || self.reset_at.is_some() || !self.unappended.is_empty() {
                Duration::from_millis(20)
            } else {
                Duration::from_millis(500)
            };
            match events.recv_timeout(wait) {
                Ok(ev) => {
                    self.handle(ev);
                    // Take what else is waiting, so one append (and one sync) covers it all.
                    for ev in events.try_iter().take(50_000) {
                        self.handle(ev);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.stopping = true,
            }
            self.append();
            if self.stopping {
                break;
            }
            let stall = Duration::from_millis(self.settings.alerts.stall_timeout_ms);
            if self.reset_at.is_none() && !self.in_flight.is_empty() && self.last_progress.elapsed() >= stall {
                self.recheck_topics = true;
                self.schedule_reset(format!("no acknowledgement for {} ms while {} alerts are in flight", stall.as_millis(), self.in_flight.len()));
            }
            if self.reset_at.is_some_and(|at| Instant::now() >= at) {
                self.reset();
            }
            if self.reset_at.is_none() {
                if self.settings.alerts.transactional {
                    self.feed_transaction();
                } else {
                    self.feed();
                }
            }
            self.advance();
            self.update_gauges();
            if self.finishing.is_some_and(|deadline| self.unresolved() == 0 || Instant::now() >= deadline) {
                break;
            }
        }
        self.advance();
        self.persist(true);
        // Dropping the producer purges what it still holds; that stays in the outbox.
        drop(self.producer.take());
        self.update_gauges();
        let left = self.unresolved();
        KafkaSummary {
            sent: self.sent,
            dead_lettered: self.dead,
            left_in_outbox: left,
            damaged_skipped: self.damaged,
            skipped_published: self.skip.as_ref().map_or(0, |s| s.skipped),
            outbox_dir: self.outbox.dir().display().to_string(),
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Publish(stream, alert) => {
                if stream == AlertStream::Raised
                    && let Some(skip) = &mut self.skip
                    && !skip.seen.insert(alert.alert_id.clone())
                {
                    skip.skipped += 1;
                    self.shared.waiting.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                self.unappended.push((stream, alert));
            }
            Event::Delivered { generation, seq, outcome } => self.delivered(generation, seq, outcome),
            Event::Fatal { generation, reason } => {
                if generation == self.generation {
                    self.schedule_reset(format!("fatal producer error: {reason}"));
                }
            }
            Event::Finish { deadline } => self.finishing = Some(deadline),
            Event::Stop => self.stopping = true,
        }
    }

    fn delivered(&mut self, generation: u64, seq: u64, outcome: Result<(), Failure>) {
        match outcome {
            // In transactions only a commit acknowledges (an aborted batch was "delivered" too).
            Ok(()) if self.settings.alerts.transactional => {}
            // An acknowledgement is a fact even from a replaced producer: the broker has it.
            Ok(()) => {
                if generation == self.generation {
                    self.in_flight.remove(&seq);
                }
                if self.resolve(seq) {
                    self.sent += 1;
                    self.shared.sent.fetch_add(1, Ordering::Relaxed);
                }
                self.last_progress = Instant::now();
                self.shared.set_broker_up(true);
                self.backoff = Duration::from_millis(self.settings.alerts.retry_backoff_ms);
            }
            Err(_) if generation != self.generation => {}
            Err(failure) => {
                let Some(record) = self.in_flight.remove(&seq) else { return };
                self.recheck_topics |= failure.is_unknown_topic();
                if failure.is_permanent() {
                    self.dead_letter(&record, &failure.reason);
                } else if self.reset_at.is_none() {
                    self.schedule_reset(format!("delivery of alert {} failed: {}", record.alert.alert_id, failure.reason));
                }
            }
        }
    }

    /// Marks a record resolved; false when it already was.
    fn resolve(&mut self, seq: u64) -> bool {
        seq > self.delivered_through && self.done_above.insert(seq)
    }

    fn dead_letter(&mut self, record: &OutboxRecord, reason: &str) {
        tracing::error!(alert_id = %record.alert.alert_id, seq = record.seq, reason, dir = %self.outbox.dir().display(), "Kafka refused an alert for good; it is kept in dead-letter.jsonl of the outbox");
        if let Err(e) = self.outbox.dead_letter(record, reason) {
            tracing::error!(error = %e, "could not write the dead letter");
        }
        if self.resolve(record.seq) {
            self.dead += 1;
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.set_last_error(format!("alert {} refused: {reason}", record.alert.alert_id));
    }

    fn schedule_reset(&mut self, reason: String) {
        tracing::warn!(reason = %reason, retry_in_ms = self.backoff.as_millis() as u64, "Kafka alerts: re-sending from the outbox after a delivery error");
        self.shared.set_last_error(reason.clone());
        self.shared.resends.fetch_add(1, Ordering::Relaxed);
        self.reset_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(Duration::from_millis(self.settings.alerts.retry_backoff_max_ms));
    }

    /// Replaces the producer and re-reads the outbox from the first unresolved record.
    fn reset(&mut self) {
        self.reset_at = None;
        self.generation += 1;
        // The old producer purges what it holds; its late acknowledgements still count.
        drop(self.producer.take());
        self.in_flight.clear();
        self.held = None;
        self.outbox.rewind(self.delivered_through + 1);
        self.read_through = self.delivered_through;
        // The broker may have come back without the topics (unknown-topic errors, or a stall).
        if self.settings.alerts.create_topics && std::mem::take(&mut self.recheck_topics) {
            let timeout = Duration::from_millis(self.settings.alerts.startup_timeout_ms.min(2_000));
            if let Err(e) = ensure_topics(&self.settings, timeout) {
                tracing::warn!(error = %e, "Kafka alerts: recreating the topics failed");
            }
        }
        match new_producer(&self.settings, self.generation, &self.events, &self.shared) {
            Ok(p) => self.producer = Some(p),
            Err(e) => self.schedule_reset(format!("cannot create the Kafka producer: {e}")),
        }
    }

    fn append(&mut self) {
        if self.unappended.is_empty() {
            return;
        }
        let n = self.unappended.len();
        let result = self.outbox.append(self.unappended.iter().map(|(s, a)| (*s, a)));
        let appended = match result {
            Ok(()) => n,
            Err((done, e)) => {
                tracing::error!(error = %e, waiting = n - done, "Kafka alerts: cannot append to the outbox; alerts wait in memory and the append is retried");
                self.shared.set_last_error(e.to_string());
                done
            }
        };
        self.unappended.drain(..appended);
        self.shared.waiting.fetch_sub(appended as u64, Ordering::Relaxed);
    }

    /// The next record to send, skipping resolved ones and counting damaged gaps as resolved.
    fn next_record(&mut self) -> Option<OutboxRecord> {
        if let Some(r) = self.held.take() {
            return Some(r);
        }
        loop {
            let rec = match self.outbox.read_next() {
                Ok(Some(rec)) => rec,
                Ok(None) => return None,
                Err(e) => {
                    self.shared.set_last_error(e.to_string());
                    tracing::error!(error = %e, "Kafka alerts: cannot read the outbox");
                    return None;
                }
            };
            for gap in self.read_through + 1..rec.seq {
                self.resolve(gap);
            }
            self.read_through = self.read_through.max(rec.seq);
            if rec.seq <= self.delivered_through || self.done_above.contains(&rec.seq) {
                continue;
            }
            // Sent by an earlier run that stopped before the acknowledgement reached its outbox.
            if rec.stream == AlertStream::Raised
                && let Some(skip) = &mut self.skip
                && skip.on_topic.contains(&rec.alert.alert_id)
            {
                skip.skipped += 1;
                self.resolve(rec.seq);
                continue;
            }
            return Some(rec);
        }
    }

    fn topic(&self, stream: AlertStream) -> &str {
        match stream {
            AlertStream::Raised => &self.settings.alerts.topic,
            AlertStream::Escalation => &self.settings.escalation_topic,
        }
    }

    /// Hands the producer records to send; returns a failure to enqueue that needs a reset.
    fn send(&self, rec: &OutboxRecord) -> Result<(), Failure> {
        let producer = self.producer.as_ref().expect("a producer exists outside resets");
        let headers = OwnedHeaders::new()
            .insert(Header { key: "alert_id", value: Some(rec.alert.alert_id.as_str()) })
            .insert(Header { key: "kind", value: Some(rec.alert.kind.as_str()) })
            .insert(Header { key: "severity", value: Some(rec.alert.severity.as_str()) });
        let record = BaseRecord::with_opaque_to(self.topic(rec.stream), rec.seq as usize)
            .key(rec.alert.camera_id.as_str())
            .payload(rec.json.get())
            .headers(headers);
        producer.send(record).map_err(|(e, _)| Failure::new(&e))
    }

    fn feed(&mut self) {
        while self.in_flight.len() < self.settings.alerts.max_in_flight as usize && self.producer.is_some() {
            let Some(rec) = self.next_record() else { break };
            match self.send(&rec) {
                Ok(()) => {
                    if self.in_flight.is_empty() {
                        self.last_progress = Instant::now();
                    }
                    self.in_flight.insert(rec.seq, rec);
                }
                Err(f) if f.code == Some(RDKafkaErrorCode::QueueFull) => {
                    self.held = Some(rec);
                    break;
                }
                Err(f) if f.is_permanent() => self.dead_letter(&rec, &f.reason),
                Err(f) => {
                    self.recheck_topics |= f.is_unknown_topic();
                    self.schedule_reset(format!("cannot enqueue alert {}: {}", rec.alert.alert_id, f.reason));
                    break;
                }
            }
        }
    }

    /// One transaction per batch: begin, send up to `max_in_flight` records, commit; the records
    /// count as delivered only when the commit succeeded.
    fn feed_transaction(&mut self) {
        if self.producer.is_none() {
            return;
        }
        let mut batch = Vec::new();
        while batch.len() < self.settings.alerts.max_in_flight as usize {
            match self.next_record() {
                Some(rec) => batch.push(rec),
                None => break,
            }
        }
        if batch.is_empty() {
            return;
        }
        let timeout = Duration::from_millis(self.settings.alerts.flush_timeout_ms.max(1000));
        if let Err(e) = self.producer.as_ref().expect("checked above").begin_transaction() {
            return self.schedule_reset(format!("begin_transaction: {e}"));
        }
        let mut failed = None;
        let mut sent = Vec::with_capacity(batch.len());
        for rec in batch {
            match self.send(&rec) {
                Ok(()) => sent.push(rec),
                Err(f) if f.is_permanent() => self.dead_letter(&rec, &f.reason),
                Err(f) => {
                    failed = Some(format!("cannot enqueue alert {}: {}", rec.alert.alert_id, f.reason));
                    break;
                }
            }
        }
        let producer = self.producer.as_ref().expect("checked above");
        let commit = match failed {
            None => producer.commit_transaction(timeout).map_err(|e| format!("commit_transaction: {e}")),
            Some(why) => Err(why),
        };
        match commit {
            Ok(()) => {
                for rec in &sent {
                    if self.resolve(rec.seq) {
                        self.sent += 1;
                        self.shared.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.shared.set_broker_up(true);
                self.backoff = Duration::from_millis(self.settings.alerts.retry_backoff_ms);
            }
            Err(why) => {
                let _ = producer.abort_transaction(timeout);
                self.schedule_reset(why);
            }
        }
    }

    /// Moves the cursor over the resolved prefix and writes it now and then.
    fn advance(&mut self) {
        while self.done_above.first() == Some(&(self.delivered_through + 1)) {
            self.done_above.pop_first();
            self.delivered_through += 1;
        }
        self.persist(false);
    }

    fn persist(&mut self, now: bool) {
        if self.delivered_through <= self.outbox.delivered_through() {
            return;
        }
        if !now && self.persisted_at.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.persisted_at = Instant::now();
        if let Err(e) = self.outbox.mark_delivered(self.delivered_through) {
            // Not fatal: at worst the next run re-sends delivered alerts (consumers dedupe).
            tracing::error!(error = %e, "Kafka alerts: cannot write the outbox cursor");
            self.shared.set_last_error(e.to_string());
        }
    }

    /// Records in the outbox not yet resolved, plus published alerts not yet appended.
    fn unresolved(&self) -> u64 {
        let appended = self.outbox.next_seq() - 1;
        appended - self.delivered_through - self.done_above.len() as u64 + self.unappended.len() as u64
    }

    fn update_gauges(&self) {
        let appended = self.outbox.next_seq() - 1;
        let in_outbox = appended - self.delivered_through - self.done_above.len() as u64;
        self.shared.in_outbox.store(in_outbox, Ordering::Relaxed);
    }
}
