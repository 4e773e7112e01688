//! A detector: session + preprocessing + output decoding + NMS, for whole batches of frames.
//! Owned by one inference thread.

use super::postprocess::{ClassFilter, OutputDecoder, TensorView, decoder_for, nms_cross_class};
use super::preprocess::{Geometry, Layout, Preprocessor, ResizeMode};
use super::runtime::{BatchOutputs, VisionError, open_session, run_batch};
use itscam_types::config::{ModelConfig, ModelFamily, Provider};
use itscam_types::{Detection, VideoFrame};
use ort::session::Session;
use std::time::{Duration, Instant};

/// Time spent per stage on one batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchTimings {
    /// Resize and tensor fill, all frames.
    pub preprocess: Duration,
    /// `session.run` and copying the outputs out.
    pub inference: Duration,
    /// Output decoding and NMS, all frames.
    pub decode: Duration,
}

/// Runs the configured model on batches of frames.
pub struct Detector {
    path: String,
    input_shape: Vec<i64>,
    output_shapes: Vec<(String, Vec<i64>)>,
    session: Session,
    provider: Provider,
    input_name: String,
    outputs: Vec<&'static str>,
    decoder: Box<dyn OutputDecoder>,
    pre: Preprocessor,
    filter: ClassFilter,
    nms_iou: f32,
    cross_class_iou: f32,
    input: Vec<f32>,
    geometries: Vec<Geometry>,
    raw: BatchOutputs,
    layout: Layout,
    max_batch: usize,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("provider", &self.provider).field("decoder", &self.decoder).finish_non_exhaustive()
    }
}

/// The `model_version` of a model run from a `[model] path` outside the registry: its file
/// name, such as `centernet.onnx`.
pub fn unregistered_version(path: &str) -> String {
    std::path::Path::new(path).file_name().map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

impl Detector {
    /// Loads the runtime and the model; checks that the model has what its family needs.
    pub fn open(config: &ModelConfig) -> Result<Detector, VisionError> {
        let (session, provider) = open_session(config)?;
        let decoder = decoder_for(config.family);
        let model_err = |reason: String| VisionError::Model { path: config.path.clone().into(), reason };
        let input = session.inputs().first().ok_or_else(|| model_err("the model has no input".into()))?;
        let input_name = input.name().to_string();
        let input_shape: Vec<i64> = input.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
        check_image_input(config, input.dtype().tensor_type().map(|t| format!("{t:?}")), &input_shape).map_err(model_err)?;
        let outputs = decoder.output_names().to_vec();
        for name in &outputs {
            if !session.outputs().iter().any(|o| o.name() == *name) {
                let have: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
                return Err(model_err(format!("a {:?} model needs output {name:?}; this one has {have:?}", config.family)));
            }
        }
        let (mode, layout, scale) = match config.family {
            ModelFamily::Centernet => (ResizeMode::Stretch, Layout::Nhwc, 1.0),
            ModelFamily::Yolo => (ResizeMode::Letterbox, Layout::Nchw, 1.0 / 255.0),
        };
        let pre = Preprocessor::new(config.input_width, config.input_height, mode, layout, scale);
        let output_shapes = session.outputs().iter().map(|o| (o.name().to_string(), o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default())).collect();
        Ok(Detector {
            path: config.path.clone(),
            input_shape,
            output_shapes,
            session,
            provider,
            input_name,
            outputs,
            decoder,
            filter: ClassFilter::from_config(config),
            nms_iou: config.nms_iou,
            cross_class_iou: config.cross_class_iou,
            input: Vec::with_capacity(pre.image_len() * config.max_batch),
            pre,
            geometries: Vec::with_capacity(config.max_batch),
            raw: BatchOutputs::default(),
            layout,
            max_batch: config.max_batch,
        })
    }

    /// The model file it was opened from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The model's input shape (-1: dynamic).
    pub fn input_shape(&self) -> &[i64] {
        &self.input_shape
    }

    /// The model's outputs: names and shapes (-1: dynamic).
    pub fn output_shapes(&self) -> &[(String, Vec<i64>)] {
        &self.output_shapes
    }

    /// The provider in use (after any fallback).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Detects objects in each frame (at most `max_batch`); one list per frame, in order.
    pub fn detect(&mut self, frames: &[VideoFrame], out: &mut Vec<Vec<Detection>>) -> Result<BatchTimings, VisionError> {
        assert!(frames.len() <= self.max_batch, "batch larger than max_batch (this is a bug)");
        let mut t = BatchTimings::default();
        let started = Instant::now();
        let n = frames.len();
        let len = self.pre.image_len();
        self.input.resize(len * n, 0.0);
        self.geometries.clear();
        for (i, f) in frames.iter().enumerate() {
            let g = self.pre.prepare(f, &mut self.input[i * len..(i + 1) * len])?;
            self.geometries.push(g);
        }
        let (h, w) = self.input_hw();
        let shape = match self.layout {
            Layout::Nhwc => [n, h, w, 3],
            Layout::Nchw => [n, 3, h, w],
        };
        let after_pre = Instant::now();
        t.preprocess = after_pre - started;
        run_batch(&mut self.session, &self.input_name, shape, &self.input, &self.outputs, &mut self.raw)?;
        let after_run = Instant::now();
        t.inference = after_run - after_pre;
        let views: Vec<TensorView<'_>> = self.raw.tensors.iter().map(|(s, d)| TensorView { shape: s, data: d }).collect();
        out.resize_with(n, Vec::new);
        for (i, dets) in out.iter_mut().enumerate().take(n) {
            dets.clear();
            self.decoder.decode(&views, i, &self.geometries[i], &self.filter, dets);
            nms_cross_class(dets, self.nms_iou, self.cross_class_iou);
        }
        t.decode = after_run.elapsed();
        Ok(t)
    }

    fn input_hw(&self) -> (usize, usize) {
        let (w, h) = self.pre.input_size();
        (h, w)
    }
}

/// Checks that a model's input is an image batch of its family's layout and of the configured
/// size where the model fixes it: float32, rank 4, NHWC with 3 channels (CenterNet) or NCHW
/// (YOLO).
fn check_image_input(config: &ModelConfig, ty: Option<String>, shape: &[i64]) -> Result<(), String> {
    if ty.as_deref() != Some("Float32") {
        return Err(format!("its input is not an image tensor: a {:?} model takes float32 images, this one takes {}", config.family, ty.unwrap_or_else(|| "a non-tensor value".into())));
    }
    let (h, w, c) = match (config.family, shape) {
        (ModelFamily::Centernet, [_, h, w, c]) => (*h, *w, *c),
        (ModelFamily::Yolo, [_, c, h, w]) => (*h, *w, *c),
        _ => return Err(format!("its input is not an image tensor: a {:?} model takes a rank-4 image batch, this one takes shape {shape:?}", config.family)),
    };
    if c != 3 && c != -1 {
        return Err(format!("its input is not an RGB image tensor: {c} channels (shape {shape:?})"));
    }
    let fixed = |d: i64, want: u32| d <= 0 || d == i64::from(want);
    if !fixed(h, config.input_height) || !fixed(w, config.input_width) {
        return Err(format!("it takes {w}x{h} images, the configured input size is {}x{} (set input_width/input_height, or --input-size)", config.input_width, config.input_height));
    }
    Ok(())
}
