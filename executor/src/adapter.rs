//! The adapter trait and what the per-database adapters share: type mapping, text
//! rendering of Arrow values for bulk loads, temporary relation names.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use arrow::util::display::FormatOptions;
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{Connection, TargetConfig};
use futures::StreamExt;

use crate::error::{Error, Result};

pub(crate) mod mysql;
pub(crate) mod postgres;
pub mod replace;
pub(crate) mod sqlite;

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
    /// mapping; `column_types` overrides the SQL type of the named columns).
    async fn create_table(
        &self,
        relation: &Relation,
        schema: &Schema,
        column_types: &BTreeMap<String, String>,
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

    /// Whether views can be renamed. When not (SQLite), a view is replaced by
    /// [`Adapter::replace_view_in_one_transaction`].
    fn renames_views(&self) -> bool {
        true
    }

    /// Drops whatever is named `relation` and creates the view in one transaction (for
    /// databases that cannot rename views but have transactional DDL).
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
}

impl RelationKind {
    /// `TABLE` or `VIEW`, for DDL.
    pub fn keyword(self) -> &'static str {
        match self {
            RelationKind::Table => "TABLE",
            RelationKind::View => "VIEW",
        }
    }
}

/// Model SQL often ends with `;`, which breaks `CREATE TABLE ... AS <sql>`.
pub(crate) fn trim_select(sql: &str) -> &str {
    sql.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// The `CREATE TABLE` column list for an Arrow schema in a dialect.
pub(crate) fn column_definitions(
    target: &str,
    dialect: Dialect,
    schema: &Schema,
    column_types: &BTreeMap<String, String>,
) -> Result<String> {
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
            None => sql_type(dialect, field.data_type()).ok_or_else(|| {
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
    Ok(defs.join(", "))
}

/// The SQL type a column of this Arrow type is created with.
pub(crate) fn sql_type(dialect: Dialect, ty: &DataType) -> Option<String> {
    use DataType as T;
    let s = match (dialect, ty) {
        (Dialect::Postgres, T::Boolean) => "BOOLEAN".into(),
        (Dialect::Postgres, T::Int8 | T::Int16 | T::UInt8) => "SMALLINT".into(),
        (Dialect::Postgres, T::Int32 | T::UInt16) => "INTEGER".into(),
        (Dialect::Postgres, T::Int64 | T::UInt32) => "BIGINT".into(),
        (Dialect::Postgres, T::UInt64) => "NUMERIC(20,0)".into(),
        (Dialect::Postgres, T::Float16 | T::Float32) => "REAL".into(),
        (Dialect::Postgres, T::Float64) => "DOUBLE PRECISION".into(),
        (Dialect::Postgres, T::Decimal128(p, s) | T::Decimal256(p, s)) => {
            format!("NUMERIC({p},{s})")
        }
        (Dialect::Postgres, T::Utf8 | T::LargeUtf8 | T::Utf8View) => "TEXT".into(),
        (Dialect::Postgres, T::Date32 | T::Date64) => "DATE".into(),
        (Dialect::Postgres, T::Timestamp(_, None)) => "TIMESTAMP".into(),
        (Dialect::Postgres, T::Timestamp(_, Some(_))) => "TIMESTAMPTZ".into(),
        (Dialect::Postgres, T::Time32(_) | T::Time64(_)) => "TIME".into(),

        (Dialect::Mysql, T::Boolean) => "BOOLEAN".into(),
        (Dialect::Mysql, T::Int8) => "TINYINT".into(),
        (Dialect::Mysql, T::UInt8) => "TINYINT UNSIGNED".into(),
        (Dialect::Mysql, T::Int16) => "SMALLINT".into(),
        (Dialect::Mysql, T::UInt16) => "SMALLINT UNSIGNED".into(),
        (Dialect::Mysql, T::Int32) => "INT".into(),
        (Dialect::Mysql, T::UInt32) => "INT UNSIGNED".into(),
        (Dialect::Mysql, T::Int64) => "BIGINT".into(),
        (Dialect::Mysql, T::UInt64) => "BIGINT UNSIGNED".into(),
        (Dialect::Mysql, T::Float16 | T::Float32) => "FLOAT".into(),
        (Dialect::Mysql, T::Float64) => "DOUBLE".into(),
        (Dialect::Mysql, T::Decimal128(p, s) | T::Decimal256(p, s)) if *p <= 65 && *s <= 30 => {
            format!("DECIMAL({p},{s})")
        }
        (Dialect::Mysql, T::Utf8 | T::LargeUtf8 | T::Utf8View) => "LONGTEXT".into(),
        (Dialect::Mysql, T::Date32 | T::Date64) => "DATE".into(),
        (Dialect::Mysql, T::Timestamp(TimeUnit::Second, _)) => "DATETIME".into(),
        (Dialect::Mysql, T::Timestamp(TimeUnit::Millisecond, _)) => "DATETIME(3)".into(),
        (Dialect::Mysql, T::Timestamp(_, _)) => "DATETIME(6)".into(),
        (Dialect::Mysql, T::Time32(_) | T::Time64(_)) => "TIME(6)".into(),

        (Dialect::Sqlite, T::Boolean) => "BOOLEAN".into(),
        (
            Dialect::Sqlite,
            T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32,
        ) => "INTEGER".into(),
        (Dialect::Sqlite, T::Float16 | T::Float32 | T::Float64) => "REAL".into(),
        (Dialect::Sqlite, T::Decimal128(p, s) | T::Decimal256(p, s)) => {
            format!("DECIMAL({p},{s})")
        }
        (Dialect::Sqlite, T::Utf8 | T::LargeUtf8 | T::Utf8View | T::UInt64) => "TEXT".into(),
        (Dialect::Sqlite, T::Date32 | T::Date64) => "DATE".into(),
        (Dialect::Sqlite, T::Timestamp(_, _)) => "TIMESTAMP".into(),
        (Dialect::Sqlite, T::Time32(_) | T::Time64(_)) => "TIME".into(),
        _ => return None,
    };
    Some(s)
}

/// Renders every column of a batch as text the way the dialect's bulk path reads it back
/// (`None` is NULL): booleans as `true`/`false` on PostgreSQL and `1`/`0` elsewhere,
/// timestamps as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC for zoned ones).
pub(crate) fn text_columns(
    target: &str,
    dialect: Dialect,
    batch: &RecordBatch,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut out = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        out.push(text_column(target, dialect, field.name(), column)?);
    }
    Ok(out)
}

fn text_column(
    target: &str,
    dialect: Dialect,
    name: &str,
    column: &ArrayRef,
) -> Result<Vec<Option<String>>> {
    let len = column.len();
    let mut out = Vec::with_capacity(len);
    match column.data_type() {
        DataType::Boolean => {
            let b = column.as_boolean();
            let (t, f) = match dialect {
                Dialect::Postgres | Dialect::Datafusion => ("true", "false"),
                Dialect::Mysql | Dialect::Sqlite => ("1", "0"),
            };
            for i in 0..len {
                out.push(
                    b.is_valid(i)
                        .then(|| if b.value(i) { t } else { f }.to_owned()),
                );
            }
        }
        DataType::Timestamp(_, tz) => {
            // Microsecond precision keeps every value the targets can store; a zoned
            // timestamp is rendered in UTC with an explicit offset on PostgreSQL only,
            // since MySQL's DATETIME rejects offsets.
            let micros = cast_with_options(
                column,
                &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                &CastOptions::default(),
            )
            .map_err(|e| load_cast_error(target, name, e))?;
            let ts = micros.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            let suffix = if tz.is_some() && dialect == Dialect::Postgres {
                "+00"
            } else {
                ""
            };
            for i in 0..len {
                if ts.is_null(i) {
                    out.push(None);
                    continue;
                }
                let v = ts.value(i);
                let dt = chrono::DateTime::from_timestamp_micros(v).ok_or_else(|| {
                    Error::unsupported(target, format!("timestamp {v} out of range in `{name}`"))
                })?;
                out.push(Some(format!(
                    "{}{suffix}",
                    dt.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f")
                )));
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            return Err(Error::unsupported(
                target,
                format!("bulk loading binary column `{name}`"),
            ));
        }
        DataType::Null => out.resize(len, None),
        _ => {
            let options = FormatOptions::default().with_null("");
            let formatter = arrow::util::display::ArrayFormatter::try_new(column, &options)
                .map_err(|e| load_cast_error(target, name, e))?;
            for i in 0..len {
                out.push(column.is_valid(i).then(|| formatter.value(i).to_string()));
            }
        }
    }
    Ok(out)
}

fn load_cast_error(target: &str, column: &str, e: arrow::error::ArrowError) -> Error {
    Error::unsupported(target, format!("rendering column `{column}` as text: {e}"))
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
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        if column.data_type() == field.data_type() {
            columns.push(Arc::clone(column));
        } else {
            columns.push(cast_with_options(
                column,
                field.data_type(),
                &CastOptions::default(),
            )?);
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
    use arrow::array::{BooleanArray, Decimal128Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::Field;

    #[test]
    fn renders_values_for_each_dialect() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("b", DataType::Boolean, true),
            Field::new("d", DataType::Decimal128(10, 2), true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(BooleanArray::from(vec![Some(true), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1230), Some(-5)])
                        .with_precision_and_scale(10, 2)
                        .expect("valid decimal"),
                ),
                Arc::new(TimestampMicrosecondArray::from(vec![Some(1_500_000), None])),
                Arc::new(StringArray::from(vec![Some(""), None])),
            ],
        )
        .expect("valid batch");
        let pg = text_columns("t", Dialect::Postgres, &batch).expect("renders");
        assert_eq!(pg[0], vec![Some("true".to_owned()), None]);
        assert_eq!(
            pg[1],
            vec![Some("12.30".to_owned()), Some("-0.05".to_owned())]
        );
        assert_eq!(pg[2][0].as_deref(), Some("1970-01-01 00:00:01.500000"));
        assert_eq!(pg[3], vec![Some(String::new()), None]);
        let my = text_columns("t", Dialect::Mysql, &batch).expect("renders");
        assert_eq!(my[0][0].as_deref(), Some("1"));
    }

    #[test]
    fn maps_types_and_applies_overrides() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let overrides = BTreeMap::from([("b".to_owned(), "VARCHAR(10)".to_owned())]);
        assert_eq!(
            column_definitions("t", Dialect::Mysql, &schema, &overrides).expect("maps"),
            "`a` BIGINT, `b` VARCHAR(10)"
        );
    }
}
