//! The itscam engine: a run's stages ([`run`]: plan → services → dataflow), the alert hub
//! ([`alerts`]), the control log of changes made while it runs ([`control`]), SQL over the lake ([`sql`], [`lake_table`], [`changes_table`]), the HTTP API ([`http`], reading a
//! running pipeline through [`live`]) and the CLI's helpers. The binary `itscam` is a thin CLI
//! over this library.
#![warn(missing_docs)]

pub mod alerts;
pub mod audit;
pub mod backfill;
pub mod auth;
pub mod changes_table;
pub mod control;
pub mod counters;
pub mod evidence;
pub mod format;
pub mod http;
pub mod lake_table;
pub mod live;
pub mod models;
pub mod progress;
pub mod report;
pub mod run;
pub mod sql;
