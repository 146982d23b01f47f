//! MySQL and MariaDB: the table-providers crate's connection pool (sessions in time zone
//! `+00:00`), results decoded by DVT from the binary protocol ([`types`]),
//! `LOAD DATA LOCAL INFILE` fed from the Arrow stream for bulk loads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::mysqlconn::MySQLConnection;
use datafusion_table_providers::sql::db_connection_pool::mysqlpool::MySQLConnectionPool;
use datafusion_table_providers::util::secrets::to_secret_map;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{MysqlConfig, TargetConfig};
use futures::StreamExt;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::types::{
    BATCH_LIMITS, BatchBuilder, Cell, check_readable, read_error, unsupported_column,
};
use super::{Adapter, RelationKind, TableDdl, column_definitions, trim_select};
use crate::error::{Error, Result};

pub(crate) mod types;

const D: Dialect = Dialect::Mysql;

/// A MySQL or MariaDB target. Its `schema` is the database.
pub(crate) struct MysqlAdapter {
    target: TargetConfig,
    pool: Arc<MySQLConnectionPool>,
    /// Set on a [pinned](Adapter::pinned) adapter: the one connection every statement
    /// and session of it uses, checked out at the first. The pool resets a connection
    /// it gets back (`COM_RESET_CONNECTION`) once the last holder lets go.
    pinned: Option<Arc<tokio::sync::OnceCell<Arc<MySQLConnection>>>>,
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
        if let Some(ca) = target.extra.get("sslrootcert") {
            params.insert("sslrootcert".to_owned(), ca.clone());
        }
        let pool = MySQLConnectionPool::new(to_secret_map(params))
            .await
            .map_err(|e| Error::connection(&target.name, e))?;
        Ok(MysqlAdapter {
            target,
            pool: Arc::new(pool),
            pinned: None,
        })
    }

    /// A connection for one call: the pinned one, or a pooled one of its own.
    async fn conn(&self) -> Result<Arc<MySQLConnection>> {
        let checkout = || async {
            self.pool
                .connect_direct()
                .await
                .map(Arc::new)
                .map_err(|e| Error::connection(&self.target.name, e))
        };
        let Some(cell) = &self.pinned else {
            return checkout().await;
        };
        Ok(Arc::clone(
            cell.get_or_try_init(|| async {
                let db = checkout().await?;
                self.use_target_database(&db).await;
                Ok::<_, Error>(db)
            })
            .await?,
        ))
    }

    /// Makes the target's database the session's default, as dbt-mysql's connection
    /// has it, so unqualified names (a temporary table) resolve. Until a run creates it
    /// there is none, as before.
    async fn use_target_database(&self, db: &MySQLConnection) {
        let mut conn = db.conn.lock().await;
        let _ = conn
            .query_drop(format!("USE {}", D.quote(&self.target.schema)))
            .await;
    }

    fn sql_err(&self, action: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
        let target = self.target.name.clone();
        let action = action.into();
        move |e| Error::sql(&target, action, e)
    }

    /// Drops `rel` if it exists. Other tables' foreign keys to a table are dropped first,
    /// as PostgreSQL's `DROP ... CASCADE` drops them: a model a contract's foreign key
    /// references is rebuilt by dropping its old table (the referencing model, built
    /// after it, takes its foreign key again).
    async fn drop_if_exists(&self, conn: &mut Conn, rel: &Relation) -> Result<()> {
        if let Some(kind) = kind(&self.target.name, conn, rel).await? {
            if kind == RelationKind::Table {
                let referencing: Vec<(String, String, String)> = conn
                    .exec(
                        "select constraint_schema, table_name, constraint_name \
                         from information_schema.referential_constraints \
                         where unique_constraint_schema = ? and referenced_table_name = ? \
                         and not (constraint_schema = ? and table_name = ?)",
                        (
                            rel.schema.as_str(),
                            rel.identifier.as_str(),
                            rel.schema.as_str(),
                            rel.identifier.as_str(),
                        ),
                    )
                    .await
                    .map_err(
                        self.sql_err(format!("reading the foreign keys to {}", D.render(rel))),
                    )?;
                for (schema, table, name) in referencing {
                    let sql = format!(
                        "ALTER TABLE {} DROP FOREIGN KEY {}",
                        D.render(&Relation::new(schema, table)),
                        D.quote(&name)
                    );
                    conn.query_drop(sql).await.map_err(self.sql_err(format!(
                        "dropping the foreign key {name} to {}",
                        D.render(rel)
                    )))?;
                }
            }
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
        // Two runs publishing one name at once would both find it missing and the second
        // rename would fail: a named lock (held by this session) serializes them.
        let lock = format!(
            "dvt_{:016x}",
            super::replace::fnv1a(
                format!("{}.{}", relation.schema, relation.identifier).as_bytes()
            )
        );
        let got: Option<i64> = conn
            .exec_first("select get_lock(?, 600)", (lock.as_str(),))
            .await
            .map_err(self.sql_err(format!("locking the name {}", D.render(relation))))?;
        if got != Some(1) {
            return Err(Error::sql(
                &self.target.name,
                format!("locking the name {}", D.render(relation)),
                "another run held the lock for 10 minutes",
            ));
        }
        let result = self.swap_locked(conn, tmp, relation, backup).await;
        let _ = conn
            .exec_drop("select release_lock(?)", (lock.as_str(),))
            .await;
        result
    }

    async fn swap_locked(
        &self,
        conn: &mut Conn,
        tmp: &Relation,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        self.drop_if_exists(conn, backup).await?;
        let old = kind(&self.target.name, conn, relation).await?;
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
        if old.is_some() {
            self.drop_if_exists(conn, backup).await?;
        }
        Ok(())
    }

    async fn run_ddl(&self, sql: String, action: String) -> Result<u64> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        conn.query_drop(sql).await.map_err(self.sql_err(action))?;
        Ok(conn.affected_rows())
    }

    /// Streams a query's rows, every column decoded by DVT ([`types`]) from the binary
    /// protocol; with `wanted`, into exactly that schema (an error names the column and
    /// row of a value it cannot hold). A task owns the connection while the result is
    /// read (the driver's result borrows it) and hands batches over a channel; dropping
    /// the stream aborts the task. The table-providers' own query path strips every `"`
    /// from the SQL, which corrupts string literals, so it is not used.
    async fn stream_query(
        &self,
        sql: &str,
        wanted: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream> {
        let db = self.conn().await?;
        stream_on(&self.target.name, db, sql, wanted).await
    }

    /// What each column of a table needs of loaded values, by column name.
    async fn destination_columns(
        &self,
        conn: &mut Conn,
        rel: &Relation,
    ) -> Result<HashMap<String, types::Dest>> {
        let rows: Vec<(String, String, Option<u64>, Option<u64>)> = conn
            .exec(
                "select column_name, data_type, numeric_precision, numeric_scale \
                 from information_schema.columns where table_schema = ? and table_name = ?",
                (rel.schema.as_str(), rel.identifier.as_str()),
            )
            .await
            .map_err(self.sql_err(format!("reading the columns of {}", D.render(rel))))?;
        Ok(rows
            .into_iter()
            .map(|(name, ty, p, s)| (name, types::Dest::of(&ty, p, s)))
            .collect())
    }

    async fn load_data(
        &self,
        conn: &mut Conn,
        tmp: &Relation,
        stream: SendableRecordBatchStream,
    ) -> Result<u64> {
        let target = self.target.name.clone();
        let rendered = D.render(tmp);
        let dest = self.destination_columns(conn, tmp).await?;
        let schema = stream.schema();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let dests: Vec<types::Dest> = names
            .iter()
            .map(|n| dest.get(n).cloned().unwrap_or(types::Dest::Other))
            .collect();
        // Binary columns travel as hexadecimal into a variable that `UNHEX` decodes.
        let mut columns = Vec::with_capacity(names.len());
        let mut sets = Vec::new();
        for (i, (name, d)) in names.iter().zip(&dests).enumerate() {
            if *d == types::Dest::Binary {
                columns.push(format!("@dvt_{i}"));
                sets.push(format!("{} = UNHEX(@dvt_{i})", D.quote(name)));
            } else {
                columns.push(D.quote(name));
            }
        }
        let set_clause = if sets.is_empty() {
            String::new()
        } else {
            format!(" SET {}", sets.join(", "))
        };
        let first_error: Arc<Mutex<Option<Error>>> = Arc::default();
        let errors = Arc::clone(&first_error);
        // The infile handler must be `Sync`; the stream is only `Send`, so it travels in a
        // mutex and is taken out when the server asks for the file.
        let stream = Mutex::new(stream);
        let relation = rendered.clone();
        conn.set_infile_handler(async move {
            let stream = stream
                .into_inner()
                .map_err(|_| std::io::Error::other("poisoned infile stream"))?;
            let mut done = 0u64;
            let encoded = stream.map(move |batch| {
                let encoded = batch
                    .map_err(|e| Error::bulk_load(&target, &relation, e))
                    .and_then(|b| {
                        let first = done + 1;
                        done += b.num_rows() as u64;
                        encode_batch(&target, &relation, &b, &names, &dests, first)
                    });
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
            "LOAD DATA LOCAL INFILE 'dvt-stream' INTO TABLE {rendered} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' \
             LINES TERMINATED BY '\\n' ({}){set_clause}",
            columns.join(", ")
        );
        let loaded = conn.query_drop(sql).await;
        if let Ok(mut slot) = first_error.lock()
            && let Some(e) = slot.take()
        {
            return Err(e);
        }
        loaded.map_err(|e| Error::bulk_load(&self.target.name, &rendered, e))?;
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
                &rendered,
                format!("the server changed values while loading: {text}"),
            ));
        }
        Ok(rows)
    }
}

/// The schema a result is read into: `wanted`, or each column's natural type.
fn result_schema(
    target: &str,
    columns: &[mysql_async::Column],
    wanted: Option<SchemaRef>,
) -> Result<SchemaRef> {
    if let Some(w) = wanted {
        check_readable(target, "MySQL", &w)?;
        if w.fields().len() != columns.len() {
            return Err(Error::internal(format!(
                "a mysql query returned {} columns where {} were expected",
                columns.len(),
                w.fields().len()
            )));
        }
        return Ok(w);
    }
    let mut fields = Vec::with_capacity(columns.len());
    for c in columns {
        fields.push(types::result_field(c).ok_or_else(|| {
            unsupported_column(
                target,
                "MySQL",
                &c.name_str(),
                &format!("{:?}", c.column_type()),
            )
        })?);
    }
    Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
}

fn finish(builder: &mut BatchBuilder) -> Result<RecordBatch> {
    builder
        .finish()
        .map_err(|e| Error::internal(format!("building a mysql batch: {e}")))
}

/// Aborts a spawned task when dropped, so an abandoned stream releases its connection.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One batch as `LOAD DATA` text: `\N` is NULL, values are enclosed in quotes with the
/// escape character protecting quotes, backslashes and line breaks. `first` is the
/// number of the batch's first row in the load, for errors.
fn encode_batch(
    target: &str,
    relation: &str,
    batch: &RecordBatch,
    names: &[String],
    dests: &[types::Dest],
    first: u64,
) -> Result<Bytes> {
    let fail = |column: usize, row: u64, reason: String| {
        super::types::load_error(target, relation, &names[column], row, reason)
    };
    let readers = super::types::cell_readers(target, relation, batch, names, first)?;
    let mut buf = Vec::with_capacity(batch.num_rows() * 16 * readers.len().max(1));
    let mut value = String::new();
    for row in 0..batch.num_rows() {
        let number = first + row as u64;
        for (i, reader) in readers.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let cell = reader.cell(row).map_err(|r| fail(i, number, r))?;
            if cell == Cell::Null {
                buf.extend_from_slice(b"\\N");
                continue;
            }
            value.clear();
            types::render(&cell, &dests[i], &mut value).map_err(|r| fail(i, number, r))?;
            buf.push(b'"');
            for b in value.bytes() {
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
        buf.push(b'\n');
    }
    Ok(Bytes::from(buf))
}

/// Streams a query's rows on `db` (kept checked out until the stream ends).
async fn stream_on(
    target: &str,
    db: Arc<MySQLConnection>,
    sql: &str,
    wanted: Option<SchemaRef>,
) -> Result<SendableRecordBatchStream> {
    let conn = Arc::clone(&db.conn);
    let sql = sql.to_owned();
    let target = target.to_owned();
    let (schema_tx, schema_rx) = tokio::sync::oneshot::channel::<Result<SchemaRef>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    let task = tokio::spawn(async move {
        let _checked_out = &db;
        let mut guard = conn.lock().await;
        let fail =
            |e: &dyn std::fmt::Display| Error::sql(&target, "running a query", e.to_string());
        let mut result = match guard.exec_iter(sql, ()).await {
            Ok(r) => r,
            Err(e) => {
                let _ = schema_tx.send(Err(fail(&e)));
                return;
            }
        };
        let columns = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
        let setup = result_schema(&target, &columns, wanted).and_then(|schema| {
            let builder = BatchBuilder::new(Arc::clone(&schema), BATCH_LIMITS)
                .map_err(|e| Error::unsupported(&target, e))?;
            Ok((schema, builder))
        });
        let mut builder = match setup {
            Ok((schema, builder)) => {
                if schema_tx.send(Ok(schema)).is_err() {
                    return;
                }
                builder
            }
            Err(e) => {
                let _ = schema_tx.send(Err(e));
                return;
            }
        };
        let kinds: Vec<_> = columns.iter().map(|c| c.column_type()).collect();
        let mut row_number = 0u64;
        loop {
            let row = match result.next().await {
                Ok(Some(row)) => row,
                Ok(None) => {
                    if builder.rows() > 0 {
                        let _ = tx.send(finish(&mut builder)).await;
                    }
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(fail(&e))).await;
                    return;
                }
            };
            row_number += 1;
            for (i, kind) in kinds.iter().enumerate() {
                let value = row.as_ref(i).unwrap_or(&mysql_async::Value::NULL);
                let appended = types::decode(value, *kind)
                    .and_then(|cell| builder.append(i, cell))
                    .map_err(|reason| {
                        read_error(&target, &columns[i].name_str(), row_number, reason)
                    });
                if let Err(e) = appended {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
            if builder.end_row() && tx.send(finish(&mut builder)).await.is_err() {
                return;
            }
        }
    });
    let guard = AbortOnDrop(task);
    let schema = schema_rx
        .await
        .map_err(|_| Error::internal("the mysql reader stopped before its first row"))??;
    let rest = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|item| (item, (rx, guard)))
    });
    let batches = rest.map(|item| item.map_err(Error::into_datafusion));
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
}

/// Whether `rel` is a table or a view, or absent.
async fn kind(target: &str, conn: &mut Conn, rel: &Relation) -> Result<Option<RelationKind>> {
    let kind: Option<String> = conn
        .exec_first(
            "select table_type from information_schema.tables \
             where table_schema = ? and table_name = ?",
            (rel.schema.as_str(), rel.identifier.as_str()),
        )
        .await
        .map_err(|e| Error::sql(target, format!("looking up {}", D.render(rel)), e))?;
    Ok(kind.map(|k| {
        if k.contains("VIEW") {
            RelationKind::View
        } else {
            RelationKind::Table
        }
    }))
}

/// Runs statements with the text protocol (several at once); the rows affected.
async fn execute_on(target: &str, db: &MySQLConnection, sql: &str) -> Result<u64> {
    let mut conn = db.conn.lock().await;
    conn.query_drop(sql)
        .await
        .map_err(|e| Error::sql(target, "running a statement", e))?;
    Ok(conn.affected_rows())
}

/// A pooled connection held for one render's statements ([`Adapter::session`]). The
/// pool resets a connection it gets back (`COM_RESET_CONNECTION`): temporary tables,
/// settings and an open transaction end there.
struct MysqlSession {
    target: String,
    db: Arc<MySQLConnection>,
}

#[async_trait]
impl super::Session for MysqlSession {
    async fn execute(&self, sql: &str) -> Result<u64> {
        execute_on(&self.target, &self.db, sql).await
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        let mut conn = self.db.conn.lock().await;
        kind(&self.target, &mut conn, relation).await
    }

    async fn query_one(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        stream_on(&self.target, Arc::clone(&self.db), sql, None).await
    }

    fn dialect(&self) -> Dialect {
        D
    }
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
        .await?;
        // A pinned connection opened before its database existed (a compilation that
        // queried first) had no default database: it has one now.
        if self.pinned.is_some() && schema == self.target.schema {
            self.use_target_database(&*self.conn().await?).await;
        }
        Ok(())
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        kind(&self.target.name, &mut conn, relation).await
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
        ddl: &TableDdl,
    ) -> Result<()> {
        let defs = column_definitions(&self.target.name, D, schema, ddl)?;
        self.run_ddl(
            format!(
                "CREATE TABLE {} ({defs}) DEFAULT CHARSET=utf8mb4",
                D.render(relation)
            ),
            format!("creating {}", D.render(relation)),
        )
        .await
        .map(drop)
    }

    async fn append(&self, relation: &Relation, stream: SendableRecordBatchStream) -> Result<u64> {
        let db = self.conn().await?;
        let mut guard = db.conn.lock().await;
        self.load_data(&mut guard, relation, stream).await
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
        execute_on(&self.target.name, &db, sql).await
    }

    fn pinned(self: Arc<Self>) -> Arc<dyn Adapter> {
        if self.pinned.is_some() {
            return self;
        }
        Arc::new(MysqlAdapter {
            target: self.target.clone(),
            pool: Arc::clone(&self.pool),
            pinned: Some(Arc::new(tokio::sync::OnceCell::new())),
        })
    }

    async fn session(&self) -> Result<Arc<dyn super::Session>> {
        let db = self.conn().await?;
        if self.pinned.is_none() {
            self.use_target_database(&db).await;
        }
        Ok(Arc::new(MysqlSession {
            target: self.target.name.clone(),
            db,
        }))
    }

    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        self.stream_query(sql, None).await
    }

    async fn query_as(&self, sql: &str, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
        self.stream_query(sql, Some(schema)).await
    }

    async fn relation_schema(&self, relation: &Relation) -> Result<SchemaRef> {
        let db = self.conn().await?;
        let mut conn = db.conn.lock().await;
        let rendered = D.render(relation);
        let action = format!("reading the columns of {rendered}");
        let key = (relation.schema.as_str(), relation.identifier.as_str());
        let columns: Vec<(String, String)> = conn
            .exec(
                "select column_name, column_type from information_schema.columns \
                 where table_schema = ? and table_name = ? order by ordinal_position",
                key,
            )
            .await
            .map_err(self.sql_err(action.clone()))?;
        if columns.is_empty() {
            return Err(Error::sql(
                &self.target.name,
                action,
                format!("{rendered} does not exist"),
            ));
        }
        // MariaDB's JSON is LONGTEXT with a `json_valid` check; MySQL has no such table
        // column (and a JSON type of its own), so a failure here means no checks.
        let checks: Vec<String> = conn
            .exec(
                "select check_clause from information_schema.check_constraints \
                 where constraint_schema = ? and table_name = ?",
                key,
            )
            .await
            .unwrap_or_default();
        let mut fields = Vec::with_capacity(columns.len());
        let mut probes = Vec::new();
        for (i, (name, column_type)) in columns.iter().enumerate() {
            let json = checks.contains(&format!("json_valid(`{name}`)"));
            fields.push(match types::natural(name, column_type, json) {
                types::Natural::Field(f) => f,
                types::Natural::ProbeBool => {
                    probes.push(i);
                    types::unsupported(name, column_type)
                }
                types::Natural::Unsupported => types::unsupported(name, column_type),
            });
        }
        if !probes.is_empty() {
            // `tinyint(1)` is MySQL's boolean, but holds -128..127: it reads as a boolean
            // only when every value is 0 or 1.
            let exprs = probes
                .iter()
                .map(|&i| format!("coalesce(max({} not in (0, 1)), 0)", D.quote(&columns[i].0)))
                .collect::<Vec<_>>()
                .join(", ");
            let row: Option<mysql_async::Row> = conn
                .query_first(format!("select {exprs} from {rendered}"))
                .await
                .map_err(self.sql_err(format!("measuring the tinyint(1) columns of {rendered}")))?;
            for (k, &i) in probes.iter().enumerate() {
                let other: i64 = row
                    .as_ref()
                    .and_then(|r| r.get::<Option<i64>, _>(k).flatten())
                    .unwrap_or(0);
                let ty = if other == 0 {
                    arrow::datatypes::DataType::Boolean
                } else {
                    arrow::datatypes::DataType::Int8
                };
                fields[i] = arrow::datatypes::Field::new(&columns[i].0, ty, true);
            }
        }
        Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
    }
}
