//! `dvt-executor`: a Ballista executor that runs DVT's federated scans with its own
//! targets (from its own `profiles.yml`, mounted from a secret on a cluster) and staging
//! bucket; plans name targets, never credentials. Every flag is also an environment
//! variable (`DVT_EXECUTOR_<FLAG>`); `--help` lists them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dvt_executor::process::{DvtExecutorConfig, bucket_from_profiles, targets_from_profiles};

/// A Ballista executor for DVT's federated models.
#[derive(Debug, Parser)]
#[command(name = "dvt-executor", version, about)]
struct Args {
    /// Host of the dvt-scheduler.
    #[arg(long, env = "DVT_EXECUTOR_SCHEDULER_HOST", default_value = "localhost")]
    scheduler_host: String,
    /// gRPC port of the dvt-scheduler.
    #[arg(long, env = "DVT_EXECUTOR_SCHEDULER_PORT", default_value_t = 50050)]
    scheduler_port: u16,
    /// Address to bind.
    #[arg(long, env = "DVT_EXECUTOR_BIND_HOST", default_value = "0.0.0.0")]
    bind_host: String,
    /// Arrow Flight port (shuffle data and results).
    #[arg(long, env = "DVT_EXECUTOR_BIND_PORT", default_value_t = 50051)]
    bind_port: u16,
    /// gRPC port.
    #[arg(long, env = "DVT_EXECUTOR_BIND_GRPC_PORT", default_value_t = 50052)]
    bind_grpc_port: u16,
    /// Folder holding this executor's `profiles.yml`.
    #[arg(long, env = "DVT_EXECUTOR_PROFILES_DIR")]
    profiles_dir: PathBuf,
    /// Profile to read (default: the only profile in the file).
    #[arg(long, env = "DVT_EXECUTOR_PROFILE")]
    profile: Option<String>,
    /// Staging bucket folder; every executor of a cluster and the client must see the same.
    #[arg(long, env = "DVT_EXECUTOR_STAGING_DIR", default_value = ".dvt/staging")]
    staging_dir: PathBuf,
    /// Staging bucket named in `buckets.yml` beside `profiles.yml`, instead of
    /// `--staging-dir`: the client's `--bucket` of the same name. Its credentials come
    /// from that file (`env_var()`) or this process's `AWS_*` environment.
    #[arg(long, env = "DVT_EXECUTOR_BUCKET", conflicts_with = "staging_dir")]
    bucket: Option<String>,
    /// Scratch folder for shuffle files (a temporary folder by default).
    #[arg(long, env = "DVT_EXECUTOR_WORK_DIR")]
    work_dir: Option<String>,
    /// This executor's id, as the scheduler's event log names it (random by default).
    #[arg(long, env = "DVT_EXECUTOR_ID")]
    executor_id: Option<String>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, env = "DVT_EXECUTOR_HEARTBEAT_SECONDS", default_value_t = 60)]
    heartbeat_seconds: u64,
    /// Seconds to wait for the scheduler to listen before giving up.
    #[arg(
        long,
        env = "DVT_EXECUTOR_SCHEDULER_WAIT_SECONDS",
        default_value_t = 30
    )]
    scheduler_wait_seconds: u64,
}

fn main() -> ExitCode {
    let args = match dvt_executor::process::parse_args::<Args>() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut config = DvtExecutorConfig::default();
    config.scheduler_host = args.scheduler_host;
    config.scheduler_port = args.scheduler_port;
    config.bind_host = args.bind_host;
    config.port = args.bind_port;
    config.grpc_port = args.bind_grpc_port;
    config.staging_root = args.staging_dir;
    config.work_dir = args.work_dir;
    config.executor_id = args.executor_id;
    config.heartbeat_interval_seconds = args.heartbeat_seconds;
    config.scheduler_wait = std::time::Duration::from_secs(args.scheduler_wait_seconds);
    let profile = match args.profile {
        Some(p) => Ok(p),
        None => dvt_executor::process::sole_profile(&args.profiles_dir),
    };
    let resolved = profile.and_then(|p| {
        let targets = targets_from_profiles(&args.profiles_dir, &p)?;
        let bucket = args
            .bucket
            .as_deref()
            .map(|name| bucket_from_profiles(&args.profiles_dir, &p, name))
            .transpose()?;
        Ok((targets, bucket))
    });
    (config.targets, config.bucket) = match resolved {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            return ExitCode::from(1);
        }
    };
    dvt_executor::process::run_process(dvt_executor::start_executor_process(config))
}
