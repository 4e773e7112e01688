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
    /// The storage refused or failed (external system); retrying may help.
    #[error("storage error writing {path}: {source}")]
    Storage {
        /// Object path.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Encoding a batch failed: this is a bug.
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
    /// The writer task is gone (it failed earlier or was shut down).
    #[error("the lake writer stopped: {0}")]
    Stopped(String),
}
