//! Least privilege and identifier limits: a role that owns its schema (PostgreSQL) or
//! database (MariaDB) but may not create schemas builds repeatedly, and names up to each
//! database's limit work again and again.

use mysql_async::prelude::Queryable;

use crate::common::*;

/// A project writing seeds, a table, a view and a federated table into `schema` on the
/// target `main`, reading one source from the SQLite target `side`.
fn project(dir: &std::path::Path, main_output: &str, long: &str) {
    let profiles = format!(
        "p:\n  target: main\n  outputs:\n    main: {main_output}\n    side: {{type: sqlite, path: data/side.db}}\n"
    );
    let long_col = "c".repeat(long.len());
    let files = [
        (
            "dbt_project.yml".to_owned(),
            "name: p\nprofile: p\nseeds:\n  p:\n    side_seed:\n      +target: side\n".to_owned(),
        ),
        ("profiles.yml".to_owned(), profiles),
        (
            "seeds/side_seed.csv".to_owned(),
            "id,label\n1,a\n2,b\n".to_owned(),
        ),
        (
            format!("seeds/{long}.csv"),
            format!("id,{long_col}\n1,x\n2,y\n"),
        ),
        (
            "models/t.sql".to_owned(),
            format!(
                "{{{{ config(materialized='table') }}}}select id, {long_col} from {{{{ ref('{long}') }}}}"
            ),
        ),
        (
            "models/v.sql".to_owned(),
            "select id * 10 as x from {{ ref('t') }}".to_owned(),
        ),
        (
            format!("models/x_{}.sql", &long[2..]),
            format!(
                "{{{{ config(materialized='table') }}}}select s.id, s.label as {long_col} from {{{{ ref('side_seed') }}}} s join {{{{ ref('t') }}}} t on t.id = s.id"
            ),
        ),
    ];
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_project(dir, &borrowed);
}

fn build_three_times(dir: &std::path::Path) {
    for round in 1..=3 {
        let run = dvt(dir, &["build"], &[]);
        assert_eq!(
            run.code, 0,
            "round {round}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stdout.contains("PASS=5 WARN=0 ERROR=0"),
            "round {round}:\n{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("[federated]"),
            "the long-named model is federated:\n{}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_role_owning_only_its_schema_builds_long_names_repeatedly() {
    let schema = unique("dvt_it_lp");
    let role = unique("dvt_lp");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    pg.batch_execute(&format!(
        "create role {role} login; create schema {schema} authorization {role};"
    ))
    .await
    .expect("role and schema");
    // The role may not create schemas: `CREATE SCHEMA IF NOT EXISTS` would fail.
    let denied = pg_rows(
        &pg,
        &format!("select has_database_privilege('{role}', 'test', 'CREATE')::text"),
    )
    .await;
    assert_eq!(denied, vec![vec!["false".to_owned()]]);

    let dir = tempfile::tempdir().expect("tempdir");
    let long = "l".repeat(63);
    project(
        dir.path(),
        &format!(
            "{{type: postgres, host: 127.0.0.1, port: 5432, user: {role}, dbname: test, schema: {schema}}}"
        ),
        &long,
    );
    build_three_times(dir.path());
    let rows = pg_rows(&pg, &format!("select sum(x) from {schema}.v")).await;
    assert_eq!(rows, vec![vec![normalise(Some("30"))]]);
    let cols = pg_rows(
        &pg,
        &format!(
            "select count(*) from information_schema.columns where table_schema = '{schema}' and column_name = '{}'",
            "c".repeat(63)
        ),
    )
    .await;
    assert_eq!(
        cols,
        vec![vec![normalise(Some("3"))]],
        "seed, t and the federated table"
    );
    let leftovers = pg_rows(
        &pg,
        &format!("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relname like '%\\_\\_dvt\\_%'"),
    )
    .await;
    assert_eq!(leftovers, vec![vec![normalise(Some("0"))]]);

    // One byte more is a parse-time error naming the file, before anything runs.
    write_project(
        dir.path(),
        &[(&format!("models/{}.sql", "z".repeat(64)), "select 1 as a")],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("error[DVT117]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("models/{}.sql", "z".repeat(64))),
        "{}",
        run.stderr
    );

    drop(pg);
    let pg = crate::common::pg().await;
    pg.batch_execute(&format!("drop schema {schema} cascade; drop role {role};"))
        .await
        .expect("cleanup");
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_user_with_one_database_builds_long_names_repeatedly() {
    let db = unique("dvt_it_lp");
    let user = unique("dvt_lp");
    let _cleanup = Cleanup {
        pg_schemas: vec![],
        maria_dbs: vec![db.clone()],
    };
    let mut maria = maria().await;
    for host in ["localhost", "127.0.0.1", "%"] {
        maria
            .query_drop(format!("create user '{user}'@'{host}'"))
            .await
            .expect("user");
        maria
            .query_drop(format!("grant all on `{db}`.* to '{user}'@'{host}'"))
            .await
            .expect("grant");
    }
    maria
        .query_drop(format!("create database `{db}`"))
        .await
        .expect("database");

    let dir = tempfile::tempdir().expect("tempdir");
    let long = "l".repeat(64);
    project(
        dir.path(),
        &format!("{{type: mysql, server: 127.0.0.1, port: 3306, username: {user}, schema: {db}}}"),
        &long,
    );
    build_three_times(dir.path());
    let rows = maria_rows(&mut maria, &format!("select sum(x) from `{db}`.v")).await;
    assert_eq!(rows, vec![vec![normalise(Some("30"))]]);
    let leftovers = maria_rows(
        &mut maria,
        &format!("select count(*) from information_schema.tables where table_schema = '{db}' and table_name like '%\\_\\_dvt\\_%'"),
    )
    .await;
    assert_eq!(leftovers, vec![vec![normalise(Some("0"))]]);

    write_project(
        dir.path(),
        &[(&format!("models/{}.sql", "z".repeat(65)), "select 1 as a")],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("error[DVT117]"), "{}", run.stderr);

    for host in ["localhost", "127.0.0.1", "%"] {
        let _ = maria
            .query_drop(format!("drop user '{user}'@'{host}'"))
            .await;
    }
}

/// `persist_docs` on MariaDB: the table's comment and the described columns' comments,
/// with the columns' types and nullability unchanged by the `MODIFY COLUMN` that sets
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn persist_docs_writes_comments_on_mariadb() {
    let schema = unique("dvt_it_docs");
    let _cleanup = Cleanup {
        pg_schemas: vec![],
        maria_dbs: vec![schema.clone()],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: maria\n  outputs:\n    maria: {{type: mysql, server: 127.0.0.1, port: 3306, username: root, schema: {schema}}}\n"
    );
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: d\nprofile: p\nmodels:\n  d:\n    +materialized: table\n    +persist_docs: {relation: true, columns: true}\n",
            ),
            ("profiles.yml", &profiles),
            (
                "models/accounts.sql",
                "select cast(1 as signed) as id, 'it''s' as note",
            ),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: accounts\n    description: \"Accounts of {{ var('who', 'everyone') }}\"\n    columns:\n      - name: id\n        description: The key, don't change it\n      - name: note\n        description: ''\n      - name: gone\n        description: not a column of the table\n",
            ),
        ],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    let mut maria = maria().await;
    let table = maria_rows(
        &mut maria,
        &format!(
            "select table_comment from information_schema.tables where table_schema = '{schema}' and table_name = 'accounts'"
        ),
    )
    .await;
    assert_eq!(table, vec![vec!["Accounts of everyone".to_owned()]]);
    let columns = maria_rows(
        &mut maria,
        &format!(
            "select column_name, column_type, is_nullable, column_comment from information_schema.columns \
             where table_schema = '{schema}' and table_name = 'accounts' order by column_name"
        ),
    )
    .await;
    assert_eq!(columns.len(), 2, "{columns:?}");
    assert_eq!(columns[0][0], "id");
    assert_eq!(columns[0][3], "The key, don't change it");
    assert_eq!(columns[1][0], "note");
    assert_eq!(columns[1][3], "");
    // The comment did not change the column's definition.
    assert!(columns[0][1].contains("int"), "{columns:?}");
}
