//! Benchmark support for itscam: a seeded generator of synthetic traffic detections and the
//! traffic scene (cameras, zones, lines, signals, rules) of the queries benchmark.
#![warn(missing_docs)]

pub mod synth;
pub mod traffic;
