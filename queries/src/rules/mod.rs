//! Rules as data: `zone facts ⋈ rules` and `crossings ⋈ rules (⋈ signal states)` in
//! differential dataflow, then episodes per (rule, track) into `violations`.

mod control;
mod episodes;

pub use control::{RuleControl, RuleEntry, RuleError, rules_input};
pub use episodes::Episodes;

use crate::facts::{CrossPoint, Place, RuleSpec, SignalState, SignalUpdate, ZonePoint};
use crate::updates::transient;
use differential_dataflow::{AsCollection, VecCollection};
use itscam_types::analytics::ViolationRow;
use itscam_types::camera_route;
use itscam_types::config::RuleKind;
use std::collections::BTreeMap;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Map};

/// A fact matched with a rule that watches its place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Hit {
    /// A zone point.
    Zone(RuleSpec, ZonePoint),
    /// A crossing (for red_light: during red).
    Cross(RuleSpec, CrossPoint),
}

impl Hit {
    fn spec(&self) -> &RuleSpec {
        match self {
            Hit::Zone(s, _) | Hit::Cross(s, _) => s,
        }
    }
    fn order(&self) -> (u64, &str, u64) {
        match self {
            Hit::Zone(s, p) => (p.ts, s.id.as_str(), p.track),
            Hit::Cross(s, c) => (c.ts, s.id.as_str(), c.track),
        }
    }
}

/// The inputs of the rule queries.
pub struct RuleInputs<'s> {
    /// Points in zones (and leavings), from the observe step.
    pub zone_facts: Stream<'s, u64, Vec<(Place, ZonePoint)>>,
    /// Line crossings, from the observe step (same operator, same frontier).
    pub crossings: Stream<'s, u64, Vec<(Place, CrossPoint)>>,
    /// Signal state updates `((signal_id, state), time, diff)`.
    pub signals: Stream<'s, u64, Vec<SignalUpdate>>,
}

/// Builds the rule queries; returns the violations (each confirmed episode twice, see
/// [`Episodes`]) and the rules' updates (for tests and logs).
pub fn violations<'s>(inputs: RuleInputs<'s>, control: RuleControl, feeds: bool, grace_ms: u64) -> Stream<'s, u64, Vec<ViolationRow>> {
    let rule_updates = rules_input(inputs.zone_facts.clone(), control, feeds);
    let hits = hits(inputs, rule_updates.clone().as_collection()).inner;
    let removals = rule_updates.flat_map(|(spec, _t, diff)| (diff < 0).then_some(spec)).broadcast();
    episodes(hits, removals, grace_ms)
}

/// The joins: every fact matched with every rule live at the fact's time that watches its
/// place (crossings of `red_light` rules only while their signal is red). The collection's
/// updates at a time are not consolidated: sum them per time before reading them as events.
pub fn hits<'s>(inputs: RuleInputs<'s>, rules: VecCollection<'s, u64, RuleSpec, isize>) -> VecCollection<'s, u64, Hit, isize> {
    let RuleInputs { zone_facts, crossings, signals } = inputs;
    let by_place = rules.map(|spec: RuleSpec| (spec.place.clone(), spec));
    let zone_hits = transient(zone_facts, "ZoneFacts", Some).join(by_place.clone()).map(|(_place, (p, spec))| Hit::Zone(spec, p));
    let cross = transient(crossings, "Crossings", Some).join(by_place);
    let lane = cross.clone().filter(|(_, (_, spec))| spec.kind == RuleKind::LaneViolation).map(|(_, (c, spec))| Hit::Cross(spec, c));
    let red = cross
        .filter(|(_, (_, spec))| spec.kind == RuleKind::RedLight)
        .map(|(_, (c, spec))| (spec.signal.clone().unwrap_or_default(), (c, spec)))
        .join(signals.as_collection())
        .filter(|(_, (_, state))| *state == SignalState::Red)
        .map(|(_, ((c, spec), _))| Hit::Cross(spec, c));
    zone_hits.concat(lane).concat(red)
}

/// Runs the episodes of each camera's rules on the camera's worker, in event-time order.
fn episodes<'s>(hits: Stream<'s, u64, Vec<(Hit, u64, isize)>>, removals: Stream<'s, u64, Vec<RuleSpec>>, grace_ms: u64) -> Stream<'s, u64, Vec<ViolationRow>> {
    let by_camera = Exchange::new(|h: &(Hit, u64, isize)| camera_route(&h.0.spec().place.camera));
    hits.binary_frontier(removals, by_camera, Pipeline, "Episodes", move |cap, _| {
        let mut episodes = Episodes::new(grace_ms);
        // Per time: hit updates, and rules removed.
        type Pending = (Vec<(Hit, isize)>, Vec<RuleSpec>);
        let mut stash: BTreeMap<u64, Pending> = BTreeMap::new();
        let mut out = Vec::new();
        // Held at the inputs' frontier: rows are emitted at the time of the input that caused
        // them, or at the end of input for the episodes still open.
        let mut held: Option<Capability<u64>> = Some(cap);
        move |(hits, hits_frontier), (removals, removals_frontier), output| {
            hits.for_each(|_cap, data| {
                for (hit, t, diff) in data.drain(..) {
                    stash.entry(t).or_default().0.push((hit, diff));
                }
            });
            removals.for_each(|cap, data| {
                let t = *cap.least().expect("time");
                stash.entry(t).or_default().1.append(data);
            });
            let Some(cap) = held.as_mut() else { return };
            let frontier = hits_frontier.frontier().iter().chain(removals_frontier.frontier().iter()).min().copied();
            while let Some(entry) = stash.first_entry() {
                let t = *entry.key();
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                let (mut hits, removed) = entry.remove();
                // A rule removed or changed at `t` ends its episodes before `t`'s points count.
                for spec in &removed {
                    episodes.rule_removed(spec, &mut out);
                }
                // Events at `t`: hits whose updates at `t` sum to more than zero.
                differential_dataflow::consolidation::consolidate(&mut hits);
                hits.retain(|(_, diff)| *diff > 0);
                hits.sort_by(|a, b| a.0.order().cmp(&b.0.order()));
                for (hit, _) in &hits {
                    match hit {
                        Hit::Zone(spec, p) => episodes.zone_point(spec, p, &mut out),
                        Hit::Cross(spec, c) => episodes.crossing(spec, c, &mut out),
                    }
                }
                if !out.is_empty() {
                    output.session(&cap.delayed(&t)).give_container(&mut out);
                    out.clear();
                }
            }
            match frontier {
                Some(f) => {
                    if f > *cap.time() {
                        cap.downgrade(&f);
                    }
                }
                None => {
                    episodes.finish(&mut out);
                    if !out.is_empty() {
                        output.session(&*cap).give_container(&mut out);
                        out.clear();
                    }
                    held = None;
                }
            }
        }
    })
}
