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
    dvt_core::codes::INTERNAL
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

/// A timestamped line on stderr: for commands whose stdout is their output (`ls`,
/// `compile`, `show`), so a script reading it gets only that.
pub(crate) fn log_aside(line: &str) {
    let now = chrono::Local::now().format("%H:%M:%S");
    eprintln!("{now}  {line}");
}

/// A coded warning on stderr.
pub(crate) fn warn(code: &str, msg: &str) {
    eprintln!("warning[{code}]: {msg}");
}

/// Staged extracts a run left in its bucket: a log line when they were asked for, a
/// DVT005 warning naming them otherwise.
pub(crate) fn kept_staging(kept: &dvt_executor::staging::KeptStaging) {
    match kept.warning() {
        Some(text) => warn(KEPT_STAGING, &text),
        None => log(&format!("Staged extracts kept in {}", kept.location)),
    }
}

/// A run's staged extracts stayed in the bucket.
const KEPT_STAGING: &str = "DVT005";

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

/// Prints one event of a run the way dbt prints its progress.
pub(crate) fn event(e: &dvt_executor::run::RunEvent, warnings: usize) {
    use dvt_core::artifacts::RunStatus;
    use dvt_executor::run::RunEvent;
    match e {
        RunEvent::RunStarted { threads, total, .. } => {
            log(&format!(
                "Running with dvt={} threads={threads}",
                env!("CARGO_PKG_VERSION")
            ));
            log(&format!("Found {total} nodes to build"));
            out("");
        }
        RunEvent::NodeStarted {
            index, total, node, ..
        } => log(&dots(
            &format!(
                "{index} of {total} START {} {} [{} -> {}]",
                node.description, node.name, node.path, node.target
            ),
            "[RUN]",
        )),
        RunEvent::NodeLog { message, .. } | RunEvent::RunLog { message } => log(message),
        RunEvent::NodeWarning { code, message, .. } | RunEvent::RunWarning { code, message } => {
            warn(code, message)
        }
        RunEvent::NodeFinished {
            index,
            total,
            node,
            result,
        } => {
            let secs = result.execution_time;
            let line = match result.status {
                RunStatus::Success => {
                    let rows = result
                        .rows_affected
                        .map(|r| format!("{r} "))
                        .unwrap_or_default();
                    dots(
                        &format!(
                            "{index} of {total} OK {} {} [{}]",
                            node.description, node.name, node.path
                        ),
                        &format!("[OK {rows}in {secs:.2}s]"),
                    )
                }
                RunStatus::Error => dots(
                    &format!(
                        "{index} of {total} ERROR {} {} [{}]",
                        node.description, node.name, node.path
                    ),
                    &format!("[ERROR in {secs:.2}s]"),
                ),
                RunStatus::Skipped => dots(
                    &format!(
                        "{index} of {total} SKIP {} {}",
                        node.resource_type, node.name
                    ),
                    "[SKIP]",
                ),
                // dbt's words: `NO-OP saved query revenue_metrics`.
                RunStatus::NoOp => dots(
                    &format!(
                        "{index} of {total} NO-OP {} {}",
                        node.resource_type.replace('_', " "),
                        node.name
                    ),
                    &format!("[NO-OP in {secs:.2}s]"),
                ),
                RunStatus::Pass => dots(
                    &format!("{index} of {total} PASS {}", node.name),
                    &format!("[PASS in {secs:.2}s]"),
                ),
                RunStatus::Warn | RunStatus::Fail => {
                    let word = if result.status == RunStatus::Warn {
                        "WARN"
                    } else {
                        "FAIL"
                    };
                    let n = result.failures.unwrap_or(0);
                    dots(
                        &format!("{index} of {total} {word} {n} {}", node.name),
                        &format!("[{word} {n} in {secs:.2}s]"),
                    )
                }
            };
            log(&line);
        }
        RunEvent::RunFinished { summary } => {
            let total = summary.results.iter().filter(|r| r.path != "hook").count();
            out("");
            if summary.cancelled {
                log("The run was cancelled.");
            }
            log(&format!(
                "Finished running {total} nodes in {:.2}s.",
                summary.elapsed
            ));
            if summary.error > 0 {
                out("");
                log("Completed with errors:");
                for r in summary
                    .results
                    .iter()
                    .filter(|r| matches!(r.status, RunStatus::Error | RunStatus::Fail))
                {
                    let msg = r.message.as_deref().unwrap_or_default();
                    if r.status == RunStatus::Fail {
                        error("DVT307", &format!("test `{}` failed: {msg}", r.unique_id));
                        continue;
                    }
                    match msg.split_once(": ") {
                        Some((code, text)) if code.starts_with("DVT") => {
                            error(code, &format!("`{}`: {text}", r.unique_id))
                        }
                        _ => error(
                            dvt_core::codes::INTERNAL,
                            &format!("`{}`: {msg}", r.unique_id),
                        ),
                    }
                }
            }
            for kept in &summary.kept_staging {
                kept_staging(kept);
            }
            out("");
            log(&format!(
                "Done. PASS={} WARN={} ERROR={} SKIP={} NO-OP={} TOTAL={total}",
                summary.pass,
                warnings + summary.warn,
                summary.error,
                summary.skip,
                summary.noop
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;
    use dvt_core::codes::{CodeKind, lookup};

    use super::*;

    #[test]
    fn every_code_the_cli_prints_is_a_registered_error() {
        let core = || dvt_core::error::Error::InvalidVars {
            message: "x".into(),
        };
        let errors = [
            anyhow::Error::new(core()),
            anyhow::Error::new(core()).context("while loading"),
            Err::<(), _>(dvt_executor::Error::from(core()))
                .context("outer")
                .unwrap_err(),
            anyhow::Error::new(dvt_executor::Error::Cancelled),
            anyhow::anyhow!("no code of its own"),
        ];
        let codes: Vec<&str> = errors.iter().map(code_of).collect();
        assert_eq!(codes, ["DVT112", "DVT112", "DVT112", "DVT308", "DVT399"]);
        for code in codes
            .into_iter()
            .chain([dvt_core::codes::USAGE, dvt_core::codes::INTERNAL])
        {
            let doc = lookup(code).unwrap_or_else(|| panic!("`{code}` is not registered"));
            assert_eq!(doc.kind, CodeKind::Error);
        }
    }

    #[test]
    fn the_kept_staging_code_is_a_registered_warning() {
        let doc = lookup(KEPT_STAGING).expect("registered");
        assert_eq!(doc.kind, CodeKind::Warning);
    }
}
