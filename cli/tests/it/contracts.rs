//! Enforced contracts (`contract: {enforced: true}`): the table gets the declared types
//! and constraints, a model whose columns differ fails with DVT310 before anything is
//! built, and a row breaking a constraint fails the build and keeps the old table.

use crate::common::*;

const PROFILES: &str =
    "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/lite.db}\n";

fn props(extra_column: &str) -> String {
    format!(
        "version: 2\nmodels:\n  - name: accounts\n    config:\n      contract: {{enforced: true}}\n    columns:\n      - name: id\n        data_type: integer\n        constraints: [{{type: not_null}}, {{type: primary_key}}]\n      - name: amount\n        data_type: numeric(12, 2)\n        constraints: [{{type: not_null}}]\n{extra_column}"
    )
}

#[test]
fn contracts_type_the_table_and_refuse_mismatched_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yml = props("");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            (
                "models/accounts.sql",
                "{{ config(materialized='table') }}\nselect 1 as id, 2.5 as amount union all select 2, 3\n",
            ),
            ("models/schema.yml", yml.as_str()),
        ],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    let db = dir.path().join("data/lite.db");
    assert_eq!(
        sqlite_rows(
            &db,
            "select name, lower(type), \"notnull\", pk from pragma_table_info('accounts')"
        ),
        vec![
            vec![
                "amount".to_owned(),
                "numeric(12, 2)".to_owned(),
                normalise(Some("1")),
                normalise(Some("0"))
            ],
            vec![
                "id".to_owned(),
                "integer".to_owned(),
                normalise(Some("1")),
                normalise(Some("1"))
            ],
        ]
    );
    assert_eq!(sqlite_count(&db, "select count(*) from accounts"), 2);

    // A contract column the model does not return: refused before building.
    let yml = props("      - name: segment\n        data_type: text\n");
    write_project(dir.path(), &[("models/schema.yml", yml.as_str())]);
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT310]") && run.stderr.contains("`segment`"),
        "{}",
        run.stderr
    );

    // A row breaking `not_null`: the build fails and the previous table stays.
    let yml = props("");
    write_project(
        dir.path(),
        &[
            ("models/schema.yml", yml.as_str()),
            (
                "models/accounts.sql",
                "{{ config(materialized='table') }}\nselect 3 as id, null as amount\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error[DVT301]"), "{}", run.stderr);
    assert_eq!(sqlite_count(&db, "select count(*) from accounts"), 2);
}
