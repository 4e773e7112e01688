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
    /// ONNX file, run as it is (outside the registry; `detections.model_version` is its file
    /// name). Ignored when `registry` is set.
    pub path: String,
    /// Follow this registry name's production version (`itscam models register/promote`)
    /// instead of `path`: promotions swap the model while the pipeline runs. The family and
    /// input size come from the registered manifest.
    pub registry: Option<String>,
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
    /// Whether ONNX Runtime's intra-op threads spin-wait for the next call (its default): less
    /// latency back to back, but with several models open (canary, shadow, pins) their idle
    /// spinning competes for the cores.
    pub spin_wait: bool,
    /// ONNX Runtime shared library; default: `$ORT_DYLIB_PATH`, then `.assets/libonnxruntime.so`.
    pub runtime_library: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: "models/centernet-mbv3/centernet.onnx".into(),
            registry: None,
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
            spin_wait: true,
            runtime_library: None,
        }
    }
}

impl ModelConfig {
    pub(crate) fn check(&self, video_cameras: bool, out: &mut Vec<Problem>) {
        let mut bad = |key: &str, msg: String| out.push(Problem::new(format!("model.{key}"), msg));
        if let Some(name) = &self.registry
            && let Err(msg) = check_model_name(name)
        {
            bad("registry", msg);
        }
        if video_cameras && self.registry.is_none() && !std::path::Path::new(&self.path).is_file() {
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

/// A registry name: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 characters.
pub fn check_model_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok { Ok(()) } else { Err(format!("{name:?} is not a model name ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 characters)")) }
}

/// A semantic version `MAJOR.MINOR.PATCH` (each a number, optionally `-pre`): its numbers.
pub fn parse_model_version(version: &str) -> Result<(u64, u64, u64, Option<String>), String> {
    let bad = || format!("{version:?} is not a semantic version (MAJOR.MINOR.PATCH, such as 1.2.0)");
    let (core, pre) = match version.split_once('-') {
        Some((c, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') => (c, Some(p.to_string())),
        Some(_) => return Err(bad()),
        None => (version, None),
    };
    let parts: Vec<u64> = core.split('.').map(|p| if p.is_empty() || (p.len() > 1 && p.starts_with('0')) { Err(()) } else { p.parse::<u64>().map_err(|_| ()) }).collect::<Result<_, _>>().map_err(|_| bad())?;
    match parts[..] {
        [a, b, c] => Ok((a, b, c, pre)),
        _ => Err(bad()),
    }
}

/// `name@version` (a pinned model): its two parts, checked.
pub fn parse_model_ref(text: &str) -> Result<(String, String), String> {
    let (name, version) = text.split_once('@').ok_or_else(|| format!("{text:?}: expected NAME@VERSION, such as detector@1.2.0"))?;
    check_model_name(name)?;
    parse_model_version(version)?;
    Ok((name.to_string(), version.to_string()))
}

/// `[models]`: the model registry's live behaviour — canaries, shadow runs, monitoring and the
/// canary guard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelsConfig {
    /// Local copies of registry models (checked against their sha256 before use).
    pub cache_dir: String,
    /// Share of the cameras following production (percent, stable by camera id) that run a
    /// version in stage `canary`.
    pub canary_percent: u8,
    /// Share of production cameras' frames (0..=1, stable by camera and frame) also run on the
    /// candidate — the canary version if there is one, else the newest `staging` version — for
    /// `model_shadow`; 0 turns shadow runs off.
    pub shadow_sample: f32,
    /// Window of the `model_metrics` and `model_shadow` rows, and of the guard and drift checks.
    pub window_ms: u64,
    /// How often a running pipeline reads registry changes made by other processes.
    pub refresh_ms: u64,
    /// A camera's detections per frame under one model farther than this many standard
    /// deviations from its baseline (EWMA) is a `model_drift` anomaly; 0 turns it off.
    pub drift_score: f64,
    /// The video whose first frames validate a registration (`itscam models register
    /// --video` overrides it; `PUT /api/v1/models/{id}` uses it).
    pub validation_video: String,
    /// Frames of it the validation runs.
    pub validation_frames: usize,
    /// The largest model `PUT /api/v1/models/{id}` takes (bytes; held in memory while it is
    /// validated).
    pub max_upload_bytes: usize,
    /// `[models.guard]`: automatic canary rollback.
    pub guard: GuardConfig,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            cache_dir: ".itscam/models".into(),
            canary_percent: 10,
            shadow_sample: 0.0,
            window_ms: 60_000,
            refresh_ms: 2_000,
            drift_score: 4.0,
            validation_video: ".assets/vtest.avi".into(),
            validation_frames: 40,
            max_upload_bytes: 64 << 20,
            guard: GuardConfig::default(),
        }
    }
}

/// `[models.guard]`: a canary is rolled back (stage `retired`, an alert and a control-log entry)
/// when over one window its detections per frame leave `[min_ratio, max_ratio]` × production's,
/// its shadow agreement with production is below `min_agreement`, or any of its frames fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardConfig {
    /// Whether the guard runs.
    pub enabled: bool,
    /// Lowest canary ÷ production detections per frame.
    pub min_ratio: f64,
    /// Highest canary ÷ production detections per frame.
    pub max_ratio: f64,
    /// Lowest agreement (matched ÷ larger count) on shadow frames, when there are any.
    pub min_agreement: f64,
    /// Frames of each model in the window before it judges.
    pub min_frames: u64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig { enabled: true, min_ratio: 0.5, max_ratio: 2.0, min_agreement: 0.3, min_frames: 50 }
    }
}

impl ModelsConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        let mut bad = |key: &str, msg: String| out.push(Problem::new(format!("models.{key}"), msg));
        if self.cache_dir.is_empty() {
            bad("cache_dir", "must not be empty".into());
        }
        if self.canary_percent > 100 {
            bad("canary_percent", format!("must be within 0..=100, got {}", self.canary_percent));
        }
        if !(0.0..=1.0).contains(&self.shadow_sample) {
            bad("shadow_sample", format!("must be within 0..=1, got {}", self.shadow_sample));
        }
        if !(1_000..=86_400_000).contains(&self.window_ms) {
            bad("window_ms", format!("must be within 1000..=86400000, got {}", self.window_ms));
        }
        if !(100..=3_600_000).contains(&self.refresh_ms) {
            bad("refresh_ms", format!("must be within 100..=3600000, got {}", self.refresh_ms));
        }
        if !(0.0..=100.0).contains(&self.drift_score) {
            bad("drift_score", format!("must be within 0..=100, got {}", self.drift_score));
        }
        if !(1..=10_000).contains(&self.validation_frames) {
            bad("validation_frames", format!("must be within 1..=10000, got {}", self.validation_frames));
        }
        if !(1024..=(1 << 30)).contains(&self.max_upload_bytes) {
            bad("max_upload_bytes", format!("must be within 1024..=1073741824, got {}", self.max_upload_bytes));
        }
        let g = &self.guard;
        if !(g.min_ratio >= 0.0 && g.min_ratio <= g.max_ratio) {
            bad("guard.min_ratio", format!("must be within 0..=max_ratio ({}), got {}", g.max_ratio, g.min_ratio));
        }
        if !(0.0..=1.0).contains(&g.min_agreement) {
            bad("guard.min_agreement", format!("must be within 0..=1, got {}", g.min_agreement));
        }
        if g.min_frames == 0 {
            bad("guard.min_frames", "must be at least 1".into());
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
