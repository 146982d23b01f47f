//! The replace sequence, written once over the adapter primitives and used by every
//! materialization and every load: build under a staged name, then swap it in at once.
//!
//! ```text
//! drop staged (a leftover of this run) -> build staged -> swap(staged -> relation via backup)
//!                         └── on any failure: drop staged; the old relation is untouched
//! ```
//!
//! Staged and backup names carry the run's id, so two overlapping runs never drop or
//! publish each other's work, and are shortened with a hash where the database's
//! identifier limit would otherwise cut them (PostgreSQL silently truncates at 63 bytes,
//! which could make a staged name equal the model's own).

use std::collections::BTreeMap;

use datafusion::execution::SendableRecordBatchStream;
use dvt_core::dialect::{Dialect, LengthUnit, Relation};

use super::{Adapter, RelationKind, TableDdl};
use crate::error::{Error, Result};
use dvt_core::constraints::TableConstraint;

/// Marks every relation DVT creates on its own behalf: `<name>__dvt_tmp_<run>` and
/// `<name>__dvt_bak_<run>`.
pub const MARKER: &str = "__dvt_";

/// The staged and backup names of one relation in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedNames {
    /// Where the new relation is built.
    pub staged: Relation,
    /// Where the old relation passes during the swap.
    pub backup: Relation,
}

impl StagedNames {
    /// The names for `relation` in run `run_id` on a database of `dialect`.
    pub fn new(dialect: Dialect, relation: &Relation, run_id: &str) -> Self {
        let run = format!("{:08x}", fnv1a(run_id.as_bytes()) as u32);
        let name = |kind: &str| Relation {
            database: relation.database.clone(),
            schema: relation.schema.clone(),
            identifier: fit(
                dialect,
                &relation.identifier,
                &format!("{MARKER}{kind}_{run}"),
            ),
            quoting: relation.quoting,
        };
        StagedNames {
            staged: name("tmp"),
            backup: name("bak"),
        }
    }
}

/// A table's DDL as its staged table of one run takes it ([`TableDdl::staged`]).
#[derive(Debug)]
struct StagedDdl {
    /// The DDL to create the staged table with.
    ddl: TableDdl,
    /// Constraints to rename once the table is swapped in: (staged name, own name).
    renames: Vec<(String, String)>,
    /// Named foreign keys the live table must give up before the staged table is created.
    release: Vec<String>,
}

impl TableDdl {
    /// This DDL for the staged table of run `run_id`. Some constraint names are unique
    /// beyond their table, so the staged table cannot take a name the live table still
    /// holds (dbt-core fails there on the second build of such a model):
    /// - PostgreSQL names a primary key's or unique constraint's index after it, and
    ///   index names are unique in a schema: the staged table holds the constraint under
    ///   a run-scoped name, renamed once it is swapped in;
    /// - MariaDB scopes foreign key names to the database and cannot rename one: the
    ///   live table, about to be replaced, gives its named foreign keys up first.
    fn staged(&self, dialect: Dialect, run_id: &str) -> StagedDdl {
        let mut out = StagedDdl {
            ddl: self.clone(),
            renames: Vec::new(),
            release: Vec::new(),
        };
        let run = format!("{MARKER}{:08x}", fnv1a(run_id.as_bytes()) as u32);
        for c in &mut out.ddl.constraints {
            let Some(name) = c.name.clone() else { continue };
            let plain = name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            match (dialect, c.kind.as_str()) {
                (Dialect::Postgres, "primary_key" | "unique") if plain => {
                    let temporary = fit(dialect, &name, &run);
                    c.name = Some(temporary.clone());
                    out.renames.push((temporary, name));
                }
                (Dialect::Mysql, "foreign_key") => out.release.push(name),
                _ => {}
            }
        }
        out
    }
}

/// `base + suffix`, or, when that is over the limit, as much of `base` as fits, then a
/// hash of the whole `base` (so two long names sharing a prefix stay apart), then
/// `suffix`.
pub(crate) fn fit(dialect: Dialect, base: &str, suffix: &str) -> String {
    let whole = format!("{base}{suffix}");
    if dialect.identifier_fits(&whole) {
        return whole;
    }
    let hash = format!("_{:08x}", fnv1a(base.as_bytes()) as u32);
    let Some((max, unit)) = dialect.identifier_limit() else {
        return whole;
    };
    let keep = max.saturating_sub(suffix.len() + hash.len());
    let mut prefix = String::new();
    for c in base.chars() {
        let next = match unit {
            LengthUnit::Bytes => prefix.len() + c.len_utf8(),
            LengthUnit::Chars => prefix.chars().count() + 1,
        };
        if next > keep {
            break;
        }
        prefix.push(c);
    }
    format!("{prefix}{hash}{suffix}")
}

/// A hash that is the same in every process and Rust release (std's is not).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Creates `schema` only when the catalogue says it is missing, so a role that owns its
/// schema but may not create schemas in the database still builds into it.
pub async fn ensure_schema(adapter: &dyn Adapter, schema: &str) -> Result<()> {
    if adapter.schema_exists(schema).await? {
        return Ok(());
    }
    match adapter.create_schema(schema).await {
        Ok(()) => Ok(()),
        // Another run (or node) created it in between: `IF NOT EXISTS` does not guard
        // against that race on PostgreSQL.
        Err(_) if adapter.schema_exists(schema).await.unwrap_or(false) => Ok(()),
        Err(e) => Err(e),
    }
}

impl dyn Adapter {
    /// Atomically replaces `relation` with a table built by `CREATE TABLE AS select_sql`.
    /// On failure the previous relation is untouched and no staged relation remains.
    pub async fn replace_table_as(
        &self,
        relation: &Relation,
        select_sql: &str,
        run_id: &str,
    ) -> Result<Option<u64>> {
        self.atomically(async {
            let names = StagedNames::new(self.dialect(), relation, run_id);
            self.drop_relation(&names.staged).await?;
            let rows = match self.create_table_as(&names.staged, select_sql).await {
                Ok(rows) => rows,
                Err(e) => return self.discard(&names, e).await,
            };
            self.publish(&names, RelationKind::Table, relation).await?;
            Ok(rows)
        })
        .await
    }

    /// Atomically replaces `relation` with a table created with exactly `columns` (name,
    /// type and constraints, as an enforced contract declares them) and the table
    /// `constraints`, and filled from `select_sql`, as dbt builds a contracted model.
    pub async fn replace_table_with_columns(
        &self,
        relation: &Relation,
        select_sql: &str,
        columns: &[(String, String)],
        constraints: &[TableConstraint],
        run_id: &str,
    ) -> Result<Option<u64>> {
        self.atomically(async {
            let names = StagedNames::new(self.dialect(), relation, run_id);
            let d = self.dialect();
            let staged = d.render(&names.staged);
            let ddl = TableDdl {
                column_types: BTreeMap::new(),
                constraints: constraints.to_vec(),
            };
            let (ddl, renames) = self.staged_ddl(relation, &ddl, run_id).await?;
            let defs = columns
                .iter()
                .map(|(n, t)| format!("{} {t}", d.quote(n)))
                .chain(ddl.constraints.iter().map(TableConstraint::ddl))
                .collect::<Vec<_>>()
                .join(", ");
            let list = columns
                .iter()
                .map(|(n, _)| d.quote(n))
                .collect::<Vec<_>>()
                .join(", ");
            self.drop_relation(&names.staged).await?;
            if let Err(e) = self
                .execute(&format!("CREATE TABLE {staged} ({defs})"))
                .await
            {
                return self.discard(&names, e).await;
            }
            let insert = format!(
                "INSERT INTO {staged} ({list}) SELECT {list} FROM ({}) dbt_contract_source",
                super::trim_select(select_sql)
            );
            let rows = match self.execute(&insert).await {
                Ok(n) => n,
                Err(e) => return self.discard(&names, e).await,
            };
            self.publish(&names, RelationKind::Table, relation).await?;
            self.rename_constraints(relation, &renames).await?;
            Ok(Some(rows))
        })
        .await
    }

    /// Atomically replaces `relation` (a view or a table) with a view of `select_sql`.
    pub async fn replace_view_as(
        &self,
        relation: &Relation,
        select_sql: &str,
        run_id: &str,
    ) -> Result<()> {
        self.atomically(async {
            if !self.renames_views() {
                return self
                    .replace_view_in_one_transaction(relation, select_sql)
                    .await;
            }
            let names = StagedNames::new(self.dialect(), relation, run_id);
            self.drop_relation(&names.staged).await?;
            if let Err(e) = self.create_view_as(&names.staged, select_sql).await {
                return self.discard(&names, e).await;
            }
            self.publish(&names, RelationKind::View, relation).await
        })
        .await
    }

    /// Atomically replaces `relation` with a materialized view of `select_sql`
    /// (PostgreSQL; routing builds a table elsewhere).
    pub async fn replace_materialized_view_as(
        &self,
        relation: &Relation,
        select_sql: &str,
        run_id: &str,
    ) -> Result<()> {
        self.atomically(async {
            let names = StagedNames::new(self.dialect(), relation, run_id);
            self.drop_relation(&names.staged).await?;
            let sql = format!(
                "CREATE MATERIALIZED VIEW {} AS {}",
                self.dialect().render(&names.staged),
                super::trim_select(select_sql)
            );
            if let Err(e) = self.execute(&sql).await {
                return self.discard(&names, e).await;
            }
            self.publish(&names, RelationKind::MaterializedView, relation)
                .await
        })
        .await
    }

    /// Bulk-loads `stream` into a new table and swaps it in atomically. Column types come
    /// from the Arrow schema through the dialect's type mapping; `ddl` overrides the SQL
    /// type of the columns it names and adds table constraints. Returns the rows loaded.
    pub async fn replace_table_from_stream(
        &self,
        relation: &Relation,
        stream: SendableRecordBatchStream,
        ddl: &TableDdl,
        run_id: &str,
    ) -> Result<u64> {
        self.atomically(async {
            let target = &self.target().name;
            let schema = stream.schema();
            for field in schema.fields() {
                if !self.dialect().identifier_fits(field.name()) {
                    return Err(Error::unsupported(
                        target,
                        format!(
                            "column name `{}` is longer than {} allows; alias it shorter",
                            field.name(),
                            self.dialect()
                        ),
                    ));
                }
            }
            let names = StagedNames::new(self.dialect(), relation, run_id);
            let (ddl, renames) = self.staged_ddl(relation, ddl, run_id).await?;
            let rows = self.stage_stream(&names, stream, &ddl).await?;
            self.publish(&names, RelationKind::Table, relation).await?;
            self.rename_constraints(relation, &renames).await?;
            Ok(rows)
        })
        .await
    }

    /// `ddl` as the staged table of `relation` in run `run_id` takes it
    /// ([`TableDdl::staged`]), after the live table gave up the names it must (if the
    /// build then fails, the old table stays without those foreign keys until the next
    /// build); and the renames to make once the table is swapped in.
    async fn staged_ddl(
        &self,
        relation: &Relation,
        ddl: &TableDdl,
        run_id: &str,
    ) -> Result<(TableDdl, Vec<(String, String)>)> {
        let StagedDdl {
            ddl,
            renames,
            release,
        } = ddl.staged(self.dialect(), run_id);
        if !release.is_empty() && self.relation_kind(relation).await? == Some(RelationKind::Table) {
            let table = self.dialect().render(relation);
            for name in release {
                self.execute(&format!(
                    "ALTER TABLE {table} DROP FOREIGN KEY IF EXISTS {name}"
                ))
                .await?;
            }
        }
        Ok((ddl, renames))
    }

    /// Gives the constraints of a table just swapped in their own names
    /// ([`TableDdl::staged`]).
    async fn rename_constraints(
        &self,
        relation: &Relation,
        renames: &[(String, String)],
    ) -> Result<()> {
        let table = self.dialect().render(relation);
        for (from, to) in renames {
            self.execute(&format!(
                "ALTER TABLE {table} RENAME CONSTRAINT {from} TO {to}"
            ))
            .await?;
        }
        Ok(())
    }

    /// Loads `stream` into a fresh staged table (`names.staged`); on failure the staged
    /// table is dropped. Returns the rows loaded.
    pub(crate) async fn stage_stream(
        &self,
        names: &StagedNames,
        stream: SendableRecordBatchStream,
        ddl: &TableDdl,
    ) -> Result<u64> {
        self.drop_relation(&names.staged).await?;
        if let Err(e) = self
            .create_table(&names.staged, &stream.schema(), ddl)
            .await
        {
            return self.discard(names, e).await;
        }
        match self.append(&names.staged, stream).await {
            Ok(rows) => Ok(rows),
            Err(e) => self.discard(names, e).await,
        }
    }

    /// Loads a seed's rows the way dbt re-seeds: when the table exists with the same
    /// columns, its rows are replaced in one transaction (`delete` + `insert` from the
    /// staged copy), so views and grants on it survive, as dbt's truncate-and-insert
    /// keeps them; otherwise (new table, changed columns) the staged table is swapped in.
    pub async fn reload_table_from_stream(
        &self,
        relation: &Relation,
        stream: SendableRecordBatchStream,
        ddl: &TableDdl,
        run_id: &str,
    ) -> Result<u64> {
        self.atomically(async {
            if self.relation_kind(relation).await? != Some(RelationKind::Table) {
                return self
                    .replace_table_from_stream(relation, stream, ddl, run_id)
                    .await;
            }
            let names = StagedNames::new(self.dialect(), relation, run_id);
            let rows = self.stage_stream(&names, stream, ddl).await?;
            let same_columns =
                match (
                    self.relation_schema(relation).await,
                    self.relation_schema(&names.staged).await,
                ) {
                    (Ok(old), Ok(new)) => {
                        old.fields().len() == new.fields().len()
                            && old.fields().iter().zip(new.fields()).all(|(a, b)| {
                                a.name() == b.name() && a.data_type() == b.data_type()
                            })
                    }
                    (_, Err(e)) => return self.discard(&names, e).await,
                    (Err(_), _) => false,
                };
            if !same_columns {
                self.publish(&names, RelationKind::Table, relation).await?;
                return Ok(rows);
            }
            let d = self.dialect();
            let (target_sql, staged_sql) = (d.render(relation), d.render(&names.staged));
            let script = [
                format!("DELETE FROM {target_sql}"),
                format!("INSERT INTO {target_sql} SELECT * FROM {staged_sql}"),
            ];
            if let Err(e) = self.execute_in_transaction(&script).await {
                return self.discard(&names, e).await;
            }
            self.drop_relation(&names.staged).await?;
            Ok(rows)
        })
        .await
    }

    /// Builds a new table from the tables `parts` (same columns as `schema`, loaded by
    /// executors) in one transaction and swaps it in for `relation`.
    pub async fn replace_table_from_parts(
        &self,
        relation: &Relation,
        schema: &arrow::datatypes::Schema,
        parts: &[Relation],
        ddl: &TableDdl,
        run_id: &str,
    ) -> Result<()> {
        self.atomically(async {
            let names = StagedNames::new(self.dialect(), relation, run_id);
            let (ddl, renames) = self.staged_ddl(relation, ddl, run_id).await?;
            self.drop_relation(&names.staged).await?;
            if let Err(e) = self.create_table(&names.staged, schema, &ddl).await {
                return self.discard(&names, e).await;
            }
            let d = self.dialect();
            let staged = d.render(&names.staged);
            let script: Vec<String> = parts
                .iter()
                .map(|p| format!("INSERT INTO {staged} SELECT * FROM {}", d.render(p)))
                .collect();
            if !script.is_empty()
                && let Err(e) = self.execute_in_transaction(&script).await
            {
                return self.discard(&names, e).await;
            }
            self.publish(&names, RelationKind::Table, relation).await?;
            self.rename_constraints(relation, &renames).await
        })
        .await
    }

    /// The tables of `schema` whose names start with `prefix`.
    pub async fn tables_with_prefix(&self, schema: &str, prefix: &str) -> Result<Vec<Relation>> {
        let d = self.dialect();
        let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
        let n = prefix.chars().count();
        let sql = match d {
            Dialect::Sqlite => format!(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, {n}) = {}",
                quote(prefix)
            ),
            _ => format!(
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = {} AND LEFT(table_name, {n}) = {}",
                quote(schema),
                quote(prefix)
            ),
        };
        let batches = crate::federation::collect_stream(self.query(&sql).await?).await?;
        let mut out = Vec::new();
        for batch in &batches {
            let names = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
                .map_err(|e| Error::internal(e.to_string()))?;
            let names = names
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| Error::internal("table names are not text"))?;
            for i in 0..arrow::array::Array::len(names) {
                out.push(Relation::new(schema, names.value(i)));
            }
        }
        Ok(out)
    }

    /// Runs a replace's `steps` inside [`Adapter::begin_atomic`]'s transaction where the
    /// adapter opens one: committed when they succeed, rolled back when they fail.
    pub(crate) async fn atomically<T>(&self, steps: impl Future<Output = Result<T>>) -> Result<T> {
        let opened = self.begin_atomic().await?;
        let out = steps.await;
        if opened {
            self.end_atomic(out.is_ok()).await?;
        }
        out
    }

    async fn publish(
        &self,
        names: &StagedNames,
        kind: RelationKind,
        relation: &Relation,
    ) -> Result<()> {
        match self
            .swap(&names.staged, kind, relation, &names.backup)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => self.discard(names, e).await,
        }
    }

    /// Drops the staged relation after a failed step and returns the step's error.
    pub(crate) async fn discard<T>(&self, names: &StagedNames, e: Error) -> Result<T> {
        // A failed drop must not hide the step's error; a later build of the same run
        // drops the leftover first.
        let _ = self.drop_relation(&names.staged).await;
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_names_fit_the_limit_and_stay_apart() {
        let long = "m".repeat(63);
        let rel = Relation::new("s", long.clone());
        let a = StagedNames::new(Dialect::Postgres, &rel, "run-a");
        let b = StagedNames::new(Dialect::Postgres, &rel, "run-b");
        for n in [&a.staged, &a.backup, &b.staged, &b.backup] {
            assert!(n.identifier.len() <= 63, "{}", n.identifier);
            assert_ne!(n.identifier, long);
            assert!(n.identifier.contains(MARKER), "{}", n.identifier);
        }
        assert_ne!(a.staged, b.staged);
        assert_ne!(a.staged, a.backup);
        // Two long names with a common prefix get different staged names.
        let other = Relation::new("s", format!("{}x", "m".repeat(62)));
        assert_ne!(
            StagedNames::new(Dialect::Postgres, &other, "run-a").staged,
            a.staged
        );
        // Multi-byte names are cut on a character boundary.
        let wide = Relation::new("s", "é".repeat(31));
        let w = StagedNames::new(Dialect::Postgres, &wide, "r");
        assert!(w.staged.identifier.len() <= 63);
        // Short names keep their whole text; MySQL counts characters.
        let short = StagedNames::new(Dialect::Mysql, &Relation::new("s", "orders"), "r");
        assert!(short.staged.identifier.starts_with("orders__dvt_tmp_"));
        let m = StagedNames::new(Dialect::Mysql, &Relation::new("s", "é".repeat(64)), "r");
        assert!(m.staged.identifier.chars().count() <= 64);
    }
}
