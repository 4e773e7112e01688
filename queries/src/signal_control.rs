//! Signal states pushed while the pipeline runs: `[[signal]] source = "push"`, changes posted as
//! JSON Lines `{"signal_id", "ts_ms", "state"}` (`POST /api/v1/signals`). [`SignalControl`] is the
//! handle the HTTP API holds; [`signals_input`] is the operator that feeds the signal
//! collection from the config's files and from the pushes.
//!
//! A pushed change enters the collection at its own `ts_ms`, so a crossing is judged against the
//! state at its time. That needs `ts_ms` at or after the event-time frontier the pushed change
//! finds (the frontier of the facts, which trails the cameras by their lateness); an earlier
//! change, or one before the signal's previous change, is rejected as `late` — applying it at
//! another time would judge crossings against the wrong state without saying so. A push is taken
//! whole or not at all: past `[service] push_queue_lines` changes waiting, it is refused with
//! [`SignalPushError::Full`].
//!
//! A push is durable before it takes effect: [`SignalControl::prepare`] checks it and holds the
//! signals' event time at its earliest change, the caller appends it to the control log, then
//! [`PreparedSignals::apply`] enters it (dropping it instead releases the time, nothing taken).
//! A starting pipeline enters the logged pushes again ([`SignalControl::replay`]), so a restart
//! knows each signal's last state and a checkpointed run judges its replayed crossings against
//! the same states.

use crate::facts::{SignalState, SignalUpdate};
use crate::signals::SignalLine;
use itscam_types::config::PipelineConfig;
use itscam_types::{ErrorKind, ErrorRow, RejectedLine};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;
use timely::scheduling::SyncActivator;

/// The `errors.source` of rejected pushed signal lines.
pub const SIGNALS_PUSH_LABEL: &str = "push:signals";

/// Why a push of signal changes was refused; nothing of it was taken.
#[derive(Debug, thiserror::Error)]
pub enum SignalPushError {
    /// No `[[signal]]` has `source = "push"` (caller's input).
    #[error("no [[signal]] of this pipeline has source = \"push\"")]
    NoPushSignal,
    /// Too many changes wait for the pipeline (retry later).
    #[error("{queued} signal changes are waiting (limit {limit}); retry later")]
    Full {
        /// Changes waiting.
        queued: usize,
        /// The bound.
        limit: usize,
    },
    /// The pipeline has ended.
    #[error("the pipeline has ended: signal changes are no longer taken")]
    Ended,
}

/// What a taken push did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SignalsPushed {
    /// Changes taken (a repeated state counts, and changes nothing).
    pub accepted: usize,
    /// Lines refused, with their line number in the body; also written to `errors`.
    pub rejected: Vec<RejectedLine>,
}

#[derive(Default)]
struct State {
    /// Each `[[signal]]`: whether it takes pushes, else its source.
    signals: BTreeMap<String, Option<String>>,
    /// A pushed signal's last change: (state, ts_ms).
    current: BTreeMap<String, (SignalState, u64)>,
    /// Updates for the operator: the files' first, then the pushes'.
    pending: Vec<SignalUpdate>,
    errors: Vec<ErrorRow>,
    /// The operator's capability: pushed changes must be at or after it.
    frontier: u64,
    /// A prepared push's earliest change: the capability stays at or below it until the push
    /// is applied or dropped.
    reserved: Option<u64>,
    activator: Option<SyncActivator>,
    ended: bool,
    /// In a cluster, the worker (other than worker 0) that enters this process's pushes: the
    /// first worker of a process other than 0 ([`SignalControl::enter_on_worker`]).
    feeder: Option<usize>,
}

/// The handle on the signal collection's pushed changes. Cloning shares it.
#[derive(Clone)]
pub struct SignalControl {
    state: Arc<Mutex<State>>,
    queue_limit: usize,
}

impl std::fmt::Debug for SignalControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalControl").field("queue_limit", &self.queue_limit).finish_non_exhaustive()
    }
}

impl SignalControl {
    /// The signals of `config`, starting with `file_updates` (the `signals:` files' changes).
    pub fn new(config: &PipelineConfig, file_updates: Vec<SignalUpdate>) -> SignalControl {
        let signals = config.signal.iter().map(|s| (s.id.clone(), (s.source != "push").then(|| s.source.clone()))).collect();
        let state = State { signals, pending: file_updates, ..State::default() };
        SignalControl { state: Arc::new(Mutex::new(state)), queue_limit: config.service.push_queue_lines.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the signal changes of `body` (JSON Lines), all or nothing; see the module docs.
    pub fn push(&self, body: &[u8]) -> Result<SignalsPushed, SignalPushError> {
        Ok(self.prepare(body)?.apply())
    }

    /// Checks the signal changes of `body` (JSON Lines) and holds the signals' event time at
    /// the earliest accepted one until the returned push is applied or dropped. One prepared
    /// push at a time (the control log orders them).
    pub fn prepare(&self, body: &[u8]) -> Result<PreparedSignals, SignalPushError> {
        let mut state = self.lock();
        if state.ended {
            return Err(SignalPushError::Ended);
        }
        if !state.signals.values().any(Option::is_none) {
            return Err(SignalPushError::NoPushSignal);
        }
        let checked = check(&state, body, state.frontier);
        let queued = state.pending.len() + state.errors.len();
        if queued + checked.updates.len() + checked.errors.len() > self.queue_limit {
            return Err(SignalPushError::Full { queued, limit: self.queue_limit });
        }
        state.reserved = checked.changes.iter().map(|l| l.ts_ms).min();
        Ok(PreparedSignals { control: self.clone(), checked: Some(checked) })
    }

    /// In a cluster, on a process other than 0: worker `index` (this process's first) enters
    /// the pushes taken by this process's API from now on; what waits now — the signal files'
    /// changes, the control log's replay — is left to process 0's worker 0.
    pub fn enter_on_worker(&self, index: usize) {
        let mut state = self.lock();
        state.feeder = Some(index);
        state.pending.clear();
        state.errors.clear();
    }

    /// Takes a push that another process of the cluster logged and entered (its worker did):
    /// each signal's last state follows it, so the next push here changes from that state.
    /// Returns how many of its changes did not apply here (none when the configs agree).
    pub fn follow(&self, logged: &[SignalLine]) -> usize {
        let mut state = self.lock();
        let (known, unknown): (Vec<&SignalLine>, Vec<&SignalLine>) = logged.iter().partition(|l| matches!(state.signals.get(&l.signal_id), Some(None)));
        let body: String = known.iter().filter_map(|l| serde_json::to_string(l).ok()).map(|l| l + "\n").collect();
        let checked = check(&state, body.as_bytes(), 0);
        state.current = checked.current;
        unknown.len() + checked.errors.len()
    }

    /// Enters pushes logged by an earlier run (in log order, before the dataflow starts): each
    /// signal's changes at their times, its last state the one a new push follows. Changes of
    /// signals that no longer take pushes are left out; returns how many.
    pub fn replay(&self, logged: &[SignalLine]) -> usize {
        let mut state = self.lock();
        let (known, unknown): (Vec<&SignalLine>, Vec<&SignalLine>) = logged.iter().partition(|l| matches!(state.signals.get(&l.signal_id), Some(None)));
        let body: String = known.iter().filter_map(|l| serde_json::to_string(l).ok()).map(|l| l + "\n").collect();
        let checked = check(&state, body.as_bytes(), 0);
        state.current = checked.current;
        state.pending.extend(checked.updates);
        unknown.len() + checked.errors.len()
    }
}

/// A push checked against the signals as they are: what it would take and refuse.
struct Checked {
    updates: Vec<SignalUpdate>,
    errors: Vec<ErrorRow>,
    /// The accepted changes, for the control log.
    changes: Vec<SignalLine>,
    /// Each pushed signal's last change once taken.
    current: BTreeMap<String, (SignalState, u64)>,
}

/// Checks the lines of `body` against `state` (pushed signals only, at or after `frontier`,
/// none before its signal's previous change).
fn check(state: &State, body: &[u8], frontier: u64) -> Checked {
    let mut current = state.current.clone();
    let (mut updates, mut errors, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    let now = itscam_types::time::now_ms();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let line = i as u64 + 1;
        let reject = |kind: ErrorKind, ts_ms: Option<u64>, reason: String| ErrorRow {
            source: SIGNALS_PUSH_LABEL.to_string(),
            line: Some(line),
            camera_id: None,
            ts_ms,
            kind,
            reason,
            rejected_at_ms: now,
        };
        let l: SignalLine = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(e) => {
                errors.push(reject(ErrorKind::MalformedSignal, None, format!("not a signal change {{\"signal_id\", \"ts_ms\", \"state\"}}: {e}")));
                continue;
            }
        };
        match state.signals.get(&l.signal_id) {
            None => {
                errors.push(reject(ErrorKind::UnknownSignal, Some(l.ts_ms), format!("no [[signal]] {:?}", l.signal_id)));
                continue;
            }
            Some(Some(source)) => {
                errors.push(reject(ErrorKind::UnknownSignal, Some(l.ts_ms), format!("signal {:?} reads {source}, not pushes (source = \"push\")", l.signal_id)));
                continue;
            }
            Some(None) => {}
        }
        let prev = current.get(&l.signal_id).copied();
        if l.ts_ms < frontier {
            errors.push(reject(ErrorKind::Late, Some(l.ts_ms), format!("ts_ms {} is behind the pipeline's event time {frontier}: the crossings before it are judged already", l.ts_ms)));
            continue;
        }
        if let Some((_, at)) = prev.filter(|(_, at)| l.ts_ms < *at) {
            errors.push(reject(ErrorKind::Late, Some(l.ts_ms), format!("ts_ms {} is before signal {:?}'s previous change at {at}", l.ts_ms, l.signal_id)));
            continue;
        }
        current.insert(l.signal_id.clone(), (l.state, l.ts_ms));
        match prev {
            Some((p, _)) if p == l.state => {}
            Some((p, _)) => {
                updates.push(((l.signal_id.clone(), p), l.ts_ms, -1));
                updates.push(((l.signal_id.clone(), l.state), l.ts_ms, 1));
            }
            None => updates.push(((l.signal_id.clone(), l.state), l.ts_ms, 1)),
        }
        changes.push(l);
    }
    Checked { updates, errors, changes, current }
}

/// A checked push whose changes are not in the collection yet ([`SignalControl::prepare`]):
/// [`PreparedSignals::apply`] enters them; dropping it takes nothing and releases the
/// signals' event time.
pub struct PreparedSignals {
    control: SignalControl,
    checked: Option<Checked>,
}

impl PreparedSignals {
    /// The changes it takes, in push order.
    pub fn changes(&self) -> &[SignalLine] {
        self.checked.as_ref().map_or(&[], |c| &c.changes)
    }

    /// Enters the changes (and the rejected lines, for `errors`).
    pub fn apply(mut self) -> SignalsPushed {
        let checked = self.checked.take().expect("applied once");
        let pushed = SignalsPushed { accepted: checked.changes.len(), rejected: checked.errors.iter().map(RejectedLine::from).collect() };
        let mut state = self.control.lock();
        state.current = checked.current;
        state.pending.extend(checked.updates);
        state.errors.extend(checked.errors);
        state.reserved = None;
        if let Some(a) = &state.activator {
            let _ = a.activate();
        }
        pushed
    }
}

impl Drop for PreparedSignals {
    fn drop(&mut self) {
        if self.checked.is_some() {
            let mut state = self.control.lock();
            state.reserved = None;
            if let Some(a) = &state.activator {
                let _ = a.activate();
            }
        }
    }
}

/// The signal collection's updates and the rejected pushed lines. `follow` is the stream whose
/// frontier the signals keep up with (the facts); only the worker with `feeds = true` takes
/// from the control, the others follow the frontier.
// `ok_err` needs a `Result` closure; rows move through it, so the large `Err` costs nothing.
#[allow(clippy::result_large_err)]
pub fn signals_input<'s, D: 'static>(follow: Stream<'s, u64, Vec<D>>, control: SignalControl, feeds: bool) -> (Stream<'s, u64, Vec<SignalUpdate>>, Stream<'s, u64, Vec<ErrorRow>>) {
    let scope = follow.scope();
    let feeds = feeds || control.lock().feeder == Some(scope.index());
    let both = follow.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Result<SignalUpdate, ErrorRow>>>, _, _, _>(Pipeline, "Signals", move |cap, info| {
        let mut cap = Some(cap);
        if feeds {
            control.lock().activator = Some(scope.worker().sync_activator_for(info.address.to_vec()));
        }
        move |(input, frontier), output| {
            input.for_each(|_, _| {});
            let Some(c) = cap.as_mut() else { return };
            if !feeds {
                match frontier.frontier().iter().min() {
                    Some(&t) if t > *c.time() => c.downgrade(&t),
                    Some(_) => {}
                    None => cap = None,
                }
                return;
            }
            // Under one lock: what is pending is at or after the capability, and the frontier a
            // push is checked against is the one the capability moves to.
            let mut state = control.lock();
            if !state.pending.is_empty() || !state.errors.is_empty() {
                let mut session = output.session(&*c);
                for u in state.pending.drain(..) {
                    session.give(Ok(u));
                }
                for e in state.errors.drain(..) {
                    session.give(Err(e));
                }
            }
            // A prepared push holds the time at its earliest change until it is applied.
            match (frontier.frontier().iter().min(), state.reserved) {
                (Some(&t), reserved) => {
                    let t = reserved.map_or(t, |r| r.min(t));
                    if t > *c.time() {
                        c.downgrade(&t);
                        state.frontier = t;
                    }
                }
                (None, Some(_)) => {}
                (None, None) => {
                    cap = None;
                    state.ended = true;
                }
            }
        }
    });
    both.ok_err(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(queue: usize) -> SignalControl {
        let text = format!(
            "[service]\npush_queue_lines = {queue}\n[[camera]]\nid = \"c\"\nsource = \"push\"\n[[signal]]\nid = \"p\"\nsource = \"push\"\n"
        );
        SignalControl::new(&PipelineConfig::from_toml(&text).unwrap(), Vec::new())
    }

    fn line(id: &str, ts: u64, state: &str) -> String {
        format!("{{\"signal_id\":\"{id}\",\"ts_ms\":{ts},\"state\":\"{state}\"}}\n")
    }

    #[test]
    fn changes_become_retraction_and_insertion_at_their_time_and_late_ones_are_refused() {
        let c = control(100);
        c.lock().frontier = 1_000;
        let body = [line("p", 2_000, "green"), line("p", 3_000, "green"), line("p", 4_000, "red"), line("p", 3_500, "green"), line("p", 999, "red")].concat();
        let pushed = c.push(body.as_bytes()).unwrap();
        assert_eq!(pushed.accepted, 3);
        let why: Vec<(u64, &str)> = pushed.rejected.iter().map(|r| (r.line, r.kind.as_str())).collect();
        assert_eq!(why, vec![(4, "late"), (5, "late")]);
        let state = c.lock();
        let p = |s| ("p".to_string(), s);
        assert_eq!(state.pending, vec![(p(SignalState::Green), 2_000, 1), (p(SignalState::Green), 4_000, -1), (p(SignalState::Red), 4_000, 1)]);
        assert_eq!(state.errors.len(), 2);
    }

    /// A prepared push holds the time at its earliest change and takes nothing until applied;
    /// dropped (its log entry could not be written) it takes nothing and releases the time.
    /// A replay of logged changes restores each signal's last change.
    #[test]
    fn a_prepared_push_takes_nothing_until_applied_and_a_replay_restores_the_last_change() {
        let c = control(100);
        let prepared = c.prepare([line("p", 5_000, "green"), line("p", 6_000, "red")].concat().as_bytes()).unwrap();
        assert_eq!(prepared.changes().len(), 2);
        let held = |c: &SignalControl| {
            let state = c.lock();
            (state.reserved, state.pending.len(), state.current.len())
        };
        assert_eq!(held(&c), (Some(5_000), 0, 0));
        drop(prepared);
        assert_eq!(held(&c), (None, 0, 0), "dropped: nothing taken");
        let pushed = c.prepare(line("p", 7_000, "red").as_bytes()).unwrap().apply();
        assert_eq!((pushed.accepted, held(&c)), (1, (None, 1, 1)));

        let restarted = control(100);
        let logged: Vec<SignalLine> = [line("p", 5_000, "green"), line("p", 6_000, "red"), line("q", 1, "red")].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(restarted.replay(&logged), 1, "q is no push signal");
        assert_eq!(restarted.lock().current.get("p"), Some(&(SignalState::Red, 6_000)));
        let refused = restarted.push(line("p", 5_500, "green").as_bytes()).unwrap();
        assert_eq!((refused.accepted, refused.rejected[0].kind.as_str()), (0, "late"));
    }

    #[test]
    fn a_push_past_the_queue_is_refused_whole_and_changes_nothing() {
        let c = control(3);
        c.push([line("p", 1, "green"), line("p", 2, "red")].concat().as_bytes()).unwrap();
        let refused = c.push([line("p", 3, "green"), line("p", 4, "red")].concat().as_bytes());
        assert!(matches!(refused, Err(SignalPushError::Full { queued: 3, limit: 3 })), "{refused:?}");
        // The refused push did not move the signal's last change: the same lines go in once drained.
        c.lock().pending.clear();
        assert_eq!(c.push([line("p", 3, "green")].concat().as_bytes()).unwrap().accepted, 1);
    }
}
