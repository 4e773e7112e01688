//! Where a checkpointed run (one with `kafka:` sources) starts: the lake's last checkpoint.
//!
//! A checkpoint is `{"time": T, "offsets": {topic: {partition: offset}}}`, committed with the
//! lake files of every row below T; the run's final one (every source at its end,
//! `stop_at_end`) has `"time": u64::MAX, "complete": true`. A restart replays each topic from
//! its start and writes only rows at or after T (see `itscam_operators::source::checkpoint`).
//! In a cluster every process takes its own checkpoints (its writer commits the rows of its
//! cameras) and resumes from its own: [`checkpoint_of_process`].

use itscam_operators::source::kafka::KafkaFeed;
use serde_json::{Map, Value, json};

/// The last checkpoint, as far as this run is concerned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resume {
    /// Rows below this time are in the lake already; 0 for a fresh lake.
    pub time: u64,
    /// Offsets the checkpoint carried.
    pub offsets: Map<String, Value>,
    /// The run that wrote it read every partition to its end.
    pub complete: bool,
}

impl Resume {
    /// Reads a checkpoint value; `None` (no checkpoint yet) starts at 0.
    pub fn from_checkpoint(value: Option<&Value>) -> anyhow::Result<Resume> {
        let Some(v) = value else { return Ok(Resume::default()) };
        let time = v.get("time").and_then(Value::as_u64).ok_or_else(|| anyhow::anyhow!("the lake's last checkpoint has no \"time\": {v}; it was not written by a checkpointed itscam run — use a lake prefix of its own for runs with kafka: sources"))?;
        let offsets = v.get("offsets").and_then(Value::as_object).cloned().unwrap_or_default();
        let complete = v.get("complete").and_then(Value::as_bool).unwrap_or(false);
        Ok(Resume { time, offsets, complete })
    }

    /// A finished run's lake cannot take more input: a topic that has grown since is an error
    /// (its new messages would fall below the final checkpoint and be dropped).
    pub fn check_feeds(&self, feeds: &[&KafkaFeed]) -> anyhow::Result<()> {
        if !self.complete {
            return Ok(());
        }
        for feed in feeds {
            for (i, p) in feed.partitions.iter().enumerate() {
                let done = self.offsets.get(&feed.topic).and_then(|t| t.get(p.to_string())).and_then(Value::as_i64).unwrap_or(0);
                if feed.ends[i] > done {
                    anyhow::bail!(
                        "the lake holds a finished run (stop_at_end) of topic {:?} up to offset {done} of partition {p}, and the partition has grown to {} since; \
                         a finished run cannot be continued: use a new lake prefix, or leave [kafka.consumer] stop_at_end off to follow the topic",
                        feed.topic, feed.ends[i]
                    );
                }
            }
        }
        Ok(())
    }
}

/// The final checkpoint of a run whose sources all ended.
pub fn final_checkpoint(offsets: Map<String, Value>) -> Value {
    json!({ "time": u64::MAX, "complete": true, "offsets": offsets })
}

/// A checkpoint of process `process` of a cluster of `processes` (unchanged for one process):
/// each process of a cluster commits its own rows and resumes from its own checkpoint.
pub fn of_process(mut value: Value, process: usize, processes: usize) -> Value {
    if processes > 1
        && let Some(map) = value.as_object_mut()
    {
        map.insert("process".into(), json!(process));
        map.insert("processes".into(), json!(processes));
    }
    value
}

/// This process's checkpoint among the lake's (one per process, [`itscam_sinks::LakeState::checkpoints`]).
/// Rows go to the process that owns their camera, and which one that is depends on the number
/// of processes: a lake whose checkpoints were taken by another number of processes cannot be
/// resumed exactly, so that is an error (unless every one of them finished).
pub fn checkpoint_of_process(checkpoints: &std::collections::BTreeMap<u64, Value>, process: usize, processes: usize) -> anyhow::Result<Option<Value>> {
    let processes_of = |c: &Value| c.get("processes").and_then(Value::as_u64).unwrap_or(1) as usize;
    let complete = |c: &Value| c.get("complete").and_then(Value::as_bool).unwrap_or(false);
    if let Some(other) = checkpoints.values().find(|c| processes_of(c) != processes)
        && !checkpoints.values().all(complete)
    {
        anyhow::bail!(
            "the lake's checkpoints were taken by {} process(es), this run has {processes}: a camera's rows would move to another process and be written twice or not at all; \
             restart with {} process(es), or use a new lake prefix for the new cluster (README \"Scaling out\")",
            processes_of(other),
            processes_of(other)
        );
    }
    if !checkpoints.is_empty() && checkpoints.values().all(complete) {
        // Every process finished: nothing is written again; each carries the offsets of its
        // own partitions, so the finished run's are all of them.
        let mut merged = checkpoints.get(&0).or_else(|| checkpoints.values().next()).cloned().unwrap_or_default();
        let mut offsets = Map::new();
        for c in checkpoints.values() {
            for (topic, partitions) in c.get("offsets").and_then(Value::as_object).into_iter().flatten() {
                let all = offsets.entry(topic.clone()).or_insert_with(|| Value::Object(Map::new()));
                for (p, o) in partitions.as_object().into_iter().flatten() {
                    all[p.as_str()] = o.clone();
                }
            }
        }
        merged["offsets"] = Value::Object(offsets);
        return Ok(Some(merged));
    }
    Ok(checkpoints.get(&(process as u64)).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_resumes_from_its_own_checkpoint_and_a_new_cluster_size_is_refused() {
        let lake: std::collections::BTreeMap<u64, Value> =
            [(0, of_process(json!({"time": 10, "offsets": {}}), 0, 2)), (1, of_process(json!({"time": 20}), 1, 2))].into_iter().collect();
        assert_eq!(checkpoint_of_process(&lake, 1, 2).unwrap().unwrap()["time"], 20);
        assert_eq!(checkpoint_of_process(&lake, 0, 2).unwrap().unwrap()["process"], 0);
        assert!(checkpoint_of_process(&lake, 0, 3).unwrap_err().to_string().contains("taken by 2 process(es), this run has 3"));
        // A single process's checkpoint carries no process fields.
        let single: std::collections::BTreeMap<u64, Value> = [(0, of_process(json!({"time": 5}), 0, 1))].into_iter().collect();
        assert_eq!(single[&0], json!({"time": 5}));
        assert_eq!(checkpoint_of_process(&single, 0, 1).unwrap().unwrap()["time"], 5);
        assert!(checkpoint_of_process(&single, 1, 2).is_err());
        assert_eq!(checkpoint_of_process(&Default::default(), 1, 2).unwrap(), None);
        // A finished lake stays finished whatever the number of processes.
        let done: std::collections::BTreeMap<u64, Value> = [(0, of_process(final_checkpoint(Map::new()), 0, 2)), (1, of_process(final_checkpoint(Map::new()), 1, 2))].into_iter().collect();
        assert_eq!(checkpoint_of_process(&done, 0, 3).unwrap().unwrap()["time"], u64::MAX);
        // Each process's final checkpoint carries its own partitions: the finished run's are all.
        let own = |p: u64| of_process(final_checkpoint(serde_json::from_value(json!({"d": {p.to_string(): 10 + p}})).unwrap()), p as usize, 2);
        let done: std::collections::BTreeMap<u64, Value> = [(0, own(0)), (1, own(1))].into_iter().collect();
        assert_eq!(checkpoint_of_process(&done, 1, 2).unwrap().unwrap()["offsets"], json!({"d": {"0": 10, "1": 11}}));
    }

    #[test]
    fn checkpoints_read_back_and_a_grown_topic_after_a_finished_run_is_refused() {
        assert_eq!(Resume::from_checkpoint(None).unwrap(), Resume::default());
        let r = Resume::from_checkpoint(Some(&json!({"time": 5000, "offsets": {"d": {"0": 7}}}))).unwrap();
        assert_eq!((r.time, r.complete), (5000, false));
        assert!(Resume::from_checkpoint(Some(&json!({"offsets": {}}))).unwrap_err().to_string().contains("no \"time\""));
        let done = Resume::from_checkpoint(Some(&final_checkpoint(serde_json::from_value(json!({"d": {"0": 7, "1": 3}})).unwrap()))).unwrap();
        assert!(done.complete);
        let feed = |ends: Vec<i64>| KafkaFeed {
            config: itscam_types::config::KafkaConfig { brokers: "x:1".into(), properties: Default::default(), consumer: Default::default() },
            topic: "d".into(),
            partitions: vec![0, 1],
            starts: vec![0, 0],
            ends,
            committed: None,
            read_until_ms: Default::default(),
            lanes: Default::default(),
        };
        done.check_feeds(&[&feed(vec![7, 3])]).unwrap();
        let err = done.check_feeds(&[&feed(vec![7, 4])]).unwrap_err().to_string();
        assert!(err.contains("partition 1") && err.contains("grown to 4"), "{err}");
    }
}
