//! Scale-out: two `itscam` processes (one worker each) on loopback, one timely cluster, one
//! lake — every table equals the one-process run's, row for row.

use crate::support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Columns stamped with the wall clock (or the run) when a row is made: they differ between
/// any two runs, clustered or not.
const WALL_CLOCK: [&str; 2] = ["changed_at_ms", "run_id"];

/// Every table of the lake in `dir` as sorted rows (JSON text, wall-clock columns left out).
fn lake_tables(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let tables = query_json(dir, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    let mut out = BTreeMap::new();
    for t in tables {
        let name = t["table_name"].as_str().expect("a table name").to_string();
        let mut rows: Vec<String> = query_json(dir, &format!("SELECT * FROM \"{name}\""))
            .into_iter()
            .map(|mut row| {
                row.retain(|k, _| !WALL_CLOCK.contains(&k.as_str()));
                serde_json::Value::Object(row).to_string()
            })
            .collect();
        rows.sort();
        out.insert(name, rows);
    }
    out
}

/// `examples/detections/config.toml` (calibration, lines, zones, a signal, rules) with absolute
/// paths and one worker per process.
fn example_config(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("examples/detections/config.toml")).unwrap();
    let data = repo_root().join("examples/data");
    let text = text.replace("examples/data", data.to_str().unwrap()).replace("workers = 2", "workers = 1");
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// Two loopback addresses free right now.
fn free_ports(n: usize) -> Vec<String> {
    let listeners: Vec<std::net::TcpListener> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect()
}

fn cluster_process(dir: &Path, process: usize) -> Child {
    Command::new(env!("CARGO_BIN_EXE_itscam"))
        .args(["run", "--config", "config.toml", "--cluster", "hosts.txt", "--process", &process.to_string(), "--no-progress"])
        .current_dir(dir)
        .env("ITSCAM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start itscam")
}

/// Waits for every child (killing all of them after `limit`); returns their outputs.
fn wait_all(children: Vec<Child>, limit: Duration) -> Vec<std::process::Output> {
    let started = Instant::now();
    let mut children: Vec<Option<Child>> = children.into_iter().map(Some).collect();
    loop {
        let done = children.iter_mut().all(|c| c.as_mut().is_none_or(|c| c.try_wait().unwrap().is_some()));
        if done {
            break;
        }
        if started.elapsed() > limit {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100)); // polling period of the processes, not a synchronization
    }
    children.iter_mut().map(|c| c.take().unwrap().wait_with_output().unwrap()).collect()
}

/// Runs the config that `write` puts in a directory once as one process and once as two
/// processes × 1 worker; returns the one-process run's tables and the cluster's directory,
/// after checking that every table is equal row for row.
fn one_and_two_processes(name: &str, write: impl Fn(&Path)) -> (BTreeMap<String, Vec<String>>, std::path::PathBuf) {
    let one = scratch(&format!("{name}-one"));
    write(&one);
    itscam_ok(&one, &["run", "--config", "config.toml", "--no-progress"]);
    let expected = lake_tables(&one);

    let two = scratch(&format!("{name}-two"));
    write(&two);
    std::fs::write(two.join("hosts.txt"), free_ports(2).join("\n") + "\n").unwrap();
    let outputs = wait_all(vec![cluster_process(&two, 0), cluster_process(&two, 1)], Duration::from_secs(180));
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            out.status.success(),
            "process {i} failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("process {i} of a cluster of 2")), "{stdout}");
    }
    let got = lake_tables(&two);

    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (table, rows) in &expected {
        let only_one: Vec<&String> = rows.iter().filter(|r| !got[table].contains(r)).take(3).collect();
        let only_two: Vec<&String> = got[table].iter().filter(|r| !rows.contains(r)).take(3).collect();
        assert!(got[table] == *rows, "{table}: {} rows vs {}; only in the 1-process run: {only_one:?}; only in the cluster's: {only_two:?}", rows.len(), got[table].len());
    }
    // Both processes wrote files: each process's writer commits its own (named by its run id).
    let files: Vec<String> = std::fs::read_dir(two.join("lake/detections/date=2026-01-01")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for p in ["-p0-", "-p1-"] {
        assert!(files.iter().any(|f| f.contains(p)), "no detections file of process {p}: {files:?}");
    }
    (expected, two)
}

#[test]
fn two_processes_write_the_same_tables_as_one() {
    let (expected, _) = one_and_two_processes("cluster", |dir| drop(example_config(dir)));
    // The example exercises every query, so the comparison covers real rows.
    for table in ["detections", "tracks", "line_crossings", "zone_events", "traffic_metrics", "violations", "alerts"] {
        assert!(!expected[table].is_empty(), "{table} is empty");
    }
}

/// Eight cameras, one file each (the first 20 s of the example's two, copied and renamed), each with a
/// calibration, a line, a zone and a speeding rule: feeds are read by both processes, and
/// frames of many cameras at one time cross between them in one message.
#[test]
fn eight_cameras_on_two_processes_write_the_same_tables_as_one() {
    let text = std::fs::read_to_string(repo_root().join("examples/data/two-cameras.jsonl")).unwrap();
    let (expected, _) = one_and_two_processes("cluster-eight", |dir| {
        let mut config = String::from("[pipeline]\nworkers = 1\n");
        for copy in 0..4 {
            for (from, n) in [("\"cam-1\"", 2 * copy + 1), ("\"cam-2\"", 2 * copy + 2)] {
                let lines: Vec<String> = text.lines().filter(|l| l.contains(from)).take(200).map(|l| l.replace(from, &format!("\"cam-{n}\""))).collect();
                std::fs::write(dir.join(format!("cam-{n}.jsonl")), lines.join("\n") + "\n").unwrap();
                config += &format!(
                    "[[camera]]\nid = \"cam-{n}\"\nsource = \"detections:cam-{n}.jsonl\"\nroad_length_m = 96.0\n\
                     [camera.calibration]\nimage = [[0, 250], [1920, 250], [1920, 1080], [0, 1080]]\nworld = [[0, 25], [96, 25], [96, 0], [0, 0]]\n\
                     [[camera.line]]\nid = \"count-1\"\npoints = [[960, 250], [960, 1080]]\n\
                     [[camera.zone]]\nid = \"approach\"\npolygon = [[200, 250], [1700, 250], [1700, 1080], [200, 1080]]\n\
                     [[rule]]\nid = \"speeding-{n}\"\nkind = \"speeding\"\ncamera = \"cam-{n}\"\nzone = \"approach\"\nlimit_kmh = 50.0\ntolerance_kmh = 5.0\n"
                );
            }
        }
        std::fs::write(dir.join("config.toml"), config).unwrap();
    });
    let cameras: std::collections::BTreeSet<&str> = expected["tracks"].iter().filter_map(|r| r.split("\"camera_id\":\"").nth(1)?.split('"').next()).collect();
    assert_eq!(cameras.len(), 8, "{cameras:?}");
    assert!(!expected["violations"].is_empty());
}

/// The first row of `sql` over the API at `addr` (the served process's fresh SQL).
fn served_row(addr: &str, sql: &str) -> serde_json::Value {
    let (status, text) = http(addr, "POST", "/api/v1/query", &serde_json::json!({ "sql": sql }).to_string());
    assert_eq!(status, 200, "{sql}: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["rows"][0].clone()
}

/// Asks `probe` every 20 ms until it says yes (what is polled is in `what`); panics after `limit`.
fn poll_until(what: &str, limit: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20)); // polling period of `probe`, not a synchronization
    }
}

/// A camera id whose state lives on the worker `worker` of a cluster of `workers` workers.
fn camera_on_worker(worker: u64, workers: u64) -> String {
    (1..).map(|n| format!("cam-{n}")).find(|c| itscam_types::camera_route(c) % workers == worker).unwrap()
}

/// Changes through any process take effect cluster-wide while it runs: a rule put through
/// process 1's API fires on a camera whose state lives on process 0's worker (its detections
/// are read by process 0 too, from its stdin), from the event time the cluster had reached, and
/// process 0 lists it (it follows the control log). Two `serve` processes × 1 worker on loopback.
#[test]
fn a_rule_put_through_process_1_fires_on_a_camera_of_process_0() {
    let dir = scratch("cluster-rule-through-1");
    let camera = camera_on_worker(0, 2);
    let config = format!(
        "[service]\nshutdown_grace_ms = 60000\n[pipeline]\nworkers = 1\n\
         [[camera]]\nid = \"{camera}\"\nsource = \"detections:-\"\n\
         [camera.calibration]\nimage = [[0, 250], [1920, 250], [1920, 1080], [0, 1080]]\nworld = [[0, 25], [96, 25], [96, 0], [0, 0]]\n\
         [[camera.zone]]\nid = \"approach\"\npolygon = [[200, 250], [1700, 250], [1700, 1080], [200, 1080]]\n"
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(dir.join("hosts.txt"), free_ports(2).join("\n") + "\n").unwrap();
    let text = std::fs::read_to_string(repo_root().join("examples/data/two-cameras.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().filter(|l| l.contains("\"cam-1\"")).map(|l| l.replace("\"cam-1\"", &format!("\"{camera}\""))).collect();
    let (first, half) = (itscam_types::jsonl::parse_frame(&lines[0]).unwrap().ts_ms, lines.len() / 2);
    let args = |p: &'static str| ["--config", "config.toml", "--cluster", "hosts.txt", "--process", p, "--listen", "127.0.0.1:0"];
    // Process 0 starts the lake's commit log and its API before the cluster connects.
    let mut p0 = Served::start_logging(&dir, &args("0"), "info");
    let p1 = Served::start_logging(&dir, &args("1"), "info");

    // The first half of the camera's minute, read by process 0 (the one feed is its worker's).
    use std::io::Write;
    let mut stdin = p0.child.stdin.take().unwrap();
    stdin.write_all((lines[..half].join("\n") + "\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Polled: process 0's fresh SQL, until its rows reach 10 s into the minute.
    poll_until("process 0's detections 10 s in", Duration::from_secs(120), || served_row(&p0.addr, "SELECT max(ts_ms) AS t FROM detections")["t"].as_u64().is_some_and(|t| t >= first + 10_000));

    let rule = serde_json::json!({ "id": "late-intrusion", "kind": "zone_intrusion", "camera": camera, "zone": "approach", "classes": ["car", "truck", "bus", "motorcycle"], "min_duration_ms": 1000, "severity": "low" });
    let (status, body) = http(&p1.addr, "PUT", "/api/v1/rules/late-intrusion", &rule.to_string());
    assert_eq!(status, 201, "{body}");
    let put: serde_json::Value = serde_json::from_str(&body).unwrap();
    let since = put["since_ms"].as_u64().unwrap();
    assert!(since >= first + 1_000, "the rule applies from where the cluster's event time was, not from the start: {put}");
    // Polled: process 0's rule list, until it shows the rule process 1 logged.
    poll_until("process 0 listing the rule put through process 1", Duration::from_secs(30), || {
        let (status, body) = http(&p0.addr, "GET", "/api/v1/rules/late-intrusion", "");
        status == 200 && body.contains(&format!("\"since_ms\":{since}"))
    });

    // The rest of the minute, read to its end (process 0's reader says so), then both stop
    // (cameras may change while a `serve` cluster runs: it runs until it is stopped).
    stdin.write_all((lines[half..].join("\n") + "\n").as_bytes()).unwrap();
    drop(stdin);
    p0.wait_for("detections input read to its end");
    let (mut p0, mut p1) = (p0, p1);
    for p in [&p0, &p1] {
        assert!(Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap().success());
    }
    let (s0, s1) = (p0.child.wait().unwrap(), p1.child.wait().unwrap());
    assert!(s0.success() && s1.success(), "{s0} {s1}");
    let violations = query_json(&dir, "SELECT camera_id, ts_start_ms FROM violations WHERE rule_id = 'late-intrusion'");
    assert!(!violations.is_empty(), "the rule put through process 1 never fired");
    for v in &violations {
        assert_eq!(v["camera_id"], camera.as_str(), "{v:?}");
        assert!(v["ts_start_ms"].as_u64().unwrap() >= since, "an episode before the rule applied: {v:?} (since {since})");
    }
}

#[test]
fn a_cluster_refuses_a_process_it_does_not_list() {
    let dir = scratch("cluster-refuses");
    std::fs::write(dir.join("config.toml"), "[[camera]]\nid = \"cam-1\"\nsource = \"push\"\n").unwrap();
    std::fs::write(dir.join("hosts.txt"), free_ports(2).join("\n")).unwrap();
    let out = itscam(&dir, &["run", "--config", "config.toml", "--cluster", "hosts.txt", "--process", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the cluster lists 2 processes (0..=1)"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The value of an OpenMetrics counter without labels, 0 when absent.
fn metric(addr: &str, name: &str) -> u64 {
    let (status, text) = http(addr, "GET", "/metrics", "");
    assert_eq!(status, 200);
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0)
}

/// A push camera takes pushes on any process of a cluster: the first half of its frames is
/// pushed to process 1, the second half to process 0, while its state lives on process 1's
/// worker; each process takes what its own API was sent, the frames go to the camera's worker,
/// and the lake holds every pushed detection. Push cameras are not added at runtime there.
/// Signal states pushed to either process make one history.
#[test]
fn a_push_camera_takes_pushes_on_any_process_of_a_cluster() {
    let dir = scratch("cluster-push");
    let camera = camera_on_worker(1, 2);
    let config = format!("[service]\nshutdown_grace_ms = 60000\n[pipeline]\nworkers = 1\n[[camera]]\nid = \"{camera}\"\nsource = \"push\"\n[[signal]]\nid = \"tl\"\nsource = \"push\"\n");
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(dir.join("hosts.txt"), free_ports(2).join("\n") + "\n").unwrap();
    let args = |p: &'static str| ["--config", "config.toml", "--cluster", "hosts.txt", "--process", p, "--listen", "127.0.0.1:0"];
    let p0 = Served::start_logging(&dir, &args("0"), "info");
    let p1 = Served::start_logging(&dir, &args("1"), "info");
    p0.wait_for("connected to every process of the cluster");
    let frames = crate::push::frames(&camera, itscam_types::time::now_ms(), 200);
    let detections: u64 = frames.iter().map(|l| itscam_types::jsonl::parse_frame(l).unwrap().detections.len() as u64).sum();
    let path = format!("/api/v1/cameras/{camera}/detections");
    for (addr, part) in [(&p1.addr, &frames[..100]), (&p0.addr, &frames[100..])] {
        let (status, _, answer) = crate::push::push(addr, &path, part);
        assert_eq!((status, answer["accepted"].as_u64()), (200, Some(part.len() as u64)), "{answer}");
    }
    // Polled: each process's source counter, until it has taken the frames its API was sent.
    poll_until("each process taking its pushes", Duration::from_secs(60), || {
        metric(&p0.addr, "itscam_source_frames_total") == 100 && metric(&p1.addr, "itscam_source_frames_total") == 100
    });
    // Signal states pushed to any process make one history: process 0 follows process 1's
    // push before taking its own, so a change before it is late there too.
    let t = itscam_types::time::now_ms() + 60_000;
    let signal = |ts: u64, state: &str| vec![format!("{{\"signal_id\":\"tl\",\"ts_ms\":{ts},\"state\":\"{state}\"}}")];
    let (status, _, answer) = crate::push::push(&p1.addr, "/api/v1/signals", &signal(t, "red"));
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)), "{answer}");
    let (status, _, answer) = crate::push::push(&p0.addr, "/api/v1/signals", &signal(t - 1_000, "green"));
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(0)), "{answer}");
    assert!(answer["rejected"][0]["reason"].as_str().unwrap().contains("previous change"), "{answer}");
    let (status, _, answer) = crate::push::push(&p0.addr, "/api/v1/signals", &signal(t + 1_000, "green"));
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)), "{answer}");
    // A push camera is the config's in a cluster (every process takes its pushes).
    let (status, body) = http(&p1.addr, "POST", "/api/v1/cameras", r#"{"id": "cam-new", "source": "push"}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("push cameras of a cluster are set in its config"), "{body}");
    // Both stop together (the dataflow is the cluster's): SIGTERM to each, then the drains.
    let (mut p0, mut p1) = (p0, p1);
    for p in [&p0, &p1] {
        assert!(Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap().success());
    }
    let (s0, s1) = (p0.child.wait().unwrap(), p1.child.wait().unwrap());
    assert!(s0.success() && s1.success(), "{s0} {s1}");
    assert_eq!(query_int(&dir, &format!("SELECT count(*) AS n FROM detections WHERE camera_id = '{camera}'")) as u64, detections);
    assert!(query_int(&dir, "SELECT count(*) AS n FROM tracks") > 0);
}

#[test]
fn the_cluster_deploy_config_checks() {
    let dir = scratch("deploy-cluster-config");
    let text = std::fs::read_to_string(repo_root().join("deploy/itscam-cluster.toml")).unwrap();
    std::fs::write(dir.join("itscam.toml"), text.replace("examples/data", repo_root().join("examples/data").to_str().unwrap())).unwrap();
    let out = itscam_ok(&dir, &["check", "--config", "itscam.toml"]);
    assert!(out.contains("ok (2 camera(s)"), "{out}");
    // The k8s example's peers file has one line per replica, in ordinal order.
    let k8s = std::fs::read_to_string(repo_root().join("deploy/k8s/itscam-cluster.yaml")).unwrap();
    assert!(k8s.contains("replicas: 2") && k8s.contains("itscam-0.itscam:2101\n    itscam-1.itscam:2101\n"), "{k8s}");
}

/// Crash cycles of the Kafka cluster test.
const CRASH_CYCLES: usize = 6;

/// The lake's checkpoint per process: (process, event time, messages its offsets cover).
struct ClusterCheckpoints {
    runtime: tokio::runtime::Runtime,
    lake: itscam_sinks::Lake,
}

impl ClusterCheckpoints {
    fn open(s3: &SeaweedFs, prefix: &str) -> ClusterCheckpoints {
        let lake = s3.lake(prefix);
        ClusterCheckpoints { runtime: tokio::runtime::Runtime::new().unwrap(), lake }
    }

    /// Each process's last checkpoint time (0: none yet).
    fn times(&self) -> [u64; 2] {
        let all = self.runtime.block_on(self.lake.last_checkpoints()).unwrap();
        [0, 1].map(|p| all.get(&p).and_then(|c| c["time"].as_u64()).unwrap_or(0))
    }

    /// Each process's last checkpoint's offsets of the topic: partition → offset.
    fn offsets(&self) -> [BTreeMap<String, i64>; 2] {
        let all = self.runtime.block_on(self.lake.last_checkpoints()).unwrap();
        [0, 1].map(|p| {
            let topic = all.get(&p).and_then(|c| c["offsets"]["detections"].as_object().cloned()).unwrap_or_default();
            topic.into_iter().map(|(k, v)| (k, v.as_i64().unwrap())).collect()
        })
    }
}

fn kafka_cluster_process(dir: &Path, config: &Path, process: usize, log: &Path) -> Child {
    let cwd = dir.join(format!("p{process}"));
    std::fs::create_dir_all(&cwd).unwrap();
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_itscam"))
        .args(["run", "--config", config.to_str().unwrap(), "--cluster", dir.join("hosts.txt").to_str().unwrap(), "--process", &process.to_string(), "--no-progress"])
        // Its own working directory: its own alert outbox.
        .current_dir(cwd)
        .env("ITSCAM_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start itscam")
}

/// A Kafka-sourced cluster of 2 processes × 1 worker, a random process SIGKILLed at a random
/// point (once connected: start-up and replay, or after both processes passed a new checkpoint) and the
/// cluster restarted, again and again: the lake and the alert topic end with exactly the rows
/// and alerts of an uninterrupted one-process run. Tansu and SeaweedFS on loopback.
#[test]
fn a_kafka_cluster_killed_at_random_ends_with_the_rows_and_alerts_of_an_uninterrupted_run() {
    use crate::kafka_source;
    use rand::{Rng, SeedableRng};
    let Some(broker) = Broker::start() else { return };
    let dir = scratch("cluster-kafka-crash");
    let s3 = SeaweedFs::start(&dir);
    let (ends, _) = kafka_source::produce(&broker.addr);
    let name = kafka_source::config(&dir, &broker.addr, &s3, "crash");
    let crash = dir.join(&name);
    let text = std::fs::read_to_string(&crash).unwrap().replace("workers = 2", "workers = 1");
    std::fs::write(&crash, text).unwrap();

    let seed = std::env::var("ITSCAM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    eprintln!("cluster crash cycles with ITSCAM_CRASH_SEED={seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let lake = ClusterCheckpoints::open(&s3, "crash");
    let mut killed = Vec::new();
    for cycle in 0..CRASH_CYCLES {
        let before = lake.times();
        std::fs::write(dir.join("hosts.txt"), free_ports(2).join("\n")).unwrap();
        let logs: Vec<std::path::PathBuf> = (0..2).map(|p| dir.join(format!("crash-{cycle}-p{p}.log"))).collect();
        let mut children: Vec<Child> = (0..2).map(|p| kafka_cluster_process(&dir, &crash, p, &logs[p])).collect();
        let at_start = rng.random_ratio(1, 4);
        let victim = rng.random_range(0..2);
        let deadline = Instant::now() + Duration::from_secs(180);
        let reached = loop {
            let reached = if at_start {
                std::fs::read_to_string(&logs[victim]).unwrap_or_default().contains("connected to every process of the cluster")
            } else {
                let now = lake.times();
                (0..2).all(|p| now[p] > before[p] && now[p] != u64::MAX)
            };
            if reached {
                break true;
            }
            if children.iter_mut().any(|c| c.try_wait().unwrap().is_some()) {
                break false;
            }
            if Instant::now() > deadline {
                children.iter_mut().for_each(|c| drop(c.kill()));
                panic!("cycle {cycle}: no kill point within 180 s; see {logs:?}");
            }
            std::thread::sleep(Duration::from_millis(20)); // polling period of the kill point, not a synchronization
        };
        if reached {
            children[victim].kill().unwrap(); // SIGKILL
            killed.push((cycle, victim, at_start));
        }
        // The other process finds its peer gone and ends on its own.
        let outputs = wait_all(children, Duration::from_secs(120));
        for (p, out) in outputs.iter().enumerate() {
            assert!(out.status.code().is_some() || p == victim, "cycle {cycle}: process {p} did not end on its own ({}); see {:?}", out.status, logs[p]);
        }
        if reached {
            let log = std::fs::read_to_string(&logs[1 - victim]).unwrap();
            assert!(outputs[1 - victim].status.code() != Some(0) || log.contains("itscam run finished"), "cycle {cycle}: see {:?}", logs[1 - victim]);
        }
        eprintln!("cycle {cycle}: killed process {victim} ({}), checkpoints {before:?} → {:?}", if at_start { "at start" } else { "after new checkpoints" }, lake.times());
    }
    assert!(killed.len() >= CRASH_CYCLES - 1, "only {} of {CRASH_CYCLES} cycles killed a process: {killed:?}", killed.len());
    // The last start runs to the end of the topic.
    std::fs::write(dir.join("hosts.txt"), free_ports(2).join("\n")).unwrap();
    let logs: Vec<std::path::PathBuf> = (0..2).map(|p| dir.join(format!("final-p{p}.log"))).collect();
    let children: Vec<Child> = (0..2).map(|p| kafka_cluster_process(&dir, &crash, p, &logs[p])).collect();
    for (p, out) in wait_all(children, Duration::from_secs(300)).iter().enumerate() {
        assert!(out.status.success(), "the last run's process {p} failed: {}; see {:?}", out.status, logs[p]);
    }
    assert_eq!(lake.times(), [u64::MAX, u64::MAX], "both processes took their final checkpoint");
    // The topic's partitions are spread over the cluster's workers (partition p on worker
    // p mod 2, here process p): each process read, and checkpointed, only its own, to its end.
    let [p0, p1] = lake.offsets();
    assert_eq!(p0, BTreeMap::from([("0".to_string(), ends[0])]), "process 0's partitions");
    assert_eq!(p1, BTreeMap::from([("1".to_string(), ends[1])]), "process 1's partitions");

    let reference = kafka_source::config(&dir, &broker.addr, &s3, "reference");
    itscam_ok(&dir, &["run", "--config", &reference, "--no-progress"]);
    for t in kafka_source::TABLES {
        let (want, got) = (kafka_source::table(&dir, &reference, t), kafka_source::table(&dir, &name, t));
        assert!(!want.is_empty() || t == "anomalies", "{t}: the reference run wrote nothing");
        let only_want: Vec<&String> = want.iter().filter(|r| !got.contains(r)).take(2).collect();
        let only_got: Vec<&String> = got.iter().filter(|r| !want.contains(r)).take(2).collect();
        assert!(want == got, "{t}: {} rows after the kills {killed:?}, {} uninterrupted; missing e.g. {only_want:?}; extra e.g. {only_got:?} (ITSCAM_CRASH_SEED={seed})", got.len(), want.len());
    }
    let want = kafka_source::alert_ids(&broker.addr, "alerts-reference");
    let got = kafka_source::alert_ids(&broker.addr, "alerts-crash");
    assert!(!want.is_empty());
    let distinct: std::collections::BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "an alert is on the topic twice after the kills {killed:?}");
    assert_eq!(distinct, want.iter().collect(), "the alert topics differ after the kills {killed:?}");
}

/// A camera added through process 1's API while the cluster runs, owned by process 0's worker:
/// process 0 follows the control log, starts its feed (a detections file) and tracks it; both
/// processes list it; removed through process 1, process 0 stops it and ends its tracks. Every
/// detection of the file is in the lake, and the `changes` table holds both changes.
#[test]
fn a_camera_added_and_removed_through_process_1_runs_on_process_0() {
    let dir = scratch("cluster-camera-through-1");
    let camera = camera_on_worker(0, 2);
    let config = "[service]\nshutdown_grace_ms = 60000\npush_max_delay_ms = 86400000\n[pipeline]\nworkers = 1\nlateness_ms = 300\n[tracker]\nmin_hits = 2\n\
                  [[camera]]\nid = \"silent\"\nsource = \"push\"\n";
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(dir.join("hosts.txt"), free_ports(2).join("\n") + "\n").unwrap();
    // An hour ago: after the event time the pipeline has reached (the wall clock less a day).
    let frames = crate::push::frames(&camera, itscam_types::time::now_ms() - 3_600_000, 200);
    let detections: u64 = frames.iter().map(|l| itscam_types::jsonl::parse_frame(l).unwrap().detections.len() as u64).sum();
    std::fs::write(dir.join("added.jsonl"), frames.join("\n") + "\n").unwrap();
    let args = |p: &'static str| ["--config", "config.toml", "--cluster", "hosts.txt", "--process", p, "--listen", "127.0.0.1:0"];
    let p0 = Served::start_logging(&dir, &args("0"), "info");
    let p1 = Served::start_logging(&dir, &args("1"), "info");
    p0.wait_for("connected to every process of the cluster");

    let body = serde_json::json!({ "id": camera, "source": format!("detections:{}", dir.join("added.jsonl").display()),
        "zone": [{ "id": "right", "polygon": [[1000, 0], [1920, 0], [1920, 1080], [1000, 1080]] }] });
    let (status, text) = http(&p1.addr, "POST", "/api/v1/cameras", &body.to_string());
    assert_eq!(status, 201, "{text}");
    // Waited for: process 0's reader of the file (the camera's worker is process 0's).
    p0.wait_for("detections input read to its end");
    for p in [&p0, &p1] {
        let (status, text) = http(&p.addr, "GET", &format!("/api/v1/cameras/{camera}"), "");
        assert_eq!(status, 200, "{text}");
    }
    let (status, text) = http(&p1.addr, "DELETE", &format!("/api/v1/cameras/{camera}"), "");
    assert_eq!(status, 200, "{text}");
    assert_eq!(http(&p1.addr, "GET", &format!("/api/v1/cameras/{camera}"), "").0, 404, "process 1 does not own it: gone at once");
    // Polled: process 0's camera, until it followed the removal (it is removing it: its tracker
    // ends it once the event time passes its last frame, here in the drain).
    poll_until("process 0 removing the camera", Duration::from_secs(60), || http(&p0.addr, "GET", &format!("/api/v1/cameras/{camera}"), "").1.contains("\"removing\":true"));
    let (mut p0, mut p1) = (p0, p1);
    for p in [&p0, &p1] {
        assert!(Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap().success());
    }
    let (s0, s1) = (p0.child.wait().unwrap(), p1.child.wait().unwrap());
    assert!(s0.success() && s1.success(), "{s0} {s1}");
    assert_eq!(query_int(&dir, &format!("SELECT count(*) AS n FROM detections WHERE camera_id = '{camera}'")) as u64, detections);
    assert!(query_int(&dir, &format!("SELECT count(*) AS n FROM tracks WHERE camera_id = '{camera}'")) > 0);
    // Every process's detections files: the camera's rows are process 0's.
    let files: Vec<String> = walk(&dir.join("lake/detections"));
    assert!(files.iter().all(|f| !f.contains("-p1-")), "process 1 wrote detections of a camera it does not own: {files:?}");
    let changes = query_json(&dir, "SELECT kind, id, op FROM changes ORDER BY seq");
    let changes: Vec<String> = changes.iter().map(|c| format!("{} {} {}", c["kind"].as_str().unwrap(), c["id"].as_str().unwrap(), c["op"].as_str().unwrap())).collect();
    assert_eq!(changes, [format!("camera {camera} put"), format!("camera {camera} delete")]);
}

/// Every file name under `dir`, recursively.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}
