//! `dvt-executor`: a Ballista executor that runs DVT's federated scans.
//!
//! ```text
//! dvt-executor --profiles-dir DIR --profile NAME [--scheduler-host localhost]
//!              [--scheduler-port 50050] [--bind-host 0.0.0.0] [--bind-port 50051]
//!              [--grpc-port 50052] [--staging-dir .dvt/staging] [--work-dir DIR]
//! ```
//!
//! The executor connects with the targets of its own `profiles.yml` (mounted from a
//! secret on a cluster); plans name targets, never credentials.

use std::process::ExitCode;

use dvt_executor::process::{DvtExecutorConfig, targets_from_profiles};

const USAGE: &str = "usage: dvt-executor --profiles-dir DIR --profile NAME \
[--scheduler-host HOST] [--scheduler-port PORT] [--bind-host HOST] [--bind-port PORT] \
[--grpc-port PORT] [--staging-dir DIR] [--work-dir DIR]";

/// The process settings, plus where its profile is (`--profiles-dir`, `--profile`).
fn parse_args(
    args: impl Iterator<Item = String>,
) -> Result<(DvtExecutorConfig, String, String), String> {
    let mut config = DvtExecutorConfig::default();
    let mut profiles_dir = None;
    let mut profile = None;
    let mut args = args;
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value\n{USAGE}"))?;
        let port = |v: &str| {
            v.parse::<u16>()
                .map_err(|_| format!("`{flag}` wants a port number, got `{v}`"))
        };
        match flag.as_str() {
            "--scheduler-host" => config.scheduler_host = value,
            "--scheduler-port" => config.scheduler_port = port(&value)?,
            "--bind-host" => config.bind_host = value,
            "--bind-port" => config.port = port(&value)?,
            "--grpc-port" => config.grpc_port = port(&value)?,
            "--staging-dir" => config.staging_root = value.into(),
            "--work-dir" => config.work_dir = Some(value),
            "--profiles-dir" => profiles_dir = Some(value),
            "--profile" => profile = Some(value),
            other => return Err(format!("unknown flag `{other}`\n{USAGE}")),
        }
    }
    let dir = profiles_dir.ok_or_else(|| format!("`--profiles-dir` is required\n{USAGE}"))?;
    let profile = profile.ok_or_else(|| format!("`--profile` is required\n{USAGE}"))?;
    Ok((config, dir, profile))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (mut config, dir, profile) = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    config.targets = match targets_from_profiles(std::path::Path::new(&dir), &profile) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dvt_executor::start_executor_process(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            ExitCode::from(1)
        }
    }
}
