//! Latency: frames released at their capture pace; for each violation row whose cause is one
//! point (a confirmation, `ongoing = true`, at `ts_end_ms`; a line rule's crossing at
//! `ts_end_ms`), the wall-clock time from handing that time's frames to the input to the row
//! leaving the violations stream.

use crate::harness::{Batches, Counts, camera_index, dataflow, quantile, run_workers, sink_all, take};
use itscam_queries::{AnalyticsPlan, AnalyticsStreams};
use itscam_types::config::RuleKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::dataflow::Stream;

/// What one paced run measured.
#[derive(Debug)]
pub struct Latency {
    /// Latencies in ms, sorted.
    pub ms: Vec<f64>,
    /// Rows out.
    pub counts: Arc<Counts>,
}

impl Latency {
    /// `(p50, p99, max)` in ms.
    pub fn summary(&self) -> (f64, f64, f64) {
        (quantile(&self.ms, 0.5), quantile(&self.ms, 0.99), self.ms.last().copied().unwrap_or(f64::NAN))
    }
}

/// Runs paced: worker `w` holds `inputs[w]` (each time's records), released at
/// `first_ts + (t − first_ts)` of wall time; `build` turns the input into the queries' streams.
/// Camera `c`'s records must be fed by worker `c mod workers`.
pub fn paced<D, B>(inputs: Vec<Batches<D>>, plan: AnalyticsPlan, build: B) -> anyhow::Result<Latency>
where
    D: Clone + Send + 'static,
    B: for<'s> Fn(Stream<'s, u64, Vec<D>>, &AnalyticsPlan, usize) -> AnalyticsStreams<'s> + Send + Sync + 'static,
{
    let workers = inputs.len();
    let first_ts = inputs.iter().filter_map(|b| b.first().map(|(t, _)| *t)).min().unwrap_or(0);
    let shared = Arc::new(Mutex::new(inputs.into_iter().map(Some).collect::<Vec<_>>()));
    let counts = Arc::new(Counts::default());
    // (trigger time, camera, when the row left).
    let emitted: Arc<Mutex<Vec<(u64, usize, Instant)>>> = Arc::default();
    let (c, e) = (counts.clone(), emitted.clone());
    // Every worker starts the clock at the same instant, after the dataflows are built.
    let start = Instant::now() + Duration::from_millis(300);
    let handed = run_workers(workers, move |worker| {
        let index = worker.index();
        let batches = take(&shared, index);
        let e = e.clone();
        let (mut input, probe) = dataflow(worker, |stream, probe| {
            let out = build(stream, &plan, index);
            sink_all(out, probe, &c, move |rows| {
                let now = Instant::now();
                let mut e = e.lock().unwrap_or_else(|p| p.into_inner());
                for v in rows {
                    if v.ongoing || matches!(v.kind, RuleKind::RedLight | RuleKind::LaneViolation) {
                        e.push((v.ts_end_ms, camera_index(&v.camera_id), now));
                    }
                }
            });
        });
        let mut handed: HashMap<u64, Instant> = HashMap::with_capacity(batches.len());
        for (t, mut records) in batches {
            let due = start + Duration::from_millis(t - first_ts);
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                worker.step_or_park(Some(due - now));
            }
            input.advance_to(t);
            input.send_batch(&mut records);
            // Everything at `t` is in: let the frontier pass it now, as a source would.
            input.advance_to(t + 1);
            handed.insert(t, Instant::now());
            worker.step();
        }
        drop(input);
        while !probe.done() {
            crate::harness::step(worker);
        }
        handed
    })?;
    let emitted = emitted.lock().unwrap_or_else(|p| p.into_inner());
    let mut ms: Vec<f64> = emitted
        .iter()
        .filter_map(|(t, camera, at)| handed[camera % workers].get(t).map(|h| at.saturating_duration_since(*h).as_secs_f64() * 1e3))
        .collect();
    ms.sort_by(f64::total_cmp);
    Ok(Latency { ms, counts })
}
