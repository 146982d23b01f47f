//! The `dvt` binary: parses arguments and hands over to [`dvt_cli::main`].

fn main() -> std::process::ExitCode {
    dvt_cli::main()
}
