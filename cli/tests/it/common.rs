//! Shared harness: run the binary, write projects, talk to the servers, clean up.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const PG_HINT: &str = "PostgreSQL must run on 127.0.0.1:5432 (trust auth, user postgres, db test); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`";
pub(crate) const MARIA_HINT: &str = "MariaDB must run on 127.0.0.1:3306 (root, no password); start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`";

/// The result of one `dvt` invocation.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub(crate) fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "dvt failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `dvt` in `dir` with `envs`; HOME points at `dir` so no user profile leaks in.
pub(crate) fn dvt(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dvt"));
    cmd.current_dir(dir)
        .args(args)
        .env("HOME", dir)
        .env_remove("DVT_PROFILES_DIR")
        .env_remove("DBT_PROFILES_DIR")
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the dvt binary runs");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "dvt panicked:\n{}",
        run.stderr
    );
    run
}

/// Writes `files` (relative path, content) under `root`.
pub(crate) fn write_project(root: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("relative file has a parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write project file");
    }
}

/// A unique lowercase name for a schema or database.
pub(crate) fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..10])
}

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies a folder tree (the examples), skipping build outputs.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read example") {
        let e = e.expect("entry");
        let name = e.file_name();
        if ["target", "data", ".dvt"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(&name));
        } else {
            std::fs::copy(&p, to.join(&name)).expect("copy");
        }
    }
}

/// A JSON artifact of a project's `target/` (`run_results.json`, `manifest.json`).
pub(crate) fn target_json(project: &Path, file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(project.join("target").join(file))
        .unwrap_or_else(|e| panic!("{file} written: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is JSON: {e}"))
}

/// `run_results.json` of a project: unique id -> status.
pub(crate) fn statuses(project: &Path) -> std::collections::BTreeMap<String, String> {
    let v = target_json(project, "run_results.json");
    v["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub(crate) async fn pg() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test",
        tokio_postgres::NoTls,
    )
    .await
    .unwrap_or_else(|e| panic!("{PG_HINT}: {e}"));
    tokio::spawn(conn);
    client
}

pub(crate) async fn maria() -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"));
    mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("{MARIA_HINT}: {e}"))
}

/// Rows of a PostgreSQL query as normalised text, sorted.
pub(crate) async fn pg_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    let msgs = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows: Vec<Vec<String>> = msgs
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| normalise(r.get(i))).collect())
            }
            _ => None,
        })
        .collect();
    rows.sort();
    rows
}

/// Rows of a MariaDB query as normalised text, sorted.
pub(crate) async fn maria_rows(conn: &mut mysql_async::Conn, sql: &str) -> Vec<Vec<String>> {
    use mysql_async::prelude::Queryable;
    let result: Vec<mysql_async::Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows: Vec<Vec<String>> = result
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::NULL => normalise(None),
                    mysql_async::Value::Bytes(b) => normalise(Some(&String::from_utf8_lossy(&b))),
                    other => normalise(Some(other.as_sql(true).trim_matches('\''))),
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// Text of a cell, with numbers in one canonical form so `12.50`, `12.5` and
/// `12.500000` compare equal across engines.
pub(crate) fn normalise(cell: Option<&str>) -> String {
    match cell {
        None => "NULL".into(),
        Some(s) => match s.parse::<f64>() {
            Ok(f) => format!("{f:.4}"),
            Err(_) => s.to_owned(),
        },
    }
}

/// Drops schemas and databases when a test ends, even when it fails.
pub(crate) struct Cleanup {
    pub pg_schemas: Vec<String>,
    pub maria_dbs: Vec<String>,
}

impl Cleanup {
    /// Drops each name as a PostgreSQL schema and as a MariaDB database.
    pub(crate) fn everywhere(names: &[&String]) -> Self {
        let names: Vec<String> = names.iter().map(|n| (*n).clone()).collect();
        Cleanup {
            pg_schemas: names.clone(),
            maria_dbs: names,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for s in &self.pg_schemas {
            let _ = Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "test",
                    "-q",
                    "-c",
                ])
                .arg(format!("drop schema if exists \"{s}\" cascade"))
                .output();
        }
        for d in &self.maria_dbs {
            let _ = Command::new("mariadb")
                .args(["-h127.0.0.1", "-uroot", "-e"])
                .arg(format!("drop database if exists `{d}`"))
                .output();
        }
    }
}

/// The first value of an SQLite query, as text, read outside DVT (Python's sqlite3).
pub(crate) fn sqlite_scalar(db: &Path, sql: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])")
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A count (or any integer) from an SQLite file.
pub(crate) fn sqlite_count(db: &Path, sql: &str) -> i64 {
    sqlite_scalar(db, sql).parse().expect("an integer")
}

/// Rows of an SQLite query as normalised text, sorted, read outside DVT (Python's sqlite3).
pub(crate) fn sqlite_rows(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import json,sqlite3,sys;print(json.dumps([[None if v is None else str(v) for v in r] for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]))")
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<Option<String>>> =
        serde_json::from_slice(&out.stdout).expect("python prints JSON rows");
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| normalise(c.as_deref())).collect())
        .collect();
    rows.sort();
    rows
}
