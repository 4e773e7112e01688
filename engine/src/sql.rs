//! SQL over the lake with DataFusion: every table registered by name over its committed files
//! (see `lake_table.rs`) and, in the process that runs the pipeline, the rows its writer holds
//! too; the `changes` table over the control log (`changes_table.rs`); read-only, with a
//! timeout and a row limit; each caller's query limited to the tables of their role and the
//! rows of their cameras ([`Scope`]).

mod scope;
pub mod views;

pub use scope::Scope;

use crate::lake_table::{CommittedTable, LakeView, QuerySnapshot};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use itscam_sinks::{Lake, Table, UnwrittenRows};
use itscam_types::config::QueryConfig;
use itscam_types::{Blame, Blamed};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change something (user input).
    #[error("queries are read-only: {0}. Only SELECT (and EXPLAIN, SHOW, DESCRIBE) are allowed")]
    NotReadOnly(String),
    /// SQL that does not parse or plan, e.g. an unknown table or column (user input).
    #[error("invalid query: {0}")]
    Invalid(String),
    /// The query ran past `[query].timeout_ms`.
    #[error("query cancelled after {0} ms ([query].timeout_ms)")]
    Timeout(u64),
    /// Running the query failed: reading the lake (external system), or the query itself
    /// (an arithmetic or cast error, too much memory: user input), or a bug.
    #[error("query failed: {reason}")]
    Execution {
        /// DataFusion's message.
        reason: String,
        /// Who is to blame, from the kind of DataFusion error.
        blame: Blame,
    },
    /// The query needed more memory than `[query] memory_limit_mb` for an operator that cannot
    /// spill (user input: a cross join, a huge group-by).
    #[error("the query needs more memory than [query] memory_limit_mb ({limit_mb} MiB): {reason}")]
    ResourcesExhausted {
        /// The limit.
        limit_mb: usize,
        /// DataFusion's message.
        reason: String,
    },
    /// `[query] max_concurrent` queries ran for all of `[query] queue_ms`: try again shortly.
    #[error("{0} queries are running ([query] max_concurrent); try again shortly")]
    Busy(usize),
    /// The caller's role or camera scope does not cover a table the query reads.
    #[error("not permitted: {0}")]
    Forbidden(String),
    /// The query engine could not be set up over the lake.
    #[error("the query engine could not be set up (this is a bug): {0}")]
    Setup(String),
    /// The lake could not be opened.
    #[error(transparent)]
    Lake(#[from] itscam_sinks::SinkError),
}

impl Blamed for QueryError {
    fn blame(&self) -> Blame {
        match self {
            QueryError::NotReadOnly(_) | QueryError::Invalid(_) | QueryError::Timeout(_) | QueryError::Forbidden(_) => Blame::User,
            QueryError::Busy(_) => Blame::External,
            QueryError::ResourcesExhausted { .. } => Blame::User,
            QueryError::Execution { blame, .. } => *blame,
            QueryError::Setup(_) => Blame::Bug,
            QueryError::Lake(e) => e.blame(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            QueryError::Lake(e) => e.retry_after(),
            QueryError::Busy(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// A failure while a query ran, blamed by its root cause.
fn execution(e: DataFusionError) -> QueryError {
    let blame = match e.find_root() {
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) | DataFusionError::ParquetError(_) | DataFusionError::External(_) => Blame::External,
        DataFusionError::Internal(_) => Blame::Bug,
        _ => Blame::User,
    };
    QueryError::Execution { reason: e.to_string(), blame }
}

/// A query's result.
#[derive(Debug)]
pub struct QueryResult {
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows, at most `max_rows` in all.
    pub batches: Vec<RecordBatch>,
    /// Rows in `batches`.
    pub row_count: usize,
    /// Whether more rows existed than `max_rows`.
    pub truncated: bool,
}

/// DataFusion over one lake.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    limits: QueryConfig,
    /// One permit per query running (`[query] max_concurrent`).
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").field("limits", &self.limits).finish()
    }
}

impl QueryEngine {
    /// Registers every table of `lake` over its committed files; files committed later are
    /// seen by the next query. Checks first that the lake is reachable (a missing bucket or bad
    /// credentials is an error naming the bucket).
    pub async fn open(lake: &Lake, limits: QueryConfig) -> Result<Self, QueryError> {
        Self::open_with(lake, limits, None).await
    }

    /// Like [`QueryEngine::open`], and each query also reads what the writer behind
    /// `unwritten` holds and has not committed (see `lake_table.rs`): rows are visible as soon
    /// as the writer has them.
    pub async fn open_fresh(lake: &Lake, limits: QueryConfig, unwritten: UnwrittenRows) -> Result<Self, QueryError> {
        Self::open_with(lake, limits, Some(unwritten)).await
    }

    async fn open_with(lake: &Lake, limits: QueryConfig, unwritten: Option<UnwrittenRows>) -> Result<Self, QueryError> {
        lake.verify().await?;
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let store_url = url::Url::parse(&lake.store_url()).map_err(|e| QueryError::Setup(e.to_string()))?;
        ctx.register_object_store(&store_url, lake.store());
        let view = Arc::new(match unwritten {
            Some(unwritten) => LakeView::fresh(lake.clone(), unwritten),
            None => LakeView::new(lake.clone()),
        });
        for table in Table::ALL {
            let provider = CommittedTable::new(table, view.clone()).map_err(|e| QueryError::Setup(e.to_string()))?;
            ctx.register_table(table.name(), Arc::new(provider)).map_err(|e| QueryError::Setup(e.to_string()))?;
        }
        let changes = crate::changes_table::ChangesTable::new(lake.clone());
        ctx.register_table(crate::changes_table::CHANGES, Arc::new(changes)).map_err(|e| QueryError::Setup(e.to_string()))?;
        let audit = crate::audit::AuditTable::new(lake.clone(), crate::audit::Audit::default());
        ctx.register_table(crate::audit::AUDIT, Arc::new(audit)).map_err(|e| QueryError::Setup(e.to_string()))?;
        for view in views::VIEWS {
            ctx.sql(view).await.map_err(|e| QueryError::Setup(format!("a view: {e}")))?;
        }
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent.max(1)));
        Ok(QueryEngine { ctx, limits, slots })
    }

    /// A session state for one query: the engine's tables and object stores, with a memory
    /// pool of `[query] memory_limit_mb` of its own (operators that can spill do, to the OS
    /// temporary directory; the others fail the query with `resources_exhausted`).
    fn query_state(&self) -> Result<datafusion::execution::SessionState, QueryError> {
        let shared = self.ctx.runtime_env();
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(shared.object_store_registry.clone())
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .with_memory_limit(self.limits.memory_limit_mb << 20, 1.0)
            .build_arc()
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        Ok(datafusion::execution::SessionStateBuilder::new_from_existing(self.ctx.state()).with_runtime_env(runtime).build())
    }

    /// The `audit` table also shows the rows `audit` has not written yet (the recorder of the
    /// process that serves).
    pub fn with_audit(self, lake: &Lake, audit: crate::audit::Audit) -> Result<Self, QueryError> {
        let setup = |e: DataFusionError| QueryError::Setup(e.to_string());
        self.ctx.deregister_table(crate::audit::AUDIT).map_err(setup)?;
        self.ctx.register_table(crate::audit::AUDIT, Arc::new(crate::audit::AuditTable::new(lake.clone(), audit))).map_err(setup)?;
        Ok(self)
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryConfig {
        &self.limits
    }

    /// Runs one read-only statement; the result is cut at `[query].max_rows` (what the HTTP API
    /// answers).
    pub async fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.run_as(sql, &Scope::all()).await
    }

    /// [`QueryEngine::run`] for a caller limited by `scope`.
    pub async fn run_as(&self, sql: &str, scope: &Scope) -> Result<QueryResult, QueryError> {
        let max_rows = self.limits.max_rows;
        let mut batches = Vec::new();
        let (schema, total, truncated) = self.export_as(sql, Some(max_rows), scope, |b| {
            batches.push(b);
            Ok(())
        })
        .await?;
        Ok(QueryResult { schema, batches, row_count: total, truncated })
    }

    /// Runs one read-only statement and hands its batches to `out` as they are computed, so a
    /// whole table can be exported in bounded memory; `max_rows: None` hands over every row
    /// (what `itscam query` does unless `--max-rows` is given), `Some(n)` the first `n`.
    /// Returns the schema, the rows handed over and whether rows were left out. `out` failing
    /// (e.g. a closed pipe) stops the query with that error as [`QueryError::Execution`].
    pub async fn export(&self, sql: &str, max_rows: Option<usize>, out: impl FnMut(RecordBatch) -> anyhow::Result<()>) -> Result<(SchemaRef, usize, bool), QueryError> {
        self.export_as(sql, max_rows, &Scope::all(), out).await
    }

    /// [`QueryEngine::export`] for a caller limited by `scope`.
    pub async fn export_as(&self, sql: &str, max_rows: Option<usize>, scope: &Scope, mut out: impl FnMut(RecordBatch) -> anyhow::Result<()>) -> Result<(SchemaRef, usize, bool), QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let mut sent = 0usize;
        let mut truncated = false;
        let queue = Duration::from_millis(self.limits.queue_ms);
        let _slot = match tokio::time::timeout(queue, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(QueryError::Busy(self.limits.max_concurrent)),
        };
        let work = async {
            // One read of the lake for the whole query, whatever tables it scans, and a memory
            // pool of its own.
            let mut state = self.query_state()?;
            state.config_mut().set_extension(Arc::new(QuerySnapshot::default()));
            let plan = state.create_logical_plan(sql).await.map_err(classify)?;
            options.verify_plan(&plan).map_err(classify)?;
            let plan = scope.apply(plan).map_err(QueryError::Forbidden)?;
            let df = DataFrame::new(state, plan);
            // EXPLAIN [ANALYZE] must stay the root of its plan (DataFusion refuses a limit above
            // it); its answer is one row per plan node anyway.
            let explains = matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
            let df = match max_rows {
                Some(n) if !explains => df.limit(0, Some(n + 1)).map_err(classify)?,
                _ => df,
            };
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let mut stream = df.execute_stream().await.map_err(execution)?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(execution)?;
                let room = max_rows.map_or(usize::MAX, |m| m - sent);
                if batch.num_rows() > room {
                    truncated = true;
                }
                let keep = batch.num_rows().min(room);
                if keep > 0 {
                    sent += keep;
                    out(if keep == batch.num_rows() { batch } else { batch.slice(0, keep) })
                        .map_err(|e| QueryError::Execution { reason: format!("{e:#}"), blame: Blame::External })?;
                }
                if truncated {
                    break;
                }
            }
            Ok::<_, QueryError>(schema)
        };
        let schema = tokio::time::timeout(Duration::from_millis(self.limits.timeout_ms), work)
            .await
            .map_err(|_| QueryError::Timeout(self.limits.timeout_ms))?
            .map_err(|e| match e {
                QueryError::Execution { reason, .. } if reason.contains("Resources exhausted") => QueryError::ResourcesExhausted { limit_mb: self.limits.memory_limit_mb, reason },
                e => e,
            })?;
        Ok((schema, sent, truncated))
    }
}

fn classify(e: DataFusionError) -> QueryError {
    let msg = e.to_string();
    let readonly = ["DDL not supported", "DML not supported", "Statement not supported"];
    if readonly.iter().any(|r| msg.contains(r)) {
        QueryError::NotReadOnly(msg.replace("Error during planning: ", ""))
    } else {
        QueryError::Invalid(msg)
    }
}
