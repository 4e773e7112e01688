//! Shared pieces of the queries benchmark: inputs grouped by time per worker, the counting
//! sinks behind every output stream, the feeding loop, and process CPU time.

use itscam_operators::track::detection_rows;
use itscam_operators::tracker::Tracker;
use itscam_queries::AnalyticsStreams;
use itscam_types::analytics::ViolationRow;
use itscam_types::config::TrackerConfig;
use itscam_types::{Frame, Tracked};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Probe as _;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::{InputHandleVec, ProbeHandle as Probe, Stream};
use timely::worker::Worker;

/// One worker's input: `(time, records at that time)` in time order.
pub type Batches<D> = Vec<(u64, Vec<D>)>;

/// Event time (ms) the feeders run ahead of the outputs' frontier: above the longest speed
/// smoothing lag (`[analytics.speed] smooth_lag_ms`, at most 5 s), for which the observe step
/// holds detection rows back — a smaller lead would wait for rows that wait for input.
pub const LEAD_MS: u64 = itscam_types::config::MAX_SMOOTH_LAG_MS + 1_000;

/// Steps the worker, parking up to 1 ms when no operator is ready: a worker waiting for its
/// peer must not spin on a core the peer (and, on a shared machine, others) need. Messages
/// from the peer wake it.
pub fn step(worker: &mut Worker) {
    worker.step_or_park(Some(std::time::Duration::from_millis(1)));
}

/// `cam-N` → `N − 1`.
pub fn camera_index(id: &str) -> usize {
    id.rsplit('-').next().and_then(|n| n.parse::<usize>().ok()).map_or(0, |n| n.saturating_sub(1))
}

/// Frames grouped by time, camera `c` fed by worker `c mod peers`.
pub fn split_frames(frames: &[Frame], peers: usize) -> Vec<Batches<Frame>> {
    let mut out: Vec<BTreeMap<u64, Vec<Frame>>> = vec![BTreeMap::new(); peers];
    for f in frames {
        out[camera_index(&f.camera_id) % peers].entry(f.ts_ms).or_default().push(f.clone());
    }
    out.into_iter().map(|m| m.into_iter().collect()).collect()
}

/// The tracker's output computed beforehand (what `track_frames` emits at each time, in the same
/// order), for runs that time the queries alone.
pub fn pretrack(frames: &[Frame], config: &TrackerConfig) -> Batches<Tracked> {
    let mut trackers: HashMap<String, Tracker> = HashMap::new();
    let mut out: BTreeMap<u64, Vec<Tracked>> = BTreeMap::new();
    for f in frames {
        let tracker = trackers.entry(f.camera_id.clone()).or_insert_with(|| Tracker::new(f.camera_id.clone(), config.clone()));
        let update = tracker.update(f);
        let slot = out.entry(f.ts_ms).or_default();
        slot.extend(detection_rows(f, update.track_ids).map(Tracked::Detection));
        slot.extend(update.ended.into_iter().map(Tracked::Ended));
    }
    let mut out: Batches<Tracked> = out.into_iter().collect();
    if let Some((_, last)) = out.last_mut() {
        let mut cameras: Vec<_> = trackers.keys().cloned().collect();
        cameras.sort();
        for c in cameras {
            last.extend(trackers.get_mut(&c).expect("listed").finish().into_iter().map(Tracked::Ended));
        }
    }
    out
}

/// Rows out of each stream (over all workers).
#[derive(Debug, Default)]
pub struct Counts {
    /// `detections` rows.
    pub detections: AtomicU64,
    /// `tracks` rows.
    pub tracks: AtomicU64,
    /// `line_crossings` rows.
    pub crossings: AtomicU64,
    /// `zone_events` rows.
    pub zone_events: AtomicU64,
    /// `traffic_metrics` rows.
    pub metrics: AtomicU64,
    /// Closed violations (`violations` table rows).
    pub violations: AtomicU64,
    /// Confirmations (`ongoing = true`, the alerts).
    pub alerts: AtomicU64,
    /// `anomalies` rows.
    pub anomalies: AtomicU64,
    /// Rows of the junction tables (all six).
    pub junction: AtomicU64,
    /// Order-free digest of the junction tables' rows (a wrapping sum of each row's hash):
    /// an optimisation of the junction must leave it as it was.
    pub junction_digest: AtomicU64,
}

impl Counts {
    /// Reads a counter.
    pub fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }
}

fn count<'s, D: 'static>(stream: Stream<'s, u64, Vec<D>>, probe: &Probe<u64>, name: &str, counts: Arc<Counts>, field: fn(&Counts) -> &AtomicU64) {
    stream.probe_with(probe).sink(Pipeline, name, move |(input, _)| {
        input.for_each(|_, data| {
            field(&counts).fetch_add(data.len() as u64, Ordering::Relaxed);
        });
    });
}

/// Counts the rows of a junction table into `junction` and adds their hashes to
/// `junction_digest`.
fn count_junction<'s, D: std::fmt::Debug + 'static>(stream: Stream<'s, u64, Vec<D>>, probe: &Probe<u64>, name: &str, counts: Arc<Counts>) {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    stream.probe_with(probe).sink(Pipeline, name, move |(input, _)| {
        input.for_each(|_, data| {
            counts.junction.fetch_add(data.len() as u64, Ordering::Relaxed);
            let sum = data.iter().fold(0u64, |acc, row| acc.wrapping_add(BuildHasherDefault::<DefaultHasher>::default().hash_one(format!("{row:?}"))));
            counts.junction_digest.fetch_add(sum, Ordering::Relaxed);
        });
    });
}

/// Counts every output stream into `counts` (cheap sinks, no lake) behind one probe;
/// `on_violations` also sees each batch of violations as it leaves.
pub fn sink_all<'s>(out: AnalyticsStreams<'s>, probe: &Probe<u64>, counts: &Arc<Counts>, mut on_violations: impl FnMut(&[ViolationRow]) + 'static) {
    count(out.detections, probe, "CountDetections", counts.clone(), |c| &c.detections);
    count(out.tracks, probe, "CountTracks", counts.clone(), |c| &c.tracks);
    count(out.crossings, probe, "CountCrossings", counts.clone(), |c| &c.crossings);
    count(out.zone_events, probe, "CountZoneEvents", counts.clone(), |c| &c.zone_events);
    count(out.metrics, probe, "CountMetrics", counts.clone(), |c| &c.metrics);
    count(out.anomalies, probe, "CountAnomalies", counts.clone(), |c| &c.anomalies);
    let j = out.junction;
    count_junction(j.movements, probe, "CountMovements", counts.clone());
    count_junction(j.turning_counts, probe, "CountTurningCounts", counts.clone());
    count_junction(j.queues, probe, "CountQueues", counts.clone());
    count_junction(j.queue_samples, probe, "CountQueueSamples", counts.clone());
    count_junction(j.lane_metrics, probe, "CountLaneMetrics", counts.clone());
    count_junction(j.signal_performance, probe, "CountSignalPerformance", counts.clone());
    let c = counts.clone();
    out.violations.probe_with(probe).sink(Pipeline, "CountViolations", move |(input, _)| {
        input.for_each(|_, data| {
            let alerts = data.iter().filter(|v| v.ongoing).count() as u64;
            c.alerts.fetch_add(alerts, Ordering::Relaxed);
            c.violations.fetch_add(data.len() as u64 - alerts, Ordering::Relaxed);
            on_violations(data);
        });
    });
}

/// A dataflow on `worker`: an input of `D`, the streams built from it by `build`, every output
/// counted behind the returned probe.
pub fn dataflow<D, B>(worker: &mut Worker, build: B) -> (InputHandleVec<u64, D>, Probe<u64>)
where
    D: Clone + 'static,
    B: for<'s> FnOnce(Stream<'s, u64, Vec<D>>, &Probe<u64>),
{
    worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<D>();
        let probe = Probe::new();
        build(stream, &probe);
        (input, probe)
    })
}

/// Feeds the batches as fast as the dataflow takes them, at most [`LEAD_MS`] of event time
/// ahead of the outputs' frontier, then closes the input and drains the dataflow.
pub fn feed_all<D: Clone + 'static>(worker: &mut Worker, mut input: InputHandleVec<u64, D>, probe: &Probe<u64>, batches: Batches<D>) {
    for (t, mut records) in batches {
        input.advance_to(t);
        input.send_batch(&mut records);
        keep_lead(worker, probe, t);
    }
    drop(input);
    while !probe.done() {
        step(worker);
    }
}

/// Steps until the outputs' frontier is within [`LEAD_MS`] of `t`, the time just fed.
pub fn keep_lead(worker: &mut Worker, probe: &Probe<u64>, t: u64) {
    if let Some(behind) = t.checked_sub(LEAD_MS) {
        while probe.less_equal(&behind) {
            step(worker);
        }
    }
}

/// CPU seconds (user + system) of the whole process so far, every thread counted.
pub fn cpu_seconds() -> f64 {
    // /proc/<pid>/stat: fields after the command's closing parenthesis; utime and stime are
    // the 12th and 13th after the state, in clock ticks (USER_HZ, 100 on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    match (f.get(11).and_then(|v| v.parse::<u64>().ok()), f.get(12).and_then(|v| v.parse::<u64>().ok())) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => f64::NAN,
    }
}

/// Runs `f` on `workers` worker threads and collects what each returned.
pub fn run_workers<R, F>(workers: usize, f: F) -> anyhow::Result<Vec<R>>
where
    R: Send + 'static,
    F: Fn(&mut Worker) -> R + Send + Sync + 'static,
{
    let guards = timely::execute(timely::Config::process(workers), f).map_err(|e| anyhow::anyhow!("cannot start timely workers: {e}"))?;
    guards.join().into_iter().map(|r| r.map_err(|e| anyhow::anyhow!("a worker panicked: {e}"))).collect()
}

/// Takes worker `index`'s batches out of a shared list (each worker takes its own once).
pub fn take<D>(shared: &std::sync::Mutex<Vec<Option<Batches<D>>>>, index: usize) -> Batches<D> {
    shared.lock().unwrap_or_else(|e| e.into_inner())[index].take().expect("each worker takes its batches once")
}

/// The `q` quantile (0…1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
