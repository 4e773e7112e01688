//! Opens a lake and runs SQL over it through the engine library, the way `itscam query` does.
//!
//! Run with: `cargo run -p itscam --example query_lake -- ./lake "SELECT class, count(*) FROM tracks GROUP BY class"`

use itscam_engine::format::{Format, render};
use itscam_engine::sql::QueryEngine;
use itscam_sinks::Lake;
use itscam_types::config::QueryConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let lake = args.next().unwrap_or_else(|| "file://./lake".into());
    let sql = args.next().unwrap_or_else(|| "SELECT camera_id, count(*) AS tracks FROM tracks GROUP BY camera_id ORDER BY camera_id".into());
    let engine = QueryEngine::open(&Lake::open(&lake)?, QueryConfig::default()).await?;
    let result = engine.run(&sql).await?;
    println!("{}", render(&result, Format::Table)?);
    Ok(())
}
