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

/// A worker's detector for the inference operator: opened, or to be opened by the inference
/// thread on its first batch (a pipeline that may get video cameras while it runs and has none
/// yet: it pays for the model only once a camera needs it).
pub enum DetectorSlot {
    /// Opened (a failure was a start-up error).
    Open(Box<Detector>),
    /// Opened on the first batch; a failure fails every batch with its reason.
    Lazy(ModelConfig),
}

impl From<Detector> for DetectorSlot {
    fn from(d: Detector) -> Self {
        DetectorSlot::Open(Box::new(d))
    }
}

impl DetectorSlot {
    /// The detector, opened now if it was lazy (on the inference thread, never a worker); a
    /// failure stays and is the answer from then on.
    pub fn get(&mut self) -> Result<&mut Detector, VisionError> {
        if let DetectorSlot::Lazy(config) = self {
            let config = config.clone();
            match Detector::open(&config) {
                Ok(d) => *self = DetectorSlot::Open(Box::new(d)),
                Err(e) => {
                    tracing::error!(error = %e, "the detector could not be opened: video frames fail until the model is fixed and the process restarted");
                    return Err(VisionError::NotOpened(e.to_string()));
                }
            }
        }
        match self {
            DetectorSlot::Open(d) => Ok(d),
            DetectorSlot::Lazy(_) => unreachable!("opened above"),
        }
    }
}

impl Detector {
    /// Loads the runtime and the model; checks that the model has what its family needs.
    pub fn open(config: &ModelConfig) -> Result<Detector, VisionError> {
        let (session, provider) = open_session(config)?;
        let decoder = decoder_for(config.family);
        let model_err = |reason: String| VisionError::Model { path: config.path.clone().into(), reason };
        let input_name = session.inputs().first().map(|i| i.name().to_string()).ok_or_else(|| model_err("the model has no input".into()))?;
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
        Ok(Detector {
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
