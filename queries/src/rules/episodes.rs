//! Episodes: one violation per (rule, camera, subject, episode), the subject a track or, for a
//! windowed rule, a group. A rule's condition must hold for its `FOR` duration (event time) to
//! confirm a violation; the episode ends when the condition has stopped holding for
//! `rule_grace_ms`, when the track leaves the zone (`zone_presence`) or ends, or when the rule
//! is removed or changed. A rule without `FOR` on `line_crossings` makes one violation per
//! matching crossing.
//!
//! A confirmed episode is emitted twice with the same `violation_id`: when confirmed
//! (`ongoing = true`, for a prompt alert) and when it closes (`ongoing = false`, the row of the
//! `violations` table).

use super::eval::{Env, Row, eval};
use super::ir::{Column, Measure, Output, RuleIr, WindowIr};
use super::window::WindowState;
use crate::facts::from_ck;
use itscam_types::ObjectClass;
use itscam_types::analytics::ViolationRow;
use std::collections::HashMap;
use std::sync::Arc;

/// Whose episode: a track's, or a window group's (its values joined by `/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Subject {
    Track(u64),
    Group(String),
}

/// An episode's key: the rule's id (unique in the pipeline), the camera, the subject.
type Key = (Arc<str>, Arc<str>, Subject);

#[derive(Clone, Debug)]
struct Episode {
    spec: Arc<RuleIr>,
    class: ObjectClass,
    place: String,
    start: u64,
    last_true: u64,
    false_since: Option<u64>,
    confirmed: bool,
    /// Max speed (or aggregate) or min speed, per the rule's [`Measure`].
    extreme: Option<f64>,
}

/// Open episodes and windows of the rules on one worker.
#[derive(Debug, Default)]
pub struct Episodes {
    grace_ms: u64,
    open: HashMap<Key, Episode>,
    windows: HashMap<Key, WindowState>,
}

impl Episodes {
    /// With the grace of `[analytics].rule_grace_ms`.
    pub fn new(grace_ms: u64) -> Self {
        Episodes { grace_ms, open: HashMap::new(), windows: HashMap::new() }
    }

    /// Open episodes.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// A row of the rule's relation, and what its `WHERE` says (`None`: NULL, or a leaving).
    pub fn row(&mut self, spec: &Arc<RuleIr>, row: &Row<'_>, holds: Option<bool>, env: &Env<'_>, out: &mut Vec<ViolationRow>) {
        let camera = row.camera_id();
        let track_key = || match row {
            Row::Lane(_, l) => (spec.id.clone(), camera.clone(), Subject::Group(l.lane.to_string())),
            _ => (spec.id.clone(), camera.clone(), Subject::Track(row.track())),
        };
        let ended = match row {
            Row::Zone(_, p) => p.left,
            Row::Point(_, p) => p.ended,
            Row::Cross(..) | Row::Lane(..) => false,
        };
        match &spec.output {
            Output::Each => {
                if holds == Some(true) {
                    let e = Episode::start(spec, row, place_of(spec, row));
                    out.push(e.row(&track_key(), false));
                }
            }
            Output::Episode { min_ms, value } => {
                let key = track_key();
                if ended {
                    if let Some(e) = self.open.remove(&key) {
                        close(&key, e, out);
                    }
                    return;
                }
                let Some(h) = holds else { return };
                let v = match value {
                    Measure::MaxSpeed | Measure::MinSpeed => row.speed_ck().map(from_ck),
                    Measure::MaxQueue => number(row.column(Column::QueueM)),
                    _ => None,
                };
                self.step(key, spec, row, h, v, *min_ms, || place_of(spec, row), out);
            }
            Output::Window(w) => {
                if ended || holds != Some(true) {
                    return;
                }
                self.window_row(spec, w, camera.clone(), row, env, out);
            }
        }
    }

    /// A row that passed a windowed rule's `WHERE`: into its group's window, then `HAVING`
    /// over the window decides the group's episode.
    fn window_row(&mut self, spec: &Arc<RuleIr>, w: &WindowIr, camera: Arc<str>, row: &Row<'_>, env: &Env<'_>, out: &mut Vec<ViolationRow>) {
        let group: Vec<String> = w.group.iter().filter(|c| **c != Column::CameraId).map(|c| show(row.column(*c))).collect();
        let key = (spec.id.clone(), camera, Subject::Group(if group.is_empty() { "all".into() } else { group.join("/") }));
        let values = w.aggs.iter().map(|a| a.arg.and_then(|c| number(row.column(c)))).collect();
        let state = self.windows.entry(key.clone()).or_default();
        state.push(row.ts(), row.track(), values, w.size_ms);
        let aggs = state.aggregates(&w.aggs);
        let having = Env { book: env.book, tz: env.tz, aggs: &aggs };
        let Some(h) = eval(&w.having, row, &having).truth() else { return };
        self.step(key, spec, row, h, aggs.first().copied().flatten(), w.min_ms, || group_place(w, row, &spec.source), out);
    }

    /// One truth value of the condition for the episode of `key`.
    #[allow(clippy::too_many_arguments)]
    fn step(&mut self, key: Key, spec: &Arc<RuleIr>, row: &Row<'_>, holds: bool, value: Option<f64>, min_ms: u64, place: impl FnOnce() -> String, out: &mut Vec<ViolationRow>) {
        let ts = row.ts();
        match (self.open.get_mut(&key), holds) {
            (None, false) => {}
            (None, true) => {
                let mut e = Episode::start(spec, row, place());
                e.extreme = value;
                confirm_if_due(&key, &mut e, min_ms, out);
                self.open.insert(key, e);
            }
            (Some(e), true) => {
                e.last_true = ts;
                e.false_since = None;
                e.class = row.class();
                if let Some(v) = value {
                    e.extreme = Some(match (spec_measure(spec), e.extreme) {
                        (_, None) => v,
                        (Measure::MinSpeed, Some(x)) => x.min(v),
                        (_, Some(x)) => x.max(v),
                    });
                }
                confirm_if_due(&key, e, min_ms, out);
            }
            (Some(e), false) => {
                let since = *e.false_since.get_or_insert(ts);
                if ts - since >= self.grace_ms {
                    let e = self.open.remove(&key).expect("present");
                    close(&key, e, out);
                }
            }
        }
    }

    /// The rule `spec` was removed (or replaced): its open episodes end now, by camera and
    /// subject; its windows are dropped.
    pub fn rule_removed(&mut self, spec: &RuleIr, out: &mut Vec<ViolationRow>) {
        let mut keys: Vec<Key> = self.open.iter().filter(|(_, e)| *e.spec == *spec).map(|(k, _)| k.clone()).collect();
        keys.sort();
        for key in keys {
            let e = self.open.remove(&key).expect("listed");
            close(&key, e, out);
        }
        self.windows.retain(|k, _| *k.0 != *spec.id);
    }

    /// The input ended: every open episode closes, by rule, camera and subject.
    pub fn finish(&mut self, out: &mut Vec<ViolationRow>) {
        let mut open: Vec<(Key, Episode)> = self.open.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, e) in open {
            close(&key, e, out);
        }
        self.windows.clear();
    }
}

/// `violations.place` of a track's episode: its row's zone or line, or the zone a
/// `track_points` rule's condition requires.
fn place_of(spec: &RuleIr, row: &Row<'_>) -> String {
    match row {
        Row::Zone(p, _) | Row::Cross(p, _) => p.id.to_string(),
        Row::Point(..) => spec.zone_of_condition().unwrap_or_default().to_string(),
        Row::Lane(_, l) => l.lane.to_string(),
    }
}

fn spec_measure(spec: &RuleIr) -> Measure {
    match &spec.output {
        Output::Episode { value, .. } => *value,
        _ => Measure::FirstAggregate,
    }
}

/// A value as a group key part.
fn show(v: super::eval::V<'_>) -> String {
    match v {
        super::eval::V::Str(s) => s.to_string(),
        super::eval::V::Num(n) => format!("{n}"),
        super::eval::V::Bool(b) => b.to_string(),
        super::eval::V::Null => "null".into(),
    }
}

fn number(v: super::eval::V<'_>) -> Option<f64> {
    match v {
        super::eval::V::Num(n) => Some(n),
        super::eval::V::Bool(b) => Some(f64::from(u8::from(b))),
        _ => None,
    }
}

/// `violations.place` of a window group: its zone or line when grouped by one, else the
/// rule's own.
fn group_place(w: &WindowIr, row: &Row<'_>, source: &super::ir::Source) -> String {
    for c in [Column::ZoneId, Column::LineId, Column::LaneId] {
        if w.group.contains(&c) {
            return show(row.column(c));
        }
    }
    match source {
        super::ir::Source::ZonePresence(Some(p))
        | super::ir::Source::LineCrossings(Some(p))
        | super::ir::Source::QueueSamples(Some(p))
        | super::ir::Source::LaneCycles(Some(p)) => p.clone(),
        _ => String::new(),
    }
}

impl Episode {
    fn start(spec: &Arc<RuleIr>, row: &Row<'_>, place: String) -> Episode {
        let ts = row.ts();
        let extreme = match (&spec.output, spec_measure(spec)) {
            (Output::Each, _) if matches!(row, Row::Lane(..)) => number(row.column(Column::QueueM)),
            (Output::Each, _) => row.speed_ck().map(from_ck),
            (_, Measure::MaxSpeed | Measure::MinSpeed) => Some(row.speed_ck().map_or(0.0, from_ck)),
            (_, Measure::MaxQueue) => Some(number(row.column(Column::QueueM)).unwrap_or(0.0)),
            _ => None,
        };
        Episode { spec: spec.clone(), class: row.class(), place, start: ts, last_true: ts, false_since: None, confirmed: false, extreme }
    }

    fn row(&self, key: &Key, ongoing: bool) -> ViolationRow {
        let spec = &self.spec;
        let (subject, track) = match &key.2 {
            Subject::Track(t) => (t.to_string(), *t),
            Subject::Group(g) => (g.clone(), 0),
        };
        let value = match (&spec.output, spec_measure(spec)) {
            (Output::Each, _) => self.extreme.unwrap_or(0.0),
            (_, Measure::Duration) => (self.last_true - self.start) as f64 / 1000.0,
            _ => self.extreme.unwrap_or(0.0),
        };
        ViolationRow {
            violation_id: format!("{}:{}:{}:{}", key.0, key.1, subject, self.start),
            rule_id: spec.id.to_string(),
            kind: spec.kind,
            camera_id: key.1.to_string(),
            track_id: track,
            class: self.class,
            ts_start_ms: self.start,
            ts_end_ms: self.last_true,
            value,
            limit_value: spec.limit,
            severity: spec.severity,
            place: self.place.clone(),
            ongoing,
            evidence: Vec::new(),
        }
    }
}

fn confirm_if_due(key: &Key, e: &mut Episode, min_ms: u64, out: &mut Vec<ViolationRow>) {
    if !e.confirmed && e.last_true - e.start >= min_ms {
        e.confirmed = true;
        out.push(e.row(key, true));
    }
}

fn close(key: &Key, e: Episode, out: &mut Vec<ViolationRow>) {
    if e.confirmed {
        out.push(e.row(key, false));
    }
}

impl super::OnMatch for Episodes {
    type Out = ViolationRow;
    fn removed(&mut self, spec: &RuleIr, out: &mut Vec<ViolationRow>) {
        self.rule_removed(spec, out);
    }
    fn row(&mut self, spec: &Arc<RuleIr>, row: &Row<'_>, holds: Option<bool>, env: &Env<'_>, out: &mut Vec<ViolationRow>) {
        Episodes::row(self, spec, row, holds, env, out);
    }
    fn finish(&mut self, out: &mut Vec<ViolationRow>) {
        Episodes::finish(self, out);
    }
}
