//! End-to-end tests of the itscam engine: one test binary (each links the whole stack).

mod alerts;
mod backfill;
mod cameras;
mod cli;
mod cluster;
mod duplicates;
mod evidence;
mod forget;
mod fresh;
mod golden;
mod http;
mod junction;
mod kafka;
mod kafka_source;
mod layering;
mod layout;
mod limits;
mod live_feed;
mod models;
mod openapi;
mod lake_s3;
mod push;
mod security;
mod service;
mod support;
mod vision;
