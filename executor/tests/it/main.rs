//! dvt-executor integration tests against the machine's real PostgreSQL and MariaDB
//! servers (and SQLite files). A server that is down fails the tests with the command that
//! starts it.

mod adapters;
mod binary;
mod common;
mod federation;
mod pushdown;
mod run;
mod seeds;
mod types;
