//! The `audit` table of SQL (admins only: [`crate::auth::Role::may_read_table`]): the rows of the
//! lake's audit log, then the rows of this process not yet written. Entries already read are
//! kept, so a query reads only the entries written since the last one.

use super::{Audit, AuditBatch, AuditRow};
use arrow::array::{ArrayRef, StringArray, UInt16Array, UInt64Array};
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
use itscam_sinks::{Lake, SideLog};
use std::sync::{Arc, LazyLock};

/// The table's name in SQL.
pub const AUDIT: &str = "audit";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("at_ms", DataType::UInt64, false),
        text("who", false),
        text("role", false),
        text("address", false),
        text("action", false),
        Field::new("status", DataType::UInt16, false),
        text("outcome", false),
        text("detail", true),
        text("statement_hash", true),
        Field::new("rows", DataType::UInt64, true),
        Field::new("duration_ms", DataType::UInt64, false),
    ]))
});

/// The `audit` table's schema (the fields of [`AuditRow`]).
pub fn audit_schema() -> SchemaRef {
    SCHEMA.clone()
}

fn batch(rows: &[AuditRow]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let text = |f: fn(&AuditRow) -> Option<&str>| Arc::new(rows.iter().map(f).collect::<StringArray>()) as ArrayRef;
    let u64s = |f: fn(&AuditRow) -> Option<u64>| Arc::new(rows.iter().map(f).collect::<UInt64Array>()) as ArrayRef;
    RecordBatch::try_new(
        audit_schema(),
        vec![
            u64s(|r| Some(r.at_ms)),
            text(|r| Some(&r.who)),
            text(|r| Some(&r.role)),
            text(|r| Some(&r.address)),
            text(|r| Some(&r.action)),
            Arc::new(rows.iter().map(|r| r.status).collect::<UInt16Array>()),
            text(|r| Some(&r.outcome)),
            text(|r| r.detail.as_deref()),
            text(|r| r.statement_hash.as_deref()),
            u64s(|r| r.rows),
            u64s(|r| Some(r.duration_ms)),
        ],
    )
}

/// The `audit` table of a lake (and of this process's waiting rows).
#[derive(Debug)]
pub struct AuditTable {
    lake: Lake,
    audit: Audit,
    read: tokio::sync::Mutex<(Option<u64>, Vec<AuditRow>)>,
}

impl AuditTable {
    /// The table over `lake`'s audit log and `audit`'s waiting rows.
    pub fn new(lake: Lake, audit: Audit) -> AuditTable {
        AuditTable { lake, audit, read: tokio::sync::Mutex::default() }
    }

    async fn rows(&self) -> std::result::Result<Vec<AuditRow>, itscam_sinks::SinkError> {
        let mut read = self.read.lock().await;
        let entries: Vec<(u64, AuditBatch)> = self.lake.read_side(SideLog::Audit, read.0).await?;
        for (seq, b) in entries {
            read.0 = Some(seq);
            read.1.extend(b.rows);
        }
        // Past the retention, rows leave memory too (vacuum deletes their batches).
        let cutoff = self.audit.cutoff_ms(itscam_types::time::now_ms());
        read.1.retain(|r| r.at_ms >= cutoff);
        let mut rows = read.1.clone();
        rows.extend(self.audit.waiting());
        Ok(rows)
    }
}

#[async_trait]
impl TableProvider for AuditTable {
    fn schema(&self) -> SchemaRef {
        audit_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(&self, _state: &dyn Session, projection: Option<&Vec<usize>>, _filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows().await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let memory = MemorySourceConfig::try_new(&[vec![batch(&rows)?]], self.schema(), projection.cloned())?.with_limit(limit);
        Ok(DataSourceExec::from_data_source(memory))
    }
}
