//! SQL over the lake with DataFusion: every table registered by name over its committed files
//! (see `lake_table.rs`), read-only, with a timeout and a row limit.

use crate::lake_table::{CommittedTable, LakeView};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use itscam_sinks::{Lake, Table};
use itscam_types::config::QueryConfig;
use itscam_types::{Blame, Blamed};
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
            QueryError::NotReadOnly(_) | QueryError::Invalid(_) | QueryError::Timeout(_) => Blame::User,
            QueryError::Execution { blame, .. } => *blame,
            QueryError::Setup(_) => Blame::Bug,
            QueryError::Lake(e) => e.blame(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            QueryError::Lake(e) => e.retry_after(),
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
        lake.verify().await?;
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let store_url = url::Url::parse(&lake.store_url()).map_err(|e| QueryError::Setup(e.to_string()))?;
        ctx.register_object_store(&store_url, lake.store());
        let view = Arc::new(LakeView::new(lake.clone()));
        for table in Table::ALL {
            let provider = CommittedTable::new(table, view.clone()).map_err(|e| QueryError::Setup(e.to_string()))?;
            ctx.register_table(table.name(), Arc::new(provider)).map_err(|e| QueryError::Setup(e.to_string()))?;
        }
        Ok(QueryEngine { ctx, limits })
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryConfig {
        &self.limits
    }

    /// Runs one read-only statement.
    pub async fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let max_rows = self.limits.max_rows;
        let work = async {
            let df = self.ctx.sql_with_options(sql, options).await.map_err(classify)?;
            let df = df.limit(0, Some(max_rows + 1)).map_err(classify)?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(execution)?;
            Ok::<_, QueryError>((schema, batches))
        };
        let (schema, mut batches) = tokio::time::timeout(Duration::from_millis(self.limits.timeout_ms), work)
            .await
            .map_err(|_| QueryError::Timeout(self.limits.timeout_ms))??;
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        let truncated = total > max_rows;
        if truncated {
            let mut keep = max_rows;
            for b in batches.iter_mut() {
                let n = b.num_rows().min(keep);
                *b = b.slice(0, n);
                keep -= n;
            }
            batches.retain(|b| b.num_rows() > 0);
        }
        Ok(QueryResult { schema, batches, row_count: total.min(max_rows), truncated })
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
