//! The junction lanes' rows as facts for the rules (`queue_samples` and `queues` are
//! relations of the rule language: a spillback is a queue past a distance for a duration, a
//! split-failure streak a window over the cycles).

use crate::facts::{CycleFact, LaneFact};
use itscam_types::junction_rows::{QueueRow, QueueSampleRow};
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::operators::Concat;
use timely::dataflow::operators::vec::Map;

/// A sample as a fact.
pub fn sample_fact(r: &QueueSampleRow) -> (Arc<str>, LaneFact) {
    let fact = LaneFact { approach: r.approach.as_str().into(), lane: r.lane_id.as_str().into(), ts: r.ts_ms, queue_m: r.queue_m, queue_veh: r.queue_veh, cycle: None };
    (r.camera_id.as_str().into(), fact)
}

/// A finished cycle as a fact, at the cycle's end.
pub fn cycle_fact(r: &QueueRow) -> (Arc<str>, LaneFact) {
    let cycle = CycleFact { start_ms: r.cycle_start_ms, cleared: r.cleared, split_failure: r.split_failure };
    let fact = LaneFact { approach: r.approach.as_str().into(), lane: r.lane_id.as_str().into(), ts: r.cycle_end_ms, queue_m: r.max_queue_m, queue_veh: r.max_queue_veh, cycle: Some(cycle) };
    (r.camera_id.as_str().into(), fact)
}

/// Both tables' rows as the rules' lane facts (a corrected cycle row, `revision` > 0, is not a
/// new cycle: only first rows count).
pub fn lane_facts<'s>(samples: Stream<'s, u64, Vec<QueueSampleRow>>, queues: Stream<'s, u64, Vec<QueueRow>>) -> Stream<'s, u64, Vec<(Arc<str>, LaneFact)>> {
    let samples = samples.map(|r| sample_fact(&r));
    let cycles = queues.flat_map(|r| (r.revision == 0).then(|| cycle_fact(&r)));
    samples.concat(cycles)
}
