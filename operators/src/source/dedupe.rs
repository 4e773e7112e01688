//! Frames delivered twice are stored once. Producers upstream of the engine are at-least-once —
//! a Kafka producer's retry, a push client retrying after a timeout, an edge site re-sending
//! after an outage — so the same frame can arrive twice. A frame is `(camera_id, ts_ms)`: one
//! whose key was accepted already is dropped before the tracker (which would otherwise see the
//! same frame twice and start a second track) and counted; if its content differs from the
//! first one's it is also reported in `errors` as `duplicate_frame` (two different frames
//! claiming the same moment is a producer bug worth seeing).
//!
//! The memory this needs is bounded by the lateness window: a camera's keys are kept while
//! they are within `2 × lateness_ms` of its newest frame. Anything older is behind the lane's
//! watermark and rejected as `late` anyway; the extra `lateness_ms` lets a repeat that arrives
//! just after its frame's time was passed still be recognised (and dropped silently) rather
//! than reported as late.

use itscam_types::Frame;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

/// What a frame is, next to the frames seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// Its key is new.
    New,
    /// The same frame again.
    Repeat,
    /// Another frame with the same key.
    Differs,
}

/// The recent keys of each camera of a feed, with a fingerprint of each frame's content.
#[derive(Debug, Default)]
pub(super) struct Recent {
    cameras: HashMap<String, BTreeMap<u64, u64>>,
}

impl Recent {
    /// Whether `frame` was seen; a new one is remembered, and keys more than `2 × lateness_ms`
    /// behind its camera's newest are forgotten.
    pub(super) fn check(&mut self, frame: &Frame, lateness_ms: u64) -> Seen {
        let print = fingerprint(frame);
        let keys = match self.cameras.get_mut(&frame.camera_id) {
            Some(keys) => keys,
            None => self.cameras.entry(frame.camera_id.clone()).or_default(),
        };
        if let Some(&first) = keys.get(&frame.ts_ms) {
            return if first == print { Seen::Repeat } else { Seen::Differs };
        }
        keys.insert(frame.ts_ms, print);
        let newest = keys.last_key_value().map_or(frame.ts_ms, |(&t, _)| t);
        let horizon = newest.saturating_sub(lateness_ms.saturating_mul(2));
        while keys.first_key_value().is_some_and(|(&t, _)| t < horizon) {
            keys.pop_first();
        }
        Seen::New
    }

    /// Keys held, over all cameras (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.cameras.values().map(BTreeMap::len).sum()
    }
}

/// A hash of everything a frame says besides its key.
fn fingerprint(frame: &Frame) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (frame.frame, frame.width, frame.height, frame.detections.len()).hash(&mut h);
    for d in &frame.detections {
        (d.class.0, d.confidence.to_bits(), d.bbox.x1.to_bits(), d.bbox.y1.to_bits(), d.bbox.x2.to_bits(), d.bbox.y2.to_bits()).hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::jsonl::parse_frame;

    fn frame(camera: &str, ts: u64, x: f32) -> Frame {
        let line = format!(r#"{{"camera_id":"{camera}","ts_ms":{ts},"frame":{ts},"width":100,"height":100,"detections":[{{"class":"car","confidence":0.9,"bbox":[{x},1,{},9]}}]}}"#, x + 5.0);
        parse_frame(&line).unwrap()
    }

    #[test]
    fn a_repeat_is_recognised_a_changed_frame_is_told_apart_and_memory_stays_within_the_window() {
        let mut recent = Recent::default();
        assert_eq!(recent.check(&frame("a", 1_000, 1.0), 500), Seen::New);
        assert_eq!(recent.check(&frame("a", 1_000, 1.0), 500), Seen::Repeat);
        assert_eq!(recent.check(&frame("a", 1_000, 2.0), 500), Seen::Differs);
        assert_eq!(recent.check(&frame("b", 1_000, 1.0), 500), Seen::New, "keys are per camera");
        for ts in (1_100..100_000).step_by(100) {
            assert_eq!(recent.check(&frame("a", ts, 1.0), 500), Seen::New);
        }
        // 2 × 500 ms of camera a at 10 fps, and b's one key.
        assert!(recent.held() <= 12, "{} keys held", recent.held());
        assert_eq!(recent.check(&frame("a", 99_900, 1.0), 500), Seen::Repeat);
    }
}
