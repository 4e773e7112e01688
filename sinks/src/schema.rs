//! The tables and their Arrow schemas. Files hold the data columns; `camera_id` and `date` are
//! hive partition directories (`camera_id=cam-1/date=2026-01-01/`), added back by readers.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
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
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 4] = [Table::Detections, Table::Tracks, Table::Errors, Table::FrameQuality];

    /// SQL name and directory name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Detections => "detections",
            Table::Tracks => "tracks",
            Table::Errors => "errors",
            Table::FrameQuality => "frame_quality",
        }
    }

    /// Partition columns, in directory order. `errors` rows may have no camera, so that table
    /// is partitioned by the date of rejection only.
    pub fn partition_columns(self) -> &'static [&'static str] {
        match self {
            Table::Errors => &["date"],
            _ => &["camera_id", "date"],
        }
    }

    /// Schema of the data in each file (without partition columns).
    pub fn file_schema(self) -> SchemaRef {
        match self {
            Table::Detections => DETECTIONS.clone(),
            Table::Tracks => TRACKS.clone(),
            Table::Errors => ERRORS.clone(),
            Table::FrameQuality => FRAME_QUALITY.clone(),
        }
    }

    /// Schema as SQL sees it: file columns, then partition columns (strings).
    pub fn table_schema(self) -> SchemaRef {
        let mut fields: Vec<Field> = self.file_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(self.partition_columns().iter().map(|c| Field::new(*c, DataType::Utf8, false)));
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
