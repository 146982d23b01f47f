//! The `dvt-executor` binary's arguments and exit codes.

use std::process::Command;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dvt-executor"))
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let out = binary().arg("--bogus").arg("x").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error[DVT400]") && stderr.contains("--bogus"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: dvt-executor"), "{stderr}");

    let out = binary().output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--profiles-dir"));

    // Every flag is also an environment variable, and `--help` says which.
    let out = binary().arg("--help").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "DVT_EXECUTOR_SCHEDULER_HOST",
        "DVT_EXECUTOR_PROFILES_DIR",
        "DVT_EXECUTOR_BIND_GRPC_PORT",
        "DVT_EXECUTOR_ID",
    ] {
        assert!(help.contains(var), "{var} in {help}");
    }
}

#[test]
fn unreachable_scheduler_exits_1_without_leaking_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("profiles.yml"),
        "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: 127.0.0.1, user: postgres, password: do-not-print-me, dbname: test, schema: public}\n",
    )
    .expect("write profiles");
    let out = binary()
        .arg("--profiles-dir")
        .arg(dir.path())
        .args(["--profile", "p"])
        .args([
            "--scheduler-port",
            "1",
            "--bind-port",
            "0",
            "--bind-grpc-port",
            "0",
            "--scheduler-wait-seconds",
            "1",
        ])
        .arg("--staging-dir")
        .arg(dir.path().join("staging"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("error[DVT300]: executor process failed"),
        "{all}"
    );
    assert!(!all.contains("do-not-print-me"), "{all}");
}

#[test]
fn a_missing_profile_exits_1_with_its_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("profiles.yml"),
        "p:\n  target: a\n  outputs:\n    a: {type: sqlite, path: a.db}\n",
    )
    .expect("write profiles");
    let out = binary()
        .arg("--profiles-dir")
        .arg(dir.path())
        .args(["--profile", "other"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error[DVT103]") && stderr.contains("`other`"),
        "{stderr}"
    );
}

#[test]
fn a_bucket_it_cannot_use_exits_1_at_once_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("profiles.yml"),
        "p:\n  target: a\n  outputs:\n    a: {type: sqlite, path: a.db}\n",
    )
    .expect("write profiles");
    std::fs::write(
        dir.path().join("buckets.yml"),
        "p:\n  buckets:\n    lake: {type: gcs, bucket: g}\n    s3: {type: s3, bucket: b, endpoint: \"http://127.0.0.1:1\", access_key_id: k, secret_access_key: do-not-print-me}\n",
    )
    .expect("write buckets");
    // The scheduler never answers: only a bucket error can end the process within the
    // wait.
    let run = |bucket: &str| {
        let out = binary()
            .arg("--profiles-dir")
            .arg(dir.path())
            .args(["--bucket", bucket, "--scheduler-port", "1"])
            .args(["--scheduler-wait-seconds", "30"])
            .output()
            .expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("do-not-print-me"), "{all}");
        (out.status.code(), all)
    };
    let started = std::time::Instant::now();
    let (code, all) = run("nope");
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("error[DVT123]") && all.contains("`nope`"),
        "{all}"
    );
    let (code, all) = run("lake");
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("error[DVT306]") && all.contains("bucket `lake`"),
        "{all}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    let out = binary()
        .arg("--profiles-dir")
        .arg(dir.path())
        .args(["--bucket", "s3", "--staging-dir", "x"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let help = binary().arg("--help").output().expect("runs");
    assert!(String::from_utf8_lossy(&help.stdout).contains("DVT_EXECUTOR_BUCKET"));
}
