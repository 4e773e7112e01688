//! The durable outbox in front of the broker. Every alert is appended here, and the file synced,
//! before it is sent; a cursor file says up to which record everything was delivered. What the
//! broker has not acknowledged survives a broker outage and an engine restart, and goes out in
//! the order it came in.
//!
//! Layout of the directory:
//! - `<first seq, 20 digits>.seg`: segment files of records, one per line:
//!   `<crc32 of the JSON, 8 hex digits> {"seq":N,"stream":"raised","alert":{…}}`. Appended to and
//!   synced per batch; a new segment starts past `segment_bytes`.
//! - `cursor`: `{"delivered_through":N}`, replaced atomically (write, sync, rename, sync dir).
//!   Segments whose records are all delivered are deleted when it is written.
//! - `dead-letter.jsonl`: records the broker refused for good (e.g. too large), with the reason.
//! - `lock`: held (advisory lock) by the one engine using the outbox.
//!
//! At open, a torn last line (a crash during an append) is cut off; a damaged line elsewhere is
//! reported with its file and line and skipped; everything valid around it is kept.

use crate::dir_lock::{LockError, lock_dir};
use crate::alerts::AlertStream;
use itscam_types::analytics::Alert;
use itscam_types::{Blame, Blamed};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An outbox failure, always local: the directory, its files or the disk.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Another engine (or another outlet in this one) uses the directory.
    ///
    /// Blame: user — two engines configured with one `[alerts.outbox] dir`.
    #[error("outbox {dir} is in use by another process (its lock file is held); give each engine its own [alerts.outbox] dir")]
    Locked {
        /// The outbox directory.
        dir: String,
    },
    /// Reading or writing a file failed (permissions, disk full, …).
    ///
    /// Blame: decided from the OS error — no permission, or a path that is not a directory,
    /// is the user's setup; anything else (disk full, I/O errors) is the machine's: external,
    /// retried after a while.
    #[error("outbox file {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The cursor file does not hold what this code writes; it is not guessed at.
    ///
    /// Blame: external — the file was damaged or edited outside the engine.
    #[error("outbox cursor {path} is unreadable ({reason}); remove it to re-send every record in the outbox")]
    Cursor {
        /// The cursor file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Blamed for OutboxError {
    fn blame(&self) -> Blame {
        match self {
            OutboxError::Locked { .. } => Blame::User,
            OutboxError::Io { source, .. } if matches!(source.kind(), ErrorKind::PermissionDenied | ErrorKind::NotADirectory | ErrorKind::ReadOnlyFilesystem) => Blame::User,
            OutboxError::Io { .. } | OutboxError::Cursor { .. } => Blame::External,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        (matches!(self, OutboxError::Io { .. }) && self.blame() == Blame::External).then_some(Duration::from_secs(1))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io { path: path.display().to_string(), source }
}

/// One alert in the outbox.
#[derive(Debug)]
pub struct OutboxRecord {
    /// Position in the outbox: 1, 2, 3, … in the order alerts were appended.
    pub seq: u64,
    /// Which topic it goes to.
    pub stream: AlertStream,
    /// The alert.
    pub alert: Alert,
    /// The alert's JSON exactly as appended (the Kafka message value).
    pub json: Box<RawValue>,
}

/// A damaged record found when the outbox was opened; it is skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Segment file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// What opening the outbox found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records appended earlier and not yet delivered: they are sent first.
    pub undelivered: u64,
    /// Damaged lines skipped.
    pub damaged: Vec<DamagedRecord>,
    /// Bytes of a torn last record cut off (a crash during an append, before it was synced).
    pub torn_bytes: u64,
}

#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    stream: &'static str,
    alert: &'a Alert,
}

#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    stream: String,
    alert: Box<RawValue>,
}

#[derive(Serialize, Deserialize)]
struct CursorFile {
    delivered_through: u64,
}

fn stream_name(s: AlertStream) -> &'static str {
    match s {
        AlertStream::Raised => "raised",
        AlertStream::Escalation => "escalation",
    }
}

fn encode(seq: u64, stream: AlertStream, alert: &Alert) -> Vec<u8> {
    let json = serde_json::to_vec(&LineOut { seq, stream: stream_name(stream), alert }).expect("an Alert always serializes");
    let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
    line.extend_from_slice(&json);
    line.push(b'\n');
    line
}

fn decode(line: &str) -> Result<OutboxRecord, String> {
    let line = line.strip_suffix('\n').ok_or("no end of line (torn write)")?;
    let (crc, json) = line.split_once(' ').ok_or("no checksum")?;
    let want = u32::from_str_radix(crc, 16).map_err(|_| format!("bad checksum field {crc:?}"))?;
    if crc32fast::hash(json.as_bytes()) != want {
        return Err("checksum mismatch".into());
    }
    let parsed: LineIn = serde_json::from_str(json).map_err(|e| format!("bad record: {e}"))?;
    let stream = match parsed.stream.as_str() {
        "raised" => AlertStream::Raised,
        "escalation" => AlertStream::Escalation,
        other => return Err(format!("unknown stream {other:?}")),
    };
    let alert: Alert = serde_json::from_str(parsed.alert.get()).map_err(|e| format!("bad alert: {e}"))?;
    Ok(OutboxRecord { seq: parsed.seq, stream, alert, json: parsed.alert })
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// Reads records in order from a position, across segments.
struct Reader {
    /// First seq of the segment open in `file`.
    segment: Option<u64>,
    file: Option<BufReader<File>>,
    /// The next seq wanted: records below it are skipped.
    next_seq: u64,
}

/// The outbox of one engine: append, read in order, mark delivered.
pub struct Outbox {
    dir: PathBuf,
    segment_bytes: u64,
    _lock: File,
    /// First seq of each segment, ascending; the last one is appended to.
    segments: VecDeque<u64>,
    active: Option<(File, u64)>,
    next_seq: u64,
    delivered_through: u64,
    reader: Reader,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("dir", &self.dir).field("next_seq", &self.next_seq).field("delivered_through", &self.delivered_through).finish()
    }
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, locks it, recovers from a crash, and positions the
    /// reader at the first undelivered record.
    pub fn open(dir: impl Into<PathBuf>, segment_bytes: u64) -> Result<(Outbox, Recovery), OutboxError> {
        let dir: PathBuf = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock = match lock_dir(&dir) {
            Ok(lock) => lock,
            Err(LockError::Held) => return Err(OutboxError::Locked { dir: dir.display().to_string() }),
            Err(LockError::Io(path, e)) => return Err(io_err(&path)(e)),
        };
        let delivered_through = read_cursor(&dir.join("cursor"))?;

        let mut segments: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let name = entry.map_err(io_err(&dir))?.file_name();
            let name = name.to_string_lossy();
            if let Some(first) = name.strip_suffix(".seg").filter(|s| s.len() == 20).and_then(|s| s.parse::<u64>().ok()) {
                segments.push(first);
            }
        }
        segments.sort_unstable();

        let mut recovery = Recovery::default();
        let mut last_seq = 0u64;
        let count = segments.len();
        for (i, &first) in segments.iter().enumerate() {
            // A segment followed by one starting at or below the cursor is fully delivered.
            if segments.get(i + 1).is_some_and(|&next| next <= delivered_through + 1) {
                continue;
            }
            let path = dir.join(segment_name(first));
            let scan = scan_segment(&path, delivered_through)?;
            recovery.undelivered += scan.undelivered;
            last_seq = last_seq.max(scan.last_seq);
            let mut damaged = scan.damaged;
            if i + 1 == count {
                // Damage at the very end of the last segment is a torn append: cut it off.
                if let Some(cut) = scan.good_len_before_damaged_tail {
                    let file = OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
                    let len = file.metadata().map_err(io_err(&path))?.len();
                    file.set_len(cut).and_then(|_| file.sync_all()).map_err(io_err(&path))?;
                    recovery.torn_bytes = len - cut;
                    damaged.retain(|d| d.line < scan.tail_first_line);
                    tracing::warn!(file = %path.display(), bytes = len - cut, "outbox: cut off a torn last record (a crash during an append)");
                }
            }
            for d in &damaged {
                tracing::error!(file = %d.file, line = d.line, reason = %d.reason, "outbox: damaged record skipped");
            }
            recovery.damaged.extend(damaged);
        }
        let next_seq = (last_seq + 1).max(delivered_through + 1).max(segments.last().copied().unwrap_or(0));
        let mut outbox = Outbox {
            dir,
            segment_bytes,
            _lock: lock,
            segments: segments.into(),
            active: None,
            next_seq,
            delivered_through,
            reader: Reader { segment: None, file: None, next_seq: delivered_through + 1 },
        };
        outbox.delete_delivered_segments()?;
        if let Some(&first) = outbox.segments.back() {
            let path = outbox.dir.join(segment_name(first));
            let file = OpenOptions::new().append(true).open(&path).map_err(io_err(&path))?;
            let len = file.metadata().map_err(io_err(&path))?.len();
            outbox.active = Some((file, len));
        }
        Ok((outbox, recovery))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seq the next appended record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The cursor as last written: every record up to this seq is delivered.
    pub fn delivered_through(&self) -> u64 {
        self.delivered_through
    }

    /// Appends records and syncs them to disk. On error, `Err((n, e))`: the first `n` records
    /// were appended and synced, the others not (append them again).
    pub fn append<'a>(&mut self, items: impl IntoIterator<Item = (AlertStream, &'a Alert)>) -> Result<(), (usize, OutboxError)> {
        let mut buf: Vec<u8> = Vec::new();
        let mut in_buf = 0usize;
        let mut done = 0usize;
        for (stream, alert) in items {
            let line = encode(self.next_seq + in_buf as u64, stream, alert);
            let active_len = self.active.as_ref().map_or(0, |a| a.1);
            let full = active_len + (buf.len() + line.len()) as u64 > self.segment_bytes && active_len + buf.len() as u64 > 0;
            if self.active.is_none() || full {
                self.write_synced(&buf, in_buf).map_err(|e| (done, e))?;
                done += in_buf;
                buf.clear();
                in_buf = 0;
                self.roll().map_err(|e| (done, e))?;
            }
            buf.extend_from_slice(&line);
            in_buf += 1;
        }
        self.write_synced(&buf, in_buf).map_err(|e| (done, e))
    }

    fn write_synced(&mut self, buf: &[u8], records: usize) -> Result<(), OutboxError> {
        if buf.is_empty() {
            return Ok(());
        }
        let first = *self.segments.back().expect("a segment is open");
        let path = self.dir.join(segment_name(first));
        let (file, len) = self.active.as_mut().expect("a segment is open");
        let result = file.write_all(buf).and_then(|_| file.sync_data());
        if let Err(e) = result {
            // Cut a partial write off so that the next append starts on a line boundary.
            let _ = file.set_len(*len);
            return Err(io_err(&path)(e));
        }
        *len += buf.len() as u64;
        self.next_seq += records as u64;
        Ok(())
    }

    fn roll(&mut self) -> Result<(), OutboxError> {
        let path = self.dir.join(segment_name(self.next_seq));
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        if self.segments.back() != Some(&self.next_seq) {
            self.segments.push_back(self.next_seq);
        }
        self.active = Some((file, 0));
        Ok(())
    }

    /// The next record from the read position, in seq order; `None` when everything appended
    /// has been read. Damaged lines are skipped (they were reported at open).
    pub fn read_next(&mut self) -> Result<Option<OutboxRecord>, OutboxError> {
        loop {
            if self.reader.next_seq >= self.next_seq {
                return Ok(None);
            }
            if self.reader.file.is_none() {
                let want = self.reader.next_seq;
                let Some(first) = self.segments.iter().rev().find(|&&f| f <= want).or(self.segments.front()).copied() else {
                    return Ok(None);
                };
                let path = self.dir.join(segment_name(first));
                let file = File::open(&path).map_err(io_err(&path))?;
                self.reader.segment = Some(first);
                self.reader.file = Some(BufReader::new(file));
            }
            let first = self.reader.segment.expect("set with the file");
            let reader = self.reader.file.as_mut().expect("opened above");
            let mut line = String::new();
            let n = reader.read_line(&mut line).map_err(|e| io_err(&self.dir.join(segment_name(first)))(e))?;
            if n == 0 || !line.ends_with('\n') {
                if n > 0 {
                    // Cannot happen while this process appends whole lines; re-read it later.
                    let _ = reader.seek(SeekFrom::Current(-(n as i64)));
                }
                match self.segments.iter().find(|&&f| f > first) {
                    Some(_) => {
                        self.reader.file = None;
                        // Records of later segments start at their first seq at the earliest.
                        let next = self.segments.iter().copied().find(|&f| f > first).expect("found");
                        self.reader.next_seq = self.reader.next_seq.max(next);
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            match decode(&line) {
                Ok(rec) if rec.seq < self.reader.next_seq => continue,
                Ok(rec) => {
                    self.reader.next_seq = rec.seq + 1;
                    return Ok(Some(rec));
                }
                Err(_) => continue,
            }
        }
    }

    /// The ids of the raised alerts not yet delivered (the reader is left where it was).
    pub fn undelivered_ids(&mut self) -> Result<Vec<String>, OutboxError> {
        let at = self.reader.next_seq;
        self.rewind(self.delivered_through + 1);
        let mut ids = Vec::new();
        while let Some(rec) = self.read_next()? {
            if rec.stream == super::AlertStream::Raised {
                ids.push(rec.alert.alert_id);
            }
        }
        self.rewind(at);
        Ok(ids)
    }

    /// Moves the read position back (or forward) to `seq`.
    pub fn rewind(&mut self, seq: u64) {
        self.reader = Reader { segment: None, file: None, next_seq: seq.max(1) };
    }

    /// Records `through` as delivered (with everything before it): writes the cursor atomically
    /// and deletes segments that hold only delivered records.
    pub fn mark_delivered(&mut self, through: u64) -> Result<(), OutboxError> {
        if through <= self.delivered_through {
            return Ok(());
        }
        let tmp = self.dir.join("cursor.tmp");
        let path = self.dir.join("cursor");
        let body = serde_json::to_vec(&CursorFile { delivered_through: through }).expect("serializes");
        (|| -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
            f.sync_all()
        })()
        .map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.delivered_through = through;
        self.delete_delivered_segments()
    }

    fn delete_delivered_segments(&mut self) -> Result<(), OutboxError> {
        while self.segments.len() >= 2 && self.segments[1] <= self.delivered_through + 1 {
            let first = self.segments.pop_front().expect("len ≥ 2");
            if self.reader.segment == Some(first) {
                self.reader.file = None;
                self.reader.segment = None;
            }
            let path = self.dir.join(segment_name(first));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(())
    }

    /// Appends a record the broker refused for good to `dead-letter.jsonl`, with the reason.
    pub fn dead_letter(&mut self, record: &OutboxRecord, reason: &str) -> Result<(), OutboxError> {
        #[derive(Serialize)]
        struct Dead<'a> {
            seq: u64,
            stream: &'static str,
            reason: &'a str,
            alert: &'a RawValue,
        }
        let path = self.dir.join("dead-letter.jsonl");
        let mut line = serde_json::to_vec(&Dead { seq: record.seq, stream: stream_name(record.stream), reason, alert: &record.json }).expect("serializes");
        line.push(b'\n');
        let mut f = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        f.write_all(&line).and_then(|_| f.sync_data()).map_err(io_err(&path))
    }

    /// Bytes in segment files (delivered records in the oldest segment included).
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().filter_map(|f| std::fs::metadata(self.dir.join(segment_name(*f))).ok()).map(|m| m.len()).sum()
    }
}

fn read_cursor(path: &Path) -> Result<u64, OutboxError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str::<CursorFile>(text.trim())
            .map(|c| c.delivered_through)
            .map_err(|e| OutboxError::Cursor { path: path.display().to_string(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_err(path)(e)),
    }
}

struct Scan {
    last_seq: u64,
    undelivered: u64,
    damaged: Vec<DamagedRecord>,
    /// When the segment ends in damaged lines: the length of the good part before them.
    good_len_before_damaged_tail: Option<u64>,
    /// First line of that damaged tail.
    tail_first_line: usize,
}

fn scan_segment(path: &Path, delivered_through: u64) -> Result<Scan, OutboxError> {
    let mut reader = BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut scan = Scan { last_seq: 0, undelivered: 0, damaged: Vec::new(), good_len_before_damaged_tail: None, tail_first_line: 0 };
    let mut offset = 0u64;
    let mut line_no = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        // Damaged bytes need not be UTF-8: read raw and convert lossily.
        let mut raw = Vec::new();
        let n = reader.read_until(b'\n', &mut raw).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        line.push_str(&String::from_utf8_lossy(&raw));
        match decode(&line) {
            Ok(rec) => {
                scan.last_seq = scan.last_seq.max(rec.seq);
                if rec.seq > delivered_through {
                    scan.undelivered += 1;
                }
                scan.good_len_before_damaged_tail = None;
            }
            Err(reason) => {
                if scan.good_len_before_damaged_tail.is_none() {
                    scan.good_len_before_damaged_tail = Some(offset);
                    scan.tail_first_line = line_no;
                }
                scan.damaged.push(DamagedRecord { file: path.display().to_string(), line: line_no, reason });
            }
        }
        offset += n as u64;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::analytics::AlertSource;
    use itscam_types::config::Severity;

    fn alert(i: u64) -> Alert {
        Alert {
            alert_id: format!("r1:cam-{}:{i}:{}", i % 3, 1000 + i),
            source: AlertSource::Violation,
            source_id: format!("r1:cam-{}:{i}:{}", i % 3, 1000 + i),
            kind: "speeding".into(),
            rule_id: Some("r1".into()),
            severity: Severity::High,
            camera_id: format!("cam-{}", i % 3),
            track_id: Some(i),
            place: Some("zone \"a\"\n".into()),
            ts_start_ms: 1000 + i,
            ts_ms: 2000 + i,
            value: 0.1 + i as f64 / 3.0,
            limit_value: Some(50.0),
            message: format!("speeding by car track {i} — ünïcode"),
            emitted_at_ms: 5,
            evidence: Vec::new(),
        }
    }

    fn read_all(o: &mut Outbox) -> Vec<OutboxRecord> {
        std::iter::from_fn(|| o.read_next().unwrap()).collect()
    }

    #[test]
    fn appends_read_back_in_order_across_segments_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let alerts: Vec<Alert> = (0..50).map(alert).collect();
        {
            let (mut o, rec) = Outbox::open(dir.path(), 4096).unwrap();
            assert_eq!(rec, Recovery::default());
            o.append(alerts[..30].iter().map(|a| (AlertStream::Raised, a))).unwrap();
            o.append(alerts[30..].iter().map(|a| (AlertStream::Escalation, a))).unwrap();
            assert!(o.segments.len() > 2, "4 KiB segments roll: {:?}", o.segments);
            let got = read_all(&mut o);
            assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=50).collect::<Vec<_>>());
            // The payload is the JSON as appended, byte for byte.
            for (r, a) in got.iter().zip(&alerts) {
                assert_eq!(r.json.get(), serde_json::to_string(a).unwrap());
                assert_eq!(r.alert.alert_id, a.alert_id);
            }
            assert_eq!(got[29].stream, AlertStream::Raised);
            assert_eq!(got[30].stream, AlertStream::Escalation);
            o.mark_delivered(20).unwrap();
        }
        let (mut o, rec) = Outbox::open(dir.path(), 4096).unwrap();
        assert_eq!(rec.undelivered, 30);
        assert!(rec.damaged.is_empty());
        let got = read_all(&mut o);
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), (21..=50).collect::<Vec<_>>());
        assert_eq!(o.next_seq(), 51);
        o.append([(AlertStream::Raised, &alerts[0])]).unwrap();
        assert_eq!(read_all(&mut o).iter().map(|r| r.seq).collect::<Vec<_>>(), vec![51]);
        o.rewind(49);
        assert_eq!(read_all(&mut o).iter().map(|r| r.seq).collect::<Vec<_>>(), vec![49, 50, 51]);
    }

    #[test]
    fn delivered_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let alerts: Vec<Alert> = (0..40).map(alert).collect();
        let (mut o, _) = Outbox::open(dir.path(), 4096).unwrap();
        o.append(alerts.iter().map(|a| (AlertStream::Raised, a))).unwrap();
        let before = o.segments.len();
        o.mark_delivered(40).unwrap();
        assert_eq!(o.segments.len(), 1, "only the active segment stays (had {before})");
        let files = std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg")).count();
        assert_eq!(files, 1);
        drop(o);
        let (mut o, rec) = Outbox::open(dir.path(), 4096).unwrap();
        assert_eq!(rec.undelivered, 0);
        assert!(read_all(&mut o).is_empty());
        assert_eq!(o.next_seq(), 41);
    }

    #[test]
    fn a_second_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_o, _) = Outbox::open(dir.path(), 4096).unwrap();
        let err = Outbox::open(dir.path(), 4096).unwrap_err();
        assert!(matches!(err, OutboxError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another process"), "{err}");
    }

    #[test]
    fn torn_tail_is_cut_and_damaged_line_is_skipped_with_its_location() {
        let dir = tempfile::tempdir().unwrap();
        let alerts: Vec<Alert> = (0..6).map(alert).collect();
        {
            let (mut o, _) = Outbox::open(dir.path(), 1 << 20).unwrap();
            o.append(alerts.iter().map(|a| (AlertStream::Raised, a))).unwrap();
        }
        let seg = dir.path().join(segment_name(1));
        let text = std::fs::read_to_string(&seg).unwrap();
        let mut lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
        // Line 3: flip a digit inside the JSON (checksum no longer matches).
        lines[2] = lines[2].replacen("\"seq\":3", "\"seq\":9", 1);
        // A torn append after the last line: half a record, no newline.
        let torn = &lines[5][..lines[5].len() / 2].to_string();
        let damaged = lines.concat() + torn;
        std::fs::write(&seg, &damaged).unwrap();

        let (mut o, rec) = Outbox::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(rec.torn_bytes, torn.len() as u64);
        assert_eq!(rec.damaged.len(), 1, "{rec:?}");
        assert_eq!(rec.damaged[0].line, 3);
        assert_eq!(rec.damaged[0].reason, "checksum mismatch");
        assert_eq!(rec.undelivered, 5);
        let got = read_all(&mut o);
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 4, 5, 6]);
        assert_eq!(got[2].alert.alert_id, alerts[3].alert_id);
        // Appends continue after the last good record, on a line boundary.
        o.append([(AlertStream::Raised, &alerts[0])]).unwrap();
        assert_eq!(read_all(&mut o).iter().map(|r| r.seq).collect::<Vec<_>>(), vec![7]);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), (damaged.len() - torn.len() + encode(7, AlertStream::Raised, &alerts[0]).len()) as u64);
    }

    #[test]
    fn unreadable_cursor_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cursor"), "garbage").unwrap();
        let err = Outbox::open(dir.path(), 4096).unwrap_err();
        assert!(err.to_string().contains("cursor") && err.to_string().contains("unreadable"), "{err}");
    }

    #[test]
    fn dead_letters_keep_the_alert_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), 4096).unwrap();
        let a = alert(1);
        o.append([(AlertStream::Raised, &a)]).unwrap();
        let rec = o.read_next().unwrap().unwrap();
        o.dead_letter(&rec, "message too large").unwrap();
        let text = std::fs::read_to_string(dir.path().join("dead-letter.jsonl")).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["reason"], "message too large");
        assert_eq!(v["alert"]["alert_id"], a.alert_id.as_str());
        assert_eq!(v["seq"], 1);
    }
}
