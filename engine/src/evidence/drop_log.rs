//! Warnings about violations that get no evidence, at most one line per period.
//!
//! A burst of violations — a fast replay of many cameras, a camera whose rule fires on every
//! vehicle — can fill the evidence queue (`[evidence] max_pending`); a line per dropped
//! violation then floods the log with thousands of lines a second and hides everything else.
//! The first drop is logged at once, later ones are counted and summed up in the next line a
//! period later; every drop is also counted in `itscam_evidence_dropped_total`. Time is
//! injected (milliseconds since the log was made), so the rule is tested without a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One warning per `period`, shared by the workers and the service (lock-free).
#[derive(Debug)]
pub(crate) struct DropLog {
    started: Instant,
    period_ms: u64,
    /// The earliest time (ms since `started`) the next line may be written.
    next_ms: AtomicU64,
    /// Drops not written since the last line.
    suppressed: AtomicU64,
}

impl DropLog {
    pub fn new(period: Duration) -> DropLog {
        DropLog { started: Instant::now(), period_ms: period.as_millis() as u64, next_ms: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// Notes a drop now; `Some(n)` when a line is due, `n` the drops left unwritten before it.
    pub fn note(&self) -> Option<u64> {
        self.note_at(self.started.elapsed().as_millis() as u64)
    }

    /// Notes a drop at `now_ms` (ms since the log was made).
    pub fn note_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        if now_ms >= next && self.next_ms.compare_exchange(next, now_ms + self.period_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_drops_writes_one_line_per_period_and_counts_the_rest() {
        let log = DropLog::new(Duration::from_secs(10));
        assert_eq!(log.note_at(0), Some(0), "the first drop is written at once");
        let written: Vec<_> = (1..1_000).filter_map(|i| log.note_at(i)).collect();
        assert!(written.is_empty(), "999 more within the period are only counted: {written:?}");
        assert_eq!(log.note_at(10_000), Some(999), "the next line a period later sums them up");
        assert_eq!(log.note_at(10_001), None);
        assert_eq!(log.note_at(25_000), Some(1));
    }
}
