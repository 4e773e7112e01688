//! Rule add time as history grows: the queries are fed H seconds of tracked history; then, with
//! the input paused between two frames, the input is advanced by 1 ms and the dataflow stepped
//! until the probe passes that time — once without a change (the baseline) and once with a new
//! rule put just before — alternating, several times at each history point.
//!
//! The input is the tracker's output computed beforehand: the tracker takes no part in rules,
//! and it holds its output frontier at the last frame it tracked until the next frame comes,
//! so a 1 ms step with no frame could not pass through it.

use crate::harness::{Batches, Counts, dataflow, keep_lead, quantile, run_workers, sink_all};
use itscam_queries::{AnalyticsPlan, build_analytics};
use itscam_types::Tracked;
use itscam_types::config::RuleConfig;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// The times measured at one history point.
#[derive(Debug)]
pub struct Point {
    /// Seconds of history fed before.
    pub history_s: u64,
    /// Detections fed before.
    pub detections: u64,
    /// Baseline steps (no change), µs, sorted.
    pub base_us: Vec<f64>,
    /// Steps that took in a new rule, µs, sorted.
    pub add_us: Vec<f64>,
}

impl Point {
    /// Median baseline step, µs.
    pub fn base(&self) -> f64 {
        quantile(&self.base_us, 0.5)
    }

    /// Median rule-add step, µs.
    pub fn add(&self) -> f64 {
        quantile(&self.add_us, 0.5)
    }
}

/// Steps until the probe has passed `t` (an error if that takes more than 30 s: something holds
/// the frontier).
fn settle(worker: &mut Worker, probe: &ProbeHandle<u64>, t: u64) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    while probe.less_equal(&t) {
        worker.step();
        anyhow::ensure!(t0.elapsed() < Duration::from_secs(30), "the probe did not pass {t} within 30 s");
    }
    Ok(t0.elapsed())
}

/// Feeds `history` (one worker) and measures at each of `points_s` (seconds after the first
/// time) `reps` baseline steps and `reps` rule adds; `new_rule(n)` is the n-th rule to add.
pub fn measure(
    history: Batches<Tracked>,
    plan: AnalyticsPlan,
    points_s: Vec<u64>,
    reps: usize,
    new_rule: impl Fn(usize) -> RuleConfig + Send + Sync + 'static,
) -> anyhow::Result<Vec<Point>> {
    let history = Mutex::new(Some(history));
    let counts = Arc::new(Counts::default());
    let mut results = run_workers(1, move |worker| -> anyhow::Result<Vec<Point>> {
        let batches = history.lock().unwrap_or_else(|e| e.into_inner()).take().expect("one worker");
        let first = batches.first().map_or(0, |(t, _)| *t);
        let (mut input, probe) = dataflow(worker, |stream, probe| {
            sink_all(build_analytics(stream, &plan, 0), probe, &counts, |_| {});
        });
        let mut points = Vec::new();
        let mut detections = 0u64;
        let mut added = 0usize;
        let mut batches = batches.into_iter().peekable();
        for &h in &points_s {
            let until = first + h * 1_000;
            while let Some((t, mut records)) = batches.next_if(|(t, _)| *t < until) {
                detections += records.iter().filter(|r| matches!(r, Tracked::Detection(_))).count() as u64;
                input.advance_to(t);
                input.send_batch(&mut records);
                keep_lead(worker, &probe, t);
            }
            // Paused between two frames: everything fed so far is through.
            let mut now = *input.time() + 1;
            input.advance_to(now);
            settle(worker, &probe, now - 1)?;
            let next_frame = batches.peek().map_or(u64::MAX, |(t, _)| *t);
            anyhow::ensure!(now + 2 * reps as u64 + 1 < next_frame, "{reps} repetitions do not fit between two frames");
            let mut point = Point { history_s: h, detections, base_us: Vec::new(), add_us: Vec::new() };
            for _ in 0..reps {
                input.advance_to(now + 1);
                point.base_us.push(settle(worker, &probe, now)?.as_secs_f64() * 1e6);
                now += 1;

                let rule = new_rule(added);
                let id = rule.id.clone();
                added += 1;
                let t0 = Instant::now();
                plan.rules.put(&id, rule).map_err(|e| anyhow::anyhow!("cannot add {id}: {e}"))?;
                input.advance_to(now + 1);
                settle(worker, &probe, now)?;
                point.add_us.push(t0.elapsed().as_secs_f64() * 1e6);
                let since = plan.rules.get(&id).and_then(|e| e.since_ms);
                anyhow::ensure!(since.is_some_and(|s| s <= now), "rule {id} was not taken in by the step (since_ms {since:?}, step to {now})");
                now += 1;
            }
            point.base_us.sort_by(f64::total_cmp);
            point.add_us.sort_by(f64::total_cmp);
            points.push(point);
        }
        drop(input);
        while !probe.done() {
            crate::harness::step(worker);
        }
        Ok(points)
    })?;
    results.pop().expect("one worker")
}
