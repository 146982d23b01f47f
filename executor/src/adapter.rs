//! The adapter trait and what the per-database adapters share: DDL from Arrow schemas
//! through each dialect's type mapping, and making batches carry a plan's schema. Each
//! dialect's mapping and value rendering lives in its own `types` module, what they
//! share in `types`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use dvt_core::constraints::TableConstraint;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{Connection, TargetConfig};
use futures::StreamExt;

use crate::error::{Error, Result};

pub(crate) mod function;
pub mod incremental;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub mod replace;
pub(crate) mod sqlite;
pub(crate) mod types;

/// A connection to one target, speaking its dialect, reduced to the primitives every
/// materialization is written over (see [`replace`] for the sequence that uses them).
///
/// Adapters hold connection pools; they are built lazily by
/// [`TargetRegistry::adapter`](crate::registry::TargetRegistry::adapter).
#[async_trait]
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// The target's configuration.
    fn target(&self) -> &TargetConfig;

    /// The SQL dialect the target speaks.
    fn dialect(&self) -> Dialect;

    /// The server's version string, for `dvt debug`.
    async fn server_version(&self) -> Result<String>;

    /// Whether a schema (PostgreSQL) or database (MySQL) exists, read from the catalogue.
    async fn schema_exists(&self, schema: &str) -> Result<bool>;

    /// Creates a schema (PostgreSQL) or database (MySQL); a no-op on SQLite. Needs the
    /// privilege to create schemas, which [`replace::ensure_schema`] asks for only when
    /// the catalogue says the schema is missing.
    async fn create_schema(&self, schema: &str) -> Result<()>;

    /// Whether `relation` is a table, a view, or absent.
    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>>;

    /// Drops `relation` (table or view) if it exists.
    async fn drop_relation(&self, relation: &Relation) -> Result<()>;

    /// `CREATE TABLE relation AS select_sql`; the rows written when the driver says.
    async fn create_table_as(&self, relation: &Relation, select_sql: &str) -> Result<Option<u64>>;

    /// `CREATE VIEW relation AS select_sql`.
    async fn create_view_as(&self, relation: &Relation, select_sql: &str) -> Result<()>;

    /// Creates an empty table with columns for an Arrow schema (the dialect's type
    /// mapping, which `ddl` overrides for the columns it names) and `ddl`'s table
    /// constraints.
    async fn create_table(
        &self,
        relation: &Relation,
        schema: &Schema,
        ddl: &TableDdl,
    ) -> Result<()>;

    /// Appends a stream into an existing table with the database's bulk path, in one
    /// transaction or statement. Returns the rows written.
    async fn append(&self, relation: &Relation, stream: SendableRecordBatchStream) -> Result<u64>;

    /// Puts `staged` (a built table or view of `kind`) in place of `relation` at once:
    /// readers see the old relation or the new one, never neither. The old relation, if
    /// any, passes through the name `backup` and is dropped.
    async fn swap(
        &self,
        staged: &Relation,
        kind: RelationKind,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()>;

    /// Whether a view is built under a staged name and swapped in like a table. When not,
    /// it is replaced by [`Adapter::replace_view_in_one_transaction`]: SQLite cannot
    /// rename views, and on PostgreSQL a staged view would depend on the table it reads,
    /// so a concurrent run replacing that table (`DROP ... CASCADE`) could drop it between
    /// its creation and its swap.
    fn renames_views(&self) -> bool {
        true
    }

    /// Drops whatever is named `relation` and creates the view in one transaction (for
    /// databases with transactional DDL); readers wait for the commit and then see the
    /// new view.
    async fn replace_view_in_one_transaction(
        &self,
        relation: &Relation,
        select_sql: &str,
    ) -> Result<()> {
        let _ = (relation, select_sql);
        Err(Error::unsupported(
            &self.target().name,
            "replacing a view in one transaction",
        ))
    }

    /// Runs one or more statements and returns the rows affected (of the last statement
    /// where the driver reports only that).
    async fn execute(&self, sql: &str) -> Result<u64>;

    /// Runs a query and streams its rows as Arrow batches.
    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream>;

    /// Runs a query whose result has a known schema and returns batches of exactly that
    /// schema (columns cast where the driver's types differ).
    async fn query_as(&self, sql: &str, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
        let stream = self.query(sql).await?;
        Ok(conform_stream(stream, schema))
    }

    /// The Arrow schema of a table or view.
    async fn relation_schema(&self, relation: &Relation) -> Result<SchemaRef>;

    /// One connection held for a sequence of statements that must share it: what a
    /// statement leaves in its session (a temporary table, a setting, an open
    /// transaction) the next one sees, as on dbt's connection per thread. A pooled
    /// connection goes back to its pool cleared of that state.
    async fn session(&self) -> Result<Arc<dyn Session>>;

    /// This target with every statement, and every [session](Adapter::session), on one
    /// connection, checked out at the first and given back, cleared, when the last
    /// holder lets go: a node's hooks, its compilation's queries and its
    /// materialization share it, so what a pre-hook leaves in the session (a temporary
    /// table, a setting, a role) the model's own statements see, as on dbt's connection.
    /// An adapter whose sessions cannot be shared returns itself.
    fn pinned(self: Arc<Self>) -> Arc<dyn Adapter>;

    /// On a pinned adapter of a database whose DDL is transactional (PostgreSQL), opens a
    /// transaction around a whole replace (`replace.rs`): other sessions never see the
    /// staged relation, and a failure leaves nothing behind. `false` when it opened none
    /// (not pinned, DDL that commits by itself, or one of its own is open already).
    async fn begin_atomic(&self) -> Result<bool> {
        Ok(false)
    }

    /// Commits, or rolls back, what [`Adapter::begin_atomic`] opened.
    async fn end_atomic(&self, _commit: bool) -> Result<()> {
        Ok(())
    }
}

/// A connection held by one render or hook sequence ([`Adapter::session`]); its
/// statements run one after another, in the order they are called.
#[async_trait]
pub trait Session: Send + Sync {
    /// Runs one or more statements; the rows affected, as [`Adapter::execute`].
    async fn execute(&self, sql: &str) -> Result<u64>;

    /// Runs a query and streams its rows; several statements run in order, the last
    /// one's rows answering. Typed rows come from a prepared statement, which holds one
    /// statement, so the others run first on this same connection (what they create the
    /// last one reads); the text is split on sqlparser's tokens ([`split_statements`]).
    ///
    /// [`split_statements`]: dvt_core::sql::split_statements
    async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let parts = dvt_core::sql::split_statements(self.dialect(), sql);
        let Some((last, before)) = parts.split_last().filter(|_| parts.len() > 1) else {
            return self.query_one(sql).await;
        };
        for part in before {
            self.execute(part).await?;
        }
        self.query_one(last).await
    }

    /// Runs one query statement and streams its rows.
    async fn query_one(&self, sql: &str) -> Result<SendableRecordBatchStream>;

    /// The dialect of the session's database.
    fn dialect(&self) -> Dialect;

    /// [`Adapter::relation_kind`], on this connection.
    async fn relation_kind(&self, relation: &Relation) -> Result<Option<RelationKind>>;
}

/// Connects to a target with the adapter of its type.
pub async fn connect(target: &TargetConfig) -> Result<Arc<dyn Adapter>> {
    Ok(match &target.connection {
        Connection::Postgres(cfg) => {
            Arc::new(postgres::PostgresAdapter::connect(target.clone(), cfg).await?)
        }
        Connection::Mysql(cfg) => {
            Arc::new(mysql::MysqlAdapter::connect(target.clone(), cfg).await?)
        }
        Connection::Sqlite(cfg) => {
            Arc::new(sqlite::SqliteAdapter::connect(target.clone(), cfg).await?)
        }
    })
}

/// Whether a relation is a table or a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// A table.
    Table,
    /// A view.
    View,
    /// A materialized view (PostgreSQL).
    MaterializedView,
}

impl RelationKind {
    /// `TABLE` or `VIEW`, for DDL.
    pub fn keyword(self) -> &'static str {
        match self {
            RelationKind::Table => "TABLE",
            RelationKind::View => "VIEW",
            RelationKind::MaterializedView => "MATERIALIZED VIEW",
        }
    }
}

/// Model SQL often ends with `;`, which breaks `CREATE TABLE ... AS <sql>`.
pub(crate) fn trim_select(sql: &str) -> &str {
    sql.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// What a created table takes beyond the columns of its Arrow schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableDdl {
    /// The SQL type by column, instead of the dialect's mapping of its Arrow type: a
    /// seed's `column_types`, an enforced contract's `data_type` with its column
    /// constraints.
    pub column_types: BTreeMap<String, String>,
    /// Table constraints after the columns (a contract's model constraints).
    pub constraints: Vec<TableConstraint>,
}

impl TableDdl {
    /// Column types only.
    pub fn columns(column_types: BTreeMap<String, String>) -> TableDdl {
        TableDdl {
            column_types,
            constraints: Vec::new(),
        }
    }
}

/// The `CREATE TABLE` column list (then table constraints) for an Arrow schema in a
/// dialect.
pub(crate) fn column_definitions(
    target: &str,
    dialect: Dialect,
    schema: &Schema,
    ddl: &TableDdl,
) -> Result<String> {
    let column_types = &ddl.column_types;
    if schema.fields().is_empty() {
        return Err(Error::unsupported(
            target,
            "loading a table with no columns",
        ));
    }
    let mut defs = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let ty = match column_types.get(field.name()) {
            Some(ty) => ty.clone(),
            None => sql_type(dialect, field).ok_or_else(|| {
                Error::unsupported(
                    target,
                    format!(
                        "column `{}` of Arrow type {} has no {} type (set `column_types`)",
                        field.name(),
                        field.data_type(),
                        dialect
                    ),
                )
            })?,
        };
        defs.push(format!("{} {ty}", dialect.quote(field.name())));
    }
    defs.extend(ddl.constraints.iter().map(TableConstraint::ddl));
    Ok(defs.join(", "))
}

/// The SQL type a column for this Arrow field is created with (its Arrow type, and the
/// logical type it carries from its source).
pub(crate) fn sql_type(dialect: Dialect, field: &Field) -> Option<String> {
    match dialect {
        Dialect::Postgres => postgres::types::sql_type(field),
        Dialect::Mysql => mysql::types::sql_type(field),
        Dialect::Sqlite => sqlite::types::sql_type(field),
        Dialect::Datafusion => None,
    }
}

/// Makes a batch carry exactly `schema`: same column count, names, types and metadata.
///
/// Drivers infer their own Arrow types and Ballista's shuffle writer rejects batches whose
/// schema (metadata included) differs from the plan's, so every batch leaving a scan is
/// re-stamped here.
pub(crate) fn conform_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    if schema.fields().is_empty() {
        return RecordBatch::try_new_with_options(
            Arc::clone(schema),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        );
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(arrow::error::ArrowError::SchemaError(format!(
            "expected {} columns, got {}",
            schema.fields().len(),
            batch.num_columns()
        )));
    }
    // A value that does not fit fails the cast: never NULL, never truncated.
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        if column.data_type() == field.data_type() {
            columns.push(Arc::clone(column));
        } else {
            columns.push(cast_with_options(column, field.data_type(), &options)?);
        }
    }
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// Applies [`conform_batch`] to every batch of a stream.
pub(crate) fn conform_stream(
    stream: SendableRecordBatchStream,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    let out_schema = Arc::clone(&schema);
    let mapped =
        stream.map(move |batch| batch.and_then(|b| conform_batch(&b, &schema).map_err(Into::into)));
    Box::pin(RecordBatchStreamAdapter::new(out_schema, mapped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::DataType;

    #[test]
    fn maps_types_and_applies_overrides() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let overrides = BTreeMap::from([("b".to_owned(), "VARCHAR(10)".to_owned())]);
        assert_eq!(
            column_definitions("t", Dialect::Mysql, &schema, &TableDdl::columns(overrides))
                .expect("maps"),
            "`a` BIGINT, `b` VARCHAR(10)"
        );
    }

    #[test]
    fn conforming_never_turns_an_overflow_into_null() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![70_000]))])
            .expect("batch");
        let narrow = Arc::new(Schema::new(vec![Field::new("a", DataType::Int16, true)]));
        assert!(conform_batch(&batch, &narrow).is_err());
    }
}
