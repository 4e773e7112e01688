//! Timely operators of itscam: the detections source and the per-camera tracker.
//!
//! Operators never block a worker: blocking reads run on reader threads that hand data over
//! with activations, and state is partitioned by camera across workers.
#![warn(missing_docs)]

pub mod deliver;
pub mod source;
pub mod track;
pub mod tracker;
pub mod video;
pub mod vision;

pub use itscam_types::camera_route;
