//! PostgreSQL: connection pool and Arrow results from the table-providers crate,
//! `COPY ... FROM STDIN` for bulk loads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::TableReference;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::AsyncDbConnection;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::postgresconn::PostgresConnection;
use datafusion_table_providers::sql::db_connection_pool::postgrespool::PostgresConnectionPool;
use datafusion_table_providers::util::secrets::to_secret_map;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::target::{PostgresConfig, TargetConfig};
use futures::{SinkExt, StreamExt};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, SimpleQueryMessage};

use super::{Adapter, RelationKind, column_definitions, conform_stream, text_columns, trim_select};
use crate::error::{Error, Result};

mod rows;

const D: Dialect = Dialect::Postgres;

/// A PostgreSQL target.
pub(crate) struct PostgresAdapter {
    target: TargetConfig,
    pool: Arc<PostgresConnectionPool>,
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
        let pool = PostgresConnectionPool::new(to_secret_map(params))
            .await
            .map_err(|e| Error::connection(&target.name, e))?;
        Ok(PostgresAdapter {
            target,
            pool: Arc::new(pool),
        })
    }

    async fn conn(&self) -> Result<PostgresConnection> {
        self.pool
            .connect_direct()
            .await
            .map_err(|e| Error::connection(&self.target.name, e))
    }

    fn sql_err(&self, action: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
        let target = self.target.name.clone();
        let action = action.into();
        move |e| Error::sql(&target, action, describe(e))
    }

    async fn kind(
        &self,
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
            .map_err(self.sql_err(format!("looking up {}", D.render(rel))))?;
        Ok(row.map(|r| match r.get::<_, String>(0).as_str() {
            "v" => RelationKind::View,
            _ => RelationKind::Table,
        }))
    }

    async fn drop_if_exists(&self, client: &impl GenericClient, rel: &Relation) -> Result<()> {
        if let Some(kind) = self.kind(client, rel).await? {
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

    /// Renames the staged relation over `relation` in one transaction. Dropping the old
    /// relation drops the views built on it (`CASCADE`), as dbt-postgres does: the run
    /// rebuilds them after it in DAG order.
    async fn swap_in(
        &self,
        client: &mut Client,
        tmp: &Relation,
        new_kind: RelationKind,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        let txn = client
            .transaction()
            .await
            .map_err(self.sql_err("starting the swap transaction"))?;
        self.drop_if_exists(&txn, backup).await?;
        let old = self.kind(&txn, relation).await?;
        if let Some(kind) = old {
            let sql = format!(
                "ALTER {} {} RENAME TO {}",
                kind.keyword(),
                D.render(relation),
                D.quote(&backup.identifier)
            );
            txn.batch_execute(&sql)
                .await
                .map_err(self.sql_err(format!("renaming {} aside", D.render(relation))))?;
        }
        let sql = format!(
            "ALTER {} {} RENAME TO {}",
            new_kind.keyword(),
            D.render(tmp),
            D.quote(&relation.identifier)
        );
        txn.batch_execute(&sql)
            .await
            .map_err(self.sql_err(format!("renaming {} into place", D.render(tmp))))?;
        if let Some(kind) = old {
            let sql = format!("DROP {} {} CASCADE", kind.keyword(), D.render(backup));
            txn.batch_execute(&sql)
                .await
                .map_err(self.sql_err(format!("dropping {}", D.render(backup))))?;
        }
        txn.commit()
            .await
            .map_err(self.sql_err(format!("committing the swap of {}", D.render(relation))))
    }

    /// Streams a query's rows, converted by DVT for the common types and by the
    /// table-providers otherwise; with `wanted`, batches are cast to that schema.
    async fn stream_query(
        &self,
        sql: &str,
        wanted: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream> {
        let conn = self.conn().await?;
        let statement = conn
            .conn
            .prepare(sql)
            .await
            .map_err(self.sql_err("preparing a query"))?;
        let handled = statement
            .columns()
            .iter()
            .all(|c| rows::arrow_type(c.type_(), c.type_modifier()).is_some());
        if !handled {
            let declared = declared_schema(statement.columns());
            let projected = wanted.clone().unwrap_or_else(|| numeric_fields(&declared));
            let stream = conn
                .query_arrow(sql, &[], Some(projected))
                .await
                .map_err(|e| Error::sql(&self.target.name, "running a query", e))?;
            return Ok(match wanted {
                Some(w) => conform_stream(stream, w),
                None if stream.schema().fields().is_empty() => Box::pin(
                    RecordBatchStreamAdapter::new(declared, futures::stream::empty()),
                ),
                None => stream,
            });
        }
        let target = self.target.name.clone();
        let convert_err = move |e: Box<dyn std::error::Error + Send + Sync>| {
            Error::sql(&target, "converting query results", e)
        };
        let row_stream = conn
            .conn
            .query_raw(&statement, std::iter::empty::<i32>())
            .await
            .map_err(self.sql_err("running a query"))?;
        let mut chunks = Box::pin(row_stream.chunks(rows::CHUNK_ROWS));
        let first = chunks
            .next()
            .await
            .unwrap_or_default()
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.sql_err("running a query"))?;
        let schema = rows::result_schema(statement.columns(), &first)
            .ok_or_else(|| Error::internal("postgres result types changed while reading"))?;
        let first_batch = if first.is_empty() {
            None
        } else {
            Some(rows::to_batch(&first, &schema).map_err(convert_err.clone())?)
        };
        let rest_schema = Arc::clone(&schema);
        let rest = chunks.map(move |chunk| {
            // The pooled connection stays checked out until the stream is dropped.
            let _checked_out = &conn;
            let rows = chunk
                .into_iter()
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| convert_err(Box::new(e)))?;
            rows::to_batch(&rows, &rest_schema).map_err(|e| convert_err(e).into_datafusion())
        });
        let batches = futures::stream::iter(first_batch.map(Ok)).chain(rest);
        let stream: SendableRecordBatchStream =
            Box::pin(RecordBatchStreamAdapter::new(schema, batches));
        Ok(match wanted {
            Some(w) => conform_stream(stream, w),
            None => stream,
        })
    }

    async fn copy_in(
        &self,
        client: &Client,
        tmp: &Relation,
        columns: &str,
        mut stream: SendableRecordBatchStream,
    ) -> Result<u64> {
        let target = &self.target.name;
        let sql = format!(
            "COPY {} ({columns}) FROM STDIN WITH (FORMAT csv)",
            D.render(tmp)
        );
        let sink = client
            .copy_in::<_, Bytes>(&sql)
            .await
            .map_err(|e| Error::bulk_load(target, &D.render(tmp), describe(e)))?;
        futures::pin_mut!(sink);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Error::bulk_load(target, &D.render(tmp), e))?;
            let columns = text_columns(target, D, &batch)?;
            let mut buf = Vec::with_capacity(batch.num_rows() * 16 * columns.len().max(1));
            for row in 0..batch.num_rows() {
                for (i, col) in columns.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    // NULL is an unquoted empty field; every value is quoted, so an empty
                    // string stays distinct from NULL.
                    if let Some(v) = &col[row] {
                        buf.push(b'"');
                        for b in v.bytes() {
                            if b == b'"' {
                                buf.push(b'"');
                            }
                            buf.push(b);
                        }
                        buf.push(b'"');
                    }
                }
                buf.push(b'\n');
            }
            sink.send(Bytes::from(buf))
                .await
                .map_err(|e| Error::bulk_load(target, &D.render(tmp), describe(e)))?;
        }
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| Error::bulk_load(target, &D.render(tmp), describe(e)))
    }
}

/// The Arrow schema of a result, from its row description. Only used for empty results
/// and numeric scales, so uncommon types simply map to text.
fn declared_schema(columns: &[tokio_postgres::Column]) -> SchemaRef {
    let fields = columns
        .iter()
        .map(|c| {
            let ty = match *c.type_() {
                Type::BOOL => DataType::Boolean,
                Type::INT2 => DataType::Int16,
                Type::INT4 => DataType::Int32,
                Type::INT8 => DataType::Int64,
                Type::FLOAT4 => DataType::Float32,
                Type::FLOAT8 => DataType::Float64,
                Type::DATE => DataType::Date32,
                Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Nanosecond, None),
                Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                Type::NUMERIC => {
                    // typmod is ((precision << 16) | scale) + 4, or -1 when unconstrained.
                    let m = c.type_modifier() - 4;
                    let (p, s) = ((m >> 16) & 0xffff, m & 0xffff);
                    if m >= 0 && (1..=38).contains(&p) && s <= p {
                        DataType::Decimal128(p as u8, s as i8)
                    } else {
                        DataType::Decimal128(38, 20)
                    }
                }
                _ => DataType::Utf8,
            };
            Field::new(c.name(), ty, true)
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

fn numeric_fields(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| matches!(f.data_type(), DataType::Decimal128(..)))
            .cloned()
            .collect::<Vec<_>>(),
    ))
}

/// PostgreSQL keeps microseconds; nanosecond Arrow types would overflow outside
/// 1677..2262.
fn microsecond_times(schema: &SchemaRef) -> SchemaRef {
    let fields = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, tz) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
            ),
            DataType::Time64(TimeUnit::Nanosecond) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Time64(TimeUnit::Microsecond)),
            ),
            _ => Arc::clone(f),
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
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
        self.kind(&*conn.conn, relation).await
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
        column_types: &BTreeMap<String, String>,
    ) -> Result<()> {
        let defs = column_definitions(&self.target.name, D, schema, column_types)?;
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

    async fn swap(
        &self,
        staged: &Relation,
        kind: RelationKind,
        relation: &Relation,
        backup: &Relation,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        self.swap_in(&mut conn.conn, staged, kind, relation, backup)
            .await
    }

    async fn execute(&self, sql: &str) -> Result<u64> {
        let conn = self.conn().await?;
        let messages = conn
            .conn
            .simple_query(sql)
            .await
            .map_err(self.sql_err("running a statement"))?;
        Ok(messages
            .iter()
            .map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => *n,
                _ => 0,
            })
            .sum())
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
        let schema = conn.get_schema(&reference).await.map_err(|e| {
            Error::sql(
                &self.target.name,
                format!("reading the columns of {}", D.render(relation)),
                e,
            )
        })?;
        Ok(microsecond_times(&schema))
    }
}
