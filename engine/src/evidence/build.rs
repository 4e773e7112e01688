//! Making one violation's evidence from what the service holds (pure CPU work, no I/O):
//! - **video cameras**: the ring frame closest to the confirmation, its tracked objects
//!   labelled (`#id`), the violator's box in red with its class and speed, the rule's line or
//!   zone in red, as `snapshot.jpg`; the ring frames from `clip_before_ms` before to
//!   `clip_after_ms` after the confirmation, one after the other, as `clip.mjpeg`. People are
//!   already pixelated in ring frames (the camera's privacy).
//! - **detection-only cameras**: the violator's path (its boxes and speeds) and the camera's
//!   lines and zones, as data in `evidence.json` ([`Trajectory`]); the API draws it as
//!   `trajectory.png` when asked ([`Trajectory::png`]). Drawing and coding a picture per
//!   violation, and writing it, cost about twice what the rest of a detections replay did.

use super::paths::{self, CLIP, MANIFEST, SNAPSHOT};
use super::ring::FrameRing;
use super::tracks::TrackStore;
use bytes::Bytes;
use itscam_imaging::scene::{Mark, Scene, overlay};
use itscam_imaging::trajectory::TrackPoint;
use itscam_imaging::{Color, Rgb, codec};
use itscam_types::analytics::ViolationRow;

/// How clips and snapshots are cut and coded.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    /// Clip start before the confirmation, ms.
    pub before_ms: u64,
    /// Clip end after it, ms.
    pub after_ms: u64,
    /// JPEG quality of the snapshot.
    pub quality: u8,
}

/// What `evidence.json` says of the pictures beside it.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Manifest {
    /// The violation.
    pub violation_id: String,
    /// Its camera.
    pub camera_id: String,
    /// Its rule, kind and line or zone.
    pub rule_id: String,
    /// Rule kind.
    pub kind: String,
    /// The rule's line or zone.
    pub place: String,
    /// The track.
    pub track_id: u64,
    /// Event time the episode started, and was confirmed.
    pub ts_start_ms: u64,
    /// Event time of the confirmation.
    pub confirmed_ms: u64,
    /// The snapshot's frame (event time, frame number), when there is one.
    pub snapshot: Option<(u64, u64)>,
    /// The clip's frames (event time, frame number), in order.
    pub clip: Vec<(u64, u64)>,
    /// Points of the trajectory, when there is one.
    pub trajectory_points: usize,
    /// The trajectory of a detection-only camera's violation (absent for video cameras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Trajectory>,
}

/// A detection-only camera's violation as data: what `trajectory.png` draws.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Trajectory {
    /// Size of the camera's frames, px.
    pub frame_size: [u32; 2],
    /// The camera's counting lines: id, from, to (px).
    pub lines: Vec<(String, [f32; 2], [f32; 2])>,
    /// The camera's zones: id, polygon (px).
    pub zones: Vec<(String, Vec<[f32; 2]>)>,
    /// The track from `clip_before_ms` before the episode's start to `clip_after_ms` after the
    /// confirmation: event time, box (x1, y1, x2, y2 px), speed (km/h, when calibrated).
    pub points: Vec<(u64, [f32; 4], Option<f64>)>,
    /// The plot's heading.
    pub title: String,
}

impl Trajectory {
    /// The plot of the violation `manifest` describes, as a PNG (`None` without a trajectory).
    pub fn png(manifest: &Manifest) -> Option<Result<Vec<u8>, itscam_imaging::codec::CodecError>> {
        let t = manifest.trajectory.as_ref()?;
        let scene = Scene { width: t.frame_size[0], height: t.frame_size[1], lines: t.lines.clone(), zones: t.zones.clone() };
        let points: Vec<TrackPoint> = t.points.iter().map(|&(ts_ms, bbox, speed_kmh)| TrackPoint { ts_ms, bbox, speed_kmh }).collect();
        let plot = itscam_imaging::trajectory::Plot { scene: &scene, points: &points, at_ms: manifest.confirmed_ms, highlight: Some(&manifest.place), title: &t.title };
        Some(codec::encode_png(&itscam_imaging::trajectory::render(&plot)))
    }
}

/// The last ring frame decoded for a snapshot (violations confirmed together share it):
/// camera, event time, pixels.
pub type Decoded = Option<(String, u64, Rgb)>;

/// The objects of `v`'s evidence (path, bytes), `evidence.json` last; `ring`: the camera's
/// frames when it has pictures. A video camera whose ring holds nothing of the moment gets the
/// trajectory. Empty when nothing of the violation was seen.
pub fn evidence(v: &ViolationRow, ring: Option<&FrameRing>, tracks: &TrackStore, scene: &Scene, cut: Cut, decoded: &mut Decoded) -> Vec<(String, Bytes)> {
    let at = v.ts_end_ms;
    let from = at.saturating_sub(cut.before_ms);
    let mut manifest = Manifest {
        violation_id: v.violation_id.clone(),
        camera_id: v.camera_id.clone(),
        rule_id: v.rule_id.clone(),
        kind: v.kind.as_str().to_string(),
        place: v.place.clone(),
        track_id: v.track_id,
        ts_start_ms: v.ts_start_ms,
        confirmed_ms: at,
        ..Manifest::default()
    };
    let mut out = Vec::with_capacity(3);
    if let Some(ring) = ring.filter(|r| r.between(from, at + cut.after_ms).next().is_some()) {
        if let Some((snapshot, frame)) = snapshot(v, ring, tracks, scene, cut.quality, decoded) {
            out.push((paths::object(v, SNAPSHOT), snapshot));
            manifest.snapshot = Some(frame);
        }
        let frames: Vec<_> = ring.between(from, at + cut.after_ms).collect();
        manifest.clip = frames.iter().map(|f| (f.ts_ms, f.frame)).collect();
        let mut clip = Vec::with_capacity(frames.iter().map(|f| f.jpeg.len()).sum());
        for f in &frames {
            clip.extend_from_slice(&f.jpeg);
        }
        out.push((paths::object(v, CLIP), Bytes::from(clip)));
    } else {
        let Some(trajectory) = trajectory(v, tracks, scene, cut) else { return Vec::new() };
        manifest.trajectory_points = trajectory.points.len();
        manifest.trajectory = Some(trajectory);
    }
    let json = serde_json::to_vec(&manifest).unwrap_or_default();
    out.push((paths::object(v, MANIFEST), Bytes::from(json)));
    out
}

/// The label of a tracked object.
fn label(id: u64, class: &str, speed: Option<f64>) -> String {
    match speed {
        Some(s) => format!("#{id} {class} {s:.0} km/h"),
        None => format!("#{id} {class}"),
    }
}

fn snapshot(v: &ViolationRow, ring: &FrameRing, tracks: &TrackStore, scene: &Scene, quality: u8, decoded: &mut Decoded) -> Option<(Bytes, (u64, u64))> {
    let frame = ring.nearest(v.ts_end_ms)?;
    let cached = decoded.as_ref().filter(|(camera, ts, _)| *camera == v.camera_id && *ts == frame.ts_ms).map(|(_, _, img)| img.clone());
    let mut img = match cached {
        Some(img) => img,
        None => match codec::decode_jpeg(&frame.jpeg) {
            Ok(img) => {
                *decoded = Some((v.camera_id.clone(), frame.ts_ms, img.clone()));
                img
            }
            Err(e) => {
                tracing::warn!(error = %e, camera = %v.camera_id, "evidence: a ring frame does not decode");
                return None;
            }
        },
    };
    let mut marks: Vec<Mark> = tracks
        .at(&v.camera_id, frame.ts_ms)
        .into_iter()
        .filter(|(id, _, _)| *id != v.track_id)
        .map(|(id, class, p)| Mark { bbox: p.bbox, label: label(id, class.name(), p.speed_kmh), color: Color::GREEN, bold: false })
        .collect();
    // The violator where the frame shows it (its point closest to the frame's time).
    let near = tracks.path(&v.camera_id, v.track_id, frame.ts_ms.saturating_sub(1_000), frame.ts_ms + 1_000);
    if let Some(p) = near.iter().min_by_key(|p| p.ts_ms.abs_diff(frame.ts_ms)) {
        let text = format!("{} {}", label(v.track_id, v.class.name(), p.speed_kmh), v.kind.as_str());
        marks.push(Mark { bbox: p.bbox, label: text, color: Color::RED, bold: true });
    }
    let scene = Scene { width: frame.width, height: frame.height, ..scene.clone() };
    overlay(&mut img, &scene, &marks, Some(&v.place));
    codec::encode_jpeg(&img, quality).map(|j| (Bytes::from(j), (frame.ts_ms, frame.frame))).ok()
}

/// The violator's path around `v`, with the camera's lines and zones; `None` when no point of
/// it was seen.
fn trajectory(v: &ViolationRow, tracks: &TrackStore, scene: &Scene, cut: Cut) -> Option<Trajectory> {
    let points = tracks.path(&v.camera_id, v.track_id, v.ts_start_ms.saturating_sub(cut.before_ms), v.ts_end_ms + cut.after_ms);
    if points.is_empty() {
        return None;
    }
    let frame_size = tracks.frame_size(&v.camera_id).filter(|s| s[0] > 0 && s[1] > 0).unwrap_or([scene.width.max(640), scene.height.max(480)]);
    Some(Trajectory {
        frame_size,
        lines: scene.lines.clone(),
        zones: scene.zones.clone(),
        points: points.iter().map(|p| (p.ts_ms, p.bbox, p.speed_kmh)).collect(),
        title: format!("{} {} #{} {:.1}", v.kind.as_str(), v.camera_id, v.track_id, v.value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::ring::RingFrame;
    use crate::evidence::tracks::Obs;
    use itscam_imaging::trajectory::TrackPoint;
    use itscam_imaging::{Color, Rgb};
    use itscam_types::ObjectClass;

    fn violation() -> ViolationRow {
        ViolationRow {
            violation_id: "r:c:7:1000".into(),
            rule_id: "r".into(),
            kind: itscam_types::config::RuleKind::ZoneIntrusion,
            camera_id: "c".into(),
            track_id: 7,
            class: ObjectClass(2),
            ts_start_ms: 1_000,
            ts_end_ms: 2_000,
            value: 1.0,
            limit_value: None,
            severity: itscam_types::config::Severity::High,
            place: "z".into(),
            ongoing: true,
            evidence: vec![],
        }
    }

    fn store() -> TrackStore {
        let mut tracks = TrackStore::default();
        let obs = |ts: u64| Obs {
            camera_id: "c".into(),
            track_id: 7,
            class: ObjectClass(2),
            point: TrackPoint { ts_ms: ts, bbox: [40.0, 40.0, 80.0, 80.0], speed_kmh: Some(30.0) },
            frame_size: [160, 120],
        };
        tracks.add((0..40).map(|i| obs(i * 100)).collect());
        tracks
    }

    const CUT: Cut = Cut { before_ms: 1_000, after_ms: 1_000, quality: 95 };

    #[test]
    fn a_camera_with_pictures_gets_its_snapshot_with_the_violator_in_red_and_the_clip_of_its_window() {
        let mut ring = FrameRing::new(usize::MAX, 60_000);
        for ts in (0..4_000).step_by(250) {
            let jpeg = codec::encode_jpeg(&Rgb::filled(160, 120, Color::SLATE), 95).unwrap();
            ring.push(RingFrame { ts_ms: ts, frame: ts / 100, width: 160, height: 120, jpeg: Bytes::from(jpeg), boxes: vec![] });
        }
        let out = evidence(&violation(), Some(&ring), &store(), &Scene::default(), CUT, &mut None);
        let names: Vec<&str> = out.iter().map(|(p, _)| p.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["snapshot.jpg", "clip.mjpeg", "evidence.json"]);
        let snapshot = codec::decode_jpeg(&out[0].1).unwrap();
        let edge = snapshot.pixel(60, 40).0;
        assert!(edge[0] > 180 && edge[1] < 90, "the violator's box is red: {edge:?}");
        let manifest: Manifest = serde_json::from_slice(&out[2].1).unwrap();
        assert_eq!(manifest.snapshot, Some((2_000, 20)));
        assert_eq!(manifest.clip.first(), Some(&(1_000, 10)));
        assert_eq!(manifest.clip.last(), Some(&(3_000, 30)));
        assert_eq!(crate::http::evidence::clip_frames(&out[1].1).len(), manifest.clip.len());
    }

    #[test]
    fn a_camera_without_pictures_gets_the_trajectory_and_an_unseen_violation_nothing() {
        let scene = Scene { width: 0, height: 0, lines: vec![("l".into(), [0.0, 60.0], [160.0, 60.0])], zones: vec![("z".into(), vec![[10.0, 10.0], [150.0, 10.0], [150.0, 110.0]])] };
        let out = evidence(&violation(), None, &store(), &scene, CUT, &mut None);
        let names: Vec<&str> = out.iter().map(|(p, _)| p.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["evidence.json"], "the trajectory is data in the manifest");
        let manifest: Manifest = serde_json::from_slice(&out[0].1).unwrap();
        assert_eq!(manifest.trajectory_points, 31, "from start − 1 s to confirmation + 1 s, every 100 ms");
        let t = manifest.trajectory.as_ref().unwrap();
        assert_eq!((t.points.len(), t.points[0].0, t.points[30].0), (31, 0, 3_000));
        assert_eq!((t.frame_size, t.lines.len(), t.zones[0].1.len()), ([160, 120], 1, 3));
        // Drawn when asked: the frame's size, the path's box in red at the confirmation.
        let png = Trajectory::png(&manifest).unwrap().unwrap();
        let img = codec::decode_png(&png).unwrap();
        assert_eq!((img.width, img.height), (160, 120));
        let edge = img.pixel(40, 50).0;
        assert!(edge[0] > 180 && edge[1] < 90, "the violator's box is red: {edge:?}");
        assert!(Trajectory::png(&Manifest::default()).is_none(), "a video camera's manifest has none");
        assert!(evidence(&violation(), None, &TrackStore::default(), &Scene::default(), CUT, &mut None).is_empty());
    }
}
