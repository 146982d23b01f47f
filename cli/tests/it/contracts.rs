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

/// A federated contracted model (its input on MariaDB, its table on PostgreSQL): the
/// table has the contract's types and constraints, a mismatch is DVT310 before anything
/// runs, and a row breaking a constraint fails the load and keeps the old table.
#[tokio::test(flavor = "multi_thread")]
async fn contracts_hold_on_the_federated_path() {
    let schema = unique("dvt_it_fc");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let mut maria = maria().await;
    {
        use mysql_async::prelude::Queryable;
        maria
            .query_drop(format!(
                "create database `{schema}`; create table `{schema}`.raw (id int, amount decimal(10,2)); \
                 insert into `{schema}`.raw values (1, 2.5), (2, 3.0);"
            ))
            .await
            .expect("maria fixture");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}}}\n    maria: {{type: mysql, server: 127.0.0.1, port: 3306, username: root, schema: {schema}}}\n"
    );
    let sources = format!(
        "version: 2\nsources:\n  - name: m\n    schema: {schema}\n    connection: maria\n    tables: [{{name: raw}}]\n"
    );
    let model = |filter: &str| {
        format!(
            "{{{{ config(materialized='table') }}}}\nselect id, {filter} as amount from {{{{ source('m', 'raw') }}}}\n"
        )
    };
    let yml = props("");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", &profiles),
            ("models/sources.yml", &sources),
            ("models/accounts.sql", &model("amount")),
            ("models/schema.yml", yml.as_str()),
        ],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("[federated"), "{}", run.stdout);
    let pg = pg().await;
    let columns = pg_rows(
        &pg,
        &format!(
            "select c.column_name::text, c.data_type::text, c.is_nullable::text, \
             coalesce((select 'pk' from information_schema.key_column_usage k \
               join information_schema.table_constraints t on t.constraint_name = k.constraint_name and t.table_schema = k.table_schema \
               where t.constraint_type = 'PRIMARY KEY' and k.table_schema = c.table_schema and k.table_name = c.table_name and k.column_name = c.column_name), '') \
             from information_schema.columns c where c.table_schema = '{schema}' and c.table_name = 'accounts' order by 1"
        ),
    )
    .await;
    assert_eq!(
        columns,
        vec![
            vec!["amount", "numeric", "NO", ""],
            vec!["id", "integer", "NO", "pk"],
        ]
        .into_iter()
        .map(|r| r.into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    let count = format!("select count(*)::text from \"{schema}\".accounts");
    assert_eq!(pg_rows(&pg, &count).await, vec![vec![normalise(Some("2"))]]);

    let yml = props("      - name: segment\n        data_type: text\n");
    write_project(dir.path(), &[("models/schema.yml", yml.as_str())]);
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT310]") && run.stderr.contains("`segment`"),
        "{}",
        run.stderr
    );

    let yml = props("");
    write_project(
        dir.path(),
        &[
            ("models/schema.yml", yml.as_str()),
            (
                "models/accounts.sql",
                &model("case when id = 2 then null else amount end"),
            ),
        ],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error[DVT304]"), "{}", run.stderr);
    assert_eq!(pg_rows(&pg, &count).await, vec![vec![normalise(Some("2"))]]);
}

/// An incremental contracted model: the first build creates the table with the contract's
/// types and constraints, later runs check the names again and insert under the
/// constraints.
#[test]
fn contracts_hold_on_incremental_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite_model = |rows: &str| {
        format!(
            "{{{{ config(materialized='incremental', unique_key='id') }}}}\nselect column1 as id, column2 as amount from (values {rows})\n"
        )
    };
    let yml = props("");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("models/accounts.sql", &sqlite_model("(1, 2.5), (2, 3)")),
            ("models/schema.yml", yml.as_str()),
        ],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    let db = dir.path().join("data/lite.db");
    assert_eq!(
        sqlite_rows(
            &db,
            "select name, lower(type), \"notnull\" from pragma_table_info('accounts') order by name"
        ),
        vec![
            vec![
                "amount".to_owned(),
                "numeric(12, 2)".to_owned(),
                normalise(Some("1"))
            ],
            vec!["id".to_owned(), "integer".to_owned(), normalise(Some("1"))],
        ]
    );
    write_project(
        dir.path(),
        &[("models/accounts.sql", &sqlite_model("(3, 4)"))],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    assert_eq!(sqlite_count(&db, "select count(*) from accounts"), 3);

    // A null into a `not_null` column fails the run and keeps the rows.
    write_project(
        dir.path(),
        &[("models/accounts.sql", &sqlite_model("(4, null)"))],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(sqlite_count(&db, "select count(*) from accounts"), 3);

    // Names are checked on incremental runs too.
    let yml = props("      - name: segment\n        data_type: text\n");
    write_project(
        dir.path(),
        &[
            ("models/schema.yml", yml.as_str()),
            ("models/accounts.sql", &sqlite_model("(5, 1)")),
        ],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error[DVT310]"), "{}", run.stderr);
    assert_eq!(sqlite_count(&db, "select count(*) from accounts"), 3);
}
