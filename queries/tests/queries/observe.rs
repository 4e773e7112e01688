//! The observe step's typed outputs: one car drives through a zone and over a line, and each
//! output stream carries exactly its own kind of record.

use itscam_queries::AnalyticsPlan;
use itscam_queries::facts::PlaceKind;
use itscam_queries::observe::{MetricClass, observe};
use itscam_types::analytics::Direction;
use itscam_types::config::PipelineConfig;
use itscam_types::{DetectionRow, ObjectClass, TrackRow, Tracked};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::Input;
use crate::support::{T0, calibrated_camera};
use timely::dataflow::operators::{Inspect, Probe};

const FRAMES: u64 = 100;

const CONFIG: &str = concat!(
    calibrated_camera!(),
    r#"[[camera.zone]]
id = "left"
polygon = [[0, 0], [500, 0], [500, 1000], [0, 1000]]
[[camera.line]]
id = "middle"
points = [[600, 0], [600, 1000]]
"#
);

/// The car at `frame`, moving right 8 px per frame from x = 100.
fn car(frame: u64) -> Tracked {
    let x = 100.0 + 8.0 * frame as f32;
    Tracked::Detection(DetectionRow {
        camera_id: "cam-1".into(),
        ts_ms: T0 + 100 * frame,
        frame,
        track_id: Some(1),
        class: ObjectClass::from_name("car").unwrap(),
        confidence: 0.9,
        x1: x - 40.0,
        y1: 460.0,
        x2: x + 40.0,
        y2: 500.0,
        ground_x: None,
        ground_y: None,
        speed_kmh: None,
    })
}

#[derive(Default)]
struct Seen {
    detections: Vec<DetectionRow>,
    tracks: Vec<TrackRow>,
    crossing_rows: Vec<(u64, Direction)>,
    zone_events: Vec<(String, u64, u64)>,
    zone_facts: Vec<(PlaceKind, String, bool)>,
    crossing_facts: Vec<(PlaceKind, String, u64, Direction)>,
    metric_parts: Vec<(MetricClass, u64, u32)>,
    zone_windows: Vec<(String, u64)>,
}

#[test]
fn each_output_carries_its_own_records() {
    let config = Arc::new(PipelineConfig::from_toml(CONFIG).expect("valid config"));
    let plan = AnalyticsPlan::new(config, Vec::new()).expect("plan");
    let class = ObjectClass::from_name("car").unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (s, p) = (seen.clone(), plan.clone());
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, tracked) = scope.new_input::<Tracked>();
            let o = observe(tracked, p.scenes.clone(), p.settings, p.live_zones.clone());
            let k = s.clone();
            o.detections.inspect(move |d| k.lock().unwrap().detections.push(d.clone()));
            let k = s.clone();
            o.tracks.inspect(move |t| k.lock().unwrap().tracks.push(t.clone()));
            let k = s.clone();
            o.crossing_rows.inspect(move |c| k.lock().unwrap().crossing_rows.push((c.ts_ms, c.direction)));
            let k = s.clone();
            o.zone_events.inspect(move |z| k.lock().unwrap().zone_events.push((z.zone_id.clone(), z.enter_ts_ms, z.exit_ts_ms)));
            let k = s.clone();
            o.zone_facts.inspect(move |(place, p)| k.lock().unwrap().zone_facts.push((place.kind, place.id.to_string(), p.left)));
            let k = s.clone();
            o.crossing_facts.inspect(move |(place, c)| k.lock().unwrap().crossing_facts.push((place.kind, place.id.to_string(), c.ts, c.direction)));
            let k = s.clone();
            o.metric_parts.inspect(move |(key, track, part)| k.lock().unwrap().metric_parts.push((key.class, *track, part.points)));
            let k = s.clone();
            let probe = o.zone_windows.inspect(move |z| k.lock().unwrap().zone_windows.push((z.zone.clone(), z.exits))).probe().0;
            (input, probe)
        });
        for frame in 0..FRAMES {
            input.advance_to(T0 + 100 * frame);
            input.send(car(frame));
        }
        let last = T0 + 100 * (FRAMES - 1);
        input.send(Tracked::Ended(TrackRow { camera_id: "cam-1".into(), track_id: 1, class, first_ts_ms: T0, last_ts_ms: last, frames: FRAMES, mean_speed_kmh: None, max_speed_kmh: None }));
        input.close();
        while !probe.done() {
            worker.step();
        }
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.detections.len(), FRAMES as usize);
    assert!(seen.detections.iter().all(|d| d.ground_x.is_some()), "ground points filled in");
    assert_eq!(seen.tracks.len(), 1);
    assert!(seen.tracks[0].mean_speed_kmh.is_some(), "speeds filled in");
    // x = 100 + 8·frame passes 600 + 3 px of hysteresis at frame 63 (x = 604): from the right of
    // a line pointing down the screen to its left, forward.
    let crossed = T0 + 100 * 63;
    assert_eq!(seen.crossing_rows, [(crossed, Direction::Forward)]);
    assert_eq!(seen.crossing_facts, [(PlaceKind::Line, "middle".to_string(), crossed, Direction::Forward)]);
    // Inside while x ≤ 500 (frames 0..=50), out after the 500 ms grace.
    assert_eq!(seen.zone_events, [("left".to_string(), T0, T0 + 100 * 50)]);
    let inside = seen.zone_facts.iter().filter(|f| !f.2).count();
    assert_eq!(inside, 51);
    assert_eq!(seen.zone_facts.last(), Some(&(PlaceKind::Zone, "left".to_string(), true)));
    assert!(seen.zone_facts.iter().all(|f| f.0 == PlaceKind::Zone && f.1 == "left"));
    // One window: the car's part, as a car and as one of all vehicles.
    let mut parts = seen.metric_parts.clone();
    parts.sort();
    assert_eq!(parts, [(MetricClass::All, 1, FRAMES as u32), (MetricClass::Class(class), 1, FRAMES as u32)]);
    assert_eq!(seen.zone_windows, [("left".to_string(), 1)]);
}
