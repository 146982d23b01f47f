//! The `dvt-executor` process: a Ballista executor that decodes DVT's plans with its own
//! targets (and credentials) and staging bucket.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_executor::executor_process::ExecutorProcessConfig;
use dvt_core::target::TargetConfig;

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

/// The targets of profile `profile` in `<profiles_dir>/profiles.yml`, read by dvt-core's
/// profile loader exactly as `dvt` reads them (`env_var()` included). Relative SQLite
/// paths resolve against `profiles_dir`.
pub fn targets_from_profiles(
    profiles_dir: &std::path::Path,
    profile: &str,
) -> dvt_core::error::Result<BTreeMap<String, TargetConfig>> {
    let file = profiles_dir.join("profiles.yml");
    dvt_core::profile::Profile::load(&file, profile, profiles_dir).map(|p| p.outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_without_echoing_passwords() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("profiles.yml"),
            "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: h, user: u, password: pw-123, dbname: d, schema: s}\n    lite: {type: sqlite, path: x.db}\n",
        )
        .expect("write");
        let targets = targets_from_profiles(dir.path(), "p").expect("valid");
        assert_eq!(targets["pg"].schema, "s");
        assert!(!format!("{targets:?}").contains("pw-123"));
        let err = targets_from_profiles(dir.path(), "nope").expect_err("no such profile");
        assert_eq!(err.code(), "DVT103");
        assert!(err.to_string().contains("`nope`"), "{err}");
    }
}
