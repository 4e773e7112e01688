//! `[lake] partition_by`: new files laid out by date with `camera_id` a sorted column (the
//! default) or by camera and date; one lake may hold both. itscam, pyarrow and DuckDB read both
//! alike, and a camera filter prunes in both: whole files by directory, row groups by their
//! `camera_id` statistics (shown by EXPLAIN ANALYZE).

use crate::support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Writes a config reading the two-camera example as cameras `cameras` (its `cam-1` and `cam-2`
/// renamed), into `./lake` laid out by `partition_by` (the default when `None`), and runs it.
fn run_into_lake(dir: &Path, name: &str, cameras: [&str; 2], partition_by: Option<&str>) {
    let example = std::fs::read_to_string(repo_root().join("examples/data/two-cameras.jsonl")).unwrap();
    let renamed = example.replace("\"camera_id\":\"cam-1\"", &format!("\"camera_id\":\"{}\"", cameras[0])).replace("\"camera_id\":\"cam-2\"", &format!("\"camera_id\":\"{}\"", cameras[1]));
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, renamed).unwrap();
    let mut text = String::from("[lake]\nurl = \"file://./lake\"\n");
    if let Some(p) = partition_by {
        text.push_str(&format!("partition_by = \"{p}\"\n"));
    }
    for id in cameras {
        text.push_str(&format!("\n[[camera]]\nid = \"{id}\"\nsource = \"detections:{}\"\n", input.display()));
    }
    let config = dir.join(name);
    std::fs::write(&config, text).unwrap();
    itscam_ok(dir, &["check", "--config", config.to_str().unwrap()]);
    itscam_ok(dir, &["run", "--config", config.to_str().unwrap(), "--no-progress"]);
}

fn counts_by_camera(rows: &[serde_json::Map<String, serde_json::Value>]) -> BTreeMap<String, i64> {
    rows.iter().map(|r| (r["camera_id"].as_str().unwrap().to_string(), r["n"].as_i64().unwrap())).collect()
}

#[test]
fn both_layouts_in_one_lake_read_alike_by_itscam_pyarrow_and_duckdb_and_a_camera_filter_prunes() {
    let dir = scratch("layouts");
    run_into_lake(&dir, "by-camera.toml", ["cam-1", "cam-2"], Some("camera_id,date"));
    run_into_lake(&dir, "by-date.toml", ["cam-3", "cam-4"], None);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM errors"), 0);
    let lake = dir.join("lake/detections");
    assert!(lake.join("camera_id=cam-1/date=2026-01-01").is_dir() && lake.join("camera_id=cam-2/date=2026-01-01").is_dir());
    assert!(!lake.join("camera_id=cam-3").exists(), "the default layout has no camera directories");
    let shared: Vec<_> = std::fs::read_dir(lake.join("date=2026-01-01")).unwrap().collect();
    assert_eq!(shared.len(), 1, "both cameras of the second run share one file");

    let ours = counts_by_camera(&query_json(&dir, "SELECT camera_id, count(*) AS n FROM detections GROUP BY camera_id ORDER BY camera_id"));
    assert_eq!(ours.keys().map(String::as_str).collect::<Vec<_>>(), ["cam-1", "cam-2", "cam-3", "cam-4"]);
    assert!(ours["cam-1"] > 0 && ours["cam-2"] > 0);
    assert_eq!((ours["cam-3"], ours["cam-4"]), (ours["cam-1"], ours["cam-2"]), "the same input, renamed, in either layout");

    // pyarrow and DuckDB on the committed files.
    let files = dir.join("files.jsonl");
    std::fs::write(&files, itscam_ok(&dir, &["lake", "files", "--lake", "file://./lake", "--json"])).unwrap();
    let python = Command::new("bash").arg(repo_root().join("scripts/servers/pyarrow.sh")).arg("python").output().unwrap();
    assert!(python.status.success(), "pyarrow.sh: {}", String::from_utf8_lossy(&python.stderr));
    let python = String::from_utf8(python.stdout).unwrap();
    let script = repo_root().join("engine/tests/it/lake_clients.py");
    let out = Command::new(python.trim()).arg(&script).arg(&files).output().unwrap();
    assert!(out.status.success(), "lake_clients.py: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for client in ["pyarrow", "duckdb"] {
        let counts: BTreeMap<String, i64> = theirs[client].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap())).collect();
        assert_eq!(counts, ours, "{client} reads what itscam reads");
    }

    // A camera filter: the other layout's files are skipped by directory, the other camera's
    // row group by statistics, and the answer is that camera's rows.
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-3'"), ours["cam-3"]);
    assert_eq!(query_int(&dir, "SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-1'"), ours["cam-1"]);
    let plan = itscam_ok(&dir, &["query", "--lake", "file://./lake", "EXPLAIN ANALYZE SELECT count(*) FROM detections WHERE camera_id = 'cam-3'"]);
    let scans: Vec<&str> = plan.lines().filter(|l| l.contains("DataSourceExec") && l.contains(".parquet")).collect();
    assert_eq!(scans.len(), 1, "only the date-layout file is scanned:\n{plan}");
    assert!(scans[0].contains("row_groups_pruned_statistics=2 total \u{2192} 1 matched"), "cam-4's row group is pruned by statistics:\n{plan}");
}
