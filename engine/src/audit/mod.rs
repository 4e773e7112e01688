//! The audit trail: every login (ok or failed), every change (cameras, rules, users, keys,
//! pushes), every alert acknowledge and resolve, every refused call and every SQL query — who,
//! from where, what, the outcome, how long — is a row of the `audit` table (admins only).
//!
//! Rows are made by the HTTP guard for every request that is not a plain read
//! (the HTTP guard) with what the handler adds ([`AuditNote`]: the SQL text, rows, the
//! login name tried), and by `itscam users …`. [`Audit`] batches them: once a second the rows
//! waiting become one entry of the lake's audit log (`_itscam/audit/<seq>.json`,
//! [`itscam_sinks::SideLog::Audit`]); rows not yet written are readable by SQL too. While the
//! lake cannot be reached rows wait in memory, at most [`MAX_WAITING`]; past that the oldest
//! are dropped, counted and logged.

mod table;

pub use table::{AUDIT, AuditTable, audit_schema};

use axum::http::Method;
use axum::response::Response;
use itscam_sinks::{Lake, SideLog};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rows that may wait for the lake.
pub const MAX_WAITING: usize = 100_000;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Wall-clock time (ms).
    pub at_ms: u64,
    /// Who (`ann`, `ann (key …)`, `anonymous` with auth off, `unauthenticated`, `cli`).
    pub who: String,
    /// Their role (empty when unauthenticated).
    pub role: String,
    /// The caller's address (`cli` for the command line).
    pub address: String,
    /// What: `METHOD /path` of the request, or the command.
    pub action: String,
    /// The HTTP status (0 for the command line).
    pub status: u16,
    /// `ok`, or the error kind of the answer.
    pub outcome: String,
    /// The SQL text of a query, the user name a login tried, the user a change is about.
    pub detail: Option<String>,
    /// SHA-256 of the SQL text (queries).
    pub statement_hash: Option<String>,
    /// Rows a query returned.
    pub rows: Option<u64>,
    /// How long it took (ms).
    pub duration_ms: u64,
}

/// What a handler adds to its request's audit row (a response extension).
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    /// See [`AuditRow::detail`].
    pub detail: Option<String>,
    /// See [`AuditRow::statement_hash`].
    pub statement_hash: Option<String>,
    /// See [`AuditRow::rows`].
    pub rows: Option<u64>,
}

/// The error kind an answer carries (a response extension set by the API's errors).
#[derive(Clone, Debug)]
pub struct Outcome(pub String);

impl AuditRow {
    /// The row of an HTTP request.
    pub(crate) fn of_request(who: Option<&crate::auth::Identity>, address: &str, method: &Method, path: &str, response: &Response, note: Option<AuditNote>, took: Duration) -> AuditRow {
        let note = note.unwrap_or_default();
        let outcome = response.extensions().get::<Outcome>().map_or_else(|| if response.status().is_success() { "ok" } else { "error" }, |k| k.0.as_str());
        AuditRow {
            at_ms: itscam_types::time::now_ms(),
            who: who.map_or_else(|| "unauthenticated".to_string(), |w| w.who()),
            role: who.map(|w| w.role.name().to_string()).unwrap_or_default(),
            address: address.to_string(),
            action: format!("{method} {path}"),
            status: response.status().as_u16(),
            outcome: outcome.to_string(),
            detail: note.detail,
            statement_hash: note.statement_hash,
            rows: note.rows,
            duration_ms: took.as_millis() as u64,
        }
    }

    /// The row of a command-line change.
    pub fn of_command(action: &str, detail: Option<String>, outcome: &str) -> AuditRow {
        AuditRow {
            at_ms: itscam_types::time::now_ms(),
            who: "cli".into(),
            role: "admin".into(),
            address: "cli".into(),
            action: action.into(),
            status: 0,
            outcome: outcome.into(),
            detail,
            statement_hash: None,
            rows: None,
            duration_ms: 0,
        }
    }
}

/// A batch of rows: one entry of the audit log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AuditBatch {
    pub rows: Vec<AuditRow>,
}

/// The recorder of one process. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    lake: Option<Lake>,
    waiting: Arc<Mutex<Waiting>>,
    /// `[lake.retention] audit_days`: older rows are not kept in memory by the `audit` table.
    keep_days: Option<u32>,
}

#[derive(Debug, Default)]
struct Waiting {
    rows: Vec<AuditRow>,
    dropped: u64,
}

impl Audit {
    /// Rows go to `lake`'s audit log (call [`Audit::spawn_flush`] on the runtime that serves).
    pub fn new(lake: Lake) -> Audit {
        Audit { lake: Some(lake), waiting: Arc::default(), keep_days: None }
    }

    /// Rows older than `days` (`[lake.retention] audit_days`) leave the `audit` table's memory.
    pub fn keeping(mut self, days: Option<u32>) -> Audit {
        self.keep_days = days;
        self
    }

    /// The oldest time (ms) a row is kept at `now_ms`.
    pub(crate) fn cutoff_ms(&self, now_ms: u64) -> u64 {
        self.keep_days.map_or(0, |d| now_ms.saturating_sub(u64::from(d) * 86_400_000))
    }

    /// Records `row` (written within a second).
    pub fn record(&self, row: AuditRow) {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if w.rows.len() >= MAX_WAITING {
            w.rows.remove(0);
            w.dropped += 1;
            if w.dropped.is_power_of_two() {
                tracing::error!(dropped = w.dropped, "audit: the lake has not taken audit rows for a while; the oldest waiting rows are dropped");
            }
        }
        w.rows.push(row);
    }

    /// The rows not yet written.
    pub fn waiting(&self) -> Vec<AuditRow> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).rows.clone()
    }

    /// Writes the waiting rows as one entry; on failure they keep waiting.
    pub async fn flush(&self) -> Result<(), itscam_sinks::SinkError> {
        let Some(lake) = &self.lake else { return Ok(()) };
        let rows = self.waiting();
        if rows.is_empty() {
            return Ok(());
        }
        let batch = AuditBatch { rows };
        lake.append_side(SideLog::Audit, |_| &batch).await?;
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        // Rows recorded meanwhile stay; the written ones are the first `n` unless some were
        // dropped in between (then drop what was written, by identity of content).
        let n = batch.rows.len();
        if w.rows.len() >= n && w.rows[..n] == batch.rows[..] {
            w.rows.drain(..n);
        } else {
            w.rows.retain(|r| !batch.rows.contains(r));
        }
        Ok(())
    }

    /// Flushes once a second on `runtime`.
    pub fn spawn_flush(&self, runtime: &tokio::runtime::Handle) {
        let audit = self.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = audit.flush().await {
                    tracing::warn!(error = %e, "audit: writing audit rows to the lake failed; they wait and are retried");
                }
            }
        });
    }
}

/// Deletes the audit log's batches whose newest row is older than `days` before `now_ms`;
/// returns how many (what `itscam lake vacuum` and the run's maintenance call).
pub async fn expire(lake: &Lake, days: Option<u32>, now_ms: u64) -> Result<usize, itscam_sinks::SinkError> {
    let Some(days) = days else { return Ok(0) };
    let cutoff = now_ms.saturating_sub(u64::from(days) * 86_400_000);
    let mut deleted = 0;
    for (seq, batch) in lake.read_side::<AuditBatch>(SideLog::Audit, None).await? {
        if batch.rows.iter().all(|r| r.at_ms < cutoff) {
            lake.delete_side(SideLog::Audit, seq).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at_ms: u64) -> AuditRow {
        AuditRow { at_ms, ..AuditRow::of_command("users add", None, "ok") }
    }

    #[tokio::test]
    async fn batches_past_the_retention_are_deleted_and_newer_ones_kept() {
        let dir = tempfile::Builder::new().prefix("audit-expire").tempdir().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        let day = 86_400_000;
        let now = 100 * day;
        for rows in [vec![row(now - 40 * day), row(now - 31 * day)], vec![row(now - 31 * day), row(now - 29 * day)], vec![row(now)]] {
            let batch = AuditBatch { rows };
            lake.append_side(SideLog::Audit, |_| &batch).await.unwrap();
        }
        assert_eq!(expire(&lake, None, now).await.unwrap(), 0, "no retention: nothing goes");
        assert_eq!(expire(&lake, Some(30), now).await.unwrap(), 1, "only the batch whose every row is older");
        let left: Vec<(u64, AuditBatch)> = lake.read_side(SideLog::Audit, None).await.unwrap();
        assert_eq!(left.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2]);
        let audit = Audit::new(lake).keeping(Some(30));
        assert_eq!(audit.cutoff_ms(now), now - 30 * day);
    }
}
