//! `itscam lake forget`: erase one camera's rows of a time range from every table of the lake,
//! and its evidence, through the commit log ([`itscam_sinks::Lake::forget`]); each erasure is
//! also an `audit` row (`who` = `--by`, else `cli`).

use itscam_engine::audit::{Audit, AuditRow};
use itscam_sinks::Lake;
use std::path::PathBuf;
use std::process::ExitCode;

/// `itscam lake forget …`.
#[derive(clap::Args)]
pub struct ForgetArgs {
    /// The camera whose rows are removed.
    #[arg(long)]
    camera: String,
    /// Start of the range, inclusive (event time): ms since the Unix epoch, or RFC 3339
    /// (`2026-01-01T10:00:00Z`, `2026-01-01T11:00:00+01:00`).
    #[arg(long, value_parser = parse_time)]
    from: u64,
    /// End of the range, exclusive; same forms as --from. Any length is allowed.
    #[arg(long, value_parser = parse_time)]
    to: u64,
    /// Lake URL (default: [lake].url of --config, else file://./lake).
    #[arg(long, env = "ITSCAM_LAKE")]
    lake: Option<String>,
    /// Take the lake and its [lake.*] settings from this pipeline config.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Who asked for the erasure (the audit row's `who`; default: cli).
    #[arg(long)]
    by: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// A time as ms since the epoch, or RFC 3339.
pub(crate) fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    if !s.contains('T') {
        return Err(format!("{s:?} is neither ms since the Unix epoch nor an RFC 3339 time (2026-01-01T10:00:00Z)"));
    }
    let nanos = arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(s).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?;
    u64::try_from(nanos.div_euclid(1_000_000)).map_err(|_| format!("{s:?} is before 1970"))
}

/// Runs the erasure and records it.
pub fn forget(args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let base = match &args.config {
        Some(p) => itscam_types::config::PipelineConfig::load_for_lake(p)?,
        None => itscam_types::config::PipelineConfig::default(),
    };
    anyhow::ensure!(args.from < args.to, "--from ({}) must be before --to ({})", args.from, args.to);
    let lake = Lake::open_with(args.lake.as_deref().unwrap_or(&base.lake.url), &base.lake.s3)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let audit = Audit::new(lake.clone());
        let started = std::time::Instant::now();
        let run_id = format!("forget-{}", itscam_types::time::now_ms());
        let result = lake.forget(&args.camera, args.from, args.to, &run_id).await;
        let mut row = match &result {
            Ok(report) => AuditRow::of_command("lake forget", Some(report.summary()), "ok"),
            Err(e) => AuditRow::of_command("lake forget", Some(format!("camera {} from {} to {}: {e}", args.camera, args.from, args.to)), "error"),
        };
        row.who = args.by.clone().unwrap_or_else(|| "cli".into());
        row.rows = result.as_ref().ok().map(|r| r.rows_removed);
        row.duration_ms = started.elapsed().as_millis() as u64;
        audit.record(row);
        let flushed = audit.flush().await;
        let report = result?;
        flushed?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{}", report.summary());
            for t in report.tables.iter().filter(|t| t.rows_removed > 0) {
                println!("  {:<16} {:>8} row(s) by {:<24} {} file(s) rewritten, {} removed", t.table, t.rows_removed, t.time, t.files_rewritten, t.files_removed);
            }
            if report.commit.is_some() {
                println!(
                    "the old files and evidence objects are deleted by `itscam lake vacuum` once [lake.compaction] grace_ms ({} ms) has passed: the erasure is complete then",
                    base.lake.compaction.grace_ms
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_ms_or_rfc_3339() {
        assert_eq!(parse_time("1767225600000"), Ok(1_767_225_600_000));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600_000));
        assert_eq!(parse_time("2026-01-01T01:00:00.5+01:00"), Ok(1_767_225_600_500));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-01-01").is_err());
    }
}
