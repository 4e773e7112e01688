//! The vision path: decoded frames → quality gate → batching inference (ONNX Runtime) →
//! decode + NMS → detections in the same [`itscam_types::Frame`] the detections source emits.

pub mod bank;
pub mod board;
pub mod detector;
pub mod gate;
pub mod infer;
pub mod monitor;
pub mod postprocess;
pub mod preprocess;
pub mod quality;
pub mod runtime;
