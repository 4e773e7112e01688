//! The replay of a backfill part: the stored rows through the same queries the pipeline runs
//! (observe step, rule half-join, episodes), on one timely worker, with the one rule present
//! from the start. Blocking: run it off the async runtime.

use itscam_queries::facts::SignalUpdate;
use itscam_queries::signals::SignalLine;
use itscam_queries::{AnalyticsPlan, build_analytics};
use itscam_types::Tracked;
use itscam_types::analytics::ViolationRow;
use itscam_types::config::{PipelineConfig, RuleConfig};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};

/// The closed violations of `rule` over `rows` (in time order), as a live run with the rule
/// from the start makes them.
/// `config` holds the camera as it was at the first row; `pushed`, the signal states pushed
/// over the API (replayed at their times).
pub fn violations(config: &PipelineConfig, rule: &RuleConfig, signals: Vec<SignalUpdate>, pushed: &[SignalLine], rows: Vec<(u64, Tracked)>) -> anyhow::Result<Vec<ViolationRow>> {
    let only = PipelineConfig { rule: vec![rule.clone()], ..config.clone() };
    let plan = AnalyticsPlan::new(Arc::new(only), signals).map_err(|ps| {
        let list: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!("the rule does not fit the camera as it was then: {}", list.join("; "))
    })?;
    plan.signals.replay(pushed);
    let out: Arc<Mutex<Vec<ViolationRow>>> = Arc::default();
    let sink = out.clone();
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, tracked) = scope.new_input::<Tracked>();
            let streams = build_analytics(tracked, &plan, 0);
            let probe = streams
                .violations
                .inspect(move |v: &ViolationRow| {
                    if !v.ongoing {
                        sink.lock().expect("not poisoned").push(v.clone());
                    }
                })
                .probe()
                .0;
            (input, probe)
        });
        for (t, item) in rows {
            if t > *input.time() {
                input.advance_to(t);
                // Keep the dataflow within a few seconds of the input: memory stays small.
                while probe.less_than(&t.saturating_sub(5_000)) {
                    worker.step();
                }
            }
            input.send(item);
        }
        input.close();
        while !probe.done() {
            worker.step();
        }
    });
    let mut v = std::mem::take(&mut *out.lock().expect("not poisoned"));
    v.sort_by(|a, b| (a.ts_start_ms, &a.violation_id).cmp(&(b.ts_start_ms, &b.violation_id)));
    Ok(v)
}
