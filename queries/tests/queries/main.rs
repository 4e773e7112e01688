//! Tests of the traffic queries: oracle tests of the differential queries (seeded random
//! inserts and retractions compared with a from-scratch recomputation at every time), episode
//! rules, the observe step's typed outputs on synthetic tracks, and rules changed while the
//! dataflow runs.

mod anomalies;
mod episodes;
mod live_rules;
mod observe;
mod oracle_episodes;
mod oracle_metrics;
mod oracle_rules;
mod support;
