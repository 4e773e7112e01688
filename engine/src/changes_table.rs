//! The `changes` table of SQL: the lake's control log (every change made to a running
//! pipeline, see [`crate::control`]), one row per entry, read whole at each query. It is the
//! audit trail: who, when (wall clock), what (`kind`, `id`, `op`), the object before and after
//! (JSON text) and the event time from which the change applied.

use arrow::array::{ArrayRef, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use itscam_sinks::{ControlEntry, Lake};
use std::sync::{Arc, LazyLock};

/// The table's name in SQL.
pub const CHANGES: &str = "changes";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let u64 = |name: &str| Field::new(name, DataType::UInt64, false);
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        u64("seq"),
        u64("at_ms"),
        text("who", false),
        text("kind", false),
        text("id", false),
        text("op", false),
        u64("since_ms"),
        text("before", true),
        text("after", true),
    ]))
});

/// The `changes` table's schema: seq, at_ms, who, kind, id, op, since_ms, before, after (JSON
/// text, null when absent).
pub fn changes_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The entries as one batch of [`changes_schema`].
pub fn changes_batch(entries: &[ControlEntry]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let u64s = |f: fn(&ControlEntry) -> u64| Arc::new(UInt64Array::from_iter_values(entries.iter().map(f))) as ArrayRef;
    let texts = |f: fn(&ControlEntry) -> Option<String>| Arc::new(entries.iter().map(f).collect::<StringArray>()) as ArrayRef;
    RecordBatch::try_new(
        changes_schema(),
        vec![
            u64s(|e| e.seq),
            u64s(|e| e.at_ms),
            texts(|e| Some(e.who.clone())),
            texts(|e| Some(e.kind.name().to_string())),
            texts(|e| Some(e.id.clone())),
            texts(|e| Some(e.op.name().to_string())),
            u64s(|e| e.since_ms),
            texts(|e| e.before.as_ref().map(|v| v.to_string())),
            texts(|e| e.after.as_ref().map(|v| v.to_string())),
        ],
    )
}

/// The `changes` table over a lake's control log.
#[derive(Debug)]
pub struct ChangesTable {
    lake: Lake,
}

impl ChangesTable {
    /// The table of `lake`'s control log.
    pub fn new(lake: Lake) -> ChangesTable {
        ChangesTable { lake }
    }
}

#[async_trait]
impl TableProvider for ChangesTable {
    fn schema(&self) -> SchemaRef {
        changes_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(&self, _state: &dyn Session, projection: Option<&Vec<usize>>, _filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let entries = self.lake.read_control().await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batch = changes_batch(&entries)?;
        let memory = MemorySourceConfig::try_new(&[vec![batch]], self.schema(), projection.cloned())?.with_limit(limit);
        Ok(DataSourceExec::from_data_source(memory))
    }
}
