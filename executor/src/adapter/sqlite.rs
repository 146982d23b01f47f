//! SQLite: rusqlite on blocking threads. Every swap is one transaction, since SQLite's DDL
//! is transactional. Arrow types come from the declared column types, or from the values
//! of columns without one ([`types`]), so values round-trip through SQLite's loose typing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{SqliteConfig, TargetConfig};
use futures::StreamExt;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{Value, ValueRef};

use super::types::{BATCH_LIMITS, BatchBuilder, BatchLimits, read_error};
use super::{Adapter, RelationKind, TableDdl, column_definitions, trim_select};
use crate::error::{Error, Result};

pub(crate) mod types;

const D: Dialect = Dialect::Sqlite;

/// An SQLite database file.
#[derive(Debug)]
pub(crate) struct SqliteAdapter {
    target: TargetConfig,
    path: PathBuf,
    /// Set on a [pinned](Adapter::pinned) adapter: the one connection its statements
    /// and sessions use, opened at the first (bulk loads and typed reads still open
    /// their own); closing it ends its temporary tables.
    pinned: Option<Arc<tokio::sync::OnceCell<Shared>>>,
}

/// A connection statements share (a session, a pinned adapter).
type Shared = Arc<std::sync::Mutex<rusqlite::Connection>>;

impl SqliteAdapter {
    pub(crate) async fn connect(target: TargetConfig, cfg: &SqliteConfig) -> Result<Self> {
        let adapter = SqliteAdapter {
            target,
            path: cfg.path.clone(),
            pinned: None,
        };
        // Opening once up front reports a bad path at connect time, like the servers do.
        adapter.run(|_| Ok(())).await?;
        Ok(adapter)
    }

    /// Runs `f` on a blocking thread, on the pinned connection or a fresh one.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        let path = self.path.clone();
        let target = self.target.name.clone();
        let pinned = match &self.pinned {
            Some(_) => Some(self.shared().await?),
            None => None,
        };
        tokio::task::spawn_blocking(move || match pinned {
            Some(conn) => f(&mut conn.lock().unwrap_or_else(|e| e.into_inner())),
            None => f(&mut open(&target, &path)?),
        })
        .await
        .map_err(|e| self.worker_failed(e))?
    }

    /// The pinned connection, or a new one to share.
    async fn shared(&self) -> Result<Shared> {
        let open_one = || async {
            let (path, target) = (self.path.clone(), self.target.name.clone());
            let conn = tokio::task::spawn_blocking(move || open(&target, &path))
                .await
                .map_err(|e| self.worker_failed(e))??;
            Ok::<_, Error>(Arc::new(std::sync::Mutex::new(conn)))
        };
        match &self.pinned {
            Some(cell) => Ok(Arc::clone(cell.get_or_try_init(open_one).await?)),
            None => open_one().await,
        }
    }

    fn worker_failed(&self, e: tokio::task::JoinError) -> Error {
        Error::internal(format!(
            "sqlite worker for `{}` failed: {e}",
            self.target.name
        ))
    }
}

fn open(target: &str, path: &PathBuf) -> Result<rusqlite::Connection> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| Error::connection(target, e))?;
    }
    let conn = rusqlite::Connection::open(path)
        .map_err(|e| Error::connection(target, format!("cannot open `{}`: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| Error::connection(target, e))?;
    // WAL lets a federated model read a file while another node writes to it, and
    // readers never see a half-committed swap.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| Error::connection(target, e))?;
    // Since 3.26 `ALTER TABLE ... RENAME` re-parses every view and fails when one reads
    // the table the swap just dropped (it is renamed back into place a statement later).
    // The legacy behaviour renames without touching views, which then read the new table
    // under the old name, as they do on PostgreSQL and MySQL.
    conn.pragma_update(None, "legacy_alter_table", "ON")
        .map_err(|e| Error::connection(target, e))?;
    // dbt's hashing (`dbt.hash`, snapshots' `dbt_scd_id`) calls `md5()`, which
    // PostgreSQL and MySQL have and SQLite lacks.
    conn.create_scalar_function(
        "md5",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |f| {
            use rusqlite::types::ValueRef;
            Ok(match f.get_raw(0) {
                ValueRef::Null => None,
                ValueRef::Integer(i) => Some(dvt_core::sql::md5_hex(i.to_string().as_bytes())),
                ValueRef::Real(r) => Some(dvt_core::sql::md5_hex(r.to_string().as_bytes())),
                ValueRef::Text(b) | ValueRef::Blob(b) => Some(dvt_core::sql::md5_hex(b)),
            })
        },
    )
    .map_err(|e| Error::connection(target, e))?;
    Ok(conn)
}

fn err(target: &str, action: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let target = target.to_owned();
    let action = action.into();
    move |e| Error::sql(&target, action, e)
}

fn kind(target: &str, conn: &rusqlite::Connection, rel: &Relation) -> Result<Option<RelationKind>> {
    let sql = format!(
        "select type from {}.sqlite_master where name = ?1 and type in ('table', 'view')",
        D.quote(&rel.schema)
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(err(target, format!("looking up {}", D.render(rel))))?;
    let mut rows = stmt
        .query([&rel.identifier])
        .map_err(err(target, format!("looking up {}", D.render(rel))))?;
    let row = rows
        .next()
        .map_err(err(target, format!("looking up {}", D.render(rel))))?;
    Ok(match row {
        None => None,
        Some(r) => {
            let t: String = r
                .get(0)
                .map_err(err(target, format!("looking up {}", D.render(rel))))?;
            Some(if t == "view" {
                RelationKind::View
            } else {
                RelationKind::Table
            })
        }
    })
}

fn drop_if_exists(target: &str, conn: &rusqlite::Connection, rel: &Relation) -> Result<()> {
    if let Some(k) = kind(target, conn, rel)? {
        conn.execute_batch(&format!("DROP {} IF EXISTS {}", k.keyword(), D.render(rel)))
            .map_err(err(target, format!("dropping {}", D.render(rel))))?;
    }
    Ok(())
}

/// Inside an open transaction: moves the staged table over `relation`. The transaction
/// makes drop and rename one step for readers, so no backup name is needed.
fn swap_table(
    target: &str,
    conn: &rusqlite::Connection,
    staged: &Relation,
    relation: &Relation,
) -> Result<()> {
    drop_if_exists(target, conn, relation)?;
    conn.execute_batch(&format!(
        "ALTER TABLE {} RENAME TO {}",
        D.render(staged),
        D.quote(&relation.identifier)
    ))
    .map_err(err(
        target,
        format!("renaming {} into place", D.render(staged)),
    ))
}

/// Runs `f` in a transaction that commits only if `f` succeeds.
fn in_transaction<T>(
    target: &str,
    conn: &mut rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    // A transaction a hook opened on a pinned connection is joined: it ends as the
    // hook's statements say.
    if !conn.is_autocommit() {
        return f(conn);
    }
    // IMMEDIATE takes the write lock up front, where the busy timeout applies; a
    // deferred transaction upgrading its lock fails at once when another writer holds it.
    let txn = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err(target, "starting a transaction"))?;
    let out = f(&txn)?;
    txn.commit().map_err(err(target, "committing"))?;
    Ok(out)
}

/// Runs each statement of `sql` in turn; the rows they changed.
fn execute_batch(target: &str, conn: &rusqlite::Connection, sql: &str) -> Result<u64> {
    let mut total = 0u64;
    let mut batch = rusqlite::Batch::new(conn, sql);
    while let Some(mut stmt) = batch.next().map_err(err(target, "running a statement"))? {
        match stmt.execute([]) {
            Ok(n) => total += n as u64,
            Err(rusqlite::Error::ExecuteReturnedResults) => {}
            Err(e) => return Err(err(target, "running a statement")(e)),
        }
    }
    Ok(total)
}

/// One connection to the file held for one render's statements ([`Adapter::session`]);
/// closing it ends its temporary tables.
struct SqliteSession {
    target: String,
    conn: Shared,
}

impl SqliteSession {
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| Error::internal(format!("sqlite worker for `{}` failed: {e}", self.target)))?
    }
}

#[async_trait]
impl super::Session for SqliteSession {
    async fn execute(&self, sql: &str) -> Result<u64> {
        let (target, sql) = (self.target.clone(), sql.to_owned());
        self.run(move |conn| execute_batch(&target, conn, &sql))
            .await
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        let (target, relation) = (self.target.clone(), relation.clone());
        self.run(move |conn| kind(&target, conn, &relation)).await
    }

    fn dialect(&self) -> Dialect {
        D
    }

    async fn query_one(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let (target, sql) = (self.target.clone(), sql.to_owned());
        let (schema, batches) = self
            .run(move |conn| query_batches(&target, conn, &sql))
            .await?;
        Ok(Box::pin(
            MemoryStream::try_new(batches, schema, None)
                .map_err(|e| Error::internal(e.to_string()))?,
        ))
    }
}

#[async_trait]
impl Adapter for SqliteAdapter {
    fn target(&self) -> &TargetConfig {
        &self.target
    }

    fn dialect(&self) -> Dialect {
        D
    }

    async fn server_version(&self) -> Result<String> {
        Ok(format!("SQLite {}", rusqlite::version()))
    }

    async fn schema_exists(&self, schema: &str) -> Result<bool> {
        // `main` always exists; attached databases are not created by DVT.
        Ok(schema == "main")
    }

    async fn create_schema(&self, _schema: &str) -> Result<()> {
        Ok(())
    }

    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>> {
        let relation = relation.clone();
        let target = self.target.name.clone();
        self.run(move |conn| kind(&target, conn, &relation)).await
    }

    async fn drop_relation(&self, relation: &Relation) -> Result<()> {
        let relation = relation.clone();
        let target = self.target.name.clone();
        self.run(move |conn| drop_if_exists(&target, conn, &relation))
            .await
    }

    async fn create_table_as(&self, relation: &Relation, select_sql: &str) -> Result<Option<u64>> {
        let sql = format!(
            "CREATE TABLE {} AS {}",
            D.render(relation),
            trim_select(select_sql)
        );
        let action = format!("creating {}", D.render(relation));
        let target = self.target.name.clone();
        self.run(move |conn| {
            in_transaction(&target, conn, |txn| {
                txn.execute_batch(&sql).map_err(err(&target, action))
            })
        })
        .await?;
        Ok(None)
    }

    async fn create_view_as(&self, relation: &Relation, select_sql: &str) -> Result<()> {
        let relation = relation.clone();
        let select_sql = trim_select(select_sql).to_owned();
        let target = self.target.name.clone();
        self.run(move |conn| {
            in_transaction(&target, conn, |txn| {
                create_checked_view(&target, txn, &relation, &select_sql)
            })
        })
        .await
    }

    async fn create_table(
        &self,
        relation: &Relation,
        schema: &Schema,
        ddl: &TableDdl,
    ) -> Result<()> {
        let defs = column_definitions(&self.target.name, D, schema, ddl)?;
        let sql = format!("CREATE TABLE {} ({defs})", D.render(relation));
        let action = format!("creating {}", D.render(relation));
        let target = self.target.name.clone();
        self.run(move |conn| conn.execute_batch(&sql).map_err(err(&target, action)))
            .await
    }

    async fn append(
        &self,
        relation: &Relation,
        mut stream: SendableRecordBatchStream,
    ) -> Result<u64> {
        let target = self.target.name.clone();
        let path = self.path.clone();
        let rendered = D.render(relation);
        let names: Vec<String> = stream
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        // Batches go to a blocking writer that holds the transaction open across them.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<RecordBatch>>(2);
        let writer_rendered = rendered.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<u64> {
            let rendered = writer_rendered;
            let mut conn = open(&target, &path)?;
            in_transaction(&target, &mut conn, |txn| {
                // What each column converts, by its declared type.
                let declared: HashMap<String, Option<String>> = {
                    let stmt = txn
                        .prepare(&format!("SELECT * FROM {rendered} LIMIT 0"))
                        .map_err(err(&target, format!("reading the columns of {rendered}")))?;
                    stmt.columns()
                        .iter()
                        .map(|c| (c.name().to_owned(), c.decl_type().map(str::to_owned)))
                        .collect()
                };
                let decls: Vec<Option<String>> = names
                    .iter()
                    .map(|n| declared.get(n).cloned().flatten())
                    .collect();
                let columns = names
                    .iter()
                    .map(|n| D.quote(n))
                    .collect::<Vec<_>>()
                    .join(", ");
                let placeholders = (1..=names.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut stmt = txn
                    .prepare(&format!(
                        "INSERT INTO {rendered} ({columns}) VALUES ({placeholders})"
                    ))
                    .map_err(err(&target, format!("preparing inserts into {rendered}")))?;
                let mut loaded = 0u64;
                while let Some(message) = rx.blocking_recv() {
                    // `None` asks to abandon the load: the transaction rolls back.
                    let Some(batch) = message else {
                        return Err(Error::internal("sqlite load abandoned"));
                    };
                    let fail = |column: usize, row: u64, reason: String| {
                        super::types::load_error(&target, &rendered, &names[column], row, reason)
                    };
                    let readers =
                        super::types::cell_readers(&target, &rendered, &batch, &names, loaded + 1)?;
                    for row in 0..batch.num_rows() {
                        loaded += 1;
                        for (i, reader) in readers.iter().enumerate() {
                            let value = reader
                                .cell(row)
                                .and_then(|cell| types::bind(&cell, decls[i].as_deref()))
                                .map_err(|r| fail(i, loaded, r))?;
                            stmt.raw_bind_parameter(i + 1, value)
                                .map_err(|e| Error::bulk_load(&target, &rendered, e))?;
                        }
                        stmt.raw_execute()
                            .map_err(|e| Error::bulk_load(&target, &rendered, e))?;
                    }
                }
                Ok(loaded)
            })
        });
        let mut feed_error = None;
        while let Some(batch) = stream.next().await {
            match batch {
                Ok(batch) => {
                    if tx.send(Some(batch)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    feed_error = Some(Error::bulk_load(&self.target.name, &rendered, e));
                    break;
                }
            }
        }
        if feed_error.is_some() {
            // Closing the channel alone would commit what was sent so far.
            let _ = tx.send(None).await;
        }
        drop(tx);
        let written = writer.await.map_err(|e| {
            Error::internal(format!(
                "sqlite writer for `{}` failed: {e}",
                self.target.name
            ))
        });
        match feed_error {
            Some(e) => Err(e),
            None => written?,
        }
    }

    async fn swap(
        &self,
        staged: &Relation,
        _kind: RelationKind,
        relation: &Relation,
        _backup: &Relation,
    ) -> Result<()> {
        let staged = staged.clone();
        let relation = relation.clone();
        let target = self.target.name.clone();
        self.run(move |conn| {
            // The bundled SQLite checks foreign keys, and dropping a table other tables'
            // keys reference fails (its implicit delete would orphan their rows), where
            // PostgreSQL's CASCADE drops those keys. The keys name the table, so they
            // read the new one once it is in place: the checks are off for the swap
            // only. The pragma is ignored inside a transaction, so it wraps one.
            let checks = conn.is_autocommit()
                && conn
                    .query_row("PRAGMA foreign_keys", [], |r| r.get::<_, bool>(0))
                    .unwrap_or(false);
            let set = |conn: &rusqlite::Connection, on: bool| {
                conn.pragma_update(None, "foreign_keys", on)
                    .map_err(err(&target, "setting foreign_keys"))
            };
            if checks {
                set(conn, false)?;
            }
            let out = in_transaction(&target, conn, |txn| {
                swap_table(&target, txn, &staged, &relation)
            });
            if checks {
                set(conn, true)?;
            }
            out
        })
        .await
    }

    fn renames_views(&self) -> bool {
        false
    }

    async fn replace_view_in_one_transaction(
        &self,
        relation: &Relation,
        select_sql: &str,
    ) -> Result<()> {
        let relation = relation.clone();
        let select_sql = trim_select(select_sql).to_owned();
        let target = self.target.name.clone();
        self.run(move |conn| {
            in_transaction(&target, conn, |txn| {
                drop_if_exists(&target, txn, &relation)?;
                create_checked_view(&target, txn, &relation, &select_sql)
            })
        })
        .await
    }

    async fn execute(&self, sql: &str) -> Result<u64> {
        let sql = sql.to_owned();
        let target = self.target.name.clone();
        self.run(move |conn| execute_batch(&target, conn, &sql))
            .await
    }

    fn pinned(self: Arc<Self>) -> Arc<dyn Adapter> {
        if self.pinned.is_some() {
            return self;
        }
        Arc::new(SqliteAdapter {
            target: self.target.clone(),
            path: self.path.clone(),
            pinned: Some(Arc::new(tokio::sync::OnceCell::new())),
        })
    }

    async fn session(&self) -> Result<Arc<dyn super::Session>> {
        Ok(Arc::new(SqliteSession {
            target: self.target.name.clone(),
            conn: self.shared().await?,
        }))
    }

    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let sql = sql.to_owned();
        let target = self.target.name.clone();
        let (schema, batches) = self
            .run(move |conn| query_batches(&target, conn, &sql))
            .await?;
        Ok(Box::pin(
            MemoryStream::try_new(batches, schema, None)
                .map_err(|e| Error::internal(e.to_string()))?,
        ))
    }

    async fn query_as(&self, sql: &str, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
        let sql = sql.to_owned();
        let target = self.target.name.clone();
        let path = self.path.clone();
        let wanted = Arc::clone(&schema);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<()>>();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        // The reader stops when the stream is dropped: its next send fails.
        tokio::task::spawn_blocking(move || {
            let mut ready = Some(ready_tx);
            let conn = match open(&target, &path) {
                Ok(c) => c,
                Err(e) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(e));
                    }
                    return;
                }
            };
            let outcome = read_batches(&target, &conn, &sql, wanted, BATCH_LIMITS, &mut |item| {
                if let Some(r) = ready.take() {
                    let _ = r.send(Ok(()));
                }
                tx.blocking_send(item).is_ok()
            });
            match (outcome, ready.take()) {
                (Err(e), Some(r)) => {
                    let _ = r.send(Err(e));
                }
                (Err(e), None) => {
                    let _ = tx.blocking_send(Err(e));
                }
                (Ok(()), Some(r)) => {
                    let _ = r.send(Ok(()));
                }
                (Ok(()), None) => {}
            }
        });
        ready_rx
            .await
            .map_err(|_| Error::internal("the sqlite reader stopped before its first row"))??;
        let batches = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|item| (item.map_err(Error::into_datafusion), rx))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    async fn relation_schema(&self, relation: &Relation) -> Result<SchemaRef> {
        let rendered = D.render(relation);
        let target = self.target.name.clone();
        self.run(move |conn| {
            let action = format!("reading the columns of {rendered}");
            let (names, decls): (Vec<String>, Vec<Option<String>>) = {
                let stmt = conn
                    .prepare(&format!("SELECT * FROM {rendered} LIMIT 0"))
                    .map_err(err(&target, action.clone()))?;
                stmt.columns()
                    .iter()
                    .map(|c| (c.name().to_owned(), c.decl_type().map(str::to_owned)))
                    .unzip()
            };
            let mut fields = Vec::with_capacity(names.len());
            let mut probes = Vec::new();
            for (i, (name, decl)) in names.iter().zip(&decls).enumerate() {
                fields.push(match types::declared(name, decl.as_deref()) {
                    types::Natural::Field(f) => f,
                    types::Natural::Probe => {
                        probes.push(i);
                        Field::new(name, DataType::Utf8, true)
                    }
                });
            }
            if !probes.is_empty() {
                // Columns without a declared type read as what their values are.
                let exprs = probes
                    .iter()
                    .map(|&i| types::stats_sql(&D.quote(&names[i])))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("SELECT {exprs} FROM {rendered}");
                let counts: Vec<i64> = conn
                    .query_row(&sql, [], |row| {
                        (0..probes.len() * 8)
                            .map(|k| row.get::<_, i64>(k))
                            .collect()
                    })
                    .map_err(err(&target, format!("measuring the columns of {rendered}")))?;
                for (k, &i) in probes.iter().enumerate() {
                    let c = &counts[8 * k..8 * k + 8];
                    let stats = types::Stats {
                        ints: c[0],
                        reals: c[1],
                        texts: c[2],
                        blobs: c[3],
                        big_ints: c[4],
                        dates: c[5],
                        timestamps: c[6],
                        zoned_timestamps: c[7],
                    };
                    fields[i] = Field::new(&names[i], stats.data_type(), true);
                }
            }
            Ok(Arc::new(Schema::new(fields)))
        })
        .await
    }
}

/// Creates a view and reads it once: SQLite accepts a view over missing tables or columns
/// and fails only when it is read, so a broken view must fail here, inside the caller's
/// transaction, to leave the previous relation in place.
fn create_checked_view(
    target: &str,
    txn: &rusqlite::Connection,
    relation: &Relation,
    select_sql: &str,
) -> Result<()> {
    txn.execute_batch(&format!(
        "CREATE VIEW {} AS {select_sql}",
        D.render(relation)
    ))
    .map_err(err(target, format!("creating {}", D.render(relation))))?;
    txn.prepare(&format!("SELECT * FROM {} LIMIT 0", D.render(relation)))
        .map(drop)
        .map_err(err(target, format!("checking {}", D.render(relation))))
}

/// Runs `sql` and hands its rows, read into `schema` in batches cut at `limits`, to
/// `sink` (which returns `false` to stop). A value a column cannot hold is an error
/// naming column and row.
fn read_batches(
    target: &str,
    conn: &rusqlite::Connection,
    sql: &str,
    schema: SchemaRef,
    limits: BatchLimits,
    sink: &mut dyn FnMut(Result<RecordBatch>) -> bool,
) -> Result<()> {
    let mut stmt = conn
        .prepare(sql)
        .map_err(err(target, "preparing a query"))?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if names.len() != schema.fields().len() {
        return Err(Error::internal(format!(
            "a sqlite query returned {} columns where {} were expected",
            names.len(),
            schema.fields().len()
        )));
    }
    let mut builder =
        BatchBuilder::new(schema, limits).map_err(|e| Error::unsupported(target, e))?;
    let finish = |b: &mut BatchBuilder| {
        b.finish()
            .map_err(|e| Error::internal(format!("building a sqlite batch: {e}")))
    };
    let mut rows = stmt.query([]).map_err(err(target, "running a query"))?;
    let mut number = 0u64;
    while let Some(row) = rows.next().map_err(err(target, "reading query results"))? {
        number += 1;
        for (i, name) in names.iter().enumerate() {
            let value = row
                .get_ref(i)
                .map_err(err(target, "reading query results"))?;
            builder
                .append(i, types::cell(value))
                .map_err(|reason| read_error(target, name, number, reason))?;
        }
        if builder.end_row() && !sink(finish(&mut builder)) {
            return Ok(());
        }
    }
    if builder.rows() > 0 {
        sink(finish(&mut builder));
    }
    Ok(())
}

/// Runs `sql` and reads its whole result: columns with a declared type DVT knows read as
/// it, the others (expressions) as what their values are.
fn query_batches(
    target: &str,
    conn: &rusqlite::Connection,
    sql: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut stmt = conn
        .prepare(sql)
        .map_err(err(target, "preparing a query"))?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let naturals: Vec<types::Natural> = stmt
        .columns()
        .iter()
        .map(|c| types::declared(c.name(), c.decl_type()))
        .collect();
    let ncols = names.len();
    let mut values: Vec<Vec<Value>> = Vec::new();
    let mut rows = stmt.query([]).map_err(err(target, "running a query"))?;
    while let Some(row) = rows.next().map_err(err(target, "reading query results"))? {
        let mut r = Vec::with_capacity(ncols);
        for i in 0..ncols {
            r.push(Value::from(
                row.get_ref(i)
                    .map_err(err(target, "reading query results"))?,
            ));
        }
        values.push(r);
    }
    let fields = naturals
        .into_iter()
        .enumerate()
        .map(|(i, n)| match n {
            types::Natural::Field(f) => f,
            types::Natural::Probe => {
                let mut stats = types::Stats::default();
                for row in &values {
                    stats.add(&ValueRef::from(&row[i]));
                }
                Field::new(&names[i], stats.data_type(), true)
            }
        })
        .collect::<Vec<_>>();
    let schema = Arc::new(Schema::new(fields));
    let mut builder = BatchBuilder::new(Arc::clone(&schema), BATCH_LIMITS)
        .map_err(|e| Error::unsupported(target, e))?;
    let mut batches = Vec::new();
    for (n, row) in values.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            builder
                .append(i, types::cell(ValueRef::from(v)))
                .map_err(|reason| read_error(target, &names[i], n as u64 + 1, reason))?;
        }
        if builder.end_row() {
            batches.push(
                builder
                    .finish()
                    .map_err(|e| Error::internal(format!("building a sqlite batch: {e}")))?,
            );
        }
    }
    if builder.rows() > 0 {
        batches.push(
            builder
                .finish()
                .map_err(|e| Error::internal(format!("building a sqlite batch: {e}")))?,
        );
    }
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;

    #[test]
    fn readers_cut_batches_by_bytes_and_name_bad_values() {
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        conn.execute_batch(
            "create table t (id integer, s text); \
             with recursive n(i) as (select 1 union all select i + 1 from n where i < 7) \
             insert into t select i, printf('%.100c', 'x') from n;",
        )
        .expect("fixture");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let limits = BatchLimits {
            rows: 1000,
            bytes: 250,
        };
        let mut batches = Vec::new();
        read_batches(
            "lite",
            &conn,
            "select id, s from t order by id",
            schema,
            limits,
            &mut |b| {
                batches.push(b.expect("batch"));
                true
            },
        )
        .expect("reads");
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        // Each row is 8 bytes of id and 100 of text: a batch closes past 250 bytes.
        assert_eq!(sizes, vec![3, 3, 1]);
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(ids, (1..=7).collect::<Vec<_>>());

        conn.execute_batch("insert into t values (8.5, 'y')")
            .expect("insert");
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let e = read_batches(
            "lite",
            &conn,
            "select id from t order by id",
            schema,
            BATCH_LIMITS,
            &mut |_| true,
        )
        .expect_err("8.5 is not an integer");
        assert_eq!(e.code(), "DVT303");
        assert!(e.to_string().contains("column `id` at row 8"), "{e}");
    }
}
