//! Checkpoints of a run that reads `kafka:` sources.
//!
//! Every row the dataflow produces travels at the event time of the input that caused it, and
//! every operator is deterministic given its input per lane, so a run is a function of the
//! topic's contents. A checkpoint at time T says: every output below T has been delivered to
//! the sinks. The engine commits the lake (the `AtCheckpoints` policy) with T and the offsets
//! of the first message of each partition whose outputs are not all below T; a restarted
//! engine replays the partitions from the start, rebuilds its state, and its sinks drop what
//! comes below T — the lake ends with exactly the rows of an uninterrupted run.
//!
//! The partitions of a topic are read by several workers ([`super::kafka::KafkaFeed::share`]);
//! one worker per process takes that process's checkpoints, with the offsets of every partition
//! the process reads, from the book its workers hand their positions to
//! ([`super::kafka::KafkaFeed::lanes`]).

use super::kafka::KafkaFeed;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::probe::Handle as ProbeHandle;

/// What the source needs to take checkpoints.
#[derive(Clone)]
pub struct CheckpointControl {
    /// Probe of every output of the dataflow, placed after the deliveries to the sinks.
    pub probe: ProbeHandle<u64>,
    /// Least wall-clock time between checkpoints (`[kafka.consumer] checkpoint_interval_ms`).
    pub interval: Duration,
    /// T of the lake's last checkpoint: later checkpoints are above it.
    pub committed_time: u64,
    /// Takes a checkpoint: called with T and `{"time": T, "offsets": {topic: {partition: offset}}}`
    /// once every output below T has been delivered.
    pub take: Arc<dyn Fn(u64, Value) + Send + Sync>,
    /// The topics this process reads, with the book of its partitions ([`KafkaFeed::for_process`]).
    pub feeds: Vec<Arc<KafkaFeed>>,
    /// Input is not taken while the outputs' frontier is more than this (event time) behind
    /// the sources' watermark: a replay reads no further ahead than the queries have got, so
    /// checkpoints keep coming and memory stays bounded (`[kafka.consumer] max_lead_ms`).
    pub max_lead_ms: u64,
}

impl std::fmt::Debug for CheckpointControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointControl").field("interval", &self.interval).field("committed_time", &self.committed_time).finish_non_exhaustive()
    }
}

/// The source's checkpoint state.
pub(super) struct Checkpointer {
    control: CheckpointControl,
    last_time: u64,
    last_at: Instant,
}

impl Checkpointer {
    pub fn new(control: CheckpointControl) -> Checkpointer {
        Checkpointer { last_time: control.committed_time, last_at: Instant::now(), control }
    }

    /// Tells the Kafka readers how far they may read: `max_lead_ms` past the outputs' frontier.
    /// Each partition is paused on its own, so one that the frontier waits for is never held.
    pub fn pace(&self) {
        let limit = self.control.probe.with_frontier(|f| f.iter().min().map_or(u64::MAX, |&p| p.saturating_add(self.control.max_lead_ms)));
        for feed in &self.control.feeds {
            feed.read_until_ms.store(limit, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether the outputs have not all been delivered yet (checkpoints still to take).
    pub fn pending(&self) -> bool {
        !self.control.probe.done()
    }

    /// Takes a checkpoint when the interval has passed and the outputs' frontier moved.
    pub fn maybe_take(&mut self) {
        if self.last_at.elapsed() < self.control.interval {
            return;
        }
        let Some(t) = self.control.probe.with_frontier(|f| f.iter().min().copied()) else { return };
        if t <= self.last_time {
            return;
        }
        (self.control.take)(t, json!({ "time": t, "offsets": offsets_at(&self.control.feeds, Some(t)) }));
        self.last_time = t;
        self.last_at = Instant::now();
    }
}

/// `{topic: {partition: offset}}` of every partition of `feeds` this process reads: where to
/// resume once every output below `t` is delivered (`None`: after the last message read, the
/// run's end).
pub fn offsets_at(feeds: &[Arc<KafkaFeed>], t: Option<u64>) -> Map<String, Value> {
    let mut offsets = Map::new();
    for feed in feeds {
        let topic = offsets.entry(feed.topic.clone()).or_insert_with(|| Value::Object(Map::new()));
        let mut books = feed.lanes.lock().unwrap_or_else(|p| p.into_inner());
        for (p, book) in books.iter_mut() {
            topic[p.to_string()] = json!(t.map_or(book.end(), |t| book.offset_at(t)));
        }
    }
    offsets
}
