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

/// The project of the model-constraint tests: `parent` with a named primary key,
/// `child` with a named foreign key to it (through `to: ref()`, which its SQL does not
/// read), a named check and a unique key over two columns.
fn keyed_project(dir: &std::path::Path, profiles: &str, child_sql: &str) {
    write_project(
        dir,
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", profiles),
            (
                "models/parent.sql",
                "{{ config(materialized='table') }}\nselect 1 as id union all select 2\n",
            ),
            ("models/child.sql", child_sql),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: parent\n    config: {contract: {enforced: true}}\n    constraints:\n      - {type: primary_key, columns: [id], name: parent_pk}\n    columns:\n      - {name: id, data_type: integer}\n  - name: child\n    config: {contract: {enforced: true}}\n    constraints:\n      - {type: foreign_key, columns: [parent_id], to: \"ref('parent')\", to_columns: [id], name: child_parent_fk}\n      - {type: check, expression: \"id > 0\", name: child_id_positive}\n      - {type: unique, columns: [id, parent_id], name: child_pair}\n    columns:\n      - {name: id, data_type: integer, constraints: [{type: not_null}]}\n      - {name: parent_id, data_type: integer}\n",
            ),
        ],
    );
}

/// A model's own constraints (named keys, a foreign key through `to: ref()`, a check)
/// are built into its table on PostgreSQL, again on every rebuild (dbt-core's second
/// build of a model with a named key fails: the staged table's key index takes a name
/// the live table holds), and a row breaking one fails the build and keeps the table.
#[tokio::test(flavor = "multi_thread")]
async fn model_constraints_build_and_rebuild_on_postgres() {
    let schema = unique("dvt_it_mc");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let dir = tempfile::tempdir().expect("tempdir");
    let child = |rows: &str| {
        format!(
            "{{{{ config(materialized='table') }}}}\nselect id, parent_id from (values {rows}) v(id, parent_id)\n"
        )
    };
    let profiles = format!(
        "p:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}}}\n"
    );
    keyed_project(dir.path(), &profiles, &child("(1, 1), (2, 2), (3, 2)"));
    let pg = pg().await;
    let constraints = format!(
        "select t.relname::text, c.conname::text, c.contype::text, \
         case when c.confrelid = 0 then '' else c.confrelid::regclass::text end \
         from pg_constraint c join pg_class t on t.oid = c.conrelid \
         where c.connamespace = '{schema}'::regnamespace and c.conname not like '%_not_null' \
         order by 1, 2"
    );
    let expected: Vec<Vec<String>> = [
        ["child", "child_id_positive", "c", ""],
        ["child", "child_pair", "u", ""],
        ["child", "child_parent_fk", "f", &format!("{schema}.parent")],
        ["parent", "parent_pk", "p", ""],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect();
    for build in 1..=2 {
        let run = dvt(dir.path(), &["run"], &[]);
        assert_eq!(run.code, 0, "build {build}: {}", run.stderr);
        assert_eq!(pg_rows(&pg, &constraints).await, expected, "build {build}");
    }
    // The foreign key is a dependency, though the child's SQL never reads the parent.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let node = &manifest["nodes"]["model.c.child"];
    assert_eq!(
        node["depends_on"]["nodes"],
        serde_json::json!(["model.c.parent"])
    );
    assert_eq!(node["constraints"][0]["name"], "child_parent_fk");
    assert_eq!(
        node["constraints"][0]["to_columns"],
        serde_json::json!(["id"])
    );
    assert_eq!(node["constraints"][1]["warn_unenforced"], true);

    // A parent the foreign key does not find: the build fails, the table stays.
    let count = format!("select count(*)::text from \"{schema}\".child");
    write_project(dir.path(), &[("models/child.sql", &child("(4, 9)"))]);
    let run = dvt(dir.path(), &["run", "-s", "child"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("child_parent_fk"), "{}", run.stderr);
    assert_eq!(pg_rows(&pg, &count).await, vec![vec![normalise(Some("3"))]]);
    assert_eq!(pg_rows(&pg, &constraints).await, expected);

    // `to:` must be a `ref()` or `source()` call.
    let yml = std::fs::read_to_string(dir.path().join("models/schema.yml")).expect("yml");
    write_project(
        dir.path(),
        &[(
            "models/schema.yml",
            &yml.replace("\"ref('parent')\"", "parent"),
        )],
    );
    let run = dvt(dir.path(), &["parse"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT115]")
            && run.stderr.contains("models/schema.yml")
            && run.stderr.contains("`to: parent`"),
        "{}",
        run.stderr
    );
}

/// A federated contracted model (input on MariaDB, table on PostgreSQL) takes its own
/// named key too, on every rebuild, and a duplicate key fails the load.
#[tokio::test(flavor = "multi_thread")]
async fn model_constraints_hold_on_the_federated_path() {
    let schema = unique("dvt_it_fmc");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let mut maria = maria().await;
    {
        use mysql_async::prelude::Queryable;
        maria
            .query_drop(format!(
                "create database `{schema}`; create table `{schema}`.raw (a int, b int); \
                 insert into `{schema}`.raw values (1, 1), (1, 2), (2, 1);"
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
    let model = |b: &str| {
        format!(
            "{{{{ config(materialized='table') }}}}\nselect a, {b} as b from {{{{ source('m', 'raw') }}}}\n"
        )
    };
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", &profiles),
            ("models/sources.yml", &sources),
            ("models/pairs.sql", &model("b")),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: pairs\n    config: {contract: {enforced: true}}\n    constraints:\n      - {type: primary_key, columns: [a, b], name: pairs_key}\n    columns:\n      - {name: a, data_type: integer}\n      - {name: b, data_type: integer}\n",
            ),
        ],
    );
    let pg = pg().await;
    let keys = format!(
        "select c.conname::text, pg_get_constraintdef(c.oid) from pg_constraint c \
         where c.conrelid = '\"{schema}\".pairs'::regclass and c.contype = 'p'"
    );
    for build in 1..=2 {
        let run = dvt(dir.path(), &["run"], &[]);
        assert_eq!(run.code, 0, "build {build}: {}", run.stderr);
        assert!(run.stdout.contains("[federated"), "{}", run.stdout);
        assert_eq!(
            pg_rows(&pg, &keys).await,
            vec![vec![
                "pairs_key".to_owned(),
                "PRIMARY KEY (a, b)".to_owned()
            ]],
            "build {build}"
        );
    }
    let count = format!("select count(*)::text from \"{schema}\".pairs");
    write_project(dir.path(), &[("models/pairs.sql", &model("1"))]);
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("pairs_key"), "{}", run.stderr);
    assert_eq!(pg_rows(&pg, &count).await, vec![vec![normalise(Some("3"))]]);
}

/// Model constraints on MariaDB and SQLite: a key over two columns and a check.
#[tokio::test(flavor = "multi_thread")]
async fn model_constraints_build_on_mariadb_and_sqlite() {
    let schema = unique("dvt_it_mmc");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: maria\n  outputs:\n    maria: {{type: mysql, server: 127.0.0.1, port: 3306, username: root, schema: {schema}}}\n    lite: {{type: sqlite, path: data/lite.db}}\n"
    );
    let model = |rows: &str| {
        format!(
            "{{{{ config(materialized='table') }}}}\nselect 1 as a, 1 as b union all select {rows}\n"
        )
    };
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", &profiles),
            ("models/pairs.sql", &model("1, 2")),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: pairs\n    config: {contract: {enforced: true}}\n    constraints:\n      - {type: primary_key, columns: [a, b]}\n      - {type: check, expression: \"a <= b\", name: pairs_ordered}\n    columns:\n      - {name: a, data_type: integer}\n      - {name: b, data_type: integer}\n",
            ),
        ],
    );
    let mut maria = maria().await;
    for build in 1..=2 {
        dvt(dir.path(), &["run"], &[]).assert_ok();
        let keys = maria_rows(
            &mut maria,
            &format!(
                "select constraint_name, constraint_type from information_schema.table_constraints \
                 where table_schema = '{schema}' and table_name = 'pairs'"
            ),
        )
        .await;
        assert_eq!(
            keys,
            vec![
                vec!["PRIMARY".to_owned(), "PRIMARY KEY".to_owned()],
                vec!["pairs_ordered".to_owned(), "CHECK".to_owned()],
            ],
            "build {build}"
        );
    }
    write_project(dir.path(), &[("models/pairs.sql", &model("2, 1"))]);
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("pairs_ordered"), "{}", run.stderr);

    write_project(dir.path(), &[("models/pairs.sql", &model("1, 2"))]);
    dvt(dir.path(), &["run", "--target", "lite"], &[]).assert_ok();
    let db = dir.path().join("data/lite.db");
    assert_eq!(
        sqlite_rows(
            &db,
            "select name, pk from pragma_table_info('pairs') order by name"
        ),
        vec![
            vec!["a".to_owned(), normalise(Some("1"))],
            vec!["b".to_owned(), normalise(Some("2"))],
        ]
    );
    let sql = sqlite_rows(&db, "select sql from sqlite_master where name = 'pairs'");
    assert!(
        sql[0][0].contains("constraint pairs_ordered check (a <= b)"),
        "{sql:?}"
    );
}

/// On MariaDB a model that a foreign key references is rebuilt (its old table dropped
/// with the keys to it, as PostgreSQL's `CASCADE` does), and a named foreign key is
/// rebuilt though MariaDB scopes its name to the database.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_keys_rebuild_on_mariadb() {
    let schema = unique("dvt_it_mfk");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: maria\n  outputs:\n    maria: {{type: mysql, server: 127.0.0.1, port: 3306, username: root, schema: {schema}}}\n"
    );
    let child = |rows: &str| {
        format!(
            "{{{{ config(materialized='table') }}}}\nselect 1 as id, 1 as parent_id union all select {rows}\n"
        )
    };
    keyed_project(dir.path(), &profiles, &child("2, 2"));
    let mut maria = maria().await;
    let keys = format!(
        "select table_name, constraint_name, referenced_table_name \
         from information_schema.referential_constraints where constraint_schema = '{schema}'"
    );
    for build in 1..=3 {
        let run = dvt(dir.path(), &["run"], &[]);
        assert_eq!(run.code, 0, "build {build}: {}", run.stderr);
        assert_eq!(
            maria_rows(&mut maria, &keys).await,
            vec![vec![
                "child".to_owned(),
                "child_parent_fk".to_owned(),
                "parent".to_owned()
            ]],
            "build {build}"
        );
    }
    let tables =
        format!("select table_name from information_schema.tables where table_schema = '{schema}'");
    assert_eq!(
        maria_rows(&mut maria, &tables).await,
        vec![vec!["child".to_owned()], vec!["parent".to_owned()]]
    );
    write_project(dir.path(), &[("models/child.sql", &child("3, 9"))]);
    let run = dvt(dir.path(), &["run", "-s", "child"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("foreign key constraint fails"),
        "{}",
        run.stderr
    );
    let count = format!("select count(*) from `{schema}`.child");
    assert_eq!(
        maria_rows(&mut maria, &count).await,
        vec![vec![normalise(Some("2"))]]
    );
}

/// SQLite checks foreign keys: a contracted model's key holds, and the model it
/// references rebuilds (its old table dropped under the key, as PostgreSQL's CASCADE
/// allows). Constraints on a view are ignored with dbt's warning (DVT010), which
/// `warn_unsupported: false` silences.
#[test]
fn sqlite_foreign_keys_hold_and_view_constraints_are_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let props = |view_flags: &str| {
        format!(
            "version: 2\nmodels:\n  - name: parent\n    config: {{contract: {{enforced: true}}}}\n    columns:\n      - {{name: id, data_type: integer, constraints: [{{type: primary_key}}]}}\n  - name: child\n    config: {{contract: {{enforced: true}}}}\n    constraints:\n      - {{type: foreign_key, columns: [parent_id], to: \"ref('parent')\", to_columns: [id]}}\n    columns:\n      - {{name: parent_id, data_type: integer}}\n  - name: shown\n    config: {{contract: {{enforced: true}}}}\n    columns:\n      - {{name: id, data_type: integer, constraints: [{{type: not_null{view_flags}}}]}}\n"
        )
    };
    let child =
        |id: &str| format!("{{{{ config(materialized='table') }}}}\nselect {id} as parent_id\n");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: c\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            (
                "models/parent.sql",
                "{{ config(materialized='table') }}\nselect 1 as id\n",
            ),
            ("models/child.sql", &child("1")),
            ("models/shown.sql", "select 1 as id\n"),
            ("models/schema.yml", &props("")),
        ],
    );
    for build in 1..=2 {
        let run = dvt(dir.path(), &["run"], &[]);
        assert_eq!(run.code, 0, "build {build}: {}", run.stderr);
        assert!(
            run.stderr.contains("warning[DVT010]")
                && run.stderr.contains("constraints are not supported for view materializations and will be ignored (model `shown`)"),
            "{}",
            run.stderr
        );
    }
    let db = dir.path().join("data/lite.db");
    let sql = sqlite_rows(&db, "select sql from sqlite_master where name = 'child'");
    assert!(
        sql[0][0].contains("foreign key (parent_id) references \"parent\" (id)"),
        "{sql:?}"
    );
    write_project(dir.path(), &[("models/child.sql", &child("9"))]);
    let run = dvt(dir.path(), &["run", "-s", "child"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("FOREIGN KEY constraint failed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sqlite_count(&db, "select count(*) from child where parent_id = 1"),
        1
    );

    write_project(
        dir.path(),
        &[
            ("models/child.sql", &child("1")),
            ("models/schema.yml", &props(", warn_unsupported: false")),
        ],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    run.assert_ok();
    assert!(!run.stderr.contains("DVT010"), "{}", run.stderr);
}
