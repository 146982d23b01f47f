//! MySQL and MariaDB: connection pool and Arrow results from the table-providers crate,
//! `LOAD DATA LOCAL INFILE` fed from the Arrow stream for bulk loads.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::TableReference;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::sql::arrow_sql_gen::mysql::rows_to_arrow as mysql_rows_to_arrow;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::AsyncDbConnection;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::mysqlconn::MySQLConnection;
use datafusion_table_providers::sql::db_connection_pool::mysqlpool::MySQLConnectionPool;
use datafusion_table_providers::util::secrets::to_secret_map;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{MysqlConfig, TargetConfig};
use futures::StreamExt;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::{Adapter, RelationKind, column_definitions, conform_stream, text_columns, trim_select};
use crate::error::{Error, Result};

const D: Dialect = Dialect::Mysql;
const QUERY_CHUNK_ROWS: usize = 4096;

/// A MySQL or MariaDB target. Its `schema` is the database.
pub(crate) struct MysqlAdapter {
    target: TargetConfig,
    pool: Arc<MySQLConnectionPool>,
}

impl std::fmt::Debug for MysqlAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlAdapter")
            .field("target", &self.target.name)
            .finish_non_exhaustive()
    }
}

impl MysqlAdapter {
    pub(crate) async fn connect(target: TargetConfig, cfg: &MysqlConfig) -> Result<Self> {
        // TLS by default except on loopback, where servers usually have no certificate.
        let local = matches!(cfg.server.as_str(), "localhost" | "127.0.0.1" | "::1");
        let sslmode = target
            .extra
            .get("sslmode")
            .cloned()
            .unwrap_or_else(|| if local { "disabled" } else { "preferred" }.to_owned());
        let mut params = HashMap::from([
            ("host".to_owned(), cfg.server.clone()),
            ("tcp_port".to_owned(), cfg.port.to_string()),
            ("user".to_owned(), cfg.username.clone()),
            ("sslmode".to_owned(), sslmode),
        ]);
        if !cfg.password.is_empty() {
            params.insert("pass".to_owned(), cfg.password.expose().to_owned());
        }
        let pool = MySQLConnectionPool::new(to_secret_map(params))
            .await
            .map_err(|e| Error::connection(&target.name, e))?;
        Ok(MysqlAdapter {
            target,
            pool: Arc::new(pool),
        })
    }

    async fn conn(&self) -> Result<MySQLConnection> {
        self.pool
            .connect_direct()
            .await
            .map_err(|e| Error::connection(&self.target.name, e))
    }

    fn sql_err(&self, action: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
        let target = self.target.name.clone();
        let action = action.into();
        move |e| Error::sql(&target, action, e)
    }

    async fn kind(&self, conn: &mut Conn, rel: &Relation) -> Result<Option<RelationKind>> {
        let kind: Option<String> = conn
            .exec_first(
                "select table_type from information_schema.tables \
                 where table_schema = ? and table_name = ?",
                (rel.schema.as_str(), rel.identifier.as_str()),
            )
            .await
            .map_err(self.sql_err(format!("looking up {}", D.render(rel))))?;
        Ok(kind.map(|k| {
            if k.contains("VIEW") {
                RelationKind::View
            } else {
                RelationKind::Table
            }
        }))
    }

    async fn drop_if_exists(&self, conn: &mut Conn, rel: &Relation) -> Result<()> {
        if let Some(kind) = self.kind(conn, rel).await? {
            let sql = format!("DROP {} IF EXISTS {}", kind.keyword(), D.render(rel));
            conn.query_drop(sql)
                .await
                .map_err(self.sql_err(format!("dropping {}", D.render(rel))))?;
        }
        Ok(())
    }

    /// MySQL DDL is not transactional, but one `RENAME TABLE` with several pairs is atomic,
    /// so readers see either the old or the new relation. Views read their tables by
    /// name, so a view over the replaced table reads the new one.
    async fn swap_in(
        &self,
        conn: &mut Conn,
        tmp: &Relation,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        self.drop_if_exists(conn, backup).await?;
        let old = self.kind(conn, relation).await?;
        let sql = match old {
            Some(_) => format!(
                "RENAME TABLE {} TO {}, {} TO {}",
                D.render(relation),
                D.render(backup),
                D.render(tmp),
                D.render(relation)
            ),
            None => format!("RENAME TABLE {} TO {}", D.render(tmp), D.render(relation)),
        };
        conn.query_drop(sql)
            .await
            .map_err(self.sql_err(format!("renaming {} into place", D.render(tmp))))?;
        if let Some(kind) = old {
            let sql = format!("DROP {} IF EXISTS {}", kind.keyword(), D.render(backup));
            conn.query_drop(sql)
                .await
                .map_err(self.sql_err(format!("dropping {}", D.render(backup))))?;
        }
        Ok(())
    }

    async fn run_ddl(&self, sql: String, action: String) -> Result<u64> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        conn.query_drop(sql).await.map_err(self.sql_err(action))?;
        Ok(conn.affected_rows())
    }

    /// Streams a query's rows. A task owns the connection while the result is read (the
    /// driver's result borrows it) and hands batches over a channel; dropping the stream
    /// aborts the task. The table-providers' own query path strips every `"` from the
    /// SQL, which corrupts string literals, so only its row conversion is used.
    async fn stream_query(
        &self,
        sql: &str,
        wanted: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream> {
        let db = self.conn().await?;
        let conn = Arc::clone(&db.conn);
        let sql = sql.to_owned();
        let target = self.target.name.clone();
        let projected = wanted.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        let task = tokio::spawn(async move {
            let mut guard = conn.lock().await;
            let fail =
                |e: &dyn std::fmt::Display| Error::sql(&target, "running a query", e.to_string());
            let mut result = match guard.exec_iter(sql, ()).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(fail(&e))).await;
                    return;
                }
            };
            loop {
                let mut rows = Vec::with_capacity(QUERY_CHUNK_ROWS);
                while rows.len() < QUERY_CHUNK_ROWS {
                    match result.next().await {
                        Ok(Some(row)) => rows.push(row),
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.send(Err(fail(&e))).await;
                            return;
                        }
                    }
                }
                if rows.is_empty() {
                    return;
                }
                let last = rows.len() < QUERY_CHUNK_ROWS;
                let batch = mysql_rows_to_arrow(&rows, &projected).map_err(|e| fail(&e));
                if tx.send(batch).await.is_err() || last {
                    return;
                }
            }
        });
        let guard = AbortOnDrop(task);
        let first = rx.recv().await.transpose()?;
        let schema = match (&wanted, &first) {
            (Some(w), _) => Arc::clone(w),
            (None, Some(b)) => b.schema(),
            (None, None) => Arc::new(arrow::datatypes::Schema::empty()),
        };
        let rest = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|item| (item, (rx, guard)))
        });
        let batches = futures::stream::iter(first.map(Ok))
            .chain(rest)
            .map(|item| item.map_err(Error::into_datafusion));
        let stream: SendableRecordBatchStream =
            Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), batches));
        Ok(match wanted {
            Some(w) => conform_stream(stream, w),
            None => stream,
        })
    }

    async fn load_data(
        &self,
        conn: &mut Conn,
        tmp: &Relation,
        columns: &str,
        stream: SendableRecordBatchStream,
    ) -> Result<u64> {
        let target = self.target.name.clone();
        let first_error: Arc<Mutex<Option<Error>>> = Arc::default();
        let errors = Arc::clone(&first_error);
        // The infile handler must be `Sync`; the stream is only `Send`, so it travels in a
        // mutex and is taken out when the server asks for the file.
        let stream = Mutex::new(stream);
        conn.set_infile_handler(async move {
            let stream = stream
                .into_inner()
                .map_err(|_| std::io::Error::other("poisoned infile stream"))?;
            let encoded = stream.map(move |batch| {
                let encoded = batch
                    .map_err(|e| Error::bulk_load(&target, &"the input stream", e))
                    .and_then(|b| encode_batch(&target, &b));
                encoded.map_err(|e| {
                    let message = e.to_string();
                    if let Ok(mut slot) = errors.lock() {
                        slot.get_or_insert(e);
                    }
                    std::io::Error::other(message)
                })
            });
            Ok(encoded.boxed())
        });
        let sql = format!(
            "LOAD DATA LOCAL INFILE 'dvt-stream' INTO TABLE {} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' \
             LINES TERMINATED BY '\\n' ({columns})",
            D.render(tmp)
        );
        let loaded = conn.query_drop(sql).await;
        if let Ok(mut slot) = first_error.lock()
            && let Some(e) = slot.take()
        {
            return Err(e);
        }
        loaded.map_err(|e| Error::bulk_load(&self.target.name, &D.render(tmp), e))?;
        let rows = conn.affected_rows();
        // `LOCAL` turns conversion errors into warnings (the server cannot stop the
        // client's upload), which would silently truncate or zero values.
        if conn.get_warnings() > 0 {
            let warnings: Vec<(String, u32, String)> = conn
                .query("SHOW WARNINGS LIMIT 3")
                .await
                .map_err(self.sql_err("reading load warnings"))?;
            let text = warnings
                .into_iter()
                .map(|(_, _, message)| message)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::bulk_load(
                &self.target.name,
                &D.render(tmp),
                format!("the server changed values while loading: {text}"),
            ));
        }
        Ok(rows)
    }
}

/// Aborts a spawned task when dropped, so an abandoned stream releases its connection.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One batch as `LOAD DATA` text: `\N` is NULL, values are enclosed in quotes with the
/// escape character protecting quotes, backslashes and line breaks.
fn encode_batch(target: &str, batch: &RecordBatch) -> Result<Bytes> {
    let columns = text_columns(target, D, batch)?;
    let mut buf = Vec::with_capacity(batch.num_rows() * 16 * columns.len().max(1));
    for row in 0..batch.num_rows() {
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            match &col[row] {
                None => buf.extend_from_slice(b"\\N"),
                Some(v) => {
                    buf.push(b'"');
                    for b in v.bytes() {
                        match b {
                            b'"' => buf.extend_from_slice(b"\\\""),
                            b'\\' => buf.extend_from_slice(b"\\\\"),
                            b'\n' => buf.extend_from_slice(b"\\n"),
                            b'\r' => buf.extend_from_slice(b"\\r"),
                            0 => buf.extend_from_slice(b"\\0"),
                            _ => buf.push(b),
                        }
                    }
                    buf.push(b'"');
                }
            }
        }
        buf.push(b'\n');
    }
    Ok(Bytes::from(buf))
}

#[async_trait]
impl Adapter for MysqlAdapter {
    fn target(&self) -> &TargetConfig {
        &self.target
    }

    fn dialect(&self) -> Dialect {
        D
    }

    async fn server_version(&self) -> Result<String> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        let version: Option<String> = conn
            .query_first("select version()")
            .await
            .map_err(self.sql_err("reading the server version"))?;
        Ok(version.unwrap_or_default())
    }

    async fn schema_exists(&self, schema: &str) -> Result<bool> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        let found: Option<String> = conn
            .exec_first(
                "select schema_name from information_schema.schemata where schema_name = ?",
                (schema,),
            )
            .await
            .map_err(self.sql_err(format!("looking up database {}", D.quote(schema))))?;
        Ok(found.is_some())
    }

    async fn create_schema(&self, schema: &str) -> Result<()> {
        self.run_ddl(
            format!("CREATE DATABASE IF NOT EXISTS {}", D.quote(schema)),
            format!("creating database {}", D.quote(schema)),
        )
        .await
        .map(drop)
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        self.kind(&mut conn, relation).await
    }

    async fn drop_relation(&self, relation: &Relation) -> Result<()> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        self.drop_if_exists(&mut conn, relation).await
    }

    async fn create_table_as(&self, relation: &Relation, select_sql: &str) -> Result<Option<u64>> {
        self.run_ddl(
            format!(
                "CREATE TABLE {} AS {}",
                D.render(relation),
                trim_select(select_sql)
            ),
            format!("creating {}", D.render(relation)),
        )
        .await
        .map(Some)
    }

    async fn create_view_as(&self, relation: &Relation, select_sql: &str) -> Result<()> {
        self.run_ddl(
            format!(
                "CREATE VIEW {} AS {}",
                D.render(relation),
                trim_select(select_sql)
            ),
            format!("creating {}", D.render(relation)),
        )
        .await
        .map(drop)
    }

    async fn create_table(
        &self,
        relation: &Relation,
        schema: &arrow::datatypes::Schema,
        column_types: &BTreeMap<String, String>,
    ) -> Result<()> {
        let defs = column_definitions(&self.target.name, D, schema, column_types)?;
        self.run_ddl(
            format!("CREATE TABLE {} ({defs})", D.render(relation)),
            format!("creating {}", D.render(relation)),
        )
        .await
        .map(drop)
    }

    async fn append(&self, relation: &Relation, stream: SendableRecordBatchStream) -> Result<u64> {
        let columns = stream
            .schema()
            .fields()
            .iter()
            .map(|f| D.quote(f.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let db = self.conn().await?;
        let mut guard = db.conn.lock().await;
        self.load_data(&mut guard, relation, &columns, stream).await
    }

    async fn swap(
        &self,
        staged: &Relation,
        _kind: RelationKind,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        self.swap_in(&mut conn, staged, relation, backup).await
    }

    async fn execute(&self, sql: &str) -> Result<u64> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        conn.query_drop(sql)
            .await
            .map_err(self.sql_err("running a statement"))?;
        Ok(conn.affected_rows())
    }

    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        self.stream_query(sql, None).await
    }

    async fn query_as(&self, sql: &str, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
        self.stream_query(sql, Some(schema)).await
    }

    async fn relation_schema(&self, relation: &Relation) -> Result<SchemaRef> {
        let conn = self.conn().await?;
        let reference =
            TableReference::partial(relation.schema.as_str(), relation.identifier.as_str());
        conn.get_schema(&reference).await.map_err(|e| {
            Error::sql(
                &self.target.name,
                format!("reading the columns of {}", D.render(relation)),
                e,
            )
        })
    }
}
