//! Parsing and validation of the detections JSON Lines format (DESIGN.md "Interchange formats").
//!
//! A line is either a valid [`Frame`] or a [`LineError`] that names the reason; the caller adds
//! the source and line number and sends it to the `errors` table.

use crate::config::InputConfig;
use crate::{BBox, Detection, ErrorKind, Frame, ObjectClass};
use serde::Deserialize;

/// Why a line was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {reason}")]
pub struct LineError {
    /// Machine-readable kind ([`ErrorKind::MalformedJson`], [`ErrorKind::InvalidFrame`],
    /// [`ErrorKind::InvalidDetection`]).
    pub kind: ErrorKind,
    /// Human-readable reason.
    pub reason: String,
    /// Camera id, when the line named one.
    pub camera_id: Option<String>,
    /// Event time, when the line had one.
    pub ts_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame<'a> {
    camera_id: String,
    ts_ms: u64,
    frame: u64,
    width: u32,
    height: u32,
    #[serde(default, borrow)]
    detections: Vec<RawDetection<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetection<'a> {
    /// Borrowed from the line (no allocation per detection) unless it has escapes.
    #[serde(borrow)]
    class: std::borrow::Cow<'a, str>,
    confidence: f64,
    bbox: [f64; 4],
}

/// The first character of a frame line.
const OBJECT_START: char = '{';

/// Parses one line within the default `[input]` limits. Blank lines are the caller's
/// business (they are skipped, not errors).
pub fn parse_frame(line: &str) -> Result<Frame, LineError> {
    parse_frame_within(line, &InputConfig::default())
}

/// Parses one line within `limits`: a longer line, or a frame with more detections, is
/// [`ErrorKind::TooLarge`] (checked before any detection is built).
pub fn parse_frame_within(line: &str, limits: &InputConfig) -> Result<Frame, LineError> {
    if line.len() > limits.max_line_bytes {
        return Err(too_long(line.len(), limits));
    }
    let malformed = |reason: String| LineError { kind: ErrorKind::MalformedJson, reason, camera_id: None, ts_ms: None };
    if !line.trim_start().starts_with(OBJECT_START) {
        return Err(malformed("a line must be one JSON object (a frame), starting with '{'".into()));
    }
    let raw: RawFrame = serde_json::from_str(line).map_err(|e| malformed(e.to_string()))?;
    let fail = |(kind, reason): (ErrorKind, String)| LineError {
        kind,
        reason,
        camera_id: Some(raw.camera_id.clone()),
        ts_ms: Some(raw.ts_ms),
    };
    check_frame(&raw).map_err(fail)?;
    if raw.detections.len() > limits.max_detections_per_frame {
        let reason = format!("{} detections in one frame; [input] max_detections_per_frame is {}", raw.detections.len(), limits.max_detections_per_frame);
        return Err(fail((ErrorKind::TooLarge, reason)));
    }
    let detections = raw.detections.iter().enumerate().map(|(i, d)| detection(i, d)).collect::<Result<Vec<_>, _>>().map_err(fail)?;
    Ok(Frame {
        camera_id: raw.camera_id,
        ts_ms: raw.ts_ms,
        frame: raw.frame,
        width: raw.width,
        height: raw.height,
        detections,
        model_version: None,
    })
}

/// The error of a line of `len` bytes, over `[input] max_line_bytes`.
pub fn too_long(len: usize, limits: &InputConfig) -> LineError {
    let reason = format!("a line of {len} bytes or more; [input] max_line_bytes is {} (the line was skipped as it was read)", limits.max_line_bytes);
    LineError { kind: ErrorKind::TooLarge, reason, camera_id: None, ts_ms: None }
}

/// The frame's own fields: a camera id and a non-empty size.
fn check_frame(raw: &RawFrame<'_>) -> Result<(), (ErrorKind, String)> {
    if raw.camera_id.is_empty() {
        return Err((ErrorKind::InvalidFrame, "camera_id is empty".into()));
    }
    if raw.width == 0 || raw.height == 0 {
        return Err((ErrorKind::InvalidFrame, format!("frame size {}x{} is empty", raw.width, raw.height)));
    }
    Ok(())
}

/// Detection `i` of a frame: a COCO class, a confidence in 0..=1, a finite box with x1 < x2, y1 < y2.
fn detection(i: usize, d: &RawDetection<'_>) -> Result<Detection, (ErrorKind, String)> {
    let invalid = |reason: String| (ErrorKind::InvalidDetection, reason);
    let class = ObjectClass::from_name(&d.class)
        .ok_or_else(|| invalid(format!("detections[{i}].class {:?} is not a COCO class name", d.class)))?;
    if !(d.confidence.is_finite() && (0.0..=1.0).contains(&d.confidence)) {
        return Err(invalid(format!("detections[{i}].confidence {} is outside 0..=1", d.confidence)));
    }
    let [x1, y1, x2, y2] = d.bbox;
    if d.bbox.iter().any(|v| !v.is_finite()) {
        return Err(invalid(format!("detections[{i}].bbox {:?} is not finite", d.bbox)));
    }
    if x1 >= x2 || y1 >= y2 {
        return Err(invalid(format!("detections[{i}].bbox {:?} is inverted or empty (need x1 < x2 and y1 < y2)", d.bbox)));
    }
    Ok(Detection {
        class,
        confidence: d.confidence as f32,
        bbox: BBox { x1: x1 as f32, y1: y1 as f32, x2: x2 as f32, y2: y2 as f32 },
    })
}

/// Writes a frame as one JSON line (no trailing newline), the same format [`parse_frame`] reads.
/// Numbers are written in their shortest form that reads back to the same `f32`.
pub fn frame_to_line(frame: &Frame) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(96 + 80 * frame.detections.len());
    let camera = serde_json::to_string(&frame.camera_id).expect("strings serialize");
    let _ = write!(
        out,
        r#"{{"camera_id":{camera},"ts_ms":{},"frame":{},"width":{},"height":{},"detections":["#,
        frame.ts_ms, frame.frame, frame.width, frame.height
    );
    for (i, d) in frame.detections.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let b = &d.bbox;
        let _ = write!(
            out,
            r#"{{"class":"{}","confidence":{},"bbox":[{},{},{},{}]}}"#,
            d.class.name(), d.confidence, b.x1, b.y1, b.x2, b.y2
        );
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"camera_id":"cam-1","ts_ms":1767225600000,"frame":0,"width":1920,"height":1080,"detections":[{"class":"car","confidence":0.87,"bbox":[10,20,110,90]}]}"#;

    #[test]
    fn parses_and_round_trips() {
        let f = parse_frame(GOOD).unwrap();
        assert_eq!(f.detections.len(), 1);
        assert_eq!(f.detections[0].class.name(), "car");
        assert_eq!(parse_frame(&frame_to_line(&f)).unwrap(), f);
    }

    #[test]
    fn a_line_or_a_frame_past_the_input_limits_is_too_large_with_the_limit_named() {
        let limits = InputConfig { max_line_bytes: 1024, max_detections_per_frame: 2 };
        let boxes = |n: usize| {
            let d = r#"{"class":"car","confidence":0.5,"bbox":[0,0,1,1]}"#;
            format!(r#"{{"camera_id":"c","ts_ms":7,"frame":0,"width":10,"height":10,"detections":[{}]}}"#, vec![d; n].join(","))
        };
        assert_eq!(parse_frame_within(&boxes(2), &limits).unwrap().detections.len(), 2);
        let many = parse_frame_within(&boxes(3), &limits).unwrap_err();
        assert_eq!((many.kind, many.camera_id.as_deref(), many.ts_ms), (ErrorKind::TooLarge, Some("c"), Some(7)));
        assert!(many.reason.contains("3 detections") && many.reason.contains("max_detections_per_frame is 2"), "{}", many.reason);
        let long = parse_frame_within(&boxes(30), &limits).unwrap_err();
        assert_eq!(long.kind, ErrorKind::TooLarge);
        assert!(long.reason.contains("max_line_bytes is 1024"), "{}", long.reason);
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            ("{not json", ErrorKind::MalformedJson),
            (r#"{"camera_id":"c","ts_ms":1,"frame":0,"width":10,"height":10,"detections":[{"class":"car","confidence":-0.1,"bbox":[0,0,1,1]}]}"#, ErrorKind::InvalidDetection),
            (r#"{"camera_id":"c","ts_ms":1,"frame":0,"width":10,"height":10,"detections":[{"class":"car","confidence":0.5,"bbox":[5,0,1,1]}]}"#, ErrorKind::InvalidDetection),
            (r#"{"camera_id":"c","ts_ms":1,"frame":0,"width":10,"height":10,"detections":[{"class":"car","confidence":0.5,"bbox":[NaN,0,1,1]}]}"#, ErrorKind::MalformedJson),
            (r#"{"camera_id":"c","ts_ms":1,"frame":0,"width":10,"height":10,"detections":[{"class":"spaceship","confidence":0.5,"bbox":[0,0,1,1]}]}"#, ErrorKind::InvalidDetection),
            (r#"{"camera_id":"c","ts_ms":-5,"frame":0,"width":10,"height":10}"#, ErrorKind::MalformedJson),
            (r#"{"camera_id":"c","ts_ms":1,"frame":0,"width":0,"height":10}"#, ErrorKind::InvalidFrame),
        ];
        for (line, kind) in cases {
            let err = parse_frame(line).unwrap_err();
            assert_eq!(err.kind, kind, "{line}: {err}");
            assert!(!err.reason.is_empty());
        }
    }
}
