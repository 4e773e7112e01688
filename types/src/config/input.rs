//! `[input]`: limits on every line of detections input (files, stdin, Kafka messages, pushed
//! bodies). A line past a limit goes to `errors` as `too_large` with the reason, and costs no
//! more memory than the limit: an over-long line is skipped as it is read, never held whole.

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[input]`: per-line limits of detections input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputConfig {
    /// Bytes in one line (one frame) at most.
    pub max_line_bytes: usize,
    /// Detections in one frame at most.
    pub max_detections_per_frame: usize,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig { max_line_bytes: 1 << 20, max_detections_per_frame: 2_000 }
    }
}

impl InputConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if self.max_line_bytes < 1024 {
            out.push(Problem::new("input.max_line_bytes", "must be at least 1024"));
        }
        if self.max_detections_per_frame == 0 {
            out.push(Problem::new("input.max_detections_per_frame", "must be at least 1"));
        }
    }
}
