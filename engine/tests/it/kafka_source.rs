//! `kafka:` camera sources on a real broker (Tansu) with the lake on a real S3 server
//! (SeaweedFS): malformed messages become `errors` rows naming topic, partition and offset;
//! offsets reach the consumer group after the lake commit; and the engine, killed with SIGKILL
//! 20 times at points chosen from its observed progress (start-up, replay, after random
//! checkpoints) and restarted — with a rule changed over HTTP mid-run in one of the cycles —
//! ends with exactly the lake tables and the alert topic of an uninterrupted run that replays
//! the same control log: none lost, none duplicated, the change at the same event time.

use crate::support::*;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOPIC: &str = "detections";
/// Copies of examples/data/two-cameras.jsonl, one after the other in time.
const COPIES: u64 = 4;
const CYCLES: usize = 20;

fn client(broker: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker);
    c
}

/// The topic: cam-1 on partition 0, cam-2 on partition 1, a malformed message and a frame of
/// an unknown camera among them. Returns the end offset of each partition and the offset of
/// the malformed message.
pub(crate) fn produce(broker: &str) -> ([i64; 2], i64) {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().unwrap();
    let topic = NewTopic::new(TOPIC, 2, TopicReplication::Fixed(1));
    let created = futures::executor::block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: ThreadedProducer<DefaultProducerContext> = client(broker).set("linger.ms", "5").create().unwrap();
    let text = std::fs::read_to_string(repo_root().join("examples/data/two-cameras.jsonl")).unwrap();
    let frames: Vec<serde_json::Value> = text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    let (first, last) = (frames.iter().map(|f| f["ts_ms"].as_u64().unwrap()).min().unwrap(), frames.iter().map(|f| f["ts_ms"].as_u64().unwrap()).max().unwrap());
    let span = last - first + 1_000;
    let n_frames = frames.iter().map(|f| f["frame"].as_u64().unwrap()).max().unwrap() + 1;
    let mut ends = [0i64; 2];
    let mut broken_at = -1;
    let send = |ends: &mut [i64; 2], partition: i32, key: &str, payload: String| {
        let record = BaseRecord::to(TOPIC).partition(partition).key(key).payload(&payload);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        ends[partition as usize] += 1;
    };
    for copy in 0..COPIES {
        for (i, f) in frames.iter().enumerate() {
            let mut f = f.clone();
            f["ts_ms"] = (f["ts_ms"].as_u64().unwrap() + copy * span).into();
            f["frame"] = (f["frame"].as_u64().unwrap() + copy * n_frames).into();
            let cam = f["camera_id"].as_str().unwrap().to_string();
            send(&mut ends, if cam == "cam-1" { 0 } else { 1 }, &cam, f.to_string());
            if copy == 0 && i == 100 {
                broken_at = ends[0];
                send(&mut ends, 0, "cam-1", "{broken".into());
                let mut stranger = f.clone();
                stranger["camera_id"] = "cam-9".into();
                send(&mut ends, 1, "cam-9", stranger.to_string());
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    (ends, broken_at)
}

/// A config: the example's cameras and rules, reading the topic, lake on S3 under `prefix`,
/// alerts to `alerts`, consumer group `group`.
pub(crate) fn config(dir: &Path, broker: &str, s3: &SeaweedFs, name: &str) -> String {
    let example = std::fs::read_to_string(repo_root().join("examples/detections/config.toml")).unwrap();
    let lake_line = "[lake]\nurl = \"file://./lake\"            # relative to the working directory\n";
    assert!(example.contains(lake_line), "the example's [lake] section changed");
    let text = example
        .replace(lake_line, &s3.lake_toml(name))
        .replace("detections:examples/data/two-cameras.jsonl", &format!("kafka:{TOPIC}"))
        .replace("examples/data", repo_root().join("examples/data").to_str().unwrap())
        + &format!(
            "\n[kafka]\nbrokers = \"{broker}\"\n\n[kafka.consumer]\ngroup_id = \"{name}\"\nstop_at_end = true\ncheckpoint_interval_ms = 100\nmax_lead_ms = 20000\n\n\
             [alerts.kafka]\ntopic = \"alerts-{name}\"\n\n[alerts.outbox]\ndir = \"outbox-{name}\"\n"
        );
    let file = format!("{name}.toml");
    std::fs::write(dir.join(&file), text).unwrap();
    file
}

/// Every row of a table as sorted JSON texts, without the wall-clock columns.
pub(crate) fn table(dir: &Path, config: &str, table: &str) -> Vec<String> {
    let out = itscam_ok(dir, &["query", "--config", config, "--format", "json", "--max-rows", "10000000", &format!("SELECT * FROM {table}")]);
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&out).unwrap();
    let mut rows: Vec<String> = rows
        .into_iter()
        .map(|mut r| {
            for wall_clock in ["rejected_at_ms", "changed_at_ms"] {
                r.remove(wall_clock);
            }
            serde_json::Value::Object(r).to_string()
        })
        .collect();
    rows.sort();
    rows
}

/// The `alert_id` of every message on a topic, in partition/offset order.
pub(crate) fn alert_ids(broker: &str, topic: &str) -> Vec<String> {
    // The end is what a fetch reports (partition EOF): Tansu 0.6 answers ListOffsets(latest)
    // with the base offset of the last record batch.
    let consumer: BaseConsumer =
        client(broker).set("group.id", "itscam-test-reader").set("enable.auto.commit", "false").set("enable.partition.eof", "true").create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut left = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        left.insert(p.id(), ());
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    let mut ids = Vec::new();
    if left.is_empty() {
        return ids;
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !left.is_empty() {
        assert!(Instant::now() < deadline, "reading {topic}: partitions {left:?} not read to their end");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = match m {
                Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                    left.remove(&p);
                    continue;
                }
                m => m.unwrap(),
            };
            let alert: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(alert["camera_id"].as_str(), m.key().map(|k| std::str::from_utf8(k).unwrap()), "keyed by camera");
            ids.push(alert["alert_id"].as_str().unwrap().to_string());
        }
    }
    ids
}

/// The group's committed offset per partition (`None`: nothing committed yet).
fn group_offsets(broker: &str, group: &str) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = client(broker).set("group.id", group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(TOPIC, 0);
    tpl.add_partition(TOPIC, 1);
    let got = consumer.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements().iter().map(|e| if let Offset::Offset(o) = e.offset() { Some(o) } else { None }).collect()
}

fn committed_offsets(broker: &str, group: &str) -> Vec<i64> {
    group_offsets(broker, group).into_iter().enumerate().map(|(p, o)| o.unwrap_or_else(|| panic!("partition {p} of group {group}: no committed offset"))).collect()
}

/// The lake's last checkpoint, read as often as a test needs it.
struct Checkpoints {
    runtime: tokio::runtime::Runtime,
    lake: itscam_sinks::Lake,
}

/// A checkpoint: event time and the offset per partition.
type Checkpoint = (u64, Vec<i64>);

impl Checkpoints {
    fn open(s3: &SeaweedFs, prefix: &str) -> Checkpoints {
        let lake = s3.lake(prefix);
        Checkpoints { runtime: tokio::runtime::Runtime::new().unwrap(), lake }
    }

    /// The last checkpoint committed, if any.
    fn last(&self) -> Option<Checkpoint> {
        let value = self.runtime.block_on(self.lake.last_checkpoint()).unwrap()?;
        let offsets = (0..2).map(|p| value["offsets"][TOPIC][p.to_string()].as_i64().unwrap()).collect();
        Some((value["time"].as_u64().unwrap(), offsets))
    }
}

/// Where a crash cycle kills the engine, chosen from its observed progress, not from time.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// Once it has connected to Kafka: start-up, or the replay of what came before the last
    /// checkpoint.
    Connected,
    /// Once the lake has a checkpoint newer than the one the run resumed from, not the final
    /// one, covering at least this many messages.
    Checkpoint { messages: i64 },
}

/// How long a crash cycle may take to reach its kill point.
const CYCLE_DEADLINE: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(20);

/// Waits until `child` reached `point` (true) or ended on its own first (false).
fn reach(point: KillPoint, child: &mut std::process::Child, log: &Path, lake: &Checkpoints, resumed_from: Option<&Checkpoint>, total: i64) -> bool {
    let deadline = Instant::now() + CYCLE_DEADLINE;
    loop {
        let reached = match point {
            KillPoint::Connected => std::fs::read_to_string(log).unwrap_or_default().contains("Kafka alerts: connected"),
            KillPoint::Checkpoint { messages } => lake.last().is_some_and(|(time, offsets)| {
                let covered: i64 = offsets.iter().sum();
                let newer = resumed_from.is_none_or(|(before, _)| time > *before);
                newer && time != u64::MAX && covered < total && covered >= messages
            }),
        };
        if reached {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "{point:?} not reached within {CYCLE_DEADLINE:?}; see {}", log.display());
        std::thread::sleep(POLL);
    }
}

/// The cycle in which a rule is changed over HTTP, once the run has passed a new checkpoint.
const RULE_CYCLE: usize = 4;
/// The change: `speeding-approach` with a lower limit.
const RULE: &str = r#"{"id":"speeding-approach","kind":"speeding","camera":"cam-1","zone":"approach","limit_kmh":20.0,"tolerance_kmh":5.0,"min_duration_ms":1000,"severity":"high"}"#;

/// The HTTP API's address once `itscam run --http` has written it to its log.
fn api_addr(child: &mut std::process::Child, log: &Path) -> String {
    let deadline = Instant::now() + CYCLE_DEADLINE;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split("HTTP API on http://").nth(1) {
            return rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(child.try_wait().unwrap().is_none(), "itscam ended before its HTTP API answered; see {}", log.display());
        assert!(Instant::now() < deadline, "no HTTP API within {CYCLE_DEADLINE:?}; see {}", log.display());
        std::thread::sleep(POLL);
    }
}

pub(crate) const TABLES: [&str; 9] = ["detections", "tracks", "errors", "line_crossings", "zone_events", "traffic_metrics", "violations", "anomalies", "alerts"];

#[test]
fn a_kafka_source_killed_at_random_ends_with_the_rows_and_alerts_of_an_uninterrupted_run() {
    let Some(broker) = Broker::start() else { return };
    let dir = scratch("kafka-source-crash");
    let s3 = SeaweedFs::start(&dir);
    let (ends, broken_at) = produce(&broker.addr);

    // The crashing run: SIGKILL at random points, restart, again.
    let crash = config(&dir, &broker.addr, &s3, "crash");
    let seed = std::env::var("ITSCAM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    eprintln!("crash cycles with ITSCAM_CRASH_SEED={seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut killed = 0;
    let mut checkpoints = BTreeSet::new();
    let mut rule_since = None;
    let lake = Checkpoints::open(&s3, "crash");
    let total: i64 = ends.iter().sum();
    for cycle in 0..CYCLES {
        // The fault: start-up and replay now and then; otherwise after a new checkpoint past a
        // share of the input that grows with every cycle and stays short of two thirds of it
        // (checkpoints come every ~20 s of event time, a dozen in all: a cycle that needs no
        // new one to reach its share kills in the replay instead, so no run gets to the end).
        let resumed_from = lake.last();
        let covered: i64 = resumed_from.as_ref().map_or(0, |(_, offsets)| offsets.iter().sum());
        let slot = total as f64 / (CYCLES + 10) as f64;
        let messages = ((cycle as f64 + rng.random::<f64>()) * slot) as i64;
        let changes_rule = cycle == RULE_CYCLE;
        let point = if !changes_rule && (rng.random_ratio(1, 4) || covered >= messages) {
            KillPoint::Connected
        } else {
            KillPoint::Checkpoint { messages: messages.max(covered + 1) }
        };
        let log_path = dir.join(format!("crash-{cycle}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let api: &[&str] = if changes_rule { &["--http", "127.0.0.1:0"] } else { &[] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_itscam"))
            .args(["run", "--config", &crash, "--no-progress"])
            .args(api)
            .current_dir(&dir)
            .env("ITSCAM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let addr = changes_rule.then(|| api_addr(&mut child, &log_path));
        let reached = reach(point, &mut child, &log_path, &lake, resumed_from.as_ref(), total);
        if let Some(addr) = addr {
            // Mid-run, past a new checkpoint: the change applies from the frontier it finds,
            // and is durable once answered. The kill comes right after.
            assert!(reached, "cycle {cycle}: the run ended before the rule could be changed mid-run");
            let (status, body) = http(&addr, "PUT", "/api/v1/rules/speeding-approach", RULE);
            assert_eq!(status, 200, "{body}");
            let since = serde_json::from_str::<serde_json::Value>(&body).unwrap()["since_ms"].as_u64().unwrap();
            eprintln!("cycle {cycle}: rule changed over HTTP from {since} ms (resumed from {resumed_from:?})");
            rule_since = Some(since);
        }
        if reached && child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let status = child.wait().unwrap();
        assert!(status.success() || status.code().is_none(), "cycle {cycle}: itscam failed: {status}; see crash-{cycle}.log");
        // Offsets reach the group only after the lake commit that covers them.
        let checkpoint = lake.last();
        for (p, offset) in group_offsets(&broker.addr, "crash").into_iter().enumerate() {
            if let Some(offset) = offset {
                let durable = checkpoint.as_ref().map_or(0, |c| c.1[p]);
                assert!(offset <= durable, "cycle {cycle}: partition {p} committed at {offset}, the lake's checkpoint is at {durable}");
            }
        }
        eprintln!("cycle {cycle}: {point:?}, checkpoint after it {checkpoint:?}");
        checkpoints.extend(checkpoint.map(|c| c.0));
    }
    eprintln!("{killed} of {CYCLES} runs killed; checkpoints after the kills: {checkpoints:?}");
    // The kills came at different points: restarts resumed from several checkpoints.
    assert!(checkpoints.len() >= 3, "checkpoints seen after the kills: {checkpoints:?}");
    assert!(killed >= CYCLES * 3 / 4, "only {killed} of {CYCLES} runs were still running when killed");
    let summary = itscam_ok(&dir, &["run", "--config", &crash, "--no-progress"]);
    assert!(summary.contains("0 left in the outbox"), "{summary}");

    // The change is in the crashed lake's control log, with the time it took effect.
    let since = rule_since.expect("the rule was changed");
    let log = lake.runtime.block_on(lake.lake.read_control()).unwrap();
    assert_eq!(log.iter().map(|e| (e.id.as_str(), e.op.name(), e.since_ms)).collect::<Vec<_>>(), vec![("speeding-approach", "put", since)]);
    assert_eq!(log[0].before.as_ref().unwrap()["limit_kmh"], 50.0);
    let changes = query_rows(&dir, &crash, "SELECT id, op, since_ms FROM changes");
    assert_eq!((changes.len(), changes[0]["since_ms"].as_u64()), (1, Some(since)), "{changes:?}");

    // The uninterrupted run, with the same control log: the change at the same event time.
    let reference_lake = Checkpoints::open(&s3, "reference");
    for entry in &log {
        lake.runtime.block_on(reference_lake.lake.append_control(&entry.change())).unwrap();
    }

    let reference = config(&dir, &broker.addr, &s3, "reference");
    let summary = itscam_ok(&dir, &["run", "--config", &reference, "--no-progress"]);
    assert!(summary.contains("rejected               2"), "{summary}");
    // Malformed input names topic, partition and offset; the partition went on.
    let errors = query_rows(&dir, &reference, "SELECT source, line, kind, reason FROM errors ORDER BY source");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0]["source"].as_str(), errors[0]["line"].as_i64(), errors[0]["kind"].as_str()), (Some("kafka:detections/0"), Some(broken_at), Some("malformed_json")));
    assert!(errors[0]["reason"].as_str().unwrap().contains(&format!("topic detections partition 0 offset {broken_at}")), "{errors:?}");
    assert_eq!((errors[1]["source"].as_str(), errors[1]["kind"].as_str()), (Some("kafka:detections/1"), Some("unknown_camera")));
    // The lake's final commit came first, then the offsets.
    assert_eq!(committed_offsets(&broker.addr, "reference"), ends.to_vec());

    // The change mattered: violations under the old limit before it, the new one after.
    let limits = query_rows(&dir, &reference, "SELECT DISTINCT limit_value FROM violations WHERE rule_id = 'speeding-approach' ORDER BY limit_value");
    let limits: Vec<Option<f64>> = limits.iter().map(|r| r["limit_value"].as_f64()).collect();
    assert_eq!(limits, vec![Some(20.0), Some(50.0)], "speeding-approach violations by limit");

    for t in TABLES {
        let (want, got) = (table(&dir, &reference, t), table(&dir, &crash, t));
        assert!(!want.is_empty() || t == "anomalies", "{t}: the reference run wrote nothing");
        if want != got {
            let (w, g): (BTreeSet<_>, BTreeSet<_>) = (want.iter().collect(), got.iter().collect());
            let twice = got.windows(2).find(|p| p[0] == p[1] && !want.windows(2).any(|q| q[0] == p[0] && q[1] == p[0])).map(|p| &p[0]);
            panic!(
                "{t}: {} rows after {killed} kills, {} uninterrupted; missing e.g. {:?}; extra e.g. {:?}; written twice e.g. {:?} (ITSCAM_CRASH_SEED={seed})",
                got.len(),
                want.len(),
                w.difference(&g).next(),
                g.difference(&w).next(),
                twice
            );
        }
    }
    let want = alert_ids(&broker.addr, "alerts-reference");
    let got = alert_ids(&broker.addr, "alerts-crash");
    assert!(!want.is_empty());
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "an alert is on the topic twice after {killed} kills");
    assert_eq!(distinct, want.iter().collect::<BTreeSet<_>>(), "the alert topics differ after {killed} kills");
    assert_eq!(committed_offsets(&broker.addr, "crash"), ends.to_vec());
}

fn query_rows(dir: &Path, config: &str, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(&itscam_ok(dir, &["query", "--config", config, "--format", "json", sql])).unwrap()
}

#[test]
fn a_missing_source_topic_or_kafka_section_is_a_start_up_error() {
    let Some(broker) = Broker::start() else { return };
    let dir = scratch("kafka-source-missing");
    let example = std::fs::read_to_string(repo_root().join("examples/detections/config.toml")).unwrap();
    let text = example
        .replace("detections:examples/data/two-cameras.jsonl", "kafka:no-such-topic")
        .replace("examples/data", repo_root().join("examples/data").to_str().unwrap());
    std::fs::write(dir.join("no-kafka.toml"), &text).unwrap();
    let out = itscam(&dir, &["check", "--config", "no-kafka.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("camera[0].source") && err.contains("[kafka]"), "{err}");

    std::fs::write(dir.join("missing.toml"), text + &format!("\n[kafka]\nbrokers = \"{}\"\n", broker.addr)).unwrap();
    let out = itscam(&dir, &["run", "--config", "missing.toml", "--no-progress"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("\"no-such-topic\"") && err.contains(&broker.addr) && err.contains("does not exist"), "{err}");
}

/// S3 goes away during a Kafka-sourced (checkpointed) run: its files and the commits that
/// carry its checkpoints wait in the spool; the run is killed (SIGKILL) while they do; S3
/// comes back; the restarted run ships the spool first, resumes Kafka from the spool's newest
/// checkpoint, and ends with exactly the tables of an uninterrupted run.
#[test]
fn a_kafka_run_killed_while_s3_is_away_resumes_from_its_spool_and_loses_and_repeats_nothing() {
    let Some(broker) = Broker::start() else { return };
    let dir = scratch("kafka-source-spool");
    let s3 = SeaweedFs::start(&dir);
    let mut proxy = Proxy::start(s3.env["endpoint"].trim_start_matches("http://"));
    produce(&broker.addr);
    let spooled = config(&dir, &broker.addr, &s3, "spooled");
    let text = std::fs::read_to_string(dir.join(&spooled)).unwrap().replace(&s3.env["endpoint"], &format!("http://{}", proxy.addr));
    std::fs::write(dir.join(&spooled), text + "\n[lake.spool]\ndir = \"spool\"\n").unwrap();

    let mut child = itscam_child(&dir, &["run", "--config", &spooled, "--no-progress"], "info,itscam_sinks::writer=debug");
    let lines = StderrLines::of(child.stderr.take().unwrap());
    lines.wait_for("pipeline started");
    proxy.cut();
    lines.wait_for("the lake is unreachable");
    // Killed once a commit that carries a checkpoint waits in the spool (written and synced
    // before the writer says so).
    lines.wait_for("a commit carrying a checkpoint waits in the spool");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("spool/manifest.json")).unwrap()).unwrap();
    assert!(manifest["commits"].as_array().unwrap().iter().any(|c| c["sealed"] == true && !c["checkpoint"].is_null()), "{manifest}");
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.restore();
    let summary = itscam_ok(&dir, &["run", "--config", &spooled, "--no-progress"]);
    assert!(summary.contains("0 left in the outbox"), "{summary}");

    let reference = config(&dir, &broker.addr, &s3, "reference");
    itscam_ok(&dir, &["run", "--config", &reference, "--no-progress"]);
    for t in TABLES {
        let (want, got) = (table(&dir, &reference, t), table(&dir, &spooled, t));
        assert!(!want.is_empty() || t == "anomalies", "{t}: the reference run wrote nothing");
        assert_eq!(got.len(), want.len(), "{t}: rows after the kill during the outage vs uninterrupted");
        assert!(got == want, "{t}: the rows differ");
    }
    let (want, got) = (alert_ids(&broker.addr, "alerts-reference"), alert_ids(&broker.addr, "alerts-spooled"));
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "an alert is on the topic twice");
    assert_eq!(distinct, want.iter().collect::<BTreeSet<_>>());
}
