//! Cameras changed while `itscam serve` runs: added, their scene changed, removed — checked as an
//! oracle (the other camera's tables are identical to a run without the changes), with nothing
//! of the changed camera lost, every refusal a clear error, and every change in the control
//! log (the `changes` table) so that a restart comes back with the cameras it had.

use crate::support::*;
use std::path::Path;

/// Frames `from..to` of `camera` (10 fps from `t0`): three cars crossing the image left to
/// right at different speeds, each coming back from the left once it has left on the right.
fn frames(camera: &str, from: u64, to: u64, t0: u64) -> String {
    let mut out = String::new();
    for i in from..to {
        let dets: Vec<String> = (0..3u64)
            .map(|k| {
                let x = ((i * (12 + 6 * k) + k * 500) % 1700) as f64 + 50.0;
                let y = 400.0 + 150.0 * k as f64;
                format!(r#"{{"class":"car","confidence":0.9,"bbox":[{x},{y},{},{}]}}"#, x + 120.0, y + 70.0)
            })
            .collect();
        out += &format!(r#"{{"camera_id":"{camera}","ts_ms":{},"frame":{i},"width":1920,"height":1080,"detections":[{}]}}"#, t0 + 100 * i, dets.join(","));
        out.push('\n');
    }
    out
}

fn config(dir: &Path) {
    config_with(dir, "");
}

/// The config, with `extra` TOML before its cameras.
fn config_with(dir: &Path, extra: &str) {
    let text = String::from(extra) + r#"[lake]
url = "file://./lake"
[pipeline]
lateness_ms = 300
[service]
push_max_delay_ms = 86400000
[tracker]
min_hits = 2
[[camera]]
id = "cam-a"
source = "push"
road_length_m = 100.0
[camera.calibration]
image = [[0, 300], [1920, 300], [1920, 1080], [0, 1080]]
world = [[0, 30], [100, 30], [100, 0], [0, 0]]
[[camera.line]]
id = "middle"
points = [[960, 0], [960, 1080]]
[[camera.zone]]
id = "right"
polygon = [[1000, 0], [1920, 0], [1920, 1080], [1000, 1080]]
"#;
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

fn push(served: &Served, camera: &str, body: &str) {
    let (status, text) = http(&served.addr, "POST", &format!("/api/v1/cameras/{camera}/detections"), body);
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["rejected"].as_array().map(Vec::len), Some(0), "{text}");
}

fn camera_b(zone_x: u32, calibrated_width_m: u32) -> String {
    serde_json::json!({
        "id": "cam-b", "source": "push", "road_length_m": 80.0,
        "calibration": { "image": [[0, 300], [1920, 300], [1920, 1080], [0, 1080]], "world": [[0, 25], [calibrated_width_m, 25], [calibrated_width_m, 0], [0, 0]] },
        "line": [{ "id": "b-line", "points": [[700, 0], [700, 1080]] }],
        "zone": [{ "id": "b-zone", "polygon": [[zone_x, 0], [zone_x + 600, 0], [zone_x + 600, 1080], [zone_x, 1080]] }],
    })
    .to_string()
}

/// cam-a's rows of every table the queries write, sorted, as text.
fn tables_of_a(dir: &Path) -> Vec<String> {
    let queries = [
        "SELECT ts_ms, frame, track_id, class, x1, y1, ground_x, ground_y, speed_kmh FROM detections WHERE camera_id = 'cam-a' ORDER BY ts_ms, x1",
        "SELECT track_id, class, first_ts_ms, last_ts_ms, frames, mean_speed_kmh FROM tracks WHERE camera_id = 'cam-a' ORDER BY track_id",
        "SELECT line_id, track_id, ts_ms, direction FROM line_crossings WHERE camera_id = 'cam-a' ORDER BY ts_ms, track_id",
        "SELECT zone_id, track_id, enter_ts_ms, exit_ts_ms FROM zone_events WHERE camera_id = 'cam-a' ORDER BY enter_ts_ms, track_id",
        "SELECT window_start_ms, class, vehicle_count, avg_speed_kmh, density_veh_per_km, revision FROM traffic_metrics WHERE camera_id = 'cam-a' ORDER BY window_start_ms, class, revision",
    ];
    queries.iter().map(|q| serde_json::to_string(&query_json(dir, q)).unwrap()).collect()
}

#[test]
fn a_camera_added_changed_and_removed_while_serving_leaves_the_other_cameras_tables_as_they_were() {
    // Event time an hour ago, the same for both runs (push cameras accept a day of delay here).
    let t0 = (itscam_types::time::now_ms() - 3_600_000) / 60_000 * 60_000;

    // The reference: cam-a alone, pushed in the same chunks.
    let reference = scratch("cameras-reference");
    config(&reference);
    let served = Served::start(&reference, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    for chunk in 0..4 {
        push(&served, "cam-a", &frames("cam-a", chunk * 100, chunk * 100 + 100, t0));
    }
    let (status, _) = served.terminate();
    assert!(status.success());
    let expected = tables_of_a(&reference);
    assert!(query_int(&reference, "SELECT count(*) AS n FROM line_crossings") > 0 && query_int(&reference, "SELECT count(*) AS n FROM zone_events") > 0);

    let dir = scratch("cameras-changed");
    config(&dir);
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let addr = served.addr.clone();
    push(&served, "cam-a", &frames("cam-a", 0, 100, t0));

    // Added; the refusals.
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", &camera_b(1000, 80));
    assert_eq!(status, 201, "{text}");
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", &camera_b(1000, 80));
    assert_eq!((status, text.contains("\"exists\"")), (409, true), "{text}");
    let (status, _) = http(&addr, "POST", "/api/v1/cameras", "{\"id\": \"cam-c\", \"source\": ");
    assert_eq!(status, 400);
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", r#"{"id": "cam-c", "source": "kafka:detections"}"#);
    assert_eq!((status, text.contains("checkpointed")), (422, true), "{text}");
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", r#"{"id": "cam-c", "source": "detections:-"}"#);
    assert_eq!((status, text.contains("standard input")), (422, true), "{text}");
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", r#"{"id": "cam-c", "source": "push", "zone": [{"id": "z", "polygon": [[0, 0], [10, 10]]}]}"#);
    assert_eq!((status, text.contains("polygon")), (422, true), "{text}");
    let (status, _) = http(&addr, "PUT", "/api/v1/cameras/cam-x", &camera_b(1000, 80).replace("cam-b", "cam-x"));
    assert_eq!(status, 404);
    let (status, text) = http(&addr, "PUT", "/api/v1/cameras/cam-b", &camera_b(1000, 80).replace("\"push\"", "\"detections:-\""));
    assert_eq!((status, text.contains("cannot change")), (422, true), "{text}");
    let rule = r#"{"id": "b-intrusion", "kind": "zone_intrusion", "camera": "cam-b", "zone": "b-zone", "classes": ["car"], "severity": "low"}"#;
    let (status, text) = http(&addr, "PUT", "/api/v1/rules/b-intrusion", rule);
    assert_eq!(status, 201, "a rule on the added camera's zone: {text}");
    let without_zone = camera_b(1000, 80).replace("b-zone", "other-zone");
    let (status, text) = http(&addr, "PUT", "/api/v1/cameras/cam-b", &without_zone);
    assert_eq!((status, text.contains("b-zone")), (422, true), "a zone a rule needs cannot go: {text}");

    push(&served, "cam-b", &frames("cam-b", 100, 200, t0));
    push(&served, "cam-a", &frames("cam-a", 100, 200, t0));
    // The scene changes: the zone moves, the calibration too.
    let (status, text) = http(&addr, "PUT", "/api/v1/cameras/cam-b", &camera_b(400, 90));
    assert_eq!(status, 200, "{text}");
    push(&served, "cam-b", &frames("cam-b", 200, 300, t0));
    push(&served, "cam-a", &frames("cam-a", 200, 300, t0));
    let (status, text) = http(&addr, "DELETE", "/api/v1/cameras/cam-b", "");
    assert_eq!((status, text.contains("b-intrusion")), (409, true), "a camera a rule needs cannot go: {text}");
    let (status, _) = http(&addr, "DELETE", "/api/v1/rules/b-intrusion", "");
    assert_eq!(status, 200);
    let (status, text) = http(&addr, "DELETE", "/api/v1/cameras/cam-b", "");
    assert_eq!(status, 200, "{text}");
    let (status, _) = http(&addr, "POST", "/api/v1/cameras/cam-b/detections", &frames("cam-b", 300, 301, t0));
    assert_eq!(status, 404, "a removed camera takes no pushes");
    push(&served, "cam-a", &frames("cam-a", 300, 400, t0));
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");

    assert_eq!(tables_of_a(&dir), expected, "cam-a's tables are those of the run without cam-b");
    // Nothing of cam-b was lost: every pushed detection is a row, each tracked one in a
    // `tracks` row (its tracks ended at the scene change and at the removal).
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-b'"), 3 * 200);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors"), 0);
    assert_eq!(
        query_int(&dir, "SELECT count(*) AS n FROM detections d LEFT JOIN tracks t ON d.camera_id = t.camera_id AND d.track_id = t.track_id WHERE d.camera_id = 'cam-b' AND d.track_id IS NOT NULL AND t.track_id IS NULL"),
        0
    );
    assert!(query_int(&dir, "SELECT count(*) AS n FROM tracks WHERE camera_id = 'cam-b'") >= 6, "three cars, ended at the change and at the removal");
    assert!(query_int(&dir, "SELECT count(*) AS n FROM zone_events WHERE camera_id = 'cam-b'") > 0);
    let changes = query_json(&dir, "SELECT kind, id, op FROM changes ORDER BY seq");
    let changes: Vec<String> = changes.iter().map(|c| format!("{} {} {}", c["kind"].as_str().unwrap(), c["id"].as_str().unwrap(), c["op"].as_str().unwrap())).collect();
    assert_eq!(changes, ["camera cam-b put", "rule b-intrusion put", "camera cam-b put", "rule b-intrusion delete", "camera cam-b delete"]);

    // A restart comes back with the cameras the log left: cam-b removed, a camera added comes back.
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let (status, text) = http(&served.addr, "POST", "/api/v1/cameras", r#"{"id": "cam-c", "source": "push"}"#);
    assert_eq!(status, 201, "{text}");
    let (status, _) = served.terminate();
    assert!(status.success());
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let (status, text) = http(&served.addr, "GET", "/api/v1/cameras", "");
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = listed["configured"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cam-a", "cam-c"]);
    let (status, _) = served.terminate();
    assert!(status.success());
}

/// The detector's model and runtime, for the video camera added below.
fn model_toml() -> String {
    let root = repo_root();
    format!(
        "[model]\npath = \"{}/models/centernet-mbv3/centernet.onnx\"\nruntime_library = \"{}/.assets/libonnxruntime.so\"\nmax_batch = 4\nconfidence = 0.25\n",
        root.display(),
        root.display()
    )
}

#[test]
fn a_video_camera_and_a_detections_file_added_while_serving_are_read_whole_and_stop_when_removed() {
    let t0 = (itscam_types::time::now_ms() - 3_600_000) / 60_000 * 60_000;
    let reference = scratch("cameras-sources-reference");
    config_with(&reference, &model_toml());
    let served = Served::start(&reference, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    push(&served, "cam-a", &frames("cam-a", 0, 100, t0));
    push(&served, "cam-a", &frames("cam-a", 100, 200, t0));
    let (status, _) = served.terminate();
    assert!(status.success());
    let expected = tables_of_a(&reference);

    let dir = scratch("cameras-sources");
    config_with(&dir, &model_toml());
    let video = crate::vision::clip(&dir);
    // The file camera's frames come after those of cam-a pushed so far: an added camera's
    // frames before the event time the pipeline has reached are late.
    std::fs::write(dir.join("cam-f.jsonl"), frames("cam-f", 150, 250, t0)).unwrap();
    // The config has no video camera: each worker opens its detector when the first one comes.
    let served = Served::start_logging(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"], "info");
    let addr = served.addr.clone();
    push(&served, "cam-a", &frames("cam-a", 0, 100, t0));
    let camera_v = serde_json::json!({ "id": "cam-v", "source": format!("file:{}", video.display()) }).to_string();
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", &camera_v);
    assert_eq!(status, 201, "{text}");
    let camera_f = serde_json::json!({ "id": "cam-f", "source": format!("detections:{}", dir.join("cam-f.jsonl").display()), "zone": [{ "id": "f-zone", "polygon": [[1000, 0], [1920, 0], [1920, 1080], [1000, 1080]] }] });
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", &camera_f.to_string());
    assert_eq!(status, 201, "{text}");
    let second = serde_json::json!({ "id": "cam-g", "source": camera_f["source"] }).to_string();
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", &second);
    assert_eq!((status, text.contains("cam-f")), (422, true), "a file another camera reads: {text}");
    let (status, text) = http(&addr, "POST", "/api/v1/cameras/cam-v/detections", &frames("cam-v", 0, 1, t0));
    assert_eq!((status, text.contains("file:")), (409, true), "not a push camera: {text}");
    // Both read to their end (the reader's own signals), then removed: nothing they read is lost.
    served.wait_for("detections input read to its end");
    served.wait_for("video file ended");
    let (status, text) = http(&addr, "GET", "/api/v1/cameras/cam-v", "");
    assert_eq!(status, 200, "{text}");
    let one: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(one["camera"]["start_ms"].as_u64().is_some(), "a video file added without start_ms starts when added: {text}");
    assert_eq!(one["health"]["camera_id"], "cam-v", "{text}");
    for id in ["cam-v", "cam-f"] {
        let (status, text) = http(&addr, "DELETE", &format!("/api/v1/cameras/{id}"), "");
        assert_eq!(status, 200, "{text}");
    }
    // A camera removed while it runs (the whole sample video at its own pace, 80 s): its
    // ffmpeg is stopped (the reader reports the camera down, without an error).
    let vtest = repo_root().join(".assets/vtest.avi");
    let camera_r = serde_json::json!({ "id": "cam-r", "source": format!("file:{}", vtest.display()), "pacing": "realtime" }).to_string();
    let (status, text) = http(&addr, "POST", "/api/v1/cameras", &camera_r);
    assert_eq!(status, 201, "{text}");
    served.wait_for("camera Up");
    let (status, text) = http(&addr, "DELETE", "/api/v1/cameras/cam-r", "");
    assert_eq!(status, 200, "{text}");
    let down = served.wait_for("camera Down");
    assert!(down.contains("cam-r"), "{down}");
    push(&served, "cam-a", &frames("cam-a", 100, 200, t0));
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");

    assert_eq!(tables_of_a(&dir), expected, "cam-a's tables are those of the run without the other cameras");
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors"), 0);
    // The video: every frame of the clip measured and through the detector.
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM frame_quality WHERE camera_id = 'cam-v'"), 30);
    assert_eq!(query_int(&dir, "SELECT count(DISTINCT frame) AS n FROM detections WHERE camera_id = 'cam-v'"), 30);
    // The file: every detection a row; every track of both a `tracks` row (ended at the removal).
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-f'"), 3 * 100);
    assert!(query_int(&dir, "SELECT count(*) AS n FROM zone_events WHERE camera_id = 'cam-f'") > 0);
    assert_eq!(
        query_int(&dir, "SELECT count(*) AS n FROM detections d LEFT JOIN tracks t ON d.camera_id = t.camera_id AND d.track_id = t.track_id WHERE d.camera_id IN ('cam-v', 'cam-f', 'cam-r') AND d.track_id IS NOT NULL AND t.track_id IS NULL"),
        0
    );
    let changes = query_json(&dir, "SELECT kind, id, op FROM changes ORDER BY seq");
    let changes: Vec<String> = changes.iter().map(|c| format!("{} {} {}", c["kind"].as_str().unwrap(), c["id"].as_str().unwrap(), c["op"].as_str().unwrap())).collect();
    assert_eq!(changes, ["camera cam-v put", "camera cam-f put", "camera cam-v delete", "camera cam-f delete", "camera cam-r put", "camera cam-r delete"]);
    let stopped = query_int(&dir, "SELECT count(*) AS n FROM frame_quality WHERE camera_id = 'cam-r'");
    assert!(stopped > 0 && stopped < 795, "cam-r was read until it was removed: {stopped} of 795 frames");
}

/// cam-a as `config` has it, plus a junction: a west and an east approach over the whole road
/// (ground metres), with the `entry` gate of the west approach at `west_entry_x`.
fn camera_a_junction(west_entry_x: f64) -> String {
    serde_json::json!({
        "id": "cam-a", "source": "push", "road_length_m": 100.0,
        "calibration": { "image": [[0, 300], [1920, 300], [1920, 1080], [0, 1080]], "world": [[0, 30], [100, 30], [100, 0], [0, 0]] },
        "line": [{ "id": "middle", "points": [[960, 0], [960, 1080]] }],
        "zone": [{ "id": "right", "polygon": [[1000, 0], [1920, 0], [1920, 1080], [1000, 1080]] }],
        "approach": [
            { "id": "west", "entry": [[west_entry_x, 0], [west_entry_x, 30]], "stop_line": [[40, 0], [40, 30]], "exit": [[10, 30], [10, 0]],
              "lanes": [{ "id": "west-1", "polygon": [[0, 0], [40, 0], [40, 30], [0, 30]] }] },
            { "id": "east", "entry": [[90, 30], [90, 0]], "stop_line": [[60, 30], [60, 0]], "exit": [[90, 0], [90, 30]],
              "lanes": [{ "id": "east-1", "polygon": [[60, 0], [100, 0], [100, 30], [60, 30]] }] },
        ],
    })
    .to_string()
}

#[test]
fn a_junction_put_on_a_running_camera_counts_its_movements_from_then_on() {
    let t0 = (itscam_types::time::now_ms() - 3_600_000) / 60_000 * 60_000;
    let dir = scratch("cameras-junction");
    config(&dir);
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let addr = served.addr.clone();
    push(&served, "cam-a", &frames("cam-a", 0, 100, t0));
    // A gate that crosses none of its lanes is refused with its place.
    let (status, text) = http(&addr, "PUT", "/api/v1/cameras/cam-a", &camera_a_junction(-20.0));
    assert_eq!((status, text.contains("approach[0].entry") && text.contains("does not cross")), (422, true), "{text}");
    let (status, text) = http(&addr, "PUT", "/api/v1/cameras/cam-a", &camera_a_junction(10.0));
    assert_eq!(status, 200, "{text}");
    push(&served, "cam-a", &frames("cam-a", 100, 400, t0));
    // The change applies at the event time the camera's tracker finds: poll the camera until
    // it says which (every 50 ms, at most 30 s).
    let mut last = String::new();
    let since = (0..600).find_map(|_| {
        let (status, text) = http(&addr, "GET", "/api/v1/cameras/cam-a", "");
        assert_eq!(status, 200, "{text}");
        let camera = &serde_json::from_str::<serde_json::Value>(&text).unwrap()["camera"];
        // A config camera's since_ms is 0 until a change replaces it (then null, then its time).
        let since = camera["since_ms"].as_u64().filter(|s| *s > 0);
        if since.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50)); // polling period of the GET, not a synchronization
        }
        last = text;
        since
    });
    let since = since.unwrap_or_else(|| panic!("the tracker never took the junction in: {last}"));
    let (status, _) = served.terminate();
    assert!(status.success());

    // The cars drive left to right: every movement that reached an exit is west → east,
    // through, and began at or after the change; the cars the end of the input cut inside the
    // junction are `unknown`, never guessed.
    let newest = "SELECT *, row_number() OVER (PARTITION BY camera_id, track_id ORDER BY revision DESC) AS k FROM movements";
    let rows = query_json(&dir, &format!("SELECT entry_approach, exit_approach, movement, count(*) AS n, min(entry_ts_ms) AS first FROM ({newest}) WHERE k = 1 GROUP BY 1, 2, 3"));
    let mut through = 0;
    for r in &rows {
        assert!(r["first"].as_i64().unwrap() >= since as i64, "since {since}: {rows:?}");
        match (r["entry_approach"].as_str(), r["exit_approach"].as_str(), r["movement"].as_str()) {
            (Some("west"), Some("east"), Some("through")) => through = r["n"].as_i64().unwrap(),
            (_, None, Some("unknown")) => {}
            other => panic!("a movement the cars did not make: {other:?} in {rows:?}"),
        }
    }
    assert!(through >= 3, "{rows:?}");
    let counted = query_int(
        &dir,
        "SELECT sum(count) AS n FROM (SELECT *, row_number() OVER (PARTITION BY bin_start_ms, site, approach, movement, class ORDER BY revision DESC) AS k FROM turning_counts) \
         WHERE k = 1 AND approach = 'west' AND movement = 'through' AND class = 'car'",
    );
    assert_eq!(counted, through, "turning_counts counts the movements");
}
