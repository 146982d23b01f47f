//! PostgreSQL: the table-providers crate's connection pool, results decoded by DVT from
//! the binary protocol ([`types`], [`rows`]), `COPY ... FROM STDIN` for bulk loads.
//!
//! Values never depend on the session's settings: results travel in binary form
//! (`timestamptz` as UTC microseconds) and loaded timestamps carry an explicit `+00`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::postgresconn::PostgresConnection;
use datafusion_table_providers::sql::db_connection_pool::postgrespool::PostgresConnectionPool;
use datafusion_table_providers::util::secrets::to_secret_map;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{PostgresConfig, TargetConfig};
use futures::{SinkExt, StreamExt};
use tokio_postgres::types::{Kind, Type};
use tokio_postgres::{Client, GenericClient, SimpleQueryMessage};

use super::types::{
    BATCH_LIMITS, BatchBuilder, Cell, NUMERIC, ValueError, check_readable, field,
    unsupported_column,
};
use super::{Adapter, RelationKind, TableDdl, column_definitions, trim_select};
use crate::error::{Error, Result};

mod rows;
pub(crate) mod types;

const D: Dialect = Dialect::Postgres;

/// A PostgreSQL target.
pub(crate) struct PostgresAdapter {
    target: TargetConfig,
    pool: Arc<PostgresConnectionPool>,
    /// One per connection the pool may open. The pool gives up on a caller that waits
    /// 30 s for a connection, which a busy run (more threads, or more scan partitions,
    /// than connections, behind long queries) reaches while nothing is wrong: callers
    /// queue here instead, for as long as the connections they wait for are in use.
    permits: Arc<tokio::sync::Semaphore>,
    /// Set on a [pinned](Adapter::pinned) adapter: the one connection every statement
    /// and session of it uses, checked out at the first.
    pinned: Option<Arc<tokio::sync::OnceCell<Arc<Shared>>>>,
}

/// A pooled connection and its permit, returned to the pool before the permit is.
struct Checked {
    inner: PostgresConnection,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl std::ops::Deref for Checked {
    type Target = PostgresConnection;

    fn deref(&self) -> &PostgresConnection {
        &self.inner
    }
}

/// A connection several statements share (a render's session, a pinned adapter), cleared
/// of what they left on it once the last holder lets go, before the pool hands it to
/// anyone else: an open or failed transaction, temporary tables, settings, a role,
/// advisory locks. Prepared statements stay: the driver caches its own type lookups as
/// statements.
struct Shared {
    /// `None` only once dropped.
    held: Option<Checked>,
    /// Whether statements of several calls shared it (a pooled connection one call used
    /// goes straight back).
    reset: bool,
    /// Inside a transaction DVT opened ([`Shared::begin`]): a step that would open its
    /// own (a swap inside a whole replace) is part of it instead.
    in_txn: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Opens a transaction unless DVT has one open on this connection; whether it did.
    async fn begin(&self, target: &str, what: &str) -> Result<bool> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.in_txn.swap(true, SeqCst) {
            return Ok(false);
        }
        if let Err(e) = self.conn.batch_execute("BEGIN").await {
            self.in_txn.store(false, SeqCst);
            return Err(sql_err(target, format!("starting the {what} transaction"))(
                e,
            ));
        }
        Ok(true)
    }

    /// Ends what [`Shared::begin`] opened: commits, or rolls back (a failed statement
    /// aborted it; nothing of it is kept).
    async fn end(&self, target: &str, what: &str, commit: bool) -> Result<()> {
        self.in_txn
            .store(false, std::sync::atomic::Ordering::SeqCst);
        if commit {
            self.conn
                .batch_execute("COMMIT")
                .await
                .map_err(sql_err(target, format!("committing the {what}")))
        } else {
            let _ = self.conn.batch_execute("ROLLBACK").await;
            Ok(())
        }
    }
}

impl std::ops::Deref for Shared {
    type Target = Checked;

    fn deref(&self) -> &Checked {
        self.held
            .as_ref()
            .expect("a shared connection is only taken when dropped")
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let Some(conn) = self.held.take().filter(|_| self.reset) else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            // Outside a transaction ROLLBACK only warns; it never fails.
            let _ = conn.conn.batch_execute("ROLLBACK").await;
            let _ = conn
                .conn
                .batch_execute(
                    "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DISCARD TEMP; \
                     DISCARD SEQUENCES; SELECT pg_advisory_unlock_all()",
                )
                .await;
        });
    }
}

/// Connections per PostgreSQL target: two for each thread (the profile's, or the run's
/// `--threads` when larger; a node's render holds one while its materialization may ask
/// for another), at least bb8's ten.
fn pool_size(threads: Option<usize>) -> usize {
    (2 * threads.unwrap_or(1)).max(10)
}

impl std::fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("target", &self.target.name)
            .finish_non_exhaustive()
    }
}

impl PostgresAdapter {
    pub(crate) async fn connect(target: TargetConfig, cfg: &PostgresConfig) -> Result<Self> {
        let mut params = HashMap::from([
            ("host".to_owned(), cfg.host.clone()),
            ("port".to_owned(), cfg.port.to_string()),
            ("user".to_owned(), cfg.user.clone()),
            ("db".to_owned(), cfg.dbname.clone()),
            (
                "sslmode".to_owned(),
                target
                    .extra
                    .get("sslmode")
                    .cloned()
                    .unwrap_or_else(|| "prefer".to_owned()),
            ),
        ]);
        if !cfg.password.is_empty() {
            params.insert("pass".to_owned(), cfg.password.expose().to_owned());
        }
        // dbt-postgres's TLS keys. Client certificates cannot be presented by the driver:
        // refusing them is better than connecting without the identity they configure.
        if let Some(ca) = target.extra.get("sslrootcert") {
            params.insert("sslrootcert".to_owned(), ca.clone());
        }
        for key in ["sslcert", "sslkey"] {
            if target.extra.contains_key(key) {
                return Err(Error::unsupported(
                    &target.name,
                    format!("`{key}`: client certificates are not supported yet"),
                ));
            }
        }
        let size = pool_size(target.threads);
        params.insert("connection_pool_size".to_owned(), size.to_string());
        let pool = PostgresConnectionPool::new(to_secret_map(params))
            .await
            .map_err(|e| Error::connection(&target.name, e))?;
        Ok(PostgresAdapter {
            target,
            pool: Arc::new(pool),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            pinned: None,
        })
    }

    /// A connection for one call: the pinned one, or a pooled one of its own.
    async fn conn(&self) -> Result<Arc<Shared>> {
        match self.pinned {
            Some(_) => self.shared().await,
            None => Ok(Arc::new(Shared {
                held: Some(self.checkout().await?),
                reset: false,
                in_txn: Default::default(),
            })),
        }
    }

    /// The pinned connection, or a new one to share.
    async fn shared(&self) -> Result<Arc<Shared>> {
        let open = || async {
            Ok::<_, Error>(Arc::new(Shared {
                held: Some(self.checkout().await?),
                reset: true,
                in_txn: Default::default(),
            }))
        };
        match &self.pinned {
            Some(cell) => Ok(Arc::clone(cell.get_or_try_init(open).await?)),
            None => open().await,
        }
    }

    async fn checkout(&self) -> Result<Checked> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| Error::internal(format!("the connection queue closed: {e}")))?;
        let conn = self
            .pool
            .connect_direct()
            .await
            .map_err(|e| Error::connection(&self.target.name, e))?;
        Ok(Checked {
            inner: conn,
            _permit: permit,
        })
    }

    fn sql_err(&self, action: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
        sql_err(&self.target.name, action)
    }

    async fn drop_if_exists(&self, client: &impl GenericClient, rel: &Relation) -> Result<()> {
        if let Some(kind) = kind(&self.target.name, client, rel).await? {
            let sql = format!(
                "DROP {} IF EXISTS {} CASCADE",
                kind.keyword(),
                D.render(rel)
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(self.sql_err(format!("dropping {}", D.render(rel))))?;
        }
        Ok(())
    }

    /// Serializes, until the transaction ends, every DVT transaction that replaces
    /// `relation`: two runs publishing one name at once would otherwise both find it
    /// missing and the second would fail to create or rename it.
    async fn lock_name(&self, txn: &impl GenericClient, relation: &Relation) -> Result<()> {
        let key = format!("dvt:{}.{}", relation.schema, relation.identifier);
        txn.execute(
            "select pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await
        .map_err(self.sql_err(format!("locking the name {}", D.render(relation))))?;
        Ok(())
    }

    /// Renames the staged relation over `relation` in one transaction. Dropping the old
    /// relation drops the views built on it (`CASCADE`), as dbt-postgres does: the run
    /// rebuilds them after it in DAG order.
    async fn swap_in(
        &self,
        conn: &Shared,
        tmp: &Relation,
        new_kind: RelationKind,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        let client: &Client = &conn.conn;
        let rename = |kind: RelationKind, from: &Relation, to: &Relation, what: &str| {
            let sql = format!(
                "ALTER {} {} RENAME TO {}",
                kind.keyword(),
                D.render(from),
                D.quote(&to.identifier)
            );
            let what = format!("renaming {} {what}", D.render(from));
            async move { client.batch_execute(&sql).await.map_err(self.sql_err(what)) }
        };
        in_transaction(&self.target.name, conn, "swap", async {
            self.lock_name(client, relation).await?;
            self.drop_if_exists(client, backup).await?;
            let old = kind(&self.target.name, client, relation).await?;
            if let Some(kind) = old {
                rename(kind, relation, backup, "aside").await?;
            }
            rename(new_kind, tmp, relation, "into place").await?;
            if let Some(kind) = old {
                let sql = format!("DROP {} {} CASCADE", kind.keyword(), D.render(backup));
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(self.sql_err(format!("dropping {}", D.render(backup))))?;
            }
            Ok(())
        })
        .await
    }

    /// Streams a query's rows on a pooled connection ([`stream_on`]).
    async fn stream_query(
        &self,
        sql: &str,
        wanted: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream> {
        let conn = self.conn().await?;
        stream_on(&self.target.name, conn, sql, wanted).await
    }

    async fn copy_in(
        &self,
        client: &Client,
        tmp: &Relation,
        columns: &str,
        mut stream: SendableRecordBatchStream,
    ) -> Result<u64> {
        let target = &self.target.name;
        let rendered = D.render(tmp);
        let sql = format!("COPY {rendered} ({columns}) FROM STDIN WITH (FORMAT csv)");
        let sink = client
            .copy_in::<_, Bytes>(&sql)
            .await
            .map_err(|e| Error::bulk_load(target, &rendered, describe(e)))?;
        futures::pin_mut!(sink);
        let names: Vec<String> = stream
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut done = 0u64;
        let mut value = String::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Error::bulk_load(target, &rendered, e))?;
            let readers = super::types::cell_readers(target, &rendered, &batch, &names, done + 1)?;
            let mut buf = Vec::with_capacity(batch.num_rows() * 16 * readers.len().max(1));
            for row in 0..batch.num_rows() {
                let number = done + row as u64 + 1;
                for (i, reader) in readers.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    let fail = |reason| {
                        Error::bulk_load(
                            target,
                            &rendered,
                            ValueError {
                                column: names[i].clone(),
                                row: number,
                                reason,
                            },
                        )
                    };
                    let cell = reader.cell(row).map_err(fail)?;
                    // NULL is an unquoted empty field; every value is quoted, so an empty
                    // string stays distinct from NULL.
                    if cell == Cell::Null {
                        continue;
                    }
                    value.clear();
                    types::render(&cell, &mut value).map_err(fail)?;
                    buf.push(b'"');
                    for b in value.bytes() {
                        if b == b'"' {
                            buf.push(b'"');
                        }
                        buf.push(b);
                    }
                    buf.push(b'"');
                }
                buf.push(b'\n');
            }
            done += batch.num_rows() as u64;
            sink.send(Bytes::from(buf))
                .await
                .map_err(|e| Error::bulk_load(target, &rendered, describe(e)))?;
        }
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| Error::bulk_load(target, &rendered, describe(e)))
    }
}

/// The digits after the point of `money` on this server (its `lc_monetary`).
async fn money_scale(target: &str, client: &Client) -> Result<u32> {
    let row = client
        .query_one("select scale(1::money::numeric)::int4", &[])
        .await
        .map_err(sql_err(target, "reading the scale of `money`"))?;
    let scale: Option<i32> = row.get(0);
    Ok(scale.unwrap_or(2).max(0) as u32)
}

/// Streams a query's rows on `conn` (kept checked out until the stream ends), every column decoded by DVT ([`types`]); with `wanted`,
/// into exactly that schema (an error names the column and row of a value it cannot
/// hold), otherwise into each column's natural type.
async fn stream_on(
    target: &str,
    conn: Arc<Shared>,
    sql: &str,
    wanted: Option<SchemaRef>,
) -> Result<SendableRecordBatchStream> {
    let target = &target.to_owned();
    let statement = conn
        .conn
        .prepare(sql)
        .await
        .map_err(sql_err(target, "preparing a query"))?;
    let columns = statement.columns();
    let money_scale = if columns.iter().any(|c| uses_money(c.type_())) {
        money_scale(target, &conn.conn).await?
    } else {
        2
    };
    let schema = match wanted {
        Some(w) => {
            check_readable(target, "PostgreSQL", &w)?;
            if w.fields().len() != columns.len() {
                return Err(Error::internal(format!(
                    "a postgres query returned {} columns where {} were expected",
                    columns.len(),
                    w.fields().len()
                )));
            }
            w
        }
        None => {
            let mut fields = Vec::with_capacity(columns.len());
            for c in columns {
                fields.push(
                    match types::natural(c.name(), c.type_(), c.type_modifier(), money_scale) {
                        types::Natural::Field(f) => f,
                        // Without a relation to measure, its exact text.
                        types::Natural::ProbeNumeric => {
                            field(c.name(), DataType::Utf8, Some(NUMERIC))
                        }
                        types::Natural::Unsupported(ty) => {
                            return Err(unsupported_column(target, "PostgreSQL", c.name(), &ty));
                        }
                    },
                );
            }
            Arc::new(Schema::new(fields))
        }
    };
    let mut decoders = Vec::with_capacity(columns.len());
    for c in columns {
        decoders.push(
            types::decoder(c.type_(), money_scale).ok_or_else(|| {
                unsupported_column(target, "PostgreSQL", c.name(), c.type_().name())
            })?,
        );
    }
    let builder = BatchBuilder::new(Arc::clone(&schema), BATCH_LIMITS)
        .map_err(|e| Error::unsupported(target, e))?;
    let rows = conn
        .conn
        .query_raw(&statement, std::iter::empty::<i32>())
        .await
        .map_err(sql_err(target, "running a query"))?;
    let reader = rows::Reader {
        target: target.clone(),
        names: columns.iter().map(|c| c.name().to_owned()).collect(),
        decoders,
        builder,
        rows: Box::pin(rows),
        row: 0,
        done: false,
        _guard: conn,
    };
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        reader.into_stream(),
    )))
}

fn sql_err(target: &str, action: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let target = target.to_owned();
    let action = action.into();
    move |e| Error::sql(&target, action, describe(e))
}

/// Whether `rel` is a table, a view or a materialized view, or absent.
async fn kind(
    target: &str,
    client: &impl GenericClient,
    rel: &Relation,
) -> Result<Option<RelationKind>> {
    let row = client
        .query_opt(
            "select c.relkind::text from pg_catalog.pg_class c \
             join pg_catalog.pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = $1 and c.relname = $2",
            &[&rel.schema, &rel.identifier],
        )
        .await
        .map_err(sql_err(target, format!("looking up {}", D.render(rel))))?;
    Ok(row.map(|r| match r.get::<_, String>(0).as_str() {
        "v" => RelationKind::View,
        "m" => RelationKind::MaterializedView,
        _ => RelationKind::Table,
    }))
}

/// Runs statements with the simple protocol (several at once); the rows they affected.
async fn execute_on(target: &str, client: &Client, sql: &str) -> Result<u64> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(sql_err(target, "running a statement"))?;
    Ok(messages
        .iter()
        .map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => *n,
            _ => 0,
        })
        .sum())
}

/// A connection held for one render's statements ([`Adapter::session`]): its own, or
/// its pinned adapter's.
struct PgSession {
    target: String,
    conn: Arc<Shared>,
}

#[async_trait]
impl super::Session for PgSession {
    async fn execute(&self, sql: &str) -> Result<u64> {
        execute_on(&self.target, &self.conn.conn, sql).await
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        kind(&self.target, &*self.conn.conn, relation).await
    }

    async fn query_one(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        stream_on(&self.target, Arc::clone(&self.conn), sql, None).await
    }

    fn dialect(&self) -> Dialect {
        D
    }
}

/// Runs `body` between `BEGIN` and `COMMIT` on `conn`, rolling back when it fails;
/// inside a transaction DVT already opened there (a whole replace), as part of it.
/// Written out rather than with the driver's transaction, which needs the connection
/// to itself, so that a pinned connection shared with a render can run it.
async fn in_transaction<T>(
    target: &str,
    conn: &Shared,
    what: &str,
    body: impl Future<Output = Result<T>>,
) -> Result<T> {
    let opened = conn.begin(target, what).await?;
    let out = body.await;
    if opened {
        conn.end(target, what, out.is_ok()).await?;
    }
    out
}

/// Whether reading a column of `ty` needs the server's `money` scale.
fn uses_money(ty: &Type) -> bool {
    match ty.kind() {
        Kind::Array(inner) | Kind::Domain(inner) => uses_money(inner),
        _ => *ty == Type::MONEY,
    }
}

/// tokio-postgres's `Display` for server errors is only "db error"; the server's message
/// and detail are what a user needs.
fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                s.push_str(&format!(" ({detail})"));
            }
            s
        }
        None => e.to_string(),
    }
}

#[async_trait]
impl Adapter for PostgresAdapter {
    fn target(&self) -> &TargetConfig {
        &self.target
    }

    fn dialect(&self) -> Dialect {
        D
    }

    async fn server_version(&self) -> Result<String> {
        let conn = self.conn().await?;
        let row = conn
            .conn
            .query_one("select version()", &[])
            .await
            .map_err(self.sql_err("reading the server version"))?;
        Ok(row.get(0))
    }

    async fn schema_exists(&self, schema: &str) -> Result<bool> {
        let conn = self.conn().await?;
        let row = conn
            .conn
            .query_opt(
                "select 1 from pg_catalog.pg_namespace where nspname = $1",
                &[&schema],
            )
            .await
            .map_err(self.sql_err(format!("looking up schema {}", D.quote(schema))))?;
        Ok(row.is_some())
    }

    async fn create_schema(&self, schema: &str) -> Result<()> {
        let conn = self.conn().await?;
        conn.conn
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", D.quote(schema)))
            .await
            .map_err(self.sql_err(format!("creating schema {}", D.quote(schema))))
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        let conn = self.conn().await?;
        kind(&self.target.name, &*conn.conn, relation).await
    }

    async fn drop_relation(&self, relation: &Relation) -> Result<()> {
        let conn = self.conn().await?;
        self.drop_if_exists(&*conn.conn, relation).await
    }

    async fn create_table_as(&self, relation: &Relation, select_sql: &str) -> Result<Option<u64>> {
        let conn = self.conn().await?;
        let sql = format!(
            "CREATE TABLE {} AS {}",
            D.render(relation),
            trim_select(select_sql)
        );
        let rows = conn
            .conn
            .execute(sql.as_str(), &[])
            .await
            .map_err(self.sql_err(format!("creating {}", D.render(relation))))?;
        Ok(Some(rows))
    }

    async fn create_view_as(&self, relation: &Relation, select_sql: &str) -> Result<()> {
        let conn = self.conn().await?;
        let sql = format!(
            "CREATE VIEW {} AS {}",
            D.render(relation),
            trim_select(select_sql)
        );
        conn.conn
            .batch_execute(&sql)
            .await
            .map_err(self.sql_err(format!("creating {}", D.render(relation))))
    }

    async fn create_table(
        &self,
        relation: &Relation,
        schema: &Schema,
        ddl: &TableDdl,
    ) -> Result<()> {
        let defs = column_definitions(&self.target.name, D, schema, ddl)?;
        let conn = self.conn().await?;
        conn.conn
            .batch_execute(&format!("CREATE TABLE {} ({defs})", D.render(relation)))
            .await
            .map_err(self.sql_err(format!("creating {}", D.render(relation))))
    }

    async fn append(&self, relation: &Relation, stream: SendableRecordBatchStream) -> Result<u64> {
        let columns = stream
            .schema()
            .fields()
            .iter()
            .map(|f| D.quote(f.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let conn = self.conn().await?;
        self.copy_in(&conn.conn, relation, &columns, stream).await
    }

    fn renames_views(&self) -> bool {
        false
    }

    async fn replace_view_in_one_transaction(
        &self,
        relation: &Relation,
        select_sql: &str,
    ) -> Result<()> {
        let conn = self.conn().await?;
        let client: &Client = &conn.conn;
        in_transaction(&self.target.name, &conn, "view", async {
            self.lock_name(client, relation).await?;
            self.drop_if_exists(client, relation).await?;
            let sql = format!(
                "CREATE VIEW {} AS {}",
                D.render(relation),
                trim_select(select_sql)
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(self.sql_err(format!("creating {}", D.render(relation))))
        })
        .await
    }

    async fn swap(
        &self,
        staged: &Relation,
        kind: RelationKind,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        let conn = self.conn().await?;
        self.swap_in(&conn, staged, kind, relation, backup).await
    }

    async fn execute(&self, sql: &str) -> Result<u64> {
        let conn = self.conn().await?;
        execute_on(&self.target.name, &conn.conn, sql).await
    }

    async fn session(&self) -> Result<Arc<dyn super::Session>> {
        Ok(Arc::new(PgSession {
            target: self.target.name.clone(),
            conn: self.shared().await?,
        }))
    }

    async fn begin_atomic(&self) -> Result<bool> {
        match self.pinned {
            Some(_) => {
                self.shared()
                    .await?
                    .begin(&self.target.name, "replace")
                    .await
            }
            None => Ok(false),
        }
    }

    async fn end_atomic(&self, commit: bool) -> Result<()> {
        self.shared()
            .await?
            .end(&self.target.name, "replace", commit)
            .await
    }

    fn pinned(self: Arc<Self>) -> Arc<dyn Adapter> {
        if self.pinned.is_some() {
            return self;
        }
        Arc::new(PostgresAdapter {
            target: self.target.clone(),
            pool: Arc::clone(&self.pool),
            permits: Arc::clone(&self.permits),
            pinned: Some(Arc::new(tokio::sync::OnceCell::new())),
        })
    }

    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        self.stream_query(sql, None).await
    }

    async fn query_as(&self, sql: &str, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
        self.stream_query(sql, Some(schema)).await
    }

    async fn relation_schema(&self, relation: &Relation) -> Result<SchemaRef> {
        let conn = self.conn().await?;
        let rendered = D.render(relation);
        let action = format!("reading the columns of {rendered}");
        let statement = conn
            .conn
            .prepare(&format!("SELECT * FROM {rendered}"))
            .await
            .map_err(self.sql_err(action.clone()))?;
        let columns = statement.columns();
        let money_scale = if columns.iter().any(|c| uses_money(c.type_())) {
            money_scale(&self.target.name, &conn.conn).await?
        } else {
            2
        };
        let mut fields = Vec::with_capacity(columns.len());
        let mut probes = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            fields.push(
                match types::natural(c.name(), c.type_(), c.type_modifier(), money_scale) {
                    types::Natural::Field(f) => f,
                    types::Natural::ProbeNumeric => {
                        probes.push(i);
                        types::probed_numeric(c.name(), None, None)
                    }
                    types::Natural::Unsupported(ty) => types::unsupported(c.name(), &ty),
                },
            );
        }
        if !probes.is_empty() {
            // The precision and scale an unconstrained numeric needs, over the whole
            // relation: its largest scale and its most digits before the point.
            let exprs = probes
                .iter()
                .map(|&i| {
                    let c = D.quote(columns[i].name());
                    format!("max(scale({c}))::int4, max(length(trunc(abs({c}))::text))::int4")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let row = conn
                .conn
                .query_one(&format!("SELECT {exprs} FROM {rendered}"), &[])
                .await
                .map_err(self.sql_err(format!("measuring the numeric columns of {rendered}")))?;
            for (k, &i) in probes.iter().enumerate() {
                let scale: Option<i32> = row.get(2 * k);
                let digits: Option<i32> = row.get(2 * k + 1);
                fields[i] = types::probed_numeric(columns[i].name(), scale, digits);
            }
        }
        Ok(Arc::new(Schema::new(fields)))
    }
}
