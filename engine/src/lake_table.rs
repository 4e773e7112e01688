//! A DataFusion table over exactly the committed files of one lake table: every query brings
//! the lake's commit log up to date (one listing when nothing changed) and reads the live
//! files, with the partition columns parsed from their paths. Files that no commit lists
//! (uploads in progress, crashed writers) are never read. A lake may hold files of both
//! layouts (`[lake] partition_by`): files under `date=` directories with `camera_id` a column
//! (a camera filter prunes their row groups by statistics), and files under `camera_id=…/date=`
//! (a camera filter prunes the files); each layout is one Parquet scan, and both give the
//! table's columns in the same order.
//!
//! **Fresh reads.** In the process that runs the pipeline, the view also has the writer's
//! [`UnwrittenRows`]: each query then reads the committed files *and* what the writer holds
//! (rows of files in progress, files waiting for a checkpoint), taken at one instant, so a row
//! is visible as soon as the writer has it and is never counted twice (see the protocol in
//! `itscam_sinks::unwritten`). One query sees one snapshot in every table it reads: the first
//! scan takes it ([`QuerySnapshot`]) and the others reuse it.

use arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use arrow::record_batch::RecordBatch;
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
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use itscam_sinks::schema::PartitionBy;
use itscam_sinks::{FileEntry, Lake, LakeState, SinkError, Table, Unwritten, UnwrittenPart, UnwrittenRows};
use std::sync::Arc;

/// How many times a read retries when vacuum moved the lake past the writer's answer.
const READ_ATTEMPTS: usize = 5;

/// The lake and its committed state, shared by the tables of one query engine.
#[derive(Debug)]
pub struct LakeView {
    lake: Lake,
    state: tokio::sync::Mutex<LakeState>,
    unwritten: Option<UnwrittenRows>,
}

/// What one query reads: the committed state and, when the view is fresh, what the writer
/// held at that commit.
#[derive(Debug)]
pub struct LakeRead {
    state: LakeState,
    unwritten: Unwritten,
}

impl LakeRead {
    /// The files of `table` to read: committed ones and ones uploaded and not committed.
    fn files(&self, table: Table) -> Vec<FileEntry> {
        let committed = self.state.files_of(table.name()).cloned();
        committed.chain(self.unwritten.files.iter().filter(|f| f.table == table.name()).cloned()).collect()
    }

    /// The files of `table` waiting in the writer's spool, with the local path of each.
    fn spooled(&self, table: Table) -> Vec<(FileEntry, String)> {
        let local = |p: &std::path::Path| object_store::path::Path::from_absolute_path(p).map_or_else(|_| p.to_string_lossy().trim_start_matches('/').to_string(), |p| p.to_string());
        self.unwritten.spooled.iter().filter(|(f, _)| f.table == table.name()).map(|(f, p)| (f.clone(), local(p))).collect()
    }

    /// The rows of `table` the writer holds in memory.
    fn parts(&self, table: Table) -> impl Iterator<Item = &UnwrittenPart> {
        self.unwritten.parts.iter().filter(move |p| p.table == table)
    }
}

/// The read of one query, taken by its first scan and shared by the others: set as a
/// `SessionConfig` extension by the query engine.
#[derive(Debug, Default)]
pub struct QuerySnapshot {
    read: tokio::sync::OnceCell<Arc<LakeRead>>,
}

impl LakeView {
    /// A view of committed files, with nothing loaded yet (the first scan loads the state).
    pub fn new(lake: Lake) -> Self {
        LakeView { lake, state: tokio::sync::Mutex::new(LakeState::default()), unwritten: None }
    }

    /// A view of committed files and of what the writer behind `unwritten` holds.
    pub fn fresh(lake: Lake, unwritten: UnwrittenRows) -> Self {
        LakeView { unwritten: Some(unwritten), ..LakeView::new(lake) }
    }

    /// The committed state, caught up with the commit log, and what the writer holds beyond
    /// it. The state is first brought up to date (so every commit it has existed before the
    /// writer is asked), then brought to the writer's newest commit, not beyond: commits of
    /// the writer after it hold rows its answer has too.
    pub async fn read(&self) -> Result<LakeRead, SinkError> {
        let mut state = self.state.lock().await;
        for _ in 0..READ_ATTEMPTS {
            self.lake.refresh(&mut state).await?;
            let Some(unwritten) = self.snapshot().await else {
                return Ok(LakeRead { state: state.clone(), unwritten: Unwritten::default() });
            };
            let Some(after) = unwritten.after_commit else {
                return Ok(LakeRead { state: state.clone(), unwritten });
            };
            if state.seq.is_some_and(|s| s >= after) {
                return Ok(LakeRead { state: state.clone(), unwritten });
            }
            self.lake.refresh_until(&mut state, after).await?;
            if state.seq == Some(after) {
                return Ok(LakeRead { state: state.clone(), unwritten });
            }
            // Vacuum removed the commits between: the state was reloaded past the writer's
            // answer (or the listing does not show the commit yet); ask again.
        }
        Err(SinkError::Conflict(format!("the commit log did not reach the writer's newest commit in {READ_ATTEMPTS} attempts (vacuum raced with the read)")))
    }

    async fn snapshot(&self) -> Option<Unwritten> {
        self.unwritten.as_ref()?.snapshot().await
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

    /// The Parquet scan of `files` (all laid out by `layout`) whose partition values pass the
    /// partition filters among `filters`; `None` when no file does.
    async fn scan_files(
        &self,
        state: &dyn Session,
        layout: PartitionBy,
        store_url: &ObjectStoreUrl,
        files: impl Iterator<Item = (FileEntry, String)>,
        pushed: &Pushdown<'_>,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Pushdown { projection, filters, limit } = *pushed;
        let columns = self.table.partition_columns(layout);
        let (partition_filters, partition_schema) = partition_filters(columns, filters)?;
        let mut selected = Vec::new();
        for (f, location) in files {
            let values = f.partition_values();
            let mut pf = PartitionedFile::new(location, f.bytes);
            pf.partition_values = columns
                .iter()
                .map(|c| ScalarValue::Utf8(Some(values.iter().find(|(k, _)| k == c).map_or("", |(_, v)| v).to_string())))
                .collect();
            if let Some(pf) = filter_partitioned_file(pf, &partition_filters, &partition_schema)? {
                selected.push(pf);
            }
        }
        if selected.is_empty() {
            return Ok(None);
        }
        let format = ParquetFormat::default();
        let partition_fields: Vec<FieldRef> = columns.iter().map(|c| Arc::new(Field::new(*c, DataType::Utf8, false))).collect();
        let table_schema = TableSchemaBuilder::from(&self.table.file_schema_of(layout)).with_table_partition_cols(partition_fields).build();
        let groups = FileGroup::new(selected).split_files(state.config().target_partitions().max(1));
        let config = FileScanConfigBuilder::new(store_url.clone(), format.file_source(table_schema))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(Some(format.create_physical_plan(state, config).await?))
    }
}

/// What a scan pushes down to each file scan.
#[derive(Clone, Copy)]
struct Pushdown<'a> {
    projection: Option<&'a Vec<usize>>,
    filters: &'a [Expr],
    limit: Option<usize>,
}

/// The filters among `filters` that only read `columns` (partition columns), and the schema
/// they are evaluated against.
fn partition_filters(columns: &[&str], filters: &[Expr]) -> Result<(Vec<Expr>, DFSchema)> {
    let applicable: Vec<Expr> = filters.iter().filter(|f| expr_applicable_for_cols(columns, f)).cloned().collect();
    let nullable: Vec<Field> = columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect();
    Ok((applicable, DFSchema::from_unqualified_fields(nullable.into(), Default::default())?))
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
        let read = match state.config().get_extension::<QuerySnapshot>() {
            Some(snapshot) => snapshot.read.get_or_try_init(|| async { self.view.read().await.map(Arc::new) }).await.cloned(),
            None => self.view.read().await.map(Arc::new),
        }
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let lake = &self.view.lake;
        let files: Vec<(FileEntry, String)> = read.files(self.table).into_iter().map(|f| {
            let location = lake.path_of(&f.path).to_string();
            (f, location)
        }).collect();
        // Files waiting in the spool are read from their local copy.
        let local = ObjectStoreUrl::local_filesystem();
        let pushed = Pushdown { projection, filters, limit };
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        for (store, files) in [(&self.store_url, files), (&local, read.spooled(self.table))] {
            for layout in [PartitionBy::Date, PartitionBy::CameraDate] {
                let of_layout = files.iter().filter(|(f, _)| f.layout() == layout).cloned();
                inputs.extend(self.scan_files(state, layout, store, of_layout, &pushed).await?);
            }
        }
        // Held rows carry their camera and day apart from their columns, like files laid out
        // by camera directory.
        let (partition_filters, partition_schema) = partition_filters(self.table.partition_columns(PartitionBy::CameraDate), filters)?;
        let target = state.config().target_partitions().max(1);
        let partitions = self.held_partitions(&read, &partition_filters, &partition_schema, target)?;
        if !partitions.is_empty() {
            let memory = MemorySourceConfig::try_new(&partitions, self.schema(), projection.cloned())?.with_limit(limit);
            inputs.push(datafusion::datasource::source::DataSourceExec::from_data_source(memory));
        }
        if inputs.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema().project(p)?),
                None => self.schema(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        UnionExec::try_new(inputs)
    }
}

impl CommittedTable {
    /// The rows of this table the writer holds (in `read`) whose partition passes
    /// `partition_filters`, as batches of the table schema spread over at most `target`
    /// partitions (each batch to the one with the fewest rows so far).
    fn held_partitions(&self, read: &LakeRead, partition_filters: &[Expr], partition_schema: &DFSchema, target: usize) -> Result<Vec<Vec<RecordBatch>>> {
        let (columns, schema) = (self.table.partition_columns(PartitionBy::CameraDate), self.table.table_schema());
        let mut partitions: Vec<Vec<RecordBatch>> = Vec::new();
        for part in read.parts(self.table) {
            let values: Vec<ScalarValue> = columns
                .iter()
                .map(|c| ScalarValue::Utf8(Some(if *c == "camera_id" { part.camera_id.clone().unwrap_or_default() } else { part.date.clone() })))
                .collect();
            let mut probe = PartitionedFile::new("unwritten", 0);
            probe.partition_values = values.clone();
            if filter_partitioned_file(probe, partition_filters, partition_schema)?.is_none() {
                continue;
            }
            for batch in &part.batches {
                let batch = with_partition_columns(&schema, batch, &values)?;
                if partitions.len() < target {
                    partitions.push(vec![batch]);
                } else {
                    let i = partitions.iter().enumerate().min_by_key(|(_, p)| p.iter().map(RecordBatch::num_rows).sum::<usize>()).map_or(0, |(i, _)| i);
                    partitions[i].push(batch);
                }
            }
        }
        Ok(partitions)
    }
}

/// `batch` (in the file schema) with the constant partition columns appended: a batch of
/// the table schema.
fn with_partition_columns(schema: &SchemaRef, batch: &RecordBatch, values: &[ScalarValue]) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    for v in values {
        columns.push(v.to_array_of_size(batch.num_rows())?);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
