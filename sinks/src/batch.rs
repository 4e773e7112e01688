//! Rows → Arrow record batches (file columns only; see [`crate::schema`]).

use crate::schema::Table;
use arrow::array::{ArrayRef, BooleanArray, Float32Builder, Float64Builder, Int64Builder, StringBuilder};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use itscam_types::analytics::{AlertRow, AnomalyRow, LineCrossingRow, TrafficMetricRow, ViolationRow, ZoneEventRow};
use itscam_types::model_rows::{ModelMetricRow, ModelShadowRow};
use itscam_types::junction_rows::{LaneMetricRow, MovementRow, QueueRow, QueueSampleRow, SignalPerformanceRow, TurningCountRow};
use itscam_types::{DetectionRow, ErrorRow, QualityRow, TrackRow};
use std::sync::Arc;

fn i64s(values: impl Iterator<Item = Option<u64>>, n: usize) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(n);
    for v in values {
        b.append_option(v.map(|v| v as i64));
    }
    Arc::new(b.finish())
}

fn f32s(values: impl Iterator<Item = f32>, n: usize) -> ArrayRef {
    let mut b = Float32Builder::with_capacity(n);
    b.append_slice(&values.collect::<Vec<_>>());
    Arc::new(b.finish())
}

fn f64s(values: impl Iterator<Item = Option<f64>>, n: usize) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(n);
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn strs<'a>(values: impl Iterator<Item = Option<&'a str>>, n: usize) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

/// `detections` rows as a batch.
pub fn detections_batch(rows: &[DetectionRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Detections.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.frame)), n),
        i64s(rows.iter().map(|r| r.track_id), n),
        strs(rows.iter().map(|r| Some(r.class.name())), n),
        f32s(rows.iter().map(|r| r.confidence), n),
        f32s(rows.iter().map(|r| r.x1), n),
        f32s(rows.iter().map(|r| r.y1), n),
        f32s(rows.iter().map(|r| r.x2), n),
        f32s(rows.iter().map(|r| r.y2), n),
        f64s(rows.iter().map(|r| r.ground_x), n),
        f64s(rows.iter().map(|r| r.ground_y), n),
        f64s(rows.iter().map(|r| r.speed_kmh), n),
        strs(rows.iter().map(|r| r.model_version.as_deref()), n),
        i64s(rows.iter().map(|r| (r.frame_size[0] > 0).then_some(u64::from(r.frame_size[0]))), n),
        i64s(rows.iter().map(|r| (r.frame_size[1] > 0).then_some(u64::from(r.frame_size[1]))), n),
    ])
}

/// `tracks` rows as a batch.
pub fn tracks_batch(rows: &[TrackRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Tracks.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.track_id)), n),
        strs(rows.iter().map(|r| Some(r.class.name())), n),
        i64s(rows.iter().map(|r| Some(r.first_ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.last_ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.frames)), n),
        f64s(rows.iter().map(|r| r.mean_speed_kmh), n),
        f64s(rows.iter().map(|r| r.max_speed_kmh), n),
        strs(rows.iter().map(|r| r.model_versions.as_deref()), n),
    ])
}

/// `errors` rows as a batch.
pub fn errors_batch(rows: &[ErrorRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Errors.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.source.as_str())), n),
        i64s(rows.iter().map(|r| r.line), n),
        strs(rows.iter().map(|r| r.camera_id.as_deref()), n),
        i64s(rows.iter().map(|r| r.ts_ms), n),
        strs(rows.iter().map(|r| Some(r.kind.as_str())), n),
        strs(rows.iter().map(|r| Some(r.reason.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.rejected_at_ms)), n),
    ])
}

/// `frame_quality` rows as a batch.
pub fn quality_batch(rows: &[QualityRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::FrameQuality.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.frame)), n),
        f32s(rows.iter().map(|r| r.quality.sharpness), n),
        f32s(rows.iter().map(|r| r.quality.brightness), n),
        f32s(rows.iter().map(|r| r.quality.clipped), n),
        f32s(rows.iter().map(|r| r.quality.change), n),
        bools(rows.iter().map(|r| r.quality.frozen)),
        f32s(rows.iter().map(|r| r.quality.score), n),
        bools(rows.iter().map(|r| r.skipped)),
    ])
}

fn bools(values: impl Iterator<Item = bool>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<BooleanArray>())
}

/// `line_crossings` rows as a batch.
pub fn line_crossings_batch(rows: &[LineCrossingRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::LineCrossings.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.line_id.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.track_id)), n),
        strs(rows.iter().map(|r| Some(r.class.name())), n),
        i64s(rows.iter().map(|r| Some(r.ts_ms)), n),
        strs(rows.iter().map(|r| Some(r.direction.as_str())), n),
        f64s(rows.iter().map(|r| r.speed_kmh), n),
    ])
}

/// `zone_events` rows as a batch.
pub fn zone_events_batch(rows: &[ZoneEventRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::ZoneEvents.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.zone_id.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.track_id)), n),
        strs(rows.iter().map(|r| Some(r.class.name())), n),
        i64s(rows.iter().map(|r| Some(r.enter_ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.exit_ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.dwell_ms)), n),
    ])
}

/// `traffic_metrics` rows as a batch.
pub fn traffic_metrics_batch(rows: &[TrafficMetricRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::TrafficMetrics.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.window_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.window_end_ms)), n),
        strs(rows.iter().map(|r| Some(r.class.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.vehicle_count)), n),
        f64s(rows.iter().map(|r| r.avg_speed_kmh), n),
        f64s(rows.iter().map(|r| r.density_veh_per_km), n),
        strs(rows.iter().map(|r| r.congestion_level.map(|c| c.as_str())), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.revision))), n),
    ])
}

/// `violations` rows as a batch (made live).
pub fn violations_batch(rows: &[ViolationRow]) -> Result<RecordBatch, ArrowError> {
    violations_batch_of(rows, "live")
}

/// `violations` rows as a batch, with their `origin` (`live` or `backfill`).
pub fn violations_batch_of(rows: &[ViolationRow], origin: &str) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    // Object paths hold no commas (ids are `[A-Za-z0-9_.-]`).
    let evidence: Vec<String> = rows.iter().map(|r| r.evidence.join(",")).collect();
    RecordBatch::try_new(Table::Violations.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.violation_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.rule_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.kind.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.track_id)), n),
        strs(rows.iter().map(|r| Some(r.class.name())), n),
        i64s(rows.iter().map(|r| Some(r.ts_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.ts_end_ms)), n),
        f64s(rows.iter().map(|r| Some(r.value)), n),
        f64s(rows.iter().map(|r| r.limit_value), n),
        strs(rows.iter().map(|r| Some(r.severity.as_str())), n),
        strs(rows.iter().map(|r| Some(r.place.as_str())), n),
        strs(evidence.iter().map(|e| (!e.is_empty()).then_some(e.as_str())), n),
        strs(rows.iter().map(|_| Some(origin)), n),
    ])
}

/// `anomalies` rows as a batch.
pub fn anomalies_batch(rows: &[AnomalyRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Anomalies.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.anomaly_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.kind.as_str())), n),
        strs(rows.iter().map(|r| r.zone_id.as_deref()), n),
        i64s(rows.iter().map(|r| Some(r.window_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.window_end_ms)), n),
        f64s(rows.iter().map(|r| Some(r.value)), n),
        f64s(rows.iter().map(|r| Some(r.baseline)), n),
        f64s(rows.iter().map(|r| Some(r.baseline_std)), n),
        f64s(rows.iter().map(|r| Some(r.score)), n),
        strs(rows.iter().map(|r| Some(r.severity.as_str())), n),
    ])
}

/// `alerts` rows as a batch.
pub fn alerts_batch(rows: &[AlertRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Alerts.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.alert_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.source.as_str())), n),
        strs(rows.iter().map(|r| Some(r.source_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.kind.as_str())), n),
        strs(rows.iter().map(|r| Some(r.severity.as_str())), n),
        strs(rows.iter().map(|r| Some(r.status.as_str())), n),
        bools(rows.iter().map(|r| r.escalated)),
        i64s(rows.iter().map(|r| Some(r.suppressed_count)), n),
        i64s(rows.iter().map(|r| Some(r.ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.changed_at_ms)), n),
        strs(rows.iter().map(|r| Some(r.changed_by.as_str())), n),
        strs(rows.iter().map(|r| r.note.as_deref()), n),
    ])
}

/// `model_metrics` rows as a batch.
pub fn model_metrics_batch(rows: &[ModelMetricRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::ModelMetrics.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.model_version.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.window_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.window_end_ms)), n),
        i64s(rows.iter().map(|r| Some(r.frames)), n),
        i64s(rows.iter().map(|r| Some(r.failed_frames)), n),
        i64s(rows.iter().map(|r| Some(r.detections)), n),
        f64s(rows.iter().map(|r| Some(r.detections_per_frame)), n),
        f64s(rows.iter().map(|r| r.mean_confidence), n),
        strs(rows.iter().map(|r| Some(r.confidence_histogram.as_str())), n),
        f64s(rows.iter().map(|r| Some(r.latency_p50_ms)), n),
        f64s(rows.iter().map(|r| Some(r.latency_p99_ms)), n),
        f64s(rows.iter().map(|r| Some(r.mean_batch)), n),
    ])
}

/// `model_shadow` rows as a batch.
pub fn model_shadow_batch(rows: &[ModelShadowRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::ModelShadow.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.window_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.window_end_ms)), n),
        strs(rows.iter().map(|r| Some(r.class.as_str())), n),
        strs(rows.iter().map(|r| Some(r.production_version.as_str())), n),
        strs(rows.iter().map(|r| Some(r.candidate_version.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.frames)), n),
        i64s(rows.iter().map(|r| Some(r.production_detections)), n),
        i64s(rows.iter().map(|r| Some(r.candidate_detections)), n),
        i64s(rows.iter().map(|r| Some(r.matched)), n),
        f64s(rows.iter().map(|r| Some(r.agreement)), n),
        f64s(rows.iter().map(|r| r.production_mean_confidence), n),
        f64s(rows.iter().map(|r| r.candidate_mean_confidence), n),
        f64s(rows.iter().map(|r| Some(r.production_latency_p99_ms)), n),
        f64s(rows.iter().map(|r| Some(r.candidate_latency_p99_ms)), n),
    ])
}

fn opt_bools(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    Arc::new(values.collect::<BooleanArray>())
}

/// `movements` rows as a batch.
pub fn movements_batch(rows: &[MovementRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Movements.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.track_id)), n),
        strs(rows.iter().map(|r| Some(r.class.as_str())), n),
        strs(rows.iter().map(|r| Some(r.entry_approach.as_str())), n),
        strs(rows.iter().map(|r| r.exit_approach.as_deref()), n),
        strs(rows.iter().map(|r| r.entry_lane.as_deref()), n),
        strs(rows.iter().map(|r| r.exit_lane.as_deref()), n),
        strs(rows.iter().map(|r| Some(r.movement.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.entry_ts_ms)), n),
        i64s(rows.iter().map(|r| r.stop_line_ts_ms), n),
        i64s(rows.iter().map(|r| r.exit_ts_ms), n),
        i64s(rows.iter().map(|r| r.travel_time_ms), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.stops))), n),
        f64s(rows.iter().map(|r| r.control_delay_s), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.revision))), n),
    ])
}

/// `turning_counts` rows as a batch.
pub fn turning_counts_batch(rows: &[TurningCountRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::TurningCounts.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.bin_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.bin_end_ms)), n),
        strs(rows.iter().map(|r| Some(r.site.as_str())), n),
        strs(rows.iter().map(|r| Some(r.approach.as_str())), n),
        strs(rows.iter().map(|r| Some(r.movement.as_str())), n),
        strs(rows.iter().map(|r| Some(r.class.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.count)), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.revision))), n),
    ])
}

/// `queues` rows as a batch.
pub fn queues_batch(rows: &[QueueRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::Queues.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.approach.as_str())), n),
        strs(rows.iter().map(|r| Some(r.lane_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.signal_id.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.cycle_start_ms)), n),
        i64s(rows.iter().map(|r| r.green_start_ms), n),
        i64s(rows.iter().map(|r| Some(r.cycle_end_ms)), n),
        f64s(rows.iter().map(|r| Some(r.max_queue_m)), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.max_queue_veh))), n),
        bools(rows.iter().map(|r| r.cleared)),
        f64s(rows.iter().map(|r| r.red_start_occupancy), n),
        bools(rows.iter().map(|r| r.split_failure)),
        i64s(rows.iter().map(|r| Some(u64::from(r.revision))), n),
    ])
}

/// `queue_samples` rows as a batch.
pub fn queue_samples_batch(rows: &[QueueSampleRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::QueueSamples.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.approach.as_str())), n),
        strs(rows.iter().map(|r| Some(r.lane_id.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.ts_ms)), n),
        f64s(rows.iter().map(|r| Some(r.queue_m)), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.queue_veh))), n),
    ])
}

/// `lane_metrics` rows as a batch.
pub fn lane_metrics_batch(rows: &[LaneMetricRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::LaneMetrics.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.approach.as_str())), n),
        strs(rows.iter().map(|r| Some(r.lane_id.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.bin_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.bin_end_ms)), n),
        i64s(rows.iter().map(|r| Some(r.volume)), n),
        f64s(rows.iter().map(|r| Some(r.occupancy)), n),
        f64s(rows.iter().map(|r| r.mean_headway_s), n),
        f64s(rows.iter().map(|r| r.mean_gap_s), n),
        f64s(rows.iter().map(|r| r.mean_speed_kmh), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.revision))), n),
    ])
}

/// `signal_performance` rows as a batch.
pub fn signal_performance_batch(rows: &[SignalPerformanceRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    RecordBatch::try_new(Table::SignalPerformance.file_schema(), vec![
        strs(rows.iter().map(|r| Some(r.approach.as_str())), n),
        strs(rows.iter().map(|r| Some(r.signal_id.as_str())), n),
        strs(rows.iter().map(|r| Some(r.period.as_str())), n),
        i64s(rows.iter().map(|r| Some(r.period_start_ms)), n),
        i64s(rows.iter().map(|r| Some(r.period_end_ms)), n),
        i64s(rows.iter().map(|r| Some(r.vehicles)), n),
        i64s(rows.iter().map(|r| Some(r.arrivals_on_green)), n),
        i64s(rows.iter().map(|r| Some(r.arrivals_on_yellow)), n),
        i64s(rows.iter().map(|r| Some(r.arrivals_on_red)), n),
        f64s(rows.iter().map(|r| r.aog_share), n),
        opt_bools(rows.iter().map(|r| r.split_failure)),
        i64s(rows.iter().map(|r| Some(r.split_failures)), n),
        f64s(rows.iter().map(|r| r.mean_control_delay_s), n),
        strs(rows.iter().map(|r| r.los.as_deref()), n),
        i64s(rows.iter().map(|r| Some(u64::from(r.revision))), n),
    ])
}
