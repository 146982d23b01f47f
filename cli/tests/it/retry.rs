//! `dvt retry`: the last command again, with its flags, on what failed or was skipped.

use crate::common::*;

#[test]
fn retry_reruns_what_failed_or_was_skipped_with_the_last_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: r\nprofile: r\n"),
            (
                "profiles.yml",
                "r:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/r.db}\n    other: {type: sqlite, path: data/other.db}\n",
            ),
            ("models/a.sql", "select 1 as id"),
            (
                "models/b.sql",
                "select id, missing_column from {{ ref('a') }}",
            ),
            ("models/c.sql", "select id from {{ ref('b') }}"),
            ("models/untouched.sql", "select 2 as id"),
            (
                "models/props.yml",
                "models:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [unique]\n",
            ),
        ],
    );
    let none = dvt(dir.path(), &["retry"], &[]);
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(none.stderr.contains("error[DVT135]"), "{}", none.stderr);

    let first = dvt(
        dir.path(),
        &[
            "build",
            "--select",
            "+c",
            "--target",
            "other",
            "--threads",
            "2",
        ],
        &[],
    );
    assert_eq!(first.code, 1, "{}", first.stderr);
    let st = statuses(dir.path());
    assert_eq!(st["model.r.b"], "error");
    assert_eq!(st["model.r.c"], "skipped");
    assert_eq!(st["model.r.a"], "success");
    assert!(!st.contains_key("model.r.untouched"));

    // Still broken: retry runs b and c again, and only them, on the same target.
    let again = dvt(dir.path(), &["retry"], &[]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    let st = statuses(dir.path());
    assert_eq!(
        st.keys().cloned().collect::<Vec<_>>(),
        ["model.r.b", "model.r.c"]
    );

    std::fs::write(
        dir.path().join("models/b.sql"),
        "select id, 3 as n from {{ ref('a') }}",
    )
    .expect("fix b");
    let fixed = dvt(dir.path(), &["retry"], &[]);
    fixed.assert_ok();
    let st = statuses(dir.path());
    assert_eq!(st["model.r.b"], "success");
    assert_eq!(st["model.r.c"], "success");
    assert_eq!(st.len(), 2, "{st:?}");
    assert_eq!(
        sqlite_rows(&dir.path().join("data/other.db"), "select count(*) from c"),
        vec![vec![normalise(Some("1"))]]
    );
    assert!(
        !dir.path().join("data/r.db").exists() || {
            sqlite_rows(
                &dir.path().join("data/r.db"),
                "select count(*) from sqlite_master where name in ('a', 'b', 'c', 'untouched')",
            ) == vec![vec![normalise(Some("0"))]]
        }
    );

    let done = dvt(dir.path(), &["retry"], &[]);
    done.assert_ok();
    assert!(done.stdout.contains("Nothing to retry"), "{}", done.stdout);
}
