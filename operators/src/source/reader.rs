//! The reader thread of one detections source: blocking reads happen here, never on a worker.

use super::FeedSpec;
use itscam_types::config::Source;
use itscam_types::jsonl::parse_frame;
use itscam_types::{ErrorRow, Frame};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use timely::scheduling::SyncActivator;

/// Lines per chunk handed to the worker (fewer when the input has nothing more buffered).
pub(super) const CHUNK_LINES: usize = 256;
/// Chunks buffered between a reader and the worker; a full channel stops the reader.
const CHANNEL_CHUNKS: usize = 16;
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
    /// Set when the input is exhausted.
    pub done: AtomicBool,
}

pub(super) fn spawn(spec: FeedSpec, activator: SyncActivator) -> Receiver<Vec<SourceEvent>> {
    if let Some(kafka) = spec.kafka.clone() {
        return super::kafka::spawn(spec, kafka, activator);
    }
    let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
    let name = format!("itscam-read {}", spec.source.label());
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let label: Arc<str> = spec.source.label().into();
            let result = match &spec.source {
                Source::DetectionsFile(path) => match std::fs::File::open(path) {
                    Ok(f) => {
                        if let Ok(m) = f.metadata() {
                            spec.stats.total_bytes.store(m.len(), Ordering::Relaxed);
                        }
                        read_lines(f, &spec, &label, &tx, &activator)
                    }
                    Err(e) => Err(format!("cannot open {}: {e}", path.display())),
                },
                Source::DetectionsStdin => read_lines(std::io::stdin().lock(), &spec, &label, &tx, &activator),
                other => Err(format!("{} is not a detections source", other.label())),
            };
            if let Err(reason) = result {
                let row = error_row(&label, None, None, None, "io_error", reason);
                spec.stats.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(vec![SourceEvent::Rejected(row, 0)]);
            }
            spec.stats.done.store(true, Ordering::Relaxed);
            drop(tx);
            let _ = activator.activate();
        })
        .expect("spawning a reader thread");
    rx
}

fn read_lines<R: Read>(
    input: R,
    spec: &FeedSpec,
    label: &Arc<str>,
    tx: &SyncSender<Vec<SourceEvent>>,
    activator: &SyncActivator,
) -> Result<(), String> {
    let cameras: HashSet<&str> = spec.cameras.iter().map(String::as_str).collect();
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    let mut line_no = 0u64;
    let stats = &spec.stats;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| format!("read error after line {line_no}: {e}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(event) = parse_line(&buf, line_no, label, &cameras) {
            match &event {
                SourceEvent::Frame(f, ..) => {
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    stats.detections.fetch_add(f.detections.len() as u64, Ordering::Relaxed);
                }
                SourceEvent::Rejected(..) => {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                }
                SourceEvent::Idle(_) => {}
            }
            chunk.push(event);
        }
        // Hand over a full chunk, or whatever we have when the next read would block (live input).
        if chunk.len() >= CHUNK_LINES || (reader.buffer().is_empty() && !chunk.is_empty()) {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_LINES));
            if tx.send(full).is_err() {
                return Ok(()); // the dataflow is gone (shutdown)
            }
            let _ = activator.activate();
        }
    }
    if !chunk.is_empty() && tx.send(chunk).is_ok() {
        let _ = activator.activate();
    }
    Ok(())
}

pub(super) fn parse_line(raw: &[u8], line_no: u64, label: &Arc<str>, cameras: &HashSet<&str>) -> Option<SourceEvent> {
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t.trim(),
        Err(e) => {
            let reason = format!("line is not UTF-8: {e}");
            return Some(SourceEvent::Rejected(error_row(label, Some(line_no), None, None, "malformed_json", reason), 0));
        }
    };
    if text.is_empty() {
        return None;
    }
    match parse_frame(text) {
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
            Some(SourceEvent::Rejected(error_row(label, Some(line_no), Some(frame.camera_id), Some(frame.ts_ms), "unknown_camera", reason), 0))
        }
        Err(e) => {
            let reason = format!("{}; line: {}", e.reason, clip(text));
            Some(SourceEvent::Rejected(error_row(label, Some(line_no), e.camera_id, e.ts_ms, e.kind, reason), 0))
        }
    }
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

pub(super) fn error_row(label: &str, line: Option<u64>, camera_id: Option<String>, ts_ms: Option<u64>, kind: &str, reason: String) -> ErrorRow {
    ErrorRow {
        source: label.to_string(),
        line,
        camera_id,
        ts_ms,
        kind: kind.to_string(),
        reason,
        rejected_at_ms: itscam_types::time::now_ms(),
    }
}
