//! The tracking operator: frames exchanged by camera, buffered until the frontier passes their
//! time, then fed to that camera's [`Tracker`] in event-time order.

use crate::camera_route;
use crate::tracker::Tracker;
use itscam_types::config::TrackerConfig;
use itscam_types::{DetectionRow, Frame, TrackRow};
use std::collections::{BTreeMap, HashMap};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

/// What the tracker emits.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Tracked {
    /// One input detection with its confirmed track id (or none).
    Detection(DetectionRow),
    /// A confirmed track that ended (lost too long, or end of input).
    Ended(TrackRow),
}

/// Tracks objects per camera.
pub trait TrackFrames<'s> {
    /// Exchanges frames by camera and tracks them. Output at time `t` holds every detection of
    /// the frames at `t` and the tracks that ended there; tracks still alive when the input
    /// ends are emitted then.
    fn track_frames(self, config: TrackerConfig) -> Stream<'s, u64, Vec<Tracked>>;
}

impl<'s> TrackFrames<'s> for Stream<'s, u64, Vec<Frame>> {
    fn track_frames(self, config: TrackerConfig) -> Stream<'s, u64, Vec<Tracked>> {
        self.exchange(|f: &Frame| camera_route(&f.camera_id)).unary_frontier(Pipeline, "Track", move |cap, _info| {
            let mut trackers: HashMap<String, Tracker> = HashMap::new();
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
                        let tracker = trackers
                            .entry(frame.camera_id.clone())
                            .or_insert_with(|| Tracker::new(frame.camera_id.clone(), config.clone()));
                        let update = tracker.update(frame);
                        for (det, track_id) in frame.detections.iter().zip(update.track_ids) {
                            session.give(Tracked::Detection(DetectionRow {
                                camera_id: frame.camera_id.clone(),
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
                            }));
                        }
                        for ended in update.ended {
                            session.give(Tracked::Ended(ended));
                        }
                    }
                    drop(session);
                    if let Some(last) = &mut last {
                        last.downgrade(cap.time());
                    }
                }
                if frontier.is_empty() && stash.is_empty() {
                    if let Some(last) = last.take() {
                        let mut session = output.session(&last);
                        let mut cameras: Vec<_> = trackers.keys().cloned().collect();
                        cameras.sort();
                        for camera in cameras {
                            let tracker = trackers.get_mut(&camera).expect("listed above");
                            session.give_iterator(tracker.finish().into_iter().map(Tracked::Ended));
                        }
                    }
                }
            }
        })
    }
}
