//! Rows of the model monitoring tables: `model_metrics` (what each model does on each camera,
//! per window) and `model_shadow` (a candidate beside production on the same frames).

use serde::{Deserialize, Serialize};

/// A row of `model_metrics`: one model version on one camera over one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetricRow {
    /// Camera id.
    pub camera_id: String,
    /// `name@version` (or the file name of an unregistered model).
    pub model_version: String,
    /// Window start, wall clock ms (monitoring windows are wall-clock windows).
    pub window_start_ms: u64,
    /// Window end.
    pub window_end_ms: u64,
    /// Frames inferred.
    pub frames: u64,
    /// Frames whose inference failed.
    pub failed_frames: u64,
    /// Detections (after thresholds and NMS).
    pub detections: u64,
    /// Detections ÷ frames.
    pub detections_per_frame: f64,
    /// Mean confidence of the detections (`None` without detections).
    pub mean_confidence: Option<f64>,
    /// Detections per confidence bucket, `≤0.1/≤0.2/…/≤0.9/>0.9`, as ten `/`-separated counts.
    pub confidence_histogram: String,
    /// Inference time per frame (its batch's time ÷ the batch's frames), median, ms.
    pub latency_p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub latency_p99_ms: f64,
    /// Mean size of the batches its frames ran in.
    pub mean_batch: f64,
}

/// A row of `model_shadow`: a candidate and production on the same sampled frames of one
/// camera, per class and window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelShadowRow {
    /// Camera id.
    pub camera_id: String,
    /// Window start, wall clock ms.
    pub window_start_ms: u64,
    /// Window end.
    pub window_end_ms: u64,
    /// COCO class.
    pub class: String,
    /// Production's version (whose detections are the outputs).
    pub production_version: String,
    /// The candidate's version.
    pub candidate_version: String,
    /// Frames compared.
    pub frames: u64,
    /// Production's detections of the class on them.
    pub production_detections: u64,
    /// The candidate's.
    pub candidate_detections: u64,
    /// Pairs matched: same class, IoU ≥ 0.5, one to one.
    pub matched: u64,
    /// matched ÷ the larger count (1 when both found none).
    pub agreement: f64,
    /// Production's mean confidence on the class (`None` without detections).
    pub production_mean_confidence: Option<f64>,
    /// The candidate's.
    pub candidate_mean_confidence: Option<f64>,
    /// Production's inference time per frame, 99th percentile, ms.
    pub production_latency_p99_ms: f64,
    /// The candidate's, ms.
    pub candidate_latency_p99_ms: f64,
}
