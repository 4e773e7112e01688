//! `traffic_metrics`: per camera × window × class, a differential `reduce` over the tracks'
//! window parts, emitted when the frontier passes the window and corrected (a new row with
//! the next `revision`) if a later update changes it.

use crate::observe::{MetricKey, TrackPart};
use crate::updates::inserts;
use differential_dataflow::VecCollection;
use itscam_types::analytics::{Congestion, TrafficMetricRow};
use itscam_types::config::CongestionConfig;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

/// The value of one metrics group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricValue {
    /// Distinct tracks.
    pub count: u64,
    /// Mean of the tracks' mean speeds (tracks with a speed), centi-km/h.
    pub avg_speed_ck: Option<i64>,
    /// Sum of the tracks' presence, ms.
    pub presence_ms: u64,
}

/// The group's value from its tracks' parts (each `(track, part)` with a positive count).
/// This is the reduce's logic, and the oracle the tests recompute from scratch.
pub fn metric_value<'a>(parts: impl Iterator<Item = &'a (u64, TrackPart)>) -> MetricValue {
    let mut count = 0;
    let mut presence_ms = 0;
    let (mut speed_sum, mut speed_n) = (0f64, 0u64);
    let mut last_track = None;
    for (track, part) in parts {
        if last_track != Some(*track) {
            count += 1;
            last_track = Some(*track);
        }
        presence_ms += part.presence_ms;
        if part.speed_n > 0 {
            speed_sum += part.speed_sum_ck as f64 / f64::from(part.speed_n);
            speed_n += 1;
        }
    }
    MetricValue { count, avg_speed_ck: (speed_n > 0).then(|| (speed_sum / speed_n as f64).round() as i64), presence_ms }
}

/// The differential part: parts in, one value per group out.
pub fn metric_values<'s>(parts: VecCollection<'s, u64, (MetricKey, (u64, TrackPart)), isize>) -> VecCollection<'s, u64, (MetricKey, MetricValue), isize> {
    parts.reduce_named("TrafficMetrics", |_key, input, output| {
        let mut expanded: Vec<(u64, TrackPart)> = Vec::with_capacity(input.len());
        for (v, r) in input {
            for _ in 0..(*r).max(0) {
                expanded.push((*v).clone());
            }
        }
        output.push((metric_value(expanded.iter()), 1));
    })
}

/// How metric values become rows.
#[derive(Clone, Debug)]
pub struct MetricRows {
    /// Window length, ms.
    pub window_ms: u64,
    /// Road length per camera, m.
    pub road_length_m: HashMap<String, f64>,
    /// Congestion thresholds.
    pub congestion: CongestionConfig,
}

impl MetricRows {
    /// The row of a group's value.
    pub fn row(&self, key: &MetricKey, value: Option<&MetricValue>, revision: u32) -> TrafficMetricRow {
        let density = value.and_then(|v| {
            let road_km = self.road_length_m.get(&key.camera)? / 1000.0;
            Some(v.presence_ms as f64 / self.window_ms as f64 / road_km)
        });
        TrafficMetricRow {
            camera_id: key.camera.clone(),
            window_start_ms: key.window_start,
            window_end_ms: key.window_start + self.window_ms,
            class: key.class.as_str().to_string(),
            vehicle_count: value.map_or(0, |v| v.count),
            avg_speed_kmh: value.and_then(|v| v.avg_speed_ck).map(crate::facts::from_ck),
            density_veh_per_km: density,
            congestion_level: density.map(|d| congestion_of(&self.congestion, d)),
            revision,
        }
    }
}

/// The level a density reaches.
pub fn congestion_of(c: &CongestionConfig, density: f64) -> Congestion {
    if density >= c.jam {
        Congestion::Jam
    } else if density >= c.heavy {
        Congestion::Heavy
    } else if density >= c.moderate {
        Congestion::Moderate
    } else if density >= c.light {
        Congestion::Light
    } else {
        Congestion::Free
    }
}

/// Windows a group stays correctable after it closed; then its parts are retracted (memory
/// stays bounded) and the retraction is not reported.
pub const RETAIN_WINDOWS: u64 = 10;

/// The whole query: window parts → rows, each emitted once the frontier passes its time.
pub fn traffic_metrics<'s>(parts: Stream<'s, u64, Vec<(MetricKey, u64, TrackPart)>>, rows: MetricRows) -> Stream<'s, u64, Vec<TrafficMetricRow>> {
    let expire_after = rows.window_ms * RETAIN_WINDOWS + 1;
    let collection = inserts(parts, "MetricParts", |(key, track, part)| Some((key, (track, part))));
    let expired = collection.clone().delay(move |t| t + expire_after).negate();
    emit_rows(metric_values(collection.concat(expired)), Arc::new(rows))
}

/// Emits a row per group whose value changed at a time, once the frontier passes that time;
/// the first row of a group has revision 0, each correction the next revision.
fn emit_rows<'s>(values: VecCollection<'s, u64, (MetricKey, MetricValue), isize>, rows: Arc<MetricRows>) -> Stream<'s, u64, Vec<TrafficMetricRow>> {
    values.inner.unary_frontier(Pipeline, "MetricRows", move |_, _| {
        type Pending = (Capability<u64>, Vec<((MetricKey, MetricValue), isize)>);
        let mut stash: BTreeMap<u64, Pending> = BTreeMap::new();
        let mut current: HashMap<MetricKey, (BTreeMap<MetricValue, isize>, Option<u32>)> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                for (d, t, r) in data.drain(..) {
                    let slot = stash.entry(t).or_insert_with(|| (cap.delayed(&t, 0), Vec::new()));
                    slot.1.push((d, r));
                }
            });
            while let Some(entry) = stash.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (cap, updates) = entry.remove();
                let mut touched: Vec<MetricKey> = Vec::new();
                let t = *cap.time();
                for ((key, value), r) in updates {
                    if t >= key.window_start + rows.window_ms * (1 + RETAIN_WINDOWS) {
                        current.remove(&key);
                        continue;
                    }
                    let (values, _) = current.entry(key.clone()).or_default();
                    *values.entry(value).or_default() += r;
                    values.retain(|_, c| *c != 0);
                    touched.push(key);
                }
                touched.sort();
                touched.dedup();
                let mut session = output.session(&cap);
                for key in touched {
                    let (values, revision) = current.get_mut(&key).expect("touched");
                    let value = values.iter().find(|(_, c)| **c > 0).map(|(v, _)| v.clone());
                    let next = revision.map_or(0, |r| r + 1);
                    *revision = Some(next);
                    session.give(rows.row(&key, value.as_ref(), next));
                }
            }
        }
    })
}
