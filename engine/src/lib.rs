//! The itscam engine: config loading, dataflow assembly (`run`), SQL over the lake (`query`),
//! and the HTTP API (`serve`). The binary `itscam` is a thin CLI over this library.
#![warn(missing_docs)]

pub mod alerts;
pub mod counters;
pub mod format;
pub mod http;
pub mod lake_table;
mod http_rules;
pub mod pipeline;
pub mod progress;
pub mod resume;
pub mod sql;
pub mod vision;
