//! Sinks of itscam: Arrow schemas of the tables, rows → record batches, and the Parquet lake
//! writer on `object_store` (local directory now; the same code takes S3 later).
//!
//! Sinks run off the timely workers: the dataflow hands rows to a [`LakeSink`] handle (a
//! non-blocking channel send) and the writer task encodes and uploads files on a Tokio runtime.
#![warn(missing_docs)]

pub mod alerts;
mod batch;
mod error;
mod lake;
mod rows;
pub mod schema;
mod writer;

pub use batch::*;
pub use error::SinkError;
pub use lake::Lake;
pub use schema::Table;
pub use rows::SinkRows;
pub use writer::{LakeSink, LakeWriter, WriterSummary};
