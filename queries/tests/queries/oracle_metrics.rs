//! `traffic_metrics`' reduce against a from-scratch recomputation.

use differential_dataflow::input::Input;
use itscam_queries::metrics::{MetricValue, metric_value, metric_values};
use itscam_queries::observe::{MetricClass, MetricKey, TrackPart};
use itscam_types::ObjectClass;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::Probe;

type Record = (MetricKey, (u64, TrackPart));
type Output = ((MetricKey, MetricValue), u64, isize);

fn random_record(rng: &mut StdRng) -> Record {
    let key = MetricKey {
        camera: format!("cam-{}", rng.random_range(0..2)),
        window_start: 60_000 * rng.random_range(0..3u64),
        class: [MetricClass::Class(ObjectClass(2)), MetricClass::All][rng.random_range(0..2)],
    };
    let part = TrackPart {
        points: rng.random_range(1..30),
        speed_sum_ck: rng.random_range(0..200_000),
        speed_n: rng.random_range(0..3),
        presence_ms: rng.random_range(0..60_000),
        class: None,
    };
    (key, (rng.random_range(0..6u64), part))
}

/// Accumulates `(data, time, diff)` updates up to and including `t`.
fn at<D: Ord + Clone>(updates: &[(D, u64, isize)], t: u64) -> BTreeMap<D, isize> {
    let mut acc = BTreeMap::new();
    for (d, _, diff) in updates.iter().filter(|u| u.1 <= t) {
        *acc.entry(d.clone()).or_insert(0) += diff;
    }
    acc.retain(|_, c| *c != 0);
    acc
}

#[test]
fn metric_values_match_recomputation_at_every_time() {
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut inputs: Vec<(Record, u64, isize)> = Vec::new();
        let mut live: Vec<Record> = Vec::new();
        for t in 1..60u64 {
            for _ in 0..rng.random_range(0..6) {
                if !live.is_empty() && rng.random_bool(0.35) {
                    let r = live.swap_remove(rng.random_range(0..live.len()));
                    inputs.push((r, t, -1));
                } else {
                    let r = random_record(&mut rng);
                    live.push(r.clone());
                    inputs.push((r, t, 1));
                }
            }
        }
        let outputs: Arc<Mutex<Vec<Output>>> = Arc::default();
        let sink = outputs.clone();
        let fed = inputs.clone();
        timely::execute_directly(move |worker| {
            let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, parts) = scope.new_collection::<Record, isize>();
                let probe = metric_values(parts)
                    .inspect(move |(d, t, r)| sink.lock().unwrap().push((d.clone(), *t, *r)))
                    .inner
                    .probe().0;
                (input, probe)
            });
            for (record, t, diff) in fed {
                if *input.time() < t {
                    input.advance_to(t);
                }
                input.update(record, diff);
            }
            input.close();
            while !probe.done() {
                worker.step();
            }
        });
        let outputs = outputs.lock().unwrap();
        for t in 1..60u64 {
            let input_now = at(&inputs, t);
            let mut expected: BTreeMap<(MetricKey, MetricValue), isize> = BTreeMap::new();
            let mut by_key: BTreeMap<MetricKey, Vec<(u64, TrackPart)>> = BTreeMap::new();
            for ((key, val), count) in &input_now {
                assert!(*count > 0, "the generator retracts only live records");
                for _ in 0..*count {
                    by_key.entry(key.clone()).or_default().push(val.clone());
                }
            }
            for (key, mut vals) in by_key {
                vals.sort();
                expected.insert((key, metric_value(vals.iter())), 1);
            }
            assert_eq!(at(&outputs, t), expected, "seed {seed}, time {t}");
        }
    }
}

#[test]
fn metric_value_counts_distinct_tracks_and_averages_track_means() {
    let part = |speed_sum_ck, speed_n, presence_ms| TrackPart { points: 1, speed_sum_ck, speed_n, presence_ms, class: None };
    let v = metric_value([(1, part(10_000, 2, 1_000)), (2, part(0, 0, 500)), (3, part(3_000, 1, 250))].iter());
    assert_eq!(v.count, 3);
    // Track means 50 and 30 km/h; the track without a speed does not count.
    assert_eq!(v.avg_speed_ck, Some(4_000));
    assert_eq!(v.presence_ms, 1_750);
}
