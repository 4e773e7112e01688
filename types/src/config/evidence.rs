//! `[evidence]`: pictures of every confirmed violation, and privacy for every picture the
//! engine stores or serves.

use super::Problem;
use serde::{Deserialize, Serialize};

/// What is hidden in the pictures of a camera.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Blur {
    /// Every person's whole box is pixelated (the object under violation excepted).
    #[default]
    Persons,
    /// Nothing is hidden (a site that has the legal ground to keep faces).
    Off,
}

/// `[evidence]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvidenceConfig {
    /// Store evidence for every confirmed violation (video cameras: a snapshot and a clip;
    /// detection-only cameras: the track's trajectory) and keep each video camera's recent
    /// frames for it. `false`: no evidence, no frame ring (and no `/frame` picture).
    pub enabled: bool,
    /// Frames per second each video camera keeps in its ring (and in clips).
    pub ring_fps: f64,
    /// Event time a clip starts before the confirmation, ms.
    pub clip_before_ms: u64,
    /// Event time a clip goes on after the confirmation, ms (the evidence is written once the
    /// camera's frames reach it, or after `max_wait_ms`).
    pub clip_after_ms: u64,
    /// JPEG quality of ring frames and snapshots (1–100).
    pub jpeg_quality: u8,
    /// Memory each video camera's ring may hold (MiB of JPEG); past it the oldest frames go.
    pub ring_mb: u64,
    /// Violations whose evidence is made and waits for its upload (the lake unreachable) at
    /// once; past it a new violation gets no evidence (counted in
    /// `itscam_evidence_dropped_total`, logged). Violations waiting for their clip's frames
    /// (a row each) are bounded apart, by 16,384.
    pub max_pending: usize,
    /// Wall-clock time a violation waits for its clip's last frames before its evidence is
    /// written with the frames there are, ms.
    pub max_wait_ms: u64,
    /// Evidence written is committed (made visible in the lake) at least this often, ms.
    pub commit_interval_ms: u64,
    /// Default privacy of every camera (`[[camera]] blur` overrides it per camera).
    pub blur: Blur,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            enabled: true,
            ring_fps: 4.0,
            clip_before_ms: 3_000,
            clip_after_ms: 3_000,
            jpeg_quality: 80,
            ring_mb: 16,
            max_pending: 256,
            max_wait_ms: 30_000,
            commit_interval_ms: 1_000,
            blur: Blur::Persons,
        }
    }
}

impl EvidenceConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if !(self.ring_fps > 0.0 && self.ring_fps <= 30.0) {
            out.push(Problem::new("evidence.ring_fps", format!("must be within (0, 30], got {}", self.ring_fps)));
        }
        if self.clip_before_ms > 30_000 || self.clip_after_ms > 30_000 {
            out.push(Problem::new("evidence.clip_before_ms", "clip_before_ms and clip_after_ms must be at most 30000"));
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            out.push(Problem::new("evidence.jpeg_quality", format!("must be within 1..=100, got {}", self.jpeg_quality)));
        }
        if !(1..=1024).contains(&self.ring_mb) {
            out.push(Problem::new("evidence.ring_mb", format!("must be within 1..=1024, got {}", self.ring_mb)));
        }
        if !(1..=100_000).contains(&self.max_pending) {
            out.push(Problem::new("evidence.max_pending", format!("must be within 1..=100000, got {}", self.max_pending)));
        }
        if self.max_wait_ms == 0 || self.commit_interval_ms == 0 {
            out.push(Problem::new("evidence.max_wait_ms", "max_wait_ms and commit_interval_ms must be at least 1"));
        }
    }

    /// How far apart (event time, ms) the ring keeps frames.
    pub fn ring_step_ms(&self) -> u64 {
        (1000.0 / self.ring_fps).round().max(1.0) as u64
    }
}
