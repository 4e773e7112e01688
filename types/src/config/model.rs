//! `[model]`: the detector run on video cameras, and `[quality]`: the per-frame quality gate.

use super::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Output layout of the detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFamily {
    /// CenterNet heads: `keypoints` [N, H/4, W/4, 80] class heatmaps and `wh` [N, H/4, W/4, 4].
    /// Input NHWC RGB float 0..255, the whole frame stretched to the input size.
    Centernet,
    /// YOLOv8 / YOLO11 export: one output [N, 4 + classes, anchors] (cx, cy, w, h in input
    /// pixels, then class scores). Input NCHW RGB float 0..1, letterboxed.
    Yolo,
}

/// Where inference runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT (engines cached next to the model).
    Tensorrt,
}

/// `[model]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// ONNX file.
    pub path: String,
    /// Output layout.
    pub family: ModelFamily,
    /// Model input width in pixels.
    pub input_width: u32,
    /// Model input height in pixels.
    pub input_height: u32,
    /// Execution provider; an unavailable one is an error at start-up unless `fallback_to_cpu`.
    pub provider: Provider,
    /// Run on the CPU when `provider` is unavailable (logged), instead of refusing to start.
    pub fallback_to_cpu: bool,
    /// GPU index for `cuda` / `tensorrt`.
    pub device_id: u32,
    /// Frames per inference call at most (frames of several cameras share a batch).
    pub max_batch: usize,
    /// A partial batch is run once its oldest frame has waited this long.
    pub max_wait_ms: u64,
    /// Frames waiting for inference at most. Live cameras drop their oldest frame beyond it
    /// (counted); file cameras stop reading instead (nothing dropped).
    pub queue: usize,
    /// Minimum confidence of a detection.
    pub confidence: f32,
    /// Per-class minimum confidence, by COCO name (overrides `confidence`).
    pub class_confidence: BTreeMap<String, f32>,
    /// Keep only these COCO classes (empty: all). Default: the road users.
    pub classes: Vec<String>,
    /// IoU above which a lower-scoring box of the same class is suppressed.
    pub nms_iou: f32,
    /// IoU above which a lower-scoring box of another class is suppressed (one object reported
    /// under two classes); 1.0 turns this off.
    pub cross_class_iou: f32,
    /// Threads ONNX Runtime uses per inference call (0: its default).
    pub threads: usize,
    /// ONNX Runtime shared library; default: `$ORT_DYLIB_PATH`, then `.assets/libonnxruntime.so`.
    pub runtime_library: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: "models/centernet-mbv3/centernet.onnx".into(),
            family: ModelFamily::Centernet,
            input_width: 512,
            input_height: 512,
            provider: Provider::Cpu,
            fallback_to_cpu: false,
            device_id: 0,
            max_batch: 8,
            max_wait_ms: 20,
            queue: 64,
            confidence: 0.3,
            class_confidence: BTreeMap::new(),
            classes: ["person", "bicycle", "car", "motorcycle", "bus", "truck"].map(String::from).to_vec(),
            nms_iou: 0.5,
            cross_class_iou: 0.8,
            threads: 0,
            runtime_library: None,
        }
    }
}

impl ModelConfig {
    pub(crate) fn check(&self, video_cameras: bool, out: &mut Vec<Problem>) {
        let mut bad = |key: &str, msg: String| out.push(Problem::new(format!("model.{key}"), msg));
        if video_cameras && !std::path::Path::new(&self.path).is_file() {
            bad("path", format!("model file {} does not exist (relative paths are from the working directory: run from the repository root, or set [model].path)", self.path));
        }
        if self.input_width == 0 || self.input_height == 0 || !self.input_width.is_multiple_of(32) || !self.input_height.is_multiple_of(32) {
            bad("input_width", format!("input size {}x{} must be positive multiples of 32", self.input_width, self.input_height));
        }
        if self.max_batch == 0 || self.max_batch > 256 {
            bad("max_batch", format!("must be within 1..=256, got {}", self.max_batch));
        }
        if self.queue < self.max_batch {
            bad("queue", format!("must be at least max_batch ({}), got {}", self.max_batch, self.queue));
        }
        for (key, v) in [("confidence", self.confidence), ("nms_iou", self.nms_iou), ("cross_class_iou", self.cross_class_iou)] {
            if !(0.0..=1.0).contains(&v) {
                bad(key, format!("must be within 0..=1, got {v}"));
            }
        }
        for (class, v) in &self.class_confidence {
            if crate::ObjectClass::from_name(class).is_none() {
                bad("class_confidence", format!("{class:?} is not a COCO class name"));
            } else if !(0.0..=1.0).contains(v) {
                bad("class_confidence", format!("{class}: must be within 0..=1, got {v}"));
            }
        }
        for class in &self.classes {
            if crate::ObjectClass::from_name(class).is_none() {
                bad("classes", format!("{class:?} is not a COCO class name"));
            }
        }
    }
}

/// `[quality]`: frames scoring below `min_score` are skipped (counted in `frame_quality`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityConfig {
    /// Skip frames whose quality score (0..1) is below this; 0 disables the gate.
    pub min_score: f32,
    /// A frame differing from the previous one by less than this mean absolute difference
    /// (0..255 grey levels, on a thumbnail) counts as frozen.
    pub frozen_threshold: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig { min_score: 0.2, frozen_threshold: 0.5 }
    }
}

impl QualityConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if !(0.0..=1.0).contains(&self.min_score) {
            out.push(Problem::new("quality.min_score", format!("must be within 0..=1, got {}", self.min_score)));
        }
        if !(0.0..=255.0).contains(&self.frozen_threshold) {
            out.push(Problem::new("quality.frozen_threshold", "must be within 0..=255"));
        }
    }
}
