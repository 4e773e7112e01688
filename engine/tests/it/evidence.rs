//! Evidence end to end: violations of a detection-only camera get their trajectory (as data,
//! drawn by the API), a video
//! camera's a snapshot with people pixelated and a clip, all committed in the lake and served
//! over HTTP to the roles that may see them.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use itscam_engine::http::{AppState, app};
use itscam_sinks::Lake;
use itscam_types::config::QueryConfig;
use std::path::Path;
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, bytes::Bytes) {
    let resp = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, resp.into_body().collect().await.unwrap().to_bytes())
}

/// The committed evidence objects of a lake (path → bytes recorded).
fn committed(lake_dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let lake = Lake::open(&format!("file://{}", lake_dir.display())).unwrap();
    let state = tokio::runtime::Runtime::new().unwrap().block_on(lake.load_state()).unwrap();
    state.files_of(itscam_sinks::EVIDENCE_TABLE).map(|f| (f.path.clone(), f.bytes)).collect()
}

#[test]
fn every_violation_of_a_detections_camera_gets_its_trajectory_committed_and_served() {
    let dir = scratch("evidence-detections");
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("examples/detections/config.toml")).unwrap().replace("examples/data/", &format!("{}/examples/data/", root.display()));
    std::fs::write(dir.join("config.toml"), text).unwrap();
    itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let violations = query_json(&dir, "SELECT violation_id, evidence FROM violations ORDER BY violation_id");
    assert!(violations.len() >= 10, "{} violations", violations.len());
    let objects = committed(&dir.join("lake"));
    for v in &violations {
        let evidence = v["evidence"].as_str().expect("every violation names its evidence");
        let named: Vec<&str> = evidence.split(',').collect();
        assert!(named.len() == 1 && named[0].ends_with("/evidence.json"), "one object, the manifest: {evidence}");
        let bytes = objects.get(named[0]).unwrap_or_else(|| panic!("{} is committed", named[0]));
        assert_eq!(std::fs::metadata(dir.join("lake").join(named[0])).unwrap().len(), *bytes);
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("lake").join(named[0])).unwrap()).unwrap();
        assert_eq!(manifest["violation_id"], v["violation_id"]);
        let points = manifest["trajectory"]["points"].as_array().unwrap_or_else(|| panic!("the trajectory as data: {manifest}"));
        assert!(points.len() >= 2 && manifest["trajectory_points"].as_u64() == Some(points.len() as u64), "{manifest}");
        let start = manifest["ts_start_ms"].as_u64().unwrap();
        assert!(points.iter().any(|p| p[0].as_u64().unwrap() >= start), "the path covers the episode: {manifest}");
    }

    // Over HTTP (`serve --lake`: the alerts table): the index, then the picture itself.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = Lake::open(&format!("file://{}/lake", dir.display())).unwrap();
        let mut state = AppState::open(&lake, QueryConfig::default()).await.unwrap();
        state.registry = itscam_engine::models::Registry::new(lake.clone(), dir.join("cache"));
        let app = app(state);
        let id = violations[0]["violation_id"].as_str().unwrap();
        let (status, _, body) = get(&app, &format!("/api/v1/alerts/{id}/evidence")).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(index["manifest"]["violation_id"], id);
        // Drawn from the manifest's trajectory when asked.
        let item = index["items"].as_array().unwrap().iter().find(|i| i["kind"] == "trajectory").expect("a trajectory item").clone();
        let (status, ct, png) = get(&app, item["url"].as_str().unwrap()).await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/png"));
        assert!(png.starts_with(b"\x89PNG") && png.len() as u64 == item["bytes"].as_u64().unwrap(), "{item}");
        let (status, _, _) = get(&app, "/api/v1/alerts/nope:cam-1:1:1/evidence").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}

/// Mean absolute difference of two RGB pictures over the box `b`.
fn distance(a: &[u8], b: &[u8], width: usize, r: [usize; 4]) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let i = 3 * (y * width + x);
            sum += (0..3).map(|c| u64::from(a[i + c].abs_diff(b[i + c]))).sum::<u64>();
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

/// A config in `dir` for 3 s of the sample video, where anyone on the plaza breaks a rule
/// (the whole picture is the zone); returns the clip's path.
fn video_config(dir: &Path) -> std::path::PathBuf {
    let video = crate::vision::clip(&dir);
    let root = repo_root();
    // Anyone on the plaza breaks the rule: the whole picture is the zone.
    let text = format!(
        "[lake]\nurl = \"file://{d}/lake\"\n[model]\npath = \"{r}/models/centernet-mbv3/centernet.onnx\"\nruntime_library = \"{r}/.assets/libonnxruntime.so\"\nmax_batch = 4\nconfidence = 0.25\n\
         [tracker]\nhigh_threshold = 0.35\nlow_threshold = 0.25\nnew_track_threshold = 0.35\nmin_hits = 3\n\
         [[camera]]\nid = \"plaza\"\nsource = \"file:{v}\"\nstart_ms = 1767225600000\n\
         [[camera.zone]]\nid = \"plaza\"\npolygon = [[0.0, 0.0], [768.0, 0.0], [768.0, 576.0], [0.0, 576.0]]\n\
         [[rule]]\nid = \"walking\"\nkind = \"zone_intrusion\"\ncamera = \"plaza\"\nzone = \"plaza\"\nclasses = [\"person\"]\nmin_duration_ms = 500\n",
        d = dir.display(),
        r = root.display(),
        v = video.display()
    );
    std::fs::write(dir.join("config.toml"), text).unwrap();
    video
}

#[test]
fn a_video_violation_gets_a_snapshot_with_people_pixelated_and_a_clip() {
    let dir = scratch("evidence-video");
    let video = video_config(&dir);
    itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let objects = committed(&dir.join("lake"));
    let snapshots: Vec<&String> = objects.keys().filter(|p| p.ends_with("/snapshot.jpg")).collect();
    assert!(!snapshots.is_empty(), "{objects:?}");
    let folder = snapshots[0].trim_end_matches("snapshot.jpg");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("lake").join(format!("{folder}evidence.json"))).unwrap()).unwrap();

    // The clip: the ring's frames around the confirmation (4 per second, 300 ms apart at 10 fps).
    let clip = std::fs::read(dir.join("lake").join(format!("{folder}clip.mjpeg"))).unwrap();
    let frames = itscam_engine::http::evidence::clip_frames(&clip);
    assert_eq!(frames.len(), manifest["clip"].as_array().unwrap().len(), "{manifest}");
    assert!(frames.len() >= 3, "{manifest}");
    for f in &frames {
        let img = itscam_imaging::codec::decode_jpeg(f).unwrap();
        assert_eq!((img.width, img.height), (768, 576));
    }

    // The snapshot: the frame of the manifest, whose people are pixelated: inside the middle
    // of each person's box far less detail than in the same frame of the video.
    let snapshot = itscam_imaging::codec::decode_jpeg(&std::fs::read(dir.join("lake").join(snapshots[0])).unwrap()).unwrap();
    let (ts, frame) = (manifest["snapshot"][0].as_u64().unwrap(), manifest["snapshot"][1].as_u64().unwrap());
    let raw = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&video)
        .args(["-vf", &format!("select=eq(n\\,{frame})"), "-vframes", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(raw.stdout.len(), 768 * 576 * 3);
    // The frame of the video with every person of the detections table pixelated as the
    // engine does: the snapshot is that, not the video, in the middle of each person's box.
    let persons = query_json(&dir, &format!("SELECT x1, y1, x2, y2 FROM detections WHERE class = 'person' AND ts_ms = {ts}"));
    let boxes: Vec<[f32; 4]> = persons.iter().map(|p| ["x1", "y1", "x2", "y2"].map(|k| p[k].as_f64().unwrap() as f32)).collect();
    let original = itscam_imaging::Rgb::from_slice(768, 576, &raw.stdout).unwrap();
    let mut hidden = original.clone();
    for b in &boxes {
        itscam_imaging::privacy::pixelate(&mut hidden, *b);
    }
    let mut closer: Vec<(f64, f64)> = boxes
        .iter()
        .filter(|b| b[2] - b[0] >= 24.0 && b[3] - b[1] >= 48.0)
        .map(|b| {
            let (w, h) = (b[2] - b[0], b[3] - b[1]);
            let middle = [(b[0] + w / 4.0) as usize, (b[1] + h / 4.0) as usize, (b[2] - w / 4.0) as usize, (b[3] - h / 4.0) as usize];
            (distance(&snapshot.data, &hidden.data, 768, middle), distance(&snapshot.data, &original.data, 768, middle))
        })
        .collect();
    assert!(!closer.is_empty(), "people in frame {frame}");
    closer.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    let (to_hidden, to_original) = closer[closer.len() / 2];
    assert!(to_hidden < 0.6 * to_original, "the snapshot shows people as the video does: {closer:?}");
    // Away from people and drawings the snapshot is the video's frame (JPEG twice over).
    let patch = [20, 60, 80, 100];
    assert!(distance(&snapshot.data, &original.data, 768, patch) < 8.0, "the rest of the picture is the frame's");
}

/// One HTTP/1.0 GET over a socket: (status, head, body bytes).
fn fetch(addr: &str, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, head, answer[split + 4..].to_vec())
}

/// Polls `path` until it answers 200 (two minutes at most: the pipeline works on).
fn until_ok(addr: &str, path: &str) -> (String, Vec<u8>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, head, body) = fetch(addr, path);
        if status == 200 {
            return (head, body);
        }
        assert!(std::time::Instant::now() < deadline, "{path} answers {status}: {}", String::from_utf8_lossy(&body));
        std::thread::sleep(std::time::Duration::from_millis(100)); // polling period, not a synchronization
    }
}

#[test]
fn a_serving_pipeline_shows_each_video_cameras_newest_frame_and_each_alerts_evidence() {
    let dir = scratch("evidence-serve");
    video_config(&dir);
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    let (head, jpeg) = until_ok(&served.addr, "/api/v1/cameras/plaza/frame");
    assert!(head.to_ascii_lowercase().contains("content-type: image/jpeg") && head.to_ascii_lowercase().contains("x-frame-ts-ms: 17672256"), "{head}");
    let frame = itscam_imaging::codec::decode_jpeg(&jpeg).unwrap();
    assert_eq!((frame.width, frame.height), (768, 576));
    assert_eq!(fetch(&served.addr, "/api/v1/cameras/nowhere/frame").0, 404);

    // The first alert's evidence, once committed (a few seconds after its confirmation).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let alert = loop {
        let (_, body) = until_ok(&served.addr, "/api/v1/alerts?limit=1");
        let alerts: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if let Some(first) = alerts["alerts"].get(0) {
            break first.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no alert was raised");
        std::thread::sleep(std::time::Duration::from_millis(100)); // polling period, not a synchronization
    };
    let named: Vec<&str> = alert["evidence"].as_array().expect("the alert names its evidence").iter().map(|v| v.as_str().unwrap()).collect();
    assert!(named.iter().any(|p| p.ends_with("/snapshot.jpg")) && named.iter().any(|p| p.ends_with("/clip.mjpeg")), "{named:?}");
    let id = alert["alert_id"].as_str().unwrap();
    let (_, body) = until_ok(&served.addr, &format!("/api/v1/alerts/{id}/evidence"));
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let clip_frames = index["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "clip").count();
    assert_eq!(clip_frames, index["manifest"]["clip"].as_array().unwrap().len(), "{index}");
    for name in ["snapshot.jpg", "clip-000.jpg"] {
        let (head, jpeg) = until_ok(&served.addr, &format!("/api/v1/alerts/{id}/evidence/{name}"));
        assert!(head.to_ascii_lowercase().contains("content-type: image/jpeg"), "{head}");
        assert_eq!(itscam_imaging::codec::decode_jpeg(&jpeg).unwrap().width, 768);
    }
    assert_eq!(fetch(&served.addr, &format!("/api/v1/alerts/{id}/evidence/clip-999.jpg")).0, 404);
    // SIGTERM drains the evidence service too (nothing holds it open).
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn evidence_on_an_s3_lake_is_committed_there_and_served_from_it() {
    // The example's `[lake]` (its url line; comments after it) becomes the S3 lake's.
    let dir = scratch("evidence-s3");
    let s3 = SeaweedFs::start(&dir);
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("examples/detections/config.toml"))
        .unwrap()
        .replace("examples/data/", &format!("{}/examples/data/", root.display()))
        .replace("[lake]\nurl = \"file://./lake\"", s3.lake_toml("ev").trim_end());
    std::fs::write(dir.join("config.toml"), text).unwrap();
    itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let s3_config = itscam_types::config::S3Config {
        endpoint: Some(s3.env["endpoint"].clone()),
        access_key_id: Some(s3.env["access_key_id"].clone()),
        secret_access_key: Some(s3.env["secret_access_key"].clone()),
        ..Default::default()
    };
    let lake = Lake::open_with(&format!("s3://{}/ev", s3.env["bucket"]), &s3_config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let state = runtime.block_on(lake.load_state()).unwrap();
    let committed: Vec<&itscam_sinks::FileEntry> = state.files_of(itscam_sinks::EVIDENCE_TABLE).collect();
    let trajectories = committed.iter().filter(|f| f.path.ends_with("/evidence.json")).count() as i64;
    assert!(!committed.iter().any(|f| f.path.ends_with("/trajectory.png")), "the trajectory is data in the manifest");
    let violations = itscam_ok(&dir, &["query", "--config", "config.toml", "--format", "json", "SELECT count(*) AS n FROM violations"]);
    let violations: serde_json::Value = serde_json::from_str(&violations).unwrap();
    assert_eq!(trajectories, violations[0]["n"].as_i64().unwrap(), "one committed manifest (with its trajectory) per violation");
    runtime.block_on(async {
        let mut state = AppState::open(&lake, QueryConfig::default()).await.unwrap();
        state.registry = itscam_engine::models::Registry::new(lake.clone(), dir.join("cache"));
        let app = app(state);
        let (_, _, body) = get(&app, "/api/v1/alerts?limit=1").await;
        let alerts: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let id = alerts["alerts"][0]["alert_id"].as_str().expect("an alert in the lake").to_string();
        let (status, ct, png) = get(&app, &format!("/api/v1/alerts/{id}/evidence/trajectory.png")).await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/png"));
        assert!(png.starts_with(b"\x89PNG"));
    });
}
