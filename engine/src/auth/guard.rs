//! Pushing back on callers, with time injected and no I/O: [`Lockout`] (failed logins lock an
//! account for a while) and [`RateLimiter`] (token buckets per caller). Both live in one
//! process's memory: several processes of one lake each count their own callers. Both are
//! bounded: past [`MAX_TRACKED`] callers the idle ones are forgotten first.

use std::collections::HashMap;

/// Callers (accounts, keys, addresses) one limiter keeps state for.
pub const MAX_TRACKED: usize = 100_000;

/// Failed logins per account; `max_failed` in a row lock it for `lockout_ms`.
#[derive(Debug)]
pub struct Lockout {
    max_failed: u32,
    lockout_ms: u64,
    accounts: HashMap<String, (u32, u64)>,
}

impl Lockout {
    /// A lockout after `max_failed` failures, for `lockout_ms`.
    pub fn new(max_failed: u32, lockout_ms: u64) -> Lockout {
        Lockout { max_failed, lockout_ms, accounts: HashMap::new() }
    }

    /// Until when `account` is locked (ms), if it is at `now_ms`.
    pub fn locked_until(&self, account: &str, now_ms: u64) -> Option<u64> {
        self.accounts.get(account).filter(|(n, until)| *n >= self.max_failed && *until > now_ms).map(|(_, until)| *until)
    }

    /// Counts a failure; returns until when the account is now locked, if it is.
    pub fn failed(&mut self, account: &str, now_ms: u64) -> Option<u64> {
        if self.accounts.len() >= MAX_TRACKED && !self.accounts.contains_key(account) {
            self.accounts.retain(|_, (n, until)| *n >= self.max_failed && *until > now_ms);
        }
        let max = self.max_failed;
        let entry = self.accounts.entry(account.to_string()).or_insert((0, 0));
        if entry.0 >= max && entry.1 <= now_ms {
            *entry = (0, 0); // the lock ran out: a fresh count
        }
        entry.0 += 1;
        if entry.0 >= max {
            entry.1 = now_ms + self.lockout_ms;
            return Some(entry.1);
        }
        None
    }

    /// A successful login clears the count.
    pub fn succeeded(&mut self, account: &str) {
        self.accounts.remove(account);
    }
}

/// Token buckets: each caller may make `burst` requests at once and `per_s` per second on
/// average.
#[derive(Debug)]
pub struct RateLimiter {
    per_ms: f64,
    burst: f64,
    buckets: HashMap<String, (f64, u64)>,
}

impl RateLimiter {
    /// `per_s` requests per second, `burst` at once.
    pub fn new(per_s: f64, burst: u32) -> RateLimiter {
        RateLimiter { per_ms: per_s / 1000.0, burst: f64::from(burst.max(1)), buckets: HashMap::new() }
    }

    /// Takes one request of `caller` at `now_ms`: `Ok` or `Err(ms to wait)`.
    pub fn take(&mut self, caller: &str, now_ms: u64) -> Result<(), u64> {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(caller) {
            let (per_ms, burst) = (self.per_ms, self.burst);
            self.buckets.retain(|_, (tokens, at)| *tokens + now_ms.saturating_sub(*at) as f64 * per_ms < burst);
        }
        let (tokens, at) = self.buckets.entry(caller.to_string()).or_insert((self.burst, now_ms));
        *tokens = (*tokens + now_ms.saturating_sub(*at) as f64 * self.per_ms).min(self.burst);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_ms).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_until_the_time_runs_out_and_success_clears() {
        let mut l = Lockout::new(5, 1_000);
        for i in 0..4 {
            assert_eq!(l.failed("ann", i), None);
        }
        assert_eq!(l.failed("ann", 10), Some(1_010));
        assert_eq!(l.locked_until("ann", 500), Some(1_010));
        assert_eq!(l.locked_until("bob", 500), None, "per account");
        assert_eq!(l.locked_until("ann", 1_010), None, "unlocked when the time is up");
        assert_eq!(l.failed("ann", 1_100), None, "a fresh count after the lock");
        l.succeeded("ann");
        assert_eq!(l.locked_until("ann", 1_100), None);
    }

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let mut r = RateLimiter::new(10.0, 3);
        for _ in 0..3 {
            assert_eq!(r.take("k", 0), Ok(()));
        }
        assert_eq!(r.take("k", 0), Err(100), "one token per 100 ms");
        assert_eq!(r.take("other", 0), Ok(()), "per caller");
        assert_eq!(r.take("k", 100), Ok(()));
        assert!(r.take("k", 150).is_err());
    }
}
