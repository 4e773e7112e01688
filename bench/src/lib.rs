//! Benchmark support for itscam: a seeded generator of synthetic traffic detections and the
//! traffic scene (cameras, zones, lines, signals, rules) of the queries benchmark, and a Tansu
//! broker for the Kafka benchmarks.
#![warn(missing_docs)]

pub mod synth;
pub mod tansu;
pub mod traffic;
