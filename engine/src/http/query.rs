//! `POST /api/v1/query` (SQL over the lake; JSON or an Arrow IPC stream) and `GET /api/v1/tables` (every
//! table's columns and partitioning).

use super::{ARROW_STREAM, ApiError, AppState, ErrorBody, ErrorKind, bad_request};
use crate::format::json_rows;
use crate::audit::AuditNote;
use crate::auth::Identity;
use crate::sql::{QueryError, Scope};
use axum::{Extension, Json};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of `POST /api/v1/query`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// The SQL (read-only; not blank).
    #[schema(min_length = 1, pattern = r"\S")]
    pub sql: String,
}

/// The plain-text body of `POST /api/v1/query`: the SQL itself, not blank.
pub struct SqlText;

impl utoipa::PartialSchema for SqlText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let text = utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).min_length(Some(1)).pattern(Some(r"\S"));
        text.description(Some("The SQL (read-only; not blank)")).into()
    }
}

impl ToSchema for SqlText {}

/// A query's rows as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResult {
    /// The result's columns.
    pub columns: Vec<QueryColumn>,
    /// One object per row, by column name (`null` for a null value).
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rows returned.
    pub row_count: u64,
    /// Whether `[query] max_rows` cut the result.
    pub truncated: bool,
}

/// A result column.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryColumn {
    /// Its name.
    pub name: String,
    /// Its Arrow type.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The answer of `GET /api/v1/tables`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TableList {
    /// The lake's tables, then `changes` (the control log).
    pub tables: Vec<TableInfo>,
}

/// A table.
#[derive(Debug, Serialize, ToSchema)]
pub struct TableInfo {
    /// Its name.
    pub name: String,
    /// The columns a filter prunes files or row groups by.
    pub partitioned_by: Vec<String>,
    /// Its columns.
    pub columns: Vec<TableColumn>,
}

/// A table column.
#[derive(Debug, Serialize, ToSchema)]
pub struct TableColumn {
    /// Its name.
    pub name: String,
    /// Its Arrow type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it holds nulls.
    pub nullable: bool,
}

/// `POST /api/v1/query`: body `{"sql": "..."}` (JSON) or the SQL text itself (any other content type).
/// With a fresh engine (`[query] fresh` in the pipeline's process) it also reads the writer's rows.
/// `Accept: application/vnd.apache.arrow.stream` returns an Arrow IPC stream, otherwise JSON.
#[utoipa::path(post, path = "/query", tag = "query",
    request_body(description = "`{\"sql\": …}`, or the SQL text itself with any other content type", content((QueryBody = "application/json"), (SqlText = "text/plain"))),
    responses(
        (status = 200, description = "The rows (as JSON, or an Arrow IPC stream with `Accept: application/vnd.apache.arrow.stream`)",
            headers(("x-itscam-truncated" = String, description = "Arrow answers: whether `[query] max_rows` cut the result")),
            content((QueryResult = "application/json"), (String = "application/vnd.apache.arrow.stream"))),
        (status = 400, description = "`bad_request`: the body is not `{\"sql\": …}`, not UTF-8, or blank", body = ErrorBody),
        (status = 403, description = "`read_only`: SQL that would change the lake; `forbidden`: a table the caller's role or camera scope does not cover", body = ErrorBody),
        (status = 422, description = "`invalid_query` (does not plan), `execution` (fails running, e.g. a cast), `resources_exhausted` (over `[query] max_memory_bytes`)", body = ErrorBody),
        (status = 429, description = "`busy`: `[query] max_concurrent` queries run, with `Retry-After`", body = ErrorBody),
        (status = 502, description = "`execution`: the lake's storage failed", body = ErrorBody),
        (status = 503, description = "`execution`: the lake's storage failed, with `Retry-After`", body = ErrorBody),
        (status = 504, description = "`timeout`: over `[query] timeout_ms`", body = ErrorBody),
    ))]
pub(super) async fn query(State(state): State<AppState>, me: Option<Extension<Identity>>, headers: HeaderMap, body: Bytes) -> Response {
    let me = me.map_or_else(Identity::open, |Extension(me)| me);
    let mut note = AuditNote::default();
    let mut response = answer(&state, &me, &headers, &body, &mut note).await.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(note);
    response
}

/// The answer of a query; `note` gets the statement and the rows for the audit row.
async fn answer(state: &AppState, me: &Identity, headers: &HeaderMap, body: &Bytes, note: &mut AuditNote) -> Result<Response, ApiError> {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let sql = if is_json {
        serde_json::from_slice::<QueryBody>(&body).map_err(|e| bad_request(format!("body must be {{\"sql\": \"...\"}}: {e}")))?.sql
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| bad_request("the SQL text is not UTF-8"))?
    };
    if sql.trim().is_empty() {
        return Err(bad_request("empty query"));
    }
    note.statement_hash = Some(crate::auth::secrets::sha256_hex(sql.as_bytes()));
    note.detail = Some(sql.clone());
    let scope = Scope { role: me.role, cameras: me.cameras.clone() };
    let result = state.engine.run_as(&sql, &scope).await?;
    note.rows = Some(result.row_count as u64);
    let wants_arrow = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(ARROW_STREAM));
    let internal = |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Encode, format!("encoding the result failed (this is a bug): {e}"));
    if wants_arrow {
        let mut out = Vec::new();
        {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema).map_err(|e| internal(&e))?;
            for b in &result.batches {
                w.write(b).map_err(|e| internal(&e))?;
            }
            w.finish().map_err(|e| internal(&e))?;
        }
        let truncated = if result.truncated { "true" } else { "false" };
        return Ok(([(header::CONTENT_TYPE, ARROW_STREAM), (header::HeaderName::from_static("x-itscam-truncated"), truncated)], out).into_response());
    }
    let rows = json_rows(&result.batches).map_err(|e| internal(&e))?;
    let rows = serde_json::from_str(&rows).map_err(|e| internal(&e))?;
    let columns = result.schema.fields().iter().map(|f| QueryColumn { name: f.name().clone(), data_type: f.data_type().to_string() }).collect();
    Ok(Json(QueryResult { columns, rows, row_count: result.row_count as u64, truncated: result.truncated }).into_response())
}

/// `GET /api/v1/tables`: the lake's tables, then `changes` (the control log).
#[utoipa::path(get, path = "/tables", tag = "query", responses((status = 200, description = "The tables", body = TableList)))]
pub(super) async fn tables() -> Json<TableList> {
    let columns = |schema: arrow::datatypes::SchemaRef| -> Vec<TableColumn> {
        schema.fields().iter().map(|f| TableColumn { name: f.name().clone(), data_type: f.data_type().to_string(), nullable: f.is_nullable() }).collect()
    };
    // `partitioned_by`: the columns a filter prunes files or row groups by, whatever the layout.
    let pruned_by = |t: &itscam_sinks::Table| t.partition_columns(itscam_sinks::schema::PartitionBy::CameraDate).iter().map(|c| c.to_string()).collect();
    let mut tables: Vec<_> =
        itscam_sinks::Table::ALL.iter().map(|t| TableInfo { name: t.name().to_string(), partitioned_by: pruned_by(t), columns: columns(t.table_schema()) }).collect();
    tables.push(TableInfo { name: crate::changes_table::CHANGES.to_string(), partitioned_by: Vec::new(), columns: columns(crate::changes_table::changes_schema()) });
    tables.push(TableInfo { name: crate::audit::AUDIT.to_string(), partitioned_by: Vec::new(), columns: columns(crate::audit::audit_schema()) });
    Json(TableList { tables })
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match &e {
            QueryError::NotReadOnly(_) => ApiError::new(StatusCode::FORBIDDEN, ErrorKind::ReadOnly, e.to_string()),
            QueryError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, e.to_string()),
            QueryError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::InvalidQuery, e.to_string()),
            QueryError::Timeout(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, ErrorKind::Timeout, e.to_string()),
            QueryError::ResourcesExhausted { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::ResourcesExhausted, e.to_string()),
            QueryError::Busy(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::Busy, e.to_string()).retry_after(std::time::Duration::from_secs(1)),
            QueryError::Execution { .. } | QueryError::Setup(_) | QueryError::Lake(_) => ApiError::blamed(&e, ErrorKind::Execution, StatusCode::UNPROCESSABLE_ENTITY),
        }
    }
}
