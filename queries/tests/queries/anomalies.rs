//! Anomalies against EWMA baselines: a steady road, then a blocked one (windows with no rows
//! at all), a speed collapse, and an unusually long dwell — each flagged, the steady windows not.

use itscam_queries::anomaly::{Detector, Tail, anomalies};
use itscam_queries::observe::ZoneWindow;
use itscam_types::analytics::{AnomalyKind, AnomalyRow, TrafficMetricRow};
use itscam_types::config::AnomalyConfig;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

const W: u64 = 60_000;
const T0: u64 = 1_767_225_600_000;

fn row(window: u64, count: u64, speed: f64) -> TrafficMetricRow {
    TrafficMetricRow {
        camera_id: "cam-1".into(),
        window_start_ms: T0 + window * W,
        window_end_ms: T0 + (window + 1) * W,
        class: "all".into(),
        vehicle_count: count,
        avg_speed_kmh: Some(speed),
        density_veh_per_km: None,
        congestion_level: None,
        revision: 0,
    }
}

#[test]
fn steady_then_blocked_then_slow_then_long_dwell() {
    let out: Arc<Mutex<Vec<AnomalyRow>>> = Arc::default();
    let sink = out.clone();
    timely::execute_directly(move |worker| {
        let (mut metrics, mut zones, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (m, metrics) = scope.new_input::<TrafficMetricRow>();
            let (z, zones) = scope.new_input::<ZoneWindow>();
            let probe = anomalies(metrics, zones, AnomalyConfig::default(), W).inspect(move |a| sink.lock().unwrap().push(a.clone())).probe().0;
            (m, z, probe)
        });
        for w in 0..40u64 {
            let t = T0 + (w + 1) * W - 1;
            metrics.advance_to(t);
            zones.advance_to(t);
            let count = 50 + (w * 7 % 5); // 50..54
            match w {
                // Road blocked: no tracks, so no rows at all for windows 20..=22.
                20..=22 => {}
                // Congestion onset: speed collapses.
                30..=31 => metrics.send(row(w, count, 12.0)),
                _ => metrics.send(row(w, count, 48.0 + (w % 3) as f64)),
            }
            let dwell = if w == 35 { 90_000.0 } else { 8_000.0 + 500.0 * (w % 4) as f64 };
            zones.send(ZoneWindow { camera: "cam-1".into(), zone: "box".into(), window_start: T0 + w * W, window_end: T0 + (w + 1) * W, exits: 10, mean_dwell_ms: dwell });
            metrics.advance_to(t + 1);
            zones.advance_to(t + 1);
            while probe.less_than(&(t + 1)) {
                worker.step();
            }
        }
    });
    let mut got: Vec<(String, u64)> = out.lock().unwrap().iter().map(|a| (a.kind.as_str().to_string(), (a.window_start_ms - T0) / W)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("count_collapse".to_string(), 20),
            ("count_collapse".to_string(), 21),
            ("count_collapse".to_string(), 22),
            ("speed_collapse".to_string(), 30),
            ("speed_collapse".to_string(), 31),
            ("unusual_dwell".to_string(), 35),
        ]
    );
    let out = out.lock().unwrap();
    let blocked = out.iter().find(|a| a.kind == AnomalyKind::CountCollapse).unwrap();
    assert_eq!(blocked.value, 0.0);
    assert!(blocked.score < -3.0 && (50.0..55.0).contains(&blocked.baseline), "{blocked:?}");
    assert_eq!(blocked.anomaly_id, format!("count_collapse:cam-1:-:{}", T0 + 20 * W));
    let dwell = out.iter().find(|a| a.kind == AnomalyKind::UnusualDwell).unwrap();
    assert_eq!(dwell.zone_id.as_deref(), Some("box"));
}

#[test]
fn nothing_is_flagged_during_warm_up_and_anomalies_do_not_become_the_baseline() {
    let config = AnomalyConfig { warmup_windows: 5, ..AnomalyConfig::default() };
    let mut d = Detector::new(config);
    let w = |i: u64| (i * W, (i + 1) * W);
    // Warm-up: a collapse in window 2 is not flagged (too little history).
    for (i, v) in [50.0, 52.0, 0.0, 51.0, 49.0, 50.0, 51.0].into_iter().enumerate() {
        assert!(d.observe(AnomalyKind::CountCollapse, Tail::Low, "c", None, w(i as u64), v).is_none());
    }
    // A long incident keeps being flagged: anomalous windows do not update the baseline.
    for i in 7..20 {
        assert!(d.observe(AnomalyKind::CountCollapse, Tail::Low, "c", None, w(i), 5.0).is_some(), "window {i}");
    }
    // High values are not a collapse.
    assert!(d.observe(AnomalyKind::CountCollapse, Tail::Low, "c", None, w(20), 400.0).is_none());
}
