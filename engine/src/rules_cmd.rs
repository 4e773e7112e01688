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
}

/// Runs `itscam rules …`.
pub fn run(action: RulesAction) -> anyhow::Result<ExitCode> {
    let RulesAction::Check { config, sql, file, id } = action;
    let pipeline = PipelineConfig::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
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
