//! The `dvt-executor` process: a Ballista executor that decodes DVT's plans with its own
//! targets (and credentials) and staging bucket.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_executor::executor_process::ExecutorProcessConfig;
use dvt_core::compute::BucketConfig;
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
    /// The staging bucket's folder, used when `bucket` is `None`. Every executor of a
    /// cluster and the client must see the same one.
    pub staging_root: PathBuf,
    /// The staging bucket (`--bucket`, resolved by [`bucket_from_profiles`]), with its
    /// credentials; `None` stages into `staging_root`.
    pub bucket: Option<BucketConfig>,
    /// Scratch folder for shuffle files (a temporary folder when `None`).
    pub work_dir: Option<String>,
    /// This executor's id, as the scheduler's event log names it (random when `None`).
    pub executor_id: Option<String>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_interval_seconds: u64,
    /// How long to wait for the scheduler to listen before giving up: executors and
    /// scheduler start together on a cluster, in any order.
    pub scheduler_wait: std::time::Duration,
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
            bucket: None,
            work_dir: None,
            executor_id: None,
            heartbeat_interval_seconds: 60,
            scheduler_wait: std::time::Duration::from_secs(30),
        }
    }
}

/// Runs the executor until it is shut down.
pub async fn start_executor_process(config: DvtExecutorConfig) -> Result<()> {
    let executor_id = config
        .executor_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let env = Arc::new(ScanEnvironment {
        registry: Arc::new(TargetRegistry::new(config.targets)),
        staging: match &config.bucket {
            Some(bucket) => Staging::from_bucket(bucket)?,
            None => Staging::local(config.staging_root)?,
        },
        executor_id: executor_id.clone(),
    });
    tracing::info!(staging = %env.staging.location(), "staging bucket");
    // A bucket this executor cannot use fails above, before any wait.
    let deadline = tokio::time::Instant::now() + config.scheduler_wait;
    let scheduler = (config.scheduler_host.clone(), config.scheduler_port);
    while tokio::net::TcpStream::connect(&scheduler).await.is_err()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let opt = ExecutorProcessConfig {
        scheduler_host: config.scheduler_host,
        scheduler_port: config.scheduler_port,
        bind_host: config.bind_host,
        port: config.port,
        grpc_port: config.grpc_port,
        work_dir: config.work_dir,
        executor_heartbeat_interval_seconds: config.heartbeat_interval_seconds,
        executor_id,
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

/// Settings of a `dvt-scheduler` process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DvtSchedulerConfig {
    /// Address the scheduler binds.
    pub bind_host: String,
    /// gRPC port executors and clients connect to.
    pub bind_port: u16,
    /// Host name executors and clients reach the scheduler by.
    pub external_host: String,
    /// Seconds without a heartbeat before an executor is presumed lost.
    pub executor_timeout_seconds: u64,
    /// Seconds between checks for lost executors.
    pub expire_dead_executor_interval_seconds: u64,
    /// Where per-job event logs go (which executor ran which task); none when `None`.
    pub event_log_dir: Option<String>,
}

impl Default for DvtSchedulerConfig {
    fn default() -> Self {
        DvtSchedulerConfig {
            bind_host: "0.0.0.0".into(),
            bind_port: 50050,
            external_host: "localhost".into(),
            executor_timeout_seconds: 180,
            expire_dead_executor_interval_seconds: 15,
            event_log_dir: None,
        }
    }
}

/// Runs Ballista's scheduler with DVT's codecs until it is shut down. The scheduler
/// decodes plans but never runs a scan, so its codecs get no targets and no
/// credentials: a throwaway staging folder only satisfies their type.
pub async fn start_scheduler_process(config: DvtSchedulerConfig) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("dvt-scheduler-{}", std::process::id()));
    let env = Arc::new(ScanEnvironment {
        registry: Arc::new(TargetRegistry::new(BTreeMap::new())),
        staging: Staging::local(scratch)?,
        executor_id: "scheduler".to_owned(),
    });
    let address: std::net::SocketAddr = format!("{}:{}", config.bind_host, config.bind_port)
        .parse()
        .map_err(|e| Error::ExecutorProcess {
            source: format!(
                "`{}:{}` is not an address to bind: {e}",
                config.bind_host, config.bind_port
            )
            .into(),
        })?;
    let mut sched = ballista_scheduler::config::SchedulerConfig::default()
        .with_hostname(config.external_host)
        .with_port(config.bind_port)
        .with_event_log_dir(config.event_log_dir);
    sched.bind_host = config.bind_host;
    sched.executor_timeout_seconds = config.executor_timeout_seconds;
    sched.expire_dead_executor_interval_seconds = config.expire_dead_executor_interval_seconds;
    sched.override_logical_codec = Some(Arc::new(DvtLogicalCodec::new(Arc::clone(&env))));
    sched.override_physical_codec = Some(Arc::new(DvtPhysicalCodec::new(env)));
    let process_error = |e: ballista_core::error::BallistaError| Error::ExecutorProcess {
        source: Box::new(e),
    };
    let cluster = ballista_scheduler::cluster::BallistaCluster::new_from_config(&sched)
        .await
        .map_err(process_error)?;
    ballista_scheduler::scheduler_process::start_server(cluster, address, Arc::new(sched))
        .await
        .map_err(process_error)
}

/// A cluster binary's flags: `--help`/`--version` print and exit 0; bad flags print a
/// DVT400 and exit 2, as `dvt` does.
pub fn parse_args<T: clap::Parser>() -> std::result::Result<T, std::process::ExitCode> {
    match T::try_parse() {
        Ok(a) => Ok(a),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error[DVT400]: {}", e.render().to_string().trim_end());
            Err(std::process::ExitCode::from(2))
        }
    }
}

/// Runs a cluster process's `main`: logs to stderr (`RUST_LOG`, default `info`), a
/// multi-threaded runtime, the process future; exit 0 when it ends, 1 with its coded
/// error, 2 when the runtime cannot start.
pub fn run_process(process: impl Future<Output = Result<()>>) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error[DVT399]: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(process) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            std::process::ExitCode::from(1)
        }
    }
}

/// How many executors the scheduler at `df://host:port` has registered, from its REST
/// API (`GET /api/executors` on the same port), within `timeout`.
pub async fn scheduler_executors(url: &str, timeout: std::time::Duration) -> Result<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fail = |why: String| Error::ExecutorProcess {
        source: format!("scheduler `{url}`: {why}").into(),
    };
    let address = url
        .strip_prefix("df://")
        .ok_or_else(|| fail("the address must look like df://host:port".into()))?
        .trim_end_matches('/')
        .to_owned();
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .map_err(|e| fail(format!("cannot connect: {e}")))?;
        // HTTP/1.0: the answer ends when the connection closes, never chunked.
        let request = format!("GET /api/executors HTTP/1.0\r\nHost: {address}\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| fail(format!("cannot ask: {e}")))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| fail(format!("no answer: {e}")))?;
        let text = String::from_utf8_lossy(&answer);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .ok_or_else(|| fail("not an HTTP answer".into()))?;
        let executors: Vec<serde_json::Value> = serde_json::from_str(body)
            .map_err(|e| fail(format!("unexpected answer from /api/executors: {e}")))?;
        Ok(executors.len())
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| fail(format!("no answer within {timeout:?}")))?
}

/// The profile of `<profiles_dir>/profiles.yml` when it holds only one (besides dbt's
/// `config:` block); an error naming them otherwise.
pub fn sole_profile(profiles_dir: &std::path::Path) -> dvt_core::error::Result<String> {
    let file = profiles_dir.join("profiles.yml");
    let text = dvt_core::error::read_to_string(&file)?;
    let doc: serde_json::Map<String, serde_json::Value> = dvt_core::yaml::from_yaml(&file, &text)?;
    let names: Vec<&String> = doc.keys().filter(|k| *k != "config").collect();
    match names.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(dvt_core::error::Error::Profile {
            message: format!(
                "`{}` holds {} profiles ({}); choose one with --profile",
                file.display(),
                names.len(),
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
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

/// Bucket `name` of profile `profile` in `<profiles_dir>/buckets.yml`, read by the
/// loader `dvt` uses (`env_var()` included), so the executor stages where the client's
/// bucket of that name does. Credentials come from that file or, when it leaves them
/// out, from this process's environment; never from a plan. Relative paths resolve
/// against `profiles_dir`, as SQLite paths do here.
pub fn bucket_from_profiles(
    profiles_dir: &std::path::Path,
    profile: &str,
    name: &str,
) -> dvt_core::error::Result<BucketConfig> {
    dvt_core::compute::Buckets::load(profiles_dir, profile, profiles_dir)?
        .resolve(Some(name))
        .cloned()
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
