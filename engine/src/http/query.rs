//! `POST /api/v1/query` (SQL over the lake; JSON or an Arrow IPC stream) and `GET /api/v1/tables` (every
//! table's columns and partitioning).

use super::{ARROW_STREAM, ApiError, AppState, bad_request};
use crate::format::json_rows;
use crate::audit::AuditNote;
use crate::auth::Identity;
use crate::sql::{QueryError, Scope};
use axum::{Extension, Json};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `POST /api/v1/query`: body `{"sql": "..."}` (JSON) or the SQL text itself (any other content type).
/// With a fresh engine (`[query] fresh` in the pipeline's process) it also reads the writer's rows.
/// `Accept: application/vnd.apache.arrow.stream` returns an Arrow IPC stream, otherwise JSON.
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
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            sql: String,
        }
        serde_json::from_slice::<Body>(&body).map_err(|e| bad_request(format!("body must be {{\"sql\": \"...\"}}: {e}")))?.sql
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
    let internal = |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "encode", format!("encoding the result failed (this is a bug): {e}"));
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
    let rows: serde_json::Value = serde_json::from_str(&rows).map_err(|e| internal(&e))?;
    let columns: Vec<_> = result.schema.fields().iter().map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() })).collect();
    Ok(Json(json!({ "columns": columns, "rows": rows, "row_count": result.row_count, "truncated": result.truncated })).into_response())
}

/// `GET /api/v1/tables`: the lake's tables, then `changes` (the control log).
pub(super) async fn tables() -> Json<serde_json::Value> {
    let columns = |schema: arrow::datatypes::SchemaRef| -> Vec<serde_json::Value> {
        schema.fields().iter().map(|f| json!({ "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable() })).collect()
    };
    // `partitioned_by`: the columns a filter prunes files or row groups by, whatever the layout.
    let pruned_by = |t: &itscam_sinks::Table| t.partition_columns(itscam_sinks::schema::PartitionBy::CameraDate);
    let mut tables: Vec<_> =
        itscam_sinks::Table::ALL.iter().map(|t| json!({ "name": t.name(), "partitioned_by": pruned_by(t), "columns": columns(t.table_schema()) })).collect();
    let unpartitioned: [&str; 0] = [];
    tables.push(json!({ "name": crate::changes_table::CHANGES, "partitioned_by": unpartitioned, "columns": columns(crate::changes_table::changes_schema()) }));
    tables.push(json!({ "name": crate::audit::AUDIT, "partitioned_by": unpartitioned, "columns": columns(crate::audit::audit_schema()) }));
    Json(json!({ "tables": tables }))
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match &e {
            QueryError::NotReadOnly(_) => ApiError::new(StatusCode::FORBIDDEN, "read_only", e.to_string()),
            QueryError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            QueryError::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()),
            QueryError::Timeout(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", e.to_string()),
            QueryError::ResourcesExhausted { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "resources_exhausted", e.to_string()),
            QueryError::Busy(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string()).retry_after(std::time::Duration::from_secs(1)),
            QueryError::Execution { .. } | QueryError::Setup(_) | QueryError::Lake(_) => ApiError::blamed(&e, "execution", StatusCode::BAD_REQUEST),
        }
    }
}
