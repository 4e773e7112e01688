//! Anomalies: each window's metric against an exponentially weighted mean and variance of the
//! earlier windows (per camera, and per zone for dwell). Flagged when the score (deviation in
//! standard deviations) passes the threshold in the anomalous direction:
//! - `count_collapse`: vehicles per window far *below* the baseline (blocked road, incident);
//! - `speed_collapse`: mean speed far below the baseline (congestion onset);
//! - `unusual_dwell`: a zone's mean dwell far *above* its baseline.
//!
//! Anomalous windows do not update the baseline, so a long incident keeps being flagged
//! instead of becoming the new normal.

use crate::observe::{MetricClass, ZoneWindow};
use itscam_types::analytics::{AnomalyKind, AnomalyRow, TrafficMetricRow};
use itscam_types::camera_route;
use itscam_types::config::{AnomalyConfig, Severity};
use std::collections::{BTreeMap, HashMap};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

/// An exponentially weighted mean and variance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ewma {
    mean: f64,
    var: f64,
    n: u32,
}

impl Ewma {
    /// Windows seen.
    pub fn count(&self) -> u32 {
        self.n
    }

    /// Mean and standard deviation (with the floor `min_rel_std × mean`).
    pub fn baseline(&self, min_rel_std: f64) -> (f64, f64) {
        (self.mean, self.var.sqrt().max(min_rel_std * self.mean.abs()).max(1e-9))
    }

    /// Adds a value.
    pub fn update(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let d = x - self.mean;
            self.mean += alpha * d;
            self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        }
        self.n = self.n.saturating_add(1);
    }
}

/// Which way is anomalous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Values far below.
    Low,
    /// Values far above.
    High,
    /// Values far either way.
    Both,
}

/// The detector's state per (camera, zone, metric).
#[derive(Debug, Default)]
pub struct Detector {
    config: AnomalyConfig,
    baselines: HashMap<(String, Option<String>, AnomalyKind), Ewma>,
}

impl Detector {
    /// With the config.
    pub fn new(config: AnomalyConfig) -> Self {
        Detector { config, baselines: HashMap::new() }
    }

    /// Scores one window's value; returns the anomaly when it is one.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(&mut self, kind: AnomalyKind, tail: Tail, camera: &str, zone: Option<&str>, window: (u64, u64), value: f64) -> Option<AnomalyRow> {
        let c = &self.config;
        let e = self.baselines.entry((camera.to_string(), zone.map(str::to_string), kind)).or_default();
        let (mean, std) = e.baseline(c.min_rel_std);
        let score = (value - mean) / std;
        let anomalous = e.count() >= c.warmup_windows
            && match tail {
                Tail::Low => score <= -c.threshold,
                Tail::High => score >= c.threshold,
                Tail::Both => score.abs() >= c.threshold,
            };
        if !anomalous {
            e.update(value, c.alpha);
            return None;
        }
        Some(AnomalyRow {
            anomaly_id: format!("{kind}:{camera}:{}:{}", zone.unwrap_or("-"), window.0),
            kind,
            camera_id: camera.to_string(),
            zone_id: zone.map(str::to_string),
            window_start_ms: window.0,
            window_end_ms: window.1,
            value,
            baseline: mean,
            baseline_std: std,
            score,
            severity: if score.abs() >= 2.0 * c.threshold { Severity::High } else { Severity::Medium },
        })
    }
}

/// Metrics (`all` rows) and zone windows → anomalies, per camera in window order. A window
/// with no tracks has no metrics row; once the frontier passes it, it counts as 0 vehicles for
/// every camera seen before (that is what a blocked road looks like).
pub fn anomalies<'s>(metrics: Stream<'s, u64, Vec<TrafficMetricRow>>, zones: Stream<'s, u64, Vec<ZoneWindow>>, config: AnomalyConfig, window_ms: u64) -> Stream<'s, u64, Vec<AnomalyRow>> {
    let m_route = Exchange::new(|r: &TrafficMetricRow| camera_route(&r.camera_id));
    let z_route = Exchange::new(|z: &ZoneWindow| camera_route(&z.camera));
    metrics.binary_frontier(zones, m_route, z_route, "Anomalies", move |cap, _| {
        let mut detector = Detector::new(config);
        let mut stash: BTreeMap<u64, (Vec<TrafficMetricRow>, Vec<ZoneWindow>)> = BTreeMap::new();
        // Per camera: the start of the next window not yet scored.
        let mut next_window: BTreeMap<String, u64> = BTreeMap::new();
        let mut held: Option<Capability<u64>> = Some(cap);
        // Rows by the time they go out at: the input time that caused them, or `window_end − 1`
        // for a window without rows — never the frontier, so a replay emits each row at the
        // same time (see `itscam_operators::source::checkpoint`).
        let mut out: BTreeMap<u64, Vec<AnomalyRow>> = BTreeMap::new();
        move |(m_in, m_frontier), (z_in, z_frontier), output| {
            m_in.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().0.append(data);
            });
            z_in.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().1.append(data);
            });
            let Some(held_cap) = held.as_mut() else { return };
            let frontier = m_frontier.frontier().iter().chain(z_frontier.frontier().iter()).min().copied();
            let done = |t: u64| frontier.is_none_or(|f| t < f);
            let zeros = |upto: u64, next_window: &mut BTreeMap<String, u64>, detector: &mut Detector, out: &mut BTreeMap<u64, Vec<AnomalyRow>>| {
                // Windows that ended before `upto` and had no row: 0 vehicles.
                for (camera, next) in next_window.iter_mut() {
                    while *next + window_ms <= upto {
                        let end = *next + window_ms;
                        out.entry(end - 1).or_default().extend(detector.observe(AnomalyKind::CountCollapse, Tail::Low, camera, None, (*next, end), 0.0));
                        *next += window_ms;
                    }
                }
            };
            while let Some(entry) = stash.first_entry() {
                let t = *entry.key();
                if !done(t) {
                    break;
                }
                let (mut rows, mut zones) = entry.remove();
                zeros(t, &mut next_window, &mut detector, &mut out);
                // Only first emissions (corrections do not feed the baseline twice).
                rows.retain(|r| r.class == MetricClass::All.as_str() && r.revision == 0);
                rows.sort_by(|a, b| (&a.camera_id, a.window_start_ms).cmp(&(&b.camera_id, b.window_start_ms)));
                zones.sort_by(|a, b| (&a.camera, &a.zone, a.window_start).cmp(&(&b.camera, &b.zone, b.window_start)));
                let at = out.entry(t).or_default();
                for r in &rows {
                    let next = next_window.entry(r.camera_id.clone()).or_insert(r.window_start_ms);
                    if r.window_start_ms < *next {
                        continue;
                    }
                    *next = r.window_end_ms;
                    let w = (r.window_start_ms, r.window_end_ms);
                    at.extend(detector.observe(AnomalyKind::CountCollapse, Tail::Low, &r.camera_id, None, w, r.vehicle_count as f64));
                    if let Some(s) = r.avg_speed_kmh {
                        at.extend(detector.observe(AnomalyKind::SpeedCollapse, Tail::Low, &r.camera_id, None, w, s));
                    }
                }
                for z in zones.iter().filter(|z| z.exits > 0) {
                    at.extend(detector.observe(AnomalyKind::UnusualDwell, Tail::High, &z.camera, Some(&z.zone), (z.window_start, z.window_end), z.mean_dwell_ms / 1000.0));
                }
            }
            if let Some(f) = frontier {
                // Windows whose row would have come before the frontier.
                zeros(f, &mut next_window, &mut detector, &mut out);
            }
            for (t, mut rows) in std::mem::take(&mut out) {
                if !rows.is_empty() {
                    output.session(&held_cap.delayed(&t.max(*held_cap.time()))).give_container(&mut rows);
                }
            }
            match frontier {
                Some(f) if f > *held_cap.time() => held_cap.downgrade(&f),
                Some(_) => {}
                None => held = None,
            }
        }
    })
}
