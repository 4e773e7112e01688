//! The reader thread of a detections file or stdin: blocking reads happen here, never on a worker.

use super::FeedSpec;
use super::lines::{too_large, SourceEvent, error_row, parse_line};
use itscam_types::ErrorKind;
use itscam_types::config::Source;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use timely::scheduling::SyncActivator;

/// Lines per chunk handed to the worker (fewer when the input has nothing more buffered).
pub(super) const CHUNK_LINES: usize = 256;
/// Chunks buffered between a reader and the worker; a full channel stops the reader. Every feed
/// (a camera's file) has its own, so this is per camera: 4 × 256 frames keep the worker fed
/// without parking seconds of every camera's input in memory (16 held ~120 MB of parsed frames
/// with 100 cameras).
const CHANNEL_CHUNKS: usize = 4;

/// Starts the reader of a file or stdin feed. Once `stop` is set, the reader hands over the
/// chunk it holds and ends: no line it read is dropped.
pub(super) fn spawn(spec: FeedSpec, activator: SyncActivator, stop: Arc<AtomicBool>) -> Receiver<Vec<SourceEvent>> {
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
                        read_lines(f, &spec, &label, &tx, &activator, &stop)
                    }
                    Err(e) => Err(format!("cannot open {}: {e}", path.display())),
                },
                Source::DetectionsStdin => read_lines(std::io::stdin().lock(), &spec, &label, &tx, &activator, &stop),
                Source::Kafka(_) => Err(format!("{} was not connected before the source started (this is a bug)", spec.source)),
                Source::Push => Err(format!("camera {:?} takes pushed detections but no push inlet was set up (this is a bug)", spec.cameras)),
                Source::VideoFile(_) | Source::Rtsp(_) => Err(format!("{} is not a detections source (this is a bug)", spec.source)),
            };
            if let Err(reason) = result {
                let row = error_row(&label, None, None, None, ErrorKind::IoError, reason);
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

/// Reads one line into `buf`, keeping at most `max` bytes of it: the rest of a longer line is
/// read and dropped, so memory holds no more than `max` whatever the input. Returns the bytes
/// read (0 at the end) and whether the whole line is in `buf`.
fn read_line_within<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<(usize, bool)> {
    let n = reader.by_ref().take(max as u64 + 1).read_until(b'\n', buf)?;
    if buf.len() <= max || (buf.last() == Some(&b'\n') && buf.len() <= max + 1) {
        return Ok((n, true));
    }
    // Over the limit: skip to the end of the line, a buffer at a time.
    let mut skipped = n;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                skipped += i + 1;
                break;
            }
            None => {
                let len = available.len();
                reader.consume(len);
                skipped += len;
            }
        }
    }
    buf.clear();
    Ok((skipped, false))
}

fn read_lines<R: Read>(
    input: R,
    spec: &FeedSpec,
    label: &Arc<str>,
    tx: &SyncSender<Vec<SourceEvent>>,
    activator: &SyncActivator,
    stop: &AtomicBool,
) -> Result<(), String> {
    let cameras: HashSet<&str> = spec.cameras.iter().map(String::as_str).collect();
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    let mut line_no = 0u64;
    let stats = &spec.stats;
    loop {
        buf.clear();
        // A read that may block holds nothing: every chunk was handed over below.
        let may_block = reader.buffer().is_empty();
        if may_block {
            stats.waiting.store(true, Ordering::Release);
            if stop.load(Ordering::Acquire) {
                break;
            }
        }
        let read = read_line_within(&mut reader, &mut buf, spec.limits.max_line_bytes);
        if may_block {
            stats.waiting.store(false, Ordering::Release);
        }
        let (n, whole) = read.map_err(|e| format!("read error after line {line_no}: {e}"))?;
        if n == 0 {
            tracing::info!(source = %label, lines = line_no, "detections input read to its end");
            break;
        }
        line_no += 1;
        stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        let event = if whole { parse_line(&buf, line_no, label, &cameras, &spec.limits) } else { Some(too_large(n, line_no, label, &spec.limits)) };
        if let Some(event) = event {
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
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() && tx.send(chunk).is_ok() {
        let _ = activator.activate();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::read_line_within;
    use std::io::BufReader;

    /// A line past the limit is read through and dropped: the buffer never holds more than the
    /// limit (plus the newline), and the lines after it are read as usual.
    #[test]
    fn a_line_past_the_limit_is_skipped_without_being_held() {
        let long = "x".repeat(100_000);
        let input = format!("short\n{}\n{long}\nafter\n{long}", "y".repeat(16));
        // A small reader buffer: the long line spans many fills.
        let mut reader = BufReader::with_capacity(64, input.as_bytes());
        let mut buf = Vec::new();
        let mut read = |buf: &mut Vec<u8>| {
            buf.clear();
            let r = read_line_within(&mut reader, buf, 16).unwrap();
            assert!(buf.len() <= 17, "held {} bytes", buf.len());
            (r, String::from_utf8_lossy(buf).trim_end().to_string())
        };
        assert_eq!(read(&mut buf), ((6, true), "short".into()));
        assert_eq!(read(&mut buf), ((17, true), "y".repeat(16)), "exactly the limit, and its newline");
        assert_eq!(read(&mut buf), ((100_001, false), String::new()));
        assert_eq!(read(&mut buf), ((6, true), "after".into()));
        assert_eq!(read(&mut buf), ((100_000, false), String::new()), "a long last line without a newline");
        assert_eq!(read(&mut buf), ((0, true), String::new()));
    }
}
