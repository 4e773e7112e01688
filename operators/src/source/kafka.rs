//! `kafka:TOPIC` camera sources: one consumer per topic and worker reads that worker's
//! partitions from the start (a restarted engine rebuilds its state by replaying; see
//! `checkpoint.rs`), on its own thread, one detections JSON line (or several) per message.
//! Partition `p` is read by worker `p mod workers` of the whole cluster ([`KafkaFeed::share`]),
//! so the reading and parsing of a topic is spread like the cameras' state; where each
//! partition's reading stands is kept per process ([`KafkaFeed::lanes`]) for its checkpoints. A malformed message becomes an
//! `errors` row naming topic, partition and offset; the partition goes on. Offsets are
//! committed to the consumer group only once a lake commit covers them.

use super::FeedSpec;
use super::lines::{SourceEvent, error_row, parse_line};
use itscam_types::config::KafkaConfig;
use itscam_types::ErrorKind;
use itscam_types::kafka::{KafkaClient, KafkaClientError};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timely::scheduling::SyncActivator;

/// The latest checkpoint the lake committed (`None` before the first): the reader commits the
/// offsets it carries.
pub type CommittedCheckpoint = Arc<dyn Fn() -> Option<Value> + Send + Sync>;

/// A topic checked at start-up, ready to be read.
#[derive(Clone)]
pub struct KafkaFeed {
    /// `[kafka]` settings (brokers, properties, `[kafka.consumer]`).
    pub config: KafkaConfig,
    /// The topic.
    pub topic: String,
    /// Partition ids, in lane order.
    pub partitions: Vec<i32>,
    /// Per lane: the end offset at start-up as the broker reports it (ListOffsets).
    pub ends: Vec<i64>,
    /// Per lane: the first offset at start-up.
    pub starts: Vec<i64>,
    /// Where the reader learns which offsets are durable.
    pub committed: Option<CommittedCheckpoint>,
    /// Event time up to which the reader may read ahead (set by the checkpointing source from
    /// the outputs' frontier + `max_lead_ms`); a partition past it is paused until it moves.
    pub read_until_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Where the reading of each partition this process reads stands, shared by its workers'
    /// shares of the topic and its checkpoints ([`KafkaFeed::for_process`] fills it).
    pub lanes: Arc<Mutex<BTreeMap<i32, LaneBook>>>,
}

/// Where one partition's reading stands: the messages a checkpoint has not passed yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneBook {
    /// (offset, time emitted at) of the messages whose outputs are not all below the last
    /// checkpoint.
    pub pending: std::collections::VecDeque<(u64, u64)>,
    /// One past the last offset read.
    pub next_offset: Option<u64>,
    /// The partition's first offset at start-up.
    pub start: u64,
}

impl LaneBook {
    /// A message at `pos` went out at `time` (a message of several lines: its latest).
    pub fn note(&mut self, pos: u64, time: u64) {
        if self.next_offset.is_some_and(|n| pos < n) {
            // Another line of a message already noted: the message is done when all its lines are.
            if let Some(last) = self.pending.back_mut().filter(|(p, _)| *p == pos) {
                last.1 = last.1.max(time);
            }
            return;
        }
        self.pending.push_back((pos, time));
        self.next_offset = Some(pos + 1);
    }

    /// The offset to resume from once every output below `t` is delivered: the first message
    /// with an output at or after `t` (those before are forgotten), else one past the last read.
    pub fn offset_at(&mut self, t: u64) -> u64 {
        while self.pending.front().is_some_and(|&(_, time)| time < t) {
            self.pending.pop_front();
        }
        self.pending.front().map(|&(o, _)| o).or(self.next_offset).unwrap_or(self.start)
    }

    /// One past the last message read (the partition's first offset before any).
    pub fn end(&self) -> u64 {
        self.next_offset.unwrap_or(self.start)
    }
}

impl std::fmt::Debug for KafkaFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaFeed").field("topic", &self.topic).field("partitions", &self.partitions).field("ends", &self.ends).finish_non_exhaustive()
    }
}

impl KafkaFeed {
    /// The worker of a cluster of `workers` workers that reads partition `p`.
    pub fn worker_of(p: i32, workers: usize) -> usize {
        p.unsigned_abs() as usize % workers.max(1)
    }

    /// The topic with only the partitions worker `worker` of `workers` reads (none: `None`);
    /// it shares this feed's [`KafkaFeed::lanes`] and read-ahead limit.
    pub fn share(&self, worker: usize, workers: usize) -> Option<KafkaFeed> {
        let share = self.keep(|p| KafkaFeed::worker_of(p, workers) == worker);
        (!share.partitions.is_empty()).then_some(share)
    }

    /// The topic with only the partitions the workers of process `process` read (each process
    /// runs `workers` of the cluster's `processes × workers`; maybe none), with an empty
    /// [`LaneBook`] for each in [`KafkaFeed::lanes`] (a book of its own, not `self`'s).
    pub fn for_process(&self, process: usize, workers: usize, processes: usize) -> KafkaFeed {
        let mut own = self.keep(|p| KafkaFeed::worker_of(p, workers * processes) / workers.max(1) == process);
        let books = own.partitions.iter().zip(&own.starts).map(|(&p, &start)| (p, LaneBook { start: start.max(0) as u64, ..LaneBook::default() })).collect();
        own.lanes = Arc::new(Mutex::new(books));
        own
    }

    fn keep(&self, keep: impl Fn(i32) -> bool) -> KafkaFeed {
        let lanes: Vec<usize> = (0..self.partitions.len()).filter(|&i| keep(self.partitions[i])).collect();
        KafkaFeed {
            partitions: lanes.iter().map(|&i| self.partitions[i]).collect(),
            ends: lanes.iter().map(|&i| self.ends[i]).collect(),
            starts: lanes.iter().map(|&i| self.starts[i]).collect(),
            ..self.clone()
        }
    }

    /// The label of a lane, also the `errors.source` of its rejected messages.
    pub fn label(&self, lane: usize) -> String {
        format!("kafka:{}/{}", self.topic, self.partitions[lane])
    }
}

/// Keeps the client's errors for start-up messages and sends librdkafka's log to `tracing`.
#[derive(Default)]
struct SourceContext {
    errors: Mutex<Vec<(Option<RDKafkaErrorCode>, String)>>,
}

impl SourceContext {
    fn errors(&self) -> Option<String> {
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        (!errors.is_empty()).then(|| errors.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("; "))
    }
    fn authentication_failed(&self) -> bool {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|(c, _)| *c == Some(RDKafkaErrorCode::Authentication))
    }
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
            _ => tracing::debug!(target: "librdkafka", fac, "{message}"),
        }
    }
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < 8 && !errors.iter().any(|(c, _)| *c == code) {
            errors.push((code, reason.to_string()));
        }
        tracing::debug!(target: "librdkafka", %error, reason, "Kafka consumer error");
    }
}

impl ConsumerContext for SourceContext {}

type SourceConsumer = BaseConsumer<SourceContext>;

fn consumer(config: &KafkaConfig) -> Result<SourceConsumer, KafkaClientError> {
    let mut c = ClientConfig::new();
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", &config.brokers);
    c.set("client.id", "itscam-source");
    c.set("group.id", &config.consumer.group_id);
    c.set("enable.auto.commit", "false");
    c.set("enable.auto.offset.store", "false");
    // The end of a partition is what a fetch reports, not ListOffsets: Tansu 0.6 answers
    // ListOffsets(latest) with the base offset of the last record batch.
    c.set("enable.partition.eof", "true");
    c.set("auto.offset.reset", "earliest");
    c.set("fetch.wait.max.ms", "100");
    SourceConsumer::from_config_and_context(&c, SourceContext::default())
        .map_err(|e| KafkaClientError::ClientConfig { client: KafkaClient::Source, brokers: config.brokers.clone(), reason: e.to_string() })
}

/// Checks that the brokers answer and the topic exists; returns its partitions and their
/// offsets now. Blocks up to `[kafka.consumer] startup_timeout_ms` per request: call it at
/// start-up, not on a worker.
pub fn connect(config: &KafkaConfig, topic: &str) -> Result<KafkaFeed, KafkaClientError> {
    let timeout = Duration::from_millis(config.consumer.startup_timeout_ms);
    let client = consumer(config)?;
    let brokers = config.brokers.clone();
    let unreachable = |client: &SourceConsumer, e: KafkaError| {
        let context = client.context();
        let reason = context.errors().unwrap_or_else(|| e.to_string());
        if context.authentication_failed() {
            KafkaClientError::CredentialsRefused { client: KafkaClient::Source, brokers: brokers.clone(), topic: topic.to_string(), reason }
        } else {
            KafkaClientError::Unreachable { client: KafkaClient::Source, brokers: brokers.clone(), topic: topic.to_string(), timeout_ms: timeout.as_millis() as u64, reason }
        }
    };
    let metadata = client.fetch_metadata(Some(topic), timeout).map_err(|e| unreachable(&client, e))?;
    let refused = |reason: String| KafkaClientError::TopicRefused { client: KafkaClient::Source, brokers: brokers.clone(), topic: topic.to_string(), reason };
    let missing = || KafkaClientError::TopicMissing { client: KafkaClient::Source, brokers: brokers.clone(), topic: topic.to_string() };
    let t = metadata.topics().iter().find(|t| t.name() == topic).ok_or_else(missing)?;
    if let Some(e) = t.error() {
        let code = RDKafkaErrorCode::from(e);
        return Err(if code == RDKafkaErrorCode::UnknownTopicOrPartition { missing() } else { refused(code.to_string()) });
    }
    let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    if partitions.is_empty() {
        return Err(refused("has no partitions".into()));
    }
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    for &p in &partitions {
        let (low, high) = client.fetch_watermarks(topic, p, timeout).map_err(|e| unreachable(&client, e))?;
        starts.push(low);
        ends.push(high);
    }
    Ok(KafkaFeed {
        config: config.clone(),
        topic: topic.to_string(),
        partitions,
        ends,
        starts,
        committed: None,
        read_until_ms: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
        lanes: Arc::default(),
    })
}

/// Lines per chunk handed to the worker.
const CHUNK_EVENTS: usize = 256;

pub(super) fn spawn(spec: FeedSpec, feed: Arc<KafkaFeed>, activator: SyncActivator) -> Receiver<Vec<SourceEvent>> {
    let (tx, rx) = sync_channel(16);
    std::thread::Builder::new()
        .name(format!("itscam-kafka {}", feed.topic))
        .spawn(move || {
            if let Err(reason) = read(&spec, &feed, &tx, &activator) {
                let row = error_row(&format!("kafka:{}", feed.topic), None, None, None, ErrorKind::IoError, reason);
                spec.stats.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(vec![SourceEvent::Rejected(row, 0)]);
            }
            spec.stats.done.store(true, Ordering::Relaxed);
            drop(tx);
            let _ = activator.activate();
        })
        .expect("spawning a Kafka reader thread");
    rx
}

fn read(spec: &FeedSpec, feed: &KafkaFeed, tx: &SyncSender<Vec<SourceEvent>>, activator: &SyncActivator) -> Result<(), String> {
    let client = consumer(&feed.config).map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    for &p in &feed.partitions {
        assignment.add_partition_offset(&feed.topic, p, Offset::Beginning).map_err(|e| e.to_string())?;
    }
    client.assign(&assignment).map_err(|e| format!("assigning the partitions of {}: {e}", feed.topic))?;
    let mut reader = TopicReader {
        spec,
        feed,
        tx,
        activator,
        lane_of: feed.partitions.iter().enumerate().map(|(i, &p)| (p, i as u32)).collect(),
        labels: (0..feed.partitions.len()).map(|i| Arc::from(feed.label(i))).collect(),
        cameras: spec.cameras.iter().map(String::as_str).collect(),
        open: feed.partitions.iter().copied().collect(),
        seen: HashSet::new(),
        chunk: Vec::with_capacity(CHUNK_EVENTS),
        committed_seen: None,
        newest: BTreeMap::new(),
        paused: HashSet::new(),
    };
    let stop_at_end = feed.config.consumer.stop_at_end;
    loop {
        if stop_at_end && reader.open.is_empty() {
            break;
        }
        reader.commit_checkpointed(&client);
        let limit = feed.read_until_ms.load(Ordering::Relaxed);
        reader.resume_caught_up(&client, limit);
        let wait = if !reader.chunk.is_empty() { 0 } else if reader.paused.is_empty() { 100 } else { 10 };
        match client.poll(Duration::from_millis(wait)) {
            Some(Ok(m)) => {
                let (p, offset) = (m.partition(), m.offset());
                let Some(&lane) = reader.lane_of.get(&p) else { continue };
                reader.message(p, lane, offset, m.payload().unwrap_or_default());
                reader.pause_if_ahead(&client, p, limit);
                if reader.chunk.len() >= CHUNK_EVENTS && !reader.send() {
                    return Ok(());
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // An empty partition does not hold the others' watermark back.
                if !reader.seen.contains(&p)
                    && let Some(&lane) = reader.lane_of.get(&p)
                {
                    reader.chunk.push(SourceEvent::Idle(lane));
                }
                if stop_at_end {
                    reader.open.remove(&p);
                }
            }
            Some(Err(e)) => tracing::warn!(topic = %feed.topic, error = %e, "Kafka source: consumer error (retrying)"),
            None => {
                if !reader.send() {
                    return Ok(());
                }
            }
        }
    }
    reader.send();
    // The run's final checkpoint lands after this thread ends: the engine commits its
    // offsets with [`commit_checkpoint`].
    Ok(())
}

/// The state of one topic's reader thread.
struct TopicReader<'a> {
    spec: &'a FeedSpec,
    feed: &'a KafkaFeed,
    tx: &'a SyncSender<Vec<SourceEvent>>,
    activator: &'a SyncActivator,
    lane_of: BTreeMap<i32, u32>,
    labels: Vec<Arc<str>>,
    cameras: HashSet<&'a str>,
    /// Partitions not yet read to their end (`stop_at_end`).
    open: HashSet<i32>,
    /// Partitions with a message read.
    seen: HashSet<i32>,
    chunk: Vec<SourceEvent>,
    /// The last checkpoint whose offsets were committed.
    committed_seen: Option<Value>,
    /// Per partition: the newest frame time read.
    newest: BTreeMap<i32, u64>,
    /// Partitions paused because they read ahead of `read_until_ms`.
    paused: HashSet<i32>,
}

impl TopicReader<'_> {
    /// Hands the chunk to the worker; false when the dataflow is gone.
    fn send(&mut self) -> bool {
        if self.chunk.is_empty() {
            return true;
        }
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_EVENTS));
        if self.tx.send(full).is_err() {
            return false;
        }
        let _ = self.activator.activate();
        true
    }

    /// Commits the offsets of a checkpoint the lake committed since the last look.
    fn commit_checkpointed(&mut self, client: &SourceConsumer) {
        if let Some(committed) = &self.feed.committed
            && let Some(value) = committed()
            && self.committed_seen.as_ref() != Some(&value)
        {
            commit_offsets(client, self.feed, &value);
            self.committed_seen = Some(value);
        }
    }

    /// Resumes the paused partitions that the read-ahead limit has caught up with.
    fn resume_caught_up(&mut self, client: &SourceConsumer, limit: u64) {
        let resume: Vec<i32> = self.paused.iter().copied().filter(|p| self.newest.get(p).is_none_or(|&n| n <= limit)).collect();
        if resume.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for p in &resume {
            self.paused.remove(p);
            list.add_partition(&self.feed.topic, *p);
        }
        if let Err(e) = client.resume(&list) {
            tracing::warn!(topic = %self.feed.topic, error = %e, "Kafka source: resuming partitions failed");
        }
    }

    /// Pauses partition `p` once it has read past the read-ahead limit.
    fn pause_if_ahead(&mut self, client: &SourceConsumer, p: i32, limit: u64) {
        if self.newest.get(&p).is_some_and(|&n| n > limit) && self.paused.insert(p) {
            let mut list = TopicPartitionList::new();
            list.add_partition(&self.feed.topic, p);
            if let Err(e) = client.pause(&list) {
                tracing::warn!(topic = %self.feed.topic, error = %e, "Kafka source: pausing a partition failed");
                self.paused.remove(&p);
            }
        }
    }

    /// One message of partition `p` (lane `lane`): its lines become frames or `errors` rows
    /// naming topic, partition and offset; an empty message is one rejected row.
    fn message(&mut self, p: i32, lane: u32, offset: i64, payload: &[u8]) {
        let stats = &self.spec.stats;
        self.seen.insert(p);
        stats.bytes_read.fetch_add(payload.len() as u64, Ordering::Relaxed);
        let before = self.chunk.len();
        let label = &self.labels[lane as usize];
        for line in payload.split(|&b| b == b'\n') {
            match parse_line(line, offset as u64, label, &self.cameras, &self.spec.limits) {
                Some(SourceEvent::Frame(frame, pos, label, _)) => {
                    let n = self.newest.entry(p).or_insert(frame.ts_ms);
                    *n = (*n).max(frame.ts_ms);
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    stats.detections.fetch_add(frame.detections.len() as u64, Ordering::Relaxed);
                    self.chunk.push(SourceEvent::Frame(frame, pos, label, lane));
                }
                Some(SourceEvent::Rejected(mut row, _)) => {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                    row.reason = format!("topic {} partition {p} offset {offset}: {}", self.feed.topic, row.reason);
                    self.chunk.push(SourceEvent::Rejected(row, lane));
                }
                _ => {}
            }
        }
        if self.chunk.len() == before {
            let reason = format!("topic {} partition {p} offset {offset}: empty message", self.feed.topic);
            let row = error_row(label, Some(offset as u64), None, None, ErrorKind::MalformedJson, reason);
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            self.chunk.push(SourceEvent::Rejected(row, lane));
        }
    }
}

/// Commits (synchronously) the offsets of `feed.topic` that `checkpoint` carries: the end of a
/// run, after its final lake commit.
pub fn commit_checkpoint(feed: &KafkaFeed, checkpoint: &Value) -> Result<(), KafkaClientError> {
    let client = consumer(&feed.config)?;
    let list = offsets_list(feed, checkpoint);
    if list.count() == 0 {
        return Ok(());
    }
    client.commit(&list, CommitMode::Sync).map_err(|e| KafkaClientError::OffsetCommit {
        brokers: feed.config.brokers.clone(),
        topic: feed.topic.clone(),
        group: feed.config.consumer.group_id.clone(),
        reason: e.to_string(),
    })
}

/// The offsets of `feed`'s partitions (only those: in a cluster each reader commits its own)
/// that a checkpoint value carries.
fn offsets_list(feed: &KafkaFeed, value: &Value) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    if let Some(offsets) = value.get("offsets").and_then(|o| o.get(&feed.topic)).and_then(Value::as_object) {
        for (p, o) in offsets {
            if let (Ok(p), Some(o)) = (p.parse::<i32>(), o.as_i64())
                && feed.partitions.contains(&p)
            {
                let _ = list.add_partition_offset(&feed.topic, p, Offset::Offset(o));
            }
        }
    }
    list
}

/// Commits the offsets of `feed.topic` carried by a checkpoint value (`{"offsets": {topic: {partition: offset}}}`).
fn commit_offsets(client: &SourceConsumer, feed: &KafkaFeed, value: &Value) {
    let list = offsets_list(feed, value);
    if list.count() > 0
        && let Err(e) = client.commit(&list, CommitMode::Async)
    {
        tracing::warn!(topic = %feed.topic, error = %e, "Kafka source: committing offsets failed (the next checkpoint retries)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(partitions: i32) -> KafkaFeed {
        KafkaFeed {
            config: KafkaConfig { brokers: "x:1".into(), properties: Default::default(), consumer: Default::default() },
            topic: "d".into(),
            partitions: (0..partitions).collect(),
            ends: (0..partitions).map(|p| 100 + p as i64).collect(),
            starts: (0..partitions).map(|p| p as i64).collect(),
            committed: None,
            read_until_ms: Default::default(),
            lanes: Default::default(),
        }
    }

    #[test]
    fn every_partition_is_read_by_one_worker_of_the_cluster_and_booked_by_its_process() {
        // 2 processes × 2 workers, 6 partitions: partition p on worker p mod 4.
        let whole = topic(6);
        let mut seen = Vec::new();
        for process in 0..2 {
            let own = whole.for_process(process, 2, 2);
            let books: Vec<i32> = own.lanes.lock().unwrap().keys().copied().collect();
            assert_eq!(books, own.partitions, "process {process} books exactly its partitions");
            for worker in [2 * process, 2 * process + 1] {
                let Some(share) = own.share(worker, 4) else { continue };
                assert!(share.partitions.iter().all(|&p| p as usize % 4 == worker), "{:?}", share.partitions);
                assert_eq!(share.ends, share.partitions.iter().map(|&p| 100 + p as i64).collect::<Vec<_>>());
                assert!(Arc::ptr_eq(&share.lanes, &own.lanes), "the workers of a process share its book");
                seen.extend(share.partitions);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..6).collect::<Vec<_>>(), "every partition read, once");
        // More workers than partitions: some read none.
        assert!(topic(1).for_process(0, 1, 2).share(0, 2).is_some());
        assert!(topic(1).for_process(1, 1, 2).partitions.is_empty());
    }

    #[test]
    fn a_lane_book_resumes_at_the_first_message_a_checkpoint_has_not_passed() {
        let mut book = LaneBook { start: 5, ..LaneBook::default() };
        assert_eq!((book.offset_at(10), book.end()), (5, 5), "nothing read: the first offset");
        book.note(5, 100);
        book.note(6, 300);
        book.note(6, 350); // a second line of message 6
        book.note(7, 200);
        assert_eq!(book.offset_at(100), 5);
        assert_eq!(book.offset_at(301), 6, "message 6 is done only when its last line is");
        assert_eq!(book.offset_at(1_000), 8);
        assert_eq!(book.end(), 8);
    }
}
