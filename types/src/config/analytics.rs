//! `[analytics]`: settings of the traffic queries (lines, zones, speed, metrics, anomalies).

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[analytics]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyticsConfig {
    /// Length of a `traffic_metrics` window, ms (tumbling, aligned to the Unix epoch).
    pub window_ms: u64,
    /// A line crossing counts once the box's ground point is at least this many pixels on the
    /// other side (hysteresis: jitter on the line never double counts).
    pub line_hysteresis_px: f64,
    /// A track leaves a zone once its ground point has been outside for this long (event time);
    /// shorter excursions (jitter on the edge) do not split the stay.
    pub zone_exit_grace_ms: u64,
    /// `[analytics.speed]`: the ground-plane speed filter.
    pub speed: SpeedConfig,
    /// `[analytics.congestion]`: density thresholds of the congestion levels.
    pub congestion: CongestionConfig,
    /// `[analytics.anomaly]`: rolling baselines.
    pub anomaly: AnomalyConfig,
    /// A rule condition that stops holding for less than this (event time) does not end the
    /// episode: a speed estimate dipping under the limit for one frame does not split a
    /// speeding episode in two.
    pub rule_grace_ms: u64,
    /// IANA time zone of the rule language's time-of-day and day-of-week functions
    /// (`hour_of_day()`, `day_of_week()`…), e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// `[analytics.junction]`: the junction tables (cameras with `[[camera.approach]]`).
    pub junction: super::junction::JunctionConfig,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            window_ms: 60_000,
            line_hysteresis_px: 3.0,
            zone_exit_grace_ms: 500,
            speed: SpeedConfig::default(),
            congestion: CongestionConfig::default(),
            anomaly: AnomalyConfig::default(),
            rule_grace_ms: 500,
            time_zone: "UTC".into(),
            junction: Default::default(),
        }
    }
}

/// Largest `[analytics.speed] smooth_lag_ms`: a detection row waits this long for its speed.
pub const MAX_SMOOTH_LAG_MS: u64 = 5_000;

/// `[analytics.speed]`: a constant-velocity Kalman filter on the ground plane per track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeedConfig {
    /// Standard deviation of the box's ground point in pixels (detector jitter); turned into
    /// metres per point through the homography, so far-away points count as noisier.
    pub pixel_noise_px: f64,
    /// Process noise: standard deviation of acceleration, m/s².
    pub accel_std: f64,
    /// Look-ahead of the fixed-lag smoother behind the filter, ms: the speed stored with a
    /// detection (and the tracks' and metrics' speeds) uses the track's measurements up to this
    /// long after it, so its rows are written this much later in event time. 0: the filter's
    /// own speed.
    pub smooth_lag_ms: u64,
    /// Rules that weigh a speed against a limit (`speed_over` on `zone_presence`: the speeding
    /// rule) read the smoothed speed, `smooth_lag_ms` late — no lag behind acceleration and
    /// braking, half the noise, no warm-up — and their alerts come that much later; `false`:
    /// the causal filter's speed, at once. Every other rule reads the causal speed either way.
    pub speed_rules_smoothed: bool,
}

impl Default for SpeedConfig {
    fn default() -> Self {
        SpeedConfig { pixel_noise_px: 2.0, accel_std: 1.0, smooth_lag_ms: 1_000, speed_rules_smoothed: true }
    }
}

/// `[analytics.congestion]`: a window's level is the highest threshold its density reaches
/// (vehicles per km of road, `road_length_m` of the camera).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CongestionConfig {
    /// From this density: light.
    pub light: f64,
    /// From this density: moderate.
    pub moderate: f64,
    /// From this density: heavy.
    pub heavy: f64,
    /// From this density: jam.
    pub jam: f64,
}

impl Default for CongestionConfig {
    fn default() -> Self {
        CongestionConfig { light: 10.0, moderate: 25.0, heavy: 45.0, jam: 70.0 }
    }
}

/// `[analytics.anomaly]`: per camera (and zone), each window's metric against an exponentially
/// weighted mean and variance of the earlier windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnomalyConfig {
    /// Weight of the newest window in the baseline (0..1).
    pub alpha: f64,
    /// |score| (standard deviations) from which a window is anomalous.
    pub threshold: f64,
    /// Windows seen before anything is flagged.
    pub warmup_windows: u32,
    /// Floor of the baseline's standard deviation, as a share of its mean (avoids infinite
    /// scores on a perfectly steady baseline).
    pub min_rel_std: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig { alpha: 0.1, threshold: 3.0, warmup_windows: 10, min_rel_std: 0.1 }
    }
}

impl AnalyticsConfig {
    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        if self.window_ms == 0 {
            out.push(Problem::new("analytics.window_ms", "must be at least 1"));
        }
        if !(self.line_hysteresis_px >= 0.0 && self.line_hysteresis_px.is_finite()) {
            out.push(Problem::new("analytics.line_hysteresis_px", "must be a finite number ≥ 0"));
        }
        let s = &self.speed;
        if !(s.pixel_noise_px > 0.0 && s.pixel_noise_px.is_finite()) {
            out.push(Problem::new("analytics.speed.pixel_noise_px", "must be > 0"));
        }
        if !(s.accel_std > 0.0 && s.accel_std.is_finite()) {
            out.push(Problem::new("analytics.speed.accel_std", "must be > 0"));
        }
        if s.smooth_lag_ms > MAX_SMOOTH_LAG_MS {
            out.push(Problem::new("analytics.speed.smooth_lag_ms", format!("must be at most {MAX_SMOOTH_LAG_MS} (rows wait this long in memory)")));
        }
        let c = &self.congestion;
        if !(0.0 <= c.light && c.light <= c.moderate && c.moderate <= c.heavy && c.heavy <= c.jam && c.jam.is_finite()) {
            out.push(Problem::new("analytics.congestion", "thresholds must satisfy 0 ≤ light ≤ moderate ≤ heavy ≤ jam"));
        }
        let a = &self.anomaly;
        if !(a.alpha > 0.0 && a.alpha < 1.0) {
            out.push(Problem::new("analytics.anomaly.alpha", "must be between 0 and 1 (exclusive)"));
        }
        if !(a.threshold > 0.0 && a.threshold.is_finite()) {
            out.push(Problem::new("analytics.anomaly.threshold", "must be > 0"));
        }
        if !(a.min_rel_std >= 0.0 && a.min_rel_std.is_finite()) {
            out.push(Problem::new("analytics.anomaly.min_rel_std", "must be ≥ 0"));
        }
        self.junction.check(out);
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            out.push(Problem::new("analytics.time_zone", format!("{:?} is not an IANA time zone name (such as \"UTC\" or \"Europe/Berlin\")", self.time_zone)));
        }
    }
}
