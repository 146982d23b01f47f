//! The `dvt-executor` process: a Ballista executor that decodes DVT's plans with its own
//! targets (and credentials) and staging bucket.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_executor::executor_process::ExecutorProcessConfig;
use dvt_core::secret::Secret;
use dvt_core::target::{Connection, MysqlConfig, PostgresConfig, SqliteConfig, TargetConfig};
use serde::Deserialize;

use crate::codec::{DvtLogicalCodec, DvtPhysicalCodec};
use crate::error::{Error, Result};
use crate::federation::ScanEnvironment;
use crate::registry::TargetRegistry;
use crate::staging::Staging;

/// Settings of a `dvt-executor` process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DvtExecutorConfig {
    /// Host of the Ballista scheduler.
    pub scheduler_host: String,
    /// gRPC port of the Ballista scheduler.
    pub scheduler_port: u16,
    /// Address the executor binds.
    pub bind_host: String,
    /// Arrow Flight port (shuffle data).
    pub port: u16,
    /// gRPC port.
    pub grpc_port: u16,
    /// The targets this executor may read and write, with credentials.
    pub targets: BTreeMap<String, TargetConfig>,
    /// The staging bucket's folder. Every executor of a cluster must see the same one.
    pub staging_root: PathBuf,
    /// Scratch folder for shuffle files (a temporary folder when `None`).
    pub work_dir: Option<String>,
}

impl Default for DvtExecutorConfig {
    fn default() -> Self {
        DvtExecutorConfig {
            scheduler_host: "localhost".into(),
            scheduler_port: 50050,
            bind_host: "0.0.0.0".into(),
            port: 50051,
            grpc_port: 50052,
            targets: BTreeMap::new(),
            staging_root: PathBuf::from(".dvt/staging"),
            work_dir: None,
        }
    }
}

/// Runs the executor until it is shut down.
pub async fn start_executor_process(config: DvtExecutorConfig) -> Result<()> {
    let env = Arc::new(ScanEnvironment {
        registry: Arc::new(TargetRegistry::new(config.targets)),
        staging: Staging::local(config.staging_root)?,
    });
    let opt = ExecutorProcessConfig {
        scheduler_host: config.scheduler_host,
        scheduler_port: config.scheduler_port,
        bind_host: config.bind_host,
        port: config.port,
        grpc_port: config.grpc_port,
        work_dir: config.work_dir,
        override_logical_codec: Some(Arc::new(DvtLogicalCodec::new(Arc::clone(&env)))),
        override_physical_codec: Some(Arc::new(DvtPhysicalCodec::new(env))),
        ..ExecutorProcessConfig::default()
    };
    ballista_executor::executor_process::start_executor_process(Arc::new(opt))
        .await
        .map_err(|e| Error::ExecutorProcess {
            source: Box::new(e),
        })
}

/// One target as written in a `--targets-json` file (dbt's field names).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum TargetJson {
    Postgres {
        schema: String,
        host: String,
        #[serde(default = "pg_port")]
        port: u16,
        user: String,
        #[serde(default)]
        password: String,
        dbname: String,
    },
    #[serde(alias = "mariadb")]
    Mysql {
        schema: String,
        server: String,
        #[serde(default = "mysql_port")]
        port: u16,
        username: String,
        #[serde(default)]
        password: String,
    },
    Sqlite {
        path: PathBuf,
    },
}

fn pg_port() -> u16 {
    5432
}

fn mysql_port() -> u16 {
    3306
}

/// Reads targets from JSON: an object from target name to
/// `{"type": "postgres", "schema", "host", "port", "user", "password", "dbname"}`,
/// `{"type": "mysql", "schema", "server", "port", "username", "password"}` or
/// `{"type": "sqlite", "path"}`. A stopgap until executors read `profiles.yml`.
pub fn targets_from_json(text: &str) -> Result<BTreeMap<String, TargetConfig>> {
    let parsed: BTreeMap<String, TargetJson> =
        serde_json::from_str(text).map_err(|e| Error::InvalidTargets {
            source: Box::new(e),
        })?;
    Ok(parsed
        .into_iter()
        .map(|(name, t)| {
            let (schema, connection) = match t {
                TargetJson::Postgres {
                    schema,
                    host,
                    port,
                    user,
                    password,
                    dbname,
                } => (
                    schema,
                    Connection::Postgres(PostgresConfig {
                        host,
                        port,
                        user,
                        password: Secret::new(password),
                        dbname,
                    }),
                ),
                TargetJson::Mysql {
                    schema,
                    server,
                    port,
                    username,
                    password,
                } => (
                    schema,
                    Connection::Mysql(MysqlConfig {
                        server,
                        port,
                        username,
                        password: Secret::new(password),
                    }),
                ),
                TargetJson::Sqlite { path } => {
                    ("main".to_owned(), Connection::Sqlite(SqliteConfig { path }))
                }
            };
            let config = TargetConfig {
                name: name.clone(),
                schema,
                threads: None,
                connection,
                extra: BTreeMap::new(),
            };
            (name, config)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_targets_json_without_echoing_passwords() {
        let targets = targets_from_json(
            r#"{"pg": {"type": "postgres", "schema": "s", "host": "h", "user": "u",
                       "password": "pw-123", "dbname": "d"},
                "lite": {"type": "sqlite", "path": "/tmp/x.db"}}"#,
        )
        .expect("valid");
        assert_eq!(targets["pg"].schema, "s");
        assert!(!format!("{targets:?}").contains("pw-123"));
        let err = targets_from_json(r#"{"x": {"type": "oracle"}}"#).expect_err("bad type");
        assert_eq!(err.code(), "DVT300");
    }
}
