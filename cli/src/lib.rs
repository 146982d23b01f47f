#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod args;
mod docs_site;
mod init;
mod printer;
mod task;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;

/// Runs the CLI with the process arguments and returns its exit code:
/// 0 success, 1 a project or node error, 2 bad arguments or an internal error.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // `--help` and `--version` land here: print them on stdout, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let text = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            printer::error(dvt_core::codes::USAGE, text.trim_end());
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            printer::error(
                dvt_core::codes::INTERNAL,
                &format!("cannot start the runtime: {e}"),
            );
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(task::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            printer::report(&e);
            ExitCode::from(1)
        }
    }
}
