//! kill -9 of `dvt run` at any moment leaves every destination table at its previous
//! version or its new one, never missing or partial, and the next run succeeds and
//! removes what the killed runs left behind.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::common::*;

const ROWS: i64 = 300_000;

fn spawn_run(
    dir: &std::path::Path,
    n: i64,
    threads: &str,
    envs: &[(&str, &str)],
) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dvt"));
    cmd.current_dir(dir)
        .args([
            "run",
            "--threads",
            threads,
            "--vars",
            &format!("{{n: {n}}}"),
        ])
        .env("HOME", dir)
        .env_remove("DVT_PROFILES_DIR")
        .env_remove("DBT_PROFILES_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("dvt starts")
}

async fn pg_count(pg: &tokio_postgres::Client, sql: &str) -> i64 {
    let row = pg
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.get::<_, i64>(0)
}

async fn maria_count(maria: &mut mysql_async::Conn, sql: &str) -> i64 {
    let v: Option<i64> = maria
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    v.expect("a count")
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_federated_loads_leaves_the_old_or_the_new_table() {
    let schema = unique("dvt_it_kill");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let pg = pg().await;
    let mut maria = maria().await;
    pg.batch_execute(&format!(
        "create schema {schema}; create table {schema}.src as select g as id, md5(g::text) as payload, g * 0.01 as amount from generate_series(1, {ROWS}) g;"
    ))
    .await
    .expect("source table");
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nmodels:\n  p:\n    +materialized: table\n",
            ),
            (
                "profiles.yml",
                "p:\n  target: dest\n  outputs:\n    dest: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: \"{{ env_var('S') }}\"}\n    src: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: \"{{ env_var('S') }}\"}\n    maria: {type: mysql, server: 127.0.0.1, username: root, schema: \"{{ env_var('S') }}\"}\n",
            ),
            (
                "models/sources.yml",
                "version: 2\nsources:\n  - name: raw\n    schema: \"{{ env_var('S') }}\"\n    connection: src\n    tables: [{name: src}]\n",
            ),
            (
                "models/to_pg.sql",
                "select id, payload, amount from {{ source('raw', 'src') }} where id <= {{ var('n') }}",
            ),
            (
                "models/to_maria.sql",
                "{{ config(target='maria') }}select id, payload, amount from {{ source('raw', 'src') }} where id <= {{ var('n') }}",
            ),
        ],
    );
    let envs = [("S", schema.as_str())];
    // The previous version: 1,000 rows in each destination.
    let run = dvt(dir.path(), &["run", "--vars", "{n: 1000}"], &envs);
    run.assert_ok();
    assert!(run.stdout.contains("[federated]"), "{}", run.stdout);

    let pg_sql = format!("select count(*) from {schema}.to_pg");
    let maria_sql = format!("select count(*) from `{schema}`.to_maria");
    let staged_sql = format!(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relname like 'to\\_pg\\_\\_dvt\\_tmp%'"
    );
    // The staged table is built inside the replace's transaction: only the load's own
    // statement shows that it runs.
    let copying_sql = "select count(*) from pg_stat_activity where state = 'active' and query like 'COPY %to\\_pg\\_\\_dvt\\_tmp%'";
    // Kill points, by what the run has reached: extracting into the staging folder; the
    // staged table just created (COPY starting); half a second into the load; the first
    // destination swapped while the other still loads.
    #[derive(Debug, Clone, Copy)]
    enum Point {
        Extracting,
        LoadStarted,
        Loading,
        OneSwapped,
    }
    let mut killed_at = Vec::new();
    for point in [
        Point::Extracting,
        Point::LoadStarted,
        Point::Loading,
        Point::OneSwapped,
    ] {
        // To catch one destination swapped and the other not yet, the models build one
        // after the other: concurrent loads may both finish between two polls.
        let threads = match point {
            Point::OneSwapped => "1",
            _ => "2",
        };
        let mut child = spawn_run(dir.path(), ROWS, threads, &envs);
        let started = Instant::now();
        let mut reached_at: Option<Instant> = None;
        loop {
            // Readers watch both destinations all along: never missing, never partial.
            let (p, m) = (
                pg_count(&pg, &pg_sql).await,
                maria_count(&mut maria, &maria_sql).await,
            );
            for n in [p, m] {
                assert!(
                    n == 1000 || n == ROWS,
                    "partial table at {point:?}: {n} rows"
                );
            }
            // Nor does anyone see PostgreSQL's staged table, of this run or a killed one.
            assert_eq!(
                pg_count(&pg, &staged_sql).await,
                0,
                "a staged table visible at {point:?}"
            );
            let reached = match point {
                Point::Extracting => std::fs::read_dir(dir.path().join(".dvt/staging"))
                    .map(|d| d.count() > 0)
                    .unwrap_or(false),
                Point::LoadStarted | Point::Loading => pg_count(&pg, copying_sql).await > 0,
                // Either destination may come first.
                Point::OneSwapped => (p == ROWS) != (m == ROWS),
            };
            if reached && reached_at.is_none() {
                reached_at = Some(Instant::now());
            }
            let wait = match point {
                Point::Loading => Duration::from_millis(500),
                _ => Duration::ZERO,
            };
            if reached_at.is_some_and(|t| t.elapsed() >= wait) {
                break;
            }
            assert!(
                child.try_wait().expect("poll").is_none(),
                "the run ended before reaching {point:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{point:?} never reached"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().expect("SIGKILL"); // std's kill sends SIGKILL on Unix
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "the run was killed at {point:?}");
        killed_at.push(format!("{point:?} after {:?}", started.elapsed()));
        for n in [
            pg_count(&pg, &pg_sql).await,
            maria_count(&mut maria, &maria_sql).await,
        ] {
            assert!(
                n == 1000 || n == ROWS,
                "after a kill at {point:?}: {n} rows"
            );
        }
    }
    eprintln!("killed at: {killed_at:?}");
    assert!(
        dir.path()
            .join(".dvt/runs")
            .read_dir()
            .map(|d| d.count())
            .unwrap_or(0)
            > 0,
        "killed runs leave their journals"
    );

    // The next run succeeds without manual cleanup and removes the killed runs' leftovers.
    let run = dvt(
        dir.path(),
        &["run", "--threads", "2", "--vars", &format!("{{n: {ROWS}}}")],
        &envs,
    );
    run.assert_ok();
    assert!(run.stdout.contains("Cleaned up after"), "{}", run.stdout);
    assert_eq!(pg_count(&pg, &pg_sql).await, ROWS);
    assert_eq!(maria_count(&mut maria, &maria_sql).await, ROWS);
    let pg_left = pg_count(
        &pg,
        &format!("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relname like '%\\_\\_dvt\\_%'"),
    )
    .await;
    assert_eq!(pg_left, 0, "staged relations left on PostgreSQL");
    let maria_left = maria_count(
        &mut maria,
        &format!("select count(*) from information_schema.tables where table_schema = '{schema}' and table_name like '%\\_\\_dvt\\_%'"),
    )
    .await;
    assert_eq!(maria_left, 0, "staged relations left on MariaDB");
    let journals = std::fs::read_dir(dir.path().join(".dvt/runs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(journals, 0, "run journals left behind");
    let staged = std::fs::read_dir(dir.path().join(".dvt/staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "staged extracts left behind");
}
