//! dbt's cross-database macros (`dbt.dateadd`, `dbt.listagg`, ...), DVT's versions in
//! `core/macros/cross_db.sql`: PostgreSQL output equal to dbt-postgres's goldens
//! (`golden`), the same values on PostgreSQL, MariaDB and SQLite (`engines`), and a
//! project's own macros winning as dbt's dispatch rules say (`overrides`).
//!
//! The databases are real: `psql`, `mariadb` and Python's `sqlite3` run the SQL, each
//! test in a schema, database or file of its own. A server that is not running fails
//! the test with a message saying how to start it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dvt_core::compile::CompileOptions;
use dvt_core::jinja::{Database, DbColumn, QueryTable};
use dvt_core::manifest::{LoadOptions, Manifest};
use dvt_core::profile::ProfileLookup;

mod engines;
mod golden;
mod overrides;

const PG_HINT: &str = "PostgreSQL must run on 127.0.0.1:5432 (trust auth, user postgres, db test); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (`.ci/run` does)";
const MARIADB_HINT: &str = "MariaDB must run on 127.0.0.1:3306 (user root, no password); start it with `install -d -o mysql -g mysql /run/mysqld && start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` (`.ci/run` does)";
const SQLITE_HINT: &str = "`python3` with its `sqlite3` module must be on PATH";

/// The databases DVT's adapters speak to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Postgres,
    Mariadb,
    Sqlite,
}

impl Engine {
    const ALL: [Engine; 3] = [Engine::Postgres, Engine::Mariadb, Engine::Sqlite];

    /// The output of the test profile that points at this engine.
    fn target(self) -> &'static str {
        match self {
            Engine::Postgres => "pg",
            Engine::Mariadb => "my",
            Engine::Sqlite => "lite",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Engine::Postgres => PG_HINT,
            Engine::Mariadb => MARIADB_HINT,
            Engine::Sqlite => SQLITE_HINT,
        }
    }
}

/// Rows of a query's result, every value as the database's client prints it (`None`
/// for null).
type Rows = Vec<Vec<Option<String>>>;

/// A schema (PostgreSQL), database (MariaDB) or file (SQLite) of one test, named
/// uniquely so tests can run at once; dropped with the value.
#[derive(Debug)]
struct Scratch {
    engine: Engine,
    name: String,
    /// The SQLite file's folder (unused by the servers).
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(engine: Engine) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dvt_crossdb_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = Scratch {
            engine,
            name,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let create = match engine {
            Engine::Postgres => format!("create schema {}", scratch.name),
            Engine::Mariadb => format!("create database {}", scratch.name),
            Engine::Sqlite => "create table dvt_created (x integer)".to_owned(),
        };
        scratch.run_on(create.as_str(), None).unwrap_or_else(|e| {
            panic!(
                "cannot create a scratch space on {engine:?}: {e}\nhint: {}",
                engine.hint()
            )
        });
        scratch
    }

    fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("crossdb.sqlite")
    }

    /// Runs `statements` (no result wanted).
    fn exec(&self, statements: &str) {
        self.run_on(statements, Some(&self.name))
            .unwrap_or_else(|e| panic!("{:?}: {e}\n--- SQL\n{statements}", self.engine));
    }

    /// Runs one query and returns its rows.
    fn query(&self, sql: &str) -> Result<Rows, String> {
        self.run_on(sql, Some(&self.name))
    }

    /// Runs `sql` through the engine's client, in the scratch space when `inside` is
    /// given (PostgreSQL's search path, MariaDB's default database).
    fn run_on(&self, sql: &str, inside: Option<&str>) -> Result<Rows, String> {
        let mut cmd = match self.engine {
            Engine::Postgres => {
                let mut c = Command::new("psql");
                // Timestamps with a zone print in UTC; text goes both ways as UTF-8.
                c.env("PGTZ", "UTC").env("PGCLIENTENCODING", "UTF8");
                c.args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test"])
                    .args(["-X", "-q", "-A", "-t", "-F", "\t", "-P", "null=\\N"])
                    .args(["-v", "ON_ERROR_STOP=1"]);
                if let Some(schema) = inside {
                    c.args(["-c", &format!("set search_path to {schema}")]);
                }
                c.args(["-c", sql]);
                c
            }
            Engine::Mariadb => {
                let mut c = Command::new("mariadb");
                // `-r`: values print as they are, without batch mode's `\\` escapes.
                c.args(["-h127.0.0.1", "-uroot", "-N", "-B", "-r"])
                    .arg("--default-character-set=utf8mb4");
                if let Some(db) = inside {
                    c.args(["-D", db]);
                }
                c.args(["-e", sql]);
                c
            }
            Engine::Sqlite => {
                let mut c = Command::new("python3");
                c.args(["-c", SQLITE_RUNNER])
                    .arg(self.sqlite_file())
                    .arg(sql);
                c
            }
        };
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run the client: {e}; {}", self.engine.hint()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(stderr.trim().to_owned());
        }
        let null = match self.engine {
            Engine::Mariadb => "NULL",
            Engine::Postgres | Engine::Sqlite => "\\N",
        };
        Ok(stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split('\t')
                    .map(|v| (v != null).then(|| v.to_owned()))
                    .collect()
            })
            .collect())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let drop = match self.engine {
            Engine::Postgres => format!("drop schema if exists {} cascade", self.name),
            Engine::Mariadb => format!("drop database if exists {}", self.name),
            // The file goes with its temporary folder.
            Engine::Sqlite => return,
        };
        // A failure here leaves a uniquely named schema behind; it must not hide the
        // test's own outcome, so it is only reported.
        if let Err(e) = self.run_on(&drop, None) {
            eprintln!("could not drop {}: {e}", self.name);
        }
    }
}

/// Runs the SQL of argv[2] on the SQLite file argv[1]: several statements as a script,
/// one query printing its rows tab-separated (`\N` for null). `md5` is registered as
/// DVT's SQLite connections register it (hex digest of the text's UTF-8).
const SQLITE_RUNNER: &str = r#"
import hashlib, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.create_function("md5", 1, lambda v: None if v is None else hashlib.md5(str(v).encode()).hexdigest(), deterministic=True)
sql = sys.argv[2]
if sqlite3.complete_statement(sql) and sql.strip().rstrip(";").count(";") > 0:
    con.executescript(sql)
else:
    for row in con.execute(sql).fetchall():
        print("\t".join("\\N" if v is None else str(v) for v in row))
con.commit()
"#;

/// Python's SQLite, which the SQLite checks run on: (major, minor).
fn sqlite_version() -> (u32, u32) {
    let out = Command::new("python3")
        .args(["-c", "import sqlite3; print(sqlite3.sqlite_version)"])
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}; {SQLITE_HINT}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A scratch space as the database `statement` and `run_query` query while a model
/// compiles (`dbt.date_spine` asks it how many periods to generate, as dbt does).
#[derive(Debug)]
struct ScratchDatabase(Arc<Scratch>);

impl Database for ScratchDatabase {
    fn run_query(&self, _target: &str, sql: &str) -> Result<QueryTable, String> {
        let rows = self.0.query(sql)?;
        let width = rows.first().map_or(0, Vec::len);
        Ok(QueryTable {
            columns: (0..width).map(|i| format!("column_{i}")).collect(),
            types: vec!["text".to_owned(); width],
            rows: rows
                .into_iter()
                .map(|row| row.into_iter().map(json_cell).collect())
                .collect(),
            code: "SELECT".to_owned(),
        })
    }

    fn relation_type(&self, _: &str, _: &str, _: &str) -> Result<Option<String>, String> {
        Err("the cross-database tests' models look up no relations".to_owned())
    }

    fn columns(&self, _: &str, _: &str, _: &str) -> Result<Vec<DbColumn>, String> {
        Err("the cross-database tests' models look up no columns".to_owned())
    }
}

/// A printed value as the JSON the executor's adapters return: numbers stay numbers.
fn json_cell(v: Option<String>) -> serde_json::Value {
    match v {
        None => serde_json::Value::Null,
        Some(s) => {
            if let Ok(i) = s.parse::<i64>() {
                serde_json::Value::from(i)
            } else if let Some(f) = s.parse::<f64>().ok().filter(|f| f.is_finite()) {
                serde_json::Value::from(f)
            } else {
                serde_json::Value::from(s)
            }
        }
    }
}

/// Writes `files` (path relative to `dir`, text) under `dir`.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("mkdir");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Loads the project in `dir` with `--target target` (every node on that target).
fn load(dir: &Path, target: &str) -> Manifest {
    let mut opts = LoadOptions {
        project_dir: dir.to_path_buf(),
        profiles: ProfileLookup::default(),
        target: Some(target.to_owned()),
        vars: Default::default(),
    };
    opts.profiles.profiles_dir = Some(dir.to_path_buf());
    Manifest::load(&opts).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// Compiles model `name` of project `package`, `statement` queries going to `db`.
fn compile(m: &Manifest, package: &str, name: &str, db: Option<Arc<dyn Database>>) -> String {
    let id = format!("model.{package}.{name}");
    let mut opts = CompileOptions::default();
    opts.database = db;
    m.compile_with(&id, &opts)
        .unwrap_or_else(|e| panic!("compiling {id}: {e}"))
        .sql
}

/// SQL as a list of words: dbt's and DVT's templates leave different blank space.
fn words(sql: &str) -> Vec<&str> {
    sql.split_whitespace().collect()
}
