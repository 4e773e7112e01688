//! Question: how long from a frame pushed into a running `itscam serve` (`POST
//! /api/v1/cameras/{id}/detections`) to its detection row being visible to `POST /api/v1/query`?
//! Goal (issue 13): p99 ≤ 1 s with default settings.
//!
//! It starts the real engine, `itscam serve --config …` with one `source = "push"` camera, as a
//! child process. A pusher thread posts one frame (one car) every `1/--fps` s, stamped with the
//! wall clock (push cameras' event time follows it), and keeps the instant of each push. The
//! main thread asks `SELECT ts_ms FROM detections WHERE ts_ms > <newest seen>` every
//! `--poll-ms`; a frame's freshness is the instant its row first appears − the instant it was
//! pushed. It also reports the time from the frame's watermark passing (the push of the first
//! frame at least `[pipeline] lateness_ms` later: before that the pipeline may not emit it) to
//! its row being visible, the measure of issue 13's "a row within one second of its frame's
//! watermark passing". `--max-age-ms` sets `[lake.writer] max_age_ms` (default: the engine's,
//! 30 s): with fresh SQL (the default) it should not matter; `--not-fresh` sets `[query] fresh =
//! false` (committed files only) for the comparison.
//!
//! With `--camera-added N` it answers the other question of issue 13 instead: how long from a
//! camera added over HTTP (`POST /api/v1/cameras`, a push camera) to its first row visible to
//! SQL? Each of N rounds adds a camera, pushes it (and the config's camera) a frame every
//! `1/--fps` s stamped with the wall clock, asks for its rows every `--poll-ms` until the first
//! appears, and removes it.
//!
//! Run with: freshness --itscam target/release/itscam [--seconds S] [--fps F] [--max-age-ms MS] [--lateness-ms MS] [--not-fresh] [--camera-added N]

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(about = "Frame pushed → its row visible to SQL: freshness p50/p99 of the real engine on loopback")]
struct Args {
    /// The itscam binary (release build).
    #[arg(long)]
    itscam: PathBuf,
    /// Seconds of pushing.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Frames pushed per second.
    #[arg(long, default_value_t = 10)]
    fps: u32,
    /// `[lake.writer] max_age_ms` of the engine (default: the engine's default).
    #[arg(long)]
    max_age_ms: Option<u64>,
    /// `[pipeline] lateness_ms` of the engine (default: the engine's, 1 s): a frame's row cannot
    /// leave the pipeline before its watermark passes, this long after it.
    #[arg(long)]
    lateness_ms: Option<u64>,
    /// `[query] fresh = false`: SQL reads committed files only.
    #[arg(long)]
    not_fresh: bool,
    /// How often the reader asks for new rows, ms.
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
    /// Measure camera added → first row visible instead, over this many added cameras.
    #[arg(long)]
    camera_added: Option<u32>,
    /// Working directory (config, lake); a fresh temporary one by default.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One HTTP/1.0 request: (status, body).
fn http(addr: &str, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    Ok((status, body.to_string()))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// For each of `rounds` cameras: ms from `POST /api/v1/cameras` to its first row visible.
fn camera_added(addr: &str, rounds: u32, fps: u32, poll: Duration) -> Result<Vec<f64>> {
    let period = Duration::from_secs_f64(1.0 / fps as f64);
    let mut waits = Vec::new();
    for round in 0..rounds {
        let id = format!("added-{round}");
        let added = Instant::now();
        let (status, body) = http(addr, "POST", "/api/v1/cameras", &format!("{{\"id\":\"{id}\",\"source\":\"push\"}}"))?;
        if status != 201 {
            bail!("adding {id} answered {status}: {body}");
        }
        let (mut frame, mut next_push) = (0u64, Instant::now());
        let sql = serde_json::json!({ "sql": format!("SELECT count(*) AS n FROM detections WHERE camera_id = '{id}'") }).to_string();
        loop {
            if Instant::now() >= next_push {
                let line = format!(
                    "{{\"camera_id\":\"{id}\",\"ts_ms\":{},\"frame\":{frame},\"width\":1920,\"height\":1080,\"detections\":[{{\"class\":\"car\",\"confidence\":0.9,\"bbox\":[100,500,220,600]}}]}}\n",
                    now_ms()
                );
                // The config's camera goes on too: a silent push camera holds the event time
                // back to `push_max_delay_ms` behind the wall clock.
                for camera in ["cam-1", id.as_str()] {
                    let (status, body) = http(addr, "POST", &format!("/api/v1/cameras/{camera}/detections"), &line.replace(&id, camera))?;
                    if status != 200 {
                        bail!("push to {camera} answered {status}: {body}");
                    }
                }
                frame += 1;
                next_push += period;
            }
            let (status, body) = http(addr, "POST", "/api/v1/query", &sql)?;
            if status != 200 {
                bail!("query answered {status}: {body}");
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            if v["rows"][0]["n"].as_i64().unwrap_or(0) > 0 {
                waits.push(added.elapsed().as_secs_f64() * 1000.0);
                // Removed again: a silent push camera would hold the next round's event time
                // back to `push_max_delay_ms` behind the wall clock.
                let (status, body) = http(addr, "DELETE", &format!("/api/v1/cameras/{id}"), "")?;
                if status != 200 {
                    bail!("removing {id} answered {status}: {body}");
                }
                break;
            }
            if added.elapsed() > Duration::from_secs(120) {
                bail!("camera {id} had no row visible 120 s after it was added");
            }
            std::thread::sleep(poll);
        }
    }
    Ok(waits)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = args.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("itscam-freshness-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let writer = args.max_age_ms.map_or(String::new(), |ms| format!("[lake.writer]\nmax_age_ms = {ms}\n"));
    let query = if args.not_fresh { "[query]\nfresh = false\n" } else { "" };
    let pipeline = args.lateness_ms.map_or(String::new(), |ms| format!("[pipeline]\nlateness_ms = {ms}\n"));
    let config = format!("[lake]\nurl = \"file://{}/lake\"\n{pipeline}{writer}{query}[[camera]]\nid = \"cam-1\"\nsource = \"push\"\n", dir.display());
    std::fs::write(dir.join("config.toml"), config)?;
    let log = std::fs::File::create(dir.join("engine.log"))?;
    let itscam = std::fs::canonicalize(&args.itscam).with_context(|| format!("no itscam binary at {}", args.itscam.display()))?;
    let mut child = Command::new(&itscam)
        .args(["serve", "--config", "config.toml", "--listen", &addr])
        .current_dir(&dir)
        .env("ITSCAM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("start itscam serve")?;
    let started = Instant::now();
    while http(&addr, "GET", "/health", "").map(|(s, _)| s).ok() != Some(200) {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!("itscam serve did not answer /health within 60 s (see {}/engine.log)", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    if let Some(rounds) = args.camera_added {
        let result = camera_added(&addr, rounds, args.fps.max(1), Duration::from_millis(args.poll_ms));
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        let mut waits = result?;
        waits.sort_by(f64::total_cmp);
        println!("camera added over HTTP → its first row visible to POST /api/v1/query ({rounds} cameras, a frame pushed every {} ms)", 1000 / args.fps.max(1));
        println!("{:>6} {:>9} {:>9} {:>9}", "added", "p50 ms", "p90 ms", "max ms");
        println!("{:>6} {:>9.0} {:>9.0} {:>9.0}", waits.len(), quantile(&waits, 0.5), quantile(&waits, 0.9), waits[waits.len() - 1]);
        return Ok(());
    }

    let pushed: Arc<Mutex<BTreeMap<u64, Instant>>> = Arc::default();
    let (p, a, fps, seconds) = (pushed.clone(), addr.clone(), args.fps.max(1), args.seconds);
    let pusher = std::thread::spawn(move || -> Result<()> {
        let period = Duration::from_secs_f64(1.0 / fps as f64);
        let begin = Instant::now();
        let mut frame = 0u64;
        while begin.elapsed() < Duration::from_secs(seconds) {
            let next = begin + period * frame as u32;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let ts = now_ms();
            let x = 100.0 + (frame % 100) as f64 * 15.0;
            let line = format!(
                "{{\"camera_id\":\"cam-1\",\"ts_ms\":{ts},\"frame\":{frame},\"width\":1920,\"height\":1080,\"detections\":[{{\"class\":\"car\",\"confidence\":0.9,\"bbox\":[{x},500,{},600]}}]}}\n",
                x + 120.0
            );
            p.lock().unwrap().insert(ts, Instant::now());
            let (status, body) = http(&a, "POST", "/api/v1/cameras/cam-1/detections", &line)?;
            if status != 200 {
                bail!("push answered {status}: {body}");
            }
            frame += 1;
        }
        Ok(())
    });

    let mut newest = 0u64;
    let mut latencies: Vec<f64> = Vec::new();
    // Frames seen, with the instant they were seen (their watermark's instant is known later).
    let mut seen: Vec<(u64, Instant)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(args.seconds + 120);
    loop {
        let sql = serde_json::json!({ "sql": format!("SELECT ts_ms FROM detections WHERE ts_ms > {newest} ORDER BY ts_ms") }).to_string();
        let (status, body) = http(&addr, "POST", "/api/v1/query", &sql)?;
        let seen_at = Instant::now();
        if status != 200 {
            bail!("query answered {status}: {body}");
        }
        let v: serde_json::Value = serde_json::from_str(&body)?;
        for row in v["rows"].as_array().into_iter().flatten() {
            let Some(ts) = row["ts_ms"].as_u64() else { continue };
            newest = newest.max(ts);
            if let Some(at) = pushed.lock().unwrap().get(&ts) {
                latencies.push(seen_at.duration_since(*at).as_secs_f64() * 1000.0);
                seen.push((ts, seen_at));
            }
        }
        let total = pushed.lock().unwrap().len();
        if (pusher.is_finished() && latencies.len() >= total) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(args.poll_ms));
    }
    pusher.join().map_err(|_| anyhow::anyhow!("the pusher panicked"))??;
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let total = pushed.lock().unwrap().len();
    if latencies.is_empty() {
        bail!("no pushed frame became visible to SQL ({total} pushed)");
    }
    latencies.sort_by(f64::total_cmp);
    let p99 = quantile(&latencies, 0.99);
    // After the watermark: from the push of the first frame `lateness` later (frames the
    // drain at the end emitted have none and are left out).
    let lateness = args.lateness_ms.unwrap_or(itscam_types::config::RunConfig::default().lateness_ms);
    let pushes = pushed.lock().unwrap();
    let mut after: Vec<f64> = seen
        .iter()
        .filter_map(|(ts, at)| pushes.range(ts + lateness..).next().map(|(_, w)| at.saturating_duration_since(*w).as_secs_f64() * 1000.0))
        .collect();
    drop(pushes);
    after.sort_by(f64::total_cmp);
    println!("freshness, row visible to POST /api/v1/query ({} s × {} fps, [lake.writer] max_age_ms = {}, [pipeline] lateness_ms = {lateness}, [query] fresh = {})",
        args.seconds, args.fps, args.max_age_ms.map_or("default".into(), |m| m.to_string()), !args.not_fresh);
    println!("{:<22} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9}", "from", "seen", "pushed", "p50 ms", "p90 ms", "p99 ms", "max ms");
    println!("{:<22} {:>6} {:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0}", "frame pushed", latencies.len(), total, quantile(&latencies, 0.5), quantile(&latencies, 0.9), p99, latencies[latencies.len() - 1]);
    if !after.is_empty() {
        println!("{:<22} {:>6} {:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0}", format!("watermark (+{lateness} ms)"), after.len(), total, quantile(&after, 0.5), quantile(&after, 0.9), quantile(&after, 0.99), after[after.len() - 1]);
    }
    println!("goal p99 ≤ 1000 ms from the frame pushed: {} (p99 {p99:.0} ms)", if p99 <= 1000.0 { "met" } else { "NOT met" });
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
