//! The traffic queries of itscam, behind the tracker:
//!
//! - **observe** (timely, per camera in event-time order): ground point through the camera's
//!   homography, speed from a Kalman filter on the ground plane, line crossings with
//!   hysteresis, zone stays with an exit grace, per-window parts of the metrics;
//! - **metrics** (differential `reduce`): per camera × window × class;
//! - **rules** (a half-join): the rules and the signal states are collections; each fact (a
//!   point in a zone, a crossing) is looked up in them at its own time, so a rule added while
//!   the pipeline runs applies from that moment on without revisiting history, and facts are
//!   never stored; episodes per (rule, track);
//! - **anomalies**: metrics against EWMA baselines.
#![warn(missing_docs)]

pub mod anomaly;
pub mod facts;
pub mod junction;
mod graph;
pub mod metrics;
pub mod observe;
pub mod rules;
pub mod scene;
pub mod signal_control;
pub mod signals;
pub mod updates;

pub use graph::{AnalyticsPlan, AnalyticsStreams, build_analytics};
pub use rules::{LoggedRule, RuleChange, RuleControl, RuleEntry, RuleError};
pub use scene::{CalibrationReport, Scenes};
pub use signal_control::{PreparedSignals, SignalControl, SignalPushError, SignalsPushed};
