//! The tables and their Arrow schemas. Files hold the data columns; `date` is a hive partition
//! directory (`date=2026-01-01/`), added back by readers, and `camera_id` is either a column of
//! each file (layout [`PartitionBy::Date`], the default) or a directory above the date one
//! (`camera_id=cam-1/date=2026-01-01/`, [`PartitionBy::CameraDate`]). Either way SQL sees the
//! same columns in the same order: data columns, `camera_id`, `date` ([`Table::table_schema`]).

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
pub use itscam_types::config::PartitionBy;
use std::sync::{Arc, LazyLock};

/// A table of the lake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per input detection, after tracking.
    Detections,
    /// One row per confirmed track, written when it ends.
    Tracks,
    /// Rejected input.
    Errors,
    /// Quality of every video frame, skipped or not.
    FrameQuality,
    /// One row per confirmed track crossing a counting line.
    LineCrossings,
    /// One row per stay of a track in a zone.
    ZoneEvents,
    /// Per camera × window × class.
    TrafficMetrics,
    /// One row per rule violation episode.
    Violations,
    /// Metrics far from their baseline.
    Anomalies,
    /// Alert lifecycle changes.
    Alerts,
    /// Per model version × camera × window.
    ModelMetrics,
    /// A shadow candidate beside production, per camera × window × class.
    ModelShadow,
    /// One row per track through a junction (entry → exit approach, movement, delay).
    Movements,
    /// Per camera × bin × approach (or crosswalk) × movement (or direction) × class.
    TurningCounts,
    /// Per approach lane × signal cycle: maximum queue, cleared, split failure.
    Queues,
    /// Per approach lane every `queue_sample_ms`: queue length.
    QueueSamples,
    /// Per approach lane × bin: volume, occupancy, headway, gap, speed.
    LaneMetrics,
    /// Per approach × cycle and × bin: arrivals on green, split failures, delay, LOS.
    SignalPerformance,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 18] = [
        Table::Detections,
        Table::Tracks,
        Table::Errors,
        Table::FrameQuality,
        Table::LineCrossings,
        Table::ZoneEvents,
        Table::TrafficMetrics,
        Table::Violations,
        Table::Anomalies,
        Table::Alerts,
        Table::ModelMetrics,
        Table::ModelShadow,
        Table::Movements,
        Table::TurningCounts,
        Table::Queues,
        Table::QueueSamples,
        Table::LaneMetrics,
        Table::SignalPerformance,
    ];

    /// SQL name and directory name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Detections => "detections",
            Table::Tracks => "tracks",
            Table::Errors => "errors",
            Table::FrameQuality => "frame_quality",
            Table::LineCrossings => "line_crossings",
            Table::ZoneEvents => "zone_events",
            Table::TrafficMetrics => "traffic_metrics",
            Table::Violations => "violations",
            Table::Anomalies => "anomalies",
            Table::Alerts => "alerts",
            Table::ModelMetrics => "model_metrics",
            Table::ModelShadow => "model_shadow",
            Table::Movements => "movements",
            Table::TurningCounts => "turning_counts",
            Table::Queues => "queues",
            Table::QueueSamples => "queue_samples",
            Table::LaneMetrics => "lane_metrics",
            Table::SignalPerformance => "signal_performance",
        }
    }

    /// Whether rows of this table belong to a camera (`camera_id` a partition directory or a
    /// file column). `errors` rows may have no camera: that table is partitioned by the date of
    /// rejection only, and its `camera_id` is an ordinary (nullable) data column.
    pub fn by_camera(self) -> bool {
        self != Table::Errors
    }

    /// Partition directories of files laid out by `layout`, in directory order.
    pub fn partition_columns(self, layout: PartitionBy) -> &'static [&'static str] {
        match (self.by_camera(), layout) {
            (true, PartitionBy::CameraDate) => &["camera_id", "date"],
            _ => &["date"],
        }
    }

    /// Schema of the data in each file laid out by `layout`: the data columns, then
    /// `camera_id` where it is not a directory.
    pub fn file_schema_of(self, layout: PartitionBy) -> SchemaRef {
        static WITH_CAMERA: LazyLock<Vec<SchemaRef>> = LazyLock::new(|| {
            Table::ALL
                .iter()
                .map(|t| {
                    let mut fields: Vec<Field> = t.file_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
                    fields.push(Field::new("camera_id", DataType::Utf8, false));
                    Arc::new(Schema::new(fields))
                })
                .collect()
        });
        match (self.by_camera(), layout) {
            (true, PartitionBy::Date) => WITH_CAMERA[self as usize].clone(),
            _ => self.file_schema(),
        }
    }

    /// The data columns (files laid out by camera directory hold exactly these).
    pub fn file_schema(self) -> SchemaRef {
        match self {
            Table::Detections => DETECTIONS.clone(),
            Table::Tracks => TRACKS.clone(),
            Table::Errors => ERRORS.clone(),
            Table::FrameQuality => FRAME_QUALITY.clone(),
            Table::LineCrossings => LINE_CROSSINGS.clone(),
            Table::ZoneEvents => ZONE_EVENTS.clone(),
            Table::TrafficMetrics => TRAFFIC_METRICS.clone(),
            Table::Violations => VIOLATIONS.clone(),
            Table::Anomalies => ANOMALIES.clone(),
            Table::Alerts => ALERTS.clone(),
            Table::ModelMetrics => MODEL_METRICS.clone(),
            Table::ModelShadow => MODEL_SHADOW.clone(),
            Table::Movements => MOVEMENTS.clone(),
            Table::TurningCounts => TURNING_COUNTS.clone(),
            Table::Queues => QUEUES.clone(),
            Table::QueueSamples => QUEUE_SAMPLES.clone(),
            Table::LaneMetrics => LANE_METRICS.clone(),
            Table::SignalPerformance => SIGNAL_PERFORMANCE.clone(),
        }
    }

    /// Schema as SQL sees it: data columns, then `camera_id` (except `errors`, where it is a
    /// data column) and `date` (strings), whatever the layout of the files.
    pub fn table_schema(self) -> SchemaRef {
        let mut fields: Vec<Field> = self.file_schema_of(PartitionBy::Date).fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("date", DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

static DETECTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("ts_ms", DataType::Int64, false),
        f("frame", DataType::Int64, false),
        f("track_id", DataType::Int64, true),
        f("class", DataType::Utf8, false),
        f("confidence", DataType::Float32, false),
        f("x1", DataType::Float32, false),
        f("y1", DataType::Float32, false),
        f("x2", DataType::Float32, false),
        f("y2", DataType::Float32, false),
        f("ground_x", DataType::Float64, true),
        f("ground_y", DataType::Float64, true),
        f("speed_kmh", DataType::Float64, true),
        f("model_version", DataType::Utf8, true),
        // The frame's size in pixels as the input gave it (NULL when unknown): a backfill
        // replays the rows as the pipeline saw them (a box at the border says little).
        f("frame_width", DataType::Int64, true),
        f("frame_height", DataType::Int64, true),
    ]))
});

static TRACKS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("track_id", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("first_ts_ms", DataType::Int64, false),
        f("last_ts_ms", DataType::Int64, false),
        f("frames", DataType::Int64, false),
        f("mean_speed_kmh", DataType::Float64, true),
        f("max_speed_kmh", DataType::Float64, true),
        f("model_versions", DataType::Utf8, true),
    ]))
});

static ERRORS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("source", DataType::Utf8, false),
        f("line", DataType::Int64, true),
        f("camera_id", DataType::Utf8, true),
        f("ts_ms", DataType::Int64, true),
        f("kind", DataType::Utf8, false),
        f("reason", DataType::Utf8, false),
        f("rejected_at_ms", DataType::Int64, false),
    ]))
});

static FRAME_QUALITY: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("ts_ms", DataType::Int64, false),
        f("frame", DataType::Int64, false),
        f("sharpness", DataType::Float32, false),
        f("brightness", DataType::Float32, false),
        f("clipped", DataType::Float32, false),
        f("change", DataType::Float32, false),
        f("frozen", DataType::Boolean, false),
        f("score", DataType::Float32, false),
        f("skipped", DataType::Boolean, false),
    ]))
});

static LINE_CROSSINGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("line_id", DataType::Utf8, false),
        f("track_id", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("ts_ms", DataType::Int64, false),
        f("direction", DataType::Utf8, false),
        f("speed_kmh", DataType::Float64, true),
    ]))
});

static ZONE_EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("zone_id", DataType::Utf8, false),
        f("track_id", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("enter_ts_ms", DataType::Int64, false),
        f("exit_ts_ms", DataType::Int64, false),
        f("dwell_ms", DataType::Int64, false),
    ]))
});

static TRAFFIC_METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("window_start_ms", DataType::Int64, false),
        f("window_end_ms", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("vehicle_count", DataType::Int64, false),
        f("avg_speed_kmh", DataType::Float64, true),
        f("density_veh_per_km", DataType::Float64, true),
        f("congestion_level", DataType::Utf8, true),
        f("revision", DataType::Int64, false),
    ]))
});

static VIOLATIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("violation_id", DataType::Utf8, false),
        f("rule_id", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("track_id", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("ts_start_ms", DataType::Int64, false),
        f("ts_end_ms", DataType::Int64, false),
        f("value", DataType::Float64, false),
        f("limit_value", DataType::Float64, true),
        f("severity", DataType::Utf8, false),
        f("place", DataType::Utf8, false),
        f("evidence", DataType::Utf8, true),
        // `live`, or `backfill` (`itscam rules backfill`); NULL in files written before it.
        f("origin", DataType::Utf8, true),
    ]))
});

static ANOMALIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("anomaly_id", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("zone_id", DataType::Utf8, true),
        f("window_start_ms", DataType::Int64, false),
        f("window_end_ms", DataType::Int64, false),
        f("value", DataType::Float64, false),
        f("baseline", DataType::Float64, false),
        f("baseline_std", DataType::Float64, false),
        f("score", DataType::Float64, false),
        f("severity", DataType::Utf8, false),
    ]))
});

static ALERTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("alert_id", DataType::Utf8, false),
        f("source", DataType::Utf8, false),
        f("source_id", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("severity", DataType::Utf8, false),
        f("status", DataType::Utf8, false),
        f("escalated", DataType::Boolean, false),
        f("suppressed_count", DataType::Int64, false),
        f("ts_ms", DataType::Int64, false),
        f("changed_at_ms", DataType::Int64, false),
        f("changed_by", DataType::Utf8, false),
        f("note", DataType::Utf8, true),
    ]))
});

static MODEL_METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("model_version", DataType::Utf8, false),
        f("window_start_ms", DataType::Int64, false),
        f("window_end_ms", DataType::Int64, false),
        f("frames", DataType::Int64, false),
        f("failed_frames", DataType::Int64, false),
        f("detections", DataType::Int64, false),
        f("detections_per_frame", DataType::Float64, false),
        f("mean_confidence", DataType::Float64, true),
        f("confidence_histogram", DataType::Utf8, false),
        f("latency_p50_ms", DataType::Float64, false),
        f("latency_p99_ms", DataType::Float64, false),
        f("mean_batch", DataType::Float64, false),
    ]))
});

static MODEL_SHADOW: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("window_start_ms", DataType::Int64, false),
        f("window_end_ms", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("production_version", DataType::Utf8, false),
        f("candidate_version", DataType::Utf8, false),
        f("frames", DataType::Int64, false),
        f("production_detections", DataType::Int64, false),
        f("candidate_detections", DataType::Int64, false),
        f("matched", DataType::Int64, false),
        f("agreement", DataType::Float64, false),
        f("production_mean_confidence", DataType::Float64, true),
        f("candidate_mean_confidence", DataType::Float64, true),
        f("production_latency_p99_ms", DataType::Float64, false),
        f("candidate_latency_p99_ms", DataType::Float64, false),
    ]))
});

static MOVEMENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("track_id", DataType::Int64, false),
        f("class", DataType::Utf8, false),
        f("entry_approach", DataType::Utf8, false),
        f("exit_approach", DataType::Utf8, true),
        f("entry_lane", DataType::Utf8, true),
        f("exit_lane", DataType::Utf8, true),
        f("movement", DataType::Utf8, false),
        f("entry_ts_ms", DataType::Int64, false),
        f("stop_line_ts_ms", DataType::Int64, true),
        f("exit_ts_ms", DataType::Int64, true),
        f("travel_time_ms", DataType::Int64, true),
        f("stops", DataType::Int64, false),
        f("control_delay_s", DataType::Float64, true),
        f("revision", DataType::Int64, false),
    ]))
});

static TURNING_COUNTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("bin_start_ms", DataType::Int64, false),
        f("bin_end_ms", DataType::Int64, false),
        f("site", DataType::Utf8, false),
        f("approach", DataType::Utf8, false),
        f("movement", DataType::Utf8, false),
        f("class", DataType::Utf8, false),
        f("count", DataType::Int64, false),
        f("revision", DataType::Int64, false),
    ]))
});

static QUEUES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("approach", DataType::Utf8, false),
        f("lane_id", DataType::Utf8, false),
        f("signal_id", DataType::Utf8, false),
        f("cycle_start_ms", DataType::Int64, false),
        f("green_start_ms", DataType::Int64, true),
        f("cycle_end_ms", DataType::Int64, false),
        f("max_queue_m", DataType::Float64, false),
        f("max_queue_veh", DataType::Int64, false),
        f("cleared", DataType::Boolean, false),
        f("red_start_occupancy", DataType::Float64, true),
        f("split_failure", DataType::Boolean, false),
        f("revision", DataType::Int64, false),
    ]))
});

static QUEUE_SAMPLES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("approach", DataType::Utf8, false),
        f("lane_id", DataType::Utf8, false),
        f("ts_ms", DataType::Int64, false),
        f("queue_m", DataType::Float64, false),
        f("queue_veh", DataType::Int64, false),
    ]))
});

static LANE_METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("approach", DataType::Utf8, false),
        f("lane_id", DataType::Utf8, false),
        f("bin_start_ms", DataType::Int64, false),
        f("bin_end_ms", DataType::Int64, false),
        f("volume", DataType::Int64, false),
        f("occupancy", DataType::Float64, false),
        f("mean_headway_s", DataType::Float64, true),
        f("mean_gap_s", DataType::Float64, true),
        f("mean_speed_kmh", DataType::Float64, true),
        f("revision", DataType::Int64, false),
    ]))
});

static SIGNAL_PERFORMANCE: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("approach", DataType::Utf8, false),
        f("signal_id", DataType::Utf8, false),
        f("period", DataType::Utf8, false),
        f("period_start_ms", DataType::Int64, false),
        f("period_end_ms", DataType::Int64, false),
        f("vehicles", DataType::Int64, false),
        f("arrivals_on_green", DataType::Int64, false),
        f("arrivals_on_yellow", DataType::Int64, false),
        f("arrivals_on_red", DataType::Int64, false),
        f("aog_share", DataType::Float64, true),
        f("split_failure", DataType::Boolean, true),
        f("split_failures", DataType::Int64, false),
        f("mean_control_delay_s", DataType::Float64, true),
        f("los", DataType::Utf8, true),
        f("revision", DataType::Int64, false),
    ]))
});
