//! Test harness: a timely worker running `video_source` on its own thread, observed through an
//! inspect (frames), the errors stream and a probe (frontier); tool checks; sample media.

use itscam_operators::source::SourceControl;
use itscam_operators::video::{VideoFeedSpec, video_source};
use itscam_types::ErrorRow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use timely::dataflow::operators::core::{Inspect, Probe};

/// One frame as the dataflow delivered it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub camera: String,
    /// The timely time it travelled at.
    pub time: u64,
    pub ts_ms: u64,
    pub frame: u64,
    pub width: u32,
    pub height: u32,
    pub len: usize,
    /// Pixels, kept only for the frames `keep` selected (all of them would be ~1 GB for vtest).
    pub rgb: Option<Arc<[u8]>>,
    pub at: Instant,
}

/// A dataflow with one video source, running on its own thread.
pub struct Running {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub errors: Arc<Mutex<Vec<ErrorRow>>>,
    /// The probe's frontier: `u64::MAX` once empty (every feed ended).
    frontier: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    pub pause: Arc<AtomicBool>,
    /// Bumped (and notified) whenever frames, errors or the frontier change: `wait` sleeps on it.
    changed: Arc<(Mutex<u64>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn bump(changed: &(Mutex<u64>, Condvar)) {
    *changed.0.lock().unwrap() += 1;
    changed.1.notify_all();
}

impl Running {
    pub fn start(feeds: Vec<VideoFeedSpec>, keep: fn(u64) -> bool) -> Running {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let frontier = Arc::new(AtomicU64::new(0));
        let pause = Arc::new(AtomicBool::new(false));
        let p = pause.clone();
        let control = SourceControl { pause: Arc::new(move || p.load(Ordering::Relaxed)), stop: Arc::default() };
        let stop = control.stop.clone();
        let changed: Arc<(Mutex<u64>, Condvar)> = Arc::default();
        let (s, e, f, c) = (seen.clone(), errors.clone(), frontier.clone(), changed.clone());
        let thread = std::thread::spawn(move || {
            timely::execute_directly(move |worker| {
                let (s, e, c1, c2) = (s.clone(), e.clone(), c.clone(), c.clone());
                let probe = worker.dataflow::<u64, _, _>(|scope| {
                    let (frames, errs) = video_source(scope, feeds, control, None);
                    errs.inspect(move |row| {
                        e.lock().unwrap().push(row.clone());
                        bump(&c1);
                    });
                    let frames = frames.inspect_core(move |event| {
                        if let Ok((stamp, data)) = event {
                            let time = *stamp.least().expect("one time");
                            let mut s = s.lock().unwrap();
                            for v in data {
                                s.push(Seen {
                                    camera: v.camera_id.to_string(),
                                    time,
                                    ts_ms: v.ts_ms,
                                    frame: v.frame,
                                    width: v.width,
                                    height: v.height,
                                    len: v.rgb.len(),
                                    rgb: keep(v.frame).then(|| v.rgb.clone()),
                                    at: Instant::now(),
                                });
                            }
                            drop(s);
                            bump(&c2);
                        }
                    });
                    frames.probe().0
                });
                loop {
                    let now = probe.with_frontier(|fr| fr.first().copied().unwrap_or(u64::MAX));
                    if f.swap(now, Ordering::SeqCst) != now {
                        bump(&c);
                    }
                    if probe.done() {
                        break;
                    }
                    worker.step_or_park(Some(Duration::from_millis(20)));
                }
            });
        });
        Running { seen, errors, frontier, stop, pause, changed, thread: Some(thread) }
    }

    pub fn frontier(&self) -> u64 {
        self.frontier.load(Ordering::SeqCst)
    }

    pub fn frames(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Waits until `cond` holds, woken by every change of frames, errors or frontier; panics
    /// with `what` after `limit`.
    pub fn wait(&self, limit: Duration, what: &str, cond: impl Fn(&Running) -> bool) {
        let deadline = Instant::now() + limit;
        let (lock, cv) = &*self.changed;
        // Holding the lock while testing `cond` means no change can slip in before the wait.
        let mut generation = lock.lock().unwrap();
        while !cond(self) {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                panic!(
                    "timed out after {limit:?} waiting for {what} (frames {}, frontier {}, errors {:?})",
                    self.count(),
                    self.frontier(),
                    self.errors.lock().unwrap()
                );
            };
            generation = cv.wait_timeout(generation, left).unwrap().0;
        }
    }

    /// Waits for the dataflow to complete on its own (every feed ended).
    pub fn finish(mut self, limit: Duration) -> (Vec<Seen>, Vec<ErrorRow>) {
        self.wait(limit, "the dataflow to complete", |r| r.frontier() == u64::MAX);
        self.thread.take().unwrap().join().expect("worker thread");
        let frames = self.frames();
        let errors = self.errors.lock().unwrap().clone();
        (frames, errors)
    }

    /// Stops the source and waits for the dataflow to complete.
    pub fn stop(self, limit: Duration) -> (Vec<Seen>, Vec<ErrorRow>) {
        self.stop.store(true, Ordering::SeqCst);
        self.finish(limit)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failing test must not leave a worker and ffmpeg children behind.
        self.stop.store(true, Ordering::SeqCst);
        self.pause.store(false, Ordering::SeqCst);
    }
}

/// Fails (never skips) when a tool is missing.
pub fn require_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        assert!(ok, "{tool} is required by the video tests: install ffmpeg (Debian: apt-get install ffmpeg)");
    }
}

/// vtest.avi: `$ITSCAM_VTEST`, then `.assets/vtest.avi` (scripts/setup.sh), then opencv-doc's path.
pub fn vtest() -> PathBuf {
    require_ffmpeg();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        std::env::var_os("ITSCAM_VTEST").map(PathBuf::from),
        Some(root.join(".assets/vtest.avi")),
        Some(PathBuf::from("/usr/share/doc/opencv-doc/examples/data/vtest.avi")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("vtest.avi not found: run scripts/setup.sh (fetches it into .assets/ from Debian opencv-doc) or set ITSCAM_VTEST")
    })
}

/// A fresh directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("itscam-video-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small synthetic clip made with ffmpeg's test source: `frames` frames at `fps`.
pub fn make_clip(dir: &Path, frames: u32, fps: u32) -> PathBuf {
    require_ffmpeg();
    let path = dir.join("clip.avi");
    let src = format!("testsrc=size=64x48:rate={fps}");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &src, "-frames:v", &frames.to_string(), "-c:v", "mjpeg"])
        .arg(&path)
        .status()
        .expect("running ffmpeg");
    assert!(status.success(), "ffmpeg could not make a test clip");
    path
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The RTSP server script (gst-rtsp-server), started on a fixed port; killed on drop.
pub struct RtspServer {
    child: Child,
    port: u16,
}

impl RtspServer {
    pub fn start(port: u16) -> RtspServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/video/rtsp_server.py");
        // Debian's python3 carries python3-gi; a pyenv/venv python on PATH usually does not.
        let python = std::env::var_os("ITSCAM_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
            let system = PathBuf::from("/usr/bin/python3");
            if system.is_file() { system } else { PathBuf::from("python3") }
        });
        let log = std::env::temp_dir().join(format!("itscam-rtsp-{}-{port}.log", std::process::id()));
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.trim() == "READY" => return RtspServer { child, port },
                Ok(_) => {}
                Err(_) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        let err = std::fs::read_to_string(&log).unwrap_or_default();
                        panic!("the RTSP test server exited ({status}): {err}\n(needs Debian python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good)");
                    }
                    assert!(Instant::now() < deadline, "the RTSP test server did not start within 20 s");
                }
            }
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: its connections stay open but silent,
    /// the way a hung camera behaves.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} failed (needs kill from Debian procps)");
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
