//! The Kafka alert outlet against a real Kafka-protocol broker (Tansu, installed by
//! `scripts/servers/tansu.sh install`), read back with rdkafka and with kafka-python, an
//! independent client. Each test starts its own broker on a free port.
//!
//! Without the broker these tests skip with a message, unless `CI` is set: then they fail.

use itscam_sinks::alerts::outbox::Outbox;
use itscam_sinks::alerts::{AlertOutlet, AlertStream, KafkaAlerts, KafkaSinkError};
use itscam_types::kafka::KafkaClientError;
use itscam_types::{Blame, Blamed};
use itscam_types::analytics::{Alert, AlertSource};
use itscam_types::config::{KafkaAlertsConfig, KafkaConfig, OutboxConfig, Severity};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The broker

fn servers_dir() -> PathBuf {
    std::env::var_os("ITSCAM_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/itscam/servers"))
}

/// A tool installed by `scripts/servers/tansu.sh install`; `None` (skip) when missing outside
/// CI, a failure under CI.
fn installed(what: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{what} not found at {}: run scripts/servers/tansu.sh install", path.display());
    if std::env::var_os("CI").is_some() {
        panic!("{msg} (CI is set: missing servers fail the tests)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// A Tansu broker on 127.0.0.1 with in-memory storage; stopped on drop.
struct Tansu {
    bin: PathBuf,
    args: Vec<&'static str>,
    port: u16,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Tansu {
    fn start() -> Option<Tansu> {
        Tansu::start_with(&[])
    }

    fn start_with(args: &[&'static str]) -> Option<Tansu> {
        let bin = installed("the Tansu broker", std::env::var_os("ITSCAM_TANSU").map(PathBuf::from).unwrap_or_else(|| servers_dir().join("tansu-0.6.0/tansu")))?;
        let port = free_port();
        let mut t = Tansu { bin, args: args.to_vec(), port, child: None, log: tempfile::NamedTempFile::new().unwrap() };
        t.spawn();
        Some(t)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let url = format!("tcp://{}", self.addr());
        let log = self.log.reopen().unwrap();
        let child = Command::new(&self.bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        wait_until(Duration::from_secs(15), "tansu accepts connections", || TcpStream::connect(self.addr()).is_ok());
    }

    /// Stops the broker (its in-memory topics are gone with it).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A fresh broker on the same port.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `cond` until it holds; fails the test with `what` at the deadline.
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Alerts and consumers

const CAMERAS: [&str; 4] = ["cam-1", "cam-2", "cam-3", "cam-4"];

fn alert(i: usize) -> Alert {
    let camera = CAMERAS[i % CAMERAS.len()];
    let severity = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical][i % 4];
    let id = format!("speeding-approach:{camera}:{i}:{}", 1_767_225_600_000u64 + i as u64 * 40);
    Alert {
        alert_id: id.clone(),
        source: AlertSource::Violation,
        source_id: id,
        kind: "speeding".into(),
        rule_id: Some("speeding-approach".into()),
        severity,
        camera_id: camera.into(),
        track_id: Some(i as u64),
        place: Some("approach".into()),
        ts_start_ms: 1_767_225_600_000 + i as u64 * 40,
        ts_ms: 1_767_225_601_000 + i as u64 * 40,
        value: 60.0 + (i % 7) as f64 / 3.0,
        limit_value: Some(50.0),
        message: format!("speeding by car track {i} at approach on {camera}"),
        emitted_at_ms: 1_767_225_700_000,
        evidence: Vec::new(),
    }
}

#[derive(Debug, Clone)]
struct Consumed {
    partition: i32,
    key: String,
    value: String,
    headers: BTreeMap<String, String>,
}

/// Reads `topic` from the beginning with rdkafka until `done` holds or `limit` passes.
fn consume(brokers: &str, topic: &str, limit: Duration, done: impl Fn(&[Consumed]) -> bool) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.auto.commit", "false")
        .set("group.id", format!("itscam-test-{}", free_port()))
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        assignment.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while !done(&out) && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            let headers = m
                .headers()
                .map(|h| h.iter().map(|h| (h.key.to_string(), String::from_utf8(h.value.unwrap_or_default().to_vec()).unwrap())).collect())
                .unwrap_or_default();
            out.push(Consumed {
                partition: m.partition(),
                key: String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                value: String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
                headers,
            });
        }
    }
    out
}

fn alert_ids(msgs: &[Consumed]) -> HashSet<String> {
    msgs.iter().map(|m| m.headers["alert_id"].clone()).collect()
}

/// Per camera key: the alert ids in the order they first appear.
fn first_appearance_by_key(keyed_ids: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, Vec<String>> {
    let mut seen = HashSet::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, id) in keyed_ids {
        if seen.insert(id.clone()) {
            out.entry(key).or_default().push(id);
        }
    }
    out
}

fn expected_by_key(alerts: &[Alert]) -> BTreeMap<String, Vec<String>> {
    first_appearance_by_key(alerts.iter().map(|a| (a.camera_id.clone(), a.alert_id.clone())))
}

fn consumed_by_key(msgs: &[Consumed]) -> BTreeMap<String, Vec<String>> {
    first_appearance_by_key(msgs.iter().map(|m| (m.key.clone(), m.headers["alert_id"].clone())))
}

fn kafka_config(brokers: &str) -> KafkaConfig {
    KafkaConfig { brokers: brokers.into(), properties: BTreeMap::new(), consumer: Default::default() }
}

fn topic_config(name: &str) -> KafkaAlertsConfig {
    KafkaAlertsConfig { startup_timeout_ms: 5_000, flush_timeout_ms: 20_000, retry_backoff_ms: 100, retry_backoff_max_ms: 1_000, stall_timeout_ms: 2_000, ..KafkaAlertsConfig::new(name) }
}

fn runtime() -> tokio::runtime::Runtime {
    // Logs with RUST_LOG (e.g. RUST_LOG=itscam_sinks=debug,librdkafka=info) for diagnosis.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn alerts_arrive_in_order_per_camera_with_key_json_and_headers() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let topics = topic_config("itscam.alerts");
    let kafka = KafkaAlerts::start(&kafka_config(&broker.addr()), &topics, &OutboxConfig::at(outbox.path().display().to_string()), rt.handle()).expect("start");

    let alerts: Vec<Alert> = (0..400).map(alert).collect();
    let escalated: Vec<Alert> = alerts.iter().filter(|a| a.severity == Severity::Critical).cloned().collect();
    for a in &alerts {
        kafka.publish(a, AlertStream::Raised);
        if a.severity == Severity::Critical {
            kafka.publish(a, AlertStream::Escalation);
        }
    }
    let health = kafka.health();
    let summary = rt.block_on(kafka.finish()).expect("finish");
    assert_eq!(summary.sent, (alerts.len() + escalated.len()) as u64, "{summary:?}");
    assert_eq!(summary.left_in_outbox, 0);
    let stats = health.stats();
    assert_eq!((stats.sent, stats.queued, stats.failed), (summary.sent, 0, 0), "{stats:?}");

    let raised = consume(&broker.addr(), "itscam.alerts", Duration::from_secs(30), |m| m.len() >= alerts.len());
    assert_eq!(raised.len(), alerts.len(), "every alert exactly once (no producer retries happened)");
    assert_eq!(consumed_by_key(&raised), expected_by_key(&alerts), "order per camera");
    let by_id: BTreeMap<&str, &Alert> = alerts.iter().map(|a| (a.alert_id.as_str(), a)).collect();
    let mut partition_of_camera = BTreeMap::new();
    for m in &raised {
        let a = by_id[m.headers["alert_id"].as_str()];
        assert_eq!(m.key, a.camera_id);
        assert_eq!(m.value, serde_json::to_string(a).unwrap(), "the value is the alert's JSON");
        let parsed: serde_json::Value = serde_json::from_str(&m.value).unwrap();
        assert_eq!(parsed["alert_id"], a.alert_id.as_str());
        assert_eq!(parsed["severity"], a.severity.as_str());
        assert_eq!(m.headers["kind"], "speeding");
        assert_eq!(m.headers["severity"], a.severity.as_str());
        // One camera, one partition.
        assert_eq!(*partition_of_camera.entry(m.key.clone()).or_insert(m.partition), m.partition);
    }

    let escalations = consume(&broker.addr(), "itscam.alerts.escalation", Duration::from_secs(30), |m| m.len() >= escalated.len());
    assert_eq!(escalations.len(), escalated.len());
    assert_eq!(consumed_by_key(&escalations), expected_by_key(&escalated));

    // A second, independent client (kafka-python) reads the same topic.
    let Some(python) = installed("kafka-python", servers_dir().join("kafka-python-3.0.12/bin/python")) else { return };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka_consume.py");
    let out = Command::new(python).args([script, &broker.addr(), "itscam.alerts", &alerts.len().to_string(), "60"]).output().expect("run kafka-python");
    assert!(out.status.success(), "kafka-python consumer failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("key value");
            (k.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(lines.len(), alerts.len());
    let keyed_ids = lines.iter().map(|(k, v)| {
        let a: Alert = serde_json::from_str(v).expect("the value parses as an Alert");
        assert_eq!(*k, a.camera_id);
        assert_eq!(*v, serde_json::to_string(by_id[a.alert_id.as_str()]).unwrap());
        (k.clone(), a.alert_id)
    });
    assert_eq!(first_appearance_by_key(keyed_ids.collect::<Vec<_>>()), expected_by_key(&alerts));
}

#[test]
fn alerts_published_while_the_broker_is_down_wait_in_the_outbox_and_arrive_in_order() {
    let Some(mut broker) = Tansu::start() else { return };
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let kafka = KafkaAlerts::start(&kafka_config(&broker.addr()), &topic_config("alerts"), &OutboxConfig::at(outbox.path().display().to_string()), rt.handle()).expect("start");
    let health = kafka.health();
    let alerts: Vec<Alert> = (0..300).map(alert).collect();

    for a in &alerts[..100] {
        kafka.publish(a, AlertStream::Raised);
    }
    wait_until(Duration::from_secs(30), "the first 100 are acknowledged", || health.stats().sent == 100);
    let before = consume(&broker.addr(), "alerts", Duration::from_secs(30), |m| m.len() >= 100);
    assert_eq!(consumed_by_key(&before), expected_by_key(&alerts[..100]));

    broker.stop();
    for a in &alerts[100..] {
        kafka.publish(a, AlertStream::Raised);
    }
    wait_until(Duration::from_secs(30), "the outage is noticed", || !health.stats().broker_reachable);
    let stats = health.stats();
    assert_eq!((stats.sent, stats.queued), (100, 200), "{stats:?}");
    // They are on disk: another reader of the outbox files would find them.
    assert!(std::fs::read_dir(outbox.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".seg")));

    // The broker comes back empty (in-memory storage): the outlet recreates the topics and
    // delivers what waited, in order.
    broker.restart();
    wait_until(Duration::from_secs(60), "the outbox drained", || {
        let s = health.stats();
        s.sent >= 300 && s.queued == 0
    });
    let summary = rt.block_on(kafka.finish()).expect("finish");
    assert_eq!(summary.left_in_outbox, 0, "{summary:?}");
    assert!(health.stats().broker_reachable);

    let after = consume(&broker.addr(), "alerts", Duration::from_secs(30), |m| alert_ids(m).len() >= 200);
    let want: HashSet<String> = alerts[100..].iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(alert_ids(&after), want, "every alert of the outage, nothing else");
    assert_eq!(consumed_by_key(&after), expected_by_key(&alerts[100..]), "in order per camera");
}

#[test]
fn an_engine_restart_sends_the_outbox_first_and_loses_nothing() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let outbox_config = OutboxConfig::at(outbox.path().display().to_string());
    let topics = topic_config("alerts");
    let alerts: Vec<Alert> = (0..300).map(alert).collect();

    let first = KafkaAlerts::start(&kafka_config(&broker.addr()), &topics, &outbox_config, rt.handle()).expect("start");
    let first_health = first.health();
    for a in &alerts[..100] {
        first.publish(a, AlertStream::Raised);
    }
    wait_until(Duration::from_secs(30), "the first 100 are acknowledged", || first_health.stats().sent == 100);
    for a in &alerts[100..200] {
        first.publish(a, AlertStream::Raised);
    }
    // The engine stops without flushing: what was not acknowledged stays in the outbox.
    drop(first);
    let delivered_by_first = first_health.stats().sent;
    {
        let (_, recovery) = Outbox::open(outbox.path(), outbox_config.segment_bytes).unwrap();
        assert!(recovery.undelivered + delivered_by_first >= 200, "{recovery:?}, first run sent {delivered_by_first}");
        assert!(recovery.undelivered > 0, "the drop left undelivered alerts (first run sent {delivered_by_first})");
    }

    let second = KafkaAlerts::start(&kafka_config(&broker.addr()), &topics, &outbox_config, rt.handle()).expect("restart");
    for a in &alerts[200..] {
        second.publish(a, AlertStream::Raised);
    }
    let summary = rt.block_on(second.finish()).expect("finish");
    assert_eq!(summary.left_in_outbox, 0, "{summary:?}");

    let msgs = consume(&broker.addr(), "alerts", Duration::from_secs(30), |m| alert_ids(m).len() >= 300);
    let want: HashSet<String> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(alert_ids(&msgs), want, "deduplicated on alert_id: exactly the alerts published");
    assert_eq!(consumed_by_key(&msgs), expected_by_key(&alerts), "outbox first, then the new alerts, per camera in order");
    // Duplicates can only be alerts delivered before the cursor was written.
    assert!(msgs.len() as u64 <= 300 + delivered_by_first, "{} messages", msgs.len());
}

#[test]
fn an_alert_the_broker_can_never_take_is_dead_lettered_and_the_rest_flows() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let mut kafka_cfg = kafka_config(&broker.addr());
    // The client refuses messages larger than this (librdkafka's limit, checked on produce).
    kafka_cfg.properties.insert("message.max.bytes".into(), "4096".into());
    let kafka = KafkaAlerts::start(&kafka_cfg, &topic_config("alerts"), &OutboxConfig::at(outbox.path().display().to_string()), rt.handle()).expect("start");
    let mut alerts: Vec<Alert> = (0..20).map(alert).collect();
    alerts[7].message = "x".repeat(10_000);
    for a in &alerts {
        kafka.publish(a, AlertStream::Raised);
    }
    let health = kafka.health();
    let summary = rt.block_on(kafka.finish()).expect("finish");
    assert_eq!((summary.sent, summary.dead_lettered, summary.left_in_outbox), (19, 1, 0), "{summary:?}");
    assert_eq!(health.stats().failed, 1);
    let dead = std::fs::read_to_string(outbox.path().join("dead-letter.jsonl")).unwrap();
    let dead: serde_json::Value = serde_json::from_str(dead.trim()).unwrap();
    assert_eq!(dead["alert"]["alert_id"], alerts[7].alert_id.as_str());
    assert!(dead["reason"].as_str().unwrap().contains("too large"), "{dead}");

    let msgs = consume(&broker.addr(), "alerts", Duration::from_secs(30), |m| m.len() >= 19);
    let mut rest = alerts.clone();
    rest.remove(7);
    assert_eq!(consumed_by_key(&msgs), expected_by_key(&rest));
}

#[test]
fn start_up_errors_name_the_broker_and_the_topic() {
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let outbox_config = OutboxConfig::at(outbox.path().display().to_string());

    // Nothing listens on this port.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let topics = KafkaAlertsConfig { startup_timeout_ms: 1_500, ..topic_config("alerts") };
    let err = KafkaAlerts::start(&kafka_config(&nowhere), &topics, &outbox_config, rt.handle()).unwrap_err();
    assert!(matches!(err, KafkaSinkError::Client(KafkaClientError::Unreachable { .. })), "{err}");
    assert_eq!(err.blame(), Blame::External);
    let text = err.to_string();
    assert!(text.contains(&nowhere) && text.contains("\"alerts\"") && text.contains("1500 ms"), "{text}");

    // Bad names are caught before any connection, every problem at once.
    let bad = KafkaAlertsConfig { escalation_topic: Some("also bad".into()), ..topic_config("bad topic!") };
    let err = KafkaAlerts::start(&kafka_config(&nowhere), &bad, &outbox_config, rt.handle()).unwrap_err();
    assert_eq!(err.blame(), Blame::User);
    let text = err.to_string();
    assert!(text.contains("alerts.kafka.topic: \"bad topic!\"") && text.contains("alerts.kafka.escalation_topic: \"also bad\""), "{text}");

    let Some(broker) = Tansu::start() else { return };
    let missing = KafkaAlertsConfig { create_topics: false, ..topic_config("not-created") };
    let err = KafkaAlerts::start(&kafka_config(&broker.addr()), &missing, &outbox_config, rt.handle()).unwrap_err();
    assert!(matches!(err, KafkaSinkError::Client(KafkaClientError::TopicMissing { .. })), "{err}");
    assert_eq!(err.blame(), Blame::User);
    let text = err.to_string();
    assert!(text.contains(&broker.addr()) && text.contains("\"not-created\"") && text.contains("create_topics = false"), "{text}");

    // One engine per outbox directory.
    let running = KafkaAlerts::start(&kafka_config(&broker.addr()), &topic_config("alerts"), &outbox_config, rt.handle()).expect("start");
    let err = KafkaAlerts::start(&kafka_config(&broker.addr()), &topic_config("alerts"), &outbox_config, rt.handle()).unwrap_err();
    assert!(err.to_string().contains("in use by another process"), "{err}");
    assert_eq!(err.blame(), Blame::User);
    drop(running);
}

#[test]
fn a_broker_that_refuses_the_credentials_is_a_start_up_error() {
    let Some(broker) = Tansu::start_with(&["--authentication"]) else { return };
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let mut kafka = kafka_config(&broker.addr());
    for (k, v) in [("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanisms", "SCRAM-SHA-256"), ("sasl.username", "itscam"), ("sasl.password", "wrong")] {
        kafka.properties.insert(k.into(), v.into());
    }
    let topics = KafkaAlertsConfig { startup_timeout_ms: 3_000, ..topic_config("alerts") };
    let err = KafkaAlerts::start(&kafka, &topics, &OutboxConfig::at(outbox.path().display().to_string()), rt.handle()).unwrap_err();
    assert!(matches!(err, KafkaSinkError::Client(KafkaClientError::CredentialsRefused { .. })), "{err}");
    assert_eq!(err.blame(), Blame::User);
    let text = err.to_string();
    assert!(text.contains(&broker.addr()) && text.contains("\"alerts\"") && text.contains("SASL authentication error"), "{text}");
}

#[test]
fn transactional_mode_commits_batches_against_tansu() {
    // Tansu answers the transaction calls but does not hide aborted batches; this checks that
    // the transactional path (init, begin, send, commit, acknowledge on commit) delivers in order.
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    let outbox = tempfile::tempdir().unwrap();
    let topics = KafkaAlertsConfig { transactional: true, ..topic_config("alerts") };
    let kafka = KafkaAlerts::start(&kafka_config(&broker.addr()), &topics, &OutboxConfig::at(outbox.path().display().to_string()), rt.handle()).expect("start");
    let alerts: Vec<Alert> = (0..100).map(alert).collect();
    for a in &alerts {
        kafka.publish(a, AlertStream::Raised);
    }
    let summary = rt.block_on(kafka.finish()).expect("finish");
    assert_eq!((summary.sent, summary.left_in_outbox), (100, 0), "{summary:?}");
    let msgs = consume(&broker.addr(), "alerts", Duration::from_secs(30), |m| alert_ids(m).len() >= 100);
    assert_eq!(consumed_by_key(&msgs), expected_by_key(&alerts));
}
