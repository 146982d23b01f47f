//! The database a node's Jinja queries while it compiles (`run_query`, `statement`,
//! `adapter.get_relation`, `adapter.get_columns_in_relation`), over the run's own
//! connections. Jinja renders synchronously, so each query blocks its worker thread
//! (`block_in_place`) until the adapter answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::jinja::{Database, DbColumn, QueryTable};
use serde_json::Value as Json;

use crate::adapter::{Adapter, RelationKind, Session};
use crate::error::Result;
use crate::registry::TargetRegistry;

/// [`Database`] over a [`TargetRegistry`], for one render or one node (its
/// compilation, its hooks and its materialization), or an operation: its statements on
/// a target share one connection ([`Adapter::session`]), so a temporary table one
/// `run_query` creates the next one reads, and [`RegistryDatabase::adapter`] gives the
/// target [pinned](Adapter::pinned) to that connection for the node's own DDL.
/// Dropping it (and the adapters it gave) gives the connections back.
pub struct RegistryDatabase {
    registry: Arc<TargetRegistry>,
    /// Each target, pinned to one connection, opened at its first statement.
    adapters: Mutex<HashMap<String, Arc<dyn Adapter>>>,
    /// Each target's session, on the pinned adapter's connection where it has one.
    sessions: Mutex<HashMap<String, Arc<dyn Session>>>,
    /// The worker thread of the node it serves (`Thread-3`), its renders' `thread_id`.
    thread: Option<String>,
}

impl std::fmt::Debug for RegistryDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open: Vec<String> = self
            .sessions
            .lock()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("RegistryDatabase")
            .field("sessions", &open)
            .finish_non_exhaustive()
    }
}

impl RegistryDatabase {
    /// Queries through `registry`'s connections.
    pub fn new(registry: Arc<TargetRegistry>) -> Self {
        RegistryDatabase {
            registry,
            adapters: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            thread: None,
        }
    }

    /// The same, for a node run on worker thread `thread`.
    pub fn for_thread(registry: Arc<TargetRegistry>, thread: &str) -> Self {
        RegistryDatabase {
            thread: Some(thread.to_owned()),
            ..Self::new(registry)
        }
    }

    /// `target`, pinned to this database's connection to it.
    pub async fn adapter(&self, target: &str) -> Result<Arc<dyn Adapter>> {
        cached(&self.adapters, target, async {
            Ok(self.registry.adapter(target).await?.pinned())
        })
        .await
    }

    fn block<T>(&self, fut: impl Future<Output = Result<T>>) -> std::result::Result<T, String> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "no async runtime to query the database from".to_owned())?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err("querying while compiling needs a multi-threaded runtime".into());
        }
        tokio::task::block_in_place(|| handle.block_on(fut)).map_err(|e| e.message_chain())
    }

    async fn session(&self, target: &str) -> Result<Arc<dyn Session>> {
        cached(&self.sessions, target, async {
            self.adapter(target).await?.session().await
        })
        .await
    }

    /// Runs statements (a hook) on `target`, on this render's connection to it.
    pub async fn execute(&self, target: &str, sql: &str) -> Result<u64> {
        self.session(target).await?.execute(sql).await
    }

    async fn query(&self, target: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        let stream = self.session(target).await?.query(sql).await?;
        let schema = stream.schema();
        let mut batches = crate::federation::collect_stream(stream).await?;
        // No rows still has columns: `load_result(...).table.columns[0].values()` is
        // an empty list in dbt (dbt_utils' get_single_value falls back to its default).
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(batches)
    }
}

impl Database for RegistryDatabase {
    fn thread_id(&self) -> Option<String> {
        self.thread.clone()
    }

    fn run_query(&self, target: &str, sql: &str) -> std::result::Result<QueryTable, String> {
        let batches = self.block(self.query(target, sql))?;
        Ok(table(&batches))
    }

    fn relation_type(
        &self,
        target: &str,
        schema: &str,
        identifier: &str,
    ) -> std::result::Result<Option<String>, String> {
        let kind = self.block(async {
            self.session(target)
                .await?
                .relation_kind(&Relation::new(schema, identifier))
                .await
        })?;
        Ok(kind.map(|k| {
            match k {
                RelationKind::Table => "table",
                RelationKind::View => "view",
                RelationKind::MaterializedView => "materialized_view",
            }
            .to_owned()
        }))
    }

    fn columns(
        &self,
        target: &str,
        schema: &str,
        identifier: &str,
    ) -> std::result::Result<Vec<DbColumn>, String> {
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let batches = self.block(async {
            let adapter = self.adapter(target).await?;
            // The catalogue's own type names, as dbt's adapters report them.
            let sql = match adapter.dialect() {
                Dialect::Sqlite => format!(
                    "select name, lower(type) from pragma_table_info({})",
                    lit(identifier)
                ),
                // Sizes are asked for as text so every dialect returns one cell type. No
                // schema: this session's temporary tables (PostgreSQL's `pg_temp_N`).
                dialect => format!(
                    "select column_name, data_type, cast(character_maximum_length as char(20)), cast(numeric_precision as char(20)), cast(numeric_scale as char(20)) from information_schema.columns where table_schema = {} and table_name = {} order by ordinal_position",
                    match (schema.is_empty(), dialect) {
                        (true, Dialect::Postgres) => "(select nspname::text from pg_catalog.pg_namespace where oid = pg_my_temp_schema())".to_owned(),
                        (true, _) => "database()".to_owned(),
                        _ => lit(schema),
                    },
                    lit(identifier)
                ),
            };
            let batches = self.query(target, &sql).await?;
            // MySQL's catalogue does not list temporary tables; the session's
            // `SHOW COLUMNS` does (name and declared type first). A table that does not
            // exist has no columns, as in dbt.
            let d = adapter.dialect();
            if d == Dialect::Mysql && batches.iter().all(|b| b.num_rows() == 0) {
                let rel = match schema {
                    "" => d.quote(identifier),
                    _ => d.render(&Relation::new(schema, identifier)),
                };
                if let Ok(shown) = self.query(target, &format!("show columns from {rel}")).await {
                    // Name and declared type, as SQLite's rows are read.
                    return shown
                        .iter()
                        .map(|b| b.project(&[0, 1]))
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|e| crate::Error::internal(e.to_string()));
                }
            }
            Ok(batches)
        })?;
        let num = |v: Option<&Json>| v.and_then(|v| text(v).trim().parse::<i64>().ok());
        Ok(table(&batches)
            .rows
            .into_iter()
            .map(|r| match r.len() {
                2 => DbColumn::from_declared(text(&r[0]), &text(&r[1])),
                _ => {
                    let data_type = text(&r[1]);
                    // Only decimals carry a precision that is part of their type name.
                    let decimal = matches!(data_type.as_str(), "numeric" | "decimal");
                    DbColumn {
                        name: text(&r[0]),
                        char_size: num(r.get(2)),
                        numeric_precision: num(r.get(3)).filter(|_| decimal),
                        numeric_scale: num(r.get(4)).filter(|_| decimal),
                        data_type,
                    }
                }
            })
            .collect())
    }
}

/// `map[key]`, opened by `open` the first time (the first one opened is kept when two
/// callers race).
async fn cached<T: Clone>(
    map: &Mutex<HashMap<String, T>>,
    key: &str,
    open: impl Future<Output = Result<T>>,
) -> Result<T> {
    let found = map
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned();
    if let Some(v) = found {
        return Ok(v);
    }
    let v = open.await?;
    Ok(map
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_insert(v)
        .clone())
}

/// A cell as text (`NULL` as empty).
pub(crate) fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// Arrow batches as rows of JSON values: integers and floats stay numbers (decimals
/// become floats, as agate's numbers print), booleans stay booleans, the rest is text.
pub(crate) fn table(batches: &[RecordBatch]) -> QueryTable {
    let mut out = QueryTable {
        code: "SELECT".into(),
        ..QueryTable::default()
    };
    let Some(first) = batches.first() else {
        return out;
    };
    let schema = first.schema();
    out.columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    // The source's type where Arrow's loses it: a `numeric` read as text is a number.
    out.types = schema
        .fields()
        .iter()
        .map(|f| {
            crate::adapter::types::logical_type(f)
                .map(str::to_owned)
                .unwrap_or_else(|| f.data_type().to_string())
        })
        .collect();
    // Timestamps print as Python prints a datetime (`2017-01-01 00:00:00`), which is
    // what a macro that renders a `run_query` cell puts in SQL under dbt.
    let options = arrow::util::display::FormatOptions::default()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options).ok())
            .collect();
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(col, f)| {
                    if col.is_null(row) {
                        return Json::Null;
                    }
                    let s = f
                        .as_ref()
                        .map(|f| f.value(row).to_string())
                        .unwrap_or_default();
                    match col.data_type() {
                        DataType::Int8
                        | DataType::Int16
                        | DataType::Int32
                        | DataType::Int64
                        | DataType::UInt8
                        | DataType::UInt16
                        | DataType::UInt32
                        | DataType::UInt64 => s.parse::<i64>().map_or(Json::String(s), Json::from),
                        DataType::Float16
                        | DataType::Float32
                        | DataType::Float64
                        | DataType::Decimal32(..)
                        | DataType::Decimal64(..)
                        | DataType::Decimal128(..)
                        | DataType::Decimal256(..) => s
                            .parse::<f64>()
                            .ok()
                            .and_then(|f| serde_json::Number::from_f64(f).map(Json::Number))
                            .unwrap_or(Json::String(s)),
                        DataType::Boolean => Json::Bool(s == "true"),
                        _ => Json::String(s),
                    }
                })
                .collect();
            out.rows.push(cells);
        }
    }
    out
}
