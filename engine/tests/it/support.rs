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

/// A running SeaweedFS (S3) server with one bucket `lake`, started by
/// scripts/servers/seaweedfs.sh; stopped on drop.
pub struct SeaweedFs {
    dir: PathBuf,
    /// `endpoint`, `access_key_id`, `secret_access_key`, `bucket` as printed by the script.
    pub env: std::collections::BTreeMap<String, String>,
}

impl SeaweedFs {
    /// Starts a server with its data under `dir`.
    pub fn start(dir: &Path) -> SeaweedFs {
        let dir = dir.join("s3-server");
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/servers/seaweedfs.sh"))
            .args(["start", dir.to_str().expect("utf-8 path"), "lake"])
            .output()
            .expect("run scripts/servers/seaweedfs.sh");
        assert!(out.status.success(), "SeaweedFS did not start: {}", String::from_utf8_lossy(&out.stderr));
        let env = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SeaweedFs { dir, env }
    }

    /// A `[lake]` + `[lake.s3]` config section for a lake under `prefix`.
    pub fn lake_toml(&self, prefix: &str) -> String {
        format!(
            "[lake]\nurl = \"s3://{}/{prefix}\"\n\n[lake.s3]\nendpoint = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            self.env["bucket"], self.env["endpoint"], self.env["access_key_id"], self.env["secret_access_key"]
        )
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(repo_root().join("scripts/servers/seaweedfs.sh")).args(["stop", self.dir.to_str().unwrap_or_default()]).status();
    }
}

/// A Tansu broker on loopback (scripts/servers/tansu.sh), stopped on drop.
pub struct Broker {
    port: String,
    /// host:port.
    pub addr: String,
}

impl Broker {
    /// Starts one; `None` (the test is skipped) when Tansu is not installed, outside CI.
    pub fn start() -> Option<Broker> {
        let script = repo_root().join("scripts/servers/tansu.sh");
        let out = Command::new("bash").arg(&script).arg("start").output().expect("run tansu.sh");
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(std::env::var_os("CI").is_none(), "no Kafka broker under CI: {why}");
            eprintln!("skipped: no Tansu broker ({why}); run scripts/servers/tansu.sh install");
            return None;
        }
        let addr = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let port = addr.rsplit(':').next().unwrap().to_string();
        Some(Broker { port, addr })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(repo_root().join("scripts/servers/tansu.sh")).args(["stop", &self.port]).status();
    }
}
