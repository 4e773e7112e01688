//! What a backfill part reads: a camera's tracked detections and ended tracks from the lake,
//! through the commit log (committed files only), as the tracker handed them to the queries.

use crate::sql::QueryEngine;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, Int64Type};
use itscam_types::{DetectionRow, ObjectClass, TrackRow, Tracked};
use std::sync::Arc;

/// The rows of one camera between `from` and `to` (ms), each at its dataflow time: a
/// detection at its own time, an ended track just after its last point.
pub async fn tracked(engine: &QueryEngine, camera: &str, from: u64, to: u64) -> anyhow::Result<Vec<(u64, Tracked)>> {
    let cam = camera.replace('\'', "''");
    let camera_id: Arc<str> = camera.into();
    let mut out: Vec<(u64, Tracked)> = Vec::new();
    let detections = format!(
        "SELECT ts_ms, frame, track_id, class, confidence, x1, y1, x2, y2, frame_width, frame_height FROM detections \
         WHERE camera_id = '{cam}' AND ts_ms >= {from} AND ts_ms < {to} AND track_id IS NOT NULL ORDER BY ts_ms, frame, track_id"
    );
    engine
        .export(&detections, None, |b| {
            out.extend(detection_rows(&b, &camera_id)?.into_iter().map(|d| (d.ts_ms, Tracked::Detection(d))));
            Ok(())
        })
        .await?;
    let tracks = format!(
        "SELECT track_id, class, first_ts_ms, last_ts_ms, frames FROM tracks \
         WHERE camera_id = '{cam}' AND last_ts_ms >= {from} AND last_ts_ms < {to} ORDER BY last_ts_ms, track_id"
    );
    engine
        .export(&tracks, None, |b| {
            out.extend(track_rows(&b, camera)?.into_iter().map(|t| (t.last_ts_ms + 1, Tracked::Ended(t))));
            Ok(())
        })
        .await?;
    out.sort_by_key(|(t, item)| (*t, rank(item)));
    Ok(out)
}

/// Order within a time (stable sort): a camera change first (what follows uses it), then the
/// detections in frame order, then the tracks that ended.
pub fn rank(item: &Tracked) -> u8 {
    match item {
        Tracked::Scene(_) => 0,
        Tracked::Detection(_) => 1,
        Tracked::Ended(_) => 2,
    }
}

fn i64_at(b: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<u64>>> {
    let a = b.column_by_name(name).ok_or_else(|| anyhow::anyhow!("no column {name}"))?.as_primitive::<Int64Type>();
    Ok((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i) as u64)).collect())
}

fn f32_at(b: &RecordBatch, name: &str) -> anyhow::Result<Vec<f32>> {
    let a = b.column_by_name(name).ok_or_else(|| anyhow::anyhow!("no column {name}"))?.as_primitive::<Float32Type>();
    Ok(a.values().to_vec())
}

fn classes(b: &RecordBatch) -> anyhow::Result<Vec<ObjectClass>> {
    let a = b.column_by_name("class").ok_or_else(|| anyhow::anyhow!("no column class"))?.as_string::<i32>();
    (0..a.len()).map(|i| ObjectClass::from_name(a.value(i)).ok_or_else(|| anyhow::anyhow!("unknown class {:?}", a.value(i)))).collect()
}

fn detection_rows(b: &RecordBatch, camera: &Arc<str>) -> anyhow::Result<Vec<DetectionRow>> {
    let (ts, frame, track) = (i64_at(b, "ts_ms")?, i64_at(b, "frame")?, i64_at(b, "track_id")?);
    let (conf, x1, y1, x2, y2) = (f32_at(b, "confidence")?, f32_at(b, "x1")?, f32_at(b, "y1")?, f32_at(b, "x2")?, f32_at(b, "y2")?);
    let (width, height) = (i64_at(b, "frame_width")?, i64_at(b, "frame_height")?);
    let class = classes(b)?;
    Ok((0..b.num_rows())
        .map(|i| DetectionRow {
            camera_id: camera.clone(),
            ts_ms: ts[i].unwrap_or_default(),
            frame: frame[i].unwrap_or_default(),
            track_id: track[i],
            class: class[i],
            confidence: conf[i],
            x1: x1[i],
            y1: y1[i],
            x2: x2[i],
            y2: y2[i],
            ground_x: None,
            ground_y: None,
            speed_kmh: None,
            frame_size: [width[i].unwrap_or(0) as u32, height[i].unwrap_or(0) as u32],
            model_version: None,
        })
        .collect())
}

fn track_rows(b: &RecordBatch, camera: &str) -> anyhow::Result<Vec<TrackRow>> {
    let (track, first, last, frames) = (i64_at(b, "track_id")?, i64_at(b, "first_ts_ms")?, i64_at(b, "last_ts_ms")?, i64_at(b, "frames")?);
    let class = classes(b)?;
    Ok((0..b.num_rows())
        .map(|i| TrackRow {
            camera_id: camera.to_string(),
            track_id: track[i].unwrap_or_default(),
            class: class[i],
            first_ts_ms: first[i].unwrap_or_default(),
            last_ts_ms: last[i].unwrap_or_default(),
            frames: frames[i].unwrap_or_default(),
            mean_speed_kmh: None,
            max_speed_kmh: None,
            model_versions: None,
        })
        .collect())
}
