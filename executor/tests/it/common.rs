//! Targets on the machine's real servers, unique names, and result rendering.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use dvt_core::secret::Secret;
use dvt_core::target::{Connection, MysqlConfig, PostgresConfig, SqliteConfig, TargetConfig};
use dvt_executor::adapter::Adapter;
use futures::{FutureExt, TryStreamExt};

/// The run id tests build under.
pub(crate) const RUN: &str = "it-run";

pub(crate) fn unique_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("dvt_it_{}", &id[..8])
}

fn require_server(name: &str, port: u16, how: &str) {
    let addr = ("127.0.0.1", port);
    let ok = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok());
    assert!(
        ok,
        "{name} is not reachable on 127.0.0.1:{port}; start it with: {how}"
    );
}

pub(crate) fn pg_target(name: &str, schema: &str) -> TargetConfig {
    require_server(
        "PostgreSQL",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    );
    TargetConfig {
        name: name.to_owned(),
        schema: schema.to_owned(),
        threads: None,
        connection: Connection::Postgres(PostgresConfig {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: Secret::default(),
            dbname: "test".into(),
        }),
        extra: BTreeMap::new(),
    }
}

pub(crate) fn mysql_target(name: &str, schema: &str) -> TargetConfig {
    require_server(
        "MariaDB",
        3306,
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    );
    TargetConfig {
        name: name.to_owned(),
        schema: schema.to_owned(),
        threads: None,
        connection: Connection::Mysql(MysqlConfig {
            server: "127.0.0.1".into(),
            port: 3306,
            username: "root".into(),
            password: Secret::default(),
        }),
        extra: BTreeMap::new(),
    }
}

pub(crate) fn sqlite_target(name: &str, path: &Path) -> TargetConfig {
    TargetConfig {
        name: name.to_owned(),
        schema: "main".into(),
        threads: None,
        connection: Connection::Sqlite(SqliteConfig {
            path: path.to_owned(),
        }),
        extra: BTreeMap::new(),
    }
}

/// Runs `body`, then `cleanup` even if `body` panicked, then re-raises the panic.
pub(crate) async fn with_cleanup<B, C>(body: B, cleanup: C)
where
    B: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let result = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Every cell rendered as text (`NULL` for null), row by row.
pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formattable"))
            .collect::<Vec<_>>();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

pub(crate) async fn query_rows(adapter: &Arc<dyn Adapter>, sql: &str) -> Vec<Vec<String>> {
    let stream = adapter
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches: Vec<RecordBatch> = stream.try_collect().await.expect("query stream");
    rows(&batches)
}

pub(crate) fn stream_of(batch: RecordBatch) -> SendableRecordBatchStream {
    let schema = batch.schema();
    Box::pin(MemoryStream::try_new(vec![batch], schema, None).expect("memory stream"))
}

/// `n` distinct free loopback ports (every listener stays open until all are taken).
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// A Ballista cluster inside the test process: DVT's scheduler and `executors` DVT
/// executors (ids `exec-1`, ...) on loopback ports, talking gRPC and Flight as separate
/// processes would, each executor with its own copy of `targets`. They run on the test's
/// runtime and stop with it. Returns the scheduler's `df://` address.
pub(crate) async fn in_process_cluster(
    targets: &BTreeMap<String, TargetConfig>,
    staging_root: &Path,
    executors: usize,
) -> String {
    use dvt_executor::process::{DvtExecutorConfig, DvtSchedulerConfig};
    let ports = free_ports(1 + 2 * executors);
    let mut scheduler = DvtSchedulerConfig::default();
    scheduler.bind_host = "127.0.0.1".into();
    scheduler.bind_port = ports[0];
    scheduler.external_host = "127.0.0.1".into();
    tokio::spawn(dvt_executor::process::start_scheduler_process(scheduler));
    for i in 1..=executors {
        let mut e = DvtExecutorConfig::default();
        e.scheduler_host = "127.0.0.1".into();
        e.scheduler_port = ports[0];
        e.bind_host = "127.0.0.1".into();
        e.port = ports[2 * i - 1];
        e.grpc_port = ports[2 * i];
        e.targets = targets.clone();
        e.staging_root = staging_root.to_owned();
        e.executor_id = Some(format!("exec-{i}"));
        tokio::spawn(dvt_executor::process::start_executor_process(e));
    }
    // Wait until the scheduler listens and every executor's Flight port answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for port in ports.iter().step_by(2) {
        while tokio::net::TcpStream::connect(("127.0.0.1", *port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the in-process cluster did not listen on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Registration follows the first heartbeat.
    tokio::time::sleep(Duration::from_millis(500)).await;
    format!("df://127.0.0.1:{}", ports[0])
}
