//! `itscam run`, `query` and `lake …` on a lake in a real S3 server (SeaweedFS): SQL sees exactly
//! the committed files, compaction and vacuum keep the rows, pyarrow reads what `lake files`
//! lists, and a missing bucket is a start-up error naming it.

use crate::support::*;
use itscam_sinks::Lake;
use itscam_types::config::S3Config;
use std::path::Path;
use std::process::Command;

fn config_with(dir: &Path, s3: &SeaweedFs) -> String {
    let input = repo_root().join("examples/data/two-cameras.jsonl");
    let text = format!(
        "{}\n[lake.compaction]\nmin_files = 2\n\n[pipeline]\nworkers = 2\n\n[[camera]]\nid = \"cam-1\"\nsource = \"detections:{1}\"\n\n[[camera]]\nid = \"cam-2\"\nsource = \"detections:{1}\"\n",
        s3.lake_toml("e2e"),
        input.display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn count(dir: &Path, config: &str, sql: &str) -> i64 {
    let out = itscam_ok(dir, &["query", "--config", config, "--format", "json", sql]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    rows[0]["n"].as_i64().unwrap_or_else(|| panic!("{sql}: {out}"))
}

fn pyarrow_rows(s3: &SeaweedFs, urls: &[&str]) -> i64 {
    let python = Command::new("bash").arg(repo_root().join("scripts/servers/pyarrow.sh")).arg("python").output().unwrap();
    assert!(python.status.success(), "pyarrow: {}", String::from_utf8_lossy(&python.stderr));
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    let paths: Vec<&str> = urls.iter().map(|u| u.trim_start_matches("s3://")).collect();
    let args = serde_json::json!({
        "endpoint": s3.env["endpoint"].trim_start_matches("http://"),
        "key": s3.env["access_key_id"], "secret": s3.env["secret_access_key"], "paths": paths,
    });
    let script = "import json, sys\nimport pyarrow.fs as fs, pyarrow.parquet as pq\na = json.loads(sys.argv[1])\n\
        s3 = fs.S3FileSystem(endpoint_override=a['endpoint'], scheme='http', access_key=a['key'], secret_key=a['secret'], region='us-east-1')\n\
        print(pq.read_table(a['paths'], filesystem=s3).num_rows)\n";
    let out = Command::new(python).args(["-c", script, &args.to_string()]).output().unwrap();
    assert!(out.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn run_query_compact_and_vacuum_on_s3() {
    let dir = scratch("lake-s3");
    let s3 = SeaweedFs::start(&dir);
    let config = config_with(&dir, &s3);
    let summary = itscam_ok(&dir, &["run", "--config", &config, "--no-progress"]);
    assert!(summary.contains("s3://lake/e2e/"), "{summary}");
    let detections = count(&dir, &config, "SELECT count(*) AS n FROM detections");
    assert!(detections > 1000, "{detections}");
    let tracks = count(&dir, &config, "SELECT count(*) AS n FROM tracks");
    assert_eq!(count(&dir, &config, "SELECT count(DISTINCT camera_id) AS n FROM detections WHERE date = '2026-01-01'"), 2);

    // An upload that never got its commit (a writer that crashed) is invisible to SQL.
    let lake = Lake::open_with(
        "s3://lake/e2e",
        &S3Config {
            endpoint: Some(s3.env["endpoint"].clone()),
            access_key_id: Some(s3.env["access_key_id"].clone()),
            secret_access_key: Some(s3.env["secret_access_key"].clone()),
            ..S3Config::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let files = itscam_ok(&dir, &["lake", "files", "--config", &config, "--table", "detections"]);
    let urls: Vec<&str> = files.lines().collect();
    let first = urls[0].trim_start_matches("s3://lake/");
    let copy = rt.block_on(async {
        use object_store::ObjectStoreExt;
        let bytes = lake.store().get(&first.into()).await.unwrap().bytes().await.unwrap();
        let orphan: object_store::path::Path = format!("{}-crashed.parquet", first.trim_end_matches(".parquet")).as_str().into();
        lake.store().put(&orphan, bytes.into()).await.unwrap();
        orphan
    });
    assert_eq!(count(&dir, &config, "SELECT count(*) AS n FROM detections"), detections);

    // pyarrow reads what `lake files` lists and gets the same rows.
    assert_eq!(pyarrow_rows(&s3, &urls), detections);

    // Compaction (two cameras, several files each after forcing small files) keeps the rows.
    let out = itscam_ok(&dir, &["run", "--config", &config, "--no-progress"]);
    assert!(out.contains("detections"), "{out}");
    assert_eq!(count(&dir, &config, "SELECT count(*) AS n FROM detections"), 2 * detections);
    let per_camera = "SELECT count(*) AS n FROM detections WHERE camera_id = 'cam-1'";
    let cam_1 = count(&dir, &config, per_camera);
    assert!(cam_1 > 0 && cam_1 < 2 * detections, "{cam_1}");
    let compact = itscam_ok(&dir, &["lake", "compact", "--config", &config]);
    assert!(compact.contains("compacted"), "{compact}");
    assert_eq!(count(&dir, &config, "SELECT count(*) AS n FROM detections"), 2 * detections);
    assert_eq!(count(&dir, &config, "SELECT count(*) AS n FROM tracks"), 2 * tracks);
    let after = itscam_ok(&dir, &["lake", "files", "--config", &config, "--table", "detections"]);
    assert_eq!(after.lines().count(), 1, "one file per partition (the day, both cameras) after compaction: {after}");
    assert_eq!(count(&dir, &config, per_camera), cam_1, "a camera filter on the merged file");

    // Vacuum deletes the merged-away files and the orphan; SQL is unchanged.
    let vacuum = itscam_ok(&dir, &["lake", "vacuum", "--config", &config, "--grace-ms", "0"]);
    assert!(vacuum.contains("1 orphan"), "{vacuum}");
    rt.block_on(async {
        use object_store::ObjectStoreExt;
        assert!(lake.store().head(&copy).await.is_err(), "the orphan is still there");
    });
    assert_eq!(count(&dir, &config, "SELECT count(*) AS n FROM detections"), 2 * detections);

    // A missing bucket is a start-up error that names it.
    let out = itscam(&dir, &["query", "--config", &config, "--lake", "s3://missing-bucket/x", "SELECT 1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bucket \"missing-bucket\"") && err.contains("does the bucket exist"), "{err}");
}

#[test]
fn the_control_log_on_s3_gives_racing_writers_distinct_seqs_in_order() {
    let dir = scratch("lake-s3-control");
    let s3 = SeaweedFs::start(&dir);
    let s3_config = S3Config {
        endpoint: Some(s3.env["endpoint"].clone()),
        access_key_id: Some(s3.env["access_key_id"].clone()),
        secret_access_key: Some(s3.env["secret_access_key"].clone()),
        ..S3Config::default()
    };
    let lake = Lake::open_with("s3://lake/e2e", &s3_config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let change = |i: u64| itscam_sinks::ControlChange {
        who: format!("writer-{i}"),
        kind: itscam_sinks::ControlKind::Rule,
        id: format!("r{i}"),
        op: itscam_sinks::ControlOp::Put,
        before: None,
        after: Some(serde_json::json!({ "id": format!("r{i}") })),
        since_ms: i,
        at_ms: None,
    };
    // Writers that all list the same newest entry: S3's If-None-Match lets one win each seq.
    let published = rt.block_on(futures::future::join_all((0..6).map(|i| {
        let lake = lake.clone();
        async move { lake.append_control(&change(i)).await.unwrap() }
    })));
    let mut seqs: Vec<u64> = published.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..6).collect::<Vec<_>>());
    let log = rt.block_on(lake.read_control()).unwrap();
    for e in &published {
        assert_eq!(&log[e.seq as usize], e, "each writer's entry is the one the log holds at its seq");
    }
    // `changes` over the S3 lake.
    let config = config_with(&dir, &s3);
    assert_eq!(count(&dir, &config, "SELECT count(DISTINCT who) AS n FROM changes"), 6);
}

/// The red-light scenario shifted to an hour ago, its reference run (a file, a local lake, no
/// outage) done, and a way to write configs of the same pipeline.
struct OutageScenario {
    dir: std::path::PathBuf,
    frames: Vec<String>,
    config: String,
}

impl OutageScenario {
    fn prepare(dir: &Path) -> OutageScenario {
        let scenario = repo_root().join("engine/tests/scenarios/rule-red-light");
        let shift = itscam_types::time::now_ms() - 3_600_000 - 1_767_225_600_000;
        let read = |name: &str| std::fs::read_to_string(scenario.join(name)).unwrap();
        std::fs::write(dir.join("signals.jsonl"), shifted(&read("signals.jsonl"), shift).join("\n")).unwrap();
        let frames = shifted(&read("input.jsonl"), shift);
        let config = read("config.toml").replace("[lake]\nurl = \"file://./lake\"\n", "");
        let s = OutageScenario { dir: dir.to_path_buf(), frames, config };
        std::fs::write(dir.join("input.jsonl"), s.frames.join("\n")).unwrap();
        s.write_config("reference.toml", "[lake]\nurl = \"file://./reference-lake\"", "", "source = \"detections:input.jsonl\"");
        itscam_ok(dir, &["run", "--config", "reference.toml", "--no-progress"]);
        s
    }

    /// `name` with the scenario's pipeline, `lake` (TOML of `[lake]`), `extra` TOML and the
    /// camera's `source` line.
    fn write_config(&self, name: &str, lake: &str, extra: &str, source: &str) {
        let text = format!(
            "{lake}\n[lake.writer]\nmax_age_ms = 100\n\n{extra}\n[service]\npush_max_delay_ms = 86400000\nshutdown_grace_ms = 120000\n\n{}",
            self.config.replace("source = \"detections:input.jsonl\"", source)
        );
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    /// `itscam run` of `config` with the frames on its stdin, S3 cut once it has started;
    /// returns it with its stderr once the input has ended and the run waits for the lake.
    fn run_during_outage(&self, proxy: &mut Proxy, config: &str, until: &str) -> (std::process::Child, StderrLines) {
        let mut child = itscam_child(&self.dir, &["run", "--config", config, "--no-progress"], "info");
        let lines = StderrLines::of(child.stderr.take().unwrap());
        lines.wait_for("pipeline started");
        proxy.cut();
        let mut stdin = child.stdin.take().unwrap();
        use std::io::Write;
        stdin.write_all((self.frames.join("\n") + "\n").as_bytes()).unwrap();
        drop(stdin);
        lines.wait_for(until);
        (child, lines)
    }
}

/// S3 goes away (its port closed: connection refused) while frames arrive: the run goes on —
/// `itscam` says so once, `/health` reports the lake degraded — and once the server is back every row is
/// in the lake once: the tables equal those of a run that had no outage. Frames pushed to
/// `serve`, and frames on the stdin of `itscam run`.
#[test]
fn the_pipeline_outlives_an_s3_outage_and_loses_and_repeats_nothing() {
    let dir = scratch("s3-outage");
    let s3 = SeaweedFs::start(&dir);
    let mut proxy = Proxy::start(s3.env["endpoint"].trim_start_matches("http://"));
    let scenario = OutageScenario::prepare(&dir);
    let frames = &scenario.frames;
    let proxy_addr = proxy.addr.clone();
    let through_proxy = |prefix: &str| s3.lake_toml(prefix).replace(&s3.env["endpoint"], &format!("http://{proxy_addr}"));

    // Pushed to `serve`: half before the outage is noticed, half during it.
    scenario.write_config("pushed.toml", &through_proxy("pushed"), "", "source = \"push\"");
    let served = Served::start_logging(&dir, &["--config", "pushed.toml", "--listen", "127.0.0.1:0"], "info");
    let (first, rest) = frames.split_at(frames.len() / 2);
    let push = |lines: &[String]| {
        let (status, _, answer) = crate::push::push(&served.addr, "/api/v1/cameras/cam-1/detections", lines);
        assert_eq!(status, 200, "{answer}");
    };
    proxy.cut();
    push(first);
    served.wait_for("the lake is unreachable");
    let (status, health) = http(&served.addr, "GET", "/health", "");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["lake_health"]["state"], "degraded", "{health}");
    push(rest);
    proxy.restore();
    served.wait_for("the lake answers again");
    let (status, _) = served.terminate();
    assert!(status.success(), "{status}");
    assert_same_tables(&dir, "pushed.toml");

    // On the stdin of `itscam run`: the whole input is processed during the outage (its files
    // wait in the spool) and the end waits for the lake.
    scenario.write_config("stdin.toml", &through_proxy("stdin"), "", "source = \"detections:-\"");
    let (child, lines) = scenario.run_during_outage(&mut proxy, "stdin.toml", "the end waits for the lake to take the spool");
    proxy.restore();
    lines.wait_for("the lake answers again");
    assert!(child.wait_with_output().unwrap().status.success());
    assert_same_tables(&dir, "stdin.toml");
}

/// The spool under crashes and limits: a run killed (SIGKILL) while its files wait in the
/// spool loses and repeats nothing — the next run ships them first; a full spool under
/// `block` holds the writer until the lake is back (nothing lost); under `drop_oldest` the
/// dropped rows are counted, and committed plus dropped rows are exactly the input's.
#[test]
fn the_spool_survives_a_kill_and_its_limits_block_or_drop_as_configured() {
    let dir = scratch("s3-spool");
    let s3 = SeaweedFs::start(&dir);
    let mut proxy = Proxy::start(s3.env["endpoint"].trim_start_matches("http://"));
    let scenario = OutageScenario::prepare(&dir);
    let proxy_addr = proxy.addr.clone();
    let through_proxy = |prefix: &str| s3.lake_toml(prefix).replace(&s3.env["endpoint"], &format!("http://{proxy_addr}"));

    // Killed while spooling, then restarted with no input: the spool is shipped first.
    scenario.write_config("killed.toml", &through_proxy("killed"), "[lake.spool]\ndir = \"spool-killed\"\n", "source = \"detections:-\"");
    let (mut child, _lines) = scenario.run_during_outage(&mut proxy, "killed.toml", "the end waits for the lake to take the spool");
    child.kill().unwrap();
    child.wait().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("spool-killed/manifest.json")).unwrap()).unwrap();
    assert!(!manifest["commits"].as_array().unwrap().is_empty(), "the killed run left its files in the spool: {manifest}");
    proxy.restore();
    let out = Command::new(env!("CARGO_BIN_EXE_itscam")).args(["run", "--config", "killed.toml", "--no-progress"]).env("ITSCAM_LOG", "info").current_dir(&dir).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the lake spool holds files of an earlier run"));
    assert_same_tables(&dir, "killed.toml");

    // A spool too small for the outage, `block`: the writer waits for room, nothing is lost.
    let small = "[lake.spool]\ndir = \"spool-small\"\nmax_bytes = 4096\n";
    scenario.write_config("blocked.toml", &through_proxy("blocked"), small, "source = \"detections:-\"");
    let (child, lines) = scenario.run_during_outage(&mut proxy, "blocked.toml", "the lake spool is full: the writer waits");
    proxy.restore();
    lines.wait_for("the lake answers again");
    assert!(child.wait_with_output().unwrap().status.success());
    assert_same_tables(&dir, "blocked.toml");

    // `drop_oldest`: what the lake has plus what was dropped is the input, table by table.
    let dropping = "[lake.spool]\ndir = \"spool-drop\"\nmax_bytes = 4096\nfull = \"drop_oldest\"\n";
    scenario.write_config("dropped.toml", &through_proxy("dropped"), dropping, "source = \"detections:-\"");
    let (child, lines) = scenario.run_during_outage(&mut proxy, "dropped.toml", "the end waits for the lake to take the spool");
    proxy.restore();
    lines.wait_for("the lake answers again");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let dropped: std::collections::BTreeMap<String, i64> = summary
        .lines()
        .filter_map(|l| l.trim().strip_prefix("dropped"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_string(), words[1].parse().unwrap())
        })
        .collect();
    assert!(!dropped.is_empty(), "a 4 KiB spool dropped files: {summary}");
    for table in ["detections", "tracks", "line_crossings", "violations", "traffic_metrics"] {
        let sql = format!("SELECT count(*) AS n FROM {table}");
        let (want, got) = (count(&dir, "reference.toml", &sql), count(&dir, "dropped.toml", &sql));
        assert_eq!(got + dropped.get(table).copied().unwrap_or(0), want, "{table}: {summary}");
    }
}

/// The tables of the lake of `config` equal those of the reference run.
fn assert_same_tables(dir: &Path, config: &str) {
    for table in ["detections", "tracks", "line_crossings", "violations", "traffic_metrics"] {
        let sql = format!("SELECT * EXCLUDE (date) FROM {table}");
        let mut want = query_rows(dir, "reference.toml", &sql);
        let mut got = query_rows(dir, config, &sql);
        want.sort();
        got.sort();
        assert!(!want.is_empty(), "{table}");
        assert_eq!(got, want, "{config}: {table}");
    }
}

/// Every row of a query as JSON text.
fn query_rows(dir: &Path, config: &str, sql: &str) -> Vec<String> {
    let out = itscam_ok(dir, &["query", "--config", config, "--format", "json", "--max-rows", "1000000", sql]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    rows.iter().map(|r| r.to_string()).collect()
}

/// The lake comes back as a server that refuses for good (the bucket is gone): the run ends
/// with the store's answer naming the bucket and key — not "the writer failed during a flush"
/// — and the spooled files stay in the spool for a run with the right lake.
#[test]
fn a_lake_that_refuses_for_good_ends_the_run_with_its_answer_and_keeps_the_spool() {
    let dir = scratch("s3-refused");
    let s3 = SeaweedFs::start(&dir);
    let elsewhere = SeaweedFs::start_with_bucket(&dir.join("s3-elsewhere"), "elsewhere");
    let mut proxy = Proxy::start(s3.env["endpoint"].trim_start_matches("http://"));
    let scenario = OutageScenario::prepare(&dir);
    let lake = s3.lake_toml("refused").replace(&s3.env["endpoint"], &format!("http://{}", proxy.addr));
    scenario.write_config("refused.toml", &lake, "[lake.spool]\ndir = \"spool-refused\"\n", "source = \"detections:-\"");
    let (child, lines) = scenario.run_during_outage(&mut proxy, "refused.toml", "the end waits for the lake to take the spool");
    proxy.retarget(elsewhere.env["endpoint"].trim_start_matches("http://"));
    proxy.restore();
    let error = lines.wait_for("error:");
    assert!(!child.wait_with_output().unwrap().status.success());
    assert!(error.contains("bucket \"lake\"") && error.contains("NoSuchBucket"), "{error}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("spool-refused/manifest.json")).unwrap()).unwrap();
    assert!(!manifest["commits"].as_array().unwrap().is_empty(), "the spool keeps what the lake did not take: {manifest}");
}

/// An edge site: its lake is local and `[lake.sync]` copies it to the central lake on S3. A
/// run while the central lake is reachable leaves it caught up; a run while it is away keeps
/// everything on the edge (the summary and `itscam lake sync --status` show the lag); the edge
/// compacts its files meanwhile; once S3 is back `itscam lake sync` sends the rest, and every
/// central table equals the edge's.
#[test]
fn an_edge_lake_syncs_to_the_central_lake_and_catches_up_after_an_outage() {
    let dir = scratch("s3-edge-sync");
    let s3 = SeaweedFs::start(&dir);
    let mut proxy = Proxy::start(s3.env["endpoint"].trim_start_matches("http://"));
    let scenario = OutageScenario::prepare(&dir);
    let (first, second) = scenario.frames.split_at(scenario.frames.len() / 2);
    std::fs::write(dir.join("first.jsonl"), first.join("\n")).unwrap();
    std::fs::write(dir.join("second.jsonl"), second.join("\n")).unwrap();
    let central_url = format!("s3://{}/central", s3.env["bucket"]);
    let sync = format!(
        "[lake.sync]\nto = \"{central_url}\"\nmax_age_ms = 200\n\n[lake.sync.s3]\nendpoint = \"http://{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n[lake.compaction]\nmin_files = 2\n",
        proxy.addr, s3.env["access_key_id"], s3.env["secret_access_key"]
    );
    let edge_lake = "[lake]\nurl = \"file://./edge-lake\"";
    scenario.write_config("edge-1.toml", edge_lake, &sync, "source = \"detections:first.jsonl\"");
    scenario.write_config("edge-2.toml", edge_lake, &sync, "source = \"detections:second.jsonl\"");
    scenario.write_config("central.toml", &s3.lake_toml("central"), "", "source = \"detections:first.jsonl\"");
    let status = || -> serde_json::Value {
        let out = itscam_ok(&dir, &["lake", "sync", "--status", "--config", "edge-1.toml"]);
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    };

    let summary = itscam_ok(&dir, &["run", "--config", "edge-1.toml", "--no-progress"]);
    assert!(summary.contains("synced") && summary.contains(&central_url), "{summary}");
    assert_eq!(status()["lag_commits"], 0);
    assert_same_as(&dir, "central.toml", "edge-1.toml");

    proxy.cut();
    let summary = itscam_ok(&dir, &["run", "--config", "edge-2.toml", "--no-progress"]);
    assert!(summary.contains("to sync"), "{summary}");
    let compacted = itscam_ok(&dir, &["lake", "compact", "--config", "edge-1.toml"]);
    assert!(compacted.starts_with("compacted"), "{compacted}");
    let lag = status();
    assert!(lag["lag_commits"].as_u64().unwrap() > 0 && lag["lag_files"].as_u64().unwrap() > 0, "{lag}");
    proxy.restore();
    let synced = itscam_ok(&dir, &["lake", "sync", "--config", "edge-1.toml"]);
    assert!(synced.starts_with("copied"), "{synced}");
    assert_eq!(status()["lag_commits"], 0);
    assert_same_as(&dir, "central.toml", "edge-1.toml");
    let again = itscam_ok(&dir, &["lake", "sync", "--config", "edge-1.toml"]);
    assert!(again.starts_with("copied 0 file(s)"), "a caught-up sync copies nothing: {again}");
}

/// Every table of the lake of `config` holds the rows of the lake of `reference`.
fn assert_same_as(dir: &Path, config: &str, reference: &str) {
    for table in ["detections", "tracks", "line_crossings", "violations", "traffic_metrics", "errors", "alerts"] {
        let sql = format!("SELECT * EXCLUDE (date) FROM {table}");
        let mut want = query_rows(dir, reference, &sql);
        let mut got = query_rows(dir, config, &sql);
        want.sort();
        got.sort();
        assert!(table != "detections" || !want.is_empty(), "{reference} has detections");
        assert_eq!(got, want, "{config}: {table}");
    }
}
