//! Assembles the traffic queries behind the tracker.

use crate::anomaly::anomalies;
use crate::facts::SignalUpdate;
use crate::junction::lane_facts::lane_facts;
use crate::junction::{JunctionInputs, JunctionPlan, JunctionStreams, junction_tables};
use crate::metrics::{MetricRows, traffic_metrics};
use crate::observe::{LiveZones, ObserveSettings, Observations, observe};
use crate::rules::{RuleControl, RuleInputs, RuleSettings, violations};
use crate::scene::Scenes;
use crate::signal_control::{SignalControl, signals_input};
use itscam_types::analytics::{AnomalyRow, LineCrossingRow, TrafficMetricRow, ViolationRow, ZoneEventRow};
use itscam_types::config::{AnomalyConfig, PipelineConfig, Problem};
use itscam_types::{DetectionRow, ErrorRow, TrackRow, Tracked};
use std::collections::HashMap;
use std::sync::Arc;
use timely::dataflow::Stream;
use timely::dataflow::operators::vec::{Broadcast, Map};

/// Everything the queries need, prepared once per run and shared by the workers.
#[derive(Clone, Debug)]
pub struct AnalyticsPlan {
    /// Cameras' scenes.
    pub scenes: Scenes,
    /// Observe step settings.
    pub settings: ObserveSettings,
    /// Metrics rows.
    pub metric_rows: MetricRows,
    /// Anomaly baselines.
    pub anomaly: AnomalyConfig,
    /// Rule episode grace and time zone.
    pub rule_settings: RuleSettings,
    /// The live rule set.
    pub rules: RuleControl,
    /// The signal states: the files' changes, then those pushed over HTTP (fed by worker 0).
    pub signals: SignalControl,
    /// Live zone occupancy.
    pub live_zones: LiveZones,
    /// The cameras' junctions.
    pub junction: JunctionPlan,
}

impl AnalyticsPlan {
    /// Builds the plan: scenes (calibrations checked) and rules from the config.
    pub fn new(config: Arc<PipelineConfig>, signals: Vec<SignalUpdate>) -> Result<AnalyticsPlan, Vec<Problem>> {
        let scenes = Scenes::build(&config)?;
        let a = &config.analytics;
        let road_length_m: HashMap<String, f64> =
            config.camera.iter().filter_map(|c| c.road_length_m.map(|l| (c.id.clone(), l))).collect();
        Ok(AnalyticsPlan {
            scenes,
            settings: ObserveSettings::from_config(a),
            metric_rows: MetricRows { window_ms: a.window_ms.max(1), road_length_m, congestion: a.congestion.clone() },
            anomaly: a.anomaly.clone(),
            rule_settings: RuleSettings { grace_ms: a.rule_grace_ms, tz: a.time_zone.parse().unwrap_or(chrono_tz::UTC) },
            rules: RuleControl::new(config.clone())?,
            signals: SignalControl::new(&config, signals),
            live_zones: LiveZones::default(),
            junction: JunctionPlan::new(&config),
        })
    }
}

/// The queries' output streams.
pub struct AnalyticsStreams<'s> {
    /// `detections` (ground point and speed filled in).
    pub detections: Stream<'s, u64, Vec<DetectionRow>>,
    /// `tracks` (speeds filled in).
    pub tracks: Stream<'s, u64, Vec<TrackRow>>,
    /// `line_crossings`.
    pub crossings: Stream<'s, u64, Vec<LineCrossingRow>>,
    /// `zone_events`.
    pub zone_events: Stream<'s, u64, Vec<ZoneEventRow>>,
    /// `traffic_metrics`.
    pub metrics: Stream<'s, u64, Vec<TrafficMetricRow>>,
    /// Violations, each confirmed episode twice (ongoing, then closed).
    pub violations: Stream<'s, u64, Vec<ViolationRow>>,
    /// `anomalies`.
    pub anomalies: Stream<'s, u64, Vec<AnomalyRow>>,
    /// Pushed signal lines that were rejected, for `errors`.
    pub signal_errors: Stream<'s, u64, Vec<ErrorRow>>,
    /// The junction tables.
    pub junction: JunctionStreams<'s>,
}

/// Builds the queries behind the tracker's output (exchanged by camera already).
pub fn build_analytics<'s>(tracked: Stream<'s, u64, Vec<Tracked>>, plan: &AnalyticsPlan, worker_index: usize) -> AnalyticsStreams<'s> {
    let observed = observe(tracked, plan.scenes.clone(), plan.settings, plan.live_zones.clone());
    let Observations { detections, tracks, crossing_rows: crossings, zone_events, zone_facts, crossing_facts, point_facts, junction_points, scene_changes, metric_parts, zone_windows } = observed;

    let feeds = worker_index == 0;
    let (signals, signal_errors) = signals_input(zone_facts.clone(), plan.signals.clone(), feeds);
    let junction_signals = signals.clone().broadcast();
    let settings = plan.junction.settings.clone();
    let geoms = scene_changes.map(move |c| {
        let geom = c.camera.as_ref().and_then(|cam| crate::junction::JunctionGeom::build(cam, &settings)).map(Arc::new);
        (Arc::<str>::from(c.camera_id.as_str()), geom)
    });
    let junction = junction_tables(JunctionInputs { points: junction_points, signals: junction_signals, geoms }, plan.junction.clone());
    let lanes = lane_facts(junction.queue_samples.clone(), junction.queues.clone());
    let violations = violations(RuleInputs { zone_facts, crossings: crossing_facts, points: point_facts, signals, lanes }, plan.rules.clone(), feeds, plan.rule_settings);
    let metrics = traffic_metrics(metric_parts, plan.metric_rows.clone());
    let anomalies = anomalies(metrics.clone(), zone_windows, plan.anomaly.clone(), plan.metric_rows.window_ms);
    AnalyticsStreams { detections, tracks, crossings, zone_events, metrics, violations, anomalies, signal_errors, junction }
}
