//! The rule set and the signal states as one worker holds them at the frontier: the state side
//! of a half-join. Facts never enter a collection: each fact is looked up here at its own time,
//! after every change at that time has been applied, so a change never revisits a past fact and
//! nothing about facts is kept. Pure logic, fed in time order by the operator in `mod.rs`.
//!
//! The book is the rules collection (`(spec, time, diff)` updates) and the signal collection
//! (`((signal, state), time, diff)`) accumulated up to the current time: a rule matches while
//! its count is positive, a signal is red while its `red` count is.

use crate::facts::{Place, RuleSpec, SignalState};
use std::collections::HashMap;
use std::sync::Arc;

/// One rule of a place, with its count in the collection.
#[derive(Debug)]
struct Live {
    spec: Arc<RuleSpec>,
    count: isize,
}

/// Live rules by place, and signal states.
#[derive(Debug, Default)]
pub struct RuleBook {
    /// Per place, its rules sorted by id (a handful: a place is one zone or line).
    by_place: HashMap<Place, Vec<Live>>,
    /// Per signal, the count of each state (`Red`, `Yellow`, `Green`).
    signals: HashMap<String, [isize; 3]>,
}

fn state_index(s: SignalState) -> usize {
    match s {
        SignalState::Red => 0,
        SignalState::Yellow => 1,
        SignalState::Green => 2,
    }
}

impl RuleBook {
    /// An empty book.
    pub fn new() -> RuleBook {
        RuleBook::default()
    }

    /// Applies an update of the rules collection.
    pub fn update_rule(&mut self, spec: &RuleSpec, diff: isize) {
        let rules = self.by_place.entry(spec.place.clone()).or_default();
        match rules.iter().position(|l| *l.spec == *spec) {
            Some(i) => {
                rules[i].count += diff;
                if rules[i].count == 0 {
                    rules.remove(i);
                }
            }
            None if diff != 0 => {
                let at = rules.partition_point(|l| (&l.spec.id, &*l.spec) < (&spec.id, spec));
                rules.insert(at, Live { spec: Arc::new(spec.clone()), count: diff });
            }
            None => {}
        }
        if rules.is_empty() {
            self.by_place.remove(&spec.place);
        }
    }

    /// Applies an update of the signal-state collection.
    pub fn update_signal(&mut self, signal: &str, state: SignalState, diff: isize) {
        let counts = match self.signals.get_mut(signal) {
            Some(c) => c,
            None => self.signals.entry(signal.to_string()).or_default(),
        };
        counts[state_index(state)] += diff;
        if counts.iter().all(|c| *c == 0) {
            self.signals.remove(signal);
        }
    }

    /// The rules that watch `place` now, by id (each once, whatever its count).
    pub fn rules_at<'a>(&'a self, place: &Place) -> impl Iterator<Item = &'a Arc<RuleSpec>> + 'a {
        self.by_place.get(place).into_iter().flatten().filter(|l| l.count > 0).map(|l| &l.spec)
    }

    /// How many times the rule is in the collection now (0 when absent).
    pub fn count(&self, spec: &RuleSpec) -> isize {
        self.by_place.get(&spec.place).and_then(|r| r.iter().find(|l| *l.spec == *spec)).map_or(0, |l| l.count)
    }

    /// Whether the signal is red now.
    pub fn red(&self, signal: &str) -> bool {
        self.signals.get(signal).is_some_and(|c| c[state_index(SignalState::Red)] > 0)
    }

    /// Whether no rule is live.
    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PlaceKind;
    use itscam_types::config::{RuleKind, Severity};

    fn spec(id: &str, zone: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            kind: RuleKind::Speeding,
            place: Place { camera: "cam-1".into(), kind: PlaceKind::Zone, id: zone.into() },
            severity: Severity::High,
            signal: None,
            threshold_ck: 5_000,
            limit: Some(5_000),
            min_duration_ms: 0,
            allowed_dir: (0, 0),
            classes: Vec::new(),
        }
    }

    #[test]
    fn rules_are_listed_by_id_while_their_count_is_positive() {
        let mut book = RuleBook::new();
        let (b, a, c) = (spec("b", "z1"), spec("a", "z1"), spec("c", "z2"));
        for s in [&b, &a, &c] {
            book.update_rule(s, 1);
        }
        let ids = |book: &RuleBook, z: &str| book.rules_at(&spec("-", z).place).map(|s| s.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&book, "z1"), ["a", "b"]);
        assert_eq!(ids(&book, "z2"), ["c"]);
        // A replacement arrives as a retraction and an insertion at the same time.
        let mut faster = b.clone();
        faster.threshold_ck = 9_000;
        book.update_rule(&b, -1);
        book.update_rule(&faster, 1);
        assert_eq!(book.rules_at(&b.place).map(|s| s.threshold_ck).collect::<Vec<_>>(), [5_000, 9_000], "a (5000) and the new b");
        assert_eq!((book.count(&b), book.count(&faster)), (0, 1));
        book.update_rule(&a, -1);
        book.update_rule(&faster, -1);
        book.update_rule(&c, -1);
        assert!(book.is_empty(), "{book:?}");
    }

    #[test]
    fn a_signal_is_red_while_its_red_count_is_positive() {
        let mut book = RuleBook::new();
        assert!(!book.red("tl-1"));
        book.update_signal("tl-1", SignalState::Red, 1);
        assert!(book.red("tl-1") && !book.red("tl-2"));
        book.update_signal("tl-1", SignalState::Red, -1);
        book.update_signal("tl-1", SignalState::Green, 1);
        assert!(!book.red("tl-1"));
    }
}
