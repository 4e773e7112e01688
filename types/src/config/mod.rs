//! The pipeline config (TOML), per DESIGN.md "Pipeline config": load → validate → build.
//!
//! [`PipelineConfig::load`] reports *every* problem at once — syntax, unknown keys, wrong types,
//! bad geometry, dangling references, missing files — each with its location.
//! The structs do not use `deny_unknown_fields` (it stops at the first unknown key): the loader
//! collects every unknown key through `serde_ignored` and rejects them all together.

mod alerts;
mod auth;
mod analytics;
mod camera;
mod cluster;
mod evidence;
mod input;
mod junction;
mod kafka;
mod lake;
mod lifecycle;
mod model;
mod problems;
mod rule;
mod sections;
mod shapes;
mod spool;
mod tracker;

pub use alerts::AlertsConfig;
pub use auth::{AuthConfig, ROLE_NAMES};
pub use analytics::{AnalyticsConfig, AnomalyConfig, CongestionConfig, MAX_SMOOTH_LAG_MS, SpeedConfig};
pub use kafka::{Acks, KafkaAlertsConfig, KafkaConfig, KafkaConsumerConfig, OutboxConfig, check_topic_name};
pub use lifecycle::{LifecycleConfig, WebhookConfig, WebhookStream};
pub use evidence::{Blur, EvidenceConfig};
pub use camera::{CalibrationConfig, CameraConfig, LineConfig, Pacing, SignalConfig, Source, SourceFamily, ZoneConfig};
pub use shapes::{Point, PointSchema, check_polygon};
pub use model::{GuardConfig, ModelConfig, ModelFamily, ModelsConfig, Provider, QualityConfig, check_model_name, parse_model_ref, parse_model_version};
pub use problems::{ConfigError, Problem};
pub use rule::{LaneViolationRule, MAX_SQL_BYTES, RedLightRule, RuleConfig, RuleKeys, RuleKind, RuleParams, Severity, SpeedingRule, SqlRule, StoppedVehicleRule, WrongWayRule, ZoneIntrusionRule};
pub use input::InputConfig;
pub use junction::{ApproachConfig, CrosswalkConfig, JunctionConfig, LaneConfig, Movement, MovementOverride, YAxis};
pub use cluster::{ClusterConfig, check_hosts, parse_hosts_file};
pub use spool::{SpoolConfig, SpoolFull, SyncConfig, LAKE_TABLES};
pub use lake::{CompactionConfig, LakeConfig, PartitionBy, RetentionConfig, S3Config, S3_MIN_PART_BYTES, WriterConfig};
pub use sections::{DEFAULT_LEAD_MARGIN_MS, DEFAULT_SHUTDOWN_GRACE_MS, HttpConfig, QueryConfig, RunConfig, ServiceConfig};
pub use tracker::{Assignment, TrackerConfig};

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// The problem of a config without cameras (key, message): only a pipeline needs one.
const NO_CAMERA: (&str, &str) = ("camera", "at least one [[camera]] is needed");

/// The whole pipeline config. Every section has defaults; a file with only `[[camera]]` works.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    /// `[lake]`: where tables are written and read.
    pub lake: LakeConfig,
    /// `[pipeline]`: workers, lateness.
    pub pipeline: RunConfig,
    /// `[tracker]`: tracker settings, shared by all cameras.
    pub tracker: TrackerConfig,
    /// `[input]`: limits on each line of detections input.
    pub input: InputConfig,
    /// `[query]`: limits on SQL queries.
    pub query: QueryConfig,
    /// `[http]`: the HTTP API.
    pub http: HttpConfig,
    /// `[auth]`: identities, roles and limits on callers of the HTTP API.
    pub auth: AuthConfig,
    /// `[service]`: the long-running `itscam serve`.
    pub service: ServiceConfig,
    /// `[model]`: the detector for video cameras.
    pub model: ModelConfig,
    /// `[models]`: the model registry's canaries, shadow runs, monitoring and guard.
    pub models: ModelsConfig,
    /// `[quality]`: the per-frame quality gate for video cameras.
    pub quality: QualityConfig,
    /// `[analytics]`: lines, zones, speed, metrics, anomalies.
    pub analytics: AnalyticsConfig,
    /// `[[camera]]`: the cameras.
    pub camera: Vec<CameraConfig>,
    /// `[[signal]]`: traffic-signal state inputs.
    pub signal: Vec<SignalConfig>,
    /// `[[rule]]`: rule queries.
    pub rule: Vec<RuleConfig>,
    /// `[kafka]`: the Kafka cluster for `kafka:` sources and alerts.
    pub kafka: Option<KafkaConfig>,
    /// `[alerts]`: alert delivery and lifecycle.
    pub alerts: AlertsConfig,
    /// `[evidence]`: pictures of violations, frame rings, privacy.
    pub evidence: EvidenceConfig,
    /// `[cluster]`: the processes of a timely cluster (unset: one process).
    pub cluster: ClusterConfig,
}

impl PipelineConfig {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::read(path, true)
    }

    /// Reads a config file for the commands that serve or maintain a lake and run no pipeline
    /// (`itscam serve` without cameras, `query`, `lake`, `users`): like [`PipelineConfig::load`],
    /// but a config without `[[camera]]` is fine.
    pub fn load_for_lake(path: &Path) -> Result<Self, ConfigError> {
        Self::read(path, false)
    }

    fn read(path: &Path, needs_camera: bool) -> Result<Self, ConfigError> {
        let error = |problems| ConfigError { file: path.display().to_string(), problems };
        let text = std::fs::read_to_string(path).map_err(|e| error(vec![Problem::new("", format!("cannot read the config file: {e}"))]))?;
        Self::parse(&text, needs_camera).map_err(error)
    }

    /// Parses and validates config text; relative paths are resolved against the working directory.
    pub fn from_toml(text: &str) -> Result<Self, Vec<Problem>> {
        Self::parse(text, true)
    }

    /// [`PipelineConfig::from_toml`]; `needs_camera`: a config without cameras is a problem.
    fn parse(text: &str, needs_camera: bool) -> Result<Self, Vec<Problem>> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| vec![Problem::syntax(text, &e)])?;
        let bad_sources = set_aside_bad_sources(&mut value, text);
        let mut unknown = Vec::new();
        let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(problems::index_path(&path.to_string()));
        let de = serde_ignored::Deserializer::new(toml::Value::Table(value), &mut on_unknown);
        let parsed: Result<PipelineConfig, _> = serde_path_to_error::deserialize(de);
        let mut problems: Vec<Problem> = unknown
            .into_iter()
            .map(|key| Problem::located(text, &key, "unknown key".to_string()))
            .chain(bad_sources)
            .collect();
        match parsed {
            Ok(config) => {
                problems.extend(config.validate().into_iter().filter(|p| needs_camera || (p.key.as_str(), p.message.as_str()) != NO_CAMERA));
                if problems.is_empty() { Ok(config) } else { Err(problems) }
            }
            Err(e) => {
                let key = problems::index_path(&e.path().to_string());
                let msg = e.into_inner().to_string();
                problems.push(Problem::located(text, &key, msg));
                Err(problems)
            }
        }
    }

    /// How far (event time) a file or stdin feed may read ahead of the finished outputs:
    /// `[pipeline] max_lead_ms`, or the lateness and smoothing lag the outputs wait plus
    /// [`DEFAULT_LEAD_MARGIN_MS`].
    pub fn source_lead_ms(&self) -> u64 {
        let waits = self.pipeline.lateness_ms + self.analytics.speed.smooth_lag_ms;
        self.pipeline.max_lead_ms.unwrap_or(waits + sections::DEFAULT_LEAD_MARGIN_MS)
    }

    /// Every semantic problem: geometry, references, ranges, missing files.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        self.lake.check(&mut out);
        self.pipeline.check(&mut out);
        self.cluster.check(&mut out);
        self.query.check(&mut out);
        self.input.check(&mut out);
        self.http.check(&mut out);
        self.auth.check(&mut out);
        self.service.check(&mut out);
        let video = self.camera.iter().any(|c| c.source.family() == SourceFamily::Video);
        self.model.check(video, &mut out);
        self.models.check(&mut out);
        for (i, cam) in self.camera.iter().enumerate() {
            if let Some(pin) = &cam.model
                && let Err(msg) = parse_model_ref(pin)
            {
                out.push(Problem::new(format!("camera[{i}].model"), msg));
            }
        }
        self.quality.check(&mut out);
        self.evidence.check(&mut out);
        self.analytics.check(&mut out);
        // Readers wait for the outputs' frontier, which waits for input one lateness and one
        // smoothing lag ahead: a smaller lead would stop the pipeline.
        let needed = self.pipeline.lateness_ms + self.analytics.speed.smooth_lag_ms;
        let lead_problem = |key: &str| {
            Problem::new(key, format!("must exceed pipeline.lateness_ms + analytics.speed.smooth_lag_ms ({needed}): the readers would wait for rows that wait for input"))
        };
        if self.pipeline.max_lead_ms.is_some_and(|lead| lead <= needed) {
            out.push(lead_problem("pipeline.max_lead_ms"));
        }
        if let Some(k) = &self.kafka {
            k.check("kafka", &mut out);
            if k.consumer.max_lead_ms <= needed {
                out.push(lead_problem("kafka.consumer.max_lead_ms"));
            }
        }
        self.alerts.check(self.kafka.is_some(), &mut out);
        if self.kafka.is_none()
            && let Some(i) = self.camera.iter().position(|c| c.source.family() == SourceFamily::Kafka)
        {
            out.push(Problem::new(format!("camera[{i}].source"), "kafka: sources need a [kafka] section with the brokers"));
        }
        for (key, msg) in self.tracker.problems() {
            out.push(Problem::new(format!("tracker.{key}"), msg));
        }
        if self.camera.is_empty() {
            out.push(Problem::new(NO_CAMERA.0, NO_CAMERA.1));
        }
        let mut ids = HashSet::new();
        for (i, cam) in self.camera.iter().enumerate() {
            let at = format!("camera[{i}]");
            if !ids.insert(cam.id.as_str()) {
                out.push(Problem::new(format!("{at}.id"), format!("duplicate camera id {:?}", cam.id)));
            }
            cam.check(&at, &mut out);
        }
        let mut signal_ids = HashSet::new();
        for (i, s) in self.signal.iter().enumerate() {
            let at = format!("signal[{i}]");
            if !signal_ids.insert(s.id.as_str()) {
                out.push(Problem::new(format!("{at}.id"), format!("duplicate signal id {:?}", s.id)));
            }
            s.check(&at, &mut out);
        }
        for (i, cam) in self.camera.iter().enumerate() {
            cam.check_junction(&format!("camera[{i}]"), &signal_ids, &mut out);
        }
        let mut rule_ids = HashSet::new();
        for (i, r) in self.rule.iter().enumerate() {
            let at = format!("rule[{i}]");
            if !rule_ids.insert(r.id.as_str()) {
                out.push(Problem::new(format!("{at}.id"), format!("duplicate rule id {:?}", r.id)));
            }
            r.check(&at, self, &mut out);
        }
        out
    }

    /// The camera with this id.
    pub fn camera(&self, id: &str) -> Option<&CameraConfig> {
        self.camera.iter().find(|c| c.id == id)
    }
}

/// A `[[camera]] source` string that does not parse would stop deserialization at the first
/// one, hiding every other problem. So each is reported here, with its line, and replaced by a
/// placeholder that parses; the config is then checked as usual but never returned, since the
/// problems are not empty.
fn set_aside_bad_sources(value: &mut toml::Table, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(toml::Value::Array(cameras)) = value.get_mut("camera") else { return problems };
    for (i, camera) in cameras.iter_mut().enumerate() {
        let Some(source) = camera.get_mut("source") else { continue };
        if let toml::Value::String(s) = source
            && let Err(why) = Source::parse(s)
        {
            problems.push(Problem::located(text, &format!("camera[{i}].source"), why));
            *source = toml::Value::String(Source::DetectionsStdin.label());
        }
    }
    problems
}

/// Whether an id is safe as a partition directory name and in URLs: `[A-Za-z0-9][A-Za-z0-9_.-]*`, ≤ 64 bytes.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests;
