//! What the two detections readers (files/stdin in `reader`, Kafka in `kafka`) share: the
//! events they hand to the worker, their counters, and the parsing of one line into a frame or
//! an `errors` row.

use itscam_types::config::InputConfig;
use itscam_types::jsonl::{parse_frame_within, too_long};
use itscam_types::{ErrorKind, ErrorRow, Frame};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Raw text kept with a rejected line.
const MAX_RAW: usize = 512;

/// What a reader hands to the worker.
#[derive(Debug)]
pub enum SourceEvent {
    /// A valid frame, its position (1-based line number, or Kafka offset), the source label
    /// and its lane (Kafka partition index; 0 for files).
    Frame(Frame, u64, Arc<str>, u32),
    /// A rejected line and its lane; `line` is the Kafka offset for Kafka messages.
    Rejected(ErrorRow, u32),
    /// A lane (Kafka partition) that had no message at start-up: it does not hold the source's
    /// watermark back.
    Idle(u32),
}

/// Counters of one source, shared with the engine (progress bar, summary).
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Bytes read so far.
    pub bytes_read: AtomicU64,
    /// Size of the input when known (files).
    pub total_bytes: AtomicU64,
    /// Valid frames read.
    pub frames: AtomicU64,
    /// Detections in valid frames.
    pub detections: AtomicU64,
    /// Lines rejected by the reader (late frames are counted by the engine from the errors table).
    pub rejected: AtomicU64,
    /// Frames delivered twice (`(camera_id, ts_ms)` accepted before), dropped by the source.
    pub duplicates: AtomicU64,
    /// Set when the input is exhausted.
    pub done: AtomicBool,
    /// Set while a file or stdin reader waits for input with nothing read and not handed over
    /// (a stopped source need not wait for it: it holds no line).
    pub waiting: AtomicBool,
}

/// One line (or Kafka message line) at position `line_no`: a frame for one of `cameras`, an
/// `errors` row with the reason (also for a line past `limits`), or `None` for a blank line.
pub(super) fn parse_line(raw: &[u8], line_no: u64, label: &Arc<str>, cameras: &HashSet<&str>, limits: &InputConfig) -> Option<SourceEvent> {
    if raw.len() > limits.max_line_bytes {
        return Some(too_large(raw.len(), line_no, label, limits));
    }
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t.trim(),
        Err(e) => {
            let reason = format!("line is not UTF-8: {e}");
            return Some(SourceEvent::Rejected(error_row(label, Some(line_no), None, None, ErrorKind::MalformedJson, reason), 0));
        }
    };
    if text.is_empty() {
        return None;
    }
    match parse_frame_within(text, limits) {
        Ok(frame) if cameras.contains(frame.camera_id.as_str()) => Some(SourceEvent::Frame(frame, line_no, label.clone(), 0)),
        Ok(frame) => {
            let mut known: Vec<&str> = cameras.iter().copied().collect();
            known.sort_unstable();
            let reason = format!(
                "camera_id {:?} is not configured for this source (configured: {}): {}",
                frame.camera_id,
                known.join(", "),
                clip(text)
            );
            Some(SourceEvent::Rejected(error_row(label, Some(line_no), Some(frame.camera_id), Some(frame.ts_ms), ErrorKind::UnknownCamera, reason), 0))
        }
        Err(e) => {
            let reason = format!("{}; line: {}", e.reason, clip(text));
            Some(SourceEvent::Rejected(error_row(label, Some(line_no), e.camera_id, e.ts_ms, e.kind, reason), 0))
        }
    }
}

/// The `errors` row of a line of `len` bytes or more, over `[input] max_line_bytes`.
pub(super) fn too_large(len: usize, line_no: u64, label: &Arc<str>, limits: &InputConfig) -> SourceEvent {
    let e = too_long(len, limits);
    SourceEvent::Rejected(error_row(label, Some(line_no), None, None, e.kind, e.reason), 0)
}

fn clip(text: &str) -> &str {
    if text.len() <= MAX_RAW {
        return text;
    }
    let mut end = MAX_RAW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An `errors` row of `label`, rejected now.
pub(super) fn error_row(label: &str, line: Option<u64>, camera_id: Option<String>, ts_ms: Option<u64>, kind: ErrorKind, reason: String) -> ErrorRow {
    ErrorRow {
        source: label.to_string(),
        line,
        camera_id,
        ts_ms,
        kind,
        reason,
        rejected_at_ms: itscam_types::time::now_ms(),
    }
}
