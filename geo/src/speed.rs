//! Speed of a track from its ground positions over event time.
//!
//! # Method
//!
//! [`GroundFilter`] is a Kalman filter with a *constant-velocity* state `(x, y, vx, vy)` on the
//! ground plane (metres, m/s). Its process model is white-noise acceleration of spectral density
//! `accel_std²` (continuous time, so the covariance grows correctly over any `dt`): irregular
//! frame intervals and missed frames need nothing special, the prediction simply spans the gap
//! and the filter trusts the next measurement more. Measurements are ground positions (the
//! bottom centre of the box through the calibration homography) with isotropic noise
//! `meas_std`, or a per-measurement value from [`GroundFilter::update_with_noise`] — far from
//! the camera a pixel covers more ground ([`Homography::ground_std_m`](crate::Homography::ground_std_m)).
//!
//! Because both axes share the same model and isotropic noise, the 4×4 covariance is two
//! identical 2×2 blocks: the filter keeps one (3 numbers) and costs a few dozen flops per
//! update, with no allocation (about 35 ns per update in a release build on the development
//! machine).
//!
//! **Outliers.** A measurement whose innovation has Mahalanobis distance above `gate` is skipped
//! and counted (a box swap, a partial occlusion). After `max_gated` consecutive skips the track
//! has really jumped (an id switch): the filter restarts from the latest measurement.
//!
//! **Speed.** [`GroundFilter::speed_kmh`] is the length of the velocity minus its noise bias
//! (a standing car's jittering velocity never has zero *length*): `√max(0, |v̂|² − 2σ²)`, with
//! σ² the velocity variance due to measurement noise alone, tracked alongside the filter's own
//! covariance. Standing vehicles read mostly 0; moving ones lose a few hundredths of a km/h.
//!
//! **Warm-up.** The first measurement fixes the position with an unknown velocity
//! (`init_speed_std`); the speed is meaningful ([`GroundFilter::is_warm`]) after `min_updates`
//! updates *and* once the velocity's standard deviation is below `warm_speed_std`.
//!
//! # Defaults ([`FilterConfig::vehicles`])
//!
//! | parameter | value | why |
//! |---|---|---|
//! | `accel_std` | 1.0 m/s^1.5 | the velocity wanders by about 1 m/s per second (random walk); larger follows braking and acceleration faster but passes more jitter (1.5: −20 % lag, +40 % noise) |
//! | `meas_std` | 0.3 m | 1–2 px of box jitter at 20–40 m from a camera 8 m up (pass a per-point value when you can) |
//! | `gate` | 4.0 (Mahalanobis) | a false rejection every ~3000 measurements (χ², 2 dof) |
//! | `max_gated` | 5 | 0.2–0.5 s of contradicting measurements at 10–30 fps means the track moved |
//! | `init_speed_std` | 30 m/s | any road speed is plausible at the first sighting |
//! | `min_updates`, `warm_speed_std` | 3, 1.0 m/s | warm after 0.15–0.5 s at 25 fps (`meas_std` 0.1–0.5 m), 0.2–0.7 s at 10 fps |
//!
//! # Lag
//!
//! A constant-velocity filter trails a change of speed, more so when it trusts measurements less
//! (larger `meas_std`) or gets fewer of them. Measured with noise-free positions and the default
//! `accel_std` (`tests/speed.rs`, `speed_step_lag`, which checks these numbers):
//!
//! - *step lag*: after an instantaneous 50 → 30 km/h step, the time until the speed stays
//!   within 10 % of the step (2 km/h);
//! - *τ*: under constant acceleration `a` the velocity trails by a steady `a · τ`.
//!
//! | `meas_std` | 10 fps: step lag, τ | 25 fps: step lag, τ | 30 fps: step lag, τ |
//! |---|---|---|---|
//! | 0.1 m | 0.70 s, 0.21 s | 0.36 s, 0.18 s | 0.37 s, 0.18 s |
//! | 0.3 m | 0.80 s, 0.39 s | 0.64 s, 0.33 s | 0.63 s, 0.32 s |
//! | 0.5 m | 1.00 s, 0.52 s | 0.84 s, 0.43 s | 0.80 s, 0.41 s |
//!
//! # Accuracy
//!
//! Simulated through a 1920×1080 pinhole camera 8 m up (f = 1400 px, tilt 25°), box bottom
//! centre jittered with σ = 1.5 px (0.1–0.5 m of road between 12 and 60 m), 10 % of frames
//! missed, per-point noise from the homography Jacobian, pooled over 10 seeded runs, readings
//! after the first second (`tests/speed.rs`):
//!
//! - 50 km/h at 25 fps: mean absolute error 0.74 km/h, 95th percentile 1.90 km/h (10 and
//!   30 fps and irregular intervals: about the same);
//! - 0 → 60 km/h at 2.5 m/s²: reads 2.0 km/h low on average while accelerating (the lag above),
//!   mean absolute error 1.8 km/h, 95th percentile 4.0 km/h over the whole run;
//! - standing at 25 m: mean 0.17 km/h, 95th percentile 1.2 km/h.
//!
//! Where a speed may wait, [`FixedLagSmoother`](crate::FixedLagSmoother) refines these
//! estimates with the next second of measurements: no lag, about half the noise.

use serde::Serialize;

/// Parameters of [`GroundFilter`]; see the module docs for the defaults and their reasons.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FilterConfig {
    /// Standard deviation of the white-noise acceleration, m/s² per √s: how quickly the true
    /// velocity may wander. Larger: less lag, more noise.
    pub accel_std: f64,
    /// Standard deviation of a ground position measurement, metres, used by
    /// [`GroundFilter::update`].
    pub meas_std: f64,
    /// Mahalanobis distance above which a measurement is skipped as an outlier.
    pub gate: f64,
    /// Consecutive skipped measurements after which the filter restarts at the latest one.
    pub max_gated: u32,
    /// Standard deviation of the velocity at the first measurement, m/s.
    pub init_speed_std: f64,
    /// Updates needed before the speed counts as known.
    pub min_updates: u32,
    /// Velocity standard deviation (m/s, per axis) below which the speed counts as known.
    pub warm_speed_std: f64,
}

impl FilterConfig {
    /// Defaults for road vehicles observed at 10–30 fps (the module docs give the reasons).
    pub const fn vehicles() -> FilterConfig {
        FilterConfig {
            accel_std: 1.0,
            meas_std: 0.3,
            gate: 4.0,
            max_gated: 5,
            init_speed_std: 30.0,
            min_updates: 3,
            warm_speed_std: 1.0,
        }
    }

    /// Every problem with the parameters, each naming its field; empty when usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, v) in [
            ("accel_std", self.accel_std),
            ("meas_std", self.meas_std),
            ("gate", self.gate),
            ("init_speed_std", self.init_speed_std),
            ("warm_speed_std", self.warm_speed_std),
        ] {
            if !(v.is_finite() && v > 0.0) {
                problems.push(format!("{name} must be a positive number, got {v}"));
            }
        }
        if self.max_gated == 0 {
            problems.push("max_gated must be at least 1".into());
        }
        problems
    }
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig::vehicles()
    }
}

/// What [`GroundFilter::update`] did with a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    /// The first measurement: position set, velocity unknown.
    Initialized,
    /// Folded into the estimate.
    Accepted,
    /// Skipped as an outlier (beyond the gate); the estimate is unchanged.
    Gated,
    /// The last `max_gated` measurements were all outliers: the filter restarted here.
    Reinitialized,
    /// Older than the latest accepted measurement: ignored.
    OutOfOrder,
    /// A non-finite position or a non-positive noise: ignored.
    Invalid,
}

/// Constant-velocity Kalman filter on the ground plane for one track (module docs: method,
/// defaults, lag). `Copy`, allocation-free.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroundFilter {
    cfg: FilterConfig,
    pos: [f64; 2],
    vel: [f64; 2],
    /// Per-axis covariance `[[p_xx, p_xv], [p_xv, p_vv]]`, the same for both axes.
    p_xx: f64,
    p_xv: f64,
    p_vv: f64,
    /// Per-axis covariance of the estimate's error due to measurement noise alone, were the
    /// velocity truly constant: what the speed's magnitude bias depends on.
    n_xx: f64,
    n_xv: f64,
    n_vv: f64,
    last_ts_ms: Option<u64>,
    updates: u32,
    consecutive_gated: u32,
    gated: u32,
    reinits: u32,
}

impl GroundFilter {
    /// An empty filter; the first measurement initializes it. `cfg` should pass
    /// [`FilterConfig::validate`].
    pub fn new(cfg: FilterConfig) -> GroundFilter {
        GroundFilter {
            cfg,
            pos: [0.0; 2],
            vel: [0.0; 2],
            p_xx: 0.0,
            p_xv: 0.0,
            p_vv: 0.0,
            n_xx: 0.0,
            n_xv: 0.0,
            n_vv: 0.0,
            last_ts_ms: None,
            updates: 0,
            consecutive_gated: 0,
            gated: 0,
            reinits: 0,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &FilterConfig {
        &self.cfg
    }

    /// Folds in the ground position `(x, y)` (metres) observed at `ts_ms` with the configured
    /// measurement noise.
    pub fn update(&mut self, ts_ms: u64, x: f64, y: f64) -> Update {
        self.update_with_noise(ts_ms, x, y, self.cfg.meas_std)
    }

    /// Folds in the ground position `(x, y)` observed at `ts_ms` with standard deviation
    /// `meas_std_m` metres (per axis), e.g. from
    /// [`Homography::ground_std_m`](crate::Homography::ground_std_m).
    pub fn update_with_noise(&mut self, ts_ms: u64, x: f64, y: f64, meas_std_m: f64) -> Update {
        if !(x.is_finite() && y.is_finite() && meas_std_m.is_finite() && meas_std_m > 0.0) {
            return Update::Invalid;
        }
        let r = meas_std_m * meas_std_m;
        let Some(last) = self.last_ts_ms else {
            self.restart(ts_ms, x, y, r);
            return Update::Initialized;
        };
        if ts_ms < last {
            return Update::OutOfOrder;
        }
        let dt = (ts_ms - last) as f64 / 1000.0;
        let q = self.cfg.accel_std * self.cfg.accel_std;
        // Predict (exact discretization of white-noise acceleration over dt).
        let px = [self.pos[0] + self.vel[0] * dt, self.pos[1] + self.vel[1] * dt];
        let p_xx = self.p_xx + dt * (2.0 * self.p_xv + dt * self.p_vv) + q * dt * dt * dt / 3.0;
        let p_xv = self.p_xv + dt * self.p_vv + q * dt * dt / 2.0;
        let p_vv = self.p_vv + q * dt;
        // Gate on the innovation.
        let (ex, ey) = (x - px[0], y - px[1]);
        let s = p_xx + r;
        if ex * ex + ey * ey > self.cfg.gate * self.cfg.gate * s {
            self.gated += 1;
            self.consecutive_gated += 1;
            if self.consecutive_gated >= self.cfg.max_gated {
                self.reinits += 1;
                self.restart(ts_ms, x, y, r);
                return Update::Reinitialized;
            }
            return Update::Gated;
        }
        // Update (scalar innovation variance per axis).
        let (k_x, k_v) = (p_xx / s, p_xv / s);
        self.pos = [px[0] + k_x * ex, px[1] + k_x * ey];
        self.vel = [self.vel[0] + k_v * ex, self.vel[1] + k_v * ey];
        self.p_xx = (1.0 - k_x) * p_xx;
        self.p_xv = (1.0 - k_x) * p_xv;
        self.p_vv = p_vv - k_v * p_xv;
        // The same prediction and gain applied to the noise-only covariance (Joseph form, as the
        // gain is not optimal for it).
        let n_xx = self.n_xx + dt * (2.0 * self.n_xv + dt * self.n_vv);
        let n_xv = self.n_xv + dt * self.n_vv;
        let n_vv = self.n_vv;
        self.n_xx = (1.0 - k_x) * (1.0 - k_x) * n_xx + r * k_x * k_x;
        self.n_xv = (1.0 - k_x) * (n_xv - k_v * n_xx) + r * k_x * k_v;
        self.n_vv = n_vv - 2.0 * k_v * n_xv + k_v * k_v * n_xx + r * k_v * k_v;
        self.last_ts_ms = Some(ts_ms);
        self.updates += 1;
        self.consecutive_gated = 0;
        Update::Accepted
    }

    fn restart(&mut self, ts_ms: u64, x: f64, y: f64, r: f64) {
        self.pos = [x, y];
        self.vel = [0.0; 2];
        self.p_xx = r;
        self.p_xv = 0.0;
        self.p_vv = self.cfg.init_speed_std * self.cfg.init_speed_std;
        (self.n_xx, self.n_xv, self.n_vv) = (self.p_xx, self.p_xv, self.p_vv);
        self.last_ts_ms = Some(ts_ms);
        self.updates = 1;
        self.consecutive_gated = 0;
    }

    /// The estimate predicted to `ts_ms` (no later than the last accepted measurement: `dt`
    /// 0), for the fixed-lag smoother: a gated measurement leaves a prediction-only node.
    pub(crate) fn node_at(&self, ts_ms: u64) -> Option<Node> {
        let last = self.last_ts_ms?;
        let dt = ts_ms.saturating_sub(last) as f64 / 1000.0;
        let q = self.cfg.accel_std * self.cfg.accel_std;
        Some(Node {
            ts_ms,
            pos: [self.pos[0] + self.vel[0] * dt, self.pos[1] + self.vel[1] * dt],
            vel: self.vel,
            p: [
                self.p_xx + dt * (2.0 * self.p_xv + dt * self.p_vv) + q * dt * dt * dt / 3.0,
                self.p_xv + dt * self.p_vv + q * dt * dt / 2.0,
                self.p_vv + q * dt,
            ],
            n_vv: self.n_vv,
            updates: self.updates,
        })
    }

    /// Estimated ground position (metres) at the last accepted measurement; `None` before the
    /// first.
    pub fn position(&self) -> Option<(f64, f64)> {
        self.last_ts_ms.map(|_| (self.pos[0], self.pos[1]))
    }

    /// Ground position extrapolated to `ts_ms` at the estimated velocity.
    pub fn position_at(&self, ts_ms: u64) -> Option<(f64, f64)> {
        let last = self.last_ts_ms?;
        let dt = (ts_ms as f64 - last as f64) / 1000.0;
        Some((self.pos[0] + self.vel[0] * dt, self.pos[1] + self.vel[1] * dt))
    }

    /// Estimated ground velocity `(vx, vy)`, m/s; `None` before the first measurement.
    pub fn velocity(&self) -> Option<(f64, f64)> {
        self.last_ts_ms.map(|_| (self.vel[0], self.vel[1]))
    }

    /// Estimated speed, km/h (0 before the first measurement; check [`is_warm`](Self::is_warm)).
    ///
    /// The length of a noisy velocity vector overestimates the speed (a standing car's jitter
    /// never averages to a zero *length*: `E|v̂|² = |v|² + 2σ²`), so this is the debiased
    /// magnitude `√max(0, |v̂|² − 2σ²)`, σ² being the per-axis variance that measurement noise
    /// alone leaves in the velocity estimate. Speeds below about `√2 σ` (≈ 1 km/h with the
    /// defaults and 1.5 px of jitter at 25 m) read 0; moving vehicles lose `σ²/|v|`, a few
    /// hundredths of a km/h. The raw vector is [`velocity`](Self::velocity).
    pub fn speed_kmh(&self) -> f64 {
        let sq = self.vel[0] * self.vel[0] + self.vel[1] * self.vel[1] - 2.0 * self.n_vv.max(0.0);
        sq.max(0.0).sqrt() * 3.6
    }

    /// Standard deviation of each velocity component as the filter models it (measurement
    /// noise *and* possible manoeuvres), km/h.
    pub fn speed_std_kmh(&self) -> f64 {
        self.p_vv.max(0.0).sqrt() * 3.6
    }

    /// Heading `atan2(vy, vx)` in the ground frame, radians; `None` while the estimated speed is
    /// below one standard deviation (a standing vehicle has no heading).
    pub fn heading_rad(&self) -> Option<f64> {
        let speed = self.vel[0].hypot(self.vel[1]);
        (self.last_ts_ms.is_some() && speed > self.p_vv.max(0.0).sqrt()).then(|| self.vel[1].atan2(self.vel[0]))
    }

    /// Measurements folded in since the (re)start, the first included.
    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// Measurements skipped as outliers, in total.
    pub fn gated(&self) -> u32 {
        self.gated
    }

    /// Restarts after `max_gated` consecutive outliers, in total.
    pub fn reinits(&self) -> u32 {
        self.reinits
    }

    /// Timestamp of the last accepted measurement.
    pub fn last_ts_ms(&self) -> Option<u64> {
        self.last_ts_ms
    }

    /// Whether the speed is meaningful: enough updates and a small enough velocity variance.
    pub fn is_warm(&self) -> bool {
        self.updates >= self.cfg.min_updates && self.p_vv.sqrt() <= self.cfg.warm_speed_std
    }
}

/// One filtered estimate, as the fixed-lag smoother keeps it: per-axis covariance
/// `[p_xx, p_xv, p_vv]` and the noise-only velocity variance `n_vv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Node {
    pub ts_ms: u64,
    pub pos: [f64; 2],
    pub vel: [f64; 2],
    pub p: [f64; 3],
    pub n_vv: f64,
    /// Updates since the filter's (re)start, this one included.
    pub updates: u32,
}

/// Ground point of a detection box `[x1, y1, x2, y2]` (pixels, `y` down): its bottom centre,
/// where the vehicle touches the road.
pub fn ground_point(bbox: [f32; 4]) -> (f64, f64) {
    ((f64::from(bbox[0]) + f64::from(bbox[2])) / 2.0, f64::from(bbox[3]))
}
