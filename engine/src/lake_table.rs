//! A DataFusion table over exactly the committed files of one lake table: every scan brings
//! the lake's commit log up to date (one listing when nothing changed) and reads the live
//! files, with the partition columns (`camera_id`, `date`) parsed from their paths. Files that
//! no commit lists (uploads in progress, crashed writers) are never read.

use arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use itscam_sinks::{FileEntry, Lake, LakeState, SinkError, Table};
use std::sync::Arc;

/// The lake and its committed state, shared by the tables of one query engine.
#[derive(Debug)]
pub struct LakeView {
    lake: Lake,
    state: tokio::sync::Mutex<LakeState>,
}

impl LakeView {
    /// A view with nothing loaded yet (the first scan loads the state).
    pub fn new(lake: Lake) -> Self {
        LakeView { lake, state: tokio::sync::Mutex::new(LakeState::default()) }
    }

    /// The live files of `table`, after catching up with the commit log.
    pub async fn files(&self, table: Table) -> Result<Vec<FileEntry>, SinkError> {
        let mut state = self.state.lock().await;
        self.lake.refresh(&mut state).await?;
        Ok(state.files_of(table.name()).cloned().collect())
    }
}

/// One table of the lake as DataFusion sees it.
#[derive(Debug)]
pub struct CommittedTable {
    table: Table,
    view: Arc<LakeView>,
    store_url: ObjectStoreUrl,
}

impl CommittedTable {
    /// The table `table` of the lake behind `view`.
    pub fn new(table: Table, view: Arc<LakeView>) -> Result<Self> {
        let store_url = ObjectStoreUrl::parse(view.lake.store_url())?;
        Ok(CommittedTable { table, view, store_url })
    }

    fn partition_fields(&self) -> Vec<FieldRef> {
        self.table.partition_columns().iter().map(|c| Arc::new(Field::new(*c, DataType::Utf8, false))).collect()
    }
}

#[async_trait]
impl TableProvider for CommittedTable {
    fn schema(&self) -> SchemaRef {
        self.table.table_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Partition filters prune files, others prune row groups; DataFusion re-checks all.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.view.files(self.table).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let columns = self.table.partition_columns();
        let partition_filters: Vec<Expr> = filters.iter().filter(|f| expr_applicable_for_cols(columns, f)).cloned().collect();
        let nullable: Vec<Field> = columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect();
        let partition_schema = DFSchema::from_unqualified_fields(nullable.into(), Default::default())?;
        let mut selected = Vec::with_capacity(files.len());
        for f in files {
            let values = f.partition_values();
            let mut pf = PartitionedFile::new(self.view.lake.path_of(&f.path).to_string(), f.bytes);
            pf.partition_values = columns
                .iter()
                .map(|c| ScalarValue::Utf8(Some(values.iter().find(|(k, _)| k == c).map_or("", |(_, v)| v).to_string())))
                .collect();
            if let Some(pf) = filter_partitioned_file(pf, &partition_filters, &partition_schema)? {
                selected.push(pf);
            }
        }
        if selected.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema().project(p)?),
                None => self.schema(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let format = ParquetFormat::default();
        let table_schema = TableSchemaBuilder::from(&self.table.file_schema()).with_table_partition_cols(self.partition_fields()).build();
        let groups = FileGroup::new(selected).split_files(state.config().target_partitions());
        let config = FileScanConfigBuilder::new(self.store_url.clone(), format.file_source(table_schema))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}
