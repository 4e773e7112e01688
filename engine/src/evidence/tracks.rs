//! Each camera's recent tracks, as the tracker and the speed query left them: what the
//! snapshot labels (track ids, the violator's box) and the trajectory plot draw. Bounded: a
//! track keeps its last [`MAX_POINTS`] points, a camera its [`MAX_TRACKS`] most recent tracks,
//! and tracks not seen for [`KEEP_MS`] of the camera's event time go (looked for every
//! [`PRUNE_EVERY_MS`] of it).

use itscam_imaging::trajectory::TrackPoint;
use itscam_types::ObjectClass;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Points kept per track.
pub const MAX_POINTS: usize = 600;
/// Tracks kept per camera.
pub const MAX_TRACKS: usize = 4_096;
/// Event time a track is kept after its last point, ms.
pub const KEEP_MS: u64 = 120_000;

/// One tracked observation.
#[derive(Clone, Debug, PartialEq)]
pub struct Obs {
    /// Camera.
    pub camera_id: Arc<str>,
    /// Track id.
    pub track_id: u64,
    /// Class.
    pub class: ObjectClass,
    /// The point.
    pub point: TrackPoint,
    /// Size of the camera's frames.
    pub frame_size: [u32; 2],
}

#[derive(Debug, Default)]
struct Camera {
    tracks: HashMap<u64, (ObjectClass, VecDeque<TrackPoint>)>,
    latest_ts: u64,
    frame_size: [u32; 2],
    /// The camera's event time at which tracks are looked over next (every [`PRUNE_EVERY_MS`]).
    prune_at: u64,
}

/// Event time between two looks at a camera's tracks for ones to let go.
pub const PRUNE_EVERY_MS: u64 = 10_000;

/// The tracks of every camera.
#[derive(Debug, Default)]
pub struct TrackStore {
    cameras: HashMap<Arc<str>, Camera>,
}

impl TrackStore {
    /// Adds observations (in any order across cameras; in time order per track). A camera's
    /// tracks are looked over for ones to let go when it has more than [`MAX_TRACKS`], and every
    /// [`PRUNE_EVERY_MS`] of its event time (not on every batch: with many cameras and fast
    /// replays that look was most of the service's work).
    pub fn add(&mut self, batch: Vec<Obs>) {
        let mut touched: Vec<Arc<str>> = Vec::new();
        for o in batch {
            // Batches come grouped by camera: a camera is noted once per run of its points.
            if touched.last().is_none_or(|c| !Arc::ptr_eq(c, &o.camera_id)) {
                touched.push(o.camera_id.clone());
            }
            let cam = self.cameras.entry(o.camera_id).or_default();
            cam.latest_ts = cam.latest_ts.max(o.point.ts_ms);
            cam.frame_size = o.frame_size;
            let (_, points) = cam.tracks.entry(o.track_id).or_insert_with(|| (o.class, VecDeque::new()));
            if points.back().is_some_and(|p| p.ts_ms >= o.point.ts_ms) {
                continue;
            }
            points.push_back(o.point);
            if points.len() > MAX_POINTS {
                points.pop_front();
            }
        }
        for camera in touched {
            if let Some(cam) = self.cameras.get_mut(&camera)
                && (cam.tracks.len() > MAX_TRACKS || cam.latest_ts >= cam.prune_at)
            {
                cam.prune();
                cam.prune_at = cam.latest_ts + PRUNE_EVERY_MS;
            }
        }
    }

    /// The newest event time seen of `camera`.
    pub fn latest_ts(&self, camera: &str) -> Option<u64> {
        self.cameras.get(camera).map(|c| c.latest_ts)
    }

    /// The frame size of `camera`'s detections.
    pub fn frame_size(&self, camera: &str) -> Option<[u32; 2]> {
        self.cameras.get(camera).map(|c| c.frame_size)
    }

    /// The points of `track` of `camera` from `from_ms` to `to_ms`, in time order.
    pub fn path(&self, camera: &str, track: u64, from_ms: u64, to_ms: u64) -> Vec<TrackPoint> {
        let Some((_, points)) = self.cameras.get(camera).and_then(|c| c.tracks.get(&track)) else { return Vec::new() };
        points.iter().filter(|p| (from_ms..=to_ms).contains(&p.ts_ms)).copied().collect()
    }

    /// Every track of `camera` with a point at `ts_ms` exactly (one frame): id, class, point.
    pub fn at(&self, camera: &str, ts_ms: u64) -> Vec<(u64, ObjectClass, TrackPoint)> {
        let Some(cam) = self.cameras.get(camera) else { return Vec::new() };
        let mut out: Vec<(u64, ObjectClass, TrackPoint)> =
            cam.tracks.iter().filter_map(|(id, (class, points))| points.iter().rev().find(|p| p.ts_ms == ts_ms).map(|p| (*id, *class, *p))).collect();
        out.sort_by_key(|(id, _, _)| *id);
        out
    }
}

impl Camera {
    fn prune(&mut self) {
        let cutoff = self.latest_ts.saturating_sub(KEEP_MS);
        self.tracks.retain(|_, (_, p)| p.back().is_some_and(|l| l.ts_ms >= cutoff));
        if self.tracks.len() > MAX_TRACKS {
            let mut lasts: Vec<(u64, u64)> = self.tracks.iter().map(|(id, (_, p))| (p.back().map_or(0, |l| l.ts_ms), *id)).collect();
            lasts.sort_unstable();
            for (_, id) in lasts.iter().take(self.tracks.len() - MAX_TRACKS) {
                self.tracks.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(track: u64, ts: u64) -> Obs {
        let point = TrackPoint { ts_ms: ts, bbox: [ts as f32, 0.0, ts as f32 + 10.0, 10.0], speed_kmh: Some(30.0) };
        Obs { camera_id: "c".into(), track_id: track, class: ObjectClass(2), point, frame_size: [640, 480] }
    }

    #[test]
    fn paths_and_frames_are_read_back_and_old_tracks_go() {
        let mut store = TrackStore::default();
        store.add((0..10).flat_map(|i| [obs(1, i * 100), obs(2, i * 100)]).collect());
        assert_eq!(store.path("c", 1, 200, 500).len(), 4);
        assert_eq!(store.at("c", 300).iter().map(|(id, _, _)| *id).collect::<Vec<_>>(), vec![1, 2]);
        store.add(vec![obs(3, KEEP_MS + 5_000)]);
        assert!(store.path("c", 1, 0, u64::MAX).is_empty(), "not seen for KEEP_MS: gone");
        assert_eq!(store.latest_ts("c"), Some(KEEP_MS + 5_000));
        store.add((0..(MAX_POINTS as u64 + 10)).map(|i| obs(3, KEEP_MS + 5_001 + i)).collect());
        assert_eq!(store.path("c", 3, 0, u64::MAX).len(), MAX_POINTS);
    }
}
