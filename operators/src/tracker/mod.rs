//! Per-camera multi-object tracker of the ByteTrack class, free of any dataflow code.
//!
//! Each frame: predict every track with a constant-velocity Kalman filter of its box (and, on a
//! calibrated camera, of its ground point: see [`ground`]), then associate in four stages:
//! 1. high-confidence detections with every confirmed track (tracked or lost), on `1 - IoU`;
//! 2. low-confidence detections with the confirmed tracks still unmatched that were matched in
//!    the previous frame (low scores only extend tracks that are surely there: occluded objects);
//! 3. tentative tracks with the high-confidence detections left; a tentative track that misses
//!    a frame is dropped;
//! 4. recovery: confirmed tracks still unmatched with the high-confidence detections still left,
//!    on the distance to the track's predicted position rather than on overlap.
//!
//! Stages 1–3 are ByteTrack's. On a calibrated camera every pair of stages 1–3 whose track and
//! detection both have a ground point must also pass the ground gate (squared Mahalanobis
//! distance under the ground filter's innovation covariance at most `gate_chi2`): two boxes
//! that overlap in the image but lie metres apart on the road (a car behind another, a car on
//! the cross street passing in front of a queue) never match, however large the IoU.
//!
//! Stage 4 is the re-activation of BoT-SORT / OC-SORT, by predicted position: a box can jump
//! off its track's prediction by more than the track's own size (an abrupt lane change, a
//! detector that shifts a box, a track coasting through missed frames) and then overlaps
//! nothing. Without stage 4 it would start a new track and the object would change id. Stage 4
//! runs after the tentative tracks have taken their boxes, so a new object appearing next to a
//! lost track keeps its own track. Its distance is the ground Mahalanobis distance with the
//! covariance widened by `recovery_std_m` (1σ, about a lane) on calibrated cameras, and in the
//! image the centre distance under the box filter's covariance widened by `recovery_std_boxes`
//! box sizes, for boxes of similar size (within 2/3..3/2), elsewhere. A new object appearing
//! within that reach of a lost track, with no tentative track yet, can take the lost track's
//! id: the price of recovering real jumps, kept small by running last.
//! Association never looks at the class, so a short confusion of the detector (a truck seen as
//! a bus for a few frames) neither breaks a track nor changes its majority class.
//!
//! Unmatched high detections at or above `new_track_threshold` start tentative tracks. A track
//! gets an id only once it has `min_hits` matched frames, so false positives never surface. A
//! confirmed track unmatched for more than `max_missed` frames ends, and one whose last box
//! touched the image border (it is leaving the view) after `border_max_missed`. A box edge
//! within three `ground_pixel_std` of the border touches it: the box was clipped there and then
//! jittered, so it has no ground point either (its bottom centre is not the object's). A pair never
//! matches at zero overlap in stages 1–3, whatever the configured IoU thresholds.

pub mod assignment;
pub mod ground;
mod kalman;
#[cfg(test)]
mod tests;

use assignment::Solver;
use ground::{GroundFilter, GroundPoint, GroundView};
use itscam_types::config::{Assignment, TrackerConfig};
use itscam_types::{BBox, Detection, Frame, ObjectClass, TrackRow};
use kalman::BoxFilter;

/// Marks "no track" / "no detection" in index buffers.
const NONE: usize = usize::MAX;

/// What one frame did to the tracks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrackUpdate {
    /// For detection `i` of the frame: the id of the confirmed track it was assigned to; `None`
    /// when unmatched, below `low_threshold`, or assigned to a still-tentative track.
    pub track_ids: Vec<Option<u64>>,
    /// Summaries of the confirmed tracks that ended at this frame (missed more than
    /// `max_missed` frames), by track id.
    pub ended: Vec<TrackRow>,
}

/// How often a track was seen as one class, and when last (for the majority vote's ties).
#[derive(Clone, Copy, Debug)]
struct ClassVote {
    class: ObjectClass,
    count: u32,
    /// The track's hit number of the latest detection of this class.
    last_hit: u32,
}

/// One track, tentative (`id == None`) or confirmed.
#[derive(Clone, Debug)]
struct Track {
    filter: BoxFilter,
    /// This frame's predicted box, cached for the IoU matrices.
    predicted: BBox,
    id: Option<u64>,
    /// Matched frames, including the tentative ones.
    hits: u32,
    /// Consecutive frames without a match (0: matched in the latest frame).
    missed: u32,
    first_ts_ms: u64,
    last_ts_ms: u64,
    votes: Vec<ClassVote>,
    /// Detection matched in the current frame, or [`NONE`].
    matched: usize,
    /// Ground-plane filter, once a box of the track had a ground point.
    ground: Option<GroundFilter>,
    /// Whether the latest matched box had a ground point (else `ground` is stale: it restarts
    /// at the next ground point instead of gating it).
    ground_fresh: bool,
    /// Whether the latest matched box touched the image border.
    at_border: bool,
    /// Models whose detections it matched (usually one; two across a model swap).
    models: Vec<std::sync::Arc<str>>,
}

impl Track {
    fn new(det: &Detection, ts_ms: u64, ground: Option<&GroundPoint>, at_border: bool) -> Self {
        let filter = BoxFilter::new(&det.bbox);
        Track {
            filter,
            predicted: det.bbox,
            id: None,
            hits: 1,
            missed: 0,
            first_ts_ms: ts_ms,
            last_ts_ms: ts_ms,
            votes: vec![ClassVote { class: det.class, count: 1, last_hit: 1 }],
            matched: NONE,
            ground: ground.map(|g| GroundFilter::new(g, ts_ms)),
            ground_fresh: ground.is_some(),
            at_border,
            models: Vec::new(),
        }
    }

    fn hit(&mut self, det: &Detection, ts_ms: u64, ground: Option<&GroundPoint>, at_border: bool) {
        self.filter.update(&det.bbox);
        match (ground, &mut self.ground) {
            (Some(g), Some(f)) if self.ground_fresh => f.update(g),
            (Some(g), _) => self.ground = Some(GroundFilter::new(g, ts_ms)),
            (None, _) => {}
        }
        self.ground_fresh = ground.is_some();
        self.at_border = at_border;
        self.hits += 1;
        self.missed = 0;
        self.last_ts_ms = ts_ms;
        let hit = self.hits;
        match self.votes.iter_mut().find(|v| v.class == det.class) {
            Some(v) => {
                v.count += 1;
                v.last_hit = hit;
            }
            None => self.votes.push(ClassVote { class: det.class, count: 1, last_hit: hit }),
        }
    }

    /// Majority class; a tie goes to the tied class seen most recently (hit numbers are unique,
    /// so this always decides).
    fn class(&self) -> ObjectClass {
        self.votes.iter().max_by_key(|v| (v.count, v.last_hit)).map(|v| v.class).expect("a track has a detection")
    }

    fn row(&self, camera_id: &str, id: u64) -> TrackRow {
        TrackRow {
            camera_id: camera_id.to_string(),
            track_id: id,
            class: self.class(),
            first_ts_ms: self.first_ts_ms,
            last_ts_ms: self.last_ts_ms,
            frames: self.hits as u64,
            mean_speed_kmh: None,
            max_speed_kmh: None,
            model_versions: (!self.models.is_empty()).then(|| {
                let mut names: Vec<&str> = self.models.iter().map(|m| &**m).collect();
                names.sort_unstable();
                names.join(",")
            }),
        }
    }
}

/// Buffers reused from frame to frame.
#[derive(Debug, Default)]
struct Scratch {
    /// Detection indices at or above `high_threshold`.
    high: Vec<usize>,
    /// Detection indices in `[low_threshold, high_threshold)`.
    low: Vec<usize>,
    /// Track indices taking part in the current stage.
    rows: Vec<usize>,
    /// Detection indices taking part in the current stage.
    cols: Vec<usize>,
    cost: Vec<f64>,
    pairs: Vec<(usize, usize)>,
    solver: Solver,
    /// Per detection: the track index it was matched to, or [`NONE`].
    det_track: Vec<usize>,
    /// Per detection: its ground point (calibrated cameras, boxes clear of the border).
    det_ground: Vec<Option<GroundPoint>>,
    /// Per detection: whether its box touches the image border.
    det_border: Vec<bool>,
}

/// The ground gate of a pair: `true` when it may match (no ground point on either side, a
/// stale filter, or a squared Mahalanobis distance within `gate`).
fn ground_gate(track: &Track, det: Option<&GroundPoint>, gate: f64) -> bool {
    match (&track.ground, det) {
        (Some(f), Some(g)) if track.ground_fresh => f.distance2(g, 0.0) <= gate,
        _ => true,
    }
}

/// Stage 4's squared distance of a pair, `None` when it may not match: see the module docs.
fn recovery_distance2(track: &Track, det: &Detection, ground: Option<&GroundPoint>, calibrated: bool, cfg: &TrackerConfig) -> Option<f64> {
    let d2 = if calibrated {
        // Both sides need a ground point: a box at the border says nothing about where it is.
        let (f, g) = (track.ground.as_ref().filter(|_| track.ground_fresh)?, ground?);
        if cfg.recovery_std_m <= 0.0 {
            return None;
        }
        f.distance2(g, cfg.recovery_std_m)
    } else {
        let k = cfg.recovery_std_boxes;
        let (p, b) = (&track.predicted, &det.bbox);
        let (pw, ph) = (f64::from(p.width()).max(1.0), f64::from(p.height()).max(1.0));
        let (rw, rh) = (f64::from(b.width()) / pw, f64::from(b.height()) / ph);
        let similar = |r: f64| (2.0 / 3.0..=1.5).contains(&r);
        if k <= 0.0 || !similar(rw) || !similar(rh) {
            return None;
        }
        let (var, meas) = (track.filter.centre_var(), track.filter.centre_meas_var());
        let dx = (f64::from(p.x1) + f64::from(p.x2) - f64::from(b.x1) - f64::from(b.x2)) / 2.0;
        let dy = (f64::from(p.y1) + f64::from(p.y2) - f64::from(b.y1) - f64::from(b.y2)) / 2.0;
        dx * dx / (var[0] + meas[0] + (k * pw).powi(2)) + dy * dy / (var[1] + meas[1] + (k * ph).powi(2))
    };
    (d2 <= cfg.gate_chi2).then_some(d2)
}

impl Scratch {
    /// Assigns `self.cols` detections to `self.rows` tracks where IoU >= `min_iou` (and > 0),
    /// recording matches in `Track::matched` and `self.det_track`.
    /// Pairs failing the ground gate (`gate`) are forbidden.
    fn associate(&mut self, tracks: &mut [Track], dets: &[Detection], min_iou: f32, gate: f64, mode: Assignment) {
        let (n, m) = (self.rows.len(), self.cols.len());
        if n == 0 || m == 0 {
            return;
        }
        self.cost.clear();
        for &t in &self.rows {
            let track = &tracks[t];
            let p = &track.predicted;
            self.cost.extend(self.cols.iter().map(|&d| {
                let iou = p.iou(&dets[d].bbox);
                // Infinite cost forbids the pair; the f32 comparison keeps the threshold exact.
                if iou > 0.0 && iou >= min_iou && ground_gate(track, self.det_ground[d].as_ref(), gate) {
                    1.0 - iou as f64
                } else {
                    f64::INFINITY
                }
            }));
        }
        self.solve(tracks, 1.0, mode);
    }

    /// Stage 4: `self.rows` tracks and `self.cols` detections on [`recovery_distance2`], scaled
    /// to `[0, 1]` by the gate.
    fn recover(&mut self, tracks: &mut [Track], dets: &[Detection], calibrated: bool, cfg: &TrackerConfig) {
        let (n, m) = (self.rows.len(), self.cols.len());
        if n == 0 || m == 0 {
            return;
        }
        self.cost.clear();
        for &t in &self.rows {
            let track = &tracks[t];
            self.cost.extend(self.cols.iter().map(|&d| {
                recovery_distance2(track, &dets[d], self.det_ground[d].as_ref(), calibrated, cfg)
                    .map_or(f64::INFINITY, |d2| d2 / cfg.gate_chi2)
            }));
        }
        self.solve(tracks, 1.0, cfg.assignment);
    }

    /// Solves `self.cost` (`rows x cols`) and records the matches.
    fn solve(&mut self, tracks: &mut [Track], max_cost: f64, mode: Assignment) {
        let (n, m) = (self.rows.len(), self.cols.len());
        match mode {
            Assignment::Optimal => self.solver.optimal(&self.cost, n, m, max_cost, &mut self.pairs),
            Assignment::Greedy => self.solver.greedy(&self.cost, n, m, max_cost, &mut self.pairs),
        }
        for &(r, c) in &self.pairs {
            let (t, d) = (self.rows[r], self.cols[c]);
            tracks[t].matched = d;
            self.det_track[d] = t;
        }
    }
}

/// Multi-object tracker for one camera. Feed it every frame in event-time order.
#[derive(Debug)]
pub struct Tracker {
    camera_id: String,
    config: TrackerConfig,
    /// Tentative and confirmed tracks, oldest first.
    tracks: Vec<Track>,
    /// Next id to hand out: ids start at 1 and are never reused.
    next_id: u64,
    last_frame: Option<u64>,
    scratch: Scratch,
    /// The camera's ground, when it is calibrated and `ground_association` is on.
    ground: Option<GroundView>,
}

impl Tracker {
    /// An empty tracker for `camera_id` (stamped on every [`TrackRow`]), associating in the
    /// image only.
    pub fn new(camera_id: impl Into<String>, config: TrackerConfig) -> Self {
        Tracker {
            camera_id: camera_id.into(),
            config,
            tracks: Vec::new(),
            next_id: 1,
            last_frame: None,
            scratch: Scratch::default(),
            ground: None,
        }
    }

    /// An empty tracker for a camera calibrated with `homography`: it also associates on the
    /// ground plane, unless `config.ground_association` is off.
    pub fn calibrated(camera_id: impl Into<String>, config: TrackerConfig, homography: itscam_geo::Homography) -> Self {
        let ground = config.ground_association.then(|| GroundView::new(homography, config.ground_pixel_std));
        Tracker { ground, ..Tracker::new(camera_id, config) }
    }

    /// The camera's scene changed while it runs: ends every track (as [`Tracker::finish`]; ids
    /// keep counting up, so none is reused) and associates from now on with `homography`'s
    /// ground plane (none: in the image only).
    pub fn recalibrate(&mut self, homography: Option<itscam_geo::Homography>) -> Vec<TrackRow> {
        let ended = self.finish();
        self.ground = homography.filter(|_| self.config.ground_association).map(|h| GroundView::new(h, self.config.ground_pixel_std));
        ended
    }

    /// Confirmed tracks alive (tracked or lost).
    pub fn live_tracks(&self) -> usize {
        self.tracks.iter().filter(|t| t.id.is_some()).count()
    }

    /// Tracks one frame: returns the confirmed track id of each detection and the tracks that
    /// ended here. Call it for every frame, with or without detections, in frame order.
    pub fn update(&mut self, frame: &Frame) -> TrackUpdate {
        let cfg = &self.config;
        let dets = &frame.detections;
        let min_hits = cfg.min_hits.max(1);

        // Predict as many steps as frames have passed, so that gaps in the frame numbers keep
        // the boxes where the objects are; beyond max_missed + 1 the track ends anyway.
        let steps = match self.last_frame {
            Some(last) if frame.frame > last => (frame.frame - last).min(cfg.max_missed as u64 + 1) as u32,
            _ => 1,
        };
        self.last_frame = Some(frame.frame);
        for t in &mut self.tracks {
            if t.missed > 0 {
                t.filter.freeze_size();
            }
            t.filter.predict(steps);
            t.predicted = t.filter.bbox();
            t.matched = NONE;
            if let Some(g) = &mut t.ground {
                g.predict(frame.ts_ms, cfg.ground_accel_std);
            }
        }

        let s = &mut self.scratch;
        s.det_track.clear();
        s.det_track.resize(dets.len(), NONE);
        s.det_border.clear();
        let margin = itscam_types::border_margin_px(cfg.ground_pixel_std);
        s.det_border.extend(dets.iter().map(|d| d.bbox.touches_border(frame.width, frame.height, margin)));
        s.det_ground.clear();
        s.det_ground.extend(dets.iter().map(|d| self.ground.as_ref().and_then(|g| g.point(&d.bbox, frame.width, frame.height))));
        let calibrated = self.ground.is_some();
        s.high.clear();
        s.low.clear();
        for (i, d) in dets.iter().enumerate() {
            // NaN confidences fail both tests and are ignored.
            if d.confidence >= cfg.high_threshold {
                s.high.push(i);
            } else if d.confidence >= cfg.low_threshold {
                s.low.push(i);
            }
        }

        // Stage 1: high detections, every confirmed track.
        s.rows.clear();
        s.rows.extend((0..self.tracks.len()).filter(|&t| self.tracks[t].id.is_some()));
        s.cols.clone_from(&s.high);
        s.associate(&mut self.tracks, dets, cfg.match_iou, cfg.gate_chi2, cfg.assignment);

        // Stage 2: low detections, confirmed tracks matched in the previous frame.
        s.rows.clear();
        s.rows.extend((0..self.tracks.len()).filter(|&t| {
            let t = &self.tracks[t];
            t.id.is_some() && t.matched == NONE && t.missed == 0
        }));
        s.cols.clone_from(&s.low);
        s.associate(&mut self.tracks, dets, cfg.low_match_iou, cfg.gate_chi2, cfg.assignment);

        // Stage 3: tentative tracks, high detections left.
        s.rows.clear();
        s.rows.extend((0..self.tracks.len()).filter(|&t| self.tracks[t].id.is_none()));
        s.cols.clear();
        s.cols.extend(s.high.iter().copied().filter(|&d| s.det_track[d] == NONE));
        s.associate(&mut self.tracks, dets, cfg.tentative_match_iou, cfg.gate_chi2, cfg.assignment);

        // Stage 4: recovery of confirmed tracks still unmatched, high detections still left.
        s.rows.clear();
        s.rows.extend((0..self.tracks.len()).filter(|&t| self.tracks[t].id.is_some() && self.tracks[t].matched == NONE));
        s.cols.clear();
        s.cols.extend(s.high.iter().copied().filter(|&d| s.det_track[d] == NONE));
        s.recover(&mut self.tracks, dets, calibrated, cfg);

        // Apply the matches and start new tracks in detection order, so that ids are handed out
        // deterministically.
        let mut track_ids = Vec::with_capacity(dets.len());
        for (i, d) in dets.iter().enumerate() {
            let t = match s.det_track[i] {
                NONE => {
                    if d.confidence >= cfg.high_threshold && d.confidence >= cfg.new_track_threshold {
                        let mut track = Track::new(d, frame.ts_ms, s.det_ground[i].as_ref(), s.det_border[i]);
                        track.matched = i;
                        self.tracks.push(track);
                        self.tracks.len() - 1
                    } else {
                        track_ids.push(None);
                        continue;
                    }
                }
                t => {
                    self.tracks[t].hit(d, frame.ts_ms, s.det_ground[i].as_ref(), s.det_border[i]);
                    t
                }
            };
            let track = &mut self.tracks[t];
            if let Some(model) = &frame.model_version
                && !track.models.iter().any(|m| m == model)
            {
                track.models.push(model.clone());
            }
            if track.id.is_none() && track.hits >= min_hits {
                track.id = Some(self.next_id);
                self.next_id += 1;
            }
            track_ids.push(track.id);
        }

        // Unmatched tracks: tentative ones are dropped, confirmed ones age and may end.
        let mut ended = Vec::new();
        let camera_id = &self.camera_id;
        let (max_missed, border_max_missed) = (cfg.max_missed, cfg.border_max_missed);
        self.tracks.retain_mut(|t| {
            if t.matched != NONE {
                return true;
            }
            let Some(id) = t.id else { return false };
            t.missed = t.missed.saturating_add(steps);
            if t.missed > max_missed || (t.at_border && t.missed > border_max_missed) {
                ended.push(t.row(camera_id, id));
                return false;
            }
            true
        });
        ended.sort_unstable_by_key(|r| r.track_id);
        TrackUpdate { track_ids, ended }
    }

    /// End of stream: summaries of every confirmed track still alive, by id. Tentative tracks
    /// are dropped. Afterwards the tracker is empty; ids keep counting up.
    pub fn finish(&mut self) -> Vec<TrackRow> {
        let mut rows: Vec<TrackRow> =
            self.tracks.drain(..).filter_map(|t| t.id.map(|id| t.row(&self.camera_id, id))).collect();
        rows.sort_unstable_by_key(|r| r.track_id);
        self.last_frame = None;
        rows
    }
}
