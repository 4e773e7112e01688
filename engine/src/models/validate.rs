//! Validation at registration: is the file ONNX, does ONNX Runtime load it, do its input and
//! outputs fit the declared family, and what does it do on a fixed set of frames (the first
//! frames of a video, `[models] validation_video`: by default the sample `vtest.avi`) — frames/s, detections per frame and
//! per class, and agreement with the current production version on the same frames.
//!
//! Runs on the caller's thread (the CLI, or a blocking task of the HTTP service): never on a
//! timely worker.

use super::manifest::ValidationReport;
use itscam_operators::video::{Decoder, FfmpegConfig, probe};
use itscam_operators::vision::detector::Detector;
use itscam_operators::vision::monitor::{agreement, matched_per_class};
use itscam_types::config::{ModelConfig, ModelFamily, Source};
use itscam_types::{Detection, VideoFrame};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// What the file is, read from its bytes before ONNX Runtime sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxFacts {
    /// Opset of the default domain, if stated.
    pub opset: Option<i64>,
}

/// Reads the top level of an ONNX `ModelProto` (protobuf): it must have a graph (field 7);
/// the opset of the default domain is the `opset_import` (field 8) whose domain is empty.
pub fn onnx_facts(bytes: &[u8]) -> Result<OnnxFacts, String> {
    let not_onnx = |why: &str| format!("not an ONNX model ({why})");
    let mut at = 0;
    let (mut graph, mut opset) = (false, None);
    while at < bytes.len() {
        let key = varint(bytes, &mut at).ok_or_else(|| not_onnx("truncated field key"))?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(bytes, &mut at).ok_or_else(|| not_onnx("truncated number"))?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = varint(bytes, &mut at).ok_or_else(|| not_onnx("truncated length"))? as usize;
                let end = at.checked_add(len).filter(|e| *e <= bytes.len()).ok_or_else(|| not_onnx("a field runs past the end of the file"))?;
                match field {
                    7 => graph = true,
                    8 => {
                        if let Some((domain, version)) = opset_import(&bytes[at..end])
                            && domain.is_empty()
                        {
                            opset = Some(version);
                        }
                    }
                    _ => {}
                }
                at = end;
            }
            _ => return Err(not_onnx("not a protobuf message")),
        }
        if field == 0 {
            return Err(not_onnx("field number 0"));
        }
    }
    if at != bytes.len() || !graph {
        return Err(not_onnx("no graph"));
    }
    Ok(OnnxFacts { opset })
}

fn opset_import(msg: &[u8]) -> Option<(String, i64)> {
    let (mut at, mut domain, mut version) = (0, String::new(), None);
    while at < msg.len() {
        let key = varint(msg, &mut at)?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let len = varint(msg, &mut at)? as usize;
                domain = String::from_utf8_lossy(msg.get(at..at + len)?).into_owned();
                at += len;
            }
            (2, 0) => version = Some(varint(msg, &mut at)? as i64),
            (_, 0) => {
                varint(msg, &mut at)?;
            }
            (_, 2) => at += varint(msg, &mut at)? as usize,
            _ => return None,
        }
    }
    Some((domain, version?))
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Decodes the first `n` frames of `video` (RGB24 at its own size).
pub fn sample_frames(video: &Path, n: usize) -> Result<Vec<VideoFrame>, String> {
    let source = Source::VideoFile(video.to_path_buf());
    let cfg = FfmpegConfig::default();
    let info = probe(&source, &cfg).map_err(|e| format!("cannot read the validation video {}: {e}", video.display()))?;
    let mut decoder = Decoder::spawn(&source, &info, &cfg).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match decoder.next_frame(Some(std::time::Duration::from_secs(30))).map_err(|e| e.to_string())? {
            Some(rgb) => out.push(VideoFrame { camera_id: "validation".into(), ts_ms: out.len() as u64 * 100, frame: out.len() as u64, width: info.width, height: info.height, rgb }),
            None => break,
        }
    }
    if out.is_empty() {
        return Err(format!("the validation video {} has no frames", video.display()));
    }
    Ok(out)
}

/// A model's detections on the frames, one list per frame, and its frames per second.
pub fn run_on(config: &ModelConfig, frames: &[VideoFrame]) -> Result<(Vec<Vec<Detection>>, f64), String> {
    let mut detector = Detector::open(&ModelConfig { max_batch: 1, ..config.clone() }).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut all = Vec::with_capacity(frames.len());
    // One warm-up frame, not timed.
    detector.detect(&frames[..1], &mut out).map_err(|e| format!("its outputs do not decode: {e}"))?;
    let started = Instant::now();
    for f in frames {
        detector.detect(std::slice::from_ref(f), &mut out).map_err(|e| format!("its outputs do not decode: {e}"))?;
        all.push(out.pop().unwrap_or_default());
    }
    let fps = frames.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok((all, fps))
}

/// The validation report of a model that loaded and ran: detections per frame and class,
/// agreement with `production` (its version and detections on the same frames).
pub fn report(frames_source: String, dets: &[Vec<Detection>], fps: f64, production: Option<(String, &[Vec<Detection>])>) -> ValidationReport {
    let n = dets.len().max(1) as f64;
    let mut per_class: BTreeMap<String, f64> = BTreeMap::new();
    for d in dets.iter().flatten() {
        *per_class.entry(d.class.name().to_string()).or_default() += 1.0 / n;
    }
    let total: usize = dets.iter().map(Vec::len).sum();
    let mut report = ValidationReport {
        passed: total > 0,
        reason: (total == 0).then(|| format!("no detection on any of the {} validation frames", dets.len())),
        frames_source,
        frames: dets.len() as u64,
        frames_per_s: fps,
        detections_per_frame: total as f64 / n,
        per_class,
        ..ValidationReport::default()
    };
    if let Some((version, prod)) = production {
        let mut counts: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for (a, b) in prod.iter().zip(dets) {
            for d in a {
                counts.entry(d.class.name().to_string()).or_default().0 += 1;
            }
            for d in b {
                counts.entry(d.class.name().to_string()).or_default().1 += 1;
            }
            for (class, m) in matched_per_class(a, b, 0.5) {
                counts.entry(class.name().to_string()).or_default().2 += m;
            }
        }
        let (pa, pb, pm) = counts.values().fold((0, 0, 0), |s, c| (s.0 + c.0, s.1 + c.1, s.2 + c.2));
        report.agreement = Some(agreement(pa, pb, pm));
        report.agreement_per_class = counts.into_iter().map(|(c, (a, b, m))| (c, agreement(a, b, m))).collect();
        report.compared_with = Some(version);
    }
    report
}

/// The family and input size a registration declares, checked against the model: the input
/// size is the model's own where it fixes one, else `declared` (default 512×512).
pub fn model_config(path: &Path, family: ModelFamily, declared: Option<(u32, u32)>) -> ModelConfig {
    let (w, h) = declared.unwrap_or((512, 512));
    ModelConfig { path: path.display().to_string(), family, input_width: w, input_height: h, ..ModelConfig::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_model_reads_as_onnx_and_other_files_do_not() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/centernet-mbv3/centernet.onnx")).unwrap();
        let facts = onnx_facts(&bytes).unwrap();
        assert_eq!(facts.opset, Some(17), "converted with opset 17 (models/centernet-mbv3/README.md)");
        for junk in [&b"hello, this is text"[..], b"", b"\x08\x07", &bytes[..bytes.len() / 2]] {
            assert!(onnx_facts(junk).unwrap_err().starts_with("not an ONNX model"), "{junk:?}");
        }
    }
}
