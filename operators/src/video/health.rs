//! A camera's connection health, shared between its reader thread and the engine, and the
//! reconnect backoff.
//!
//! States: `connecting → up → reconnecting → (up | down)`; a file read to its end ends
//! `finished`, one that fails ends `down`. Every change is
//! logged with tracing (camera id, state, attempt, error) and kept in a short history.

use itscam_types::CameraHealth;
use itscam_types::time::now_ms;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Transitions kept per camera (older ones are dropped).
const HISTORY: usize = 64;

/// One health change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The new state.
    pub health: CameraHealth,
    /// Wall clock of the change, ms since the Unix epoch.
    pub at_ms: u64,
    /// Consecutive failed attempts so far (0 once up).
    pub attempt: u32,
    /// The failure that caused it, if any.
    pub error: Option<String>,
}

/// A point-in-time copy of a camera's status, for the engine's health endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StatusSnapshot {
    /// Camera id.
    pub camera_id: String,
    /// Current state.
    pub health: CameraHealth,
    /// Consecutive failed attempts (0 while up).
    pub attempt: u32,
    /// When the current state began, ms since the Unix epoch.
    pub since_ms: u64,
    /// The last failure, kept after recovery for diagnosis.
    pub last_error: Option<String>,
    /// Frames decoded.
    pub frames: u64,
    /// Live frames dropped because the engine was behind (files never drop).
    pub dropped: u64,
    /// Failures so far (connection errors, stalls, streams that ended).
    pub failures: u64,
    /// Event time of the newest frame, if any.
    pub last_frame_ms: Option<u64>,
}

#[derive(Debug)]
struct State {
    health: CameraHealth,
    attempt: u32,
    since_ms: u64,
    last_error: Option<String>,
    history: VecDeque<Transition>,
}

/// Shared, live status of one camera. The reader thread writes it; anyone may read or wait on it.
#[derive(Debug)]
pub struct CameraStatus {
    camera_id: String,
    state: Mutex<State>,
    changed: Condvar,
    frames: AtomicU64,
    dropped: AtomicU64,
    failures: AtomicU64,
    last_frame_ms: AtomicU64,
}

impl CameraStatus {
    /// A new status in `connecting`.
    pub fn new(camera_id: impl Into<String>) -> Arc<CameraStatus> {
        let now = now_ms();
        let first = Transition { health: CameraHealth::Connecting, at_ms: now, attempt: 0, error: None };
        Arc::new(CameraStatus {
            camera_id: camera_id.into(),
            state: Mutex::new(State {
                health: CameraHealth::Connecting,
                attempt: 0,
                since_ms: now,
                last_error: None,
                history: VecDeque::from([first]),
            }),
            changed: Condvar::new(),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_frame_ms: AtomicU64::new(u64::MAX),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking reader must not take the health endpoint down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The camera id.
    pub fn camera_id(&self) -> &str {
        &self.camera_id
    }

    /// The current state.
    pub fn health(&self) -> CameraHealth {
        self.lock().health
    }

    /// A copy of everything, for display.
    pub fn snapshot(&self) -> StatusSnapshot {
        let s = self.lock();
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        StatusSnapshot {
            camera_id: self.camera_id.clone(),
            health: s.health,
            attempt: s.attempt,
            since_ms: s.since_ms,
            last_error: s.last_error.clone(),
            frames: self.frames.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last_frame_ms: (last != u64::MAX).then_some(last),
        }
    }

    /// The recent state changes, oldest first (the last 64 of them).
    pub fn history(&self) -> Vec<Transition> {
        self.lock().history.iter().cloned().collect()
    }

    /// Waits up to `timeout` for a state that satisfies `pred`; returns it, or `None` on timeout.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(CameraHealth) -> bool) -> Option<CameraHealth> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if pred(s.health) {
                return Some(s.health);
            }
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            s = self.changed.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Records a state (or a new attempt in the same state) and logs it.
    pub(super) fn set(&self, health: CameraHealth, attempt: u32, error: Option<&str>) {
        let mut s = self.lock();
        if s.health == health && s.attempt == attempt {
            return;
        }
        let now = now_ms();
        if s.health != health {
            s.since_ms = now;
        }
        s.health = health;
        s.attempt = attempt;
        if let Some(e) = error {
            s.last_error = Some(e.to_string());
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        if s.history.len() == HISTORY {
            s.history.pop_front();
        }
        s.history.push_back(Transition { health, at_ms: now, attempt, error: error.map(str::to_string) });
        drop(s);
        self.changed.notify_all();
        let (camera, err) = (self.camera_id.as_str(), error.unwrap_or(""));
        match (health, error) {
            // Finished is a file that ended, down without an error a stopped feed: normal, not
            // worth a warning.
            (CameraHealth::Up | CameraHealth::Connecting | CameraHealth::Finished, _) | (CameraHealth::Down, None) => {
                tracing::info!(camera, state = ?health, attempt, "camera {health:?}")
            }
            (CameraHealth::Reconnecting | CameraHealth::Down, _) => {
                tracing::warn!(camera, state = ?health, attempt, error = err, "camera {health:?}")
            }
        }
    }

    /// Counts a decoded frame with event time `ts_ms`.
    pub(super) fn frame(&self, ts_ms: u64) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.last_frame_ms.store(ts_ms, Ordering::Relaxed);
    }

    /// Counts a live frame dropped because the engine was behind.
    pub(super) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reconnect policy: exponential backoff with full jitter (a random delay in
/// `[0, min(max, base · 2^(attempt−1))]`), so cameras that failed together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First ceiling (default 500 ms).
    pub base: Duration,
    /// Largest ceiling (default 30 s).
    pub max: Duration,
    /// Consecutive failures after which the camera is given up (`down`); `None` (default)
    /// retries forever — a roadside camera usually comes back.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(500), max: Duration::from_secs(30), max_attempts: None }
    }
}

impl Backoff {
    /// The ceiling before failure number `attempt` (1-based) is retried.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A jittered delay for failure number `attempt`.
    pub fn delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        let ceiling = self.ceiling(attempt).as_micros() as u64;
        Duration::from_micros(jitter.next_u64() % (ceiling + 1))
    }
}

/// A small splitmix64 generator for jitter (no RNG dependency; quality needs are modest).
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeds from the clock and `salt` (e.g. the camera id), so cameras differ.
    pub fn new(salt: &str) -> Jitter {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Jitter(nanos ^ crate::camera_route(salt))
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_the_base_up_to_the_max() {
        let b = Backoff::default();
        let ms: Vec<u128> = (1..=8).map(|a| b.ceiling(a).as_millis()).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(b.ceiling(1000), Duration::from_secs(30), "no overflow for huge attempts");
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1), max_attempts: None };
        let mut j = Jitter::new("cam");
        let d: Vec<Duration> = (0..2000).map(|_| b.delay(3, &mut j)).collect();
        assert!(d.iter().all(|d| *d <= Duration::from_millis(400)));
        assert!(d.iter().any(|d| *d < Duration::from_millis(40)), "full jitter reaches near zero");
        assert!(d.iter().any(|d| *d > Duration::from_millis(360)), "and near the ceiling");
    }

    #[test]
    fn transitions_are_recorded_and_waited_for() {
        let s = CameraStatus::new("cam-1");
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            s2.set(CameraHealth::Up, 0, None);
            s2.set(CameraHealth::Reconnecting, 1, Some("refused"));
            s2.set(CameraHealth::Reconnecting, 2, Some("refused again"));
        });
        let got = s.wait_until(Duration::from_secs(10), |h| h == CameraHealth::Reconnecting);
        assert_eq!(got, Some(CameraHealth::Reconnecting));
        t.join().unwrap();
        let h: Vec<(CameraHealth, u32)> = s.history().iter().map(|t| (t.health, t.attempt)).collect();
        use CameraHealth::*;
        assert_eq!(h, vec![(Connecting, 0), (Up, 0), (Reconnecting, 1), (Reconnecting, 2)]);
        let snap = s.snapshot();
        assert_eq!((snap.failures, snap.last_error.as_deref(), snap.last_frame_ms), (2, Some("refused again"), None));
        assert_eq!(s.wait_until(Duration::from_millis(20), |h| h == Down), None, "a bounded wait times out");
    }
}

/// The health handles of a pipeline's video cameras, as the HTTP API lists them; cameras added
/// or removed while the pipeline runs come and go. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct CameraStatuses(Arc<std::sync::RwLock<Vec<Arc<CameraStatus>>>>);

impl CameraStatuses {
    /// The handles of the cameras a pipeline starts with.
    pub fn new(statuses: Vec<Arc<CameraStatus>>) -> CameraStatuses {
        CameraStatuses(Arc::new(std::sync::RwLock::new(statuses)))
    }

    /// Every camera's handle, in the order they came.
    pub fn list(&self) -> Vec<Arc<CameraStatus>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A camera added while the pipeline runs.
    pub fn add(&self, status: Arc<CameraStatus>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).push(status);
    }

    /// A camera removed while the pipeline runs.
    pub fn remove(&self, camera_id: &str) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).retain(|s| s.camera_id() != camera_id);
    }
}
