//! The book's state machine with explicit times, and the hub task on Tokio's paused clock.

use super::book::Book;
use super::*;
use itscam_sinks::alerts::AlertStream;
use itscam_sinks::{Lake, LakeWriter};
use itscam_types::{Blamed, ObjectClass};
use itscam_types::analytics::{Alert, AlertStatus, AnomalyRow, ViolationRow};
use itscam_types::config::{LifecycleConfig, RuleKind, Severity, WriterConfig};
use std::sync::Mutex;
use std::time::Duration;

fn violation(rule: &str, track: u64, start: u64, severity: Severity, ongoing: bool) -> ViolationRow {
    ViolationRow {
        violation_id: format!("{rule}:cam-1:{track}:{start}"),
        rule_id: rule.into(),
        kind: RuleKind::Speeding,
        camera_id: "cam-1".into(),
        track_id: track,
        class: ObjectClass::from_name("car").unwrap(),
        ts_start_ms: start,
        ts_end_ms: start + if ongoing { 1_000 } else { 4_000 },
        value: if ongoing { 64.0 } else { 71.5 },
        limit_value: Some(50.0),
        severity,
        place: "approach".into(),
        ongoing,
        evidence: Vec::new(),
    }
}

fn raised(rule: &str, track: u64, start: u64, severity: Severity) -> Alert {
    Alert::from_violation(&violation(rule, track, start, severity, true), 0)
}

fn lifecycle(suppress_ms: u64) -> LifecycleConfig {
    LifecycleConfig { suppress_ms, escalate_high_ms: 1_000, escalate_critical_ms: 500, retain_resolved_ms: 10_000, max_alerts: 100, flush_timeout_ms: 1_000 }
}

fn status_of(book: &Book, id: &str) -> AlertStatus {
    book.get(id).unwrap().status
}

#[test]
fn the_closing_copy_of_a_violation_updates_the_alert_and_raises_nothing() {
    let mut book = Book::new(lifecycle(60_000));
    let first = book.raise(Alert::from_violation(&violation("r1", 7, 10_000, Severity::High, true), 1), 5);
    assert_eq!((first.rows.len(), first.events[0].kind), (1, HubEventKind::RAISED));
    let second = book.raise(Alert::from_violation(&violation("r1", 7, 10_000, Severity::High, false), 2), 6);
    assert!(second.rows.is_empty(), "no second alerts row");
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].kind, HubEventKind::Update, "the new value is shown, not raised");
    let all = book.list(&AlertFilter::default());
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].alert.value, all[0].alert.ts_ms), (71.5, 11_000), "value from the closing copy, raise time kept");
    // A third identical copy (a replay) changes nothing at all.
    let third = book.raise(Alert::from_violation(&violation("r1", 7, 10_000, Severity::High, false), 3), 7);
    assert!(third.rows.is_empty() && third.events.is_empty());
    assert_eq!((book.counters().raised, book.counters().duplicates), (1, 2));
}

#[test]
fn repeats_are_suppressed_within_the_window_and_published_after_it() {
    let mut book = Book::new(lifecycle(60_000));
    let a = raised("r1", 1, 100_000, Severity::High);
    book.raise(a.clone(), 1);
    // The same vehicle breaking the same rule again 30 s of event time later: a repeat.
    let b = raised("r1", 1, 130_000, Severity::High);
    let fx = book.raise(b.clone(), 2);
    assert_eq!(fx.rows.len(), 1);
    assert_eq!((fx.rows[0].alert_id.as_str(), fx.rows[0].suppressed_count), (a.alert_id.as_str(), 1));
    assert_eq!(fx.rows[0].note.as_deref(), Some(format!("suppressed repeat {}", b.alert_id).as_str()));
    assert_eq!(fx.events[0].kind, HubEventKind::Update);
    // The closing copy of the suppressed violation is a duplicate, not a new alert.
    let closing = Alert::from_violation(&violation("r1", 1, 130_000, Severity::High, false), 3);
    assert!(book.raise(closing, 3).rows.is_empty());
    let err = book.get(&b.alert_id).unwrap_err();
    assert!(err.to_string().contains(&format!("suppressed as a repeat of {}", a.alert_id)), "{err}");
    // Another rule on the same camera is not a repeat, nor is another vehicle.
    assert_eq!(book.raise(raised("r2", 1, 131_000, Severity::High), 4).events[0].kind, HubEventKind::RAISED);
    assert_eq!(book.raise(raised("r1", 9, 131_500, Severity::High), 4).events[0].kind, HubEventKind::RAISED);
    // A more severe one is not hidden.
    assert_eq!(book.raise(raised("r1", 1, 140_000, Severity::Critical), 5).events[0].kind, HubEventKind::RAISED);
    // Exactly suppress_ms after the window's anchor (now the critical one at 140 s): published.
    let c = raised("r1", 1, 200_000, Severity::High);
    assert_eq!(book.raise(c.clone(), 6).events[0].kind, HubEventKind::RAISED);
    // ... and it anchors the next window.
    assert_eq!(book.raise(raised("r1", 1, 210_000, Severity::High), 7).rows[0].alert_id, c.alert_id);
    // Once that alert is resolved, a repeat is news again.
    book.resolve(&c.alert_id, "ops", None, 8).unwrap();
    assert_eq!(book.raise(raised("r1", 1, 215_000, Severity::High), 9).events[0].kind, HubEventKind::RAISED);
    assert_eq!(book.get(&c.alert_id).unwrap().suppressed_count, 1);
    assert_eq!(book.get(&a.alert_id).unwrap().suppressed_count, 1);
    let n = book.counters();
    assert_eq!((n.raised, n.suppressed, n.duplicates), (6, 2, 1));
}

#[test]
fn anomalies_repeat_per_kind_camera_and_zone() {
    let anomaly = |zone: &str, start: u64| AnomalyRow {
        anomaly_id: format!("unusual_dwell:cam-1:{zone}:{start}"),
        kind: itscam_types::analytics::AnomalyKind::UnusualDwell,
        camera_id: "cam-1".into(),
        zone_id: Some(zone.into()),
        window_start_ms: start,
        window_end_ms: start + 10_000,
        value: 90.0,
        baseline: 20.0,
        baseline_std: 5.0,
        score: 14.0,
        severity: Severity::Medium,
    };
    let mut book = Book::new(lifecycle(60_000));
    assert_eq!(book.raise(Alert::from_anomaly(&anomaly("a", 0), 0), 1).events[0].kind, HubEventKind::RAISED);
    assert_eq!(book.raise(Alert::from_anomaly(&anomaly("b", 10_000), 0), 2).events[0].kind, HubEventKind::RAISED);
    assert_eq!(book.raise(Alert::from_anomaly(&anomaly("a", 10_000), 0), 3).events[0].kind, HubEventKind::Update);
    assert_eq!(book.counters().suppressed, 1);
}

#[test]
fn no_suppression_when_the_window_is_zero() {
    let mut book = Book::new(lifecycle(0));
    book.raise(raised("r1", 1, 100_000, Severity::Low), 1);
    assert_eq!(book.raise(raised("r1", 2, 100_001, Severity::Low), 2).events[0].kind, HubEventKind::RAISED);
}

#[test]
fn the_lifecycle_goes_open_acknowledged_resolved_and_refuses_the_rest() {
    let mut book = Book::new(lifecycle(60_000));
    let a = raised("r1", 1, 100_000, Severity::Medium);
    book.raise(a.clone(), 50);
    let id = a.alert_id.as_str();
    let unknown = book.acknowledge("nope", "ana", None, 50).unwrap_err();
    assert!(matches!(unknown, HubError::NotFound { .. }) && unknown.blame() == itscam_types::Blame::User, "{unknown}");
    // Same wall-clock ms for every change: the rows are still strictly ordered.
    let ack = book.acknowledge(id, "ana", Some("on it".into()), 50).unwrap();
    assert_eq!((ack.rows[0].status, ack.rows[0].changed_by.as_str(), ack.rows[0].note.as_deref()), (AlertStatus::Acknowledged, "ana", Some("on it")));
    assert_eq!(ack.rows[0].changed_at_ms, 51);
    let again = book.acknowledge(id, "bo", None, 50).unwrap_err();
    assert!(matches!(&again, HubError::Conflict { reason, .. } if reason.contains("already acknowledged by ana")), "{again}");
    assert_eq!(again.blame(), itscam_types::Blame::User, "the same request fails again");
    let res = book.resolve(id, "bo", None, 50).unwrap();
    assert_eq!((res.rows[0].status, res.rows[0].changed_at_ms), (AlertStatus::Resolved, 52));
    let late_ack = book.acknowledge(id, "cy", None, 60).unwrap_err();
    assert!(matches!(&late_ack, HubError::Conflict { reason, .. } if reason.contains("resolved by bo") && reason.contains("cannot be acknowledged")), "{late_ack}");
    assert!(matches!(book.resolve(id, "cy", None, 60), Err(HubError::Conflict { .. })));
    let view = book.get(id).unwrap();
    assert_eq!((view.acknowledged.unwrap().by, view.resolved.unwrap().by), ("ana".to_string(), "bo".to_string()));
    // Open → resolved directly is allowed too.
    let b = raised("r2", 2, 100_000, Severity::Medium);
    book.raise(b.clone(), 70);
    book.resolve(&b.alert_id, "cy", Some("false positive".into()), 71).unwrap();
    assert_eq!(status_of(&book, &b.alert_id), AlertStatus::Resolved);
}

#[test]
fn only_open_high_and_critical_alerts_escalate_once_their_timeout_passed() {
    let mut book = Book::new(lifecycle(0));
    let high = raised("r-high", 1, 0, Severity::High);
    let crit = raised("r-crit", 2, 0, Severity::Critical);
    let low = raised("r-low", 3, 0, Severity::Low);
    let acked = raised("r-acked", 4, 0, Severity::High);
    for a in [&high, &crit, &low, &acked] {
        book.raise(a.clone(), 1_000);
    }
    book.acknowledge(&acked.alert_id, "ana", None, 1_200).unwrap();
    assert!(book.escalate_due(1_499).rows.is_empty());
    let fx = book.escalate_due(1_500);
    assert_eq!(fx.rows.iter().map(|r| r.alert_id.as_str()).collect::<Vec<_>>(), [crit.alert_id.as_str()]);
    assert!(fx.rows[0].escalated);
    assert_eq!(fx.rows[0].note.as_deref(), Some("not acknowledged within 500 ms"));
    assert!(book.escalate_due(1_999).rows.is_empty());
    let fx = book.escalate_due(2_000);
    assert_eq!(fx.rows.iter().map(|r| r.alert_id.as_str()).collect::<Vec<_>>(), [high.alert_id.as_str()]);
    assert_eq!((fx.events[0].kind, fx.rows[0].status), (HubEventKind::ESCALATION, AlertStatus::Open));
    assert!(book.escalate_due(1_000_000).rows.is_empty(), "once, and never for low or acknowledged alerts");
    assert_eq!(book.next_escalation(), None);
    assert_eq!(book.counters().escalated, 2);
}

#[test]
fn resolved_alerts_leave_after_the_retention_and_the_book_is_capped() {
    let mut config = lifecycle(0);
    config.max_alerts = 3;
    let mut book = Book::new(config);
    let a = raised("r1", 1, 0, Severity::Low);
    book.raise(a.clone(), 0);
    book.resolve(&a.alert_id, "ana", None, 100).unwrap();
    book.sweep(100 + 9_999);
    assert!(book.get(&a.alert_id).is_ok());
    book.sweep(100 + 10_000);
    let err = book.get(&a.alert_id).unwrap_err();
    assert!(err.to_string().contains("left the in-memory book"), "{err}");
    // A late copy of a retired alert does not raise it again.
    assert!(book.raise(a.clone(), 20_000).events.is_empty());
    // Over the cap: resolved ones go first, then the oldest unresolved.
    let ids: Vec<String> = (10..15).map(|t| raised("r2", t, t * 1_000, Severity::Low).alert_id).collect();
    for (i, id) in ids.iter().enumerate().take(3) {
        book.raise(raised("r2", 10 + i as u64, (10 + i as u64) * 1_000, Severity::Low), 30_000);
        assert!(book.get(id).is_ok());
    }
    book.resolve(&ids[1], "ana", None, 30_001).unwrap();
    book.raise(raised("r2", 13, 13_000, Severity::Low), 30_002);
    assert!(book.get(&ids[1]).is_err(), "the resolved one made room");
    book.raise(raised("r2", 14, 14_000, Severity::Low), 30_003);
    assert!(book.get(&ids[0]).is_err(), "then the oldest unresolved");
    assert_eq!(book.len(), 3);
    assert_eq!((book.counters().retired, book.counters().evicted_unresolved), (2, 1));
}

/// An outlet that records what it was handed (the hub's side of the outlet contract).
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, AlertStream)>>);

impl itscam_sinks::alerts::AlertOutlet for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn publish(&self, alert: &Alert, stream: AlertStream) {
        self.0.lock().unwrap().push((alert.alert_id.clone(), stream));
    }
}

fn temp_lake(name: &str) -> Lake {
    let dir = std::env::temp_dir().join(format!("itscam-alerts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Lake::open(&format!("file://{}", dir.display())).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_hub_escalates_on_tokio_time_to_the_outlets_and_sse() {
    let rt = tokio::runtime::Handle::current();
    // The lake writer needs a multi-thread runtime (it encodes in `block_in_place`); the hub runs
    // on this test's paused one.
    let writer_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (lake, writer) = LakeWriter::start(temp_lake("hub"), WriterConfig::default(), "t".into(), writer_rt.handle());
    let recorder = std::sync::Arc::new(Recorder::default());
    let config = itscam_types::config::AlertsConfig { lifecycle: lifecycle(60_000), ..Default::default() };
    let (hub, task) = AlertHub::start(&config, vec![recorder.clone()], lake, &rt);
    let mut events = hub.subscribe().await.unwrap();

    let high = raised("r-high", 1, 0, Severity::High);
    let low = raised("r-low", 2, 0, Severity::Low);
    let acked = raised("r-acked", 3, 0, Severity::High);
    assert!(hub.raise(high.clone()) && hub.raise(low.clone()) && hub.raise(acked.clone()));
    hub.acknowledge(&acked.alert_id, "ana", None).await.unwrap();
    let raised_at = hub.get(&high.alert_id).await.unwrap().raised_at_ms;

    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(hub.counters().await.unwrap().escalated, 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(hub.counters().await.unwrap().escalated, 1);
    let view = hub.get(&high.alert_id).await.unwrap();
    assert!(view.escalated);
    assert_eq!(view.escalated_at_ms, Some(raised_at + 1_000));
    tokio::time::advance(Duration::from_secs(3_600)).await;
    assert_eq!(hub.counters().await.unwrap().escalated, 1, "nothing else escalates");

    let published = recorder.0.lock().unwrap().clone();
    assert_eq!(published, [
        (high.alert_id.clone(), AlertStream::Raised),
        (low.alert_id.clone(), AlertStream::Raised),
        (acked.alert_id.clone(), AlertStream::Raised),
        (high.alert_id.clone(), AlertStream::Escalation),
    ]);
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        seen.push((ev.kind, ev.view.alert.alert_id.clone()));
    }
    assert_eq!(seen, [
        (HubEventKind::RAISED, high.alert_id.clone()),
        (HubEventKind::RAISED, low.alert_id.clone()),
        (HubEventKind::RAISED, acked.alert_id.clone()),
        (HubEventKind::Update, acked.alert_id.clone()),
        (HubEventKind::ESCALATION, high.alert_id.clone()),
    ]);

    let summary = task.finish().await.unwrap();
    assert_eq!(summary.rows, 5, "3 raised, 1 acknowledged, 1 escalated");
    assert_eq!(summary.outlets, ["recorder"]);
    assert!(!hub.raise(high), "the hub has stopped");
    assert!(matches!(hub.list(AlertFilter::default()).await, Err(HubError::Stopped)));
    assert!(events.recv().await.is_err(), "SSE subscribers see the end");
    let written = writer.finish().await.unwrap();
    assert_eq!(written.rows(itscam_sinks::Table::Alerts), 5);
    writer_rt.shutdown_background();
}

/// An outlet whose deliveries never finish.
struct Stuck;

impl itscam_sinks::alerts::AlertOutlet for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }
    fn publish(&self, _: &Alert, _: AlertStream) {}
    fn flush(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn finishing_waits_for_outlets_no_longer_than_the_flush_timeout() {
    let writer_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (lake, writer) = LakeWriter::start(temp_lake("stuck"), WriterConfig::default(), "t".into(), writer_rt.handle());
    let config = itscam_types::config::AlertsConfig { lifecycle: lifecycle(0), ..Default::default() };
    let outlets: Vec<std::sync::Arc<dyn itscam_sinks::alerts::AlertOutlet>> = vec![std::sync::Arc::new(Stuck), std::sync::Arc::new(Recorder::default())];
    let (hub, task) = AlertHub::start(&config, outlets, lake, &tokio::runtime::Handle::current());
    hub.raise(raised("r1", 1, 0, Severity::Low));
    let summary = task.finish().await.unwrap();
    assert_eq!(summary.unflushed, ["stuck"]);
    assert_eq!(summary.outlets, ["stuck", "recorder"]);
    assert_eq!(writer.finish().await.unwrap().rows(itscam_sinks::Table::Alerts), 1, "the row is written all the same");
    writer_rt.shutdown_background();
}

#[test]
fn sse_event_names_are_the_stream_names_and_update() {
    let names = [HubEventKind::RAISED, HubEventKind::ESCALATION, HubEventKind::Update].map(HubEventKind::as_str);
    assert_eq!(names, ["alert", "escalation", "update"]);
}
