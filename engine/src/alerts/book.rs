//! The alert book: the lifecycle state machine with no I/O and no clock of its own — every
//! method takes the wall-clock time `now` (unix ms) and returns the rows and events it caused,
//! which the hub writes to the lake, SSE and the outlets.

use super::HubError;
use super::view::{AlertFilter, AlertView, Change, HubEvent, HubEventKind};
use itscam_types::analytics::{Alert, AlertRow, AlertSource, AlertStatus};
use itscam_types::config::LifecycleConfig;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Who the engine's own changes (raise, escalation, suppression) are made by.
pub const ENGINE: &str = "engine";

/// Counts of what the hub did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubCounters {
    /// Alerts published (new ids that were not suppressed).
    pub raised: u64,
    /// Copies of an id already seen (the closing copy of a violation, replays).
    pub duplicates: u64,
    /// Repeats suppressed onto an earlier alert.
    pub suppressed: u64,
    /// Alerts escalated.
    pub escalated: u64,
    /// Acknowledgements.
    pub acknowledged: u64,
    /// Resolutions.
    pub resolved: u64,
    /// Resolved alerts that left the book after `retain_resolved_ms` (or to make room).
    pub retired: u64,
    /// Unresolved alerts that left the book because it held `max_alerts`.
    pub evicted_unresolved: u64,
}

/// The changes one call caused.
#[derive(Debug, Default)]
pub struct Effects {
    /// Rows for the `alerts` table.
    pub rows: Vec<AlertRow>,
    /// Events for SSE (and, for raised/escalated alerts, the outlets).
    pub events: Vec<HubEvent>,
}

impl Effects {
    fn one(row: Option<AlertRow>, kind: HubEventKind, view: AlertView) -> Effects {
        Effects { rows: row.into_iter().collect(), events: vec![HubEvent { kind, view }] }
    }
}

struct Entry {
    alert: Alert,
    status: AlertStatus,
    escalated: bool,
    suppressed_count: u64,
    raised_at_ms: u64,
    changed_at_ms: u64,
    escalate_at_ms: Option<u64>,
    escalated_at_ms: Option<u64>,
    acknowledged: Option<Change>,
    resolved: Option<Change>,
}

impl Entry {
    /// The time of a new change: `now`, but strictly after the previous change, so the latest row
    /// of an alert is always the one with the greatest `changed_at_ms`.
    fn stamp(&mut self, now: u64) -> u64 {
        self.changed_at_ms = now.max(self.changed_at_ms + 1);
        self.changed_at_ms
    }

    fn row(&self, by: &str, note: Option<String>) -> AlertRow {
        let a = &self.alert;
        AlertRow {
            alert_id: a.alert_id.clone(),
            source: a.source,
            source_id: a.source_id.clone(),
            kind: a.kind.clone(),
            severity: a.severity,
            camera_id: a.camera_id.clone(),
            status: self.status,
            escalated: self.escalated,
            suppressed_count: self.suppressed_count,
            ts_ms: a.ts_ms,
            changed_at_ms: self.changed_at_ms,
            changed_by: by.to_string(),
            note,
        }
    }

    fn view(&self) -> AlertView {
        AlertView {
            alert: self.alert.clone(),
            status: self.status,
            escalated: self.escalated,
            suppressed_count: self.suppressed_count,
            raised_at_ms: self.raised_at_ms,
            changed_at_ms: self.changed_at_ms,
            escalated_at_ms: self.escalated_at_ms,
            acknowledged: self.acknowledged.clone(),
            resolved: self.resolved.clone(),
        }
    }
}

/// The published alert repeats of one key are compared with.
struct Anchor {
    alert_id: String,
    ts_ms: u64,
}

/// Ids remembered first-in first-out, at most `cap`.
struct IdMemory<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    cap: usize,
}

impl<V> IdMemory<V> {
    fn new(cap: usize) -> Self {
        IdMemory { map: HashMap::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

    fn insert(&mut self, id: String, value: V) {
        if self.map.insert(id.clone(), value).is_none() {
            self.order.push_back(id);
        }
        while self.map.len() > self.cap {
            let Some(old) = self.order.pop_front() else { break };
            self.map.remove(&old);
        }
    }
}

/// The suppression key: what makes two alerts repeats of each other (README "Alerts").
fn suppress_key(a: &Alert) -> String {
    match a.source {
        // The same rule on the same vehicle: one alert per vehicle, not one per rule.
        AlertSource::Violation => format!(
            "violation\u{1f}{}\u{1f}{}\u{1f}{}",
            a.rule_id.as_deref().unwrap_or(&a.kind),
            a.camera_id,
            a.track_id.map(|t| t.to_string()).unwrap_or_default()
        ),
        AlertSource::Anomaly => format!("anomaly\u{1f}{}\u{1f}{}\u{1f}{}", a.kind, a.camera_id, a.place.as_deref().unwrap_or("")),
    }
}

/// Every alert the hub knows, with suppression and escalation state.
pub struct Book {
    config: LifecycleConfig,
    alerts: HashMap<String, Entry>,
    /// Ids in raise order (lazily cleaned), for eviction.
    raised_order: VecDeque<String>,
    /// (resolved at, id) in resolution order, for retention.
    resolved_order: VecDeque<(u64, String)>,
    anchors: HashMap<String, Anchor>,
    /// Suppressed id → the id it was suppressed onto.
    suppressed: IdMemory<String>,
    /// Ids that left the book (a late copy must not raise them again).
    forgotten: IdMemory<()>,
    /// (deadline, id) of pending escalations.
    escalations: BTreeSet<(u64, String)>,
    counters: HubCounters,
}

impl Book {
    /// An empty book.
    pub fn new(config: LifecycleConfig) -> Book {
        let cap = config.max_alerts;
        Book {
            config,
            alerts: HashMap::new(),
            raised_order: VecDeque::new(),
            resolved_order: VecDeque::new(),
            anchors: HashMap::new(),
            suppressed: IdMemory::new(cap),
            forgotten: IdMemory::new(cap),
            escalations: BTreeSet::new(),
            counters: HubCounters::default(),
        }
    }

    /// What happened so far.
    pub fn counters(&self) -> HubCounters {
        self.counters
    }

    /// Alerts held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Takes in one alert: publishes it, suppresses it as a repeat, or — for an id already seen
    /// — updates the alert in place (value and message of the closing copy).
    pub fn raise(&mut self, alert: Alert, now: u64) -> Effects {
        let id = alert.alert_id.clone();
        if let Some(e) = self.alerts.get_mut(&id) {
            self.counters.duplicates += 1;
            let changed = e.alert.value != alert.value || e.alert.limit_value != alert.limit_value || e.alert.message != alert.message;
            if !changed {
                return Effects::default();
            }
            e.alert.value = alert.value;
            e.alert.limit_value = alert.limit_value;
            e.alert.message = alert.message;
            return Effects::one(None, HubEventKind::Update, e.view());
        }
        if self.suppressed.map.contains_key(&id) || self.forgotten.map.contains_key(&id) {
            self.counters.duplicates += 1;
            return Effects::default();
        }
        let key = suppress_key(&alert);
        if let Some(target) = self.repeat_of(&key, &alert) {
            let e = self.alerts.get_mut(&target).expect("repeat_of returns held alerts");
            e.suppressed_count += 1;
            e.stamp(now);
            self.counters.suppressed += 1;
            let row = e.row(ENGINE, Some(format!("suppressed repeat {id}")));
            let view = e.view();
            self.suppressed.insert(id, target);
            return Effects::one(Some(row), HubEventKind::Update, view);
        }
        self.counters.raised += 1;
        let escalate_at_ms = self.config.escalate_after_ms(alert.severity).map(|ms| now + ms);
        if let Some(at) = escalate_at_ms {
            self.escalations.insert((at, id.clone()));
        }
        let replaces = match self.anchors.get(&key) {
            None => true,
            Some(a) => alert.ts_ms >= a.ts_ms || self.alerts.get(&a.alert_id).is_none_or(|e| e.status == AlertStatus::Resolved),
        };
        if replaces {
            self.anchors.insert(key, Anchor { alert_id: id.clone(), ts_ms: alert.ts_ms });
        }
        let entry = Entry {
            alert,
            status: AlertStatus::Open,
            escalated: false,
            suppressed_count: 0,
            raised_at_ms: now,
            changed_at_ms: now,
            escalate_at_ms,
            escalated_at_ms: None,
            acknowledged: None,
            resolved: None,
        };
        let effects = Effects::one(Some(entry.row(ENGINE, None)), HubEventKind::RAISED, entry.view());
        self.alerts.insert(id.clone(), entry);
        self.raised_order.push_back(id);
        self.evict_over_cap();
        effects
    }

    /// The held, unresolved alert `alert` repeats, when it is suppressed.
    fn repeat_of(&self, key: &str, alert: &Alert) -> Option<String> {
        if self.config.suppress_ms == 0 {
            return None;
        }
        let anchor = self.anchors.get(key)?;
        let target = self.alerts.get(&anchor.alert_id)?;
        let repeat = target.status != AlertStatus::Resolved
            && alert.ts_ms.abs_diff(anchor.ts_ms) < self.config.suppress_ms
            && alert.severity <= target.alert.severity;
        repeat.then(|| anchor.alert_id.clone())
    }

    fn not_found(&self, id: &str) -> HubError {
        let hint = if let Some(target) = self.suppressed.map.get(id) {
            Some(format!("it was suppressed as a repeat of {target}"))
        } else if self.forgotten.map.contains_key(id) {
            Some("it left the in-memory book (resolved longer than retain_resolved_ms ago, or evicted); its history is in the alerts table".to_string())
        } else {
            None
        };
        HubError::NotFound { id: id.to_string(), hint }
    }

    /// An alert raised again by a replay (after a restart, below the last checkpoint): it
    /// enters the book as the first run raised it — suppression and dedupe see it — but its
    /// rows are already in the lake and its escalation timer is not started again. Returns
    /// whether it was raised (not a duplicate, not suppressed).
    pub fn replay(&mut self, alert: Alert, now: u64) -> bool {
        let id = alert.alert_id.clone();
        let fx = self.raise(alert, now);
        if let Some(e) = self.alerts.get_mut(&id)
            && let Some(at) = e.escalate_at_ms.take()
        {
            self.escalations.remove(&(at, id.clone()));
        }
        fx.events.iter().any(|e| e.kind == HubEventKind::RAISED)
    }

    /// Open → acknowledged; cancels its escalation.
    pub fn acknowledge(&mut self, id: &str, by: &str, note: Option<String>, now: u64) -> Result<Effects, HubError> {
        let Some(e) = self.alerts.get_mut(id) else { return Err(self.not_found(id)) };
        match (e.status, &e.acknowledged, &e.resolved) {
            (AlertStatus::Open, _, _) => {}
            (AlertStatus::Resolved, _, Some(r)) => {
                let reason = format!("it was resolved by {} at {}; a resolved alert cannot be acknowledged", r.by, r.at_ms);
                return Err(HubError::Conflict { id: id.to_string(), reason });
            }
            (_, Some(a), _) => {
                return Err(HubError::Conflict { id: id.to_string(), reason: format!("it was already acknowledged by {} at {}", a.by, a.at_ms) });
            }
            (status, _, _) => {
                return Err(HubError::Inconsistent { id: id.to_string(), reason: format!("it is {} (this is a bug)", status.as_str()) });
            }
        }
        let at_ms = e.stamp(now);
        e.status = AlertStatus::Acknowledged;
        e.acknowledged = Some(Change { by: by.to_string(), at_ms, note: note.clone() });
        if let Some(at) = e.escalate_at_ms.take() {
            self.escalations.remove(&(at, id.to_string()));
        }
        self.counters.acknowledged += 1;
        Ok(Effects::one(Some(e.row(by, note)), HubEventKind::Update, e.view()))
    }

    /// Open or acknowledged → resolved; cancels its escalation.
    pub fn resolve(&mut self, id: &str, by: &str, note: Option<String>, now: u64) -> Result<Effects, HubError> {
        let Some(e) = self.alerts.get_mut(id) else { return Err(self.not_found(id)) };
        if let Some(r) = &e.resolved {
            return Err(HubError::Conflict { id: id.to_string(), reason: format!("it was already resolved by {} at {}", r.by, r.at_ms) });
        }
        let at_ms = e.stamp(now);
        e.status = AlertStatus::Resolved;
        e.resolved = Some(Change { by: by.to_string(), at_ms, note: note.clone() });
        if let Some(at) = e.escalate_at_ms.take() {
            self.escalations.remove(&(at, id.to_string()));
        }
        self.resolved_order.push_back((at_ms, id.to_string()));
        self.counters.resolved += 1;
        Ok(Effects::one(Some(e.row(by, note)), HubEventKind::Update, e.view()))
    }

    /// The earliest pending escalation deadline.
    pub fn next_escalation(&self) -> Option<u64> {
        self.escalations.first().map(|(at, _)| *at)
    }

    /// Escalates every open alert whose deadline is at or before `now`.
    pub fn escalate_due(&mut self, now: u64) -> Effects {
        let mut out = Effects::default();
        while let Some((at, _)) = self.escalations.first() {
            if *at > now {
                break;
            }
            let (_, id) = self.escalations.pop_first().expect("non-empty");
            let Some(e) = self.alerts.get_mut(&id) else { continue };
            e.escalate_at_ms = None;
            if e.status != AlertStatus::Open || e.escalated {
                continue;
            }
            let at_ms = e.stamp(now);
            e.escalated = true;
            e.escalated_at_ms = Some(at_ms);
            e.alert.emitted_at_ms = at_ms;
            self.counters.escalated += 1;
            let after = self.config.escalate_after_ms(e.alert.severity).unwrap_or(0);
            out.rows.push(e.row(ENGINE, Some(format!("not acknowledged within {after} ms"))));
            out.events.push(HubEvent { kind: HubEventKind::ESCALATION, view: e.view() });
        }
        out
    }

    /// Drops resolved alerts older than `retain_resolved_ms` (they stay in the lake).
    pub fn sweep(&mut self, now: u64) {
        while let Some((at, _)) = self.resolved_order.front() {
            if at.saturating_add(self.config.retain_resolved_ms) > now {
                break;
            }
            let (_, id) = self.resolved_order.pop_front().expect("non-empty");
            self.retire(&id);
        }
    }

    /// Removes a resolved alert; false when it is not (or no longer) held and resolved.
    fn retire(&mut self, id: &str) -> bool {
        if self.alerts.get(id).is_some_and(|e| e.status == AlertStatus::Resolved) {
            self.alerts.remove(id);
            self.forgotten.insert(id.to_string(), ());
            self.counters.retired += 1;
            self.compact();
            true
        } else {
            false
        }
    }

    /// Keeps at most `max_alerts`: oldest resolved first, then oldest raised.
    fn evict_over_cap(&mut self) {
        while self.alerts.len() > self.config.max_alerts {
            if let Some((_, id)) = self.resolved_order.pop_front() {
                self.retire(&id);
                continue;
            }
            let Some(id) = self.raised_order.pop_front() else { break };
            if let Some(e) = self.alerts.remove(&id) {
                if let Some(at) = e.escalate_at_ms {
                    self.escalations.remove(&(at, id.clone()));
                }
                self.counters.evicted_unresolved += 1;
                // The first eviction, then the 10th, 100th, …: a full book under a flood of
                // alerts says so a few times, not once per alert.
                let n = self.counters.evicted_unresolved;
                if is_power_of_ten(n) {
                    tracing::warn!(alert_id = %id, status = e.status.as_str(), max_alerts = self.config.max_alerts, evicted = n, "alert book full: unresolved alerts left it (they stay in the alerts table); {n} so far");
                }
                self.forgotten.insert(id, ());
            }
        }
    }

    /// Drops ids of alerts no longer held from the raise order once they dominate it.
    fn compact(&mut self) {
        if self.raised_order.len() > 2 * self.alerts.len() + 64 {
            let alerts = &self.alerts;
            self.raised_order.retain(|id| alerts.contains_key(id));
        }
    }

    /// The alert with this id.
    pub fn get(&self, id: &str) -> Result<AlertView, HubError> {
        self.alerts.get(id).map(Entry::view).ok_or_else(|| self.not_found(id))
    }

    /// Alerts passing `filter`, newest event time first (then by id), at most `filter.limit`.
    pub fn list(&self, filter: &AlertFilter) -> Vec<AlertView> {
        let mut hits: Vec<&Entry> = self.alerts.values().filter(|e| filter.matches(&e.alert, e.status)).collect();
        hits.sort_by(|a, b| b.alert.ts_ms.cmp(&a.alert.ts_ms).then_with(|| a.alert.alert_id.cmp(&b.alert.alert_id)));
        hits.into_iter().take(filter.limit).map(Entry::view).collect()
    }
}

/// Whether `n` is 1, 10, 100, …
fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}
