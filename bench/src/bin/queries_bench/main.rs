//! Question: how fast do the traffic queries run behind the tracker?
//!
//! 1. **Throughput** — detections/s (and per CPU-second) through `track_frames` →
//!    `build_analytics` with 0 (the baseline: tracker, observe, metrics, anomalies, an empty
//!    rule set), 10, 100 and 1,000 rules, on 1 and 2 workers; each run's ratio to the 0-rule run
//!    with the same workers, in the same process. Goal: ≥ 1 M detections/s per core with 100 rules.
//! 2. **Latency** — frames released at their capture pace with 100 rules: wall-clock time from
//!    a frame entering the input to the violation row it causes leaving the dataflow (p50/p99/max),
//!    through the tracker and, for comparison, the queries alone (tracker output computed before).
//! 3. **Rule add time as history grows** — the time to take in one new rule after 10, 60, 300 s
//!    of history, next to the same step without a change. Goal: flat.
//!
//! Scene: `itscam_bench::traffic` (calibration, four zones, two lines and a signal per camera;
//! how the rules are spread is printed with the results).
//!
//! Run with: `bench/queries.sh`, or
//! `cargo run --release -p itscam-bench --bin queries-bench -- --part throughput --seconds 60`

mod harness;
mod latency;
mod rule_add;
mod throughput;

use clap::Parser;
use harness::{pretrack, split_frames};
use itscam_bench::synth::{SynthConfig, generate};
use itscam_bench::traffic::Scene;
use itscam_operators::track::TrackFrames;
use itscam_queries::build_analytics;
use itscam_types::config::{RuleConfig, TrackerConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

// The engine's allocator (set `MIMALLOC_PURGE_DELAY=10000` as the engine does; the script does).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Throughput, latency and rule-add time of the traffic queries behind the tracker")]
struct Args {
    /// `all`, `throughput`, `latency` or `rule-add`.
    #[arg(long, default_value = "all")]
    part: String,
    /// Cameras.
    #[arg(long, default_value_t = 8)]
    cameras: usize,
    /// Objects in view per camera.
    #[arg(long, default_value_t = 20)]
    objects: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Seconds of footage per throughput run.
    #[arg(long, default_value_t = 120)]
    seconds: u32,
    /// Rule counts of the throughput runs (0 is the baseline and always runs).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    rules: Vec<usize>,
    /// Worker counts of the throughput runs.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// Skip the 0-rule baseline (for profiling one configuration; no ratios then).
    #[arg(long)]
    skip_baseline: bool,
    /// Also run each rule count with the rules as their rule-language equivalents (kind `sql`):
    /// the rows marked `sql`, and their ratio to the built-ins'.
    #[arg(long)]
    sql: bool,
    /// Also run each rule count with a junction on every camera (two approaches with gates, a
    /// stop line and a lane each: the junction tables computed): the rows marked `junction`,
    /// and their ratio to the same rules without.
    #[arg(long)]
    junction: bool,
    /// Runs of each throughput configuration; the fastest counts (the machine is shared).
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Seconds of the paced latency run.
    #[arg(long, default_value_t = 10)]
    latency_seconds: u32,
    /// Rules of the latency run.
    #[arg(long, default_value_t = 100)]
    latency_rules: usize,
    /// History points of the rule-add measurement, seconds.
    #[arg(long, value_delimiter = ',', default_value = "10,60,300")]
    history: Vec<u64>,
    /// Rules present during the rule-add measurement.
    #[arg(long, default_value_t = 100)]
    history_rules: usize,
    /// Rule adds (and baseline steps) at each history point.
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Where signal files are written (default: a fresh folder under the temp dir, removed after).
    #[arg(long)]
    work: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let dir = a.work.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("itscam-queries-bench-{}", std::process::id())));
    let result = run(&a, &dir);
    if a.work.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run(a: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let synth = |seconds: u32| SynthConfig { cameras: a.cameras, objects: a.objects, fps: a.fps, seconds, ..SynthConfig::default() };
    let tracker = TrackerConfig::default();
    let all = a.part == "all";
    anyhow::ensure!(all || ["throughput", "latency", "rule-add"].contains(&a.part.as_str()), "unknown --part {:?}", a.part);
    anyhow::ensure!(a.cameras > 0 && a.seconds > 0 && a.latency_seconds > 0 && a.fps > 0, "--cameras, --fps, --seconds and --latency-seconds must be > 0");
    anyhow::ensure!(!a.workers.contains(&0), "--workers must be > 0");
    println!("queries benchmark: {} cameras × {} objects × {} fps, {} cores", a.cameras, a.objects, a.fps, std::thread::available_parallelism().map_or(0, |n| n.get()));
    if all || a.part == "throughput" {
        throughput(a, &synth(a.seconds), &tracker, dir)?;
    }
    if all || a.part == "latency" {
        latency(a, &synth(a.latency_seconds), &tracker, dir)?;
    }
    if all || a.part == "rule-add" {
        rule_add(a, &synth(a.history.iter().copied().max().unwrap_or(10) as u32 + 1), &tracker, dir)?;
    }
    Ok(())
}

fn n(v: &AtomicU64) -> u64 {
    harness::Counts::get(v)
}

fn throughput(a: &Args, synth: &SynthConfig, tracker: &TrackerConfig, dir: &std::path::Path) -> anyhow::Result<()> {
    let frames = generate(synth);
    let detections: usize = frames.iter().map(|f| f.detections.len()).sum();
    println!("\n## Throughput: {} s of footage, {} frames, {} detections; fastest of {} run(s) each", synth.seconds, frames.len(), detections, a.repeat);
    println!("(vs 0 rules: detections/s over the 0-rule run's with the same workers; CPU vs 0: the same for per CPU-second,");
    println!(" steadier on a shared machine. violations: closed rows; alerts: confirmations, ongoing = true)");
    let mut rule_counts = if a.skip_baseline { vec![] } else { vec![0] };
    rule_counts.extend(a.rules.iter().copied().filter(|r| *r > 0));
    for r in rule_counts.iter().filter(|r| **r > 0) {
        println!("scene: {}", Scene::for_synth(synth, *r).spread());
    }
    // Variants: built-in rules, the same as rule-language rules (`--sql`, with rules), the
    // built-ins with a junction on every camera (`--junction`).
    let mut best: BTreeMap<(usize, usize, Variant), throughput::Run> = BTreeMap::new();
    let mut variants = vec![Variant::BuiltIn];
    if a.sql {
        variants.push(Variant::Sql);
    }
    if a.junction {
        variants.push(Variant::Junction);
    }
    for _ in 0..a.repeat.max(1) {
        for &w in &a.workers {
            for &r in &rule_counts {
                for &v in variants.iter().filter(|v| **v != Variant::Sql || r > 0) {
                    let scene = Scene { sql: v == Variant::Sql, junction: v == Variant::Junction, ..Scene::for_synth(synth, r) };
                    let run = throughput::run(&frames, &scene, dir, w, tracker)?;
                    eprintln!("  rules {r:>5}{}, workers {w}: {:.0} detections/s, {:.2} s", v.suffix(), run.rate(), run.wall_s);
                    if best.get(&(w, r, v)).is_none_or(|b| b.rate() < run.rate()) {
                        best.insert((w, r, v), run);
                    }
                }
            }
        }
    }
    println!(
        "{:>6} {:>8} {:>14} {:>15} {:>11} {:>11} {:>11} {:>10} {:>10} {:>8} {:>8}",
        "rules", "workers", "detections/s", "per CPU-second", "vs 0 rules", "CPU vs 0", "violations", "alerts", "crossings", "metrics", "wall s"
    );
    for &w in &a.workers {
        let (base, base_cpu) = best.get(&(w, 0, Variant::BuiltIn)).map_or((f64::NAN, f64::NAN), |b| (b.rate(), b.per_cpu()));
        for (&(_, r, v), run) in best.iter().filter(|(k, _)| k.0 == w) {
            let c = &run.counts;
            let label = format!("{r}{}", v.suffix());
            if v != Variant::BuiltIn && let Some(b) = best.get(&(w, r, Variant::BuiltIn)) {
                eprintln!("  {r} rules{} vs {r} built-in, workers {w}: {:.2}x per CPU-second", v.suffix(), run.per_cpu() / b.per_cpu());
            }
            if v == Variant::Junction {
                eprintln!("  {r} rules junction, workers {w}: {} junction rows, digest {:016x}", harness::Counts::get(&c.junction), harness::Counts::get(&c.junction_digest));
            }
            println!(
                "{:>6} {:>8} {:>14.0} {:>15.0} {:>10.2}x {:>10.2}x {:>11} {:>10} {:>10} {:>8} {:>8.2}",
                label,
                run.workers,
                run.rate(),
                run.per_cpu(),
                run.rate() / base,
                run.per_cpu() / base_cpu,
                n(&c.violations),
                n(&c.alerts),
                n(&c.crossings),
                n(&c.metrics),
                run.wall_s
            );
        }
    }
    Ok(())
}

fn latency(a: &Args, synth: &SynthConfig, tracker: &TrackerConfig, dir: &std::path::Path) -> anyhow::Result<()> {
    let frames = generate(synth);
    let scene = Scene::for_synth(synth, a.latency_rules);
    println!("\n## Latency: frames released at capture pace for {} s; {}", synth.seconds, scene.spread());
    println!("{:<44} {:>7} {:>9} {:>9} {:>9} {:>11} {:>8}", "run", "rows", "p50 ms", "p99 ms", "max ms", "violations", "alerts");
    let mut runs = Vec::new();
    for &w in &a.workers {
        let t = tracker.clone();
        let l = latency::paced(split_frames(&frames, w), scene.plan(dir)?, move |s, plan, index| build_analytics(s.track_frames(t.clone()), plan, index))?;
        runs.push((format!("tracker + queries, {w} worker(s)"), l));
    }
    let tracked = pretrack(&frames, tracker);
    let l = latency::paced(vec![tracked], scene.plan(dir)?, build_analytics)?;
    runs.push(("queries alone (tracked beforehand), 1 worker".to_string(), l));
    for (name, l) in runs {
        let (p50, p99, max) = l.summary();
        println!("{:<44} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>11} {:>8}", name, l.ms.len(), p50, p99, max, n(&l.counts.violations), n(&l.counts.alerts));
    }
    Ok(())
}

fn rule_add(a: &Args, synth: &SynthConfig, tracker: &TrackerConfig, dir: &std::path::Path) -> anyhow::Result<()> {
    let frames = generate(synth);
    let scene = Scene { sql: a.sql, ..Scene::for_synth(synth, a.history_rules) };
    let tracked = pretrack(&frames, tracker);
    drop(frames);
    println!("\n## Rule add time vs history: {}, 1 worker, {} adds per point (medians)", scene.spread(), a.reps);
    let template = scene.rule(0);
    let new_rule = move |k: usize| -> RuleConfig {
        let mut rule = template.clone();
        rule.id = format!("added-{k}");
        rule
    };
    // A step must let the probe pass it: with the causal speeds (no smoothing lag) detection rows
    // leave at once. The rules do not use the smoothed speeds, so the add time is the same.
    let mut plan = scene.plan(dir)?;
    plan.settings.smooth_lag_ms = 0;
    let points = rule_add::measure(tracked, plan, a.history.clone(), a.reps, new_rule)?;
    println!(
        "{:>10} {:>12} {:>9} {:>13} {:>12} {:>16} {:>12} {:>12}",
        "history s", "detections", "step µs", "add step µs", "add − step", "add vs smallest", "add min µs", "add max µs"
    );
    let first = points.first().map_or(f64::NAN, |p| p.add());
    for p in &points {
        println!(
            "{:>10} {:>12} {:>9.0} {:>13.0} {:>12.0} {:>15.2}x {:>12.0} {:>12.0}",
            p.history_s,
            p.detections,
            p.base(),
            p.add(),
            p.add() - p.base(),
            p.add() / first,
            p.add_us.first().copied().unwrap_or(f64::NAN),
            p.add_us.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// What a throughput run adds to the built-in rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    /// The built-in rules alone.
    BuiltIn,
    /// The same rules in the rule language.
    Sql,
    /// The built-ins, every camera a junction.
    Junction,
}

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Variant::BuiltIn => "",
            Variant::Sql => " sql",
            Variant::Junction => " junction",
        }
    }
}
