//! An incremental model's build on its destination, once its table exists: the new rows
//! are staged in a table of their own, the table's columns follow `on_schema_change`,
//! and the strategy's statements move the rows over in one transaction.
//!
//! ```text
//! stage new rows (CREATE TABLE AS, or a bulk load) -> compare columns
//!   -> fail (DVT309) | alter the table -> strategy statements in one transaction -> drop staged
//!        └── on any failure: drop staged; the table keeps its rows
//! ```
//!
//! Both paths end here: pushdown stages with the model's SQL, federation with the
//! engine's result stream. The SQL text comes from [`dvt_core::incremental`].

use std::collections::BTreeMap;

use datafusion::execution::SendableRecordBatchStream;
use dvt_core::dialect::{Dialect, Relation};
use dvt_core::incremental::{Column, IncrementalConfig, OnSchemaChange, SchemaChanges};

use super::Adapter;
use super::replace::StagedNames;
use crate::error::{Error, Result};

/// Where an incremental build's new rows come from.
pub enum NewRows<'a> {
    /// The model's SQL, run on the destination (pushdown).
    Sql(&'a str),
    /// The engine's result (federated), with its table's DDL.
    Stream(SendableRecordBatchStream, &'a super::TableDdl),
}

impl std::fmt::Debug for NewRows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewRows::Sql(sql) => f.debug_tuple("Sql").field(sql).finish(),
            NewRows::Stream(..) => f.write_str("Stream"),
        }
    }
}

/// A microbatch's window: `[start, end)` on the model's `event_time` column.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// First instant inside, as SQL text.
    pub start: &'a str,
    /// First instant after.
    pub end: &'a str,
    /// The model's event-time column.
    pub event_time: &'a str,
}

impl dyn Adapter {
    /// Applies an incremental model's new rows to its existing table `relation`.
    /// Returns the new rows staged.
    pub async fn apply_incremental(
        &self,
        relation: &Relation,
        rows: NewRows<'_>,
        cfg: &IncrementalConfig,
        window: Option<Window<'_>>,
        run_id: &str,
    ) -> Result<u64> {
        self.atomically(async {
            let names = StagedNames::new(self.dialect(), relation, run_id);
            let staged_rows = match rows {
                NewRows::Sql(sql) => {
                    self.drop_relation(&names.staged).await?;
                    match self.create_table_as(&names.staged, sql).await {
                        Ok(n) => n,
                        Err(e) => return self.discard(&names, e).await,
                    }
                }
                NewRows::Stream(stream, ddl) => Some(self.stage_stream(&names, stream, ddl).await?),
            };
            match self.merge_staged(relation, &names, cfg, window).await {
                Ok(()) => {}
                Err(e) => return self.discard(&names, e).await,
            }
            self.drop_relation(&names.staged).await?;
            match staged_rows {
                Some(n) => Ok(n),
                None => self.count_rows(relation).await,
            }
        })
        .await
    }

    async fn merge_staged(
        &self,
        relation: &Relation,
        names: &StagedNames,
        cfg: &IncrementalConfig,
        window: Option<Window<'_>>,
    ) -> Result<()> {
        let d = self.dialect();
        let old = self.columns_of(relation).await?;
        let new = self.columns_of(&names.staged).await?;
        let mut changes = SchemaChanges::between(&new, &old);
        // A column the table gains keeps the type the database gave it in the staged
        // table (`character varying(20)`, not the engine's `text`), as dbt's does.
        let declared = self.declared_types(&names.staged).await.unwrap_or_default();
        for c in changes.added.iter_mut().chain(changes.changed.iter_mut()) {
            if let Some(t) = declared.get(&c.name) {
                c.data_type.clone_from(t);
            }
        }
        let target_sql = d.render(relation);
        let columns: Vec<String> = match cfg.on_schema_change {
            // dbt writes the table's columns and leaves new ones out.
            OnSchemaChange::Ignore => old.iter().map(|c| c.name.clone()).collect(),
            OnSchemaChange::Fail if changes.any() => {
                return Err(Error::SchemaChanged {
                    relation: target_sql,
                    changes: changes.describe(),
                });
            }
            mode => {
                // DDL commits on its own on MySQL; dbt alters before the data moves too.
                for ddl in changes.ddl(mode, d, &target_sql) {
                    self.execute(&ddl).await?;
                }
                new.iter().map(|c| c.name.clone()).collect()
            }
        };
        let statements = dvt_core::incremental::strategy_sql(
            d,
            cfg,
            &target_sql,
            &d.render(&names.staged),
            &columns,
            window.map(|w| (w.start, w.end, w.event_time)),
        );
        self.execute_in_transaction(&statements).await?;
        Ok(())
    }

    /// The columns of a relation with the type names its database declares for them,
    /// sizes included: PostgreSQL's `format_type`, MySQL's `column_type`, SQLite's
    /// declared type.
    async fn declared_types(&self, relation: &Relation) -> Result<BTreeMap<String, String>> {
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let (schema, name) = (lit(&relation.schema), lit(&relation.identifier));
        let sql = match self.dialect() {
            Dialect::Postgres => format!(
                "select a.attname::text, format_type(a.atttypid, a.atttypmod) from pg_attribute a \
                 join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace \
                 where n.nspname = {schema} and c.relname = {name} and a.attnum > 0 and not a.attisdropped"
            ),
            Dialect::Mysql => format!(
                "select column_name, column_type from information_schema.columns \
                 where table_schema = {schema} and table_name = {name}"
            ),
            _ => format!("select name, type from pragma_table_info({name})"),
        };
        let batches = crate::federation::collect_stream(self.query(&sql).await?).await?;
        Ok(crate::introspect::table(&batches)
            .rows
            .iter()
            .filter_map(|row| match row.as_slice() {
                [name, ty, ..] if !crate::introspect::text(ty).is_empty() => {
                    Some((crate::introspect::text(name), crate::introspect::text(ty)))
                }
                _ => None,
            })
            .collect())
    }

    /// The columns of a relation with the SQL types DVT would create them with.
    pub(crate) async fn columns_of(&self, relation: &Relation) -> Result<Vec<Column>> {
        let schema = self.relation_schema(relation).await?;
        let d = self.dialect();
        Ok(schema
            .fields()
            .iter()
            .map(|f| Column {
                name: f.name().clone(),
                data_type: super::sql_type(d, f).unwrap_or_else(|| f.data_type().to_string()),
            })
            .collect())
    }

    async fn count_rows(&self, relation: &Relation) -> Result<u64> {
        let sql = format!("select count(*) from {}", self.dialect().render(relation));
        let batches = crate::federation::collect_stream(self.query(&sql).await?).await?;
        let n = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| {
                arrow::util::display::ArrayFormatter::try_new(
                    b.column(0).as_ref(),
                    &arrow::util::display::FormatOptions::default(),
                )
                .ok()
                .and_then(|f| f.value(0).to_string().parse::<u64>().ok())
            })
            .unwrap_or(0);
        Ok(n)
    }

    /// Runs `statements` in one transaction: all of them take effect, or none.
    pub(crate) async fn execute_in_transaction(&self, statements: &[String]) -> Result<u64> {
        let body = statements.join(";\n");
        let script = match self.dialect() {
            // A simple-query string is one implicit transaction on PostgreSQL.
            Dialect::Postgres => body,
            _ => format!("BEGIN;\n{body};\nCOMMIT;"),
        };
        match self.execute(&script).await {
            Ok(n) => Ok(n),
            Err(e) => {
                // Leave no transaction open on a pooled connection.
                let _ = self.execute("ROLLBACK").await;
                Err(e)
            }
        }
    }
}
