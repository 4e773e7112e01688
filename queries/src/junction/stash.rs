//! The junction operators' inputs, stashed by event time until the frontier passes it.

use super::GeomChange;
use crate::facts::{SignalUpdate, TrackPoint};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything of one event time.
#[derive(Debug, Default)]
pub(crate) struct AtTime {
    /// Points of confirmed tracks (and their ends), in the order they came.
    pub points: Vec<(Arc<str>, TrackPoint)>,
    /// Signal updates at this time.
    pub signals: Vec<SignalUpdate>,
    /// Junction changes at this time.
    pub geoms: Vec<GeomChange>,
}

/// The inputs by time.
pub(crate) type Stash = BTreeMap<u64, AtTime>;

/// Drops the times before `frontier` (every time when the inputs ended: `None`).
pub(crate) fn drop_before(stash: &mut Stash, frontier: Option<u64>) {
    match frontier {
        Some(f) => *stash = stash.split_off(&f),
        None => stash.clear(),
    }
}

/// The stash's times before `frontier` (all of them when the inputs ended: `None`).
pub(crate) fn before(stash: &Stash, frontier: Option<u64>) -> std::collections::btree_map::Range<'_, u64, AtTime> {
    match frontier {
        Some(f) => stash.range(..f),
        None => stash.range(..),
    }
}
