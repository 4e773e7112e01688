//! `[tracker]`: the per-camera multi-object tracker (ByteTrack class).

use serde::{Deserialize, Serialize};

/// How detections are assigned to tracks in each association stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Assignment {
    /// Minimum-cost assignment (Hungarian / Jonker–Volgenant) on `1 - IoU`.
    #[default]
    Optimal,
    /// Highest IoU first; faster, slightly worse in crowds.
    Greedy,
}

/// Tracker settings. Defaults follow ByteTrack's published ones, except that a track is only
/// confirmed (and emitted) after `min_hits` matched frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackerConfig {
    /// Detections at or above this confidence take part in the first association stage.
    pub high_threshold: f32,
    /// Detections between `low_threshold` and `high_threshold` only extend existing tracks
    /// (second stage); below `low_threshold` they are ignored by the tracker (still written).
    pub low_threshold: f32,
    /// An unmatched detection starts a new (tentative) track at or above this confidence.
    pub new_track_threshold: f32,
    /// Minimum IoU for a match in the first stage (high-confidence detections).
    pub match_iou: f32,
    /// Minimum IoU for a match in the second stage (low-confidence detections).
    pub low_match_iou: f32,
    /// Minimum IoU for a tentative track to take a detection.
    pub tentative_match_iou: f32,
    /// Matched frames before a track is confirmed and gets an id; tentative tracks are never emitted.
    pub min_hits: u32,
    /// Frames a confirmed track survives without a match (occlusion) before it ends.
    pub max_missed: u32,
    /// Assignment algorithm.
    pub assignment: Assignment,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            high_threshold: 0.5,
            low_threshold: 0.1,
            new_track_threshold: 0.6,
            match_iou: 0.2,
            low_match_iou: 0.5,
            tentative_match_iou: 0.3,
            min_hits: 3,
            max_missed: 30,
            assignment: Assignment::Optimal,
        }
    }
}

impl TrackerConfig {
    /// Every problem with these settings, as `(key, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        for (key, v) in [
            ("high_threshold", self.high_threshold),
            ("low_threshold", self.low_threshold),
            ("new_track_threshold", self.new_track_threshold),
            ("match_iou", self.match_iou),
            ("low_match_iou", self.low_match_iou),
            ("tentative_match_iou", self.tentative_match_iou),
        ] {
            if !unit(v) {
                out.push((key.to_string(), format!("must be within 0..=1, got {v}")));
            }
        }
        if self.low_threshold > self.high_threshold {
            out.push(("low_threshold".into(), format!(
                "must not exceed high_threshold ({} > {})", self.low_threshold, self.high_threshold)));
        }
        if self.min_hits == 0 {
            out.push(("min_hits".into(), "must be at least 1".into()));
        }
        out
    }
}
