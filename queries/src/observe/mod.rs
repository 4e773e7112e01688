//! The observe step: tracked detections → ground positions, speeds, line crossings, zone stays,
//! zone facts for the rules, and per-window parts of the traffic metrics.
//!
//! It runs on the worker that owns the camera (the tracker already exchanged frames by camera),
//! buffers its input until the frontier passes each time, and processes times in order. Window
//! parts are emitted at `window_end − 1`, when the frontier passes the window: the operator holds
//! a capability for that time while the window is open.

mod camera;

use crate::facts::{CrossPoint, Place, ZonePoint};
use crate::scene::Scenes;
use camera::CameraObserver;
use itscam_geo::FilterConfig;
use itscam_types::analytics::{LineCrossingRow, ZoneEventRow};
use itscam_types::config::AnalyticsConfig;
use itscam_types::{DetectionRow, TrackRow, Tracked};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

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
    pub class: Option<itscam_types::ObjectClass>,
}

/// Key of a metrics group: camera × window × class (`all` for every vehicle class together).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricKey {
    /// Camera id.
    pub camera: String,
    /// Window start.
    pub window_start: u64,
    /// COCO class name or `all`.
    pub class: String,
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

/// What the observe step emits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Observed {
    /// A detection with ground point and speed filled in.
    Detection(DetectionRow),
    /// A track that ended, with its speeds.
    Track(TrackRow),
    /// A `line_crossings` row.
    CrossingRow(LineCrossingRow),
    /// The same crossing as a fact for the rules.
    Crossing(Place, CrossPoint),
    /// A `zone_events` row.
    ZoneEvent(ZoneEventRow),
    /// A point in (or leaving) a zone, for the rules.
    ZoneFact(Place, ZonePoint),
    /// A track's part of a metrics window (at `window_end − 1`).
    Part(MetricKey, u64, TrackPart),
    /// A zone's exits in a window (at `window_end − 1`).
    ZoneWindow(ZoneWindow),
}

/// Live tracks per zone: `(camera, zone) → tracks inside`, updated as event time advances.
pub type LiveZones = Arc<Mutex<BTreeMap<(String, String), u32>>>;

/// Runs the observe step on a stream of tracker output (already exchanged by camera).
pub fn observe<'s>(tracked: Stream<'s, u64, Vec<Tracked>>, scenes: Scenes, settings: ObserveSettings, live: LiveZones) -> Stream<'s, u64, Vec<Observed>> {
    let settings = Arc::new(settings);
    let window_ms = settings.window_ms;
    tracked.unary_frontier(Pipeline, "Observe", move |_cap, _info| {
        let mut observers: HashMap<Arc<str>, CameraObserver> = HashMap::new();
        let mut stash: BTreeMap<u64, (Capability<u64>, Vec<Tracked>)> = BTreeMap::new();
        let mut window_caps: BTreeMap<u64, Capability<u64>> = BTreeMap::new();
        let mut out: Vec<Observed> = Vec::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                let Some(&t) = cap.least() else { return };
                let w = t - t % window_ms;
                window_caps.entry(w).or_insert_with(|| cap.delayed(&(w + window_ms - 1), 0));
                let slot = stash.entry(t).or_insert_with(|| (cap.retain_least(0).expect("non-empty stamp"), Vec::new()));
                slot.1.append(data);
            });
            let mut ready: Vec<(Capability<u64>, Vec<Observed>)> = Vec::new();
            let mut changed = false;
            while let Some(entry) = stash.first_entry() {
                let t = *entry.key();
                if frontier.less_equal(&t) {
                    break;
                }
                let (cap, items) = entry.remove();
                flush_windows(t, window_ms, &mut observers, &mut window_caps, &mut ready);
                for item in items {
                    match item {
                        Tracked::Detection(d) => {
                            let obs = camera_observer(&mut observers, &d.camera_id, &scenes, &settings);
                            match obs {
                                Some(obs) => obs.point(d, &mut out),
                                None => out.push(Observed::Detection(d)),
                            }
                        }
                        Tracked::Ended(row) => {
                            let cam: Arc<str> = row.camera_id.as_str().into();
                            match camera_observer(&mut observers, &cam, &scenes, &settings) {
                                Some(obs) => obs.end(row, &mut out),
                                None => out.push(Observed::Track(row)),
                            }
                        }
                    }
                }
                ready.push((cap, std::mem::take(&mut out)));
                changed = true;
            }
            // Windows the frontier has passed are complete.
            let end = frontier.frontier().iter().min().copied().unwrap_or(u64::MAX);
            flush_windows(end, window_ms, &mut observers, &mut window_caps, &mut ready);
            for (cap, mut data) in ready {
                if !data.is_empty() {
                    output.session(&cap).give_container(&mut data);
                }
            }
            if changed && let Ok(mut live) = live.lock() {
                for (cam, obs) in &observers {
                    for (zone, n) in obs.occupancy() {
                        live.insert((cam.to_string(), zone), n);
                    }
                }
            }
        }
    })
}

/// Emits the window parts of every window that ended at or before `end_exclusive`.
fn flush_windows(
    end_exclusive: u64,
    window_ms: u64,
    observers: &mut HashMap<Arc<str>, CameraObserver>,
    window_caps: &mut BTreeMap<u64, Capability<u64>>,
    ready: &mut Vec<(Capability<u64>, Vec<Observed>)>,
) {
    while let Some(entry) = window_caps.first_entry() {
        let w = *entry.key();
        if w + window_ms > end_exclusive {
            break;
        }
        let cap = entry.remove();
        let mut parts = Vec::new();
        let mut cams: Vec<Arc<str>> = observers.keys().cloned().collect();
        cams.sort();
        for cam in cams {
            let obs = observers.get_mut(&cam).expect("listed");
            let (tracks, zones) = obs.take_window(w);
            for (track, class, part) in tracks {
                // `all` is every vehicle: pedestrians have their own rows only.
                let all = (class.name() != "person").then(|| "all".to_string());
                for class in std::iter::once(class.name().to_string()).chain(all) {
                    parts.push(Observed::Part(MetricKey { camera: cam.to_string(), window_start: w, class }, track, part.clone()));
                }
            }
            for (zone, acc) in zones {
                parts.push(Observed::ZoneWindow(ZoneWindow {
                    camera: cam.to_string(),
                    zone,
                    window_start: w,
                    window_end: w + window_ms,
                    exits: acc.exits,
                    mean_dwell_ms: acc.dwell_ms_sum as f64 / acc.exits.max(1) as f64,
                }));
            }
        }
        ready.push((cap, parts));
    }
}

fn camera_observer<'a>(observers: &'a mut HashMap<Arc<str>, CameraObserver>, camera: &Arc<str>, scenes: &Scenes, settings: &Arc<ObserveSettings>) -> Option<&'a mut CameraObserver> {
    if !observers.contains_key(camera) {
        let scene = scenes.get(camera)?.clone();
        observers.insert(camera.clone(), CameraObserver::new(scene, settings.clone()));
    }
    observers.get_mut(camera)
}
