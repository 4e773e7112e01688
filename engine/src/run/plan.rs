//! The plan of a run, decided from the config alone (no I/O): how many workers, which detections
//! feeds exist and which worker reads each, whether the run is checkpointed, and the traffic
//! queries' plan. Everything that touches the outside world starts later, with the run's
//! services.

use super::RunOptions;
use itscam_queries::AnalyticsPlan;
use itscam_queries::facts::SignalUpdate;
use itscam_sinks::CommitPolicy;
use itscam_types::config::{CalibrationConfig, PipelineConfig, Problem, Source, SourceFamily, TrackerConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One detections feed: a source and the cameras whose lines it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedPlan {
    /// The source (detections file, stdin or a Kafka topic).
    pub source: Source,
    /// Cameras routed from it.
    pub cameras: Vec<String>,
}

/// What a run will do.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// Timely worker threads of this process.
    pub workers: usize,
    /// This process's index in its cluster (0 without one).
    pub process: usize,
    /// Processes in the cluster (1 without one); the cluster has `processes × workers` workers.
    pub processes: usize,
    /// Detections feeds (cameras sharing a source share its feed), in source order.
    pub feeds: Vec<FeedPlan>,
    /// A `kafka:` source makes the run checkpointed: the lake commits only at checkpoints.
    pub checkpointed: bool,
    /// Frames later than this behind their source go to `errors` as late.
    pub lateness_ms: u64,
    /// The tracker's settings.
    pub tracker: TrackerConfig,
    /// The calibration of each calibrated camera, by id, for ground-plane association.
    pub calibrations: BTreeMap<String, CalibrationConfig>,
    /// How often a checkpointed run takes a checkpoint.
    pub checkpoint_interval: Duration,
    /// How far (event time) a Kafka partition may run ahead of the outputs' frontier.
    pub max_lead_ms: u64,
    /// How far (event time) a file or stdin feed may run ahead of the outputs' frontier.
    pub source_lead_ms: u64,
    /// The traffic queries.
    pub analytics: AnalyticsPlan,
}

impl RunPlan {
    /// Plans a run of `config`; `signals` are the signal states read from the `[[signal]]`
    /// sources. A problem of the traffic queries (e.g. a calibration that does not fit) is an
    /// error listing every problem.
    pub fn new(config: &PipelineConfig, options: &RunOptions, signals: Vec<SignalUpdate>) -> Result<RunPlan, Vec<Problem>> {
        let feeds = feeds_of(config);
        let checkpointed = feeds.iter().any(|f| f.source.family() == SourceFamily::Kafka);
        let kafka = config.kafka.as_ref().map(|k| &k.consumer);
        Ok(RunPlan {
            workers: options.workers.unwrap_or(config.pipeline.workers).max(1),
            process: options.cluster.as_ref().map_or(0, |c| c.process),
            processes: options.cluster.as_ref().map_or(1, |c| c.processes()),
            feeds,
            checkpointed,
            lateness_ms: config.pipeline.lateness_ms,
            tracker: config.tracker.clone(),
            calibrations: config.camera.iter().filter_map(|c| Some((c.id.clone(), c.calibration.clone()?))).collect(),
            checkpoint_interval: Duration::from_millis(kafka.map_or(1_000, |c| c.checkpoint_interval_ms)),
            max_lead_ms: kafka.map_or(30_000, |c| c.max_lead_ms),
            source_lead_ms: config.source_lead_ms(),
            analytics: AnalyticsPlan::new(Arc::new(config.clone()), signals)?,
        })
    }

    /// This process's worker thread of the cluster's worker `index`.
    pub fn local_worker(&self, index: usize) -> usize {
        index - self.process * self.workers
    }

    /// How rows reach the lake: at checkpoints when the run is checkpointed, else every write.
    pub fn commit_policy(&self) -> CommitPolicy {
        if self.checkpointed { CommitPolicy::AtCheckpoints } else { CommitPolicy::EveryWrite }
    }

    /// The feeds (indexes into [`RunPlan::feeds`]) that worker `index` of `peers` reads:
    /// every worker reads its share of each Kafka feed (partition `p` on worker `p mod peers`,
    /// `KafkaFeed::share`); the other feeds round-robin, one worker each — except that in a
    /// cluster every process reads each push camera's feed (on its worker `slot mod workers`):
    /// the pushes its own API takes. In a cluster, `index` and `peers` are the cluster's (every
    /// process plans every feed, and reads only its workers' share).
    pub fn feeds_of_worker(&self, index: usize, peers: usize) -> Vec<usize> {
        let is_kafka = |f: &FeedPlan| f.source.family() == SourceFamily::Kafka;
        let kafka = self.feeds.iter().enumerate().filter(|(_, f)| is_kafka(f)).map(|(i, _)| i);
        let others = self.feeds.iter().enumerate().filter(|(_, f)| !is_kafka(f)).map(|(i, _)| i).enumerate();
        let workers = self.workers.max(1);
        let mine = |(slot, i): (usize, usize)| {
            let every_process = self.processes > 1 && self.feeds[i].source == Source::Push;
            if every_process { slot % workers == index % workers } else { slot % peers == index }
        };
        kafka.chain(others.filter(|&(slot, i)| mine((slot, i))).map(|(_, i)| i)).collect()
    }
}

/// One feed per distinct detections source, in source order; every push camera has its own
/// (its own queue and watermark).
fn feeds_of(config: &PipelineConfig) -> Vec<FeedPlan> {
    let mut by_source: BTreeMap<Source, Vec<String>> = BTreeMap::new();
    let mut pushed = Vec::new();
    for cam in config.camera.iter().filter(|c| c.source.family().carries_detections()) {
        if cam.source == Source::Push {
            pushed.push(FeedPlan { source: Source::Push, cameras: vec![cam.id.clone()] });
        } else {
            by_source.entry(cam.source.clone()).or_default().push(cam.id.clone());
        }
    }
    by_source.into_iter().map(|(source, cameras)| FeedPlan { source, cameras }).chain(pushed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sources: &[(&str, &str)]) -> PipelineConfig {
        let mut text = String::from("[lake]\nurl = \"file:///tmp/itscam-plan-test\"\n[kafka]\nbrokers = \"127.0.0.1:9\"\n");
        // Files that exist, so the config validates: x and y stand for two of them.
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data");
        for (id, source) in sources {
            let source = source.replace("x.jsonl", &format!("{data}/two-cameras.jsonl")).replace("y.jsonl", &format!("{data}/signals.jsonl"));
            text += &format!("[[camera]]\nid = \"{id}\"\nsource = \"{source}\"\n");
        }
        PipelineConfig::from_toml(&text).unwrap()
    }

    #[test]
    fn cameras_sharing_a_source_share_a_feed_and_every_worker_reads_its_share_of_a_topic() {
        let c = config(&[("a", "detections:x.jsonl"), ("b", "kafka:t"), ("c", "detections:x.jsonl"), ("d", "detections:y.jsonl"), ("e", "detections:-")]);
        let plan = RunPlan::new(&c, &RunOptions { workers: Some(2), ..RunOptions::default() }, Vec::new()).unwrap();
        let names: Vec<_> = plan.feeds.iter().map(|f| (f.source.label(), f.cameras.clone())).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(names.iter().find(|(s, _)| s.ends_with("two-cameras.jsonl")).unwrap().1, vec!["a".to_string(), "c".to_string()]);
        assert!(plan.checkpointed);
        let kafka = plan.feeds.iter().position(|f| matches!(f.source, Source::Kafka(_))).unwrap();
        let (w0, w1) = (plan.feeds_of_worker(0, 2), plan.feeds_of_worker(1, 2));
        assert!(w0.contains(&kafka) && w1.contains(&kafka), "each worker reads its partitions of the topic");
        let mut all: Vec<_> = w0.iter().chain(&w1).copied().filter(|&i| i != kafka).collect();
        all.sort();
        assert_eq!(all, (0..4).filter(|&i| i != kafka).collect::<Vec<_>>(), "every other feed on exactly one worker");
        assert_eq!((w0.len(), w1.len()), (3, 2), "the other feeds round-robin");
    }

    #[test]
    fn in_a_cluster_every_process_reads_each_push_camera_and_other_feeds_once() {
        let c = config(&[("a", "detections:x.jsonl"), ("p", "push"), ("q", "push")]);
        let cluster = Some(super::super::Cluster { hosts: vec!["a:1".into(), "b:1".into()], process: 1 });
        let plan = RunPlan::new(&c, &RunOptions { workers: Some(2), cluster, ..RunOptions::default() }, Vec::new()).unwrap();
        let push: Vec<usize> = (0..plan.feeds.len()).filter(|&i| plan.feeds[i].source == Source::Push).collect();
        let of = |w: usize| plan.feeds_of_worker(w, 4);
        for process in 0..2 {
            let mut read: Vec<usize> = [2 * process, 2 * process + 1].iter().flat_map(|&w| of(w)).filter(|i| push.contains(i)).collect();
            read.sort_unstable();
            assert_eq!(read, push, "process {process} reads every push camera's feed, once");
        }
        let file = (0..plan.feeds.len()).find(|i| !push.contains(i)).unwrap();
        assert_eq!((0..4).filter(|&w| of(w).contains(&file)).count(), 1, "a file is read by one worker of the cluster");
    }

    #[test]
    fn a_run_without_kafka_commits_every_write_and_defaults_to_the_config_workers() {
        let plan = RunPlan::new(&config(&[("a", "detections:x.jsonl")]), &RunOptions::default(), Vec::new()).unwrap();
        assert!(!plan.checkpointed);
        assert_eq!(plan.commit_policy(), CommitPolicy::EveryWrite);
        assert_eq!(plan.workers, PipelineConfig::default().pipeline.workers.max(1));
    }
}
