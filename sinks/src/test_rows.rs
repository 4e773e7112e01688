//! Rows the sinks' unit tests write.

/// A car's detection of `camera` at `ts_ms`, frame `frame`, untracked, in a 10-pixel box.
pub(crate) fn detection(camera: &str, ts_ms: u64, frame: u64) -> itscam_types::DetectionRow {
    itscam_types::DetectionRow {
        camera_id: camera.into(),
        ts_ms,
        frame,
        track_id: None,
        class: itscam_types::ObjectClass(2),
        confidence: 0.9,
        x1: 0.0,
        y1: 0.0,
        x2: 10.0,
        y2: 10.0,
        ground_x: None,
        ground_y: None,
        speed_kmh: None,
        frame_size: [0, 0],
        model_version: None,
    }
}
