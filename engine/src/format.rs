//! Query results as text: a table, JSON (an array of objects) or CSV, whole ([`render`]) or
//! batch by batch as they are computed ([`Export`]).

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

/// A result written batch by batch to `W` in one [`Format`]: CSV and JSON go out as each batch
/// arrives (an export of any size in bounded memory); a table has to see every row to align its
/// columns, so it is held until [`Export::finish`].
pub struct Export<W: std::io::Write> {
    inner: ExportInner<W>,
}

// One per export, never moved in a loop: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum ExportInner<W: std::io::Write> {
    Table(W, Vec<RecordBatch>),
    Json(arrow::json::Writer<W, arrow::json::writer::JsonArray>),
    Csv(arrow::csv::Writer<W>, bool),
}

impl<W: std::io::Write> Export<W> {
    /// An export to `out`.
    pub fn new(out: W, format: Format) -> Self {
        let inner = match format {
            Format::Table => ExportInner::Table(out, Vec::new()),
            Format::Json => ExportInner::Json(arrow::json::WriterBuilder::new().with_explicit_nulls(true).build(out)),
            Format::Csv => ExportInner::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out), false),
        };
        Export { inner }
    }

    /// Writes (or, for a table, keeps) one batch.
    pub fn write(&mut self, batch: RecordBatch) -> anyhow::Result<()> {
        match &mut self.inner {
            ExportInner::Table(_, kept) => kept.push(batch),
            ExportInner::Json(w) => w.write(&batch)?,
            ExportInner::Csv(w, any) => {
                w.write(&batch)?;
                *any = true;
            }
        }
        Ok(())
    }

    /// Ends the output: the table, the closing `]`, or the CSV header alone when there were no
    /// rows.
    pub fn finish(self, schema: &arrow::datatypes::SchemaRef) -> anyhow::Result<()> {
        match self.inner {
            ExportInner::Table(mut out, kept) => {
                let empty = [RecordBatch::new_empty(schema.clone())];
                let batches = if kept.is_empty() { &empty[..] } else { &kept[..] };
                writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?;
                out.flush()?;
            }
            ExportInner::Json(mut w) => {
                w.finish()?;
                let mut out = w.into_inner();
                writeln!(out)?;
                out.flush()?;
            }
            ExportInner::Csv(mut w, any) => {
                if !any {
                    w.write(&RecordBatch::new_empty(schema.clone()))?;
                }
                w.into_inner().flush()?;
            }
        }
        Ok(())
    }
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
