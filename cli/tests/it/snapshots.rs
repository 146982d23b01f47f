//! Snapshots on every target and on both paths: the timestamp strategy with
//! `hard_deletes: invalidate`, the check strategy with `new_record`, over three versions
//! of a seed (a row changes, one appears, one disappears). The expected history is
//! worked out by hand from the seed.

use crate::common::*;

const CUSTOMERS: &str = "id,name,plan,first_version,last_version,updated_at
1,ann,free,1,1,2021-01-01 00:00:00
1,ann,pro,2,,2021-02-01 00:00:00
2,bob,free,1,2,2021-01-02 00:00:00
3,cy,free,2,,2021-02-03 00:00:00
";

const SNAPSHOTS: &str = "{% snapshot snap_ts %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate') }}
select id, name, plan, updated_at from {{ ref('src') }}
{% endsnapshot %}

{% snapshot snap_check %}
{{ config(unique_key='id', strategy='check', check_cols=['plan'], hard_deletes='new_record') }}
select id, plan from {{ ref('src') }}
{% endsnapshot %}
";

async fn three_versions(snap_target: &str, model_target: &str) {
    let pg_schema = unique("dvt_it_snap");
    let maria_db = unique("dvt_it_snap");
    let _cleanup = Cleanup {
        pg_schemas: vec![pg_schema.clone()],
        maria_dbs: vec![maria_db.clone()],
    };
    let pg = pg().await;
    let mut maria = maria().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: {model_target}\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {pg_schema}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {maria_db}}}\n    lite: {{type: sqlite, path: data/lite.db}}\n"
    );
    let project = format!("name: sn\nprofile: p\nsnapshots:\n  sn:\n    +target: {snap_target}\n");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", project.as_str()),
            ("profiles.yml", profiles.as_str()),
            ("seeds/customers.csv", CUSTOMERS),
            (
                "models/src.sql",
                "select id, name, plan, updated_at from {{ ref('customers') }} where first_version <= {{ var('v') }} and (last_version is null or last_version >= {{ var('v') }})\n",
            ),
            ("snapshots/customers.sql", SNAPSHOTS),
        ],
    );
    let where_ = format!("snapshots on {snap_target}, models on {model_target}");
    let ls = dvt(
        dir.path(),
        &["ls", "--resource-type", "snapshot", "--vars", "{v: 1}"],
        &[],
    );
    ls.assert_ok();
    assert_eq!(ls.stdout.lines().count(), 2, "{where_}: {}", ls.stdout);
    assert_eq!(
        ls.stdout.contains("federated"),
        snap_target != model_target,
        "{where_}: {}",
        ls.stdout
    );
    dvt(dir.path(), &["build", "--vars", "{v: 1}"], &[]).assert_ok();
    for v in [2, 3] {
        let vars = format!("{{v: {v}}}");
        dvt(dir.path(), &["run", "--vars", vars.as_str()], &[]).assert_ok();
        let snap = dvt(dir.path(), &["snapshot", "--vars", vars.as_str()], &[]);
        snap.assert_ok();
        assert!(
            snap.stdout.contains("snapshot snap_ts"),
            "{where_}: {}",
            snap.stdout
        );
    }

    let lite = dir.path().join("data/lite.db");
    let rows = |table: &str, cols: &str| {
        let sql_pg = format!("select {cols} from \"{pg_schema}\".\"{table}\"");
        let sql_maria = format!("select {cols} from `{maria_db}`.`{table}`");
        let sql_lite = format!("select {cols} from \"{table}\"");
        (sql_pg, sql_maria, sql_lite)
    };
    let mut read = async |table: &str, cols: &str| {
        let (p, m, l) = rows(table, cols);
        match snap_target {
            "pg" => pg_rows(&pg, &p).await,
            "maria" => maria_rows(&mut maria, &m).await,
            _ => sqlite_rows(&lite, &l),
        }
    };
    let current = "case when dbt_valid_to is null then 1 else 0 end";
    let want = |rows: &[&[&str]]| {
        let mut v: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| normalise(Some(c))).collect())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        read("snap_ts", &format!("id, plan, {current}")).await,
        want(&[
            &["1", "free", "0"],
            &["1", "pro", "1"],
            &["2", "free", "0"],
            &["3", "free", "1"],
        ]),
        "{where_}: timestamp strategy, invalidated delete"
    );
    // The changed row ends where its successor starts (its `updated_at`).
    let ended = read("snap_ts", "plan, dbt_valid_to").await;
    let ended: Vec<String> = ended
        .iter()
        .filter(|r| r[0] == "free" && r[1] != "NULL")
        .map(|r| r[1].replace('T', " ").chars().take(19).collect())
        .collect();
    assert!(
        ended.contains(&"2021-02-01 00:00:00".to_owned()),
        "{where_}: {ended:?}"
    );
    assert_eq!(
        read(
            "snap_check",
            &format!("id, plan, {current}, dbt_is_deleted")
        )
        .await,
        want(&[
            &["1", "free", "0", "False"],
            &["1", "pro", "1", "False"],
            &["2", "free", "0", "False"],
            &["2", "free", "1", "True"],
            &["3", "free", "1", "False"],
        ]),
        "{where_}: check strategy, deletion recorded as a new row"
    );
    // Every version has its own id.
    assert_eq!(
        read("snap_check", "count(distinct dbt_scd_id)").await,
        want(&[&["5"]]),
        "{where_}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_on_postgres() {
    three_versions("pg", "pg").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_on_mariadb() {
    three_versions("maria", "maria").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_on_sqlite() {
    three_versions("lite", "lite").await;
}

/// The snapshot query reads a MariaDB model; the snapshot lives on PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn federated_snapshot_into_postgres() {
    three_versions("pg", "maria").await;
}

/// The snapshot query reads a PostgreSQL model; the snapshot lives on SQLite.
#[tokio::test(flavor = "multi_thread")]
async fn federated_snapshot_into_sqlite() {
    three_versions("lite", "pg").await;
}
