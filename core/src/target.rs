//! Resolved connection settings of one profile output (a *target*).
//!
//! These are plain data: the executor turns them into connection pools. They
//! never hold a live connection, so a plan that names a target by its name can
//! cross a process boundary and be rebuilt from the receiving side's profiles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::dialect::Dialect;
use crate::secret::Secret;

/// The adapter kind of a target (`type:` in `profiles.yml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdapterType {
    /// `type: postgres`.
    Postgres,
    /// `type: mysql` (also `mariadb`).
    Mysql,
    /// `type: sqlite`.
    Sqlite,
}

impl AdapterType {
    /// The SQL dialect of this adapter.
    pub fn dialect(self) -> Dialect {
        match self {
            AdapterType::Postgres => Dialect::Postgres,
            AdapterType::Mysql => Dialect::Mysql,
            AdapterType::Sqlite => Dialect::Sqlite,
        }
    }

    /// The name used in `profiles.yml`.
    pub fn name(self) -> &'static str {
        match self {
            AdapterType::Postgres => "postgres",
            AdapterType::Mysql => "mysql",
            AdapterType::Sqlite => "sqlite",
        }
    }
}

/// PostgreSQL connection settings (dbt-postgres field names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `host`.
    pub host: String,
    /// `port`, default 5432.
    pub port: u16,
    /// `user`.
    pub user: String,
    /// `password` (may be empty under trust auth).
    pub password: Secret,
    /// `dbname` (alias `database`).
    pub dbname: String,
}

/// MySQL / MariaDB connection settings (dbt-mysql field names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    /// `server` (alias `host`).
    pub server: String,
    /// `port`, default 3306.
    pub port: u16,
    /// `username` (alias `user`).
    pub username: String,
    /// `password`.
    pub password: Secret,
}

/// SQLite settings: the database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file, absolute (resolved against the project folder when relative).
    pub path: PathBuf,
}

/// How to reach a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A PostgreSQL server.
    Postgres(PostgresConfig),
    /// A MySQL or MariaDB server.
    Mysql(MysqlConfig),
    /// An SQLite file.
    Sqlite(SqliteConfig),
}

/// One output of the active profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// The output's name (`dev`, `warehouse`, ...).
    pub name: String,
    /// The default schema models are built in (MySQL: the database; SQLite: `main`).
    pub schema: String,
    /// `threads:` of the output, if set.
    pub threads: Option<usize>,
    /// Connection settings.
    pub connection: Connection,
    /// Any other keys of the output, as strings, for `target.<key>` in Jinja.
    pub extra: BTreeMap<String, String>,
}

impl TargetConfig {
    /// The adapter kind.
    pub fn adapter_type(&self) -> AdapterType {
        match self.connection {
            Connection::Postgres(_) => AdapterType::Postgres,
            Connection::Mysql(_) => AdapterType::Mysql,
            Connection::Sqlite(_) => AdapterType::Sqlite,
        }
    }

    /// The SQL dialect spoken by the target.
    pub fn dialect(&self) -> Dialect {
        self.adapter_type().dialect()
    }

    /// The database (catalog) name dbt reports for this target.
    pub fn database(&self) -> String {
        match &self.connection {
            Connection::Postgres(c) => c.dbname.clone(),
            Connection::Mysql(_) => self.schema.clone(),
            Connection::Sqlite(_) => "main".to_owned(),
        }
    }
}
