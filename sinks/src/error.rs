//! Errors of the sinks, by who is to blame.

/// A sink failure.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The lake URL or settings are wrong (user input).
    #[error("invalid lake {url:?}: {reason}")]
    InvalidLake {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The start-up check could not reach the lake: missing bucket, wrong endpoint, bad
    /// credentials, no permission (user input or external system).
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
    /// The storage refused or failed (external system); retrying may help.
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
    #[error("the lake's commit log is damaged at {location}: {reason}")]
    CorruptLog {
        /// Bucket and key (S3) or path (local).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Another writer changed the files this commit wanted to remove (compaction or retention
    /// raced with another one); nothing was published — run it again.
    #[error("commit conflict: {0}; nothing was published, run it again")]
    Conflict(String),
    /// Encoding or decoding a file failed.
    #[error("encoding {table} failed (this is a bug): {reason}")]
    Encode {
        /// Table.
        table: &'static str,
        /// Arrow/Parquet error.
        reason: String,
    },
    /// A webhook's settings are wrong (user input).
    #[error("invalid webhook {url:?}: {reason}")]
    InvalidWebhook {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A committed data file cannot be read back as Parquet of its table (external damage).
    #[error("cannot read {location} as a {table} file: {reason}")]
    BadFile {
        /// Table.
        table: &'static str,
        /// Bucket and key (S3) or path (local).
        location: String,
        /// Parquet/Arrow error.
        reason: String,
    },
    /// The writer task is gone (it failed earlier or was shut down).
    #[error("the lake writer stopped: {0}")]
    Stopped(String),
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
