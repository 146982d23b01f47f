//! DVT's scheduler service (cluster mode). Today it ships the `dvt-scheduler` binary:
//! Ballista's scheduler with DVT's codecs (`dvt_executor::process::start_scheduler_process`).
//! The run service (HTTP API, run queue and state in Redis, the DAG behind a scheduler)
//! is the next cluster issue. Local mode (`dvt run` in a project folder) does not use it.
#![warn(missing_docs)]
