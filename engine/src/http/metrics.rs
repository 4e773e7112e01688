//! `GET /metrics`: the OpenMetrics text exposition (`prometheus-client`), which Prometheus
//! scrapes: HELP and TYPE for every series, labels bounded (camera and zone ids from the
//! config; never a track id).
//!
//! Series: `itscam_up`; while a pipeline runs, the row counters (`itscam_detections_total`,
//! … [`crate::counters::RunCounters`]), `itscam_source_frames_total`,
//! `itscam_lake_pending_rows`, `itscam_camera_up{camera_id}`, `itscam_rules`,
//! `itscam_zone_occupancy{camera_id,zone_id}` and the alert lifecycle counters
//! (`itscam_alerts_raised_total`, …); with video cameras the model monitor's series per model
//! version and camera (`itscam_model_frames_total`, `itscam_model_detections_total`,
//! `itscam_model_latency_p99_seconds`, `itscam_model_confidence_le_total`, …).

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use itscam_types::CameraHealth;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;

/// The media type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabels {
    camera_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model_version: String,
    camera_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConfidenceLabels {
    model_version: String,
    camera_id: String,
    le: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    camera_id: String,
    zone_id: String,
}

/// `GET /metrics`. Under `itscam serve` only `itscam_up`.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "The OpenMetrics text exposition", content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut registry = Registry::with_prefix("itscam");
    registry.register("up", "The API answers", ConstGauge::new(1i64));
    let live = &state.live;
    if let Some(counters) = &live.counters {
        counters.register(&mut registry);
        let frames: u64 = live.feeds.iter().map(|f| f.frames.load(Ordering::Relaxed)).sum();
        registry.register("source_frames", "Valid frames read from detections sources", ConstCounter::new(frames));
        let duplicates: u64 = live.feeds.iter().map(|f| f.duplicates.load(Ordering::Relaxed)).sum();
        registry.register("source_duplicate_frames", "Frames delivered twice (camera_id, ts_ms accepted before), dropped", ConstCounter::new(duplicates));
    }
    if let Some(pending) = &live.lake_pending {
        registry.register("lake_pending_rows", "Rows queued for the lake writer", ConstGauge::new(pending.get() as i64));
    }
    if let Some(health) = &live.lake_health {
        let h = health.get();
        registry.register("lake_up", "1 while the lake writer reaches the lake, 0 while it waits an outage out", ConstGauge::new(i64::from(h.since_ms.is_none())));
        registry.register("lake_outages", "Outages of the lake waited out", ConstCounter::new(h.outages));
        registry.register("lake_outage_retries", "Failed tries in the current outage", ConstGauge::new(h.retries as i64));
        registry.register("lake_blocked", "1 while the writer waits for the lake or for room in the spool (sources pause)", ConstGauge::new(i64::from(h.blocked)));
        if let Some(spool) = &h.spool {
            registry.register("lake_spool_files", "Finished files waiting in the spool for the lake", ConstGauge::new(spool.files as i64));
            registry.register("lake_spool_bytes", "Bytes of the files waiting in the spool", ConstGauge::new(spool.bytes as i64));
            registry.register("lake_spool_commits", "Commits waiting in the spool to be published", ConstGauge::new(spool.commits as i64));
            let age = spool.oldest_ms.map_or(0, |t| itscam_types::time::now_ms().saturating_sub(t)) as f64 / 1000.0;
            registry.register("lake_spool_oldest_age_seconds", "Age of the oldest file in the spool (0 when empty)", ConstGauge::<f64>::new(age));
            let dropped = Family::<TableLabels, Counter>::default();
            for (table, (files, _)) in &spool.dropped {
                dropped.get_or_create(&TableLabels { table: table.clone() }).inc_by(*files);
            }
            registry.register("lake_spool_dropped_files", "Spooled files dropped for room (full = \"drop_oldest\"), per table", dropped);
        }
    }
    let cameras = live.cameras.list();
    if !cameras.is_empty() {
        let up = Family::<CameraLabels, Gauge>::default();
        for c in &cameras {
            up.get_or_create(&CameraLabels { camera_id: c.camera_id().to_string() }).set(i64::from(c.health() == CameraHealth::Up));
        }
        registry.register("camera_up", "Video camera health: 1 when up", up);
    }
    if let Some(a) = &live.analytics {
        registry.register("rules", "Live rules", ConstGauge::new(a.rules.list().len() as i64));
        let occupancy = Family::<ZoneLabels, Gauge>::default();
        for ((camera_id, zone_id), n) in a.zones.lock().map(|z| z.clone()).unwrap_or_default() {
            occupancy.get_or_create(&ZoneLabels { camera_id, zone_id }).set(n as i64);
        }
        registry.register("zone_occupancy", "Confirmed tracks inside the zone", occupancy);
    }
    if let Some(models) = &live.models {
        register_models(&mut registry, &models.monitor().totals());
    }
    if let Some(evidence) = &live.evidence {
        register_evidence(&mut registry, evidence);
    }
    if let Some(hub) = &live.alerts
        && let Ok(c) = hub.counters().await
    {
        let lifecycle = [
            ("alerts_raised", c.raised, "Alerts raised (after dedupe and suppression)"),
            ("alerts_suppressed", c.suppressed, "Repeats suppressed on an open alert"),
            ("alerts_escalated", c.escalated, "Alerts escalated while unacknowledged"),
            ("alerts_acknowledged", c.acknowledged, "Alerts acknowledged"),
            ("alerts_resolved", c.resolved, "Alerts resolved"),
        ];
        for (name, value, help) in lifecycle {
            registry.register(name, help, ConstCounter::new(value));
        }
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "encoding the metrics failed (this is a bug)");
    }
    ([(header::CONTENT_TYPE, OPENMETRICS)], out)
}

/// Per model version and camera (labels bounded by the versions open × the cameras): frames,
/// failed frames, detections, inference latency quantiles, mean batch, and the detections'
/// confidence as cumulative buckets.
fn register_models(registry: &mut Registry, totals: &std::collections::BTreeMap<itscam_operators::vision::monitor::TallyKey, itscam_operators::vision::monitor::ModelTally>) {
    use itscam_operators::vision::monitor::CONFIDENCE_BUCKETS;
    let (frames, failed, dets) = (Family::<ModelLabels, Counter>::default(), Family::<ModelLabels, Counter>::default(), Family::<ModelLabels, Counter>::default());
    let (p50, p99, batch) = (Family::<ModelLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default(), Family::<ModelLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default(), Family::<ModelLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default());
    let confidence = Family::<ConfidenceLabels, Counter>::default();
    for ((version, camera), t) in totals {
        let l = ModelLabels { model_version: version.to_string(), camera_id: camera.to_string() };
        frames.get_or_create(&l).inc_by(t.frames);
        failed.get_or_create(&l).inc_by(t.failed);
        dets.get_or_create(&l).inc_by(t.detection_count());
        p50.get_or_create(&l).set(t.latency_ms(0.5) / 1000.0);
        p99.get_or_create(&l).set(t.latency_ms(0.99) / 1000.0);
        batch.get_or_create(&l).set(if t.frames == 0 { 0.0 } else { t.batch_frames as f64 / t.frames as f64 });
        let mut cumulative = 0;
        for (i, n) in t.confidence_buckets.iter().enumerate() {
            cumulative += n;
            let le = CONFIDENCE_BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), |b| format!("{b:.1}"));
            confidence.get_or_create(&ConfidenceLabels { model_version: version.to_string(), camera_id: camera.to_string(), le }).inc_by(cumulative);
        }
    }
    registry.register("model_frames", "Frames inferred, per model version and camera", frames);
    registry.register("model_failed_frames", "Frames whose inference failed, per model version and camera", failed);
    registry.register("model_detections", "Detections, per model version and camera", dets);
    registry.register("model_latency_p50_seconds", "Inference time per frame (recent samples), median", p50);
    registry.register("model_latency_p99_seconds", "Inference time per frame (recent samples), 99th percentile", p99);
    registry.register("model_mean_batch", "Mean size of the batches the frames ran in", batch);
    registry.register("model_confidence_le", "Detections with confidence at or below le (cumulative buckets)", confidence);
}

/// The evidence service's counters (`itscam_evidence_*`).
fn register_evidence(registry: &mut Registry, evidence: &crate::evidence::EvidenceView) {
    let c = evidence.counters();
    let counters = [
        ("evidence_frames_kept", c.frames_kept.get(), "Video frames kept in the evidence rings"),
        ("evidence_frames_dropped", c.frames_dropped.get(), "Video frames the evidence service was too far behind to keep"),
        ("evidence_points_dropped", c.points_dropped.get(), "Track points the evidence service was too far behind to keep"),
        ("evidence_written", c.written.get(), "Violations whose evidence was uploaded"),
        ("evidence_objects", c.objects.get(), "Evidence objects committed to the lake"),
        ("evidence_bytes", c.bytes.get(), "Bytes of evidence committed to the lake"),
        ("evidence_dropped", c.dropped.get(), "Violations that got no evidence (service behind, too many waiting, nothing seen, lake failing)"),
    ];
    for (name, value, help) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    registry.register("evidence_pending", "Violations waiting for their clip's frames or an upload", ConstGauge::new(c.pending.get()));
}
