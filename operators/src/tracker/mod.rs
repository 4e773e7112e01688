//! Per-camera multi-object tracker of the ByteTrack class, free of any dataflow code.
//!
//! Each frame: predict every track with a constant-velocity Kalman filter, then associate in
//! three stages on `1 - IoU`:
//! 1. high-confidence detections with every confirmed track (tracked or lost);
//! 2. low-confidence detections with the confirmed tracks still unmatched that were matched in
//!    the previous frame (low scores only extend tracks that are surely there: occluded objects);
//! 3. tentative tracks with the high-confidence detections left; a tentative track that misses
//!    a frame is dropped.
//!
//! Unmatched high detections at or above `new_track_threshold` start tentative tracks. A track
//! gets an id only once it has `min_hits` matched frames, so false positives never surface. A
//! confirmed track unmatched for more than `max_missed` frames ends. A pair never matches at zero
//! overlap, whatever the configured IoU thresholds.

pub mod assignment;
mod kalman;
#[cfg(test)]
mod tests;

use assignment::Solver;
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
}

impl Track {
    fn new(det: &Detection, ts_ms: u64) -> Self {
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
        }
    }

    fn hit(&mut self, det: &Detection, ts_ms: u64) {
        self.filter.update(&det.bbox);
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
}

impl Scratch {
    /// Assigns `self.cols` detections to `self.rows` tracks where IoU >= `min_iou` (and > 0),
    /// recording matches in `Track::matched` and `self.det_track`.
    fn associate(&mut self, tracks: &mut [Track], dets: &[Detection], min_iou: f32, mode: Assignment) {
        let (n, m) = (self.rows.len(), self.cols.len());
        if n == 0 || m == 0 {
            return;
        }
        self.cost.clear();
        for &t in &self.rows {
            let p = &tracks[t].predicted;
            self.cost.extend(self.cols.iter().map(|&d| {
                let iou = p.iou(&dets[d].bbox);
                // Infinite cost forbids the pair; the f32 comparison keeps the threshold exact.
                if iou > 0.0 && iou >= min_iou { 1.0 - iou as f64 } else { f64::INFINITY }
            }));
        }
        let max_cost = 1.0;
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
}

impl Tracker {
    /// An empty tracker for `camera_id` (stamped on every [`TrackRow`]).
    pub fn new(camera_id: impl Into<String>, config: TrackerConfig) -> Self {
        Tracker {
            camera_id: camera_id.into(),
            config,
            tracks: Vec::new(),
            next_id: 1,
            last_frame: None,
            scratch: Scratch::default(),
        }
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
        }

        let s = &mut self.scratch;
        s.det_track.clear();
        s.det_track.resize(dets.len(), NONE);
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
        s.associate(&mut self.tracks, dets, cfg.match_iou, cfg.assignment);

        // Stage 2: low detections, confirmed tracks matched in the previous frame.
        s.rows.clear();
        s.rows.extend((0..self.tracks.len()).filter(|&t| {
            let t = &self.tracks[t];
            t.id.is_some() && t.matched == NONE && t.missed == 0
        }));
        s.cols.clone_from(&s.low);
        s.associate(&mut self.tracks, dets, cfg.low_match_iou, cfg.assignment);

        // Stage 3: tentative tracks, high detections left.
        s.rows.clear();
        s.rows.extend((0..self.tracks.len()).filter(|&t| self.tracks[t].id.is_none()));
        s.cols.clear();
        s.cols.extend(s.high.iter().copied().filter(|&d| s.det_track[d] == NONE));
        s.associate(&mut self.tracks, dets, cfg.tentative_match_iou, cfg.assignment);

        // Apply the matches and start new tracks in detection order, so that ids are handed out
        // deterministically.
        let mut track_ids = Vec::with_capacity(dets.len());
        for (i, d) in dets.iter().enumerate() {
            let t = match s.det_track[i] {
                NONE => {
                    if d.confidence >= cfg.high_threshold && d.confidence >= cfg.new_track_threshold {
                        let mut track = Track::new(d, frame.ts_ms);
                        track.matched = i;
                        self.tracks.push(track);
                        self.tracks.len() - 1
                    } else {
                        track_ids.push(None);
                        continue;
                    }
                }
                t => {
                    self.tracks[t].hit(d, frame.ts_ms);
                    t
                }
            };
            let track = &mut self.tracks[t];
            if track.id.is_none() && track.hits >= min_hits {
                track.id = Some(self.next_id);
                self.next_id += 1;
            }
            track_ids.push(track.id);
        }

        // Unmatched tracks: tentative ones are dropped, confirmed ones age and may end.
        let mut ended = Vec::new();
        let camera_id = &self.camera_id;
        let max_missed = cfg.max_missed;
        self.tracks.retain_mut(|t| {
            if t.matched != NONE {
                return true;
            }
            let Some(id) = t.id else { return false };
            t.missed = t.missed.saturating_add(steps);
            if t.missed > max_missed {
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
