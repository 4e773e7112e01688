//! What each model does on each camera, counted by the inference threads and read by the engine
//! (Prometheus series, the `model_metrics` and `model_shadow` tables, the canary guard, drift):
//! frames, detections per class, confidence distribution, inference latency and batch sizes per
//! (model version, camera), and for shadow frames the candidate's detections beside
//! production's with their agreement.
//!
//! Two views of the same counts: running **totals** (for Prometheus; labels are bounded by the
//! versions open at once × the cameras) and **windows** that [`ModelMonitor::take_window`]
//! drains (for the tables).

use itscam_types::{Detection, ObjectClass};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the confidence histogram's buckets (the last is +∞).
pub const CONFIDENCE_BUCKETS: [f32; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Latency samples kept per (version, camera) and window at most.
const MAX_LATENCY_SAMPLES: usize = 4096;

/// Counts of one model on one camera.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelTally {
    /// Frames inferred.
    pub frames: u64,
    /// Frames whose inference failed.
    pub failed: u64,
    /// Detections, per class.
    pub detections: BTreeMap<ObjectClass, u64>,
    /// Sum of the detections' confidences.
    pub confidence_sum: f64,
    /// Detections per confidence bucket ([`CONFIDENCE_BUCKETS`], then the rest).
    pub confidence_buckets: [u64; 10],
    /// Inference time per frame (the batch's run time over its frames), µs.
    pub latency_us: Vec<u32>,
    /// Sum of the sizes of the batches its frames ran in (mean batch = this / frames).
    pub batch_frames: u64,
}

impl ModelTally {
    /// All detections.
    pub fn detection_count(&self) -> u64 {
        self.detections.values().sum()
    }

    fn add(&mut self, dets: &[Detection], latency: Duration, batch: usize) {
        self.frames += 1;
        self.batch_frames += batch as u64;
        for d in dets {
            *self.detections.entry(d.class).or_default() += 1;
            self.confidence_sum += f64::from(d.confidence);
            let b = CONFIDENCE_BUCKETS.iter().position(|u| d.confidence <= *u).unwrap_or(CONFIDENCE_BUCKETS.len());
            self.confidence_buckets[b] += 1;
        }
        if self.latency_us.len() < MAX_LATENCY_SAMPLES {
            self.latency_us.push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }

    /// The `q`-quantile of the latency samples, ms (0 without samples).
    pub fn latency_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latency_us, q)
    }
}

/// The `q`-quantile of µs samples, in ms.
pub fn quantile_ms(samples: &[u32], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    f64::from(v[((v.len() - 1) as f64 * q).round() as usize]) / 1000.0
}

/// A candidate beside production on the same frames of one camera, per class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShadowTally {
    /// Production's version.
    pub production: Arc<str>,
    /// Frames compared.
    pub frames: u64,
    /// Per class.
    pub per_class: BTreeMap<ObjectClass, ShadowClass>,
    /// Production's inference time per frame, µs.
    pub production_us: Vec<u32>,
    /// The candidate's, µs.
    pub candidate_us: Vec<u32>,
}

/// One class on the shadow frames of one camera.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShadowClass {
    /// Production's detections.
    pub production: u64,
    /// The candidate's.
    pub candidate: u64,
    /// Pairs matched (same class, IoU ≥ 0.5, greedy by IoU).
    pub matched: u64,
    /// Sum of production's confidences.
    pub production_confidence: f64,
    /// Sum of the candidate's.
    pub candidate_confidence: f64,
}

/// Greedy one-to-one matching of two frames' detections: same class, IoU ≥ `min_iou`, best IoU
/// first. Returns the matched pairs per class.
pub fn matched_per_class(a: &[Detection], b: &[Detection], min_iou: f32) -> BTreeMap<ObjectClass, u64> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            if x.class == y.class {
                let iou = x.bbox.iou(&y.bbox);
                if iou >= min_iou {
                    pairs.push((iou, i, j));
                }
            }
        }
    }
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut out = BTreeMap::new();
    for (_, i, j) in pairs {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            *out.entry(a[i].class).or_default() += 1;
        }
    }
    out
}

/// Agreement of two detection counts with `matched` pairs: matched / max(a, b); 1 when both
/// found nothing.
pub fn agreement(a: u64, b: u64, matched: u64) -> f64 {
    match a.max(b) {
        0 => 1.0,
        m => matched as f64 / m as f64,
    }
}

/// Keys: (model version, camera).
pub type TallyKey = (Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct MonitorState {
    totals: BTreeMap<TallyKey, ModelTally>,
    window: BTreeMap<TallyKey, ModelTally>,
    /// (candidate version, camera) → comparison, this window.
    shadow: BTreeMap<TallyKey, ShadowTally>,
}

/// The counts, shared by a process's inference threads and the engine.
#[derive(Debug, Default)]
pub struct ModelMonitor {
    state: Mutex<MonitorState>,
}

/// One window's counts, drained.
#[derive(Debug, Default)]
pub struct MonitorWindow {
    /// Per (version, camera).
    pub tallies: BTreeMap<TallyKey, ModelTally>,
    /// Per (candidate version, camera).
    pub shadow: BTreeMap<TallyKey, ShadowTally>,
}

impl ModelMonitor {
    /// Counts one frame run by `version` on `camera`.
    pub fn frame(&self, version: &Arc<str>, camera: &Arc<str>, dets: &[Detection], latency: Duration, batch: usize) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let key = (version.clone(), camera.clone());
        s.totals.entry(key.clone()).or_default().add(dets, latency, batch);
        let total = s.totals.get_mut(&key).expect("just added");
        if total.latency_us.len() >= MAX_LATENCY_SAMPLES {
            // Totals keep a recent sample for quantiles: drop the older half.
            total.latency_us.drain(..MAX_LATENCY_SAMPLES / 2);
        }
        s.window.entry(key).or_default().add(dets, latency, batch);
    }

    /// Counts frames of `version` on `camera` whose inference failed.
    pub fn failed(&self, version: &Arc<str>, camera: &Arc<str>, frames: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let key = (version.clone(), camera.clone());
        s.totals.entry(key.clone()).or_default().failed += frames;
        s.window.entry(key).or_default().failed += frames;
    }

    /// Counts one shadow comparison: production's and the candidate's detections on one frame.
    pub fn shadow(&self, candidate: &Arc<str>, production: &Arc<str>, camera: &Arc<str>, prod: (&[Detection], Duration), cand: (&[Detection], Duration)) {
        let matched = matched_per_class(prod.0, cand.0, 0.5);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let t = s.shadow.entry((candidate.clone(), camera.clone())).or_default();
        t.production = production.clone();
        t.frames += 1;
        for d in prod.0 {
            let c = t.per_class.entry(d.class).or_default();
            c.production += 1;
            c.production_confidence += f64::from(d.confidence);
        }
        for d in cand.0 {
            let c = t.per_class.entry(d.class).or_default();
            c.candidate += 1;
            c.candidate_confidence += f64::from(d.confidence);
        }
        for (class, m) in matched {
            t.per_class.entry(class).or_default().matched += m;
        }
        if t.production_us.len() < MAX_LATENCY_SAMPLES {
            t.production_us.push(prod.1.as_micros().min(u128::from(u32::MAX)) as u32);
            t.candidate_us.push(cand.1.as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }

    /// The running totals (Prometheus).
    pub fn totals(&self) -> BTreeMap<TallyKey, ModelTally> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).totals.clone()
    }

    /// Drains the current window.
    pub fn take_window(&self) -> MonitorWindow {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        MonitorWindow { tallies: std::mem::take(&mut s.window), shadow: std::mem::take(&mut s.shadow) }
    }

    /// Forgets the totals of versions no longer open (bounded Prometheus labels).
    pub fn retain_versions(&self, keep: impl Fn(&str) -> bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.totals.retain(|(v, _), _| keep(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::BBox;

    fn det(class: &str, x: f32) -> Detection {
        Detection { class: ObjectClass::from_name(class).unwrap(), confidence: 0.55, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 } }
    }

    #[test]
    fn matching_is_one_to_one_within_a_class() {
        let a = [det("car", 0.0), det("car", 1.0), det("person", 50.0)];
        let b = [det("car", 0.5), det("truck", 50.0)];
        let m = matched_per_class(&a, &b, 0.5);
        assert_eq!(m.values().sum::<u64>(), 1, "one car pair; a truck never matches a person");
        assert_eq!(agreement(3, 2, 1), 1.0 / 3.0);
        assert_eq!(agreement(0, 0, 0), 1.0);
    }

    #[test]
    fn windows_drain_and_totals_stay() {
        let monitor = ModelMonitor::default();
        let (v, c): (Arc<str>, Arc<str>) = ("m@1.0.0".into(), "cam".into());
        monitor.frame(&v, &c, &[det("car", 0.0), det("car", 30.0)], Duration::from_millis(40), 2);
        monitor.frame(&v, &c, &[], Duration::from_millis(60), 2);
        let w = monitor.take_window();
        let t = &w.tallies[&(v.clone(), c.clone())];
        assert_eq!((t.frames, t.detection_count(), t.confidence_buckets[5]), (2, 2, 2));
        assert_eq!(t.latency_ms(1.0), 60.0);
        assert!(monitor.take_window().tallies.is_empty());
        assert_eq!(monitor.totals()[&(v, c)].frames, 2);
    }
}
