//! SQLite: rusqlite on blocking threads. Every swap is one transaction, since SQLite's DDL
//! is transactional. Arrow types come from the declared column types, so values round-trip
//! through SQLite's loose typing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{SqliteConfig, TargetConfig};
use futures::StreamExt;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{Value, ValueRef};

use super::{Adapter, RelationKind, column_definitions, text_columns, trim_select};
use crate::error::{Error, Result};

const D: Dialect = Dialect::Sqlite;
const BATCH_ROWS: usize = 8192;

/// An SQLite database file.
#[derive(Debug)]
pub(crate) struct SqliteAdapter {
    target: TargetConfig,
    path: PathBuf,
}

impl SqliteAdapter {
    pub(crate) async fn connect(target: TargetConfig, cfg: &SqliteConfig) -> Result<Self> {
        let adapter = SqliteAdapter {
            target,
            path: cfg.path.clone(),
        };
        // Opening once up front reports a bad path at connect time, like the servers do.
        adapter.run(|_| Ok(())).await?;
        Ok(adapter)
    }

    /// Runs `f` on a fresh connection on a blocking thread.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        let path = self.path.clone();
        let target = self.target.name.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = open(&target, &path)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| {
            Error::internal(format!(
                "sqlite worker for `{}` failed: {e}",
                self.target.name
            ))
        })?
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
    // IMMEDIATE takes the write lock up front, where the busy timeout applies; a
    // deferred transaction upgrading its lock fails at once when another writer holds it.
    let txn = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err(target, "starting a transaction"))?;
    let out = f(&txn)?;
    txn.commit().map_err(err(target, "committing"))?;
    Ok(out)
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
        column_types: &BTreeMap<String, String>,
    ) -> Result<()> {
        let defs = column_definitions(&self.target.name, D, schema, column_types)?;
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
        let relation_c = relation.clone();
        let ncols = stream.schema().fields().len();
        // Rows go to a blocking writer that holds the transaction open across batches.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Vec<Vec<Option<String>>>>>(2);
        let writer = tokio::task::spawn_blocking(move || -> Result<u64> {
            let mut conn = open(&target, &path)?;
            in_transaction(&target, &mut conn, |txn| {
                let placeholders = (1..=ncols)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rendered = D.render(&relation_c);
                let mut stmt = txn
                    .prepare(&format!("INSERT INTO {rendered} VALUES ({placeholders})"))
                    .map_err(err(&target, format!("preparing inserts into {rendered}")))?;
                let mut loaded = 0u64;
                while let Some(message) = rx.blocking_recv() {
                    // `None` asks to abandon the load: the transaction rolls back.
                    let Some(columns) = message else {
                        return Err(Error::internal("sqlite load abandoned"));
                    };
                    let rows = columns.first().map_or(0, Vec::len);
                    for row in 0..rows {
                        for (i, col) in columns.iter().enumerate() {
                            stmt.raw_bind_parameter(i + 1, col[row].as_deref())
                                .map_err(|e| Error::bulk_load(&target, &rendered, e))?;
                        }
                        stmt.raw_execute()
                            .map_err(|e| Error::bulk_load(&target, &rendered, e))?;
                        loaded += 1;
                    }
                }
                Ok(loaded)
            })
        });
        let mut feed_error = None;
        while let Some(batch) = stream.next().await {
            let columns = batch
                .map_err(|e| Error::bulk_load(&self.target.name, &D.render(relation), e))
                .and_then(|b| text_columns(&self.target.name, D, &b));
            match columns {
                Ok(columns) => {
                    if tx.send(Some(columns)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    feed_error = Some(e);
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
            in_transaction(&target, conn, |txn| {
                swap_table(&target, txn, &staged, &relation)
            })
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
        self.run(move |conn| {
            let mut total = 0u64;
            let mut batch = rusqlite::Batch::new(conn, &sql);
            while let Some(mut stmt) = batch.next().map_err(err(&target, "running a statement"))? {
                match stmt.execute([]) {
                    Ok(n) => total += n as u64,
                    Err(rusqlite::Error::ExecuteReturnedResults) => {}
                    Err(e) => return Err(err(&target, "running a statement")(e)),
                }
            }
            Ok(total)
        })
        .await
    }

    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let sql = sql.to_owned();
        let target = self.target.name.clone();
        let (schema, batches) = self
            .run(move |conn| query_batches(&target, conn, &sql, None))
            .await?;
        Ok(Box::pin(
            MemoryStream::try_new(batches, schema, None)
                .map_err(|e| Error::internal(e.to_string()))?,
        ))
    }

    async fn query_as(&self, sql: &str, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
        let sql = sql.to_owned();
        let target = self.target.name.clone();
        let wanted = Arc::clone(&schema);
        let (_, batches) = self
            .run(move |conn| query_batches(&target, conn, &sql, Some(wanted)))
            .await?;
        Ok(Box::pin(
            MemoryStream::try_new(batches, schema, None)
                .map_err(|e| Error::internal(e.to_string()))?,
        ))
    }

    async fn relation_schema(&self, relation: &Relation) -> Result<SchemaRef> {
        let sql = format!("SELECT * FROM {} LIMIT 0", D.render(relation));
        let target = self.target.name.clone();
        let action = format!("reading the columns of {}", D.render(relation));
        self.run(move |conn| {
            let stmt = conn.prepare(&sql).map_err(err(&target, action))?;
            Ok(Arc::new(Schema::new(
                stmt.columns()
                    .iter()
                    .map(|c| {
                        Field::new(
                            c.name(),
                            decltype_to_arrow(c.decl_type()).unwrap_or(DataType::Utf8),
                            true,
                        )
                    })
                    .collect::<Vec<_>>(),
            )))
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

/// The Arrow type of a column declared with `decl` (SQLite's type affinity rules, plus the
/// names DVT itself creates).
fn decltype_to_arrow(decl: Option<&str>) -> Option<DataType> {
    let decl = decl?.to_ascii_uppercase();
    Some(
        if decl.starts_with("DECIMAL") || decl.starts_with("NUMERIC") {
            match parse_precision_scale(&decl) {
                Some((p, s)) => DataType::Decimal128(p, s),
                None => DataType::Float64,
            }
        } else if decl.contains("BOOL") {
            DataType::Boolean
        } else if decl.contains("INT") {
            DataType::Int64
        } else if decl.contains("TIMESTAMP") || decl.contains("DATETIME") {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        } else if decl.contains("DATE") {
            DataType::Date32
        } else if decl.contains("CHAR") || decl.contains("CLOB") || decl.contains("TEXT") {
            DataType::Utf8
        } else if decl.contains("BLOB") {
            DataType::Binary
        } else if decl.contains("REAL") || decl.contains("FLOA") || decl.contains("DOUB") {
            DataType::Float64
        } else {
            DataType::Utf8
        },
    )
}

fn parse_precision_scale(decl: &str) -> Option<(u8, i8)> {
    let inner = decl.split_once('(')?.1.split_once(')')?.0;
    let mut parts = inner.split(',').map(str::trim);
    let p: u8 = parts.next()?.parse().ok()?;
    let s: i8 = parts.next().unwrap_or("0").parse().ok()?;
    ((1..=38).contains(&p) && s >= 0 && (s as u8) <= p).then_some((p, s))
}

/// The type of an undeclared (computed) column, from its first non-null value.
fn infer_type(values: &[Vec<Value>], col: usize) -> DataType {
    for row in values {
        match &row[col] {
            Value::Null => continue,
            Value::Integer(_) => return DataType::Int64,
            Value::Real(_) => return DataType::Float64,
            Value::Text(_) => return DataType::Utf8,
            Value::Blob(_) => return DataType::Binary,
        }
    }
    DataType::Utf8
}

fn query_batches(
    target: &str,
    conn: &rusqlite::Connection,
    sql: &str,
    wanted: Option<SchemaRef>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut stmt = conn
        .prepare(sql)
        .map_err(err(target, "preparing a query"))?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let decls: Vec<Option<DataType>> = stmt
        .columns()
        .iter()
        .map(|c| decltype_to_arrow(c.decl_type()))
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
    let schema = match wanted {
        Some(s) => s,
        None => Arc::new(Schema::new(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let ty = decls[i].clone().unwrap_or_else(|| infer_type(&values, i));
                    Field::new(n, ty, true)
                })
                .collect::<Vec<_>>(),
        )),
    };
    let mut batches = Vec::new();
    for chunk in values.chunks(BATCH_ROWS) {
        batches.push(to_batch(target, &schema, chunk)?);
    }
    Ok((schema, batches))
}

fn to_batch(target: &str, schema: &SchemaRef, rows: &[Vec<Value>]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let cells = rows.iter().map(|r| r.get(i).map(ValueRef::from));
        columns.push(to_array(target, field, cells)?);
    }
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| Error::internal(e.to_string()))
}

fn bad_value(target: &str, field: &Field, v: &ValueRef<'_>) -> Error {
    Error::sql(
        target,
        "converting query results",
        format!(
            "value {v:?} of column `{}` is not a {}",
            field.name(),
            field.data_type()
        ),
    )
}

fn text_of<'a>(v: &ValueRef<'a>) -> Option<&'a str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

fn to_array<'a>(
    target: &str,
    field: &Field,
    cells: impl Iterator<Item = Option<ValueRef<'a>>>,
) -> Result<ArrayRef> {
    let cells: Vec<ValueRef<'a>> = cells.map(|c| c.unwrap_or(ValueRef::Null)).collect();
    let bad = |v: &ValueRef<'_>| bad_value(target, field, v);
    Ok(match field.data_type() {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(cells.len());
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(i) => b.append_value(*i),
                    ValueRef::Real(f) if f.fract() == 0.0 => b.append_value(*f as i64),
                    other => b.append_value(
                        text_of(other)
                            .and_then(|t| t.trim().parse().ok())
                            .ok_or_else(|| bad(other))?,
                    ),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(cells.len());
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(i) => b.append_value(*i as f64),
                    ValueRef::Real(f) => b.append_value(*f),
                    other => b.append_value(
                        text_of(other)
                            .and_then(|t| t.trim().parse().ok())
                            .ok_or_else(|| bad(other))?,
                    ),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(cells.len());
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(i) => b.append_value(*i != 0),
                    ValueRef::Real(f) => b.append_value(*f != 0.0),
                    other => match text_of(other).map(str::to_ascii_lowercase).as_deref() {
                        Some("true" | "t" | "1") => b.append_value(true),
                        Some("false" | "f" | "0") => b.append_value(false),
                        _ => return Err(bad(other)),
                    },
                }
            }
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(cells.len());
            let scale = 10i128.pow(u32::from(s.unsigned_abs()));
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(i) => b.append_value(i128::from(*i) * scale),
                    ValueRef::Real(f) => b.append_value((f * scale as f64).round() as i128),
                    other => b.append_value(
                        text_of(other)
                            .and_then(|t| crate::seed::parse_decimal(t.trim(), *s as u8))
                            .ok_or_else(|| bad(other))?,
                    ),
                }
            }
            Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| Error::internal(e.to_string()))?,
            )
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(cells.len());
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    other => b.append_value(
                        text_of(other)
                            .and_then(|t| crate::seed::parse_date(t.get(..10).unwrap_or(t)))
                            .ok_or_else(|| bad(other))?,
                    ),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(cells.len());
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(secs) => b.append_value(secs.saturating_mul(1_000_000)),
                    other => b.append_value(
                        text_of(other)
                            .and_then(crate::seed::parse_timestamp)
                            .ok_or_else(|| bad(other))?,
                    ),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Binary => {
            let mut b = BinaryBuilder::new();
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Blob(x) | ValueRef::Text(x) => b.append_value(x),
                    ValueRef::Integer(i) => b.append_value(i.to_string()),
                    ValueRef::Real(f) => b.append_value(f.to_string()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(i) => b.append_value(i.to_string()),
                    ValueRef::Real(f) => b.append_value(f.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        b.append_value(String::from_utf8_lossy(t))
                    }
                }
            }
            Arc::new(b.finish())
        }
        other => {
            // Anything else is read as text and cast by Arrow.
            let mut b = StringBuilder::new();
            for v in &cells {
                match v {
                    ValueRef::Null => b.append_null(),
                    ValueRef::Integer(i) => b.append_value(i.to_string()),
                    ValueRef::Real(f) => b.append_value(f.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        b.append_value(String::from_utf8_lossy(t))
                    }
                }
            }
            let text: ArrayRef = Arc::new(b.finish());
            arrow::compute::cast(&text, other)
                .map_err(|e| Error::sql(target, "converting query results", e))?
        }
    })
}
