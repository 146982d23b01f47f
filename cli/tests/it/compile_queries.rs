//! Jinja that queries the database while compiling (`run_query`, `statement`,
//! `adapter.get_relation`), in `dvt compile` as in `dvt run`, against the node's target.

use crate::common::*;

#[test]
fn compile_and_run_answer_run_query_from_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: q\nprofile: p\n"),
            (
                "profiles.yml",
                "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/lite.db}\n",
            ),
            ("seeds/methods.csv", "method\ncard\ncash\ncoupon\n"),
            (
                "models/m.sql",
                "{% set rows = run_query(\"select method from \" ~ ref('methods') ~ \" order by 1\") %}\n{% set found = adapter.get_relation(database=none, schema='main', identifier='methods') %}\nselect '{{ rows.columns[0].values() | join(\",\") if execute else \"\" }}' as methods, '{{ found.type if found is not none else \"none\" }}' as kind\n",
            ),
        ],
    );
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let compiled = dvt(dir.path(), &["compile", "--select", "m"], &[]);
    compiled.assert_ok();
    assert!(
        compiled
            .stdout
            .contains("'card,cash,coupon' as methods, 'table' as kind"),
        "{}",
        compiled.stdout
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/lite.db"),
            "select methods, kind from m"
        ),
        vec![vec!["card,cash,coupon".to_owned(), "table".to_owned()]]
    );
}

/// `dvt compile --inline`: ad-hoc SQL with `ref()` and a macro, compiled for the target
/// its inputs live on and printed; a bad `ref()` is the usual coded error.
#[test]
fn compile_inline_prints_the_compiled_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: q\nprofile: p\n"),
            (
                "profiles.yml",
                "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/lite.db}\n",
            ),
            (
                "macros/twice.sql",
                "{% macro twice(x) %}({{ x }} * 2){% endmacro %}",
            ),
            ("models/m.sql", "select 1 as id"),
        ],
    );
    let out = dvt(
        dir.path(),
        &[
            "compile",
            "--inline",
            "select {{ twice('id') }} as d from {{ ref('m') }}",
        ],
        &[],
    );
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "select (id * 2) as d from \"main\".\"m\""
    );
    let empty = dvt(
        dir.path(),
        &[
            "compile",
            "--empty",
            "--inline",
            "select * from {{ ref('m') }}",
        ],
        &[],
    );
    empty.assert_ok();
    assert_eq!(
        empty.stdout.trim(),
        "select * from (select * from \"main\".\"m\" where false limit 0) _dbt_limit_subq_m"
    );
    let bad = dvt(
        dir.path(),
        &["compile", "--inline", "select * from {{ ref('nope') }}"],
        &[],
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("error[DVT106]"), "{}", bad.stderr);
}
