//! Signal states over event time, from the signal collection's updates: the state at a time,
//! and each signal's cycles (red start → green start → next red start).

use crate::facts::{SignalState, SignalUpdate};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A signal's changes: time → (state → count).
type Changes = BTreeMap<u64, Vec<(SignalState, isize)>>;

/// The states of every signal, as changes in event time. Fed with updates in any order (a
/// state's insert and its retraction at the same time cancel); read at times the frontier has
/// passed. [`SignalTimeline::forget_before`] bounds memory.
#[derive(Clone, Debug, Default)]
pub struct SignalTimeline {
    /// Per signal: time → (state → count). The state at `t` is the one with a positive count
    /// after applying every update at or before `t`.
    changes: HashMap<Arc<str>, Changes>,
    /// Per signal: the state in force before the first retained change.
    base: HashMap<Arc<str>, Vec<(SignalState, isize)>>,
}

fn apply(acc: &mut Vec<(SignalState, isize)>, s: SignalState, d: isize) {
    match acc.iter_mut().find(|(x, _)| *x == s) {
        Some(e) => e.1 += d,
        None => acc.push((s, d)),
    }
    acc.retain(|(_, c)| *c != 0);
}

impl SignalTimeline {
    /// Takes updates of the signal collection.
    pub fn update(&mut self, updates: impl IntoIterator<Item = SignalUpdate>) {
        for ((id, state), t, d) in updates {
            let key: Arc<str> = match self.changes.get_key_value(id.as_str()) {
                Some((k, _)) => k.clone(),
                None => id.as_str().into(),
            };
            let slot = self.changes.entry(key).or_default().entry(t).or_default();
            apply(slot, state, d);
        }
    }

    /// The state of a signal at `t` (`None`: unknown or no state).
    pub fn state_at(&self, signal: &str, t: u64) -> Option<SignalState> {
        let mut acc = self.base.get(signal).cloned().unwrap_or_default();
        for (_, ups) in self.changes.get(signal)?.range(..=t) {
            for (s, d) in ups {
                apply(&mut acc, *s, *d);
            }
        }
        acc.iter().find(|(_, c)| *c > 0).map(|(s, _)| *s)
    }

    /// The state changes of a signal in `[from, to)`: `(time, new state)`, in time order (a
    /// time whose updates leave the state as it was is not a change).
    pub fn changes(&self, signal: &str, from: u64, to: u64) -> Vec<(u64, Option<SignalState>)> {
        let Some(map) = self.changes.get(signal) else { return Vec::new() };
        let mut acc = self.base.get(signal).cloned().unwrap_or_default();
        let mut out = Vec::new();
        let mut last = None;
        for (t, ups) in map.range(..to) {
            for (s, d) in ups {
                apply(&mut acc, *s, *d);
            }
            let now = acc.iter().find(|(_, c)| *c > 0).map(|(s, _)| *s);
            if *t >= from && now != last {
                out.push((*t, now));
            }
            last = now;
        }
        out
    }

    /// Folds the changes before `t` into the base state: memory stays bounded.
    pub fn forget_before(&mut self, t: u64) {
        for (id, map) in self.changes.iter_mut() {
            let keep = map.split_off(&t);
            let base = self.base.entry(id.clone()).or_default();
            for (_, ups) in std::mem::replace(map, keep) {
                for (s, d) in ups {
                    apply(base, s, d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SignalState::*;

    #[test]
    fn the_state_at_a_time_and_the_changes_survive_forgetting() {
        let mut tl = SignalTimeline::default();
        let u = |s: SignalState, t: u64, d: isize| (("a".to_string(), s), t, d);
        tl.update([u(Red, 0, 1), u(Red, 10, -1), u(Green, 10, 1), u(Green, 20, -1), u(Yellow, 20, 1), u(Yellow, 23, -1), u(Red, 23, 1)]);
        assert_eq!((tl.state_at("a", 9), tl.state_at("a", 10), tl.state_at("a", 22), tl.state_at("a", 99)), (Some(Red), Some(Green), Some(Yellow), Some(Red)));
        assert_eq!(tl.changes("a", 5, 23), vec![(10, Some(Green)), (20, Some(Yellow))]);
        tl.forget_before(15);
        assert_eq!((tl.state_at("a", 16), tl.state_at("a", 30)), (Some(Green), Some(Red)));
        assert_eq!(tl.state_at("b", 5), None);
    }
}
