//! Question: how many alerts per second does the Kafka alert outlet deliver (every alert synced
//! to the outbox first, idempotent producer, acks=all), and how fast does the outbox drain after
//! a broker outage?
//!
//! It runs a Tansu broker itself (on a free loopback port, in-memory storage): a burst of
//! `--alerts` alerts published as fast as possible, then an outage of `--outage-s` seconds
//! during which `--outage-rate` alerts/s keep coming (they wait in the outbox), then the broker
//! comes back (empty: the outlet recreates the topics) and the outbox drains.
//!
//! Run with: bench/alerts_kafka.sh   (or: alerts-kafka --tansu PATH [--alerts N] [--outage-s S])

use anyhow::Result;
use clap::Parser;
use itscam_bench::tansu::{Broker, wait_until};
use itscam_sinks::alerts::{AlertOutlet, AlertStream, KafkaAlerts, KafkaHealth};
use itscam_types::analytics::{Alert, AlertSource};
use itscam_types::config::{KafkaAlertsConfig, KafkaConfig, OutboxConfig, Severity};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Alerts/s to Kafka through the outbox, and the outbox drain rate after an outage")]
struct Args {
    /// The tansu binary (scripts/servers/tansu.sh path).
    #[arg(long)]
    tansu: PathBuf,
    /// Alerts in the burst.
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Seconds the broker is down.
    #[arg(long, default_value_t = 60)]
    outage_s: u64,
    /// Alerts per second published during the outage.
    #[arg(long, default_value_t = 1_000)]
    outage_rate: u64,
    /// `[alerts.kafka] stall_timeout_ms`: how soon a producer stuck on a restarted broker is
    /// replaced.
    #[arg(long, default_value_t = 2_000)]
    stall_timeout_ms: u64,
    /// Cameras the alerts are spread over (the message key).
    #[arg(long, default_value_t = 16)]
    cameras: usize,
    /// Outbox directory (a fresh temporary one by default).
    #[arg(long)]
    outbox: Option<PathBuf>,
}

fn alert(i: usize, cameras: usize) -> Alert {
    let camera = format!("cam-{}", i % cameras);
    let id = format!("speeding-approach:{camera}:{i}:{}", 1_767_225_600_000u64 + i as u64);
    Alert {
        alert_id: id.clone(),
        source: AlertSource::Violation,
        source_id: id,
        kind: "speeding".into(),
        rule_id: Some("speeding-approach".into()),
        severity: Severity::High,
        message: format!("speeding by car track {i} at approach on {camera}: 72.4 (limit 50.0)"),
        camera_id: camera,
        track_id: Some(i as u64),
        place: Some("approach".into()),
        ts_start_ms: 1_767_225_600_000 + i as u64,
        ts_ms: 1_767_225_601_000 + i as u64,
        value: 72.4,
        limit_value: Some(50.0),
        emitted_at_ms: 1_767_225_601_234,
        evidence: Vec::new(),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut broker = Broker::new(args.tansu.clone())?;
    broker.start()?;
    let tmp = std::env::temp_dir().join(format!("itscam-alerts-kafka-bench-{}", std::process::id()));
    let outbox_dir = args.outbox.clone().unwrap_or(tmp.clone());
    let _ = std::fs::remove_dir_all(&outbox_dir);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let kafka_config = KafkaConfig { brokers: broker.addr(), properties: Default::default(), consumer: Default::default() };
    let topics = KafkaAlertsConfig { stall_timeout_ms: args.stall_timeout_ms, flush_timeout_ms: 60_000, ..KafkaAlertsConfig::new("itscam.alerts") };
    let outbox = OutboxConfig::at(outbox_dir.display().to_string());
    let kafka = KafkaAlerts::start(&kafka_config, &topics, &outbox, rt.handle())?;
    let health: KafkaHealth = kafka.health();

    // Burst.
    let alerts: Vec<Alert> = (0..args.alerts).map(|i| alert(i, args.cameras)).collect();
    let t0 = Instant::now();
    for a in &alerts {
        kafka.publish(a, AlertStream::Raised);
    }
    let publish_s = t0.elapsed().as_secs_f64();
    wait_until(Duration::from_secs(600), "the burst is acknowledged", || health.stats().sent >= args.alerts as u64)?;
    let burst_s = t0.elapsed().as_secs_f64();

    // Outage.
    broker.stop();
    let outage_alerts = (args.outage_s * args.outage_rate) as usize;
    let t_outage = Instant::now();
    for k in 0..outage_alerts {
        // Paced publishing: alert k is due at k / rate seconds into the outage.
        let due = Duration::from_secs_f64(k as f64 / args.outage_rate as f64);
        if let Some(wait) = due.checked_sub(t_outage.elapsed()) {
            std::thread::sleep(wait);
        }
        kafka.publish(&alert(args.alerts + k, args.cameras), AlertStream::Raised);
    }
    if let Some(rest) = Duration::from_secs(args.outage_s).checked_sub(t_outage.elapsed()) {
        std::thread::sleep(rest);
    }
    wait_until(Duration::from_secs(30), "the outage alerts are in the outbox", || health.stats().queued as usize >= outage_alerts)?;
    let waiting = health.stats().queued;
    let outbox_bytes = dir_bytes(&outbox_dir);
    let sent_before = health.stats().sent;

    // Recovery.
    broker.start()?;
    let t_back = Instant::now();
    wait_until(Duration::from_secs(600), "the first delivery after the outage", || health.stats().sent > sent_before)?;
    let first_s = t_back.elapsed().as_secs_f64();
    let t_first = Instant::now();
    wait_until(Duration::from_secs(600), "the outbox drained", || health.stats().queued == 0)?;
    let drain_s = t_first.elapsed().as_secs_f64();
    let total_s = t_back.elapsed().as_secs_f64();

    let summary = rt.block_on(kafka.finish())?;
    let stats = health.stats();
    let _ = std::fs::remove_dir_all(&tmp);

    println!();
    println!("alerts → Kafka: Tansu 0.6.0 on loopback (in-memory), idempotent producer, acks=all, outbox synced per batch; {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!(
        "burst     {:>8} alerts: publish() {:>6.0} ns/alert, all acknowledged in {:>6.2} s → {:>8.0} alerts/s",
        args.alerts,
        publish_s * 1e9 / args.alerts as f64,
        burst_s,
        args.alerts as f64 / burst_s
    );
    println!(
        "outage    {:>8} s at {} alerts/s: {} alerts waited in the outbox ({:.1} MB on disk)",
        args.outage_s,
        args.outage_rate,
        waiting,
        outbox_bytes as f64 / 1e6
    );
    println!(
        "recovery  first delivery {:.2} s after the broker came back (stall_timeout_ms {}), drained in {:.2} s → {:.0} alerts/s ({:.2} s in all)",
        first_s,
        args.stall_timeout_ms,
        drain_s,
        waiting as f64 / drain_s.max(1e-9),
        total_s
    );
    println!(
        "totals    {} alerts acknowledged, {} left in the outbox, {} failed, producer replaced {} times",
        stats.sent, summary.left_in_outbox, stats.failed, stats.resends
    );
    Ok(())
}
