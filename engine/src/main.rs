//! `itscam`: streaming traffic-camera analytics. See `itscam --help` and README.md.

use clap::{Parser, Subcommand};
use itscam_engine::format::{Export, Format};
use itscam_engine::http::AppState;
use itscam_engine::http::serve::{self, ServeOptions};
use itscam_engine::run::{RunOptions, run, run_keeping_api};
use itscam_engine::sql::QueryEngine;
use itscam_sinks::{Lake, Table};
use itscam_types::config::{PipelineConfig, QueryConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod export_cmd;
mod lake_cmd;
mod models_cmd;
mod rules_cmd;
mod users_cmd;

// mimalloc: rows are allocated on workers and freed on the writer's threads; glibc's malloc
// spent ~10 % of the spine benchmark consolidating across arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "itscam", version, about = "Streaming traffic-camera analytics: detections in, tracks and tables out, SQL over the lake.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: read its cameras (video or detections), detect, track, and write the
    /// tables to the lake. Without --config, runs the embedded example (examples/video/config.toml:
    /// the sample video .assets/vtest.avi through the bundled detector into ./lake).
    Run {
        /// Pipeline config (TOML); see README "Pipeline config".
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Also write the detector's output as detections JSON Lines (DESIGN.md format) to this file.
        #[arg(long, value_name = "FILE")]
        write_detections: Option<PathBuf>,
        /// Timely worker threads (overrides [pipeline].workers).
        #[arg(long, short)]
        workers: Option<usize>,
        /// Do not draw the progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Serve the HTTP API while the pipeline runs (adds GET /api/v1/cameras: live camera health).
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Serve the API beyond loopback with [auth] enabled = false (anyone reaching it is an admin).
        #[arg(long)]
        insecure: bool,
        /// Run as one process of a timely cluster: FILE lists every process's host:port, one
        /// a line, in process order (overrides [cluster] hosts); README "Scaling out".
        #[arg(long, value_name = "FILE")]
        cluster: Option<PathBuf>,
        /// This process's index in the cluster (overrides [cluster] process).
        #[arg(long, value_name = "I", env = "ITSCAM_PROCESS")]
        process: Option<usize>,
    },
    /// Check a pipeline config: list every problem with its location; exit 1 if there is any.
    Check {
        /// Pipeline config (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run one read-only SQL query over the lake (its committed files) and print the result.
    Query {
        /// The SQL (DataFusion dialect). Tables: see README "Tables" (`SHOW TABLES` lists them).
        sql: String,
        /// Lake URL: file://PATH, a path or s3://bucket/prefix (default: [lake].url of --config,
        /// else file://./lake). S3 settings come from [lake.s3] of --config or AWS_* variables.
        #[arg(long, env = "ITSCAM_LAKE")]
        lake: Option<String>,
        /// Take the lake and [query] limits from this pipeline config.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
        /// Cancel the query after this many milliseconds (default: [query].timeout_ms, 30000).
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Stop after this many rows (default: every row, written as it is computed; [query].max_rows
        /// limits the HTTP API, not this command).
        #[arg(long)]
        max_rows: Option<usize>,
    },
    /// The long-running service. With cameras in --config: runs the pipeline and the HTTP API
    /// together (SQL, cameras, rules, alerts, metrics) until SIGTERM or Ctrl-C, then drains —
    /// inputs stop, open tracks and episodes close, every row is committed, alerts reach their
    /// outlets — and exits 0 within [service].shutdown_grace_ms (exit 1 past it). When the
    /// cameras' input ends first, the API keeps answering until the signal. Cameras (push,
    /// video file, RTSP, detections file) are added, changed and removed over /api/v1/cameras
    /// while it runs, and come back after a restart (the lake's control log). Without cameras
    /// (`--lake URL`, or a config with none): the query-only server over the lake.
    Serve {
        /// Lake URL: file://PATH, a path or s3://bucket/prefix (default: [lake].url of --config,
        /// else file://./lake).
        #[arg(long, env = "ITSCAM_LAKE")]
        lake: Option<String>,
        /// Pipeline config: its cameras run; the lake, [query] limits, [http].listen and
        /// [service] come from it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen address (default: [http].listen, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Cancel queries after this many milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Cut results at this many rows.
        #[arg(long)]
        max_rows: Option<usize>,
        /// Listen beyond loopback with [auth] enabled = false (anyone reaching it is an admin).
        #[arg(long)]
        insecure: bool,
        /// Run as one process of a timely cluster: FILE lists every process's host:port, one
        /// a line, in process order (overrides [cluster] hosts); README "Scaling out".
        #[arg(long, value_name = "FILE")]
        cluster: Option<PathBuf>,
        /// This process's index in the cluster (overrides [cluster] process).
        #[arg(long, value_name = "I", env = "ITSCAM_PROCESS")]
        process: Option<usize>,
    },
    /// Users, API keys and second factors of the HTTP API ([auth], README "Security"); kept in
    /// the lake, so every `serve` of the lake knows them.
    Users {
        /// Lake URL (default: [lake].url of --config, else file://./lake).
        #[arg(long, env = "ITSCAM_LAKE", global = true)]
        lake: Option<String>,
        /// Take the lake and [auth] from this pipeline config.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: users_cmd::UsersAction,
    },
    /// The model registry in the lake: register (with validation), list, show, promote,
    /// retire, rollback (README "Models"). A running `serve` of the lake follows the changes.
    Models {
        /// Lake URL (default: [lake].url of --config, else file://./lake).
        #[arg(long, env = "ITSCAM_LAKE", global = true)]
        lake: Option<String>,
        /// Take the lake, [model] and [models] from this pipeline config.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: models_cmd::ModelsAction,
    },
    /// Maintain the lake: compaction, retention, deletion of unreferenced files, and the list of
    /// committed files for other readers (README "Lake on S3/MinIO").
    Lake {
        #[command(subcommand)]
        action: LakeAction,
    },
    /// Rules in the rule language: check one offline (docs/rules.md).
    Rules {
        #[command(subcommand)]
        action: rules_cmd::RulesAction,
    },
    /// Reports from the lake in the layouts traffic engineers exchange (README "Junctions").
    Export {
        #[command(subcommand)]
        action: export_cmd::ExportAction,
    },
}

#[derive(Subcommand)]
enum LakeAction {
    /// Merge each partition's small committed files ([lake.compaction] min_files,
    /// target_file_bytes) into one; a single commit swaps them in, so readers see the old files
    /// or the new ones, never both. The old files are deleted by a later `vacuum`.
    Compact {
        #[command(flatten)]
        target: LakeTarget,
    },
    /// Apply [lake.retention] (a commit removes partitions older than each table's max age, and
    /// evidence older than evidence_days),
    /// delete files no commit lists once their grace period is over (removed files after
    /// [lake.compaction] grace_ms, never-committed orphans after orphan_grace_ms), write a
    /// snapshot and delete the commits it covers.
    Vacuum {
        #[command(flatten)]
        target: LakeTarget,
        /// Use this grace period (ms) for removed and orphan files alike, e.g. 0 when no writer
        /// or reader is running.
        #[arg(long)]
        grace_ms: Option<u64>,
    },
    /// Copy this lake's committed files to the central lake of [lake.sync] to (or --to), in
    /// commit order, committing them there; resumable (README "Edge sync"). With --status,
    /// only print how far the central lake is behind.
    Sync {
        #[command(flatten)]
        target: LakeTarget,
        /// The central lake (default: [lake.sync] to); reached with [lake.sync.s3].
        #[arg(long)]
        to: Option<String>,
        /// Print the lag (commits, files, bytes, oldest) as JSON and copy nothing.
        #[arg(long)]
        status: bool,
    },
    /// Erase one camera's rows whose event time is in [--from, --to) from every table, and its
    /// evidence of violations that started then: files holding such rows are rewritten without
    /// them and one commit swaps them in (README "Erasure"). The old files are deleted by the
    /// next `vacuum` after [lake.compaction] grace_ms. Recorded in the `audit` table.
    Forget(lake_cmd::ForgetArgs),
    /// Print the URL of every committed file, one per line: what DuckDB, pyarrow or Spark should
    /// read (never list the directories: they also hold uploads no commit lists yet).
    Files {
        #[command(flatten)]
        target: LakeTarget,
        /// Print JSON Lines instead: {"table","url","rows","bytes"} per file.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct LakeTarget {
    /// Lake URL (default: [lake].url of --config, else file://./lake).
    #[arg(long, env = "ITSCAM_LAKE")]
    lake: Option<String>,
    /// Take the lake and its [lake.*] settings from this pipeline config.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Only these tables (repeatable; default: all). `vacuum` also takes `evidence` (the
    /// evidence objects, vacuumed with every table by default).
    #[arg(long, value_name = "TABLE")]
    table: Vec<String>,
}

/// `itscam run` without --config.
const DEFAULT_CONFIG: &str = include_str!("../../examples/video/config.toml");

/// mimalloc hands freed pages back to the OS after 10 ms by default. Rows churn through memory
/// continuously (allocated on workers, freed after encoding), so pages were returned and zeroed
/// again and again: 30 % of the CPU of the spine benchmark. A ten-second delay keeps the working
/// set while data flows and still returns memory when the engine idles.
///
/// Transparent huge pages are off for the process: with THP every fresh 2 MiB region is zeroed
/// whole on its first touch, and with a reader thread per camera (each with its own heap) that
/// was 17 % of the CPU of the 100-camera benchmark (`perf`: `clear_page_erms`). Off, the same
/// run took ~7 % less CPU (user + system, three runs each) and ~10 % less RSS.
#[allow(unsafe_code)]
fn tune_allocator() {
    /// `mi_option_purge_delay` and `mi_option_allow_thp` in mimalloc v3's `mimalloc.h` (not
    /// exported by libmimalloc-sys).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    // SAFETY: sets process-wide allocator options (integers) that mimalloc reads when it purges
    // and maps memory.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
    // mimalloc mapped (and advised huge pages for) its first arena before `main`: the process
    // flag covers that memory too (the kernel checks it at each fault).
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and changes only this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ITSCAM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs in files and journald stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .init();
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<PipelineConfig> {
    Ok(PipelineConfig::load(path)?)
}

/// The config named by `--config`, or defaults when none is given.
/// (A config without cameras is fine: `serve` then serves the lake alone.)
fn optional_config(path: &Option<PathBuf>) -> anyhow::Result<PipelineConfig> {
    match path {
        Some(p) => Ok(PipelineConfig::load_for_lake(p)?),
        None => Ok(PipelineConfig::default()),
    }
}

fn limits(base: &QueryConfig, timeout_ms: Option<u64>, max_rows: Option<usize>) -> anyhow::Result<QueryConfig> {
    let q = QueryConfig { timeout_ms: timeout_ms.unwrap_or(base.timeout_ms), max_rows: max_rows.unwrap_or(base.max_rows), ..base.clone() };
    anyhow::ensure!(q.timeout_ms > 0 && q.max_rows > 0, "--timeout-ms and --max-rows must be at least 1");
    Ok(q)
}

/// `itscam check`: every problem of a config (its rules' texts compiled), or a summary and
/// each calibration's fit.
fn check(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let c = match PipelineConfig::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rule_problems = rules_cmd::config_problems(&c);
    match itscam_queries::Scenes::build(&c).and_then(|s| if rule_problems.is_empty() { Ok(s) } else { Err(rule_problems) }) {
        Ok(scenes) => {
            println!("{}: ok ({} camera(s), {} signal(s), {} rule(s))", config.display(), c.camera.len(), c.signal.len(), c.rule.len());
            for r in scenes.reports() {
                println!("  calibration {}: {} point pairs, reprojection error rms {:.3} m, max {:.3} m", r.camera_id, r.points, r.rms_error_m, r.max_error_m);
            }
            let junctions = itscam_queries::junction::JunctionPlan::new(&c);
            let mut cameras: Vec<_> = junctions.initial.values().collect();
            cameras.sort_by(|a, b| a.camera.cmp(&b.camera));
            for line in cameras.iter().flat_map(|j| j.report()) {
                println!("  {line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            eprintln!("{}", itscam_types::config::ConfigError { file: config.display().to_string(), problems });
            Ok(ExitCode::FAILURE)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config, workers, no_progress, write_detections, http, insecure, cluster, process } => {
            let config = match &config {
                Some(path) => load(path)?,
                None => PipelineConfig::from_toml(DEFAULT_CONFIG).map_err(|problems| {
                    let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
                    anyhow::anyhow!("the embedded default config (examples/video/config.toml) cannot run here:\n{}\nRun scripts/setup.sh from the repository root first, or pass --config", list.join("\n"))
                })?,
            };
            let stop = Arc::new(AtomicBool::new(false));
            let on_signal = stop.clone();
            ctrlc_hook(move || on_signal.store(true, Ordering::Relaxed));
            let cluster = itscam_engine::run::Cluster::resolve(&config.cluster, cluster.as_deref(), process)?;
            let summary = run(&config, &RunOptions { workers, progress: !no_progress, write_detections, http, cameras_at_runtime: false, insecure, cluster }, stop)?;
            print!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Query { sql, lake, config, format, timeout_ms, max_rows } => {
            let base = optional_config(&config)?;
            let lake = Lake::open_with(lake.as_deref().unwrap_or(&base.lake.url), &base.lake.s3)?;
            anyhow::ensure!(max_rows != Some(0), "--max-rows must be at least 1");
            let limits = limits(&base.query, timeout_ms, None)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let mut out = Export::new(stdout, format);
            let (schema, rows, truncated) = rt.block_on(async {
                let engine = QueryEngine::open(&lake, limits).await?;
                engine.export(&sql, max_rows, |b| out.write(b)).await
            })?;
            out.finish(&schema)?;
            if truncated {
                eprintln!("note: result cut at {rows} rows (--max-rows)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lake { action: LakeAction::Forget(args) } => lake_cmd::forget(args),
        Command::Lake { action } => lake_command(action),
        Command::Rules { action } => rules_cmd::run(action),
        Command::Export { action } => export_cmd::run(action),
        Command::Users { lake, config, action } => {
            let base = optional_config(&config)?;
            let lake = Lake::open_with(lake.as_deref().unwrap_or(&base.lake.url), &base.lake.s3)?;
            users_cmd::run(lake, &base.auth, action)
        }
        Command::Models { lake, config, action } => models_cmd::run_on(lake, &optional_config(&config)?, action),
        Command::Serve { lake, config, listen, timeout_ms, max_rows, insecure, cluster, process } => {
            let mut base = optional_config(&config)?;
            if let Some(url) = lake {
                base.lake.url = url;
            }
            base.query = limits(&base.query, timeout_ms, max_rows)?;
            let listen = listen.unwrap_or(base.http.listen.clone());
            let cluster = itscam_engine::run::Cluster::resolve(&base.cluster, cluster.as_deref(), process)?;
            if base.camera.is_empty() {
                anyhow::ensure!(cluster.is_none(), "a cluster runs cameras: serve without [[camera]] needs no --cluster");
                serve_lake(&base, &listen, insecure)
            } else {
                serve_pipeline(&base, listen, insecure, cluster)
            }
        }
    }
}

/// `itscam serve` without cameras: SQL and the lake's alerts until SIGTERM or Ctrl-C.
fn serve_lake(base: &PipelineConfig, listen: &str, insecure: bool) -> anyhow::Result<ExitCode> {
    let lake = Lake::open_with(&base.lake.url, &base.lake.s3)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let options = ServeOptions::of(base, insecure);
    rt.block_on(async move {
        let bound = serve::bind(listen, &options).await?;
        let state = serve::secure(AppState::open(&lake, base.query.clone()).await?, &lake, &options).await?;
        eprintln!("itscam serve: {}://{} (lake {})", bound.scheme(), bound.local, lake.url());
        serve::serve(bound, state.clone(), shutdown_signal()).await?;
        // What the audit trail holds is written before the process exits.
        state.audit.flush().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `itscam serve` with cameras: the pipeline and the API until SIGTERM or Ctrl-C, then the
/// drain, bounded by `[service] shutdown_grace_ms`.
fn serve_pipeline(config: &PipelineConfig, listen: String, insecure: bool, cluster: Option<itscam_engine::run::Cluster>) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    let (signalled, on_signal) = std::sync::mpsc::channel::<()>();
    let (to_watchdog, watchdog_signal) = std::sync::mpsc::channel::<()>();
    let (drained, watchdog_done) = std::sync::mpsc::channel::<()>();
    let flag = stop.clone();
    ctrlc_hook(move || {
        flag.store(true, Ordering::Relaxed);
        let _ = signalled.send(());
        let _ = to_watchdog.send(());
    });
    let grace = config.service.shutdown_grace_ms;
    std::thread::spawn(move || {
        if watchdog_signal.recv().is_ok()
            && let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watchdog_done.recv_timeout(std::time::Duration::from_millis(grace))
        {
            eprintln!(
                "error: the drain did not finish within [service] shutdown_grace_ms = {grace} ms; exiting with rows not committed \
                 (a checkpointed run replays them from its last checkpoint)"
            );
            std::process::exit(1);
        }
    });
    let options = RunOptions { workers: None, progress: false, write_detections: None, http: Some(listen), cameras_at_runtime: true, insecure, cluster };
    let (summary, api) = run_keeping_api(config, &options, stop.clone())?;
    print!("{summary}");
    if !stop.load(Ordering::Relaxed) {
        eprintln!("itscam serve: the cameras' input ended; the API keeps answering until SIGTERM or Ctrl-C");
        let _ = on_signal.recv();
    }
    drop(api);
    let _ = drained.send(());
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `itscam lake …`.
fn lake_command(action: LakeAction) -> anyhow::Result<ExitCode> {
    let target = match &action {
        LakeAction::Compact { target } | LakeAction::Vacuum { target, .. } | LakeAction::Files { target, .. } | LakeAction::Sync { target, .. } => target,
        LakeAction::Forget(_) => unreachable!("dispatched to lake_cmd::forget"),
    };
    let mut base = optional_config(&target.config)?;
    let lake = Lake::open_with(target.lake.as_deref().unwrap_or(&base.lake.url), &base.lake.s3)?;
    let tables: Vec<Table> = if target.table.is_empty() {
        Table::ALL.to_vec()
    } else {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        target
            .table
            .iter()
            .filter(|n| *n != itscam_sinks::EVIDENCE_TABLE)
            .map(|n| Table::ALL.iter().copied().find(|t| t.name() == n).ok_or_else(|| anyhow::anyhow!("unknown table {n:?}; tables: {}", names.join(", "))))
            .collect::<anyhow::Result<_>>()?
    };
    // Evidence objects are not a table: vacuumed with every table, or when named.
    let evidence = target.table.is_empty() || target.table.iter().any(|n| n == itscam_sinks::EVIDENCE_TABLE);
    anyhow::ensure!(
        target.table.is_empty() || !evidence || matches!(action, LakeAction::Vacuum { .. }),
        "--table {} is for `itscam lake vacuum` only (evidence objects are not a table)",
        itscam_sinks::EVIDENCE_TABLE
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let now = itscam_types::time::now_ms();
    rt.block_on(async {
        match action {
            LakeAction::Forget(_) => unreachable!("dispatched to lake_cmd::forget"),
            LakeAction::Compact { .. } => {
                let r = lake.compact(&tables, &base.lake.compaction, &format!("compact-{now}")).await?;
                match r.commit {
                    Some(seq) => println!(
                        "compacted {} file(s) in {} partition(s) into {} ({} rows, {} → {} bytes), commit {seq}",
                        r.files_in, r.partitions, r.files_out, r.rows, r.bytes_in, r.bytes_out
                    ),
                    None => println!("nothing to compact (no partition has {} files under {} bytes)", base.lake.compaction.min_files, base.lake.compaction.target_file_bytes),
                }
            }
            LakeAction::Vacuum { grace_ms, .. } => {
                if let Some(g) = grace_ms {
                    base.lake.compaction.grace_ms = g;
                    base.lake.compaction.orphan_grace_ms = g;
                }
                let r = lake.vacuum_with(&tables, evidence, &base.lake.retention, &base.lake.compaction, now, &format!("vacuum-{now}")).await?;
                let audit = itscam_engine::audit::expire(&lake, base.lake.retention.audit_days, now).await?;
                print_vacuum(&r, audit);
            }
            LakeAction::Sync { to, status, .. } => {
                let to = to.or(base.lake.sync.to.clone()).ok_or_else(|| anyhow::anyhow!("no central lake: set [lake.sync] to in the config, or pass --to s3://bucket/prefix"))?;
                let central = Lake::open_with(&to, &base.lake.sync.s3)?.with_partition_by(base.lake.partition_by);
                let sync = itscam_sinks::LakeSync::new(lake.clone(), central, base.lake.sync.max_bytes_per_s);
                if !status {
                    let r = sync.sync().await?;
                    println!("copied {} file(s), {} bytes, in {} commit(s) to {to}; {} already there", r.files, r.bytes, r.commits, r.already_there);
                }
                println!("{}", serde_json::to_string(&sync.status().await?)?);
            }
            LakeAction::Files { json, .. } => {
                let state = lake.load_state().await?;
                for f in tables.iter().flat_map(|t| state.files_of(t.name())) {
                    let url = lake.object_url(&lake.path_of(&f.path));
                    if json {
                        println!("{}", serde_json::json!({ "table": f.table, "url": url, "rows": f.rows, "bytes": f.bytes }));
                    } else {
                        println!("{url}");
                    }
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Calls `f` on the first Ctrl-C or SIGTERM (from a small thread with its own runtime); a
/// second one exits at once.
fn ctrlc_hook(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            shutdown_signal().await;
            eprintln!("\nstopping: draining the pipeline and writing buffered rows (Ctrl-C again to abort)");
            f();
            shutdown_signal().await;
            std::process::exit(130);
        });
    });
}

/// What `itscam lake vacuum` did, in one line.
fn print_vacuum(r: &itscam_sinks::VacuumReport, audit: impl std::fmt::Display) {
    println!(
        "expired {} file(s) by retention; deleted {} removed and {} orphan file(s); {} kept in their grace period; {} old log object(s) deleted; {audit} audit batch(es) past retention deleted{}",
        r.expired_files,
        r.deleted_removed,
        r.deleted_orphans,
        r.kept_in_grace,
        r.log_objects_deleted,
        r.snapshot.map(|s| format!("; snapshot at commit {s}")).unwrap_or_default()
    );
}
