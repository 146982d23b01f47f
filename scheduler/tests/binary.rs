//! The `dvt-scheduler` binary as an operator meets it: its flags (each also an
//! environment variable) and a coded error for an address it cannot bind. Being this
//! package's integration test also makes `cargo nextest run --workspace` build the
//! binary, which the cluster tests of `dvt-cli` start.

use std::process::Command;

fn scheduler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dvt-scheduler"))
}

#[test]
fn help_lists_every_flag_with_its_environment_variable() {
    let out = scheduler()
        .arg("--help")
        .output()
        .expect("dvt-scheduler runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("--bind-host", "DVT_SCHEDULER_BIND_HOST"),
        ("--bind-port", "DVT_SCHEDULER_BIND_PORT"),
        ("--external-host", "DVT_SCHEDULER_EXTERNAL_HOST"),
        (
            "--executor-timeout-seconds",
            "DVT_SCHEDULER_EXECUTOR_TIMEOUT_SECONDS",
        ),
        (
            "--expire-interval-seconds",
            "DVT_SCHEDULER_EXPIRE_INTERVAL_SECONDS",
        ),
        ("--event-log-dir", "DVT_SCHEDULER_EVENT_LOG_DIR"),
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
        assert!(help.contains(env), "{env} in {help}");
    }
}

#[test]
fn an_address_it_cannot_bind_is_a_coded_error() {
    let out = scheduler()
        .args(["--bind-host", "not an address", "--bind-port", "1"])
        .output()
        .expect("dvt-scheduler runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DVT300"), "{err}");
    assert!(err.contains("not an address"), "{err}");
    // A bad flag value is a usage error, before anything starts.
    let out = scheduler()
        .args(["--bind-port", "seventy"])
        .output()
        .expect("dvt-scheduler runs");
    assert_eq!(out.status.code(), Some(2));
}
