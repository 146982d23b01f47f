//! Incremental models on every target and on both paths: `append`, `merge`,
//! `delete+insert` with a list key, `on_schema_change: sync_all_columns`, `fail`, and
//! a keyless `microbatch`, built over three batches of a seed, then `--full-refresh`.
//! The expected rows are worked out by hand from the seed below.

use std::path::Path;

use crate::common::*;

const EVENTS: &str = "id,grp,amount,batch,ts
1,a,1.5,1,2020-01-01 10:00:00
2,a,2.5,1,2020-01-01 11:00:00
3,b,3.5,1,2020-01-02 09:00:00
2,a,20.5,2,2020-01-03 10:00:00
4,b,4.5,2,2020-01-03 11:00:00
3,b,30.5,3,2020-01-04 08:00:00
";

fn models(model_target: &str, seed_target: &str) -> Vec<(String, String)> {
    let seen = "batch <= {{ var('batch') }}";
    vec![
        (
            "seeds/props.yml".into(),
            format!(
                "version: 2\nseeds:\n  - name: events\n    config: {{target: {seed_target}, event_time: ts}}\n"
            ),
        ),
        (
            "models/inc_append.sql".into(),
            format!(
                "{{{{ config(materialized='incremental', incremental_strategy='append') }}}}\nselect id, amount, ts from {{{{ ref('events') }}}} where {seen}\n{{% if is_incremental() %}} and ts > (select max(ts) from {{{{ this }}}}) {{% endif %}}\n"
            ),
        ),
        (
            "models/inc_merge.sql".into(),
            format!(
                "{{{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}}}\nselect id, amount, batch from {{{{ ref('events') }}}}\n{{% if is_incremental() %}} where batch = {{{{ var('batch') }}}} {{% else %}} where {seen} {{% endif %}}\n"
            ),
        ),
        (
            "models/inc_di.sql".into(),
            format!(
                "{{{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['id', 'grp']) }}}}\nselect id, grp, amount from {{{{ ref('events') }}}}\n{{% if is_incremental() %}} where batch = {{{{ var('batch') }}}} {{% else %}} where {seen} {{% endif %}}\n"
            ),
        ),
        (
            "models/inc_sync.sql".into(),
            format!(
                "{{{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id', on_schema_change='sync_all_columns') }}}}\nselect id, {{% if var('batch') < 2 %}}amount{{% else %}}grp{{% endif %}} from {{{{ ref('events') }}}}\n{{% if is_incremental() %}} where batch = {{{{ var('batch') }}}} {{% else %}} where {seen} {{% endif %}}\n"
            ),
        ),
        (
            "models/inc_fail.sql".into(),
            "{{ config(materialized='incremental', unique_key='id', on_schema_change='fail') }}\nselect id{% if var('batch') >= 3 %}, grp{% endif %} from {{ ref('events') }}\n".into(),
        ),
        (
            "models/inc_mb.sql".into(),
            format!(
                "{{{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='ts', begin='2020-01-01', batch_size='day') }}}}\n\
                 {{% if execute %}}{{% set n = run_query('select count(*) from ' ~ ref('events')).columns[0].values()[0] %}}{{% else %}}{{% set n = -1 %}}{{% endif %}}\n\
                 select id, amount, ts, {{{{ n }}}} as window_rows from {{{{ ref('events') }}}} where {seen}\n"
            ),
        ),
        (
            "dbt_project.yml".into(),
            format!("name: inc\nprofile: p\nmodels:\n  inc:\n    +target: {model_target}\n"),
        ),
    ]
}

/// Reads a relation's rows on whichever server the model lives.
struct Reader<'a> {
    pg: &'a tokio_postgres::Client,
    maria: &'a mut mysql_async::Conn,
    pg_schema: &'a str,
    maria_db: &'a str,
    lite: &'a Path,
}

impl Reader<'_> {
    async fn rows(&mut self, target: &str, table: &str, cols: &str) -> Vec<Vec<String>> {
        match target {
            "pg" => {
                pg_rows(
                    self.pg,
                    &format!("select {cols} from \"{}\".\"{table}\"", self.pg_schema),
                )
                .await
            }
            "maria" => {
                maria_rows(
                    self.maria,
                    &format!("select {cols} from `{}`.`{table}`", self.maria_db),
                )
                .await
            }
            _ => sqlite_rows(self.lite, &format!("select {cols} from \"{table}\"")),
        }
    }

    async fn columns(&mut self, target: &str, table: &str) -> Vec<String> {
        let rows = match target {
            "pg" => {
                pg_rows(
                    self.pg,
                    &format!(
                        "select ordinal_position, column_name from information_schema.columns where table_schema = '{}' and table_name = '{table}'",
                        self.pg_schema
                    ),
                )
                .await
            }
            "maria" => {
                maria_rows(
                    self.maria,
                    &format!(
                        "select ordinal_position, column_name from information_schema.columns where table_schema = '{}' and table_name = '{table}'",
                        self.maria_db
                    ),
                )
                .await
            }
            _ => sqlite_rows(
                self.lite,
                &format!("select cid, name from pragma_table_info('{table}')"),
            ),
        };
        let mut rows = rows;
        rows.sort_by(|a, b| {
            a[0].parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b[0].parse::<f64>().unwrap_or(0.0))
        });
        rows.into_iter().map(|r| r[1].to_lowercase()).collect()
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| normalise(Some(c))).collect()
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// Timestamps as each server prints them, reduced to `YYYY-MM-DD HH:MM:SS`.
fn ts_rows(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    sorted(
        rows.into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|c| c.replace('T', " ").chars().take(19).collect())
                    .collect()
            })
            .collect(),
    )
}

async fn three_batches(model_target: &str, seed_target: &str) {
    let pg_schema = unique("dvt_it_inc");
    let maria_db = unique("dvt_it_inc");
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
    let mut files = models(model_target, seed_target);
    files.push(("profiles.yml".into(), profiles));
    files.push(("seeds/events.csv".into(), EVENTS.into()));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_project(dir.path(), &files);
    let window = [
        "--event-time-start",
        "2020-01-01",
        "--event-time-end",
        "2020-01-05",
    ];
    let step = |cmd: &str, batch: u32, extra: &[&str]| {
        let vars = format!("{{batch: {batch}}}");
        let mut args = vec![cmd, "--vars", vars.as_str()];
        args.extend(window);
        args.extend(extra);
        dvt(dir.path(), &args, &[])
    };
    let where_ = format!("{model_target} models, seed on {seed_target}");

    step("build", 1, &[]).assert_ok();
    let ls = dvt(
        dir.path(),
        &["ls", "--select", "inc_append", "--vars", "{batch: 1}"],
        &[],
    );
    ls.assert_ok();
    let federated = model_target != seed_target;
    assert_eq!(
        ls.stdout.contains("federated"),
        federated,
        "{where_}: {}",
        ls.stdout
    );
    let run = step("run", 2, &[]);
    run.assert_ok();
    let run = step("run", 3, &[]);
    assert_eq!(run.code, 1, "{where_}: {}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("error[DVT309]") && run.stderr.contains("grp"),
        "{where_}: {}",
        run.stderr
    );

    let lite = dir.path().join("data/lite.db");
    let mut r = Reader {
        pg: &pg,
        maria: &mut maria,
        pg_schema: &pg_schema,
        maria_db: &maria_db,
        lite: &lite,
    };
    let all_versions = ts_rows(vec![
        row(&["1", "1.5", "2020-01-01 10:00:00"]),
        row(&["2", "2.5", "2020-01-01 11:00:00"]),
        row(&["3", "3.5", "2020-01-02 09:00:00"]),
        row(&["2", "20.5", "2020-01-03 10:00:00"]),
        row(&["4", "4.5", "2020-01-03 11:00:00"]),
        row(&["3", "30.5", "2020-01-04 08:00:00"]),
    ]);
    let t = model_target;
    assert_eq!(
        ts_rows(r.rows(t, "inc_append", "id, amount, ts").await),
        all_versions,
        "{where_}: append keeps every version"
    );
    assert_eq!(
        ts_rows(r.rows(t, "inc_mb", "id, amount, ts").await),
        all_versions,
        "{where_}: each microbatch replaced its own day"
    );
    // A batch's `run_query` over its input reads the same window as its SQL (on the
    // federated path too, where the query runs on the input's target).
    assert_eq!(
        sorted(r.rows(t, "inc_mb", "id, window_rows").await),
        sorted(vec![
            row(&["1", "2"]),
            row(&["2", "2"]),
            row(&["2", "2"]),
            row(&["3", "1"]),
            row(&["3", "1"]),
            row(&["4", "2"]),
        ]),
        "{where_}: run_query saw each batch's window"
    );
    assert_eq!(
        r.rows(t, "inc_merge", "id, amount, batch").await,
        sorted(vec![
            row(&["1", "1.5", "1"]),
            row(&["2", "20.5", "2"]),
            row(&["3", "30.5", "3"]),
            row(&["4", "4.5", "2"]),
        ]),
        "{where_}: merge keeps the latest version of each id"
    );
    assert_eq!(
        r.rows(t, "inc_di", "id, grp, amount").await,
        sorted(vec![
            row(&["1", "a", "1.5"]),
            row(&["2", "a", "20.5"]),
            row(&["3", "b", "30.5"]),
            row(&["4", "b", "4.5"]),
        ]),
        "{where_}: delete+insert on (id, grp)"
    );
    assert_eq!(
        r.columns(t, "inc_sync").await,
        vec!["id", "grp"],
        "{where_}: sync_all_columns added grp and dropped amount"
    );
    assert_eq!(
        r.rows(t, "inc_sync", "id, grp").await,
        sorted(vec![
            row(&["1", "NULL"]),
            row(&["2", "a"]),
            row(&["3", "b"]),
            row(&["4", "b"]),
        ]),
        "{where_}"
    );
    // The failed model kept its table as it was.
    assert_eq!(r.columns(t, "inc_fail").await, vec!["id"], "{where_}");

    // A full refresh rebuilds from scratch: the merge model sees every batch again
    // (and so every version; the first build filters nothing on `batch`).
    step(
        "run",
        3,
        &["--full-refresh", "--select", "inc_merge", "inc_fail"],
    )
    .assert_ok();
    assert_eq!(
        r.rows(t, "inc_merge", "count(*)").await,
        vec![row(&["6"])],
        "{where_}: full refresh rebuilt inc_merge"
    );
    assert_eq!(
        r.columns(t, "inc_fail").await,
        vec!["id", "grp"],
        "{where_}"
    );
    // No staged table is left behind.
    let leftovers = match t {
        "pg" => {
            pg_rows(
                &pg,
                &format!(
                    "select table_name from information_schema.tables where table_schema = '{pg_schema}' and table_name like '%dvt_%'"
                ),
            )
            .await
        }
        "maria" => {
            maria_rows(
                r.maria,
                &format!(
                    "select table_name from information_schema.tables where table_schema = '{maria_db}' and table_name like '%dvt\\_%'"
                ),
            )
            .await
        }
        _ => sqlite_rows(
            &lite,
            "select name from sqlite_master where name like '%dvt_%'",
        ),
    };
    assert!(leftovers.is_empty(), "{where_}: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_models_on_postgres() {
    three_batches("pg", "pg").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_models_on_mariadb() {
    three_batches("maria", "maria").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_models_on_sqlite() {
    three_batches("lite", "lite").await;
}

/// The seed on SQLite, the models on PostgreSQL: federated, `{{ this }}` read back from
/// PostgreSQL, the new rows loaded into a staged table there and merged.
#[tokio::test(flavor = "multi_thread")]
async fn federated_incremental_models_into_postgres() {
    three_batches("pg", "lite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn federated_incremental_models_into_mariadb() {
    three_batches("maria", "pg").await;
}

/// On PostgreSQL a model's build is one transaction, as dbt-postgres's materializations
/// are: an incremental build whose rows fail after `sync_all_columns` altered the table
/// leaves the table as it was, its columns included, and no staged table behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_incremental_build_rolls_back_its_schema_change() {
    let schema = unique("dvt_it_inc_txn");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The first build keeps `id` not null; the second brings a column and a null id.
    let model = "{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='sync_all_columns', post_hook='alter table {{ this }} alter column id set not null') }}\n\
        {% if var('step') == 1 %}select 1 as id, 'a' as label{% else %}select cast(null as integer) as id, 'b' as label, 'new' as extra{% endif %}\n";
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: it\nprofile: it\n"),
            (
                "profiles.yml",
                &format!(
                    "it:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}, threads: 1}}\n"
                ),
            ),
            ("models/inc_txn.sql", model),
        ],
    );
    dvt(dir.path(), &["run", "--vars", "{step: 1}"], &[]).assert_ok();
    let failed = dvt(dir.path(), &["run", "--vars", "{step: 2}"], &[]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stderr.contains("null value in column"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        pg_rows(
            &pg,
            &format!(
                "select string_agg(column_name, ',' order by ordinal_position) from information_schema.columns where table_schema = '{schema}' and table_name = 'inc_txn'"
            )
        )
        .await,
        vec![vec!["id,label".to_owned()]]
    );
    assert_eq!(
        pg_rows(&pg, &format!("select id, label from \"{schema}\".inc_txn")).await,
        vec![vec![normalise(Some("1")), normalise(Some("a"))]]
    );
    assert_eq!(
        pg_rows(
            &pg,
            &format!("select count(*) from pg_tables where schemaname = '{schema}'")
        )
        .await,
        vec![vec![normalise(Some("1"))]]
    );
}
