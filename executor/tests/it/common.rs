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
