//! The observe step's typed outputs: one car drives through a zone and over a line, and each
//! output stream carries exactly its own kind of record.

use itscam_queries::AnalyticsPlan;
use itscam_queries::facts::{PlaceKind, Readers};
use itscam_queries::observe::{MetricClass, observe};
use itscam_types::analytics::Direction;
use itscam_types::config::PipelineConfig;
use itscam_types::{DetectionRow, ObjectClass, TrackRow, Tracked};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::vec::{Filter, Input};
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
        frame_size: [0, 0],
        model_version: None,
    })
}

#[derive(Default)]
struct Seen {
    detections: Vec<DetectionRow>,
    tracks: Vec<TrackRow>,
    crossing_rows: Vec<(u64, Direction)>,
    zone_events: Vec<(String, u64, u64)>,
    /// (kind, id, left, readers, ts).
    zone_facts: Vec<(PlaceKind, String, bool, Readers, u64)>,
    crossing_facts: Vec<(PlaceKind, String, u64, Direction)>,
    metric_parts: Vec<(MetricClass, u64, u32)>,
    zone_windows: Vec<(String, u64)>,
}

#[test]
fn each_output_carries_its_own_records() {
    for speed_rules_smoothed in [true, false] {
        each_output_carries_its_own_records_with(speed_rules_smoothed);
    }
}

fn each_output_carries_its_own_records_with(speed_rules_smoothed: bool) {
    let mut config = PipelineConfig::from_toml(CONFIG).expect("valid config");
    config.analytics.speed.speed_rules_smoothed = speed_rules_smoothed;
    let config = Arc::new(config);
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
            o.zone_facts.inspect(move |(place, p)| k.lock().unwrap().zone_facts.push((place.kind, place.id.to_string(), p.left, p.readers, p.ts)));
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
        input.send(Tracked::Ended(TrackRow { camera_id: "cam-1".into(), track_id: 1, class, first_ts_ms: T0, last_ts_ms: last, frames: FRAMES, mean_speed_kmh: None, max_speed_kmh: None, model_versions: None }));
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
    // Each point twice: the causal fact at once, the smoothed one as its row leaves the smoother;
    // each stay ends once in each. Without smoothed speeds for the speed rules, once for all.
    assert!(seen.zone_facts.iter().all(|f| f.0 == PlaceKind::Zone && f.1 == "left"));
    let kinds: &[Readers] = if speed_rules_smoothed { &[Readers::NotSpeed, Readers::Speed] } else { &[Readers::Every] };
    assert!(seen.zone_facts.iter().all(|f| kinds.contains(&f.3)), "only {kinds:?}");
    for &readers in kinds {
        let facts: Vec<_> = seen.zone_facts.iter().filter(|f| f.3 == readers).collect();
        assert_eq!(facts.iter().filter(|f| !f.2).count(), 51, "{readers:?}");
        assert_eq!(facts.iter().filter(|f| f.2).count(), 1, "{readers:?}");
        assert!(facts.last().unwrap().2, "the leaving comes last ({readers:?})");
        assert!(facts.windows(2).all(|w| w[0].4 <= w[1].4), "in event-time order ({readers:?})");
    }
    // One window: the car's part, as a car and as one of all vehicles.
    let mut parts = seen.metric_parts.clone();
    parts.sort();
    assert_eq!(parts, [(MetricClass::All, 1, FRAMES as u32), (MetricClass::Class(class), 1, FRAMES as u32)]);
    assert_eq!(seen.zone_windows, [("left".to_string(), 1)]);
}

/// Position (px, right along y = 500) and true speed (km/h) of a braking car at `frame`
/// (10 fps; the calibration's 0.05 m/px): 12 m/s, then 2.5 m/s² of braking from 1 s to 5 s,
/// then 2 m/s.
fn braking(frame: u64) -> (f32, f64) {
    let t = frame as f64 / 10.0;
    let (v0, a) = (12.0, 2.5);
    let (metres, speed) = if t < 1.0 {
        (v0 * t, v0)
    } else if t < 5.0 {
        let d = t - 1.0;
        (v0 + v0 * d - 0.5 * a * d * d, v0 - a * d)
    } else {
        (v0 + v0 * 4.0 - 0.5 * a * 16.0 + 2.0 * (t - 5.0), 2.0)
    };
    ((100.0 + metres / 0.05) as f32, speed * 3.6)
}

fn braking_car(frame: u64) -> Tracked {
    let Tracked::Detection(mut d) = car(frame) else { unreachable!() };
    let x = braking(frame).0;
    (d.x1, d.x2) = (x - 40.0, x + 40.0);
    Tracked::Detection(d)
}

/// What the smoothing test sees: rows (with the time they left at), tracks, and the metrics
/// windows' speed sums.
#[derive(Default)]
struct Smoothing {
    rows: Vec<(u64, DetectionRow)>,
    tracks: Vec<TrackRow>,
    speed_sum_ck: i64,
    speed_n: u32,
}

/// The detections frontier once frame `t` has been observed: the oldest row still waiting
/// for its lag (`t + 1`, the input's frontier, when none waits).
fn oldest_waiting(t: u64, lag_ms: u64) -> u64 {
    match lag_ms {
        0 => t + 1,
        // Rows of frames (100 ms apart) up to `t − lag` have left.
        lag if t - T0 >= lag => t - lag + 100,
        _ => T0,
    }
}

/// Runs the braking car (70 frames, 7 s; noise-free boxes, the filter told to expect 4 px of
/// jitter, 0.2 m) through observe with `smooth_lag_ms`, checking after
/// each frame that the rows older than the lag have left and the others wait.
fn run_braking(lag_ms: u64) -> Smoothing {
    const N: u64 = 70;
    let text = format!("{}\n[analytics.speed]\nsmooth_lag_ms = {lag_ms}\npixel_noise_px = 4.0\n", calibrated_camera!());
    let config = Arc::new(PipelineConfig::from_toml(&text).expect("valid config"));
    let plan = AnalyticsPlan::new(config, Vec::new()).expect("plan");
    let class = ObjectClass::from_name("car").unwrap();
    let seen: Arc<Mutex<Smoothing>> = Arc::default();
    let (s, p) = (seen.clone(), plan.clone());
    timely::execute_directly(move |worker| {
        let (mut input, rows) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, tracked) = scope.new_input::<Tracked>();
            let o = observe(tracked, p.scenes.clone(), p.settings, p.live_zones.clone());
            let k = s.clone();
            let rows = o
                .detections
                .inspect_core(move |event| {
                    if let Ok((stamp, ds)) = event {
                        let t = *stamp.least().expect("one time");
                        k.lock().unwrap().rows.extend(ds.iter().map(|d| (t, d.clone())));
                    }
                })
                .probe()
                .0;
            let k = s.clone();
            o.tracks.inspect(move |t| k.lock().unwrap().tracks.push(t.clone()));
            let k = s.clone();
            o.metric_parts.filter(|(key, _, _)| key.class == MetricClass::All).inspect(move |(_, _, part)| {
                let mut k = k.lock().unwrap();
                k.speed_sum_ck += part.speed_sum_ck;
                k.speed_n += part.speed_n;
            });
            (input, rows)
        });
        for frame in 0..N {
            let t = T0 + 100 * frame;
            input.advance_to(t);
            input.send(braking_car(frame));
            input.advance_to(t + 1);
            let expected = oldest_waiting(t, lag_ms);
            let mut steps = 0;
            while rows.less_than(&expected) {
                worker.step();
                steps += 1;
                assert!(steps < 1_000, "frame {frame}: rows before {expected} never left");
            }
            assert!(rows.less_equal(&expected), "frame {frame}: a row before its lag left");
            let seen = s.lock().unwrap().rows.len() as u64;
            assert_eq!(seen, (expected - T0).div_ceil(100).min(frame + 1), "frame {frame}: rows out");
        }
        let last = T0 + 100 * (N - 1);
        input.send(Tracked::Ended(TrackRow { camera_id: "cam-1".into(), track_id: 1, class, first_ts_ms: T0, last_ts_ms: last, frames: N, mean_speed_kmh: None, max_speed_kmh: None, model_versions: None }));
        input.close();
        while !rows.done() {
            worker.step();
        }
    });
    Arc::try_unwrap(seen).ok().expect("one owner").into_inner().unwrap()
}

/// Mean absolute error (km/h) of the rows' speeds after the first second.
fn braking_mae(s: &Smoothing) -> f64 {
    let e: Vec<f64> = s.rows.iter().filter(|(_, d)| d.frame >= 10).map(|(_, d)| (d.speed_kmh.expect("a speed") - braking(d.frame).1).abs()).collect();
    e.iter().sum::<f64>() / e.len() as f64
}

#[test]
fn stored_speeds_are_smoothed_and_wait_for_the_lag() {
    let smoothed = run_braking(500);
    let causal = run_braking(0);
    for s in [&smoothed, &causal] {
        assert_eq!(s.rows.len(), 70);
        assert!(s.rows.iter().all(|(t, d)| *t == d.ts_ms), "every row leaves at its own time");
        // The tracks' and the metrics' speeds are the rows'.
        let speeds: Vec<f64> = s.rows.iter().filter_map(|(_, d)| d.speed_kmh).collect();
        let mean = speeds.iter().sum::<f64>() / speeds.len() as f64;
        let max = speeds.iter().copied().fold(f64::MIN, f64::max);
        assert_eq!(s.tracks.len(), 1);
        assert!((s.tracks[0].mean_speed_kmh.unwrap() - mean).abs() < 1e-9);
        assert_eq!(s.tracks[0].max_speed_kmh, Some(max));
        assert_eq!(s.speed_n as usize, speeds.len());
        assert_eq!(s.speed_sum_ck, speeds.iter().map(|v| (v * 100.0).round() as i64).sum::<i64>());
    }
    // Noise-free boxes: what is left is the causal filter's lag behind the braking, which the
    // smoother takes away.
    let (m_smoothed, m_causal) = (braking_mae(&smoothed), braking_mae(&causal));
    eprintln!("braking, noise-free boxes: MAE causal {m_causal:.2}, smoothed {m_smoothed:.2} km/h");
    assert!(m_causal > 1.0, "the filter's lag shows: {m_causal} km/h");
    assert!(m_smoothed < 0.3 * m_causal, "smoothed {m_smoothed} vs causal {m_causal} km/h");
}

/// A camera's lines and zones change while the car drives (the calibration stays): the track
/// goes on, its stay in the zone that is gone ends at the change, the line that did not move
/// counts its crossing once, and the new zone sees the car.
#[test]
fn a_scene_change_keeps_the_tracks_and_ends_stays_in_zones_that_are_gone() {
    let config = Arc::new(PipelineConfig::from_toml(CONFIG).expect("valid config"));
    let plan = AnalyticsPlan::new(config, Vec::new()).expect("plan");
    // "left" goes, "right" comes, "middle" stays where it was.
    let changed = CONFIG.replace(r#"id = "left"
polygon = [[0, 0], [500, 0], [500, 1000], [0, 1000]]"#, r#"id = "right"
polygon = [[700, 0], [1000, 0], [1000, 1000], [700, 1000]]"#);
    assert_ne!(changed, CONFIG);
    let camera = PipelineConfig::from_toml(&changed).expect("valid config").camera[0].clone();
    let class = ObjectClass::from_name("car").unwrap();
    type Seen = (Vec<(u64, Direction)>, Vec<(String, u64, u64)>, Vec<TrackRow>);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (s, p) = (seen.clone(), plan.clone());
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, tracked) = scope.new_input::<Tracked>();
            let o = observe(tracked, p.scenes.clone(), p.settings, p.live_zones.clone());
            let k = s.clone();
            o.crossing_rows.inspect(move |c| k.lock().unwrap().0.push((c.ts_ms, c.direction)));
            let k = s.clone();
            o.zone_events.inspect(move |z| k.lock().unwrap().1.push((z.zone_id.clone(), z.enter_ts_ms, z.exit_ts_ms)));
            let k = s.clone();
            let probe = o.tracks.inspect(move |t| k.lock().unwrap().2.push(t.clone())).probe().0;
            (input, probe)
        });
        for frame in 0..FRAMES {
            input.advance_to(T0 + 100 * frame);
            if frame == 30 {
                input.send(Tracked::Scene(Box::new(itscam_types::CameraChange { camera_id: "cam-1".into(), camera: Some(camera.clone()) })));
            }
            input.send(car(frame));
        }
        let last = T0 + 100 * (FRAMES - 1);
        input.send(Tracked::Ended(TrackRow { camera_id: "cam-1".into(), track_id: 1, class, first_ts_ms: T0, last_ts_ms: last, frames: FRAMES, mean_speed_kmh: None, max_speed_kmh: None, model_versions: None }));
        input.close();
        while !probe.done() {
            worker.step();
        }
    });
    let (crossings, mut stays, tracks) = seen.lock().unwrap().clone();
    assert_eq!(crossings, [(T0 + 100 * 63, Direction::Forward)], "the line did not move: one crossing");
    stays.sort();
    // In "left" until the change (last inside at frame 29); in "right" from x = 700 + 3 (frame
    // 75, bottom centre 700) to the end.
    assert_eq!(stays, [("left".to_string(), T0, T0 + 100 * 29), ("right".to_string(), T0 + 100 * 75, T0 + 100 * (FRAMES - 1))]);
    assert_eq!(tracks.len(), 1, "the track went on");
}
