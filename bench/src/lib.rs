//! Benchmark support for itscam: a seeded generator of synthetic traffic detections.
#![warn(missing_docs)]

pub mod synth;
