//! The registry inside a running pipeline: the [`Routing`] published on the inference threads'
//! [`ModelBoard`] (rebuilt when the stages change: promotions over HTTP take effect at once,
//! changes by other processes within `[models] refresh_ms`), and each window of the
//! [`ModelMonitor`] turned into `model_metrics` and `model_shadow` rows, the canary guard's
//! verdict and `model_drift` anomalies.

use super::guard::{Drift, judge};
use super::registry::{Registry, RegistryError};
use super::stages::Stages;
use super::manifest::Stage;
use crate::alerts::AlertHubHandle;
use itscam_operators::vision::board::{ModelBoard, ModelSpec, Routing};
use itscam_operators::vision::detector::unregistered_version;
use itscam_operators::vision::monitor::{MonitorWindow, ModelMonitor, agreement, quantile_ms};
use itscam_sinks::{LakeSink, SinkRows};
use itscam_types::analytics::{Alert, AnomalyKind, AnomalyRow};
use itscam_types::config::{ModelConfig, ModelsConfig, PipelineConfig, Severity, parse_model_ref};
use itscam_types::model_rows::{ModelMetricRow, ModelShadowRow};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The registry's part of a running pipeline.
#[derive(Debug)]
pub struct ModelsLive {
    registry: Registry,
    base: ModelConfig,
    settings: ModelsConfig,
    /// Camera → pinned `name@version`.
    pins: BTreeMap<String, String>,
    board: Arc<ModelBoard>,
    monitor: Arc<ModelMonitor>,
    /// The stages the published routing was built from.
    applied: tokio::sync::Mutex<Option<Stages>>,
    drift: Mutex<Drift>,
    window_start_ms: Mutex<u64>,
}

impl ModelsLive {
    /// Builds the first routing from the config and the registry. A camera following a name
    /// without a production version, or pinning an unregistered version, is a start-up error
    /// when `strict` (the config has video cameras); otherwise its frames fail with the reason.
    pub async fn prepare(config: &PipelineConfig, registry: Registry, strict: bool) -> anyhow::Result<Arc<ModelsLive>> {
        let pins = config.camera.iter().filter_map(|c| Some((c.id.clone(), c.model.clone()?))).collect();
        let live = ModelsLive {
            registry,
            base: config.model.clone(),
            settings: config.models.clone(),
            pins,
            board: ModelBoard::new(Routing::default()),
            monitor: Arc::default(),
            applied: tokio::sync::Mutex::new(None),
            drift: Mutex::new(Drift::new(config.analytics.anomaly.clone(), config.models.drift_score)),
            window_start_ms: Mutex::new(itscam_types::time::now_ms()),
        };
        let stages = live.registry.stages().await?;
        let routing = live.routing(&stages).await?;
        if strict && let Some(name) = &routing.follows && routing.production.is_none() {
            anyhow::bail!("[model] registry = {name:?} has no production version: register one and promote it (itscam models promote {name}@VERSION production)");
        }
        live.board.publish(routing);
        *live.applied.lock().await = Some(stages);
        Ok(Arc::new(live))
    }

    /// The board the inference threads read.
    pub fn board(&self) -> Arc<ModelBoard> {
        self.board.clone()
    }

    /// The counts the inference threads keep.
    pub fn monitor(&self) -> Arc<ModelMonitor> {
        self.monitor.clone()
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry name the config's cameras follow.
    pub fn follows(&self) -> Option<&str> {
        self.base.registry.as_deref()
    }

    async fn spec(&self, id: &str) -> Result<ModelSpec, RegistryError> {
        let m = self.registry.require(id).await?;
        let path = self.registry.local_file(&m).await?;
        let config = ModelConfig { path: path.display().to_string(), family: m.family, input_width: m.input_width, input_height: m.input_height, registry: None, ..self.base.clone() };
        Ok(ModelSpec::new(&m.id(), config))
    }

    /// The routing the stages call for.
    pub async fn routing(&self, stages: &Stages) -> Result<Routing, RegistryError> {
        let mut r = Routing::default();
        match &self.base.registry {
            None => r.production = Some(ModelSpec::new(&unregistered_version(&self.base.path), self.base.clone())),
            Some(name) => {
                r.follows = Some(name.clone());
                let production = stages.production(name);
                if let Some(id) = &production {
                    r.production = Some(self.spec(id).await?);
                }
                if let Some(id) = stages.canary(name)
                    && self.settings.canary_percent > 0
                {
                    r.canary = Some((self.spec(&id).await?, self.settings.canary_percent));
                }
                if self.settings.shadow_sample > 0.0
                    && let Some(id) = stages.candidate(name).filter(|c| Some(c) != production.as_ref())
                {
                    r.shadow = Some((self.spec(&id).await?, self.settings.shadow_sample));
                }
            }
        }
        for (camera, pin) in &self.pins {
            parse_model_ref(pin).map_err(RegistryError::Invalid)?;
            r.pinned.insert(camera.clone(), self.spec(pin).await?);
        }
        Ok(r)
    }

    /// Re-reads the stages; publishes a new routing when they changed. Returns its generation.
    pub async fn refresh(&self) -> Result<Option<u64>, RegistryError> {
        let mut applied = self.applied.lock().await;
        let stages = self.registry.stages().await?;
        if applied.as_ref() == Some(&stages) {
            return Ok(None);
        }
        let routing = self.routing(&stages).await?;
        let changed = *self.board.current().1 != routing;
        *applied = Some(stages);
        Ok(changed.then(|| self.board.publish(routing)))
    }

    /// Runs until the process ends: refreshes every `refresh_ms`, closes a window every
    /// `window_ms` (rows to `sink`, guard, drift; alerts to `hub`).
    pub fn spawn(self: &Arc<Self>, runtime: &tokio::runtime::Handle, sink: LakeSink, hub: AlertHubHandle) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        runtime.spawn(async move {
            let mut refresh = tokio::time::interval(Duration::from_millis(live.settings.refresh_ms));
            let mut window = tokio::time::interval(Duration::from_millis(live.settings.window_ms));
            window.tick().await;
            loop {
                tokio::select! {
                    _ = refresh.tick() => {
                        if let Err(e) = live.refresh().await {
                            tracing::warn!(error = %e, "the model registry could not be read; the cameras keep their models");
                        }
                    }
                    _ = window.tick() => live.close_window(&sink, Some(&hub)).await,
                }
            }
        })
    }

    /// Closes the current window: its rows to `sink`; the guard's rollback and drift anomalies
    /// (rows, and alerts to `hub`).
    pub async fn close_window(&self, sink: &LakeSink, hub: Option<&AlertHubHandle>) {
        let end = itscam_types::time::now_ms();
        let start = std::mem::replace(&mut *self.window_start_ms.lock().unwrap_or_else(|p| p.into_inner()), end);
        let window = self.monitor.take_window();
        let (metrics, shadow) = rows(&window, start, end);
        sink.send(SinkRows::ModelMetrics(metrics));
        sink.send(SinkRows::ModelShadow(shadow));
        let mut anomalies = self.drift.lock().unwrap_or_else(|p| p.into_inner()).observe(&window, (start, end));
        let routing = self.board.current().1;
        // Prometheus labels stay bounded: versions no longer routed leave the totals.
        let open = routing.versions();
        self.monitor.retain_versions(|v| open.iter().any(|o| &**o == v));
        if self.settings.guard.enabled
            && let Some((canary, reason)) = judge(&window, &routing, &self.settings.guard)
        {
            match self.roll_back_canary(&canary, &reason).await {
                Ok(()) => anomalies.push(rollback_row(&canary, &reason, &window, (start, end))),
                Err(e) => tracing::error!(model = %canary, error = %e, "the canary guard could not roll the canary back"),
            }
        }
        if !anomalies.is_empty() {
            if let Some(hub) = hub {
                for a in &anomalies {
                    hub.raise(Alert::from_anomaly(a, end));
                }
            }
            sink.send(SinkRows::Anomalies(anomalies));
        }
    }

    async fn roll_back_canary(&self, canary: &str, reason: &str) -> Result<(), RegistryError> {
        tracing::warn!(model = canary, reason, "canary guard: rolling the canary back");
        self.registry.promote(&format!("guard: {reason}"), canary, Stage::Retired).await?;
        self.refresh().await?;
        Ok(())
    }
}

fn rollback_row(canary: &str, reason: &str, window: &MonitorWindow, (start, end): (u64, u64)) -> AnomalyRow {
    let camera = window.tallies.keys().find(|(v, _)| &**v == canary).map_or_else(|| "-".to_string(), |(_, c)| c.to_string());
    tracing::info!(camera, reason, "canary rollback raised as an anomaly");
    AnomalyRow {
        anomaly_id: format!("canary_rollback:{canary}:{start}"),
        kind: AnomalyKind::CanaryRollback,
        camera_id: camera,
        zone_id: Some(canary.to_string()),
        window_start_ms: start,
        window_end_ms: end,
        value: 0.0,
        baseline: 0.0,
        baseline_std: 0.0,
        score: 0.0,
        severity: Severity::High,
    }
}

/// One window's `model_metrics` and `model_shadow` rows.
pub fn rows(window: &MonitorWindow, start: u64, end: u64) -> (Vec<ModelMetricRow>, Vec<ModelShadowRow>) {
    let metrics = window
        .tallies
        .iter()
        .filter(|(_, t)| t.frames + t.failed > 0)
        .map(|((version, camera), t)| {
            let n = t.detection_count();
            ModelMetricRow {
                camera_id: camera.to_string(),
                model_version: version.to_string(),
                window_start_ms: start,
                window_end_ms: end,
                frames: t.frames,
                failed_frames: t.failed,
                detections: n,
                detections_per_frame: if t.frames == 0 { 0.0 } else { n as f64 / t.frames as f64 },
                mean_confidence: (n > 0).then(|| t.confidence_sum / n as f64),
                confidence_histogram: t.confidence_buckets.iter().map(u64::to_string).collect::<Vec<_>>().join("/"),
                latency_p50_ms: t.latency_ms(0.5),
                latency_p99_ms: t.latency_ms(0.99),
                mean_batch: if t.frames == 0 { 0.0 } else { t.batch_frames as f64 / t.frames as f64 },
            }
        })
        .collect();
    let mut shadow = Vec::new();
    for ((candidate, camera), t) in &window.shadow {
        for (class, k) in &t.per_class {
            let mean = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
            shadow.push(ModelShadowRow {
                camera_id: camera.to_string(),
                window_start_ms: start,
                window_end_ms: end,
                class: class.name().to_string(),
                production_version: t.production.to_string(),
                candidate_version: candidate.to_string(),
                frames: t.frames,
                production_detections: k.production,
                candidate_detections: k.candidate,
                matched: k.matched,
                agreement: agreement(k.production, k.candidate, k.matched),
                production_mean_confidence: mean(k.production_confidence, k.production),
                candidate_mean_confidence: mean(k.candidate_confidence, k.candidate),
                production_latency_p99_ms: quantile_ms(&t.production_us, 0.99),
                candidate_latency_p99_ms: quantile_ms(&t.candidate_us, 0.99),
            });
        }
    }
    (metrics, shadow)
}
