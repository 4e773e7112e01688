//! `itscam rules check`: compiles a rule in the rule language against a pipeline config,
//! offline, and prints its plan (`EXPLAIN`) or every problem with its line and column.

use itscam_queries::rules::sql::{compile, explain};
use itscam_types::config::{PipelineConfig, RuleConfig, RuleParams, SqlRule};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// `itscam rules …`.
#[derive(clap::Subcommand)]
pub enum RulesAction {
    /// Check a rule written in the rule language (docs/rules.md) against a pipeline config and
    /// print its plan, or each problem with its line and column (exit 1).
    Check {
        /// Pipeline config (TOML) whose cameras, zones, lines and signals the rule refers to.
        #[arg(long, short)]
        config: PathBuf,
        /// The rule's text (`SELECT … FOR 5 s`, or `CREATE RULE name … AS SELECT …`).
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        sql: Option<String>,
        /// Read the rule's text from this file instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The rule's id (default: the CREATE RULE name).
        #[arg(long, default_value = "")]
        id: String,
    },
    /// Run rule ID over the lake's history in [--from, --to) and write the violations it would
    /// have made live (`origin = 'backfill'`, the same ids); resumes where an earlier run of the
    /// same rule and range stopped. See docs/rules.md "Backfill".
    Backfill {
        /// The rule's id (from --config, or put over the API: the lake's control log).
        id: String,
        /// Start of the range (event time): ms since the Unix epoch, or RFC 3339.
        #[arg(long, value_parser = crate::lake_cmd::parse_time)]
        from: u64,
        /// End of the range, exclusive; same forms as --from; at most 31 days after it.
        #[arg(long, value_parser = crate::lake_cmd::parse_time)]
        to: u64,
        /// The pipeline config (cameras, zones, lines, signals, the lake).
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs `itscam rules …`.
pub fn run(action: RulesAction) -> anyhow::Result<ExitCode> {
    let (config, sql, file, id) = match action {
        RulesAction::Check { config, sql, file, id } => (config, sql, file, id),
        RulesAction::Backfill { id, from, to, config } => return backfill(&id, from, to, &config),
    };
    let pipeline = PipelineConfig::load(&config)?;
    let text = match (sql, file) {
        (Some(s), _) => s,
        (None, Some(f)) => std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
        (None, None) => anyhow::bail!("give --sql TEXT or --file FILE"),
    };
    let keys = RuleConfig::new(id, "", RuleParams::Sql(SqlRule { sql: Some(text.clone()) }));
    let started = Instant::now();
    match compile(&text, &keys, &pipeline) {
        Ok(c) => {
            let took = started.elapsed();
            print!("{}", explain(&c.ir, pipeline.analytics.rule_grace_ms));
            println!("compiled in {} µs", took.as_micros());
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The rule-language problems of a config's `sql` rules (keyed `rule[i].sql`).
pub fn config_problems(config: &PipelineConfig) -> Vec<itscam_types::config::Problem> {
    config
        .rule
        .iter()
        .enumerate()
        .filter_map(|(i, r)| itscam_queries::rules::sql::compile_rule(r, config, &format!("rule[{i}]")).err())
        .flatten()
        .collect()
}

/// `itscam rules backfill`: progress on stderr while it runs, the summary on stdout.
fn backfill(id: &str, from: u64, to: u64, config: &std::path::Path) -> anyhow::Result<ExitCode> {
    use itscam_engine::backfill::{BackfillProgress, check_range, rule_of, run};
    check_range(from, to).map_err(|e| anyhow::anyhow!(e))?;
    let pipeline = PipelineConfig::load(config)?;
    let lake = itscam_sinks::Lake::open_with(&pipeline.lake.url, &pipeline.lake.s3)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let Some(rule) = rule_of(&lake, &pipeline, id).await? else {
            eprintln!("no rule {id:?} in {} or the lake's control log", config.display());
            return Ok(ExitCode::FAILURE);
        };
        let progress = std::sync::Arc::new(std::sync::Mutex::new(BackfillProgress::default()));
        let shown = progress.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let p = shown.lock().unwrap_or_else(|e| e.into_inner()).clone();
                eprintln!("backfill {}: {}/{} parts, {} rows read, {} violations", p.rule_id, p.parts_done, p.parts, p.rows_read, p.violations);
            }
        });
        let started = Instant::now();
        let result = run(&pipeline, &lake, &rule, from, to, &progress).await;
        ticker.abort();
        let p = progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
        result?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "backfill {} (job {}): {} parts ({} done before), {} rows read, {} violations written, {:.1} s ({:.0} rows/s)",
            p.rule_id, p.job, p.parts, p.parts_skipped, p.rows_read, p.violations, secs, p.rows_read as f64 / secs.max(1e-9)
        );
        Ok(ExitCode::SUCCESS)
    })
}
