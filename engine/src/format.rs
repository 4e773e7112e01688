//! Query results as text: a table, JSON (an array of objects) or CSV.

use crate::sql::QueryResult;
use arrow::record_batch::RecordBatch;

/// Output format of `itscam query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// A JSON array of row objects.
    Json,
    /// CSV with a header line.
    Csv,
}

/// Renders a result in `format`.
pub fn render(result: &QueryResult, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Table => {
            if result.batches.is_empty() {
                let empty = RecordBatch::new_empty(result.schema.clone());
                arrow::util::pretty::pretty_format_batches(&[empty])?.to_string()
            } else {
                arrow::util::pretty::pretty_format_batches(&result.batches)?.to_string()
            }
        }
        Format::Json => json_rows(&result.batches)?,
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
                if result.batches.is_empty() {
                    w.write(&RecordBatch::new_empty(result.schema.clone()))?;
                }
                for b in &result.batches {
                    w.write(b)?;
                }
            }
            String::from_utf8(out)?
        }
    })
}

/// Batches as a JSON array of objects (nulls kept as `null`).
pub fn json_rows(batches: &[RecordBatch]) -> anyhow::Result<String> {
    let mut out = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new().with_explicit_nulls(true).build::<_, arrow::json::writer::JsonArray>(&mut out);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    let text = String::from_utf8(out)?;
    Ok(if text.is_empty() { "[]".into() } else { text })
}
