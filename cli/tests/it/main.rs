//! End-to-end tests of the `dvt` binary against real PostgreSQL and MariaDB servers
//! (and SQLite files). One integration binary, modules per area.

mod access;
mod analyses;
mod cluster;
mod common;
mod compile_queries;
mod concurrency;
mod contracts;
mod corpus;
mod crash;
mod dag;
mod data_tests;
mod dbt_golden;
mod docs;
mod empty;
mod errors;
mod examples;
mod freshness;
mod functions;
mod incremental;
mod init;
mod odd_names;
mod packages;
mod privileges;
mod retry;
mod routing;
mod run_operation;
mod s3;
mod security;
mod selectors;
mod semantic;
mod snapshots;
mod state;
mod unit_tests;
