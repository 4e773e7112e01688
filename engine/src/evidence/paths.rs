//! Where a violation's evidence lives in the lake: one folder per violation,
//! `evidence/camera_id=<camera>/date=<YYYY-MM-DD>/<ts_start_ms>-<rule>-<track>/`, holding
//! `snapshot.jpg` and `clip.mjpeg` (video cameras), and `evidence.json` (for detection-only
//! cameras with the trajectory as data, which the API draws as `trajectory.png`). A function of the violation alone, so the alert raised at confirmation and the
//! `violations` row written when the episode closes name the objects before they are written,
//! and a restart names the same ones.

use itscam_types::analytics::ViolationRow;

/// The snapshot at confirmation, with the object's box and the rule's line or zone drawn.
pub const SNAPSHOT: &str = "snapshot.jpg";
/// The clip around the confirmation: the camera's ring frames as one Motion-JPEG stream
/// (JPEG pictures one after the other; `ffplay clip.mjpeg` plays it).
pub const CLIP: &str = "clip.mjpeg";
/// The track's path over the camera's lines and zones (detection-only cameras): drawn by the
/// API from the manifest's trajectory (lakes written before 2026-12-08 hold it as an object).
pub const TRAJECTORY: &str = "trajectory.png";
/// What the pictures show: the violation, the snapshot's and the clip's frames (event time,
/// frame number), written with them (`build::Manifest`).
pub const MANIFEST: &str = "evidence.json";
/// The object `name` of `v`'s evidence, relative to the lake root (the folder's key is
/// `<rule>-<track>`: with the camera and the start in the path, one violation's).
pub fn object(v: &ViolationRow, name: &str) -> String {
    itscam_sinks::evidence_path(&v.camera_id, v.ts_start_ms, &format!("{}-{}", v.rule_id, v.track_id), name)
}

/// The objects `v`'s evidence will have: a snapshot and a clip for a camera with pictures;
/// then the manifest (which holds the trajectory of a camera without).
pub fn planned(v: &ViolationRow, has_pictures: bool) -> Vec<String> {
    let pictures: &[&str] = if has_pictures { &[SNAPSHOT, CLIP] } else { &[] };
    pictures.iter().chain(&[MANIFEST]).map(|name| object(v, name)).collect()
}

/// The media type of an evidence object, by its name.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("mjpeg") => "video/x-motion-jpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violations_objects_are_a_function_of_camera_start_rule_and_track() {
        let v = ViolationRow {
            violation_id: "speeding-1:cam-1:7:1767225612345".into(),
            rule_id: "speeding-1".into(),
            kind: itscam_types::config::RuleKind::Speeding,
            camera_id: "cam-1".into(),
            track_id: 7,
            class: itscam_types::ObjectClass(2),
            ts_start_ms: 1_767_225_612_345,
            ts_end_ms: 1_767_225_613_000,
            value: 60.0,
            limit_value: Some(50.0),
            severity: itscam_types::config::Severity::High,
            place: "approach".into(),
            ongoing: true,
            evidence: vec![],
        };
        assert_eq!(object(&v, SNAPSHOT), "evidence/camera_id=cam-1/date=2026-01-01/1767225612345-speeding-1-7/snapshot.jpg");
        assert_eq!(planned(&v, true)[1], "evidence/camera_id=cam-1/date=2026-01-01/1767225612345-speeding-1-7/clip.mjpeg");
        let dir = "evidence/camera_id=cam-1/date=2026-01-01/1767225612345-speeding-1-7/";
        assert_eq!(planned(&v, false), vec![format!("{dir}evidence.json")]);
        assert_eq!(content_type(CLIP), "video/x-motion-jpeg");
    }
}
