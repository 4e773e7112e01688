//! Rules as data: each zone fact and crossing is matched with the rules live at its time that
//! watch its place (crossings of `red_light` rules only while their signal is red), then episodes
//! per (rule, track) become `violations`.
//!
//! # A half-join, on the camera's worker
//!
//! The rules and the signal states are differential collections (updates `(record, time, diff)`,
//! the rules fed by [`RuleControl`]); the facts are not. The operator [`match_rules`] keeps the
//! two collections accumulated at the frontier in a [`RuleBook`] and, once the frontier passes a
//! time `t`, applies the updates at `t` and then looks each fact of `t` up in the book: a
//! half-join. Facts are never arranged and never retracted, so a rule added after an hour of
//! traffic costs as much as one added at the start, and memory does not grow with history.
//! Rule and signal updates are broadcast (they are few); facts stay on the worker of their
//! camera, where the observe step made them, and so do the camera's episodes.

mod book;
mod control;
mod episodes;
pub mod eval;
pub mod ir;
pub mod sql;
mod window;

pub use book::RuleBook;
pub use control::{LoggedRule, RuleChange, RuleControl, RuleEntry, RuleError, checked, rules_input};
pub use episodes::Episodes;
pub use window::WindowState;

use crate::facts::{CrossPoint, LaneFact, Place, SignalState, SignalUpdate, TrackPoint, ZonePoint};
use chrono_tz::Tz;
use eval::{Env, Row, eval};
use ir::RuleIr;
use itscam_types::analytics::ViolationRow;
use std::collections::BTreeMap;
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;

/// A row looked up in a rule, and what the rule's `WHERE` said of it (`None`: NULL, or a
/// leaving).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// Rule id.
    pub rule: String,
    /// Camera.
    pub camera: String,
    /// The row's time.
    pub ts: u64,
    /// The row's track.
    pub track: u64,
    /// Zone or line of a zone or crossing row ("" for a track point).
    pub place: String,
    /// The `WHERE`.
    pub holds: Option<bool>,
}

/// The inputs of the rule queries.
pub struct RuleInputs<'s> {
    /// Points in zones (and leavings), from the observe step.
    pub zone_facts: Stream<'s, u64, Vec<(Place, ZonePoint)>>,
    /// Line crossings, from the observe step (same operator, same frontier).
    pub crossings: Stream<'s, u64, Vec<(Place, CrossPoint)>>,
    /// Every point of a confirmed track (and its end), from the observe step.
    pub points: Stream<'s, u64, Vec<(Arc<str>, TrackPoint)>>,
    /// Signal state updates `((signal_id, state), time, diff)`.
    pub signals: Stream<'s, u64, Vec<SignalUpdate>>,
    /// Junction lanes' queue samples and finished cycles, from the junction tables.
    pub lanes: Stream<'s, u64, Vec<(Arc<str>, LaneFact)>>,
}

/// What is done with the matches, time by time: [`Episodes`] turns them into violations; tests
/// collect the [`Hit`]s themselves.
pub trait OnMatch: 'static {
    /// The records it emits.
    type Out: Clone + 'static;
    /// The rule `spec` left the collection (removed, or replaced) at the current time, before
    /// that time's facts.
    fn removed(&mut self, spec: &RuleIr, out: &mut Vec<Self::Out>);
    /// A row of the relation the rule reads, and what its `WHERE` says.
    fn row(&mut self, spec: &Arc<RuleIr>, row: &Row<'_>, holds: Option<bool>, env: &Env<'_>, out: &mut Vec<Self::Out>);
    /// Every input has ended.
    fn finish(&mut self, out: &mut Vec<Self::Out>);
}

/// Collects the hits (each row once per rule that reads it, at its time).
#[derive(Debug, Default)]
pub struct CollectHits;

impl OnMatch for CollectHits {
    type Out = Hit;
    fn removed(&mut self, _: &RuleIr, _: &mut Vec<Hit>) {}
    fn row(&mut self, spec: &Arc<RuleIr>, row: &Row<'_>, holds: Option<bool>, _: &Env<'_>, out: &mut Vec<Hit>) {
        let place = match row {
            Row::Zone(p, _) | Row::Cross(p, _) => p.id.to_string(),
            Row::Point(..) => String::new(),
            Row::Lane(_, l) => l.lane.to_string(),
        };
        out.push(Hit { rule: spec.id.to_string(), camera: row.camera().to_string(), ts: row.ts(), track: row.track(), place, holds });
    }
    fn finish(&mut self, _: &mut Vec<Hit>) {}
}

/// The rules' settings: the grace of episodes and the time zone of the time functions.
#[derive(Clone, Copy, Debug)]
pub struct RuleSettings {
    /// `[analytics] rule_grace_ms`.
    pub grace_ms: u64,
    /// `[analytics] time_zone`.
    pub tz: Tz,
}

/// Builds the rule queries; returns the violations (each confirmed episode twice, see
/// [`Episodes`]).
pub fn violations<'s>(inputs: RuleInputs<'s>, control: RuleControl, feeds: bool, settings: RuleSettings) -> Stream<'s, u64, Vec<ViolationRow>> {
    let rules = rules_input(inputs.zone_facts.clone(), control, feeds);
    match_rules(inputs, rules, Episodes::new(settings.grace_ms), settings.tz)
}

/// The matches alone, each at its fact's time: the half-join of the module docs.
pub fn hits<'s>(inputs: RuleInputs<'s>, rules: Stream<'s, u64, Vec<(RuleIr, u64, isize)>>, tz: Tz) -> Stream<'s, u64, Vec<Hit>> {
    match_rules(inputs, rules, CollectHits, tz)
}

/// What a rule's `WHERE` says of a row: `None` for NULL, and for a leaving or a track's end
/// (which only ends episodes).
pub fn holds(spec: &RuleIr, row: &Row<'_>, env: &Env<'_>) -> Option<bool> {
    match row {
        Row::Zone(_, p) if p.left => None,
        Row::Point(_, p) if p.ended => None,
        _ => eval(&spec.filter, row, env).truth(),
    }
}

/// One time's updates and facts.
#[derive(Default)]
struct AtTime {
    rules: Vec<(RuleIr, isize)>,
    signals: Vec<((String, SignalState), isize)>,
    zone: Vec<(Place, ZonePoint)>,
    cross: Vec<(Place, CrossPoint)>,
    points: Vec<(Arc<str>, TrackPoint)>,
    lanes: Vec<(Arc<str>, LaneFact)>,
}

impl AtTime {
    /// Applies the time's updates to the book (removals told first), then matches its facts.
    fn apply<M: OnMatch>(mut self, book: &mut RuleBook, on: &mut M, tz: Tz, out: &mut Vec<M::Out>) {
        for (spec, diff) in &self.rules {
            if *diff < 0 {
                on.removed(spec, out);
            }
        }
        for (spec, diff) in self.rules.drain(..) {
            book.update_rule(&Arc::new(spec), diff);
        }
        for ((signal, state), diff) in &self.signals {
            book.update_signal(signal, *state, *diff);
        }
        if book.is_empty() {
            return;
        }
        let env = Env { book, tz, aggs: &[] };
        for (place, p) in &self.zone {
            for spec in book.rules_at(place) {
                // A point may come twice: a rule that weighs the speed against a limit reads the
                // smoothed one, the others the causal one (`facts::Readers`).
                if !p.readers.include(spec.reads_smoothed_speed()) {
                    continue;
                }
                let row = Row::Zone(place, p);
                on.row(spec, &row, holds(spec, &row, &env), &env, out);
            }
        }
        for (place, c) in &self.cross {
            for spec in book.rules_at(place) {
                let row = Row::Cross(place, c);
                on.row(spec, &row, holds(spec, &row, &env), &env, out);
            }
        }
        for (camera, p) in &self.points {
            for spec in book.point_rules(camera) {
                let row = Row::Point(camera, p);
                on.row(spec, &row, holds(spec, &row, &env), &env, out);
            }
        }
        for (camera, l) in &self.lanes {
            for spec in book.lane_rules(camera, l.cycle.is_some()) {
                let row = Row::Lane(camera, l);
                on.row(spec, &row, holds(spec, &row, &env), &env, out);
            }
        }
    }
}

/// The half-join: rule and signal updates are broadcast to every worker; facts stay where they
/// are. Times are applied in order once every input's frontier has passed them; what `on` emits
/// for a time leaves at that time, and what it emits at the end at the last frontier.
pub fn match_rules<'s, M: OnMatch>(inputs: RuleInputs<'s>, rules: Stream<'s, u64, Vec<(RuleIr, u64, isize)>>, mut on: M, tz: Tz) -> Stream<'s, u64, Vec<M::Out>> {
    let RuleInputs { zone_facts, crossings, points, signals, lanes } = inputs;
    let mut builder = OperatorBuilder::new("MatchRules".to_owned(), zone_facts.scope());
    let mut zone_in = builder.new_input(zone_facts, Pipeline);
    let mut cross_in = builder.new_input(crossings, Pipeline);
    let mut points_in = builder.new_input(points, Pipeline);
    let mut lanes_in = builder.new_input(lanes, Pipeline);
    let mut rules_in = builder.new_input(rules.broadcast(), Pipeline);
    let mut signals_in = builder.new_input(signals.broadcast(), Pipeline);
    let (mut output, stream) = builder.new_output::<Vec<M::Out>>();
    builder.build(move |mut caps| {
        let mut held = caps.pop();
        let mut book = RuleBook::new();
        let mut stash: BTreeMap<u64, AtTime> = BTreeMap::new();
        let mut out: Vec<M::Out> = Vec::new();
        move |frontiers| {
            zone_in.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().zone.append(data);
            });
            cross_in.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().cross.append(data);
            });
            points_in.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().points.append(data);
            });
            lanes_in.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().lanes.append(data);
            });
            rules_in.for_each(|_, data| {
                for (spec, t, diff) in data.drain(..) {
                    stash.entry(t).or_default().rules.push((spec, diff));
                }
            });
            signals_in.for_each(|_, data| {
                for ((signal, state), t, diff) in data.drain(..) {
                    stash.entry(t).or_default().signals.push(((signal, state), diff));
                }
            });
            let Some(cap) = held.as_mut() else { return };
            let frontier = frontiers.iter().filter_map(|f| f.frontier().iter().min().copied()).min();
            while let Some(entry) = stash.first_entry() {
                let t = *entry.key();
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                entry.remove().apply(&mut book, &mut on, tz, &mut out);
                if !out.is_empty() {
                    output.activate().give(&cap.delayed(&t), &mut out);
                    out.clear();
                }
            }
            match frontier {
                Some(f) if f > *cap.time() => cap.downgrade(&f),
                Some(_) => {}
                None => {
                    on.finish(&mut out);
                    if !out.is_empty() {
                        output.activate().give(&*cap, &mut out);
                        out.clear();
                    }
                    held = None;
                }
            }
        }
    });
    stream
}
