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
    /// A confirmed track whose last box touched the image border ends after this many missed
    /// frames: it has most likely left the view, and coasting on would hand its id to the next
    /// object entering there.
    pub border_max_missed: u32,
    /// χ² quantile (2 degrees of freedom) of the Mahalanobis gates: on the ground plane for
    /// calibrated cameras, and of recovery in the image for the others. 9.21 is the 99 % one.
    pub gate_chi2: f64,
    /// Associate on the ground plane where the camera is calibrated: gate every pair by the
    /// ground Kalman filter's covariance and recover lost tracks by their predicted position.
    pub ground_association: bool,
    /// Process noise of the ground-plane filter: white acceleration, m/s² (1σ).
    pub ground_accel_std: f64,
    /// Floor of the pixel noise of a box edge (px, 1σ) for ground points; 1/20 of the box
    /// height is added in quadrature.
    pub ground_pixel_std: f64,
    /// Recovery on the ground plane: metres (1σ, about a lane) added in quadrature to the gate's
    /// covariance when a track that found no overlapping box looks for a leftover one near its
    /// predicted position (a lane change, coasting through missed frames); at the 99 % gate the
    /// reach is about three times this. 0 turns recovery off on calibrated cameras.
    pub recovery_std_m: f64,
    /// Recovery in the image for uncalibrated cameras: the same widening in box widths (across)
    /// and heights (vertical), for boxes of similar size only. 0 turns it off.
    pub recovery_std_boxes: f64,
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
            border_max_missed: 2,
            gate_chi2: 9.21,
            ground_association: true,
            ground_accel_std: 6.0,
            ground_pixel_std: 1.0,
            recovery_std_m: 3.5,
            recovery_std_boxes: 0.7,
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
        if !(self.gate_chi2.is_finite() && self.gate_chi2 > 0.0) {
            out.push(("gate_chi2".into(), format!("must be a positive number, got {}", self.gate_chi2)));
        }
        for (key, v) in [
            ("ground_accel_std", self.ground_accel_std),
            ("ground_pixel_std", self.ground_pixel_std),
            ("recovery_std_m", self.recovery_std_m),
            ("recovery_std_boxes", self.recovery_std_boxes),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                out.push((key.to_string(), format!("must be a finite number >= 0, got {v}")));
            }
        }
        if self.min_hits == 0 {
            out.push(("min_hits".into(), "must be at least 1".into()));
        }
        out
    }
}
