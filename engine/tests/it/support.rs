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

/// Starts `itscam` in `cwd` with `ITSCAM_LOG=log` and stdin, stdout and stderr piped (a run
/// fed on its standard input).
pub fn itscam_child(cwd: &Path, args: &[&str], log: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_itscam"))
        .args(args)
        .current_dir(cwd)
        .env("ITSCAM_LOG", log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start itscam")
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
    /// The lake at `s3://<bucket>/<prefix>` of this server, opened with its credentials.
    pub fn lake(&self, prefix: &str) -> itscam_sinks::Lake {
        let s3_config = itscam_types::config::S3Config {
            endpoint: Some(self.env["endpoint"].clone()),
            access_key_id: Some(self.env["access_key_id"].clone()),
            secret_access_key: Some(self.env["secret_access_key"].clone()),
            ..Default::default()
        };
        itscam_sinks::Lake::open_with(&format!("s3://{}/{prefix}", self.env["bucket"]), &s3_config).unwrap()
    }

    /// Starts a server with its data under `dir`.
    pub fn start(dir: &Path) -> SeaweedFs {
        Self::start_with_bucket(&dir.join("s3-server"), "lake")
    }

    /// Starts a server with its data in `dir` and one bucket named `bucket`.
    pub fn start_with_bucket(dir: &Path, bucket: &str) -> SeaweedFs {
        let dir = dir.to_path_buf();
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/servers/seaweedfs.sh"))
            .args(["start", dir.to_str().expect("utf-8 path"), bucket])
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

/// One HTTP/1.0 request to `addr` over a plain socket: (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http_raw(addr, method, path, &[("Content-Type", "application/json")], body.as_bytes());
    (status, body)
}

/// One HTTP/1.0 request with these headers and a byte body: (status, response head, body).
pub fn http_raw(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).expect("send request");
    stream.write_all(body).expect("send body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head.to_string(), body.to_string())
}

/// A running `itscam serve` (killed when dropped), with its stderr read line by line.
pub struct Served {
    /// The process.
    pub child: std::process::Child,
    /// The API's address.
    pub addr: String,
    lines: StderrLines,
}

impl Served {
    /// Starts `itscam serve` with `args` in `cwd` (stdin piped) and waits for its API address.
    pub fn start(cwd: &Path, args: &[&str]) -> Served {
        Served::start_logging(cwd, args, "warn")
    }

    /// [`Served::start`] with `ITSCAM_LOG=log` (e.g. `info`, to wait for the lines it writes).
    pub fn start_logging(cwd: &Path, args: &[&str], log: &str) -> Served {
        Served::start_scheme(cwd, args, log, "http://")
    }

    /// [`Served::start_logging`] for an API announced as `scheme` (`https://` with TLS).
    pub fn start_scheme(cwd: &Path, args: &[&str], log: &str, scheme: &str) -> Served {
        let mut child = itscam_child(cwd, &[&["serve"], args].concat(), log);
        let lines = StderrLines::of(child.stderr.take().expect("stderr"));
        let mut served = Served { child, addr: String::new(), lines };
        let line = served.wait_for(scheme);
        served.addr = line.split(scheme).nth(1).and_then(|r| r.split_whitespace().next()).expect("address").to_string();
        served
    }

    /// Waits (up to two minutes) for a stderr line containing `needle`, and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        self.lines.wait_for(needle)
    }

    /// Sends SIGTERM and waits for the exit, with stdin still open (so only the signal can end
    /// the input); returns the exit status and stdout.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let _stdin_open = self.child.stdin.take();
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let mut out = String::new();
        use std::io::Read;
        self.child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
        (self.child.wait().expect("wait"), out)
    }

    /// [`Served::terminate`], then every stderr line it wrote after the last one waited for.
    pub fn terminate_with_log(mut self) -> (std::process::ExitStatus, String, Vec<String>) {
        let (tx, rx) = std::sync::mpsc::channel();
        drop(tx);
        let lines = std::mem::replace(&mut self.lines, StderrLines(rx));
        let (status, out) = self.terminate();
        // The reader ends at the closed pipe: every line is in.
        (status, out, lines.0.iter().collect())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP forwarder on loopback in front of a server (e.g. SeaweedFS), to take the server away
/// and bring it back: [`Proxy::cut`] closes the port and every open connection (clients get
/// "connection refused"), [`Proxy::restore`] listens on the same port again.
pub struct Proxy {
    /// host:port clients connect to.
    pub addr: String,
    target: String,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Forwards a free loopback port to `target` (host:port).
    pub fn start(target: &str) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap().to_string();
        let mut proxy = Proxy { addr, target: target.to_string(), open: Default::default(), conns: Default::default(), acceptor: None };
        proxy.listen(listener);
        proxy
    }

    fn listen(&mut self, listener: std::net::TcpListener) {
        use std::sync::atomic::Ordering;
        self.open.store(true, Ordering::SeqCst);
        let (open, conns, target) = (self.open.clone(), self.conns.clone(), self.target.clone());
        self.acceptor = Some(std::thread::spawn(move || {
            for client in listener.incoming() {
                if !open.load(Ordering::SeqCst) {
                    break; // the wake-up connection of `cut`
                }
                let Ok(client) = client else { continue };
                let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
                let mut list = conns.lock().unwrap();
                list.extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                drop(list);
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        }));
    }

    /// Closes the port and every open connection.
    pub fn cut(&mut self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(&self.addr); // wakes the acceptor, which drops the listener
        if let Some(a) = self.acceptor.take() {
            a.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Forwards to `target` (host:port) from the next [`Proxy::restore`] on.
    pub fn retarget(&mut self, target: &str) {
        self.target = target.to_string();
    }

    /// Listens on the same port again.
    pub fn restore(&mut self) {
        let listener = std::net::TcpListener::bind(&self.addr).expect("the proxy's port is free again");
        self.listen(listener);
    }
}

/// JSON Lines with every `ts_ms` moved by `shift_ms` (blank lines dropped): a scenario replayed
/// at another time, e.g. near now for push cameras.
pub fn shifted(text: &str, shift_ms: u64) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["ts_ms"] = (v["ts_ms"].as_u64().unwrap() + shift_ms).into();
            v.to_string()
        })
        .collect()
}

/// The lines a child process writes on stderr, as they come (read by a thread of their own).
pub struct StderrLines(std::sync::mpsc::Receiver<String>);

impl StderrLines {
    /// Starts reading `stderr`.
    pub fn of(stderr: std::process::ChildStderr) -> StderrLines {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StderrLines(rx)
    }

    /// Waits (up to two minutes) for a line containing `needle`, and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!("itscam never wrote {needle:?} on stderr ({e}); it wrote:\n{}", seen.join("\n")),
            }
        }
    }
}
