//! Everything the CLI prints. Results go to stdout; warnings and errors to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

/// The stable code of an error from any DVT crate (`DVT399` when it has none).
pub(crate) fn code_of(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<dvt_core::error::Error>() {
            return c.code();
        }
        if let Some(x) = cause.downcast_ref::<dvt_executor::Error>() {
            return x.code();
        }
    }
    "DVT399"
}

/// A result line on stdout. A closed pipe is not an error for a CLI.
pub(crate) fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// A timestamped progress line on stdout, like dbt's.
pub(crate) fn log(line: &str) {
    let now = chrono::Local::now().format("%H:%M:%S");
    out(&format!("{now}  {line}"));
}

/// A coded warning on stderr.
pub(crate) fn warn(code: &str, msg: &str) {
    eprintln!("warning[{code}]: {msg}");
}

/// A coded error on stderr.
pub(crate) fn error(code: &str, msg: &str) {
    eprintln!("error[{code}]: {msg}");
}

/// An error and its causes on stderr, with its code.
pub(crate) fn report(e: &anyhow::Error) {
    error(code_of(e), &message(e));
}

/// The error's message followed by its causes, without repeating them.
pub(crate) fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// dbt's dotted fill between a description and a status.
pub(crate) fn dots(left: &str, right: &str) -> String {
    let width: usize = 72;
    let pad = width.saturating_sub(left.chars().count() + 1).max(3);
    format!("{left} {} {right}", ".".repeat(pad))
}
