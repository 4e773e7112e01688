//! The model registry end to end: `itscam models` on a lake with the two real models (the
//! bundled CenterNet and its int8 quantization), refusals with their reasons, and a hot swap
//! under load in a running `serve` — no frame lost or run twice, the switch at one frame, the
//! shadow comparison and the monitoring rows in the lake, rollback.

use crate::support::*;
use std::path::Path;

const FLOAT: &str = "models/centernet-mbv3/centernet.onnx";
const INT8: &str = "models/centernet-mbv3-int8/centernet-int8.onnx";

/// `itscam models ARGS` on `./lake`, with the ONNX Runtime library of the repository.
fn models(dir: &Path, args: &[&str]) -> std::process::Output {
    let lib = repo_root().join(".assets/libonnxruntime.so");
    std::fs::write(dir.join("models.toml"), format!("[lake]\nurl = \"file://./lake\"\n[model]\nruntime_library = \"{}\"\n", lib.display())).unwrap();
    let mut all = vec!["models", "--config", "models.toml"];
    all.extend_from_slice(args);
    itscam(dir, &all)
}

fn models_ok(dir: &Path, args: &[&str]) -> String {
    let out = models(dir, args);
    assert!(out.status.success(), "itscam models {args:?}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn models_err(dir: &Path, args: &[&str]) -> String {
    let out = models(dir, args);
    assert!(!out.status.success(), "itscam models {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

fn register(dir: &Path, file: &str, version: &str) -> String {
    let root = repo_root();
    let (file, video) = (root.join(file), root.join(".assets/vtest.avi"));
    models_ok(dir, &["register", file.to_str().unwrap(), "--name", "detector", "--version", version, "--video", video.to_str().unwrap(), "--frames", "8"])
}

#[test]
fn register_validates_refuses_what_it_cannot_use_and_records_every_stage() {
    let dir = scratch("models-registry");
    let root = repo_root();
    let out = register(&dir, FLOAT, "1.0.0");
    assert!(out.contains("registered detector@1.0.0") && out.contains("validation: passed"), "{out}");
    assert!(register(&dir, FLOAT, "1.0.0").contains("already registered with these bytes"), "same bytes: a no-op");
    let other = root.join(INT8);
    assert!(models_err(&dir, &["register", other.to_str().unwrap(), "--name", "detector", "--version", "1.0.0"]).contains("versions are immutable"));
    std::fs::write(dir.join("notes.onnx"), "not a model").unwrap();
    assert!(models_err(&dir, &["register", "notes.onnx", "--name", "detector", "--version", "9.0.0"]).contains("not an ONNX model"));
    assert!(models_err(&dir, &["register", other.to_str().unwrap(), "--name", "detector", "--version", "9.0.0", "--family", "ssd"]).contains("unknown family"));
    let yolo = models_err(&dir, &["register", other.to_str().unwrap(), "--name", "detector", "--version", "9.0.0", "--family", "yolo"]);
    assert!(yolo.contains("was not registered") && yolo.contains("image"), "a CenterNet graph read as YOLO: its input is NHWC, not an image tensor of that family: {yolo}");
    assert!(models_err(&dir, &["register", other.to_str().unwrap(), "--name", "detector", "--version", "v2"]).contains("not a semantic version"));

    models_ok(&dir, &["promote", "detector@1.0.0", "production"]);
    let out = register(&dir, INT8, "1.1.0");
    assert!(out.contains("agreement with detector@1.0.0"), "validation compares with production: {out}");
    assert!(models_err(&dir, &["retire", "detector@1.0.0"]).contains("is in production"));
    models_ok(&dir, &["promote", "detector@1.1.0", "production"]);
    assert!(models_ok(&dir, &["rollback", "detector"]).contains("production is detector@1.0.0 again"));
    let list = models_ok(&dir, &["list"]);
    assert!(list.lines().any(|l| l.starts_with("detector@1.0.0") && l.contains("production")), "{list}");
    assert!(list.lines().any(|l| l.starts_with("detector@1.1.0") && l.contains("retired")), "{list}");
    // Every stage change is a control-log entry: the `changes` table.
    let changes = query_json(&dir, "SELECT id, \"after\" FROM changes WHERE kind = 'model' ORDER BY seq");
    assert_eq!(changes.len(), 7, "2 registrations, 1.0.0 → production, 1.0.0 → retired and 1.1.0 → production, the rollback's two: {changes:?}");
    let shown: serde_json::Value = serde_json::from_str(&models_ok(&dir, &["show", "detector@1.1.0"])).unwrap();
    assert_eq!(shown["manifest"]["opset"], 17);
    assert_eq!(shown["manifest"]["classes"], 80);
    assert!(shown["manifest"]["validation"]["agreement"].as_f64().unwrap() > 0.5, "{shown}");
}

/// The first 150 frames of the sample video (a debug build infers a few frames per second).
fn clip(dir: &Path) -> std::path::PathBuf {
    clip_of(dir, 150)
}

fn clip_of(dir: &Path, frames: usize) -> std::path::PathBuf {
    let out = dir.join(format!("clip-{frames}.avi"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(repo_root().join(".assets/vtest.avi"))
        .args(["-frames:v", &frames.to_string(), "-c:v", "mpeg4", "-q:v", "2"])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed (scripts/setup.sh)");
    assert!(status.success());
    out
}

/// The models are what these tests are about: no evidence pictures (JPEG-coding every kept
/// frame competes with inference), and a drain grace for a loaded machine — at SIGTERM the
/// drain infers the frames still queued (~13 s in a debug build on an idle 2-core machine).
fn config(dir: &Path, extra: &str) {
    let root = repo_root();
    let vtest = clip(dir);
    let text = format!(
        "[lake]\nurl = \"file://./lake\"\n[model]\nregistry = \"detector\"\nruntime_library = \"{}/.assets/libonnxruntime.so\"\nmax_batch = 2\n\
         [evidence]\nenabled = false\n[service]\nshutdown_grace_ms = 120000\n\
         [models]\nshadow_sample = 0.25\nwindow_ms = 1000\n{extra}\n\
         [[camera]]\nid = \"plaza-a\"\nsource = \"file:{}\"\nstart_ms = 1767225600000\n\
         [[camera]]\nid = \"plaza-b\"\nsource = \"file:{}\"\nstart_ms = 1767225600000\n",
        root.display(),
        vtest.display(),
        vtest.display()
    );
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

/// `itscam_model_frames_total` of `version`, summed over cameras.
fn model_frames(addr: &str, version: &str) -> u64 {
    let (status, text) = http(addr, "GET", "/metrics", "");
    assert_eq!(status, 200);
    let label = format!("model_version=\"{version}\"");
    text.lines().filter(|l| l.starts_with("itscam_model_frames_total") && l.contains(&label)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50)); // polling period, not a synchronization
    }
}

#[test]
fn a_promotion_swaps_the_model_under_load_without_losing_or_repeating_a_frame() {
    let dir = scratch("models-swap");
    register(&dir, FLOAT, "1.0.0");
    register(&dir, INT8, "1.1.0");
    models_ok(&dir, &["promote", "detector@1.0.0", "production"]);
    models_ok(&dir, &["promote", "detector@1.1.0", "staging"]);
    config(&dir, "");
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    // Production runs and the staging version is shadowed on a sample of its frames.
    wait("frames on 1.0.0", || model_frames(&served.addr, "detector@1.0.0") >= 40);
    let (status, body) = http(&served.addr, "POST", "/api/v1/models/detector@1.1.0/promote", r#"{"stage":"production"}"#);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let generation = answer["generation"].as_u64().expect("the pipeline publishes a new routing");
    // Every inference thread switches once the new model is loaded and warmed.
    wait("the swap", || {
        let (_, list) = http(&served.addr, "GET", "/api/v1/models", "");
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        list["serving"]["threads"].as_object().is_some_and(|t| !t.is_empty() && t.values().all(|g| g.as_u64() == Some(generation)))
    });
    wait("frames on 1.1.0", || model_frames(&served.addr, "detector@1.1.0") >= 10);
    let (_, cameras) = http(&served.addr, "GET", "/api/v1/cameras", "");
    wait("both files read to their end", || {
        let (_, cameras) = http(&served.addr, "GET", "/api/v1/cameras", "");
        cameras.matches("\"finished\"").count() >= 2
    });
    let (status, _) = served.terminate();
    assert!(status.success(), "{cameras}");

    for camera in ["plaza-a", "plaza-b"] {
        // Frames in = frames out: every decoded frame inferred once, by one model or the other.
        let decoded = query_int(&dir, &format!("SELECT count(*) AS n FROM frame_quality WHERE camera_id = '{camera}' AND NOT skipped"));
        let inferred = query_int(&dir, &format!("SELECT sum(frames) AS n FROM model_metrics WHERE camera_id = '{camera}'"));
        assert_eq!(inferred, decoded, "{camera}: frames inferred vs decoded");
        assert_eq!(query_int(&dir, &format!("SELECT count(*) AS n FROM errors WHERE camera_id = '{camera}'")), 0);
        // One switch: every frame of 1.0.0 before every frame of 1.1.0.
        let rows = query_json(&dir, &format!("SELECT model_version, min(frame) AS first, max(frame) AS last FROM detections WHERE camera_id = '{camera}' GROUP BY model_version ORDER BY first"));
        assert_eq!(rows.len(), 2, "{camera}: {rows:?}");
        assert_eq!(rows[0]["model_version"], "detector@1.0.0");
        assert!(rows[0]["last"].as_i64() < rows[1]["first"].as_i64(), "{camera}: the model changed at one frame: {rows:?}");
        // No frame has detections of both models (none run twice).
        assert_eq!(query_int(&dir, &format!("SELECT count(*) AS n FROM (SELECT frame FROM detections WHERE camera_id = '{camera}' GROUP BY frame HAVING count(DISTINCT model_version) > 1)")), 0);
    }
    // Tracks that spanned the swap saw both versions.
    assert!(query_int(&dir, "SELECT count(*) AS n FROM tracks WHERE model_versions = 'detector@1.0.0,detector@1.1.0'") >= 1);
    // The shadow comparison before the promotion, and the view over it.
    let shadow = query_json(&dir, "SELECT sum(frames) AS frames, sum(matched) AS matched, sum(production_detections) AS p FROM model_shadow WHERE candidate_version = 'detector@1.1.0' AND class = 'person'");
    assert!(shadow[0]["frames"].as_i64().unwrap() >= 5 && shadow[0]["matched"].as_i64().unwrap() > shadow[0]["p"].as_i64().unwrap() / 2, "{shadow:?}");
    let compared = query_json(&dir, "SELECT agreement, production_mean_track_frames FROM model_comparison WHERE class = 'person'");
    assert!(!compared.is_empty() && compared.iter().all(|r| r["agreement"].as_f64().unwrap() > 0.5), "{compared:?}");
    assert!(compared.iter().all(|r| r["production_mean_track_frames"].as_f64().is_some_and(|f| f > 1.0)), "tracks of 1.0.0 alone: {compared:?}");
}

#[test]
fn cameras_that_follow_a_name_without_production_or_pin_an_unknown_version_do_not_start() {
    let dir = scratch("models-start");
    config(&dir, "");
    let out = itscam(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("has no production version"), "{err}");
    register(&dir, FLOAT, "1.0.0");
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap().replace("id = \"plaza-b\"\n", "id = \"plaza-b\"\nmodel = \"detector@7.0.0\"\n");
    std::fs::write(dir.join("config.toml"), text).unwrap();
    models_ok(&dir, &["promote", "detector@1.0.0", "production"]);
    let out = itscam(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("detector@7.0.0 is not registered"), "{err}");
    let bad = std::fs::read_to_string(dir.join("config.toml")).unwrap().replace("detector@7.0.0", "detector");
    std::fs::write(dir.join("config.toml"), bad).unwrap();
    let out = itscam(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected NAME@VERSION"));
}

#[test]
fn the_guard_rolls_a_canary_back_when_it_leaves_its_bounds_with_an_alert_and_a_log_entry() {
    use itscam_operators::vision::board::canary_camera;
    let dir = scratch("models-guard");
    register(&dir, FLOAT, "1.0.0");
    register(&dir, INT8, "1.1.0");
    models_ok(&dir, &["promote", "detector@1.0.0", "production"]);
    models_ok(&dir, &["promote", "detector@1.1.0", "canary"]);
    // Bounds no real canary meets (its detections per frame within 1.5–2× production's), so the
    // guard's verdict does not hang on how close the two models are on these frames.
    config(&dir, "canary_percent = 50\n[models.guard]\nmin_ratio = 1.5\nmax_ratio = 2.0\nmin_frames = 2\n");
    // One camera of the two runs the canary: ids picked by the same stable hash the engine uses.
    let ids: Vec<String> = (0..).map(|i| format!("plaza-{i}")).take(64).collect();
    let camera = ids.iter().find(|c| canary_camera(c, 50)).unwrap().clone();
    let other = ids.iter().find(|c| !canary_camera(c, 50)).unwrap().clone();
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap().replace("\"plaza-a\"", &format!("\"{camera}\"")).replace("\"plaza-b\"", &format!("\"{other}\""));
    std::fs::write(dir.join("config.toml"), text).unwrap();
    let served = Served::start(&dir, &["--config", "config.toml", "--listen", "127.0.0.1:0"]);
    wait("the canary retired by the guard", || {
        let (_, one) = http(&served.addr, "GET", "/api/v1/models/detector@1.1.0", "");
        serde_json::from_str::<serde_json::Value>(&one).unwrap()["stage"] == "retired"
    });
    // The rollback's alert (raised after the stage change), and the canary camera back on
    // production: both waited for, not assumed.
    wait("the canary_rollback alert", || http(&served.addr, "GET", "/api/v1/alerts", "").1.contains("canary_rollback"));
    let production_on_canary = format!("itscam_model_frames_total{{model_version=\"detector@1.0.0\",camera_id=\"{camera}\"}}");
    wait("frames of 1.0.0 on the canary camera", || http(&served.addr, "GET", "/metrics", "").1.lines().any(|l| l.starts_with(&production_on_canary)));
    let (status, _) = served.terminate();
    assert!(status.success());
    let entries = query_json(&dir, "SELECT who FROM changes WHERE kind = 'model' AND id = 'detector@1.1.0' ORDER BY seq");
    let who = entries.last().unwrap()["who"].as_str().unwrap().to_string();
    assert!(who.starts_with("guard: detections per frame"), "{who}");
    assert!(query_int(&dir, "SELECT count(*) AS n FROM anomalies WHERE kind = 'canary_rollback' AND zone_id = 'detector@1.1.0'") == 1);
    // The canary camera ran 1.1.0, then production again after the rollback.
    let rows = query_json(&dir, &format!("SELECT model_version, min(frame) AS first, max(frame) AS last FROM detections WHERE camera_id = '{camera}' GROUP BY model_version ORDER BY first"));
    assert_eq!(rows.iter().map(|r| r["model_version"].as_str().unwrap()).collect::<Vec<_>>(), ["detector@1.1.0", "detector@1.0.0"], "{rows:?}");
}

#[test]
fn the_registry_lives_on_s3_and_a_run_follows_it_through_a_checked_local_copy() {
    let dir = scratch("models-s3");
    let s3 = SeaweedFs::start(&dir);
    let root = repo_root();
    let lake = format!(
        "{}\n[model]\nregistry = \"detector\"\nruntime_library = \"{}\"\nmax_batch = 2\n[models]\ncache_dir = \"cache\"\n",
        s3.lake_toml("registry"),
        root.join(".assets/libonnxruntime.so").display()
    );
    std::fs::write(dir.join("lake.toml"), &lake).unwrap();
    let (file, video) = (root.join(FLOAT), root.join(".assets/vtest.avi"));
    let out = itscam_ok(&dir, &["models", "--config", "lake.toml", "register", file.to_str().unwrap(), "--name", "detector", "--version", "2.0.0", "--video", video.to_str().unwrap(), "--frames", "4"]);
    assert!(out.contains("registered detector@2.0.0"), "{out}");
    itscam_ok(&dir, &["models", "--config", "lake.toml", "promote", "detector@2.0.0", "production"]);
    let shown: serde_json::Value = serde_json::from_str(&itscam_ok(&dir, &["models", "--config", "lake.toml", "show", "detector@2.0.0"])).unwrap();
    let sha = shown["manifest"]["sha256"].as_str().unwrap().to_string();
    let clip = clip_of(&dir, 20);
    std::fs::write(dir.join("run.toml"), format!("{lake}[[camera]]\nid = \"plaza\"\nsource = \"file:{}\"\nstart_ms = 1767225600000\n", clip.display())).unwrap();
    itscam_ok(&dir, &["run", "--config", "run.toml", "--no-progress"]);
    // The run read the model from the bucket into the cache, named by its checked sha256.
    let cached = std::fs::read(dir.join("cache").join(format!("{sha}.onnx"))).unwrap();
    assert_eq!(cached, std::fs::read(&file).unwrap());
    let text = itscam_ok(&dir, &["query", "--config", "run.toml", "--format", "json", "SELECT count(DISTINCT frame) AS n, min(model_version) AS v FROM detections"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!((rows[0]["n"].as_i64(), rows[0]["v"].as_str()), (Some(20), Some("detector@2.0.0")), "{text}");
}

#[test]
fn admins_register_and_promote_over_the_api_and_bad_uploads_get_their_reason() {
    let dir = scratch("models-api");
    let root = repo_root();
    std::fs::write(
        dir.join("serve.toml"),
        format!(
            "[lake]\nurl = \"file://./lake\"\n[model]\nruntime_library = \"{}\"\n[models]\nvalidation_video = \"{}\"\nvalidation_frames = 4\nmax_upload_bytes = 4000000\n",
            root.join(".assets/libonnxruntime.so").display(),
            root.join(".assets/vtest.avi").display()
        ),
    )
    .unwrap();
    let served = Served::start(&dir, &["--config", "serve.toml", "--listen", "127.0.0.1:0"]);
    let put = |path: &str, body: &[u8]| http_raw(&served.addr, "PUT", path, &[("Content-Type", "application/octet-stream")], body);
    let int8 = std::fs::read(root.join(INT8)).unwrap();
    let (status, _, body) = put("/api/v1/models/detector@1.1.0?notes=int8%20CenterNet", &int8);
    assert_eq!(status, 201, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((view["stage"].as_str(), view["manifest"]["notes"].as_str(), view["manifest"]["validation"]["passed"].as_bool()), (Some("development"), Some("int8 CenterNet"), Some(true)));
    assert_eq!(put("/api/v1/models/detector@1.1.0", &int8).0, 200, "the same bytes again: nothing changes");
    let (status, _, body) = put("/api/v1/models/detector@1.1.0", b"something else");
    assert!(status == 422 && body.contains("not an ONNX model"), "{status} {body}");
    let (status, _, body) = put("/api/v1/models/detector@1.2.0?family=ssd", &int8);
    assert!(status == 400 && body.contains("unknown family"), "{status} {body}");
    let (status, _, body) = put("/api/v1/models/detector@1.0.0", &vec![7u8; 4_001_000]);
    assert!(status == 413 && body.contains("max_upload_bytes"), "over the 4 MB set here: {status} {body}");
    let (status, body) = http(&served.addr, "POST", "/api/v1/models/detector@1.1.0/promote", r#"{"stage":"production"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(&served.addr, "POST", "/api/v1/models/detector@1.1.0/promote", r#"{"stage":"retired"}"#);
    assert!(status == 409 && body.contains("is in production"), "{status} {body}");
    let (_, list) = http(&served.addr, "GET", "/api/v1/models", "");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["models"][0]["stage"], "production");
    assert!(list["serving"].is_null(), "no pipeline runs here");
    let (status, _) = served.terminate();
    assert!(status.success());
}
