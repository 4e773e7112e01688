//! The vision path end to end through the CLI: a real clip of vtest.avi, the real detector,
//! the lake, and the clear start-up errors.

use crate::support::*;
use std::path::Path;

/// A 30-frame clip of the sample video (needs `scripts/setup.sh` and ffmpeg).
pub(crate) fn clip(dir: &Path) -> std::path::PathBuf {
    let vtest = repo_root().join(".assets/vtest.avi");
    assert!(vtest.is_file(), "{} missing: run scripts/setup.sh", vtest.display());
    let out = dir.join("clip.avi");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&vtest)
        .args(["-frames:v", "30", "-c:v", "mpeg4", "-q:v", "2"])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed (scripts/setup.sh)");
    assert!(status.success());
    out
}

fn config(dir: &Path, video: &Path, extra: &str) -> std::path::PathBuf {
    let root = repo_root();
    let text = format!(
        "[model]\npath = \"{}/models/centernet-mbv3/centernet.onnx\"\nruntime_library = \"{}/.assets/libonnxruntime.so\"\nmax_batch = 4\nconfidence = 0.25\n{extra}\n\
         [tracker]\nhigh_threshold = 0.35\nlow_threshold = 0.25\nnew_track_threshold = 0.35\n\
         [[camera]]\nid = \"plaza\"\nsource = \"file:{}\"\nstart_ms = 1767225600000\n",
        root.display(),
        root.display(),
        video.display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn real_video_through_the_detector_into_the_lake() {
    let dir = scratch("vision-e2e");
    let video = clip(&dir);
    let cfg = config(&dir, &video, "");
    let summary = itscam_ok(&dir, &["run", "--config", cfg.to_str().unwrap(), "--no-progress", "--write-detections", "out.jsonl"]);
    assert!(summary.contains("inferred") && summary.contains("on cpu"), "{summary}");
    assert!(summary.contains("camera plaza: finished"), "a file read to its end is finished, not down: {summary}");
    // Every frame measured and inferred; frame times 100 ms apart from start_ms.
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM frame_quality"), 30);
    assert_eq!(query_int(&dir, "SELECT count(DISTINCT frame) AS n FROM detections"), 30);
    assert_eq!(query_int(&dir, "SELECT max(ts_ms) - min(ts_ms) AS n FROM frame_quality"), 2900);
    // The plaza's pedestrians: several per frame (the model card reports 4–8 above 0.3).
    let persons = query_int(&dir, "SELECT count(*) AS n FROM detections WHERE class = 'person' AND confidence >= 0.3");
    assert!(persons >= 30 * 3, "{persons} person detections in 30 frames");
    // The parked car (x 730–767, y 50–95) and van (x 640–725, y 40–100, labelled truck) at the
    // far end of the plaza are found in most frames.
    let car = query_int(&dir, "SELECT count(DISTINCT frame) AS n FROM detections WHERE class IN ('car', 'truck') AND x1 BETWEEN 700 AND 760 AND y2 BETWEEN 70 AND 120");
    let van = query_int(&dir, "SELECT count(DISTINCT frame) AS n FROM detections WHERE class IN ('car', 'truck') AND x1 BETWEEN 600 AND 690 AND y2 BETWEEN 70 AND 130");
    assert!(car >= 20 && van >= 20, "car in {car}, van in {van} of 30 frames");
    assert!(query_int(&dir, "SELECT count(DISTINCT frame) AS n FROM detections WHERE class IN ('car', 'truck') AND confidence >= 0.3") >= 25);
    assert!(query_int(&dir, "SELECT count(*) AS n FROM tracks WHERE class = 'person'") >= 3);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors"), 0);
    // The detections JSONL written alongside reads back in the input format.
    let lines = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    let frames: Vec<_> = lines.lines().map(|l| itscam_types::jsonl::parse_frame(l).expect("valid line")).collect();
    assert_eq!(frames.len(), 30);
    assert!(frames.iter().all(|f| f.camera_id == "plaza" && (f.width, f.height) == (768, 576)));
}

#[test]
fn start_up_errors_say_what_is_wrong_and_how_to_fix_it() {
    let dir = scratch("vision-errors");
    let video = clip(&dir);
    let cases = [
        ("provider = \"cuda\"", "execution provider cuda is not available"),
        ("provider = \"tensorrt\"", "execution provider tensorrt is not available"),
    ];
    for (extra, want) in cases {
        let cfg = config(&dir, &video, extra);
        let out = itscam(&dir, &["run", "--config", cfg.to_str().unwrap(), "--no-progress"]);
        assert!(!out.status.success(), "{extra} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && err.contains("fallback_to_cpu"), "{extra}: {err}");
    }
    // With fallback the same config runs on the CPU.
    let cfg = config(&dir, &video, "provider = \"cuda\"\nfallback_to_cpu = true");
    let out = itscam_ok(&dir, &["run", "--config", cfg.to_str().unwrap(), "--no-progress"]);
    assert!(out.contains("on cpu"), "{out}");
    // A missing runtime library names where it looked.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(".assets/libonnxruntime.so", ".assets/nope.so");
    std::fs::write(&cfg, text).unwrap();
    let out = itscam(&dir, &["run", "--config", cfg.to_str().unwrap(), "--no-progress"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("ONNX Runtime library not found") && err.contains("nope.so"), "{err}");
    // A missing model is caught by the config check, with its path.
    std::fs::write(dir.join("bad.toml"), format!("[model]\npath = \"missing.onnx\"\n[[camera]]\nid = \"c\"\nsource = \"file:{}\"\n", video.display())).unwrap();
    let out = itscam(&dir, &["check", "--config", "bad.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("model.path: model file missing.onnx does not exist"), "{err}");
}
