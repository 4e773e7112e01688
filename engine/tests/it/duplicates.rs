//! A frame delivered twice is stored once (at-least-once producers: a retried push, a Kafka
//! producer's retry, an edge site re-sending): the red-light scenario with every 7th frame line
//! sent twice, and one frame sent again with other content, gives the tables of the clean input
//! — through a file, stdin and push — with the differing repeat in `errors` as
//! `duplicate_frame` and every repeat counted.

use crate::golden::TABLES;
use crate::support::*;
use std::io::Write;
use std::path::Path;

/// The scenario's frame lines with every 7th sent twice, and frame 40 sent again with its
/// boxes moved (a differing repeat); returns the lines and how many repeats there are.
fn duplicated(clean: &str) -> (String, usize) {
    let mut out = String::new();
    let mut repeats = 0;
    for (i, line) in clean.lines().enumerate() {
        out += line;
        out.push('\n');
        if i % 7 == 3 {
            out += line;
            out.push('\n');
            repeats += 1;
        }
        if i == 40 {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["width"] = 1001.into();
            out += &v.to_string();
            out.push('\n');
            repeats += 1;
        }
    }
    (out, repeats)
}

/// Every table but `errors`, as text.
fn tables(dir: &Path) -> Vec<String> {
    TABLES.iter().filter(|(t, _)| *t != "errors").map(|(t, sql)| format!("{t}: {}", serde_json::to_string(&query_json(dir, sql)).unwrap())).collect()
}

/// The scenario in a fresh directory, with the camera reading `source`.
fn scenario(name: &str, source: &str, extra: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    copy_dir(&repo_root().join("engine/tests/scenarios/rule-red-light"), &dir);
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap().replace("source = \"detections:input.jsonl\"", &format!("source = \"{source}\""));
    std::fs::write(dir.join("config.toml"), format!("{extra}{config}")).unwrap();
    dir
}

/// The `errors` rows of the repeats: the differing one only.
fn assert_only_the_differing_repeat_is_an_error(dir: &Path) {
    let errors = query_json(dir, "SELECT kind, line FROM errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["kind"], "duplicate_frame");
}

#[test]
fn frames_delivered_twice_are_stored_once_from_a_file_stdin_and_push() {
    let clean_dir = scenario("dup-clean", "detections:input.jsonl", "");
    itscam_ok(&clean_dir, &["run", "--config", "config.toml", "--no-progress"]);
    let expected = tables(&clean_dir);
    assert!(query_int(&clean_dir, "SELECT count(*) AS n FROM violations") > 0, "the scenario has a violation to keep");
    let clean = std::fs::read_to_string(clean_dir.join("input.jsonl")).unwrap();
    let (twice, repeats) = duplicated(&clean);

    // A file.
    let dir = scenario("dup-file", "detections:input.jsonl", "");
    std::fs::write(dir.join("input.jsonl"), &twice).unwrap();
    let summary = itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    assert!(summary.contains(&format!("duplicates  {repeats:>12}")), "{summary}");
    assert_eq!(tables(&dir), expected, "a file");
    assert_only_the_differing_repeat_is_an_error(&dir);

    // Standard input.
    let dir = scenario("dup-stdin", "detections:-", "");
    let mut child = itscam_child(&dir, &["run", "--config", "config.toml", "--no-progress"], "warn");
    child.stdin.take().unwrap().write_all(twice.as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(tables(&dir), expected, "stdin");
    assert_only_the_differing_repeat_is_an_error(&dir);

    // Pushed, in bodies of 20 lines (a client retrying a body it had no answer for sends its
    // lines again). Push cameras take frames up to a day old: the scenario is moved to an hour
    // ago, and the clean input is pushed the same way for the reference.
    let shift = itscam_types::time::now_ms() - 3_600_000 - 1_767_225_600_000;
    let pushed = |name: &str, input: &str| {
        let dir = scenario(name, "push", "[service]\npush_max_delay_ms = 86400000\nshutdown_grace_ms = 60000\n");
        let signals = std::fs::read_to_string(dir.join("signals.jsonl")).unwrap();
        std::fs::write(dir.join("signals.jsonl"), shifted(&signals, shift).join("\n")).unwrap();
        let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
        for body in shifted(input, shift).chunks(20) {
            let (status, _, answer) = crate::push::push(&served.addr, "/api/v1/cameras/cam-1/detections", body);
            assert_eq!(status, 200, "{answer}");
        }
        let (status, _) = served.terminate();
        assert!(status.success());
        dir
    };
    let reference = tables(&pushed("dup-push-clean", &clean));
    assert!(reference.iter().any(|t| t.starts_with("violations: [{")), "{reference:?}");
    let dir = pushed("dup-push", &twice);
    assert_eq!(tables(&dir), reference, "push");
    assert_only_the_differing_repeat_is_an_error(&dir);
}

/// The same through a Kafka topic (Tansu): a producer's retry sends a message again.
#[test]
fn frames_delivered_twice_through_kafka_are_stored_once() {
    let Some(broker) = Broker::start() else { return };
    let clean_dir = scenario("dup-kafka-clean", "detections:input.jsonl", "");
    itscam_ok(&clean_dir, &["run", "--config", "config.toml", "--no-progress"]);
    let expected = tables(&clean_dir);
    let (twice, repeats) = duplicated(&std::fs::read_to_string(clean_dir.join("input.jsonl")).unwrap());

    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let mut client = rdkafka::config::ClientConfig::new();
    client.set("bootstrap.servers", &broker.addr);
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = client.create().unwrap();
    let created = futures::executor::block_on(admin.create_topics([&NewTopic::new("dup-frames", 1, TopicReplication::Fixed(1))], &AdminOptions::new())).unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: ThreadedProducer<DefaultProducerContext> = client.clone().set("linger.ms", "5").create().unwrap();
    for line in twice.lines() {
        producer.send(BaseRecord::to("dup-frames").key("cam-1").payload(line)).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();

    let kafka = format!("[kafka]\nbrokers = \"{}\"\n[kafka.consumer]\ngroup_id = \"dup-frames\"\nstop_at_end = true\n", broker.addr);
    let dir = scenario("dup-kafka", "kafka:dup-frames", "");
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap() + "\n" + &kafka;
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let summary = itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    assert!(summary.contains(&format!("duplicates  {repeats:>12}")), "{summary}");
    assert_eq!(tables(&dir), expected, "Kafka");
    assert_only_the_differing_repeat_is_an_error(&dir);
}
