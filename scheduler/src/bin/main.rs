//! `dvt-scheduler`: Ballista's scheduler with DVT's codecs, so it can plan the jobs of
//! DVT's federated models. It holds no credentials: executors connect to the sources
//! with their own profiles. Every flag is also an environment variable
//! (`DVT_SCHEDULER_<FLAG>`); `--help` lists them.

use std::process::ExitCode;

use clap::Parser;
use dvt_executor::process::{DvtSchedulerConfig, start_scheduler_process};

/// The scheduler of a DVT cluster.
#[derive(Debug, Parser)]
#[command(name = "dvt-scheduler", version, about)]
struct Args {
    /// Address to bind.
    #[arg(long, env = "DVT_SCHEDULER_BIND_HOST", default_value = "0.0.0.0")]
    bind_host: String,
    /// gRPC port for executors and clients.
    #[arg(long, env = "DVT_SCHEDULER_BIND_PORT", default_value_t = 50050)]
    bind_port: u16,
    /// Host name executors and clients reach this scheduler by.
    #[arg(long, env = "DVT_SCHEDULER_EXTERNAL_HOST", default_value = "localhost")]
    external_host: String,
    /// Seconds without a heartbeat before an executor is presumed lost (its tasks
    /// then run elsewhere).
    #[arg(
        long,
        env = "DVT_SCHEDULER_EXECUTOR_TIMEOUT_SECONDS",
        default_value_t = 180
    )]
    executor_timeout_seconds: u64,
    /// Seconds between checks for lost executors.
    #[arg(
        long,
        env = "DVT_SCHEDULER_EXPIRE_INTERVAL_SECONDS",
        default_value_t = 15
    )]
    expire_interval_seconds: u64,
    /// Folder for per-job event logs (which executor ran which task).
    #[arg(long, env = "DVT_SCHEDULER_EVENT_LOG_DIR")]
    event_log_dir: Option<String>,
}

fn main() -> ExitCode {
    let args = match dvt_executor::process::parse_args::<Args>() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut config = DvtSchedulerConfig::default();
    config.bind_host = args.bind_host;
    config.bind_port = args.bind_port;
    config.external_host = args.external_host;
    config.executor_timeout_seconds = args.executor_timeout_seconds;
    config.expire_dead_executor_interval_seconds = args.expire_interval_seconds;
    config.event_log_dir = args.event_log_dir;
    dvt_executor::process::run_process(start_scheduler_process(config))
}
