//! Replays the track points of a bench run through the movements state machine (no timely):
//! `JX_CONFIG=config-junction.toml JX_POINTS=points.csv JX_OUT=decisions.csv cargo test -p
//! itscam-queries --test junction_replay -- --ignored`. `points.csv`: `ts,track,class id,x,y,
//! speed centi-km/h (or empty),ended (0/1)` in time order (from a run's `detections` table).
//! Writes one line per decision: `movement,track,class,entry,exit,movement,stop_ts,delay_s` or
//! `passage,track,class,crosswalk,direction,ts`. Not run by default: it needs a bench run.

use itscam_queries::facts::TrackPoint;
use itscam_queries::junction::JunctionPlan;
use itscam_queries::junction::movements::{CameraMovements, Decision, NoSignals};
use itscam_types::ObjectClass;
use itscam_types::config::PipelineConfig;
use std::io::Write;

#[test]
#[ignore = "needs a bench run: JX_CONFIG, JX_POINTS, JX_OUT"]
fn replay_a_bench_run() {
    let (Ok(config), Ok(points), Ok(out)) = (std::env::var("JX_CONFIG"), std::env::var("JX_POINTS"), std::env::var("JX_OUT")) else {
        panic!("set JX_CONFIG, JX_POINTS and JX_OUT");
    };
    let text = std::fs::read_to_string(&config).expect("config");
    // Its sources are relative to its folder.
    if let Some(dir) = std::path::Path::new(&config).parent() {
        std::env::set_current_dir(dir).expect("config folder");
    }
    let config = PipelineConfig::from_toml(&text).expect("valid config");
    let plan = JunctionPlan::new(&config);
    let geom = plan.initial.values().next().expect("a junction").clone();
    let mut cam = CameraMovements::new(geom);
    let mut out = std::io::BufWriter::new(std::fs::File::create(out).expect("out"));
    let mut decisions = Vec::new();
    let mut now = 0;
    for line in std::fs::read_to_string(points).expect("points").lines() {
        let f: Vec<&str> = line.split(',').collect();
        let ts: u64 = f[0].parse().expect("ts");
        if ts != now {
            cam.advance(now, &NoSignals, &mut decisions);
            now = ts;
        }
        let p = TrackPoint {
            track: f[1].parse().expect("track"),
            ts,
            class: ObjectClass(f[2].parse().expect("class")),
            ground: Some((f[3].parse().expect("x"), f[4].parse().expect("y"))),
            speed_ck: f[5].parse().ok(),
            speed_std_ck: None,
            moving: true,
            dir: (0, 0),
            zones: Vec::new(),
            ended: f[6] == "1",
        };
        cam.point(&p, &NoSignals, &mut decisions);
    }
    cam.finish(&NoSignals, &mut decisions);
    for d in decisions {
        match d {
            Decision::Movement(m) => {
                let r = m.row;
                writeln!(out, "movement,{},{},{},{},{},{},{}", r.track_id, r.class, r.entry_approach, r.exit_approach.unwrap_or_default(), r.movement, r.stop_line_ts_ms.map_or(String::new(), |t| t.to_string()), r.control_delay_s.map_or(String::new(), |d| format!("{d:.2}"))).expect("write");
            }
            Decision::Passage(p) => writeln!(out, "passage,{},{},{},{},{}", p.track, p.class.name(), p.crosswalk, p.direction, p.ts).expect("write"),
        }
    }
}
