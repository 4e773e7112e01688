//! Judging a window of the model monitor: the canary guard (`[models.guard]`) and drift
//! (`model_drift` anomalies, the anomaly queries' EWMA detector on detections per frame).
//! No I/O: the live registry acts on the verdicts.

use itscam_operators::vision::board::Routing;
use itscam_operators::vision::monitor::{MonitorWindow, agreement};
use itscam_queries::anomaly::{Detector, Tail};
use itscam_types::analytics::{AnomalyKind, AnomalyRow};
use itscam_types::config::{AnomalyConfig, GuardConfig};

/// Frames a (camera, model) needs in a window before its detections per frame count for drift.
const DRIFT_MIN_FRAMES: u64 = 10;

/// The canary to roll back and why, or `None` when the canary is fine (or there is none, or
/// too few frames to judge).
pub fn judge(window: &MonitorWindow, routing: &Routing, guard: &GuardConfig) -> Option<(String, String)> {
    let (canary, _) = routing.canary.as_ref()?;
    let production = routing.production.as_ref()?;
    let sum = |version: &str| {
        window.tallies.iter().filter(|((v, _), _)| &**v == version).fold((0u64, 0u64, 0u64), |(f, d, e), (_, t)| (f + t.frames, d + t.detection_count(), e + t.failed))
    };
    let (cf, cd, ce) = sum(&canary.version);
    let (pf, pd, _) = sum(&production.version);
    let id = canary.version.to_string();
    if ce > 0 {
        return Some((id, format!("{ce} frame(s) failed on the canary")));
    }
    if cf >= guard.min_frames && pf >= guard.min_frames && pd > 0 {
        let ratio = (cd as f64 / cf as f64) / (pd as f64 / pf as f64);
        if ratio < guard.min_ratio || ratio > guard.max_ratio {
            return Some((id, format!("detections per frame {ratio:.2}× production's, outside [{}, {}]", guard.min_ratio, guard.max_ratio)));
        }
    }
    let (mut frames, mut p, mut c, mut m) = (0, 0, 0, 0);
    for ((v, _), t) in &window.shadow {
        if **v == *canary.version {
            frames += t.frames;
            for k in t.per_class.values() {
                (p, c, m) = (p + k.production, c + k.candidate, m + k.matched);
            }
        }
    }
    let agreed = agreement(p, c, m);
    if frames >= guard.min_frames && agreed < guard.min_agreement {
        return Some((id, format!("agreement with production {agreed:.2} on {frames} shadow frames, below {}", guard.min_agreement)));
    }
    None
}

/// Detections per frame of each (camera, model) against its own baseline.
#[derive(Debug)]
pub struct Drift {
    detector: Option<Detector>,
}

impl Drift {
    /// With the anomaly queries' settings and `[models] drift_score` as the threshold (0: off).
    pub fn new(anomaly: AnomalyConfig, score: f64) -> Drift {
        Drift { detector: (score > 0.0).then(|| Detector::new(AnomalyConfig { threshold: score, ..anomaly })) }
    }

    /// The drift anomalies of one window.
    pub fn observe(&mut self, window: &MonitorWindow, span: (u64, u64)) -> Vec<AnomalyRow> {
        let Some(detector) = &mut self.detector else { return Vec::new() };
        let mut out = Vec::new();
        for ((version, camera), t) in &window.tallies {
            if t.frames >= DRIFT_MIN_FRAMES {
                let per_frame = t.detection_count() as f64 / t.frames as f64;
                out.extend(detector.observe(AnomalyKind::ModelDrift, Tail::Both, camera, Some(version), span, per_frame));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_operators::vision::board::ModelSpec;
    use itscam_operators::vision::monitor::ModelMonitor;
    use itscam_types::config::ModelConfig;
    use itscam_types::{BBox, Detection, ObjectClass};
    use std::sync::Arc;
    use std::time::Duration;

    fn dets(n: usize) -> Vec<Detection> {
        (0..n).map(|i| Detection { class: ObjectClass::from_name("car").unwrap(), confidence: 0.6, bbox: BBox { x1: 30.0 * i as f32, y1: 0.0, x2: 30.0 * i as f32 + 20.0, y2: 20.0 } }).collect()
    }

    fn window(canary_per_frame: usize, frames: usize) -> MonitorWindow {
        let m = ModelMonitor::default();
        let (p, c): (Arc<str>, Arc<str>) = ("d@1.0.0".into(), "d@2.0.0".into());
        for _ in 0..frames {
            m.frame(&p, &"cam-a".into(), &dets(4), Duration::from_millis(50), 1);
            m.frame(&c, &"cam-b".into(), &dets(canary_per_frame), Duration::from_millis(50), 1);
        }
        m.take_window()
    }

    fn routing() -> Routing {
        let spec = |v: &str| ModelSpec::new(v, ModelConfig::default());
        Routing { production: Some(spec("d@1.0.0")), canary: Some((spec("d@2.0.0"), 10)), ..Routing::default() }
    }

    #[test]
    fn a_canary_far_below_production_is_rolled_back_and_a_close_one_is_kept() {
        let guard = GuardConfig::default();
        assert!(judge(&window(4, 60), &routing(), &guard).is_none(), "same detections per frame");
        let (id, why) = judge(&window(1, 60), &routing(), &guard).unwrap();
        assert_eq!(id, "d@2.0.0");
        assert!(why.contains("0.25×"), "{why}");
        assert!(judge(&window(1, 10), &routing(), &guard).is_none(), "too few frames to judge");
        assert!(judge(&window(1, 60), &Routing { canary: None, ..routing() }, &guard).is_none(), "no canary");
    }

    #[test]
    fn drift_is_flagged_after_warm_up_either_way() {
        let mut drift = Drift::new(AnomalyConfig { warmup_windows: 3, ..AnomalyConfig::default() }, 4.0);
        for i in 0..5 {
            assert!(drift.observe(&window(4, 20), (i, i + 1)).is_empty());
        }
        let flagged = drift.observe(&window(12, 20), (5, 6));
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        assert_eq!((flagged[0].kind, flagged[0].zone_id.as_deref()), (AnomalyKind::ModelDrift, Some("d@2.0.0")));
    }
}
