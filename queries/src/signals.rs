//! Signal states: `[[signal]] source = "signals:PATH.jsonl"`, lines
//! `{"signal_id":"tl-1","ts_ms":…,"state":"red|yellow|green"}`. A file is read whole at start
//! (signal logs are small: one line per change); each change becomes a retraction of the
//! previous state and an insertion of the new one at its event time, so the collection holds
//! exactly one state per signal at any time. Bad lines are rejected with the line and reason.
//! `[[signal]] source = "push"` takes its changes over HTTP instead (the `signal_control` module,
//! which parses them as [`SignalLine`]s).

use crate::facts::{SignalState, SignalUpdate};
use itscam_types::{ErrorKind, ErrorRow};
use itscam_types::config::SignalConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One line of a signals file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalLine {
    /// Signal id.
    pub signal_id: String,
    /// Event time of the change.
    pub ts_ms: u64,
    /// New state.
    pub state: SignalState,
}

/// The updates of the signal collection and the rejected lines.
#[derive(Clone, Debug, Default)]
pub struct SignalUpdates {
    /// `((signal_id, state), time, diff)`, in time order.
    pub updates: Vec<SignalUpdate>,
    /// Rejected lines.
    pub errors: Vec<ErrorRow>,
}

/// Reads every configured signal file.
pub fn read_signals(signals: &[SignalConfig]) -> Result<SignalUpdates, std::io::Error> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for s in signals.iter().filter(|s| s.source != "push") {
        let path = s.source.strip_prefix("signals:").unwrap_or(&s.source);
        let text = std::fs::read_to_string(path).map_err(|e| std::io::Error::new(e.kind(), format!("cannot read signal file {path}: {e}")))?;
        let (ok, bad) = parse_signals(&text, &s.source, &s.id);
        lines.extend(ok);
        errors.extend(bad);
    }
    Ok(SignalUpdates { updates: updates_of(lines), errors })
}

/// Parses one file's text; lines for another signal than `signal_id` are rejected.
pub fn parse_signals(text: &str, source: &str, signal_id: &str) -> (Vec<SignalLine>, Vec<ErrorRow>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let reject = |n: usize, kind: ErrorKind, reason: String| ErrorRow {
        source: source.to_string(),
        line: Some(n as u64 + 1),
        camera_id: None,
        ts_ms: None,
        kind,
        reason,
        rejected_at_ms: itscam_types::time::now_ms(),
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<SignalLine>(line) {
            Ok(l) if l.signal_id == signal_id => ok.push(l),
            Ok(l) => bad.push(reject(n, ErrorKind::UnknownSignal, format!("signal {:?} in the file of signal {signal_id:?}", l.signal_id))),
            Err(e) => bad.push(reject(n, ErrorKind::MalformedSignal, e.to_string())),
        }
    }
    (ok, bad)
}

/// Changes → collection updates: per signal in time order, repeated states dropped.
pub fn updates_of(mut lines: Vec<SignalLine>) -> Vec<SignalUpdate> {
    lines.sort_by(|a, b| (&a.signal_id, a.ts_ms).cmp(&(&b.signal_id, b.ts_ms)));
    let mut current: BTreeMap<String, SignalState> = BTreeMap::new();
    let mut out = Vec::new();
    for l in lines {
        let prev = current.insert(l.signal_id.clone(), l.state);
        if prev == Some(l.state) {
            continue;
        }
        if let Some(p) = prev {
            out.push(((l.signal_id.clone(), p), l.ts_ms, -1));
        }
        out.push(((l.signal_id, l.state), l.ts_ms, 1));
    }
    out.sort_by_key(|u| u.1);
    out
}
