//! Rules are data: the set of rules is a differential collection, fed by an operator that
//! follows the event-time frontier of the facts. Rules from the config enter at the start;
//! [`RuleControl`] (held by the HTTP API) adds, changes and removes rules while the pipeline
//! runs — a change enters the collection at the frontier it finds, so it applies from that
//! moment of event time on, and only that rule's outputs change.
//!
//! **Durable changes.** A change is made in two steps so that it can be logged before it takes
//! effect: [`RuleControl::prepare_put`] / [`RuleControl::prepare_delete`] check it and fix its
//! effective time (`since_ms`: the operator's frontier, never before an earlier change or the
//! run's floor), and *reserve* that time — the operator holds its capability there, so the
//! collection cannot move past it; [`RuleChange::apply`] then enters it at exactly that time
//! (dropping the [`RuleChange`] instead releases the time and changes nothing). The caller logs
//! the change in between and makes one change at a time. [`RuleControl::replay`] enters logged
//! changes at their logged times before the dataflow starts, so a restarted or replayed run
//! applies each at the moment of event time it first took effect.

use super::ir::RuleIr;
use super::sql::compile_rule;
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
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RuleEntry {
    /// The rule.
    #[serde(flatten)]
    pub rule: RuleConfig,
    /// Event time from which it applies (a config rule's is `null` until the dataflow has
    /// taken it in).
    pub since_ms: Option<u64>,
    /// Where it came from: `config` or `api` (put over HTTP, now or before a restart).
    #[schema(value_type = String, pattern = "^(config|api)$")]
    pub origin: &'static str,
}

/// A rule change recorded earlier (the control log), to enter at its time.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRule {
    /// The rule's id.
    pub id: String,
    /// The rule after the change; `None`: deleted.
    pub rule: Option<RuleConfig>,
    /// Event time from which the change applies.
    pub since_ms: u64,
}

/// An update for the operator; `at: None` enters at the frontier it finds (config rules).
struct Pending {
    id: String,
    spec: RuleIr,
    diff: isize,
    at: Option<u64>,
}

#[derive(Default)]
struct Book {
    rules: BTreeMap<String, RuleEntry>,
    /// Each rule's IR, as it entered the collection.
    compiled: BTreeMap<String, RuleIr>,
    pending: Vec<Pending>,
    activator: Option<SyncActivator>,
    ended: bool,
    /// The operator's capability: a change made now enters here or later.
    frontier: u64,
    /// No change enters before this (the last change's time, a replay's resume time).
    floor: u64,
    /// Times of prepared changes not applied yet: the operator's capability stays at or below.
    reserved: BTreeMap<u64, usize>,
    /// In a cluster, the worker (other than worker 0) that enters this process's changes:
    /// the first worker of a process other than 0 ([`RuleControl::enter_on_worker`]).
    feeder: Option<usize>,
}

impl Book {
    /// Replaces or removes rule `id` from `at` on (`None`: the frontier); `enter`: this
    /// process's worker enters the updates (not a change another process entered).
    fn change(&mut self, id: &str, entry: Option<(RuleEntry, RuleIr)>, at: Option<u64>, enter: bool) -> Option<RuleEntry> {
        let old = self.rules.remove(id);
        if let Some(spec) = self.compiled.remove(id)
            && enter
        {
            self.pending.push(Pending { id: id.to_string(), spec, diff: -1, at });
        }
        if let Some((new, spec)) = entry {
            if enter {
                self.pending.push(Pending { id: id.to_string(), spec: spec.clone(), diff: 1, at });
            }
            self.rules.insert(id.to_string(), new);
            self.compiled.insert(id.to_string(), spec);
        }
        old
    }

    fn release(&mut self, at: u64) {
        if let Some(n) = self.reserved.get_mut(&at) {
            *n -= 1;
            if *n == 0 {
                self.reserved.remove(&at);
            }
        }
    }

    fn wake(&self) {
        if let Some(a) = &self.activator {
            let _ = a.activate();
        }
    }
}

/// A checked change whose effective time is reserved; see the module docs. Dropped without
/// [`RuleChange::apply`], it changes nothing.
#[must_use = "a prepared change does nothing until applied"]
pub struct RuleChange {
    control: RuleControl,
    /// The rule's id.
    pub id: String,
    /// The rule before (`None`: new).
    pub before: Option<RuleConfig>,
    /// The rule after (`None`: deleted).
    pub after: Option<RuleConfig>,
    /// Its IR.
    compiled: Option<RuleIr>,
    /// Event time from which it will apply.
    pub since_ms: u64,
    applied: bool,
}

impl std::fmt::Debug for RuleChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleChange").field("id", &self.id).field("since_ms", &self.since_ms).field("after", &self.after).finish_non_exhaustive()
    }
}

impl RuleChange {
    /// Enters the change at `since_ms`. Returns the rule it replaced or removed.
    pub fn apply(mut self) -> Option<RuleEntry> {
        self.applied = true;
        let mut book = self.control.lock();
        let entry = self.after.take().zip(self.compiled.take()).map(|(rule, ir)| (RuleEntry { rule, since_ms: Some(self.since_ms), origin: "api" }, ir));
        let old = book.change(&self.id, entry, Some(self.since_ms), true);
        book.floor = book.floor.max(self.since_ms);
        book.release(self.since_ms);
        book.wake();
        old
    }
}

impl Drop for RuleChange {
    fn drop(&mut self) {
        if !self.applied {
            let mut book = self.control.lock();
            book.release(self.since_ms);
            book.wake();
        }
    }
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
    /// Starts with the config's rules (validated with the config); an `sql` rule whose text
    /// does not compile is a problem of the config.
    pub fn new(config: Arc<PipelineConfig>) -> Result<RuleControl, Vec<Problem>> {
        let mut book = Book::default();
        let mut problems = Vec::new();
        for (i, r) in config.rule.iter().enumerate() {
            match compile_rule(r, &config, &format!("rule[{i}]")) {
                Ok(spec) => {
                    book.pending.push(Pending { id: r.id.clone(), spec: spec.clone(), diff: 1, at: None });
                    book.compiled.insert(r.id.clone(), spec);
                    book.rules.insert(r.id.clone(), RuleEntry { rule: r.clone(), since_ms: None, origin: "config" });
                }
                Err(ps) => problems.extend(ps),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(RuleControl { config: Arc::new(Mutex::new(config)), book: Arc::new(Mutex::new(book)) })
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

    /// Compiles a rule's text against the pipeline as it is now (nothing changes): its plan, or
    /// every problem with its line and column.
    pub fn check(&self, id: &str, text: &str) -> Result<String, Vec<super::sql::RuleProblem>> {
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let keys = RuleConfig::new(id, "", itscam_types::config::RuleParams::Sql(itscam_types::config::SqlRule { sql: Some(text.to_string()) }));
        let compiled = super::sql::compile(text, &keys, &config)?;
        Ok(super::sql::explain(&compiled.ir, config.analytics.rule_grace_ms))
    }

    /// The pipeline the rules are checked against now.
    pub fn config(&self) -> Arc<PipelineConfig> {
        self.config.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The plan of the live rule `id` (`EXPLAIN RULE id`).
    pub fn plan(&self, id: &str) -> Option<String> {
        let grace = self.config.lock().unwrap_or_else(|e| e.into_inner()).analytics.rule_grace_ms;
        self.lock().compiled.get(id).map(|ir| super::sql::explain(ir, grace))
    }

    /// One rule.
    pub fn get(&self, id: &str) -> Option<RuleEntry> {
        self.lock().rules.get(id).cloned()
    }

    /// Adds or replaces the rule `id` at once, unlogged ([`RuleControl::prepare_put`] then
    /// [`RuleChange::apply`]). Returns whether it replaced one.
    pub fn put(&self, id: &str, rule: RuleConfig) -> Result<bool, RuleError> {
        Ok(self.prepare_put(id, rule)?.apply().is_some())
    }

    /// Removes the rule `id` at once, unlogged.
    pub fn delete(&self, id: &str) -> Result<RuleEntry, RuleError> {
        let change = self.prepare_delete(id)?;
        change.apply().ok_or_else(|| RuleError::NotFound(id.to_string()))
    }

    /// Checks a put of rule `id` and reserves its effective time (see the module docs).
    pub fn prepare_put(&self, id: &str, rule: RuleConfig) -> Result<RuleChange, RuleError> {
        if rule.id != id {
            return Err(RuleError::IdMismatch { path: id.to_string(), body: rule.id });
        }
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let compiled = checked(&rule, &config).map_err(RuleError::Invalid)?;
        self.reserve(id, Some((rule, compiled)))
    }

    /// Checks a delete of rule `id` (it must exist) and reserves its effective time.
    pub fn prepare_delete(&self, id: &str) -> Result<RuleChange, RuleError> {
        self.reserve(id, None)
    }

    fn reserve(&self, id: &str, after: Option<(RuleConfig, RuleIr)>) -> Result<RuleChange, RuleError> {
        let (after, compiled) = after.unzip();
        let mut book = self.lock();
        if book.ended {
            return Err(RuleError::Ended);
        }
        let before = book.rules.get(id).map(|e| e.rule.clone());
        if before.is_none() && after.is_none() {
            return Err(RuleError::NotFound(id.to_string()));
        }
        let since_ms = book.frontier.max(book.floor);
        *book.reserved.entry(since_ms).or_default() += 1;
        Ok(RuleChange { control: self.clone(), id: id.to_string(), before, after, compiled, since_ms, applied: false })
    }

    /// Enters logged changes, in log order, each at its `since_ms` (before the dataflow starts:
    /// a restart or a replay). A logged rule that no longer fits the pipeline (the config
    /// changed since) is left out: its problems are returned, one line per change.
    pub fn replay(&self, changes: impl IntoIterator<Item = LoggedRule>) -> Vec<String> {
        let mut skipped = Vec::new();
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut book = self.lock();
        for LoggedRule { id, rule, since_ms } in changes {
            let entry = match rule {
                Some(rule) => match checked(&rule, &config) {
                    Ok(ir) if rule.id == id => Some((RuleEntry { rule, since_ms: Some(since_ms), origin: "api" }, ir)),
                    Ok(_) => {
                        skipped.push(format!("rule {id:?} (from {since_ms} ms): its id differs"));
                        continue;
                    }
                    Err(problems) => {
                        let reasons: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                        skipped.push(format!("rule {id:?} (from {since_ms} ms): {}", reasons.join("; ")));
                        continue;
                    }
                },
                None => None,
            };
            book.change(&id, entry, Some(since_ms), true);
            book.floor = book.floor.max(since_ms);
        }
        skipped
    }

    /// In a cluster, on a process other than 0: worker `index` (this process's first) enters
    /// the changes made through this process's API from now on, and what is waiting to enter
    /// now — the config's rules, the control log's replay — is left to process 0's worker 0
    /// (every process's book holds the same rules; one worker enters each update).
    pub fn enter_on_worker(&self, index: usize) {
        let mut book = self.lock();
        book.feeder = Some(index);
        book.pending.clear();
    }

    /// Takes a change that another process of the cluster logged and entered into the
    /// collection (its worker did, at `since_ms`): this book follows it, so the rules listed
    /// here are the cluster's and the next change made here retracts what that one entered.
    /// A logged rule that does not fit the pipeline is left out: its problems are returned.
    pub fn follow(&self, change: LoggedRule) -> Result<(), String> {
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let LoggedRule { id, rule, since_ms } = change;
        let entry = match rule {
            Some(rule) => match checked(&rule, &config) {
                Ok(ir) => Some((RuleEntry { rule, since_ms: Some(since_ms), origin: "api" }, ir)),
                Err(problems) => {
                    let reasons: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                    return Err(format!("rule {id:?} (from {since_ms} ms): {}", reasons.join("; ")));
                }
            },
            None => None,
        };
        let mut book = self.lock();
        book.change(&id, entry, Some(since_ms), false);
        book.floor = book.floor.max(since_ms);
        Ok(())
    }

    /// Whether the rule collection has ended (the pipeline drained): no change enters anymore.
    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// No change made from now on takes effect before `ms` (a checkpointed run's resume time:
    /// the rows below it are in the lake already and were computed without the change).
    pub fn set_floor(&self, ms: u64) {
        let mut book = self.lock();
        book.floor = book.floor.max(ms);
    }
}

/// A rule's problems against the pipeline (its keys, then its text), or its IR.
pub fn checked(rule: &RuleConfig, config: &PipelineConfig) -> Result<RuleIr, Vec<Problem>> {
    let problems = rule.problems(config);
    if !problems.is_empty() {
        return Err(problems);
    }
    compile_rule(rule, config, "rule")
}

/// The rules collection's updates `(spec, time, diff)`. `follow` is any stream whose frontier
/// the rules should keep up with (the facts they are joined with): the operator holds its
/// capability at that frontier, so a change enters at the current moment of event time and
/// never holds the dataflow back — except while a prepared change's time is reserved (the
/// time it takes to log it). Only the worker with `feeds = true` takes changes from the
/// control (and, in a cluster, the first worker of each other process: its own API's changes,
/// see [`RuleControl::enter_on_worker`]); the others just follow the frontier. Every update is
/// broadcast, so it does not matter which worker enters it.
pub fn rules_input<'s, D: 'static>(follow: Stream<'s, u64, Vec<D>>, control: RuleControl, feeds: bool) -> Stream<'s, u64, Vec<(RuleIr, u64, isize)>> {
    let scope = follow.scope();
    let feeds = feeds || control.lock().feeder == Some(scope.index());
    follow.unary_frontier(Pipeline, "Rules", move |cap, info| {
        let mut cap = Some(cap);
        if feeds {
            control.lock().activator = Some(scope.worker().sync_activator_for(info.address.to_vec()));
        }
        move |(input, frontier), output| {
            input.for_each(|_, _| {});
            let Some(c) = cap.as_mut() else { return };
            let follow = frontier.frontier().iter().min().copied();
            if !feeds {
                match follow {
                    Some(t) if t > *c.time() => c.downgrade(&t),
                    Some(_) => {}
                    None => cap = None,
                }
                return;
            }
            let mut book = control.lock();
            let now = *c.time();
            for Pending { id, spec, diff, at } in std::mem::take(&mut book.pending) {
                // A reserved or logged time is never behind the capability; `max` only guards.
                let t = at.map_or(now, |a| a.max(now));
                if at.is_none()
                    && diff > 0
                    && let Some(entry) = book.rules.get_mut(&id).filter(|e| e.since_ms.is_none())
                {
                    entry.since_ms = Some(t);
                }
                output.session(&c.delayed(&t)).give((spec, t, diff));
            }
            let held = book.reserved.keys().next().copied();
            match follow.into_iter().chain(held).min() {
                Some(t) if t > now => {
                    c.downgrade(&t);
                    book.frontier = t;
                }
                Some(_) => {}
                None => {
                    cap = None;
                    book.ended = true;
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
