//! `itscam export turning-counts`: a junction camera's turning movement count report as CSV
//! ([`itscam_engine::report`]).

use anyhow::Context;
use clap::Subcommand;
use itscam_engine::report;
use itscam_engine::sql::{QueryEngine, Scope};
use itscam_sinks::Lake;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `itscam export …`.
#[derive(Debug, Subcommand)]
pub enum ExportAction {
    /// A camera's turning movement counts per bin as CSV (README "Junctions").
    TurningCounts {
        /// The junction camera.
        #[arg(long)]
        camera: String,
        /// Start (event time, bins starting at or after it): ms since the Unix epoch, or RFC 3339.
        #[arg(long, value_parser = crate::lake_cmd::parse_time)]
        from: u64,
        /// End, exclusive (bins starting before it); same forms as --from.
        #[arg(long, value_parser = crate::lake_cmd::parse_time)]
        to: u64,
        /// Lake URL (default: [lake].url of --config, else file://./lake).
        #[arg(long, env = "ITSCAM_LAKE")]
        lake: Option<String>,
        /// Pipeline config: the lake, and the approaches' and crosswalks' order of the camera.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// Runs `itscam export …`.
pub fn run(action: ExportAction) -> anyhow::Result<ExitCode> {
    let ExportAction::TurningCounts { camera, from, to, lake, config, out } = action;
    anyhow::ensure!(from < to, "--from ({from}) must be before --to ({to})");
    let base = match &config {
        Some(p) => itscam_types::config::PipelineConfig::load_for_lake(p)?,
        None => itscam_types::config::PipelineConfig::default(),
    };
    let lake = Lake::open_with(lake.as_deref().unwrap_or(&base.lake.url), &base.lake.s3)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let counts = rt.block_on(async {
        let engine = QueryEngine::open(&lake, base.query.clone()).await?;
        anyhow::Ok(report::turning_counts(&engine, &Scope::all(), &camera, from, to).await?)
    })?;
    // Columns: the config's approach and crosswalk order, else the names found, sorted.
    let (approaches, crosswalks) = match base.camera.iter().find(|c| c.id == camera) {
        Some(c) if !c.approach.is_empty() || !c.crosswalk.is_empty() => (c.approach.iter().map(|a| a.id.clone()).collect(), c.crosswalk.iter().map(|w| w.id.clone()).collect()),
        _ => report::sites_of(&counts),
    };
    let text = report::render(&counts, &approaches, &crosswalks);
    match out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
