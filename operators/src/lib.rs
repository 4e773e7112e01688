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

/// Routes a camera id to a worker: every per-camera state lives on exactly one worker.
pub fn camera_route(camera_id: &str) -> u64 {
    // FNV-1a: stable across runs and processes (std's hasher is randomly seeded).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in camera_id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
