//! The movement and lane tables in one operator: the points are stashed once per time and read
//! by reference by both parts (two operators would each get a copy of every point and stash
//! it again). Each part keeps its own state, outputs and capabilities and runs exactly as it
//! does alone ([`super::movement_tables::movement_tables`], [`super::lanes::lane_tables`]).

use super::lanes::{LaneOutputs, LanePart, LaneStreams};
use super::movement_tables::{MovementOutputs, MovementPart, MovementStreams};
use super::stash::{Stash, drop_before};
use super::{JunctionInputs, JunctionPlan};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// Builds the operator: the movements' outputs first, then the lanes'.
pub fn movements_and_lanes<'s>(inputs: &JunctionInputs<'s>, plan: &JunctionPlan) -> (MovementStreams<'s>, LaneStreams<'s>) {
    let mut builder = OperatorBuilder::new("JunctionTables".to_owned(), inputs.points.scope());
    let mut points_in = builder.new_input(inputs.points.clone(), Pipeline);
    let mut signals_in = builder.new_input(inputs.signals.clone(), Pipeline);
    let mut geoms_in = builder.new_input(inputs.geoms.clone(), Pipeline);
    let (move_outputs, move_streams) = MovementOutputs::new(&mut builder);
    let (lane_outputs, lane_streams) = LaneOutputs::new(&mut builder);
    let plan = plan.clone();
    builder.build(move |mut caps| {
        let lane_caps = caps.split_off(3);
        let mut lanes = LanePart::new(&plan, lane_outputs, lane_caps);
        let mut moves = MovementPart::new(plan, move_outputs, caps);
        let mut stash = Stash::new();
        move |frontiers| {
            points_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                lanes.last_seen = lanes.last_seen.max(Some(t));
                // The batch is taken whole where the time has none yet (no copy of its points).
                let at = stash.entry(t).or_default();
                if at.points.is_empty() {
                    std::mem::swap(&mut at.points, data);
                } else {
                    at.points.append(data);
                }
            });
            // The movements apply the updates at their times; the lanes' timeline takes them now.
            signals_in.for_each(|cap, data| {
                lanes.last_seen = lanes.last_seen.max(cap.least().copied());
                lanes.timeline.update(data.iter().cloned());
                for u in data.drain(..) {
                    stash.entry(u.1).or_default().signals.push(u);
                }
            });
            geoms_in.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                lanes.last_seen = lanes.last_seen.max(Some(t));
                stash.entry(t).or_default().geoms.append(data);
            });
            let frontier = frontiers.iter().filter_map(|f| f.frontier().iter().min().copied()).min();
            moves.run(&stash, frontier);
            lanes.run(&stash, frontier);
            drop_before(&mut stash, frontier);
        }
    });
    (move_streams, lane_streams)
}
