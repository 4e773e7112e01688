//! Scale-out on timely's own cluster: `hosts.len()` processes × `[pipeline] workers` threads run
//! one dataflow, connected over TCP by timely (no mesh of our own).
//!
//! What a process does in a cluster, and why it stays correct:
//! - worker `i` of the cluster is thread `i % workers` of process `i / workers` (timely's
//!   numbering), and [`super::RunPlan::feeds_of_worker`] and the exchange by camera
//!   ([`itscam_types::camera_route`]) are computed over the whole cluster's workers: a feed is
//!   read by exactly one process, a camera's state lives on exactly one worker;
//! - the config's rules, signals and the control log's replay enter the collections on worker 0
//!   (process 0) only; a rule changed through any process's API is entered by that process's
//!   first worker (rule updates are broadcast), and the processes keep one rule book by following
//!   the shared control log, appending at exactly its next seq ([`crate::control::ControlLog`]);
//!   signal states pushed to any process likewise;
//! - every process has its own lake writer, whose run id (and so every file name) carries the
//!   process index, and publishes through the commit log's conditional creates: concurrent
//!   publishers never take the same seq (see `itscam_sinks::commit_log`), no coordinator;
//! - lake maintenance (compaction, vacuum) and `[lake.sync]` run on process 0 only.
//!
//! - a run with `kafka:` sources is checkpointed per process: worker 0 reads the topics (and
//!   takes process 0's checkpoints, with the offsets), the first worker of every other process
//!   takes that process's; each checkpoint at T is taken once the cluster's outputs below T are
//!   delivered, committed by that process's writer with its rows, and a restarted process
//!   resumes from its own ([`super::resume::checkpoint_of_process`]).
//!
//! - a `push` camera's feed is read on every process (the pushes its own API takes), and its
//!   frames are exchanged to the camera's worker like any others.
//! - a camera changed through any process's API (`serve`) is logged, and applied by the
//!   process that owns the camera's worker when it follows the log (its feed, its tracker);
//!   the others only list it (`CameraControl::set_local_workers`).

use itscam_types::config::{ClusterConfig, check_hosts, parse_hosts_file};
use std::path::Path;

/// This process's place in a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// `host:port` of every process, in process order.
    pub hosts: Vec<String>,
    /// This process's index into `hosts`.
    pub process: usize,
}

impl Cluster {
    /// The cluster of this process: `--cluster FILE` (else `[cluster] hosts`) and `--process`
    /// (else `[cluster] process`). `None` when neither lists hosts: one process.
    pub fn resolve(config: &ClusterConfig, file: Option<&Path>, process: Option<usize>) -> anyhow::Result<Option<Cluster>> {
        let hosts = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--cluster {}: {e}", path.display()))?;
                let hosts = parse_hosts_file(&text);
                anyhow::ensure!(!hosts.is_empty(), "--cluster {}: no host:port line", path.display());
                let problems = check_hosts(&hosts);
                anyhow::ensure!(problems.is_empty(), "--cluster {}: {}", path.display(), problems.join("; "));
                hosts
            }
            None => config.hosts.clone(),
        };
        if hosts.is_empty() {
            anyhow::ensure!(process.is_none(), "--process needs --cluster FILE or [cluster] hosts");
            return Ok(None);
        }
        let Some(process) = process.or(config.process) else {
            anyhow::bail!("a cluster of {} processes needs this process's index: --process I or [cluster] process = I (0..={})", hosts.len(), hosts.len() - 1);
        };
        anyhow::ensure!(process < hosts.len(), "--process {process}: the cluster lists {} processes (0..={})", hosts.len(), hosts.len() - 1);
        Ok(Some(Cluster { hosts, process }))
    }

    /// Processes in the cluster.
    pub fn processes(&self) -> usize {
        self.hosts.len()
    }

    /// Timely's configuration for this process with `workers` threads.
    pub fn timely_config(&self, workers: usize) -> timely::Config {
        timely::Config {
            communication: timely::CommunicationConfig::Cluster { threads: workers, process: self.process, addresses: self.hosts.clone(), report: false, zerocopy: false },
            worker: timely::WorkerConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container as timely sends it to another process (bincode, fields by position), and back.
    fn across_processes<T: serde::Serialize + serde::de::DeserializeOwned>(items: &Vec<T>) -> Vec<T> {
        use timely::dataflow::channels::ContainerBytes;
        let mut bytes = Vec::new();
        items.into_bytes(&mut bytes);
        Vec::<T>::from_bytes(timely::bytes::arc::BytesMut::from(bytes).freeze())
    }

    #[test]
    fn frames_cross_to_another_process_intact() {
        use itscam_types::{BBox, Detection, Frame, ObjectClass};
        let frame = |camera: &str, model_version: Option<&str>| Frame {
            camera_id: camera.into(),
            ts_ms: 1_000,
            frame: 7,
            width: 1920,
            height: 1080,
            detections: vec![Detection { class: ObjectClass::from_name("car").unwrap(), confidence: 0.9, bbox: BBox { x1: 1.0, y1: 2.0, x2: 3.0, y2: 4.0 } }],
            model_version: model_version.map(Into::into),
        };
        // Several in one message, without and with a model version (JSON leaves the first out).
        let frames = vec![frame("cam-10", None), frame("cam-11", Some("detector@1.0.0")), frame("cam-12", None)];
        assert_eq!(across_processes(&frames), frames);
        assert!(!serde_json::to_string(&frames[0]).unwrap().contains("model_version"));
        assert!(serde_json::to_string(&frames[1]).unwrap().contains("\"model_version\":\"detector@1.0.0\""));
    }

    #[test]
    fn flags_override_the_config_and_the_index_must_fit() {
        let config = ClusterConfig { hosts: vec!["a:1".into(), "b:1".into()], process: Some(1) };
        assert_eq!(Cluster::resolve(&config, None, None).unwrap(), Some(Cluster { hosts: config.hosts.clone(), process: 1 }));
        assert_eq!(Cluster::resolve(&config, None, Some(0)).unwrap().unwrap().process, 0);
        assert!(Cluster::resolve(&config, None, Some(2)).unwrap_err().to_string().contains("0..=1"));
        assert_eq!(Cluster::resolve(&ClusterConfig::default(), None, None).unwrap(), None);
        assert!(Cluster::resolve(&ClusterConfig::default(), None, Some(0)).is_err());
        let dir = std::env::temp_dir().join(format!("itscam-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hosts");
        std::fs::write(&file, "# three\nx:2101\ny:2101\nz:2101\n").unwrap();
        let from_file = Cluster::resolve(&config, Some(&file), None).unwrap().unwrap();
        assert_eq!((from_file.processes(), from_file.process), (3, 1));
        let no_index = ClusterConfig { process: None, ..config };
        assert!(Cluster::resolve(&no_index, None, None).unwrap_err().to_string().contains("--process I"));
    }
}
