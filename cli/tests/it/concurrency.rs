//! No hang and no crash under concurrency: more threads than connections a pool would
//! hold, two `dvt run`s of one project at once, writers sharing one SQLite file.

use std::process::{Command, Stdio};

use crate::common::*;

fn project_files(models: usize) -> Vec<(String, String)> {
    let mut files = vec![
        ("dbt_project.yml".to_owned(), "name: p\nprofile: p\nmodels:\n  p:\n    +materialized: table\n    maria:\n      +target: maria\n".to_owned()),
        (
            "profiles.yml".to_owned(),
            "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: \"{{ env_var('S') }}\"}\n    maria: {type: mysql, server: 127.0.0.1, username: root, schema: \"{{ env_var('S') }}\"}\n    lite: {type: sqlite, path: data/lite.db}\n".to_owned(),
        ),
        ("seeds/s.csv".to_owned(), "id,v\n1,a\n2,b\n3,c\n".to_owned()),
    ];
    for i in 0..models {
        // Pushdown on PostgreSQL, pushdown on MariaDB, federated into SQLite, and views.
        let (path, sql) = match i % 4 {
            0 => (
                format!("models/pg_{i}.sql"),
                format!("select id, v, {i} as k from {{{{ ref('s') }}}}"),
            ),
            1 => (
                format!("models/maria/m_{i}.sql"),
                format!("select {i} as k, 'x' as v"),
            ),
            2 => (
                format!("models/f_{i}.sql"),
                format!(
                    "{{{{ config(target='lite') }}}}select s.id, s.v, {i} as k from {{{{ ref('s') }}}} s"
                ),
            ),
            _ => (
                format!("models/v_{i}.sql"),
                format!(
                    "{{{{ config(materialized='view') }}}}select * from {{{{ ref('pg_{}') }}}}",
                    i - 3
                ),
            ),
        };
        files.push((path, sql));
    }
    files
}

fn write(dir: &std::path::Path, files: &[(String, String)]) {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_project(dir, &borrowed);
}

#[test]
fn more_threads_than_pooled_connections_and_two_runs_at_once() {
    let schema = unique("dvt_it_conc");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), &project_files(60));
    let envs = [("S", schema.as_str())];
    dvt(dir.path(), &["seed"], &envs).assert_ok();

    // 48 parallel nodes: far more than a connection pool's usual 10.
    let run = dvt(dir.path(), &["run", "--threads", "48"], &envs);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("PASS=60 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=60"),
        "{}",
        run.stdout
    );

    // Two runs of the same project at once: both finish, neither breaks the other's
    // tables, and each writes a whole run_results.json.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_dvt"))
            .current_dir(dir.path())
            .args(["run", "--threads", "8"])
            .env("HOME", dir.path())
            .env("S", &schema)
            .env_remove("DVT_PROFILES_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dvt starts")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("first run"),
        b.wait_with_output().expect("second run"),
    );
    for out in [&a, &b] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(stdout.contains("PASS=60"), "{stdout}");
    }
    let st = statuses(dir.path());
    assert_eq!(st.len(), 60);
    assert!(st.values().all(|s| s == "success"), "{st:?}");
    // Afterwards the project is consistent: one more run passes, nothing staged is left.
    dvt(dir.path(), &["run", "--threads", "4"], &envs).assert_ok();
    let leftovers = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-tAc"])
        .arg(format!(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relname like '%\\_\\_dvt\\_%'"
        ))
        .output()
        .expect("psql runs");
    assert_eq!(String::from_utf8_lossy(&leftovers.stdout).trim(), "0");
}

/// `--threads` beyond the profile's sizes the connection pool: eleven nodes of a
/// one-thread profile, run with `--threads 11`, all hold a connection at once (each
/// counts the run's statements active while it sleeps; a pool of ten would cap it).
#[test]
fn run_threads_size_the_connection_pool() {
    let schema = unique("dvt_it_pool");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = vec![
        (
            "dbt_project.yml".to_owned(),
            "name: q\nprofile: q\nmodels:\n  +materialized: table\n".to_owned(),
        ),
        (
            "profiles.yml".to_owned(),
            format!(
                "q:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}, threads: 1}}\n"
            ),
        ),
    ];
    for i in 0..11 {
        files.push((
            format!("models/wide_{i}.sql"),
            format!(
                "select {i} as id, (select count(*) from pg_stat_activity where state = 'active' and query like '%{schema}%pg_sleep%') as seen from (select pg_sleep(3)) s"
            ),
        ));
    }
    write(dir.path(), &files);
    dvt(dir.path(), &["run", "--threads", "11"], &[]).assert_ok();
    let union = (0..11)
        .map(|i| format!("select seen from \"{schema}\".wide_{i}"))
        .collect::<Vec<_>>()
        .join(" union all ");
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-tAc"])
        .arg(format!("select max(seen) from ({union}) t"))
        .output()
        .expect("psql runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "11");
}
