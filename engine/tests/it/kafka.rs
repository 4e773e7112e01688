//! The pipeline's alerts on a real Kafka-protocol broker (Tansu, started by
//! `scripts/servers/tansu.sh`), read back with a second client (kafka-python): every alert the
//! run raised is on the topic, keyed by camera, once per `alert_id` after dedupe.

use crate::support::*;
use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn the_runs_alerts_are_on_the_kafka_topic() {
    let Some(broker) = Broker::start() else { return };
    let dir = scratch("kafka-alerts");
    let example = std::fs::read_to_string(repo_root().join("examples/detections/config.toml")).unwrap();
    let text = example.replace("examples/data", repo_root().join("examples/data").to_str().unwrap())
        + &format!("\n[kafka]\nbrokers = \"{}\"\n\n[alerts.kafka]\ntopic = \"itscam-alerts\"\n\n[alerts.outbox]\ndir = \"outbox\"\n", broker.addr);
    std::fs::write(dir.join("config.toml"), text).unwrap();
    let summary = itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let raised: usize = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("alerts").map(|n| n.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no alerts line: {summary}"));
    assert!(raised > 10, "{summary}");
    assert!(summary.contains("0 left in the outbox"), "{summary}");

    let python = Command::new("bash").arg(repo_root().join("scripts/servers/tansu.sh")).arg("python").output().unwrap();
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    let out = Command::new(&python)
        .arg(repo_root().join("sinks/tests/kafka_consume.py"))
        .args([&broker.addr, "itscam-alerts", &raised.to_string(), "60"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ids = BTreeSet::new();
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap();
        let alert: serde_json::Value = serde_json::from_str(value).unwrap();
        assert_eq!(alert["camera_id"], key, "keyed by camera");
        ids.insert(alert["alert_id"].as_str().unwrap().to_string());
    }
    // Each raised alert once (consumers dedupe on alert_id; this run had no retries).
    assert_eq!(ids.len(), raised, "{text}");
    let lake: BTreeSet<String> = query_json(&dir, "SELECT DISTINCT alert_id FROM alerts").iter().map(|r| r["alert_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, lake, "the topic and the alerts table hold the same alerts");
}
