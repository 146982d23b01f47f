//! DVT's scheduler service (cluster mode): HTTP API, run queue and run state in Redis,
//! DAG orchestration and model plans turned into Ballista jobs.
//!
//! This crate is a placeholder that only compiles: the cluster issue fills it. Local
//! mode (`dvt run` in a project folder) does not use it.
#![warn(missing_docs)]
