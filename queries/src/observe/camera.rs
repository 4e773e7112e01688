//! Per-camera, per-track state of the observe step: ground position and speed, line crossings
//! with hysteresis, zone stays with an exit grace, and per-window parts of the traffic
//! metrics. Pure logic, fed in event-time order by the operator in `mod.rs`.
//!
//! Speeds come twice: the causal filter's at each point, for the rules, crossings and zone
//! facts (no added alert latency), and the fixed-lag smoother's, `smooth_lag_ms` later, for the
//! stored detection rows, the tracks' mean and max, the metrics windows and (unless
//! `[analytics.speed] speed_rules_smoothed = false`) a second zone fact per point
//! (`facts::Readers`) for the rules that weigh a speed against a limit. A calibrated
//! camera's tracked detection rows wait in their track's smoother until then
//! ([`CameraObserver::release`]) or until the track ends.

use super::{ObserveSettings, PointBatch, TrackPart};
use crate::facts::{CrossPoint, Readers, TrackPoint, ZonePoint, to_ck, unit_milli};
use crate::scene::CameraScene;
use itscam_geo::{FixedLagSmoother, LineMemory, LineSide, Smoothed};
use itscam_types::analytics::{Direction, LineCrossingRow, ZoneEventRow};
use itscam_types::{DetectionRow, ObjectClass, TrackRow, border_margin_px};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Speed (km/h) from which a calibrated track counts as moving.
const MOVING_KMH: f64 = 3.0;
/// Image speed (px/s) from which an uncalibrated track counts as moving.
const MOVING_PX_S: f64 = 5.0;
/// Gaps longer than this do not count as presence in a window (ms).
const MAX_PRESENCE_GAP_MS: u64 = 1_000;

/// A multiply-rotate hasher (FxHash's) for the track ids that key the per-track maps, looked
/// up for every point and every released row: std's SipHash was a few per cent of the queries
/// benchmark. The ids come from the tracker, not from outside, and nothing iterates these maps
/// in their order where it could show (releases and windows are sorted).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by track id.
pub(crate) type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Clone, Debug, Default)]
struct ZoneState {
    inside: bool,
    enter_ts: u64,
    last_inside_ts: u64,
    outside_since: Option<u64>,
}

#[derive(Clone, Debug)]
struct TrackState {
    /// The speed filter and smoother (calibrated cameras), holding this track's detection rows
    /// (with the dataflow time they came at) until their smoothed speed is known.
    smoother: Option<FixedLagSmoother<(u64, DetectionRow)>>,
    class_counts: Vec<(ObjectClass, u32)>,
    last_ts: u64,
    last_px: Option<[f64; 2]>,
    /// Smoothed image velocity, px/s.
    vel_px: [f64; 2],
    /// The causal filter's speed at the latest point (rules, crossings), and its standard
    /// deviation, km/h.
    speed: Option<f64>,
    speed_std: Option<f64>,
    /// Over the smoothed speeds of the released rows.
    speed_sum: f64,
    speed_n: u64,
    speed_max: Option<f64>,
    lines: Vec<LineMemory>,
    zones: Vec<ZoneState>,
    /// The stays as the smoothed rows see them, `smooth_lag_ms` late (calibrated cameras).
    smooth_zones: Vec<ZoneState>,
    /// Who reads its causal zone facts: every rule, or (with smoothed facts for the rules
    /// that call `speed_over`) the others.
    causal_readers: Readers,
}

/// Where a confirmed track is now.
struct At {
    track: u64,
    ts: u64,
    /// Ground point of its box in the image.
    px: [f64; 2],
    /// Majority class so far.
    class: ObjectClass,
}

/// The ground point of a box in the image: its bottom centre.
fn bottom_centre(d: &DetectionRow) -> [f64; 2] {
    [(f64::from(d.x1) + f64::from(d.x2)) / 2.0, f64::from(d.y2)]
}

/// Adds a point to a track's part of a window (`prev_ts`: its previous point); its speed
/// comes with its row ([`add_speed_to_part`]).
fn add_to_part(part: &mut TrackPart, ts: u64, prev_ts: u64) {
    if part.points > 0 && ts > prev_ts {
        part.presence_ms += (ts - prev_ts).min(MAX_PRESENCE_GAP_MS);
    }
    part.points += 1;
}

/// Adds the stored speed of one of a track's points to its part of a window.
fn add_speed_to_part(part: &mut TrackPart, speed: f64) {
    part.speed_sum_ck += to_ck(speed);
    part.speed_n += 1;
}

impl TrackState {
    fn new(scene: &CameraScene, settings: &ObserveSettings, ts: u64) -> TrackState {
        TrackState {
            smoother: scene.homography.as_ref().map(|_| FixedLagSmoother::new(settings.speed, settings.smooth_lag_ms)),
            class_counts: Vec::new(),
            last_ts: ts,
            last_px: None,
            vel_px: [0.0, 0.0],
            speed: None,
            speed_std: None,
            speed_sum: 0.0,
            speed_n: 0,
            speed_max: None,
            lines: vec![LineMemory::default(); scene.lines.len()],
            zones: vec![ZoneState::default(); scene.zones.len()],
            smooth_zones: vec![ZoneState::default(); scene.zones.len()],
            causal_readers: if scene.homography.is_some() && settings.speed_rules_smoothed { Readers::NotSpeed } else { Readers::Every },
        }
    }

    fn count_class(&mut self, class: ObjectClass) {
        match self.class_counts.iter_mut().find(|(c, _)| *c == class) {
            Some((_, n)) => *n += 1,
            None => self.class_counts.push((class, 1)),
        }
    }

    /// Image velocity (direction of travel), exponentially smoothed.
    fn follow_image(&mut self, ts: u64, px: [f64; 2]) {
        if let Some(last) = self.last_px
            && ts > self.last_ts
        {
            let dt = (ts - self.last_ts) as f64 / 1000.0;
            let v = [(px[0] - last[0]) / dt, (px[1] - last[1]) / dt];
            self.vel_px = [0.7 * self.vel_px[0] + 0.3 * v[0], 0.7 * self.vel_px[1] + 0.3 * v[1]];
        }
    }

    /// Ground speed through the filter, with the measurement noise of this image point: the
    /// causal speed of this point once the filter is warm. The row waits in the smoother for
    /// its smoothed speed (`Err` gives it back: no calibration, nothing to wait for).
    // The row is moved in and handed back whole, not copied: its size is no cost here.
    #[allow(clippy::result_large_err)]
    fn follow_ground(&mut self, scene: &CameraScene, settings: &ObserveSettings, px: [f64; 2], ground: Option<(f64, f64)>, time: u64, d: DetectionRow) -> Result<(), DetectionRow> {
        let (Some(smoother), Some(h)) = (self.smoother.as_mut(), scene.homography.as_ref()) else { return Err(d) };
        let Some((gx, gy)) = ground else {
            smoother.skip(d.ts_ms, (time, d));
            return Ok(());
        };
        // A box clipped by the image border (a vehicle leaving the view) says where the border
        // is, not where the vehicle is: the filter's prediction stands for it.
        let [width, height] = d.frame_size;
        if d.bbox().touches_border(width, height, border_margin_px(settings.pixel_noise_px)) {
            smoother.predict(d.ts_ms, (time, d));
            return Ok(());
        }
        let noise = h.ground_std_m(px[0], px[1], settings.pixel_noise_px).unwrap_or(settings.speed.meas_std);
        smoother.update(d.ts_ms, gx, gy, noise.max(0.01), (time, d));
        let filter = smoother.filter();
        (self.speed, self.speed_std) = if filter.is_warm() { (Some(filter.speed_kmh()), Some(filter.speed_std_kmh())) } else { (None, None) };
        Ok(())
    }

    /// A row out of the smoother: its stored speed, counted in the track's and its window's
    /// speeds.
    fn finish_row(&mut self, mut d: DetectionRow, reading: Option<Smoothed>, window: &mut TrackPart) -> DetectionRow {
        if let Some(r) = reading.filter(|r| r.warm) {
            let s = r.speed_kmh;
            d.speed_kmh = Some(s);
            self.speed_sum += s;
            self.speed_n += 1;
            self.speed_max = Some(self.speed_max.map_or(s, |m: f64| m.max(s)));
            add_speed_to_part(window, s);
        }
        d
    }

    /// Lines, with hysteresis: a crossing is a fact for the rules and a `line_crossings` row.
    fn cross_lines(&mut self, scene: &CameraScene, hysteresis_px: f64, at: &At, out: &mut PointBatch) {
        for (line, memory) in scene.lines.iter().zip(self.lines.iter_mut()) {
            let Some(to) = line.line.track(memory, at.px, hysteresis_px) else { continue };
            // From the right-hand side to the left is forward.
            let direction = match to {
                LineSide::Left => Direction::Forward,
                LineSide::Right => Direction::Backward,
            };
            let (track, ts, class, speed_kmh) = (at.track, at.ts, at.class, self.speed);
            out.crossing_facts.push((
                line.place.clone(),
                CrossPoint { track, ts, class, direction, speed_ck: speed_kmh.map(to_ck) },
            ));
            out.crossing_rows.push(LineCrossingRow {
                camera_id: scene.camera_id.to_string(),
                line_id: line.id.clone(),
                track_id: track,
                class,
                ts_ms: ts,
                direction,
                speed_kmh,
            });
        }
    }

    /// Zones, with an exit grace: a point inside is a fact; a stay ends once the track has
    /// been outside for the grace, as a fact, a `zone_events` row and an exit of the window.
    fn follow_zones(&mut self, scene: &CameraScene, grace_ms: u64, at: &At, exits: &mut HashMap<String, ZoneWindowAcc>, out: &mut PointBatch) {
        let (track, ts) = (at.track, at.ts);
        for (i, zone) in scene.zones.iter().enumerate() {
            let inside = zone.polygon.contains(at.px[0], at.px[1]);
            let zs = &mut self.zones[i];
            if inside {
                if !zs.inside {
                    zs.inside = true;
                    zs.enter_ts = ts;
                }
                zs.last_inside_ts = ts;
                zs.outside_since = None;
                out.zone_facts.push((zone.place.clone(), self.zone_point(track, ts, false)));
            } else if zs.inside {
                let since = *zs.outside_since.get_or_insert(ts);
                if ts - since >= grace_ms {
                    let (enter, exit) = (zs.enter_ts, zs.last_inside_ts);
                    zs.inside = false;
                    zs.outside_since = None;
                    out.zone_facts.push((zone.place.clone(), self.zone_point(track, ts, true)));
                    out.zone_events.push(zone_event(scene, zone.id.clone(), track, at.class, enter, exit));
                    let acc = exits.entry(zone.id.clone()).or_default();
                    acc.exits += 1;
                    acc.dwell_ms_sum += exit - enter;
                }
            }
        }
    }

    fn class(&self) -> ObjectClass {
        self.class_counts.iter().max_by_key(|(c, n)| (*n, std::cmp::Reverse(*c))).map(|(c, _)| *c).unwrap_or(ObjectClass(2))
    }

    fn moving(&self) -> bool {
        match (self.smoother.is_some(), self.speed) {
            (true, Some(s)) => s >= MOVING_KMH,
            (true, None) => false,
            (false, _) => self.vel_px[0].hypot(self.vel_px[1]) >= MOVING_PX_S,
        }
    }

    fn track_point(&self, scene: &CameraScene, track: u64, ts: u64, ground: Option<(f64, f64)>, ended: bool) -> TrackPoint {
        let zones = scene.zones.iter().zip(&self.zones).filter(|(_, s)| s.inside).map(|(z, _)| z.place.id.clone()).collect();
        TrackPoint {
            track,
            ts,
            class: self.class(),
            ground,
            speed_ck: self.speed.map(to_ck),
            speed_std_ck: self.speed_std.map(to_ck),
            moving: self.moving(),
            dir: unit_milli(self.vel_px[0], self.vel_px[1]),
            zones,
            ended,
        }
    }

    fn zone_point(&self, track: u64, ts: u64, left: bool) -> ZonePoint {
        ZonePoint {
            track,
            ts,
            class: self.class(),
            speed_ck: self.speed.map(to_ck),
            speed_std_ck: self.speed_std.map(to_ck),
            moving: self.moving(),
            dir: unit_milli(self.vel_px[0], self.vel_px[1]),
            left,
            readers: self.causal_readers,
        }
    }

    /// A row out of the smoother as zone facts with its smoothed speed (`smoothed`), for the
    /// rules that weigh a speed against a limit: the smoother has neither the causal filter's
    /// lag behind braking and acceleration nor half its noise, and needs no warm-up at a
    /// track's first frames. The stays follow these rows with the same exit grace.
    fn smoothed_zone_facts(&mut self, scene: &CameraScene, grace_ms: u64, d: &DetectionRow, reading: Option<Smoothed>, out: &mut PointBatch) {
        if self.causal_readers == Readers::Every {
            return; // the causal facts serve every rule
        }
        let Some(track) = d.track_id else { return };
        let px = bottom_centre(d);
        let reading = reading.filter(|r| r.warm);
        let point = ZonePoint {
            track,
            ts: d.ts_ms,
            class: self.class(),
            speed_ck: reading.map(|r| to_ck(r.speed_kmh)),
            speed_std_ck: reading.map(|r| to_ck(r.speed_std_kmh)),
            moving: reading.is_some_and(|r| r.speed_kmh >= MOVING_KMH),
            dir: unit_milli(self.vel_px[0], self.vel_px[1]),
            left: false,
            readers: Readers::Speed,
        };
        for (zone, zs) in scene.zones.iter().zip(self.smooth_zones.iter_mut()) {
            if zone.polygon.contains(px[0], px[1]) {
                zs.inside = true;
                zs.outside_since = None;
                out.zone_facts.push((zone.place.clone(), point.clone()));
            } else if zs.inside {
                let since = *zs.outside_since.get_or_insert(point.ts);
                if point.ts - since >= grace_ms {
                    (zs.inside, zs.outside_since) = (false, None);
                    out.zone_facts.push((zone.place.clone(), ZonePoint { left: true, ..point.clone() }));
                }
            }
        }
    }

    /// The smoothed stays still open end (the track ended or its zone is gone).
    fn end_smoothed_stays(&mut self, zones: &[crate::scene::ZoneGeom], track: u64, ts: u64, keep: impl Fn(&str) -> bool, out: &mut PointBatch) {
        let class = self.class();
        for (zone, zs) in zones.iter().zip(self.smooth_zones.iter_mut()) {
            if zs.inside && !keep(&zone.id) {
                zs.inside = false;
                let point = ZonePoint { track, ts, class, speed_ck: None, speed_std_ck: None, moving: false, dir: (0, 0), left: true, readers: Readers::Speed };
                out.zone_facts.push((zone.place.clone(), point));
            }
        }
    }
}

/// Zone exits and dwell per window, for the anomaly baselines.
#[derive(Clone, Debug, Default)]
pub(crate) struct ZoneWindowAcc {
    pub exits: u64,
    pub dwell_ms_sum: u64,
}

/// One window's parts: each track's, and each zone's exits (by zone id: a window may span a
/// change of the camera's zones).
type WindowParts = (IdMap<TrackPart>, HashMap<String, ZoneWindowAcc>);
/// A closed window: (track, class, part) and (zone id, exits).
pub(crate) type ClosedWindow = (Vec<(u64, ObjectClass, TrackPart)>, Vec<(String, ZoneWindowAcc)>);

/// One camera's observer.
#[derive(Debug)]
pub(crate) struct CameraObserver {
    scene: Arc<CameraScene>,
    settings: Arc<ObserveSettings>,
    tracks: IdMap<TrackState>,
    /// Per open window: each track's part, and each zone's exits.
    windows: BTreeMap<u64, WindowParts>,
    /// (oldest held row's `ts_ms`, track) of every track with rows in its smoother: a release
    /// visits only the tracks whose oldest row is due, not every track at every time.
    due: BTreeSet<(u64, u64)>,
}

impl CameraObserver {
    pub(crate) fn new(scene: Arc<CameraScene>, settings: Arc<ObserveSettings>) -> Self {
        CameraObserver { scene, settings, tracks: IdMap::default(), windows: BTreeMap::new(), due: BTreeSet::new() }
    }

    /// The camera's scene changed: what follows is observed in `scene` (see
    /// `itscam_types::Tracked::Scene`; when the calibration changed every track has ended just
    /// before). Each live track keeps its memory of the lines that did not move and its stays in
    /// the zones that kept their id; a stay in a zone that is gone ends here (a fact, a
    /// `zone_events` row, an exit of its window). Windows in progress go on (zone exits are kept
    /// by zone id).
    pub(crate) fn set_scene(&mut self, scene: Arc<CameraScene>, out: &mut PointBatch) {
        let old = std::mem::replace(&mut self.scene, scene);
        let new = &self.scene;
        let mut tracks: Vec<u64> = self.tracks.keys().copied().collect();
        tracks.sort_unstable();
        for track in tracks {
            let state = self.tracks.get_mut(&track).expect("listed");
            state.lines = new
                .lines
                .iter()
                .map(|l| old.lines.iter().position(|o| o.id == l.id && o.line == l.line).map_or_else(LineMemory::default, |i| state.lines[i]))
                .collect();
            let mut zones = Vec::with_capacity(new.zones.len());
            for z in &new.zones {
                zones.push(old.zones.iter().position(|o| o.id == z.id).map_or_else(ZoneState::default, |i| state.zones[i].clone()));
            }
            state.end_smoothed_stays(&old.zones, track, state.last_ts, |id| new.zones.iter().any(|z| z.id == id), out);
            state.smooth_zones = new
                .zones
                .iter()
                .map(|z| old.zones.iter().position(|o| o.id == z.id).map_or_else(ZoneState::default, |i| state.smooth_zones[i].clone()))
                .collect();
            for (i, zone) in old.zones.iter().enumerate() {
                let zs = &state.zones[i];
                if !zs.inside || new.zones.iter().any(|z| z.id == zone.id) {
                    continue;
                }
                let (enter, exit) = (zs.enter_ts, zs.last_inside_ts);
                out.zone_facts.push((zone.place.clone(), state.zone_point(track, state.last_ts, true)));
                out.zone_events.push(zone_event(&old, zone.id.clone(), track, state.class(), enter, exit));
                let window = state.last_ts - state.last_ts % self.settings.window_ms;
                let acc = self.windows.entry(window).or_default().1.entry(zone.id.clone()).or_default();
                acc.exits += 1;
                acc.dwell_ms_sum += exit - enter;
            }
            state.zones = zones;
        }
    }

    fn window_of(&self, ts: u64) -> u64 {
        ts - ts % self.settings.window_ms
    }

    /// Fills the detection's ground point and speed; for confirmed tracks, updates the track
    /// and pushes crossings, zone facts and events. `time`: the dataflow time it came at.
    pub(crate) fn point(&mut self, mut d: DetectionRow, time: u64, out: &mut PointBatch) {
        let (scene, settings) = (&*self.scene, &*self.settings);
        let px = bottom_centre(&d);
        let ground = scene.homography.as_ref().and_then(|h| h.project(px[0], px[1]));
        if let Some((gx, gy)) = ground {
            d.ground_x = Some(gx);
            d.ground_y = Some(gy);
        }
        let Some(track) = d.track_id else {
            out.detections.push(d);
            return;
        };
        let ts = d.ts_ms;
        let state = self.tracks.entry(track).or_insert_with(|| TrackState::new(scene, settings, ts));
        state.count_class(d.class);
        state.follow_image(ts, px);
        let was_empty = state.smoother.as_ref().is_none_or(|s| s.pending() == 0);
        match state.follow_ground(scene, settings, px, ground, time, d) {
            Ok(()) => {
                out.held += 1;
                // Rows come in event-time order: only a first row changes the track's oldest.
                if was_empty {
                    self.due.insert((ts, track));
                }
            }
            Err(d) => out.detections.push(d),
        }
        let prev_ts = std::mem::replace(&mut state.last_ts, ts);
        state.last_px = Some(px);
        let at = At { track, ts, px, class: state.class() };
        state.cross_lines(scene, settings.line_hysteresis_px, &at, out);
        let window = ts - ts % settings.window_ms;
        let parts = self.windows.entry(window).or_default();
        state.follow_zones(scene, settings.zone_exit_grace_ms, &at, &mut parts.1, out);
        add_to_part(parts.0.entry(track).or_default(), ts, prev_ts);
        let point = state.track_point(scene, track, ts, ground, false);
        if scene.junction {
            out.junction_points.push((scene.camera_id.clone(), point.without_zones()));
        }
        out.point_facts.push((scene.camera_id.clone(), point));
    }

    /// Releases the rows at least `smooth_lag_ms` older than `now` (every point up to `now`
    /// observed) with their smoothed speeds, into `out.released`.
    pub(crate) fn release(&mut self, now: u64, out: &mut PointBatch) {
        let (window_ms, lag) = (self.settings.window_ms, self.settings.smooth_lag_ms);
        while let Some(&(oldest, track)) = self.due.first() {
            if oldest.saturating_add(lag) > now {
                break;
            }
            self.due.pop_first();
            let Some(state) = self.tracks.get_mut(&track) else { continue };
            // Out of the state while its rows go (they are counted in the state), put back after.
            let Some(mut smoother) = state.smoother.take() else { continue };
            while let Some(((time, d), reading)) = smoother.pop_due(now) {
                state.smoothed_zone_facts(&self.scene, self.settings.zone_exit_grace_ms, &d, reading, out);
                let part = self.windows.entry(d.ts_ms - d.ts_ms % window_ms).or_default().0.entry(track).or_default();
                out.released.push((time, state.finish_row(d, reading, part)));
            }
            if let Some(next) = smoother.oldest_ts_ms() {
                self.due.insert((next, track));
            }
            state.smoother = Some(smoother);
        }
    }

    /// Releases every row, smoothed over what has arrived (the input ended).
    pub(crate) fn release_all(&mut self, out: &mut PointBatch) {
        let tracks: Vec<u64> = self.due.iter().map(|&(_, track)| track).collect();
        for track in tracks {
            self.drain(track, out);
        }
    }

    /// Releases a track's rows, smoothed over what has arrived.
    fn drain(&mut self, track: u64, out: &mut PointBatch) {
        let window_ms = self.settings.window_ms;
        let Some(state) = self.tracks.get_mut(&track) else { return };
        if let Some(oldest) = state.smoother.as_ref().and_then(|s| s.oldest_ts_ms()) {
            self.due.remove(&(oldest, track));
        }
        while let Some(((time, d), reading)) = state.smoother.as_mut().and_then(|s| s.pop()) {
            state.smoothed_zone_facts(&self.scene, self.settings.zone_exit_grace_ms, &d, reading, out);
            let part = self.windows.entry(d.ts_ms - d.ts_ms % window_ms).or_default().0.entry(track).or_default();
            out.released.push((time, state.finish_row(d, reading, part)));
        }
    }

    /// A track ended: releases its rows, fills its speeds, closes its zone stays.
    pub(crate) fn end(&mut self, mut t: TrackRow, out: &mut PointBatch) {
        self.drain(t.track_id, out);
        if let Some(mut state) = self.tracks.remove(&t.track_id) {
            let end_ts = state.last_ts.max(t.last_ts_ms);
            state.end_smoothed_stays(&self.scene.zones, t.track_id, end_ts, |_| false, out);
            if state.speed_n > 0 {
                t.mean_speed_kmh = Some(state.speed_sum / state.speed_n as f64);
                t.max_speed_kmh = state.speed_max;
            }
            let ts = state.last_ts.max(t.last_ts_ms);
            let window = self.window_of(ts);
            let last = state.track_point(&self.scene, t.track_id, ts, None, true);
            if self.scene.junction {
                out.junction_points.push((self.scene.camera_id.clone(), last.without_zones()));
            }
            out.point_facts.push((self.scene.camera_id.clone(), last));
            for (i, zone) in self.scene.zones.iter().enumerate() {
                let zs = &state.zones[i];
                if !zs.inside {
                    continue;
                }
                out.zone_facts.push((zone.place.clone(), state.zone_point(t.track_id, ts, true)));
                out.zone_events.push(zone_event(&self.scene, zone.id.clone(), t.track_id, state.class(), zs.enter_ts, zs.last_inside_ts));
                let acc = self.windows.entry(window).or_default().1.entry(zone.id.clone()).or_default();
                acc.exits += 1;
                acc.dwell_ms_sum += zs.last_inside_ts - zs.enter_ts;
            }
            // The class of its parts is the final majority class.
            for (parts, _) in self.windows.values_mut() {
                if let Some(p) = parts.get_mut(&t.track_id) {
                    p.class = Some(state.class());
                }
            }
        }
        out.tracks.push(t);
    }

    /// Takes the parts of the window starting at `start`: each track's part with its class,
    /// and each zone's exits.
    pub(crate) fn take_window(&mut self, start: u64) -> ClosedWindow {
        let Some((parts, zones)) = self.windows.remove(&start) else { return (Vec::new(), Vec::new()) };
        let mut parts: Vec<(u64, ObjectClass, TrackPart)> = parts
            .into_iter()
            .map(|(track, p)| {
                let class = p.class.or_else(|| self.tracks.get(&track).map(|s| s.class())).unwrap_or(ObjectClass(2));
                (track, class, p)
            })
            .collect();
        parts.sort_by_key(|p| p.0);
        let mut zones: Vec<(String, ZoneWindowAcc)> = zones.into_iter().collect();
        zones.sort_by(|a, b| a.0.cmp(&b.0));
        (parts, zones)
    }

    /// Tracks inside each zone now.
    pub(crate) fn occupancy(&self) -> Vec<(String, u32)> {
        self.scene
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.id.clone(), self.tracks.values().filter(|t| t.zones[i].inside).count() as u32))
            .collect()
    }
}

fn zone_event(scene: &CameraScene, zone_id: String, track: u64, class: ObjectClass, enter: u64, exit: u64) -> ZoneEventRow {
    ZoneEventRow { camera_id: scene.camera_id.to_string(), zone_id, track_id: track, class, enter_ts_ms: enter, exit_ts_ms: exit, dwell_ms: exit - enter }
}
