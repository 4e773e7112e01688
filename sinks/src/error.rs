//! Errors of the sinks, by who is to blame.

use itscam_types::{Blame, Blamed};
use std::time::Duration;

/// A sink failure. Each variant's doc says who is to blame ([`Blamed`]) and why.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The lake URL or settings are wrong.
    ///
    /// Blame: user.
    #[error("invalid lake {url:?}: {reason}")]
    InvalidLake {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The start-up check could not reach the lake: missing bucket, wrong endpoint, bad
    /// credentials, no permission.
    ///
    /// Blame: decided from the store's answer — not found (a missing bucket), refused or
    /// unauthenticated (credentials, the bucket's policy, a directory's permissions) are the
    /// user's setup; anything else (connection refused, a wrong endpoint, timeouts) is
    /// external, retried after a while.
    #[error("cannot use the lake {url} ({location}): {reason}; {hint}")]
    Unreachable {
        /// The lake URL.
        url: String,
        /// Bucket and key (S3) or path (local) that failed.
        location: String,
        /// The store's answer, in short.
        reason: String,
        /// What to check.
        hint: &'static str,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// The storage refused or failed while running.
    ///
    /// Blame: external; retrying after a second may help (puts are retried already).
    #[error("storage error on {location}: {reason}")]
    Storage {
        /// Bucket and key (S3) or path (local).
        location: String,
        /// The store's answer, in short.
        reason: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A commit-log or snapshot file that cannot be parsed (someone edited the log, or a bug).
    ///
    /// Blame: external — the files are the store's; this code never writes such a file, so it
    /// is not taken for a bug until shown otherwise.
    #[error("the lake's commit log is damaged at {location}: {reason}")]
    CorruptLog {
        /// Bucket and key (S3) or path (local).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Another writer changed the files this commit wanted to remove (compaction or retention
    /// raced with another one); nothing was published — run it again.
    ///
    /// Blame: external (another writer), retried at once.
    #[error("commit conflict: {0}; nothing was published, run it again")]
    Conflict(String),
    /// Encoding rows, a file or a commit failed.
    ///
    /// Blame: bug — the rows were built by this crate against the table's own schema.
    #[error("encoding {table} failed (this is a bug): {source}")]
    Encode {
        /// Table.
        table: &'static str,
        /// The Arrow, Parquet or JSON error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request on the lake that cannot be done as asked (an empty time range, an empty
    /// camera id).
    ///
    /// Blame: user.
    #[error("{0}")]
    InvalidRequest(String),
    /// A webhook's settings are wrong.
    ///
    /// Blame: user.
    #[error("invalid webhook {url:?}: {reason}")]
    InvalidWebhook {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A committed data file cannot be read back as Parquet of its table.
    ///
    /// Blame: external — damage to the store's file (the writer encodes with the table's schema).
    #[error("cannot read {location} as a {table} file: {reason}")]
    BadFile {
        /// Table.
        table: &'static str,
        /// Bucket and key (S3) or path (local).
        location: String,
        /// Parquet/Arrow error.
        reason: String,
    },
    /// The local spool (`[lake.spool] dir`) cannot be used: a full disk, a directory that is
    /// not writable, a damaged manifest.
    ///
    /// Blame: external (the local disk); retrying does not make room, so the run ends.
    #[error("the lake spool at {path}: {reason}")]
    Spool {
        /// The file or directory.
        path: String,
        /// What failed.
        reason: String,
    },
    /// Another engine holds the spool directory.
    ///
    /// Blame: user (two engines configured with one spool).
    #[error("the lake spool {dir} is in use by another itscam process; give each engine its own [lake.spool] dir")]
    SpoolLocked {
        /// The directory.
        dir: String,
    },
    /// The writer task is gone (it failed earlier or was shut down).
    ///
    /// Blame: external — the writer ends early only after a storage failure, which is reported
    /// with its own error when the run ends.
    #[error("the lake writer stopped: {0}")]
    Stopped(String),
    /// A task of the writer (`writer`, `compaction`) panicked.
    ///
    /// Blame: bug.
    #[error("the lake writer stopped: {task} task panicked (this is a bug): {source}")]
    Panicked {
        /// Which task.
        task: &'static str,
        /// The panic.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl SinkError {
    /// Whether the store's answer says the setup is wrong (a missing bucket or directory,
    /// refused or missing credentials, no permission): retrying cannot help.
    pub fn is_setup(&self) -> bool {
        match self {
            SinkError::Storage { source, .. } | SinkError::Unreachable { source, .. } => is_setup_error(source),
            _ => false,
        }
    }

    /// An encoding failure of `table` (a bug: see [`SinkError::Encode`]).
    pub(crate) fn encode(table: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SinkError {
        SinkError::Encode { table, source: source.into() }
    }
}

/// How long to wait before retrying a storage call that failed.
const STORAGE_RETRY: Duration = Duration::from_secs(1);
/// How long to wait before checking again a store that did not answer at start-up.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(5);

impl Blamed for SinkError {
    fn blame(&self) -> Blame {
        match self {
            SinkError::InvalidLake { .. } | SinkError::InvalidRequest(_) | SinkError::InvalidWebhook { .. } | SinkError::SpoolLocked { .. } => Blame::User,
            SinkError::Unreachable { source, .. } if is_setup_error(source) => Blame::User,
            SinkError::Unreachable { .. }
            | SinkError::Storage { .. }
            | SinkError::CorruptLog { .. }
            | SinkError::Conflict(_)
            | SinkError::BadFile { .. }
            | SinkError::Spool { .. }
            | SinkError::Stopped(_) => Blame::External,
            SinkError::Encode { .. } | SinkError::Panicked { .. } => Blame::Bug,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            SinkError::Unreachable { .. } if self.blame() == Blame::External => Some(UNREACHABLE_RETRY),
            SinkError::Storage { .. } => Some(STORAGE_RETRY),
            SinkError::Conflict(_) => Some(Duration::ZERO),
            _ => None,
        }
    }
}

/// Whether the store's answer means the user's setup is wrong: a missing bucket or directory,
/// refused or missing credentials, no permission.
fn is_setup_error(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. } | object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })
        || matches!(http_status(e), Some(401 | 403 | 404))
}

/// A store error in one line: for S3 answers, the HTTP status and S3's error code and message
/// instead of the raw XML body.
pub(crate) fn short_reason(e: &object_store::Error) -> String {
    let text = e.to_string();
    let between = |a: &str, b: &str| text.split_once(a).and_then(|(_, rest)| rest.split_once(b)).map(|(v, _)| v.trim().to_string());
    let status = text.split_once("status code: ").map(|(_, rest)| rest.split(':').next().unwrap_or("").trim().to_string());
    match (status, between("<Code>", "</Code>")) {
        (Some(status), Some(code)) => {
            let message = between("<Message>", "</Message>").map(|m| format!(" ({m})")).unwrap_or_default();
            format!("S3 answered {status}: {code}{message}")
        }
        (Some(status), None) => format!("S3 answered {status}"),
        _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// The HTTP status of an S3 answer inside a store error, if any.
pub(crate) fn http_status(e: &object_store::Error) -> Option<u16> {
    let text = e.to_string();
    text.split_once("status code: ")?.1.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(source: object_store::Error) -> SinkError {
        SinkError::Unreachable { url: "s3://b/p".into(), location: "bucket \"b\"".into(), reason: short_reason(&source), hint: "check", source: Box::new(source) }
    }

    #[test]
    fn sink_errors_say_who_is_to_blame() {
        let missing = unreachable(object_store::Error::NotFound { path: "p".into(), source: "no such bucket".into() });
        assert_eq!((missing.blame(), missing.retry_after()), (Blame::User, None));
        let refused = unreachable(object_store::Error::Generic { store: "S3", source: "connection refused".into() });
        assert_eq!((refused.blame(), refused.retry_after()), (Blame::External, Some(UNREACHABLE_RETRY)));
        let encode = SinkError::encode("detections", "bad column");
        assert!(encode.to_string().contains("this is a bug") && std::error::Error::source(&encode).is_some(), "{encode}");
        assert_eq!(encode.blame(), Blame::Bug);
        assert_eq!(SinkError::Conflict("raced".into()).retry_after(), Some(Duration::ZERO));
        assert_eq!(SinkError::InvalidLake { url: "x".into(), reason: "y".into() }.blame(), Blame::User);
    }
}
