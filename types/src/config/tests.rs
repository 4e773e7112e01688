use super::*;

fn write_jsonl() -> String {
    let dir = std::env::temp_dir().join(format!("itscam-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("in.jsonl");
    std::fs::write(&p, "").unwrap();
    p.display().to_string()
}

#[test]
fn minimal_config_gets_defaults() {
    let path = write_jsonl();
    let c = PipelineConfig::from_toml(&format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:{path}\"\n")).unwrap();
    assert_eq!(c.lake.url, "file://./lake");
    assert_eq!(c.pipeline.workers, 1);
    assert_eq!(c.tracker.min_hits, 3);
    assert_eq!(c.camera[0].source, Source::DetectionsFile(path.into()));
}

#[test]
fn every_problem_is_listed_with_its_location() {
    let path = write_jsonl();
    let text = format!(
        r#"[pipeline]
workers = 2
lateness_msec = 5

[[camera]]
id = "cam-1"
source = "detections:{path}"
[[camera.zone]]
id = "bowtie"
polygon = [[0, 0], [10, 10], [10, 0], [0, 10]]
[[camera.line]]
id = "l"
points = [[1, 1]]

[[camera]]
id = "cam 2"
source = "detections:/no/such/file.jsonl"
colour = "red"

[[rule]]
id = "r1"
kind = "speeding"
camera = "cam-1"
zone = "nowhere"
"#
    );
    let problems = PipelineConfig::from_toml(&text).unwrap_err();
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let has = |needle: &str| shown.iter().any(|s| s.contains(needle));
    assert!(has("line 3: pipeline.lateness_msec: unknown key"), "{shown:#?}");
    assert!(has("line 18: camera[1].colour: unknown key"), "{shown:#?}");
    assert!(has("camera[0].zone[0].polygon: edges"), "{shown:#?}");
    assert!(has("camera[0].line[0].points: a line needs exactly 2 points"), "{shown:#?}");
    assert!(has("camera[1].id"), "{shown:#?}");
    assert!(has("/no/such/file.jsonl does not exist"), "{shown:#?}");
    assert!(has("rule[0].zone: camera \"cam-1\" has no zone \"nowhere\""), "{shown:#?}");
    assert!(has("rule[0].limit_kmh: speeding rules need limit_kmh"), "{shown:#?}");
    assert!(has("rule[0].kind: speeding rules need speeds: camera \"cam-1\" has no [camera.calibration]"), "{shown:#?}");
    assert_eq!(shown.len(), 9, "{shown:#?}");
}

#[test]
fn type_and_syntax_errors_name_the_place() {
    let p = PipelineConfig::from_toml("[pipeline]\nworkers = \"two\"\n").unwrap_err();
    assert_eq!(p[0].key, "pipeline.workers");
    assert_eq!(p[0].line, Some(2));
    let p = PipelineConfig::from_toml("[pipeline\nworkers = 2\n").unwrap_err();
    assert_eq!(p[0].line, Some(1));
    assert!(p[0].message.starts_with("TOML syntax error"));
}

#[test]
fn polygons() {
    assert!(check_polygon(&[[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0]]).is_ok());
    assert!(check_polygon(&[[0.0, 0.0], [4.0, 0.0]]).is_err());
    assert!(check_polygon(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]).unwrap_err().contains("zero area"));
    assert!(check_polygon(&[[0.0, 0.0], [4.0, 4.0], [4.0, 0.0], [0.0, 4.0]]).unwrap_err().contains("cross"));
}

#[test]
fn a_bad_source_is_located_and_does_not_hide_other_problems() {
    let text = "[[camera]]\nid = \"cam 1\"\nsource = \"ftp://x\"\n\n[[camera]]\nid = \"cam-2\"\nsource = \"kafka:\"\n";
    let problems = PipelineConfig::from_toml(text).unwrap_err();
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let has = |needle: &str| shown.iter().any(|s| s.contains(needle));
    assert!(has("line 3: camera[0].source: unknown source \"ftp://x\": expected detections:PATH.jsonl"), "{shown:#?}");
    assert!(has("line 7: camera[1].source: kafka: needs a topic"), "{shown:#?}");
    assert!(has("camera[0].id"), "{shown:#?}");
    assert_eq!(shown.len(), 3, "{shown:#?}");
}

#[test]
fn sources_are_written_back_as_their_config_strings() {
    let path = write_jsonl();
    for (text, family) in [
        (format!("detections:{path}"), SourceFamily::Detections),
        ("detections:-".to_string(), SourceFamily::Detections),
        ("file:cam.mp4".to_string(), SourceFamily::Video),
        ("rtsp://10.0.0.7/stream1".to_string(), SourceFamily::Video),
        ("kafka:frames".to_string(), SourceFamily::Kafka),
        ("push".to_string(), SourceFamily::Detections),
    ] {
        let source = Source::parse(&text).unwrap();
        assert_eq!(source.family(), family, "{text}");
        let json = serde_json::to_string(&source).unwrap();
        assert_eq!(json, serde_json::to_string(&text).unwrap());
        assert_eq!(serde_json::from_str::<Source>(&json).unwrap(), source);
    }
    let c = PipelineConfig::from_toml(&format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:{path}\"\n")).unwrap();
    let back = PipelineConfig::from_toml(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(serde_json::from_str::<Source>("\"ftp://x\"").unwrap_err().to_string().contains("unknown source"));
}

#[test]
fn speed_settings_are_checked() {
    let path = write_jsonl();
    let camera = format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:{path}\"\n");
    let c = PipelineConfig::from_toml(&camera).unwrap();
    assert_eq!(c.analytics.speed.smooth_lag_ms, 1_000);
    let text = format!("[analytics.speed]\naccel_std = 0.0\nsmooth_lag_ms = 60000\n\n{camera}");
    let shown: Vec<String> = PipelineConfig::from_toml(&text).unwrap_err().iter().map(|p| p.to_string()).collect();
    assert!(shown.iter().any(|s| s.contains("analytics.speed.accel_std: must be > 0")), "{shown:#?}");
    assert!(shown.iter().any(|s| s.contains("analytics.speed.smooth_lag_ms: must be at most 5000")), "{shown:#?}");
    assert_eq!(shown.len(), 2, "{shown:#?}");
    let off = PipelineConfig::from_toml(&format!("[analytics.speed]\nsmooth_lag_ms = 0\n\n{camera}")).unwrap();
    assert_eq!(off.analytics.speed.smooth_lag_ms, 0);
}

#[test]
fn the_source_lead_follows_lateness_and_lag_unless_set_and_a_short_one_is_refused() {
    let path = write_jsonl();
    let camera = format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:{path}\"\n");
    let c = PipelineConfig::from_toml(&camera).unwrap();
    assert_eq!(c.source_lead_ms(), 1_000 + 1_000 + DEFAULT_LEAD_MARGIN_MS);
    let late = PipelineConfig::from_toml(&format!("[pipeline]\nlateness_ms = 60000\n\n{camera}")).unwrap();
    assert_eq!(late.source_lead_ms(), 60_000 + 1_000 + DEFAULT_LEAD_MARGIN_MS, "a long lateness needs no lead of its own");
    let set = PipelineConfig::from_toml(&format!("[pipeline]\nmax_lead_ms = 5000\n\n{camera}")).unwrap();
    assert_eq!(set.source_lead_ms(), 5_000);
    let shown: Vec<String> = PipelineConfig::from_toml(&format!("[pipeline]\nmax_lead_ms = 2000\n\n{camera}")).unwrap_err().iter().map(|p| p.to_string()).collect();
    assert!(shown.iter().any(|s| s.contains("pipeline.max_lead_ms: must exceed pipeline.lateness_ms + analytics.speed.smooth_lag_ms (2000)")), "{shown:#?}");
}

#[test]
fn a_config_without_cameras_serves_a_lake_but_runs_no_pipeline() {
    let text = "[lake]\nurl = \"file://./lake\"\n[auth]\nenabled = true\n";
    let problems = PipelineConfig::from_toml(text).unwrap_err();
    assert_eq!(problems.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(), ["camera"]);
    let path = std::env::temp_dir().join(format!("itscam-lake-only-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let config = PipelineConfig::load_for_lake(&path).unwrap();
    assert!(config.camera.is_empty() && config.auth.enabled);
    std::fs::write(&path, "[lake]\nurl = \"s3://\"\n").unwrap();
    assert!(PipelineConfig::load_for_lake(&path).is_err(), "other problems still count");
    std::fs::remove_file(&path).unwrap();
}

/// A 4-lane-wide north approach of a junction centred at the origin (metres, y north).
fn junction_camera(approach_extra: &str) -> String {
    format!(
        r#"
[[camera]]
id = "j"
source = "push"
[camera.calibration]
image = [[0, 0], [100, 0], [100, 100], [0, 100]]
world = [[-50, 50], [50, 50], [50, -50], [-50, -50]]
[[camera.approach]]
id = "north"
signal = "tl-n"
entry = [[-8, 40], [0, 40]]
exit = [[0, 30], [8, 30]]
{approach_extra}
lanes = [{{ id = "n-1", polygon = [[-8, 50], [0, 50], [0, 10], [-8, 10]] }}]
exit_lanes = [{{ id = "n-out", polygon = [[0, 10], [8, 10], [8, 50], [0, 50]] }}]
[[camera.crosswalk]]
id = "cw-n"
polygon = [[-8, 8], [8, 8], [8, 10], [-8, 10]]

[[signal]]
id = "tl-n"
source = "push"
"#
    )
}

#[test]
fn a_junction_camera_parses_with_the_defaults_of_its_settings() {
    let c = PipelineConfig::from_toml(&junction_camera("stop_line = [[-8, 10], [0, 10]]")).expect("valid");
    let a = &c.camera[0].approach[0];
    assert_eq!((a.id.as_str(), a.lanes.len(), a.stop_line.as_ref().map(Vec::len)), ("north", 1, Some(2)));
    assert_eq!(c.analytics.junction.bin_ms, 900_000);
    assert_eq!(c.camera[0].crosswalk[0].id, "cw-n");
}

fn junction_problems(text: &str) -> Vec<String> {
    PipelineConfig::from_toml(text).expect_err("has problems").into_iter().map(|p| format!("{}: {}", p.key, p.message)).collect()
}

#[test]
fn junction_geometry_problems_name_their_place() {
    // No stop line although a signal is given.
    let problems = junction_problems(&junction_camera(""));
    assert!(problems.iter().any(|k| k.starts_with("camera[0].approach[0].stop_line: an approach with a signal needs a stop line")), "{problems:?}");
    // A stop line away from every lane, an unknown signal, an override to nowhere.
    let text = junction_camera("stop_line = [[100, 100], [120, 100]]\nmovement = [{ to = \"east\", movement = \"left\" }]").replace("signal = \"tl-n\"\nentry", "signal = \"tl-x\"\nentry");
    let problems = junction_problems(&text);
    for want in ["camera[0].approach[0].stop_line: the stop line does not touch", "camera[0].approach[0].signal: signal \"tl-x\"", "camera[0].approach[0].movement[0].to"] {
        assert!(problems.iter().any(|k| k.starts_with(want)), "{want} missing from {problems:?}");
    }
    // An entry gate that crosses no lane; a junction on a camera without calibration.
    let text = junction_camera("stop_line = [[-8, 10], [0, 10]]").replace("entry = [[-8, 40], [0, 40]]", "entry = [[20, 40], [30, 40]]").replace("[camera.calibration]\nimage = [[0, 0], [100, 0], [100, 100], [0, 100]]\nworld = [[-50, 50], [50, 50], [50, -50], [-50, -50]]\n", "");
    let problems = junction_problems(&text);
    assert!(problems.iter().any(|p| p == "camera[0].approach[0].entry: the entry gate does not cross any of the approach's lanes"), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("camera[0].approach: junction geometry is on the ground")), "{problems:?}");
    // Settings out of range.
    let problems = junction_problems(&format!("[analytics.junction]\nbin_ms = 10\nsplit_failure_occupancy = 2.0\n{}", junction_camera("stop_line = [[-8, 10], [0, 10]]")));
    for want in ["analytics.junction.bin_ms: ", "analytics.junction.split_failure_occupancy: "] {
        assert!(problems.iter().any(|p| p.starts_with(want)), "{want} missing from {problems:?}");
    }
}
