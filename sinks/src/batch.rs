//! Rows → Arrow record batches (file columns only; see [`crate::schema`]).

use crate::schema::Table;
use arrow::array::{ArrayRef, BooleanArray, Float32Builder, Float64Builder, Int64Builder, StringBuilder};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
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
    let bools = |f: fn(&QualityRow) -> bool| -> ArrayRef { Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>()) };
    RecordBatch::try_new(Table::FrameQuality.file_schema(), vec![
        i64s(rows.iter().map(|r| Some(r.ts_ms)), n),
        i64s(rows.iter().map(|r| Some(r.frame)), n),
        f32s(rows.iter().map(|r| r.quality.sharpness), n),
        f32s(rows.iter().map(|r| r.quality.brightness), n),
        f32s(rows.iter().map(|r| r.quality.clipped), n),
        f32s(rows.iter().map(|r| r.quality.change), n),
        bools(|r| r.quality.frozen),
        f32s(rows.iter().map(|r| r.quality.score), n),
        bools(|r| r.skipped),
    ])
}
