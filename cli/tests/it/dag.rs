//! dbt's DAG semantics: repeated builds, ordering and skipping through nodes that are not
//! built in this invocation (ephemeral models, unselected nodes), artifacts always written.

use crate::common::*;

const PROFILES: &str = "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n    other: {type: sqlite, path: data/other.db}\n";

/// One number from an SQLite file, read outside DVT (Python's sqlite3 module).
fn rows(db: &std::path::Path, sql: &str) -> i64 {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])")
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn the_demo_builds_again_and_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo_root().join("examples/demo"), dir.path());
    for round in 1..=3 {
        let run = dvt(dir.path(), &["build", "--threads", "4"], &[]);
        run.assert_ok();
        assert!(
            run.stdout
                .contains("PASS=10 WARN=0 ERROR=0 SKIP=0 TOTAL=10"),
            "round {round}:\n{}",
            run.stdout
        );
    }
    // The view over the federated table still reads it after three swaps.
    let n = rows(
        &dir.path().join("data/warehouse.db"),
        "select count(*) from revenue_by_country",
    );
    assert!(n > 0, "revenue_by_country has {n} rows");
}

#[test]
fn views_over_rebuilt_tables_survive_a_run_that_only_rebuilds_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("seeds/s.csv", "id\n1\n2\n"),
            (
                "models/t.sql",
                "{{ config(materialized='table') }}select id from {{ ref('s') }}",
            ),
            ("models/v.sql", "select id * 10 as x from {{ ref('t') }}"),
        ],
    );
    dvt(dir.path(), &["build"], &[]).assert_ok();
    for _ in 0..2 {
        dvt(dir.path(), &["run", "--select", "t"], &[]).assert_ok();
    }
    assert_eq!(
        rows(&dir.path().join("data/main.db"), "select sum(x) from v"),
        30
    );
}

#[test]
fn skips_and_waits_through_ephemeral_and_unselected_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("seeds/s.csv", "id\n1\n2\n"),
            // `bad` fails; `child` reads it only through an ephemeral model.
            (
                "models/bad.sql",
                "{{ config(materialized='table') }}select id from no_such_table",
            ),
            (
                "models/eph.sql",
                "{{ config(materialized='ephemeral') }}select id from {{ ref('bad') }}",
            ),
            (
                "models/child.sql",
                "{{ config(materialized='table') }}select id from {{ ref('eph') }}",
            ),
            // `far` reads `bad` through `mid`, which the selection leaves out.
            ("models/mid.sql", "select id from {{ ref('bad') }}"),
            (
                "models/far.sql",
                "{{ config(materialized='table') }}select id from {{ ref('mid') }}",
            ),
            // Independent of `bad`: still built.
            (
                "models/ok.sql",
                "{{ config(materialized='table') }}select id from {{ ref('s') }}",
            ),
        ],
    );
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(
        dir.path(),
        &[
            "run",
            "--threads",
            "4",
            "--select",
            "bad",
            "child",
            "far",
            "ok",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let st = statuses(dir.path());
    assert_eq!(st["model.p.bad"], "error", "{st:?}");
    assert_eq!(st["model.p.child"], "skipped", "{st:?}");
    assert_eq!(st["model.p.far"], "skipped", "{st:?}");
    assert_eq!(st["model.p.ok"], "success", "{st:?}");
    assert!(!st.contains_key("model.p.mid"), "{st:?}");
    let text =
        std::fs::read_to_string(dir.path().join("target/run_results.json")).expect("run results");
    assert!(
        text.contains("upstream `model.p.bad` did not succeed"),
        "{text}"
    );

    // Once `bad` is fixed, `child` waits for it (four threads would otherwise start
    // `child` first and fail on the missing table).
    write_project(
        dir.path(),
        &[(
            "models/bad.sql",
            "{{ config(materialized='table') }}select id from {{ ref('s') }}",
        )],
    );
    let run = dvt(
        dir.path(),
        &[
            "run",
            "--threads",
            "4",
            "--select",
            "bad",
            "child",
            "mid",
            "far",
        ],
        &[],
    );
    run.assert_ok();
    assert!(run.stdout.contains("PASS=4"), "{}", run.stdout);
}
