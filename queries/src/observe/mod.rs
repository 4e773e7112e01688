//! The observe step: tracked detections → ground positions, speeds, line crossings, zone stays,
//! zone facts for the rules, and per-window parts of the traffic metrics.
//!
//! It runs on the worker that owns the camera (the tracker already exchanged frames by camera),
//! buffers its input until the frontier passes each time, and processes times in order. Window
//! parts are emitted at `window_end − 1`, when the frontier passes the window: the operator holds
//! a capability for that time while the window is open.
//!
//! A calibrated camera's tracked detection rows wait for their smoothed speed: the operator
//! holds a capability for their time on the detections output until the frontier has passed
//! `ts + smooth_lag_ms` (or the track ended), and sends them at their own time `ts`. The window
//! parts, which carry the same speeds, wait as long. Rules see the causal speed at once.
//!
//! It is one operator with eight typed outputs ([`Observations`]): each kind of record is
//! pushed into its own buffer and leaves on its own port, with a capability for that port.

mod camera;

/// Track-keyed maps with a cheap hasher, for the junction tables' per-track state too.
pub(crate) use camera::IdMap;

use crate::facts::{CrossPoint, Place, TrackPoint, ZonePoint};
use crate::scene::{CameraScene, Scenes};
use camera::CameraObserver;
use itscam_geo::FilterConfig;
use itscam_types::analytics::{LineCrossingRow, ZoneEventRow};
use itscam_types::config::AnalyticsConfig;
use itscam_types::{CameraChange, DetectionRow, ObjectClass, TrackRow, Tracked};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// Settings of the observe step (from `[analytics]`).
#[derive(Clone, Copy, Debug)]
pub struct ObserveSettings {
    /// Metrics window, ms.
    pub window_ms: u64,
    /// Line hysteresis, px.
    pub line_hysteresis_px: f64,
    /// Zone exit grace, ms.
    pub zone_exit_grace_ms: u64,
    /// Ground-point jitter, px.
    pub pixel_noise_px: f64,
    /// The speed filter's parameters.
    pub speed: FilterConfig,
    /// Look-ahead of the speed smoother, ms (0: the filter's speed).
    pub smooth_lag_ms: u64,
    /// Rules that call `speed_over` read the smoothed speed (`facts::Readers`).
    pub speed_rules_smoothed: bool,
}

impl ObserveSettings {
    /// From the config.
    pub fn from_config(c: &AnalyticsConfig) -> Self {
        ObserveSettings {
            window_ms: c.window_ms.max(1),
            line_hysteresis_px: c.line_hysteresis_px,
            zone_exit_grace_ms: c.zone_exit_grace_ms,
            pixel_noise_px: c.speed.pixel_noise_px,
            speed: FilterConfig { accel_std: c.speed.accel_std, ..FilterConfig::vehicles() },
            smooth_lag_ms: c.speed.smooth_lag_ms,
            speed_rules_smoothed: c.speed.speed_rules_smoothed,
        }
    }
}

/// One track's part of a metrics window.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrackPart {
    /// Points in the window.
    pub points: u32,
    /// Sum of its speeds in the window, centi-km/h.
    pub speed_sum_ck: i64,
    /// Points with a speed.
    pub speed_n: u32,
    /// Time present in the window, ms (gaps over 1 s not counted).
    pub presence_ms: u64,
    /// Final class when the track ended before the window closed.
    #[serde(skip)]
    pub class: Option<ObjectClass>,
}

/// The class of a metrics group: one COCO class, or every vehicle class together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricClass {
    /// Every vehicle class together (all but `person`): the `all` rows.
    All,
    /// One class.
    Class(ObjectClass),
}

impl MetricClass {
    /// The name in `traffic_metrics.class`: the COCO name, or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricClass::All => "all",
            MetricClass::Class(c) => c.name(),
        }
    }
}

/// Ordered by name, as the `class` column sorts (`all` between `bus` and `car`...).
impl Ord for MetricClass {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for MetricClass {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Key of a metrics group: camera × window × class.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricKey {
    /// Camera id.
    pub camera: String,
    /// Window start.
    pub window_start: u64,
    /// A class, or `all`.
    pub class: MetricClass,
}

/// Zone exits of one window (for the dwell baseline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneWindow {
    /// Camera id.
    pub camera: String,
    /// Zone id.
    pub zone: String,
    /// Window start.
    pub window_start: u64,
    /// Window end.
    pub window_end: u64,
    /// Tracks that left the zone in the window.
    pub exits: u64,
    /// Their mean dwell, ms.
    pub mean_dwell_ms: f64,
}

/// Live tracks per zone: `(camera, zone) → tracks inside`, updated as event time advances.
pub type LiveZones = Arc<Mutex<BTreeMap<(String, String), u32>>>;

/// What the observe step emits, one stream per kind of output.
pub struct Observations<'s> {
    /// Detections with ground point and speed filled in.
    pub detections: Stream<'s, u64, Vec<DetectionRow>>,
    /// Tracks that ended, with their speeds.
    pub tracks: Stream<'s, u64, Vec<TrackRow>>,
    /// `line_crossings` rows.
    pub crossing_rows: Stream<'s, u64, Vec<LineCrossingRow>>,
    /// `zone_events` rows.
    pub zone_events: Stream<'s, u64, Vec<ZoneEventRow>>,
    /// Points in (or leaving) a zone, for the rules.
    pub zone_facts: Stream<'s, u64, Vec<(Place, ZonePoint)>>,
    /// The crossings as facts for the rules.
    pub crossing_facts: Stream<'s, u64, Vec<(Place, CrossPoint)>>,
    /// Every point of a confirmed track (and its end), for the rules on `track_points`.
    pub point_facts: Stream<'s, u64, Vec<(Arc<str>, TrackPoint)>>,
    /// The `point_facts` of cameras with a junction (`[[camera.approach]]`), for its tables.
    pub junction_points: Stream<'s, u64, Vec<(Arc<str>, TrackPoint)>>,
    /// Cameras changed at runtime, at the change's time (for the junction tables).
    pub scene_changes: Stream<'s, u64, Vec<CameraChange>>,
    /// Each track's part of a metrics window (at `window_end − 1`).
    pub metric_parts: Stream<'s, u64, Vec<(MetricKey, u64, TrackPart)>>,
    /// Each zone's exits in a window (at `window_end − 1`).
    pub zone_windows: Stream<'s, u64, Vec<ZoneWindow>>,
}

/// One event time's output of the points and ended tracks, a buffer per output.
#[derive(Debug, Default)]
pub(crate) struct PointBatch {
    /// Rows that leave at this time.
    pub detections: Vec<DetectionRow>,
    /// Rows taken into a smoother at this time.
    pub held: usize,
    /// Rows out of a smoother, each with the (earlier or this) time it came at.
    pub released: Vec<(u64, DetectionRow)>,
    pub tracks: Vec<TrackRow>,
    pub crossing_rows: Vec<LineCrossingRow>,
    pub zone_events: Vec<ZoneEventRow>,
    pub zone_facts: Vec<(Place, ZonePoint)>,
    pub crossing_facts: Vec<(Place, CrossPoint)>,
    pub point_facts: Vec<(Arc<str>, TrackPoint)>,
    pub junction_points: Vec<(Arc<str>, TrackPoint)>,
    pub scene_changes: Vec<CameraChange>,
}

/// One closed window's output.
#[derive(Debug, Default)]
struct WindowBatch {
    metric_parts: Vec<(MetricKey, u64, TrackPart)>,
    zone_windows: Vec<ZoneWindow>,
}

/// The operator's outputs. Each batch goes out with a capability per output port, taken from
/// the output's own index, so an output can never be fed from another's buffer.
struct Outputs {
    detections: Output<u64, Vec<DetectionRow>>,
    tracks: Output<u64, Vec<TrackRow>>,
    crossing_rows: Output<u64, Vec<LineCrossingRow>>,
    zone_events: Output<u64, Vec<ZoneEventRow>>,
    zone_facts: Output<u64, Vec<(Place, ZonePoint)>>,
    crossing_facts: Output<u64, Vec<(Place, CrossPoint)>>,
    point_facts: Output<u64, Vec<(Arc<str>, TrackPoint)>>,
    junction_points: Output<u64, Vec<(Arc<str>, TrackPoint)>>,
    scene_changes: Output<u64, Vec<CameraChange>>,
    metric_parts: Output<u64, Vec<(MetricKey, u64, TrackPart)>>,
    zone_windows: Output<u64, Vec<ZoneWindow>>,
}

/// Ports of the point outputs (created first): `0..POINT_PORTS`; the window outputs follow.
const POINT_PORTS: usize = 9;
/// Capabilities for one event time, one per point output.
type PointCaps = [Capability<u64>; POINT_PORTS];
/// Capabilities for one window's end, one per window output.
type WindowCaps = [Capability<u64>; 2];

impl Outputs {
    fn send_points(&mut self, caps: &PointCaps, b: &mut PointBatch) {
        send(&mut self.detections, caps, 0, &mut b.detections);
        send(&mut self.tracks, caps, 0, &mut b.tracks);
        send(&mut self.crossing_rows, caps, 0, &mut b.crossing_rows);
        send(&mut self.zone_events, caps, 0, &mut b.zone_events);
        send(&mut self.zone_facts, caps, 0, &mut b.zone_facts);
        send(&mut self.crossing_facts, caps, 0, &mut b.crossing_facts);
        send(&mut self.point_facts, caps, 0, &mut b.point_facts);
        send(&mut self.junction_points, caps, 0, &mut b.junction_points);
        send(&mut self.scene_changes, caps, 0, &mut b.scene_changes);
    }

    fn send_window(&mut self, caps: &WindowCaps, b: &mut WindowBatch) {
        send(&mut self.metric_parts, caps, POINT_PORTS, &mut b.metric_parts);
        send(&mut self.zone_windows, caps, POINT_PORTS, &mut b.zone_windows);
    }
}

/// Sends `data` on `output` with its capability: `caps[port − first]`.
fn send<D: 'static>(output: &mut Output<u64, Vec<D>>, caps: &[Capability<u64>], first: usize, data: &mut Vec<D>) {
    if !data.is_empty() {
        let cap = &caps[output.output_index() - first];
        output.activate().give(cap, data);
        data.clear();
    }
}

/// Runs the observe step on a stream of tracker output (already exchanged by camera).
pub fn observe<'s>(tracked: Stream<'s, u64, Vec<Tracked>>, mut scenes: Scenes, settings: ObserveSettings, live: LiveZones) -> Observations<'s> {
    let mut builder = OperatorBuilder::new("Observe".to_owned(), tracked.scope());
    let mut input = builder.new_input(tracked, Pipeline);
    // The point outputs first: their ports are `0..POINT_PORTS`.
    let (detections, detections_s) = builder.new_output();
    let (tracks, tracks_s) = builder.new_output();
    let (crossing_rows, crossing_rows_s) = builder.new_output();
    let (zone_events, zone_events_s) = builder.new_output();
    let (zone_facts, zone_facts_s) = builder.new_output();
    let (crossing_facts, crossing_facts_s) = builder.new_output();
    let (point_facts, point_facts_s) = builder.new_output();
    let (junction_points, junction_points_s) = builder.new_output();
    let (scene_changes, scene_changes_s) = builder.new_output();
    let (metric_parts, metric_parts_s) = builder.new_output();
    let (zone_windows, zone_windows_s) = builder.new_output();
    let mut outputs = Outputs { detections, tracks, crossing_rows, zone_events, zone_facts, crossing_facts, point_facts, junction_points, scene_changes, metric_parts, zone_windows };
    debug_assert_eq!((outputs.scene_changes.output_index(), outputs.metric_parts.output_index()), (POINT_PORTS - 1, POINT_PORTS));
    let settings = Arc::new(settings);
    let (window_ms, lag) = (settings.window_ms, settings.smooth_lag_ms);
    builder.build(move |_initial_caps| {
        let mut observers: HashMap<Arc<str>, CameraObserver> = HashMap::new();
        let mut stash: BTreeMap<u64, (PointCaps, Vec<Tracked>)> = BTreeMap::new();
        let mut window_caps: BTreeMap<u64, WindowCaps> = BTreeMap::new();
        // Per time with rows in a smoother: the detections capability and how many rows.
        let mut held: BTreeMap<u64, (Capability<u64>, usize)> = BTreeMap::new();
        let mut points = PointBatch::default();
        let mut window = WindowBatch::default();
        move |frontiers| {
            let frontier = &frontiers[0];
            input.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                let w = t - t % window_ms;
                let end = w + window_ms - 1;
                window_caps.entry(w).or_insert_with(|| std::array::from_fn(|i| cap.delayed(&end, POINT_PORTS + i)));
                let slot = stash.entry(t).or_insert_with(|| {
                    (std::array::from_fn(|port| cap.retain_least(port).expect("non-empty stamp")), Vec::new())
                });
                slot.1.append(data);
            });
            // Cameras whose tracks moved in this activation: only their occupancy is refreshed.
            let mut touched: Vec<Arc<str>> = Vec::new();
            while let Some(entry) = stash.first_entry() {
                let t = *entry.key();
                if frontier.less_equal(&t) {
                    break;
                }
                let (caps, items) = entry.remove();
                // Every time before `t` is observed: rows a lag older leave, and so do the
                // windows whose rows have all left.
                if let Some(now) = t.checked_sub(1) {
                    release(Some(now), &mut observers, &mut points, &mut held, &mut outputs);
                }
                flush_windows(t.saturating_sub(lag), window_ms, &mut observers, &mut window_caps, &mut window, &mut outputs);
                for item in items {
                    let camera = item.camera_id();
                    if !touched.iter().rev().any(|c| **c == *camera) {
                        touched.push(camera.into());
                    }
                    observe_one(item, t, &mut observers, &mut scenes, &settings, &mut points, &live);
                }
                if points.held > 0 {
                    held.entry(t).or_insert_with(|| (caps[0].clone(), 0)).1 += std::mem::take(&mut points.held);
                }
                send_released(&mut points.released, &mut held, &mut outputs);
                outputs.send_points(&caps, &mut points);
            }
            // Rows and windows the frontier has passed (by the lag) are complete.
            let passed = frontier.frontier().iter().min().copied();
            release_passed(passed, lag, window_ms, &mut observers, &mut points, &mut held, &mut window_caps, &mut window, &mut outputs);
            refresh_occupancy(&live, &touched, &observers);
        }
    });
    let (facts, metrics) = ((zone_facts_s, crossing_facts_s, point_facts_s), (metric_parts_s, zone_windows_s));
    Observations { detections: detections_s, tracks: tracks_s, crossing_rows: crossing_rows_s, zone_events: zone_events_s, zone_facts: facts.0, crossing_facts: facts.1, point_facts: facts.2, junction_points: junction_points_s, scene_changes: scene_changes_s, metric_parts: metrics.0, zone_windows: metrics.1 }
}

/// Releases the rows every camera's smoothers are done with at `now` (`None`: the input
/// ended, all of them) and sends them.
fn release(now: Option<u64>, observers: &mut HashMap<Arc<str>, CameraObserver>, out: &mut PointBatch, held: &mut BTreeMap<u64, (Capability<u64>, usize)>, outputs: &mut Outputs) {
    if held.is_empty() {
        return;
    }
    for obs in observers.values_mut() {
        match now {
            Some(now) => obs.release(now, out),
            None => obs.release_all(out),
        }
    }
    send_released(&mut out.released, held, outputs);
}

/// Releases the rows and flushes the windows the input frontier `passed` has passed (by the
/// smoothing lag); everything when the input has ended (`None`).
#[allow(clippy::too_many_arguments)]
fn release_passed(
    passed: Option<u64>,
    lag: u64,
    window_ms: u64,
    observers: &mut HashMap<Arc<str>, CameraObserver>,
    points: &mut PointBatch,
    held: &mut BTreeMap<u64, (Capability<u64>, usize)>,
    window_caps: &mut BTreeMap<u64, WindowCaps>,
    window: &mut WindowBatch,
    outputs: &mut Outputs,
) {
    match passed {
        Some(f) => {
            if let Some(now) = f.checked_sub(1) {
                release(Some(now), observers, points, held, outputs);
            }
            flush_windows(f.saturating_sub(lag), window_ms, observers, window_caps, window, outputs);
        }
        None => {
            release(None, observers, points, held, outputs);
            flush_windows(u64::MAX, window_ms, observers, window_caps, window, outputs);
        }
    }
}

/// Refreshes the live occupancy of the cameras whose tracks moved.
fn refresh_occupancy(live: &LiveZones, touched: &[Arc<str>], observers: &HashMap<Arc<str>, CameraObserver>) {
    if touched.is_empty() {
        return;
    }
    let Ok(mut live) = live.lock() else { return };
    for cam in touched {
        let Some(obs) = observers.get(cam) else { continue };
        for (zone, n) in obs.occupancy() {
            live.insert((cam.to_string(), zone), n);
        }
    }
}

/// Sends released rows, each at its own time with the capability held for it; a time's
/// capability goes once its last row has left.
fn send_released(rows: &mut Vec<(u64, DetectionRow)>, held: &mut BTreeMap<u64, (Capability<u64>, usize)>, outputs: &mut Outputs) {
    if rows.is_empty() {
        return;
    }
    // Deterministic order: by time, then track (the smoothers sit in hash maps).
    rows.sort_by_key(|(t, d)| (*t, d.ts_ms, d.track_id));
    let mut session = outputs.detections.activate();
    let mut rows = rows.drain(..).peekable();
    while let Some((ts, first)) = rows.next() {
        let mut group = vec![first];
        while let Some((_, d)) = rows.next_if(|(t, _)| *t == ts) {
            group.push(d);
        }
        let Some((cap, n)) = held.get_mut(&ts) else {
            panic!("observe: a row at {ts} left its smoother without a held capability (this is a bug)");
        };
        *n = n.saturating_sub(group.len());
        session.give(cap, &mut group);
        if *n == 0 {
            held.remove(&ts);
        }
    }
}

/// One tracker output at dataflow time `time` through its camera's observer (passed on as it is
/// without a scene); a scene change switches the camera's observer to the new scene.
fn observe_one(item: Tracked, time: u64, observers: &mut HashMap<Arc<str>, CameraObserver>, scenes: &mut Scenes, settings: &Arc<ObserveSettings>, out: &mut PointBatch, live: &LiveZones) {
    match item {
        Tracked::Scene(change) => {
            let scene = match &change.camera {
                Some(camera) => match CameraScene::build(camera) {
                    Ok(scene) => Some(Arc::new(scene)),
                    Err((key, reason)) => {
                        // Changes are checked before they are taken: this is a bug.
                        tracing::error!(camera = %change.camera_id, key, reason, "a camera change with an invalid scene was taken (this is a bug); the camera has no scene from now on");
                        None
                    }
                },
                None => None,
            };
            let camera: Arc<str> = change.camera_id.as_str().into();
            match (&scene, observers.get_mut(&camera)) {
                (Some(scene), Some(obs)) => obs.set_scene(scene.clone(), out),
                (None, Some(_)) => {
                    if let Ok(mut live) = live.lock() {
                        live.retain(|(cam, _), _| *cam != change.camera_id);
                    }
                }
                _ => {}
            }
            scenes.set(&change.camera_id, scene);
            out.scene_changes.push(*change);
        }
        Tracked::Detection(d) => match camera_observer(observers, &d.camera_id, scenes, settings) {
            Some(obs) => obs.point(d, time, out),
            None => out.detections.push(d),
        },
        Tracked::Ended(row) => {
            let cam: Arc<str> = row.camera_id.as_str().into();
            match camera_observer(observers, &cam, scenes, settings) {
                Some(obs) => obs.end(row, out),
                None => out.tracks.push(row),
            }
        }
    }
}

/// Emits the window parts of every window that ended at or before `end_exclusive`.
fn flush_windows(
    end_exclusive: u64,
    window_ms: u64,
    observers: &mut HashMap<Arc<str>, CameraObserver>,
    window_caps: &mut BTreeMap<u64, WindowCaps>,
    out: &mut WindowBatch,
    outputs: &mut Outputs,
) {
    while let Some(entry) = window_caps.first_entry() {
        let w = *entry.key();
        if w + window_ms > end_exclusive {
            break;
        }
        let caps = entry.remove();
        let mut cams: Vec<Arc<str>> = observers.keys().cloned().collect();
        cams.sort();
        for cam in cams {
            let obs = observers.get_mut(&cam).expect("listed");
            let (tracks, zones) = obs.take_window(w);
            for (track, class, part) in tracks {
                // `all` is every vehicle: pedestrians have their own rows only.
                let all = (class.name() != "person").then_some(MetricClass::All);
                for class in std::iter::once(MetricClass::Class(class)).chain(all) {
                    out.metric_parts.push((MetricKey { camera: cam.to_string(), window_start: w, class }, track, part.clone()));
                }
            }
            for (zone, acc) in zones {
                out.zone_windows.push(ZoneWindow {
                    camera: cam.to_string(),
                    zone,
                    window_start: w,
                    window_end: w + window_ms,
                    exits: acc.exits,
                    mean_dwell_ms: acc.dwell_ms_sum as f64 / acc.exits.max(1) as f64,
                });
            }
        }
        outputs.send_window(&caps, out);
    }
}

fn camera_observer<'a>(observers: &'a mut HashMap<Arc<str>, CameraObserver>, camera: &Arc<str>, scenes: &Scenes, settings: &Arc<ObserveSettings>) -> Option<&'a mut CameraObserver> {
    if !observers.contains_key(camera) {
        let scene = scenes.get(camera)?.clone();
        observers.insert(camera.clone(), CameraObserver::new(scene, settings.clone()));
    }
    observers.get_mut(camera)
}
