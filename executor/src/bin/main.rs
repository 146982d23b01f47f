//! `dvt-executor`: a Ballista executor that runs DVT's federated scans.
//!
//! ```text
//! dvt-executor --targets-json targets.json [--scheduler-host localhost] [--scheduler-port 50050]
//!              [--bind-host 0.0.0.0] [--bind-port 50051] [--grpc-port 50052]
//!              [--staging-dir .dvt/staging] [--work-dir DIR]
//! ```
//!
//! `--targets-json` is a stopgap: the cluster issue makes executors read `profiles.yml`.

use std::process::ExitCode;

use dvt_executor::process::{DvtExecutorConfig, targets_from_json};

const USAGE: &str = "usage: dvt-executor --targets-json FILE [--scheduler-host HOST] \
[--scheduler-port PORT] [--bind-host HOST] [--bind-port PORT] [--grpc-port PORT] \
[--staging-dir DIR] [--work-dir DIR]";

fn parse_args(args: impl Iterator<Item = String>) -> Result<DvtExecutorConfig, String> {
    let mut config = DvtExecutorConfig::default();
    let mut targets_file = None;
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
            "--targets-json" => targets_file = Some(value),
            other => return Err(format!("unknown flag `{other}`\n{USAGE}")),
        }
    }
    let file = targets_file.ok_or_else(|| format!("`--targets-json` is required\n{USAGE}"))?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read `{file}`: {e}"))?;
    config.targets = targets_from_json(&text).map_err(|e| format!("`{file}`: {e}"))?;
    Ok(config)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
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
