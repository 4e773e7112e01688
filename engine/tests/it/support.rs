//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("engine/ has a parent").to_path_buf()
}

/// A fresh empty directory for one test, under the target directory (removed at the start of
/// the next run, kept after a failure for inspection).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("itscam-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs the `itscam` binary in `cwd`.
pub fn itscam(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_itscam"))
        .args(args)
        .current_dir(cwd)
        .env("ITSCAM_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run itscam")
}

/// Runs `itscam` and insists on success; returns stdout.
pub fn itscam_ok(cwd: &Path, args: &[&str]) -> String {
    let out = itscam(cwd, args);
    assert!(
        out.status.success(),
        "itscam {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `itscam query --format json` in `cwd` (lake `./lake`), parsed.
pub fn query_json(cwd: &Path, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = itscam_ok(cwd, &["query", "--lake", "file://./lake", "--format", "json", sql]);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON from query ({e}): {text}"));
    value.as_array().expect("array").iter().map(|r| r.as_object().expect("object").clone()).collect()
}

/// A single integer from a query like `SELECT count(*) AS n ...`.
pub fn query_int(cwd: &Path, sql: &str) -> i64 {
    let rows = query_json(cwd, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0].values().next().and_then(|v| v.as_i64()).unwrap_or_else(|| panic!("{sql}: not an integer: {rows:?}"))
}

/// Copies the files of `from` into `to` (one level).
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}
