//! The tracking operator: frames exchanged by camera, buffered until the frontier passes their
//! time, then fed to that camera's [`Tracker`] in event-time order.

use crate::camera_route;
use crate::tracker::Tracker;
use itscam_geo::Homography;
use itscam_types::config::{CalibrationConfig, TrackerConfig};
use crate::source::cameras::{CameraControl, PendingChange};
use itscam_types::{CameraChange, DetectionRow, Frame};
use std::collections::{BTreeMap, HashMap};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

pub use itscam_types::Tracked;

/// Tracks objects per camera.
///
/// ```
/// use itscam_operators::track::{TrackFrames, Tracked};
/// use itscam_types::config::TrackerConfig;
/// use itscam_types::{BBox, Detection, Frame, ObjectClass};
/// use std::sync::{Arc, Mutex};
/// use timely::dataflow::operators::{Inspect, ToStream};
///
/// let car = ObjectClass::from_name("car").unwrap();
/// let frames: Vec<Frame> = (0..5u64).map(|n| Frame {
///     camera_id: "cam-1".into(), ts_ms: 1_000 + 100 * n, frame: n, width: 640, height: 480,
///     detections: vec![Detection { class: car, confidence: 0.9,
///         bbox: BBox { x1: 10.0 + 5.0 * n as f32, y1: 10.0, x2: 60.0 + 5.0 * n as f32, y2: 40.0 } }],
///     model_version: None,
/// }).collect();
/// let out = Arc::new(Mutex::new(Vec::new()));
/// let sink = out.clone();
/// timely::example(move |scope| {
///     frames.to_stream(scope).container::<Vec<_>>().track_frames(TrackerConfig::default())
///         .inspect(move |t: &Tracked| sink.lock().unwrap().push(t.clone()));
/// });
/// let out = out.lock().unwrap();
/// let mut ids: Vec<(u64, Option<u64>)> = out.iter().filter_map(|t| match t {
///     Tracked::Detection(d) => Some((d.frame, d.track_id)), _ => None }).collect();
/// ids.sort();
/// // Confirmed on the third matched frame (min_hits = 3); the track ends with the input.
/// assert_eq!(ids, [(0, None), (1, None), (2, Some(1)), (3, Some(1)), (4, Some(1))]);
/// assert!(out.iter().any(|t| matches!(t, Tracked::Ended(r) if r.track_id == 1 && r.frames == 5)));
/// ```
pub trait TrackFrames<'s> {
    /// Exchanges frames by camera and tracks them. Output at time `t` holds every detection of
    /// the frames at `t` and the tracks that ended there; tracks still alive when the input
    /// ends are emitted then.
    fn track_frames(self, config: TrackerConfig) -> Stream<'s, u64, Vec<Tracked>>;

    /// [`track_frames`](Self::track_frames), with the calibration of each calibrated camera
    /// by id: those cameras' trackers also associate on the ground plane (a calibration that
    /// does not fit leaves its camera to the image, as do the cameras not listed).
    fn track_frames_calibrated(self, config: TrackerConfig, calibrations: BTreeMap<String, CalibrationConfig>) -> Stream<'s, u64, Vec<Tracked>>;

    /// [`track_frames_calibrated`](Self::track_frames_calibrated), taking camera changes made
    /// while the pipeline runs from `control` (see [`crate::source::cameras`]): each applies at the
    /// input frontier it finds, ending the camera's tracks there and passing the change on as
    /// [`Tracked::Scene`].
    fn track_frames_controlled(self, config: TrackerConfig, calibrations: BTreeMap<String, CalibrationConfig>, control: Option<CameraControl>) -> Stream<'s, u64, Vec<Tracked>>;
}

impl<'s> TrackFrames<'s> for Stream<'s, u64, Vec<Frame>> {
    fn track_frames(self, config: TrackerConfig) -> Stream<'s, u64, Vec<Tracked>> {
        self.track_frames_calibrated(config, BTreeMap::new())
    }

    fn track_frames_calibrated(self, config: TrackerConfig, calibrations: BTreeMap<String, CalibrationConfig>) -> Stream<'s, u64, Vec<Tracked>> {
        self.track_frames_controlled(config, calibrations, None)
    }

    fn track_frames_controlled(self, config: TrackerConfig, calibrations: BTreeMap<String, CalibrationConfig>, control: Option<CameraControl>) -> Stream<'s, u64, Vec<Tracked>> {
        let mut cameras = CameraTrackers::new(config, calibrations);
        let scope = self.scope();
        let (index, peers) = (scope.index(), scope.peers());
        self.exchange(|f: &Frame| camera_route(&f.camera_id)).unary_frontier(Pipeline, "Track", move |cap, info| {
            if let Some(control) = &control {
                control.register_tracker(index, scope.worker().sync_activator_for(info.address.to_vec()));
            }
            let mut stash: BTreeMap<u64, (Capability<u64>, Vec<Frame>)> = BTreeMap::new();
            // Held so that tracks alive at the end of input can still be emitted.
            let mut last: Option<Capability<u64>> = Some(cap);
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    let slot = stash.entry(t).or_insert_with(|| (cap.retain_least(0).expect("non-empty stamp"), Vec::new()));
                    slot.1.append(data);
                });
                while let Some(entry) = stash.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (cap, mut frames) = entry.remove();
                    frames.sort_by(|a, b| (&a.camera_id, a.frame).cmp(&(&b.camera_id, b.frame)));
                    let mut session = output.session(&cap);
                    for frame in &frames {
                        let update = cameras.tracker(&frame.camera_id).update(frame);
                        session.give_iterator(detection_rows(frame, update.track_ids).map(Tracked::Detection));
                        for ended in update.ended {
                            session.give(Tracked::Ended(ended));
                        }
                    }
                    drop(session);
                    if let Some(last) = &mut last {
                        last.downgrade(cap.time());
                    }
                }
                // Hold the end-of-input capability at the input frontier, not at the last frame
                // tracked: downstream then sees a frame's time complete as soon as the input does
                // (no one-frame delay).
                if let Some(last) = &mut last
                    && let Some(&f) = frontier.frontier().iter().min()
                    && f > *last.time()
                {
                    last.downgrade(&f);
                }
                // Camera changes apply at the input frontier: every frame before it is tracked.
                if let (Some(control), Some(last)) = (&control, &last) {
                    let changes = control.take_changes(index, peers, *last.time());
                    if !changes.is_empty() {
                        let mut session = output.session(last);
                        for change in changes {
                            session.give_iterator(cameras.apply(&change).into_iter());
                            control.applied(&change, *last.time());
                        }
                    }
                }
                if frontier.is_empty() && stash.is_empty()
                    && let Some(last) = last.take() {
                        output.session(&last).give_iterator(cameras.finish().into_iter());
                    }
            }
        })
    }
}

/// One worker's trackers, by camera, and what each camera's tracker is calibrated with.
struct CameraTrackers {
    config: TrackerConfig,
    trackers: HashMap<String, Tracker>,
    homographies: HashMap<String, Homography>,
    /// Each camera's calibration as configured: a change that keeps it keeps the tracks.
    calibrated: HashMap<String, CalibrationConfig>,
}

impl CameraTrackers {
    fn new(config: TrackerConfig, calibrations: BTreeMap<String, CalibrationConfig>) -> Self {
        let homographies = calibrations.iter().filter_map(|(camera, c)| Homography::fit(&c.image, &c.world).ok().map(|h| (camera.clone(), h))).collect();
        CameraTrackers { config, trackers: HashMap::new(), homographies, calibrated: calibrations.into_iter().collect() }
    }

    /// The camera's tracker, created on its first frame (a camera removed while running keeps
    /// its empty tracker, so its ids are never reused).
    fn tracker(&mut self, camera: &str) -> &mut Tracker {
        if !self.trackers.contains_key(camera) {
            let tracker = match self.homographies.get(camera) {
                Some(h) => Tracker::calibrated(camera, self.config.clone(), h.clone()),
                None => Tracker::new(camera, self.config.clone()),
            };
            self.trackers.insert(camera.to_string(), tracker);
        }
        self.trackers.get_mut(camera).expect("inserted above")
    }

    /// Applies a camera change: tracks end when the camera goes or its ground changes (a change
    /// of lines or zones keeps them: the queries carry their state over), then the change goes on.
    fn apply(&mut self, change: &PendingChange) -> Vec<Tracked> {
        let id = change.camera_id.as_str();
        let calibration = change.camera.as_ref().and_then(|c| c.calibration.clone());
        let homography = calibration.as_ref().and_then(|c| Homography::fit(&c.image, &c.world).ok());
        match &homography {
            Some(h) => self.homographies.insert(id.to_string(), h.clone()),
            None => self.homographies.remove(id),
        };
        let same_ground = change.camera.is_some() && self.calibrated.get(id) == calibration.as_ref();
        match &calibration {
            Some(c) => self.calibrated.insert(id.to_string(), c.clone()),
            None => self.calibrated.remove(id),
        };
        let mut out = Vec::new();
        if !same_ground {
            // Ids keep counting up across the change: the camera's tracker stays.
            let tracker = self.trackers.entry(id.to_string()).or_insert_with(|| Tracker::new(id, self.config.clone()));
            out.extend(tracker.recalibrate(homography).into_iter().map(Tracked::Ended));
        }
        out.push(Tracked::Scene(Box::new(CameraChange { camera_id: id.to_string(), camera: change.camera.clone() })));
        out
    }

    /// End of input: every camera's live tracks, cameras in id order.
    fn finish(&mut self) -> Vec<Tracked> {
        let mut cameras: Vec<&String> = self.trackers.keys().collect();
        cameras.sort();
        let cameras: Vec<String> = cameras.into_iter().cloned().collect();
        cameras.iter().flat_map(|c| self.trackers.get_mut(c).expect("listed").finish()).map(Tracked::Ended).collect()
    }
}

/// The `detections` rows of a tracked frame: each detection with its confirmed track id (ground
/// point and speed are the observe step's to fill in).
pub fn detection_rows(frame: &Frame, track_ids: Vec<Option<u64>>) -> impl Iterator<Item = DetectionRow> + '_ {
    let camera: std::sync::Arc<str> = frame.camera_id.as_str().into();
    frame.detections.iter().zip(track_ids).map(move |(det, track_id)| DetectionRow {
        camera_id: camera.clone(),
        ts_ms: frame.ts_ms,
        frame: frame.frame,
        track_id,
        class: det.class,
        confidence: det.confidence,
        x1: det.bbox.x1,
        y1: det.bbox.y1,
        x2: det.bbox.x2,
        y2: det.bbox.y2,
        ground_x: None,
        ground_y: None,
        speed_kmh: None,
        frame_size: [frame.width, frame.height],
        model_version: frame.model_version.clone(),
    })
}
