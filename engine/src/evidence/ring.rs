//! A video camera's recent frames, kept for evidence: already privacy-filtered and JPEG-coded
//! (so a frame costs its JPEG size, ~50 kB at 768×576), at most `[evidence] ring_fps` per
//! second of event time, over a span long enough for a clip around a confirmation that the
//! pipeline reports a lateness later, and never more than `[evidence] ring_mb`.

use bytes::Bytes;
use itscam_imaging::BoxPx;
use itscam_types::ObjectClass;
use std::collections::VecDeque;

/// One kept frame.
#[derive(Clone, Debug, PartialEq)]
pub struct RingFrame {
    /// Event time, ms.
    pub ts_ms: u64,
    /// Frame number in the camera's stream.
    pub frame: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The picture (people already pixelated where the camera's privacy asks).
    pub jpeg: Bytes,
    /// What the detector saw in it (before tracking).
    pub boxes: Vec<(ObjectClass, BoxPx)>,
}

/// The ring of one camera.
#[derive(Debug)]
pub struct FrameRing {
    frames: VecDeque<RingFrame>,
    bytes: usize,
    max_bytes: usize,
    span_ms: u64,
}

impl FrameRing {
    /// A ring of at most `max_bytes` of JPEG, over `span_ms` of event time.
    pub fn new(max_bytes: usize, span_ms: u64) -> FrameRing {
        FrameRing { frames: VecDeque::new(), bytes: 0, max_bytes, span_ms }
    }

    /// Keeps `frame` (in time order; an older one than the newest is ignored) and lets the
    /// frames go that are older than the span or over the byte limit.
    pub fn push(&mut self, frame: RingFrame) {
        if self.frames.back().is_some_and(|last| last.ts_ms >= frame.ts_ms) {
            return;
        }
        self.bytes += frame.jpeg.len();
        let newest = frame.ts_ms;
        self.frames.push_back(frame);
        while let Some(old) = self.frames.front() {
            let too_old = old.ts_ms + self.span_ms < newest;
            if !(too_old || (self.bytes > self.max_bytes && self.frames.len() > 1)) {
                break;
            }
            self.bytes -= old.jpeg.len();
            self.frames.pop_front();
        }
    }

    /// The newest frame.
    pub fn latest(&self) -> Option<&RingFrame> {
        self.frames.back()
    }

    /// The frame closest in time to `ts_ms`.
    pub fn nearest(&self, ts_ms: u64) -> Option<&RingFrame> {
        self.frames.iter().min_by_key(|f| f.ts_ms.abs_diff(ts_ms))
    }

    /// The frames from `from_ms` to `to_ms` (inclusive), in time order.
    pub fn between(&self, from_ms: u64, to_ms: u64) -> impl Iterator<Item = &RingFrame> {
        self.frames.iter().filter(move |f| (from_ms..=to_ms).contains(&f.ts_ms))
    }

    /// JPEG bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ts_ms: u64, size: usize) -> RingFrame {
        RingFrame { ts_ms, frame: ts_ms / 100, width: 4, height: 4, jpeg: Bytes::from(vec![0u8; size]), boxes: vec![] }
    }

    #[test]
    fn the_ring_keeps_its_span_and_its_byte_limit() {
        let mut ring = FrameRing::new(1_000, 2_000);
        for ts in (0..=5_000).step_by(250) {
            ring.push(frame(ts, 10));
        }
        assert_eq!(ring.between(0, u64::MAX).next().unwrap().ts_ms, 3_000, "2 s of span kept");
        assert_eq!(ring.len(), 9);
        ring.push(frame(4_000, 10));
        assert_eq!(ring.latest().unwrap().ts_ms, 5_000, "an older frame is ignored");
        ring.push(frame(5_250, 995));
        assert!(ring.bytes() <= 1_000 || ring.len() == 1, "{} bytes in {} frames", ring.bytes(), ring.len());
        assert_eq!(ring.latest().unwrap().ts_ms, 5_250);
        assert_eq!(ring.nearest(5_200).unwrap().ts_ms, 5_250);
    }

    #[test]
    fn a_clip_takes_the_frames_of_its_window_in_order() {
        let mut ring = FrameRing::new(usize::MAX, 60_000);
        for ts in (0..10_000).step_by(250) {
            ring.push(frame(ts, 1));
        }
        let clip: Vec<u64> = ring.between(4_000, 5_000).map(|f| f.ts_ms).collect();
        assert_eq!(clip, vec![4_000, 4_250, 4_500, 4_750, 5_000]);
        assert_eq!(ring.nearest(4_120).unwrap().ts_ms, 4_000);
    }
}
