//! `--empty`: every `ref()` and `source()` reads no rows, pushed down (SQLite, MariaDB)
//! and federated; seeds still load, relations are created with their columns, tests run.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn empty_builds_create_every_relation_without_rows() {
    let db = unique("dvt_it_empty");
    let _cleanup = Cleanup::everywhere(&[&db]);
    let mut maria = maria().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: e\nprofile: e\nmodels:\n  e:\n    +materialized: table\n",
            ),
            (
                "profiles.yml",
                &format!(
                    "e:\n  target: lite\n  outputs:\n    lite: {{type: sqlite, path: data/lite.db}}\n    other: {{type: sqlite, path: data/other.db}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {db}}}\n"
                ),
            ),
            ("seeds/people.csv", "id,name\n1,ann\n2,bo\n3,cy\n"),
            ("seeds/m_people.csv", "id,name\n1,ann\n"),
            (
                "seeds/props.yml",
                "seeds:\n  - name: m_people\n    config: {target: maria}\n",
            ),
            (
                "models/a.sql",
                "select id, upper(name) as name from {{ ref('people') }}",
            ),
            (
                "models/fed.sql",
                "{{ config(target='other') }}select id from {{ ref('a') }}",
            ),
            // Reads a source its parse does not see (the branch renders only when
            // executing): under `--empty` it reads no rows either.
            (
                "models/fed_unseen.sql",
                "-- depends_on: {{ ref('people') }}\n{{ config(target='other') }}{% if execute %}select id from {{ source('raw', 'people') }}{% else %}select 1 as id{% endif %}",
            ),
            (
                "models/sources.yml",
                "sources:\n  - name: raw\n    schema: main\n    connection: lite\n    tables: [{name: people}]\n",
            ),
            (
                "models/on_maria.sql",
                "{{ config(target='maria') }}select id, name from {{ ref('m_people') }}",
            ),
            (
                "models/props.yml",
                "models:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [not_null, unique]\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["build", "--empty"], &[]);
    run.assert_ok();
    let lite = dir.path().join("data/lite.db");
    assert_eq!(
        sqlite_rows(&lite, "select count(*) from people"),
        vec![vec![normalise(Some("3"))]],
        "seeds load in full"
    );
    assert_eq!(
        sqlite_rows(&lite, "select count(*) from a"),
        vec![vec![normalise(Some("0"))]]
    );
    assert_eq!(
        sqlite_rows(
            &lite,
            "select name from pragma_table_info('a') order by cid"
        ),
        vec![vec!["id".to_owned()], vec!["name".to_owned()]]
    );
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/other.db"),
            "select count(*) from fed"
        ),
        vec![vec![normalise(Some("0"))]],
        "federated"
    );
    assert_eq!(
        maria_rows(&mut maria, &format!("select count(*) from `{db}`.on_maria")).await,
        vec![vec![normalise(Some("0"))]]
    );
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/other.db"),
            "select count(*) from fed_unseen"
        ),
        vec![vec![normalise(Some("0"))]],
        "federated, a source the parse did not see"
    );
    let st = statuses(dir.path());
    assert_eq!(st.values().filter(|s| *s == "pass").count(), 2, "{st:?}");
    let compiled = std::fs::read_to_string(dir.path().join("target/compiled/e/models/a.sql"))
        .expect("compiled a");
    assert!(
        compiled.contains("where false limit 0) _dbt_limit_subq_people"),
        "{compiled}"
    );

    // Without the flag, the same models fill.
    dvt(dir.path(), &["run"], &[]).assert_ok();
    assert_eq!(
        sqlite_rows(&lite, "select count(*) from a"),
        vec![vec![normalise(Some("3"))]]
    );
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/other.db"),
            "select count(*) from fed_unseen"
        ),
        vec![vec![normalise(Some("3"))]]
    );
}
