//! Rules are data: the set of rules is a differential collection, fed by an operator that
//! follows the event-time frontier of the facts. Rules from the config enter at the start;
//! [`RuleControl`] (held by the HTTP API) adds, changes and removes rules while the pipeline
//! runs — a change enters the collection at the frontier it finds, so it applies from that
//! moment of event time on, and only that rule's outputs change.

use crate::facts::RuleSpec;
use itscam_types::config::{PipelineConfig, Problem, RuleConfig};
use itscam_types::{Blame, Blamed};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::scheduling::SyncActivator;

/// Why a rule change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The rule does not fit the pipeline (caller's input).
    #[error("invalid rule: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The body's id and the path's id differ (caller's input).
    #[error("the rule's id {body:?} differs from the id in the path {path:?}")]
    IdMismatch {
        /// Id in the path.
        path: String,
        /// Id in the body.
        body: String,
    },
    /// No such rule (caller's input).
    #[error("no rule {0:?}")]
    NotFound(String),
    /// The pipeline has ended; rules can no longer change.
    #[error("the pipeline has ended")]
    Ended,
}

/// Every refusal is the caller's: a rule that does not fit, an id that does not match, a rule
/// that does not exist, or a change sent after the pipeline ended (a finished run takes no
/// changes; retrying the same call fails again, so it is not an external failure).
impl Blamed for RuleError {
    fn blame(&self) -> Blame {
        match self {
            RuleError::Invalid(_) | RuleError::IdMismatch { .. } | RuleError::NotFound(_) | RuleError::Ended => Blame::User,
        }
    }
}

/// A rule as listed by the API.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RuleEntry {
    /// The rule.
    #[serde(flatten)]
    pub rule: RuleConfig,
    /// Event time from which it applies (`null` until the dataflow has taken it in).
    pub since_ms: Option<u64>,
    /// Where it came from: `config` or `api`.
    pub origin: &'static str,
}

#[derive(Default)]
struct Book {
    rules: BTreeMap<String, RuleEntry>,
    pending: Vec<(String, RuleSpec, isize)>,
    activator: Option<SyncActivator>,
    ended: bool,
}

/// The handle on the live rule set. Cloning shares it.
#[derive(Clone)]
pub struct RuleControl {
    /// What rules are checked against: the config, its cameras as they are now.
    config: Arc<Mutex<Arc<PipelineConfig>>>,
    book: Arc<Mutex<Book>>,
}

impl std::fmt::Debug for RuleControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleControl").finish_non_exhaustive()
    }
}

impl RuleControl {
    /// Starts with the config's rules (validated with the config).
    pub fn new(config: Arc<PipelineConfig>) -> RuleControl {
        let mut book = Book::default();
        for r in &config.rule {
            book.pending.push((r.id.clone(), RuleSpec::from_config(r), 1));
            book.rules.insert(r.id.clone(), RuleEntry { rule: r.clone(), since_ms: None, origin: "config" });
        }
        RuleControl { config: Arc::new(Mutex::new(config)), book: Arc::new(Mutex::new(book)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cameras changed while the pipeline runs: rules are checked against these from now on.
    pub fn set_cameras(&self, cameras: Vec<itscam_types::config::CameraConfig>) {
        let mut config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        *config = Arc::new(PipelineConfig { camera: cameras, ..PipelineConfig::clone(&config) });
    }

    /// The rules now, sorted by id.
    pub fn list(&self) -> Vec<RuleEntry> {
        self.lock().rules.values().cloned().collect()
    }

    /// One rule.
    pub fn get(&self, id: &str) -> Option<RuleEntry> {
        self.lock().rules.get(id).cloned()
    }

    /// Adds or replaces the rule `id`. Returns whether it replaced one.
    pub fn put(&self, id: &str, rule: RuleConfig) -> Result<bool, RuleError> {
        if rule.id != id {
            return Err(RuleError::IdMismatch { path: id.to_string(), body: rule.id });
        }
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let problems = rule.problems(&config);
        if !problems.is_empty() {
            return Err(RuleError::Invalid(problems));
        }
        let mut book = self.lock();
        if book.ended {
            return Err(RuleError::Ended);
        }
        let replaced = book.rules.remove(id);
        if let Some(old) = &replaced {
            book.pending.push((id.to_string(), RuleSpec::from_config(&old.rule), -1));
        }
        book.pending.push((id.to_string(), RuleSpec::from_config(&rule), 1));
        book.rules.insert(id.to_string(), RuleEntry { rule, since_ms: None, origin: "api" });
        if let Some(a) = &book.activator {
            let _ = a.activate();
        }
        Ok(replaced.is_some())
    }

    /// Removes the rule `id`.
    pub fn delete(&self, id: &str) -> Result<RuleEntry, RuleError> {
        let mut book = self.lock();
        if book.ended {
            return Err(RuleError::Ended);
        }
        let old = book.rules.remove(id).ok_or_else(|| RuleError::NotFound(id.to_string()))?;
        book.pending.push((id.to_string(), RuleSpec::from_config(&old.rule), -1));
        if let Some(a) = &book.activator {
            let _ = a.activate();
        }
        Ok(old)
    }
}

/// The rules collection's updates `(spec, time, diff)`. `follow` is any stream whose frontier
/// the rules should keep up with (the facts they are joined with): the operator holds its
/// capability at that frontier, so a change enters at the current moment of event time and
/// never holds the dataflow back. Only the worker with `feeds = true` takes changes from the
/// control; the others just follow the frontier.
pub fn rules_input<'s, D: 'static>(follow: Stream<'s, u64, Vec<D>>, control: RuleControl, feeds: bool) -> Stream<'s, u64, Vec<(RuleSpec, u64, isize)>> {
    let scope = follow.scope();
    follow.unary_frontier(Pipeline, "Rules", move |cap, info| {
        let mut cap = Some(cap);
        if feeds {
            control.lock().activator = Some(scope.worker().sync_activator_for(info.address.to_vec()));
        }
        move |(input, frontier), output| {
            input.for_each(|_, _| {});
            let Some(c) = cap.as_mut() else { return };
            if feeds {
                let mut book = control.lock();
                if !book.pending.is_empty() {
                    let t = *c.time();
                    let pending = std::mem::take(&mut book.pending);
                    let mut session = output.session(&*c);
                    for (id, spec, diff) in pending {
                        if diff > 0
                            && let Some(entry) = book.rules.get_mut(&id)
                        {
                            entry.since_ms = Some(t);
                        }
                        session.give((spec, t, diff));
                    }
                }
            }
            match frontier.frontier().iter().min() {
                Some(&t) if t > *c.time() => c.downgrade(&t),
                Some(_) => {}
                None => {
                    cap = None;
                    if feeds {
                        control.lock().ended = true;
                    }
                }
            }
        }
    })
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_the_callers() {
        let errors = [
            RuleError::Invalid(vec![Problem::new("rule.zone", "no zone")]),
            RuleError::IdMismatch { path: "a".into(), body: "b".into() },
            RuleError::NotFound("a".into()),
            RuleError::Ended,
        ];
        for e in &errors {
            assert_eq!((e.blame(), e.retry_after()), (Blame::User, None), "{e}");
        }
    }
}
