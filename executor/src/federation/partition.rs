//! Splitting a source scan into ranges that extract in parallel, each range one file
//! group of the scan (so Ballista hands each to one task) and one Parquet part in the
//! bucket.
//!
//! PostgreSQL tables split by `ctid` page ranges (no key needed, and a range of pages is
//! read without touching the others); SQLite tables by `rowid`; MySQL/MariaDB tables by
//! their one-column integer primary key. A source's `partition_by:` names another integer
//! column and `partitions:` the count. The ranges are planned by the client, which holds
//! the source's credentials, and travel in the plan as SQL predicates: plain text, no
//! secret.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr as SqlExpr, SetExpr, Statement};
use datafusion::sql::sqlparser::dialect::{
    GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use datafusion::sql::sqlparser::parser::Parser;
use dvt_core::dialect::{Dialect, Relation};
use serde::{Deserialize, Serialize};

use crate::adapter::Adapter;
use crate::error::{Error, Result};

/// Pages (8 KiB each by default) per PostgreSQL partition when `partitions:` is unset:
/// 16 MiB of heap.
const PAGES_PER_PARTITION: i64 = 2048;
/// Rows per MySQL/SQLite partition when `partitions:` is unset.
const ROWS_PER_PARTITION: i64 = 250_000;
/// The most partitions planned without `partitions:`: each holds a source connection.
const MAX_AUTO_PARTITIONS: i64 = 64;

/// How a source asks to be split (`partition_by:` / `partitions:` in its config).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionHint {
    /// An integer column to split by instead of the default (`ctid`, `rowid`, the key).
    pub by: Option<String>,
    /// How many partitions; `1` turns splitting off.
    pub count: Option<usize>,
}

/// The ranges of a full scan of `relation`: SQL predicates in the source's dialect that
/// together select every row exactly once. Empty when the scan is not split (small or
/// unsplittable relations, views, tables without a usable key).
pub(crate) async fn plan(
    adapter: &dyn Adapter,
    relation: &Relation,
    hint: &PartitionHint,
) -> Result<Vec<String>> {
    if hint.count == Some(1) {
        return Ok(Vec::new());
    }
    let dialect = adapter.dialect();
    let ranges = match (&hint.by, dialect) {
        (None, Dialect::Postgres) => postgres_pages(adapter, relation, hint).await?,
        (None, Dialect::Sqlite) => {
            key_ranges(adapter, relation, "rowid", false, hint.count).await?
        }
        (None, Dialect::Mysql) => match mysql_integer_key(adapter, relation).await? {
            Some(key) => key_ranges(adapter, relation, &key, false, hint.count).await?,
            None => Vec::new(),
        },
        (Some(key), _) => key_ranges(adapter, relation, key, true, hint.count).await?,
        (None, Dialect::Datafusion) => Vec::new(),
    };
    if ranges.len() > 1 {
        tracing::debug!(target = %adapter.target().name, %relation, partitions = ranges.len(), "split scan");
    }
    Ok(ranges)
}

/// A string literal in the source's dialect.
fn literal(dialect: Dialect, text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if dialect == Dialect::Mysql => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The name the catalogue stores: PostgreSQL folds an unquoted name to lower case.
fn catalogue_name(dialect: Dialect, name: &str, quoted: bool) -> String {
    if dialect == Dialect::Postgres && !quoted {
        name.to_lowercase()
    } else {
        name.to_owned()
    }
}

/// The first row of a query as 64-bit integers or text, `None` for SQL nulls.
async fn first_row(adapter: &dyn Adapter, sql: &str) -> Result<Option<Vec<Option<String>>>> {
    use futures::TryStreamExt;
    let batches: Vec<_> = adapter
        .query(sql)
        .await?
        .try_collect()
        .await
        .map_err(Error::execution)?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let mut row = Vec::with_capacity(batch.num_columns());
    for column in batch.columns() {
        let text = cast(column, &DataType::Utf8).map_err(|e| Error::internal(e.to_string()))?;
        let text = text.as_string::<i32>();
        row.push((!text.is_null(0)).then(|| text.value(0).to_owned()));
    }
    Ok(Some(row))
}

async fn postgres_pages(
    adapter: &dyn Adapter,
    relation: &Relation,
    hint: &PartitionHint,
) -> Result<Vec<String>> {
    let d = Dialect::Postgres;
    let sql = format!(
        "SELECT c.relkind::text, (pg_relation_size(c.oid) / current_setting('block_size')::bigint)::bigint \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = {} AND c.relname = {}",
        literal(
            d,
            &catalogue_name(d, &relation.schema, relation.quoting.schema)
        ),
        literal(
            d,
            &catalogue_name(d, &relation.identifier, relation.quoting.identifier)
        ),
    );
    let Some(row) = first_row(adapter, &sql).await? else {
        return Ok(Vec::new());
    };
    // Only plain and materialized tables have a heap to cut by page.
    if !matches!(row[0].as_deref(), Some("r" | "m")) {
        return Ok(Vec::new());
    }
    let pages: i64 = row[1].as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
    let n = hint
        .count
        .map(|c| c as i64)
        .unwrap_or_else(|| (pages + PAGES_PER_PARTITION - 1) / PAGES_PER_PARTITION)
        .clamp(1, i64::from(u16::MAX));
    let n = if hint.count.is_none() {
        n.min(MAX_AUTO_PARTITIONS)
    } else {
        n
    };
    let bounds = split(0, pages.max(1) - 1, n);
    Ok(predicates(&bounds, |op, page| {
        format!("ctid {op} '({page},0)'::tid")
    }))
}

/// The single integer column of a MySQL table's primary key, if that is its key.
async fn mysql_integer_key(adapter: &dyn Adapter, relation: &Relation) -> Result<Option<String>> {
    let d = Dialect::Mysql;
    let sql = format!(
        "SELECT MIN(c.COLUMN_NAME), MAX(c.COLUMN_NAME), COUNT(*), MIN(c.DATA_TYPE) \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.COLUMNS c \
           ON c.TABLE_SCHEMA = k.TABLE_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME \
         WHERE k.CONSTRAINT_NAME = 'PRIMARY' AND k.TABLE_SCHEMA = {} AND k.TABLE_NAME = {}",
        literal(d, &relation.schema),
        literal(d, &relation.identifier),
    );
    let Some(row) = first_row(adapter, &sql).await? else {
        return Ok(None);
    };
    let integer = matches!(
        row[3].as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint")
    );
    Ok((row[2].as_deref() == Some("1") && integer)
        .then(|| row[0].clone())
        .flatten())
}

/// Ranges of an integer column's values, from its minimum and maximum. Rows whose
/// column is null go with the first range when the column may hold nulls.
async fn key_ranges(
    adapter: &dyn Adapter,
    relation: &Relation,
    key: &str,
    nullable: bool,
    count: Option<usize>,
) -> Result<Vec<String>> {
    let d = adapter.dialect();
    let column = d.quote(key);
    let column = if key == "rowid" && d == Dialect::Sqlite {
        "rowid".to_owned()
    } else {
        column
    };
    let sql = format!(
        "SELECT MIN({column}), MAX({column}) FROM {}",
        d.render(relation)
    );
    let row = match first_row(adapter, &sql).await {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(Vec::new()),
        // A SQLite view or `WITHOUT ROWID` table has no `rowid`: one partition.
        Err(_) if key == "rowid" => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let (Some(lo), Some(hi)) = (
        row[0].as_deref().and_then(|v| v.parse::<i64>().ok()),
        row[1].as_deref().and_then(|v| v.parse::<i64>().ok()),
    ) else {
        if row[0].is_some() {
            tracing::warn!(target = %adapter.target().name, %relation, key, "the partition key is not an integer column; extracting in one partition");
        }
        return Ok(Vec::new());
    };
    let span = i128::from(hi) - i128::from(lo) + 1;
    let n = match count {
        Some(c) => c as i64,
        None => {
            let auto = span / i128::from(ROWS_PER_PARTITION)
                + i128::from(span % i128::from(ROWS_PER_PARTITION) != 0);
            auto.clamp(1, i128::from(MAX_AUTO_PARTITIONS)) as i64
        }
    };
    let bounds = split(lo, hi, n);
    let mut ranges = predicates(&bounds, |op, value| format!("{column} {op} {value}"));
    if nullable && let Some(first) = ranges.first_mut() {
        *first = format!("({first} OR {column} IS NULL)");
    }
    Ok(ranges)
}

/// The `n - 1` inner bounds cutting `lo..=hi` into `n` ranges of near-equal width, without
/// duplicates (fewer ranges when the span is narrower than `n`).
fn split(lo: i64, hi: i64, n: i64) -> Vec<i64> {
    if n <= 1 || hi <= lo {
        return Vec::new();
    }
    let span = i128::from(hi) - i128::from(lo) + 1;
    let mut bounds: Vec<i64> = (1..i128::from(n))
        .map(|i| (i128::from(lo) + span * i / i128::from(n)) as i64)
        .filter(|b| *b > lo && *b <= hi)
        .collect();
    bounds.dedup();
    bounds
}

/// One predicate per range between consecutive bounds; the first range is open below and
/// the last open above, so rows outside the planned span (inserted since) still arrive.
fn predicates(bounds: &[i64], cmp: impl Fn(&str, i64) -> String) -> Vec<String> {
    if bounds.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(bounds.len() + 1);
    out.push(cmp("<", bounds[0]));
    for pair in bounds.windows(2) {
        out.push(format!("{} AND {}", cmp(">=", pair[0]), cmp("<", pair[1])));
    }
    out.push(cmp(">=", bounds[bounds.len() - 1]));
    out
}

/// `statement` (a `SELECT` the unparser wrote) restricted to rows matching `predicate`.
pub(crate) fn restrict(
    statement: &mut Statement,
    dialect: Dialect,
    predicate: &str,
) -> DfResult<()> {
    let parsed = match dialect {
        Dialect::Postgres => Parser::new(&PostgreSqlDialect {}),
        Dialect::Mysql => Parser::new(&MySqlDialect {}),
        Dialect::Sqlite => Parser::new(&SQLiteDialect {}),
        Dialect::Datafusion => Parser::new(&GenericDialect {}),
    }
    .try_with_sql(predicate)
    .and_then(|mut p| p.parse_expr())
    .map_err(|e| Error::internal(format!("partition predicate `{predicate}`: {e}")))?;
    let Statement::Query(query) = statement else {
        return Err(Error::internal("a partitioned scan is not a query").into());
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(Error::internal("a partitioned scan is not a plain SELECT").into());
    };
    let nested = SqlExpr::Nested(Box::new(parsed));
    select.selection = Some(match select.selection.take() {
        Some(existing) => SqlExpr::BinaryOp {
            left: Box::new(SqlExpr::Nested(Box::new(existing))),
            op: BinaryOperator::And,
            right: Box::new(nested),
        },
        None => nested,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cut_a_span_into_near_equal_ranges() {
        assert_eq!(split(1, 100, 4), vec![26, 51, 76]);
        assert_eq!(split(0, 9, 3), vec![3, 6]);
        // Narrower than asked: fewer ranges, never an empty or repeated one.
        assert_eq!(split(5, 6, 8), vec![6]);
        assert!(split(5, 5, 8).is_empty());
        assert!(split(1, 100, 1).is_empty());
        // No overflow at the ends of the type.
        assert_eq!(split(i64::MIN, i64::MAX, 2), vec![0]);
    }

    #[test]
    fn predicates_cover_every_value_once() {
        let bounds = split(1, 10, 3);
        let preds = predicates(&bounds, |op, v| format!("k {op} {v}"));
        assert_eq!(
            preds,
            vec!["k < 4", "k >= 4 AND k < 7", "k >= 7"],
            "{bounds:?}"
        );
        // Evaluate the predicates on values inside and outside the planned span.
        for value in -5..20i64 {
            let hits = [value < 4, (4..7).contains(&value), value >= 7]
                .iter()
                .filter(|h| **h)
                .count();
            assert_eq!(hits, 1, "{value}");
        }
    }

    #[test]
    fn a_predicate_is_anded_to_the_pushed_filters() {
        let mut stmt = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(
                "SELECT \"t\".\"a\" FROM \"s\".\"t\" WHERE (\"t\".\"a\" > 1 OR \"t\".\"a\" < 0)",
            )
            .and_then(|mut p| p.parse_statement())
            .expect("parses");
        restrict(
            &mut stmt,
            Dialect::Postgres,
            "ctid >= '(8,0)'::tid AND ctid < '(16,0)'::tid",
        )
        .expect("restricts");
        assert_eq!(
            stmt.to_string(),
            "SELECT \"t\".\"a\" FROM \"s\".\"t\" WHERE ((\"t\".\"a\" > 1 OR \"t\".\"a\" < 0)) AND (ctid >= '(8,0)'::tid AND ctid < '(16,0)'::tid)"
        );
        let mut stmt = Parser::new(&MySqlDialect {})
            .try_with_sql("SELECT `t`.`a` FROM `s`.`t`")
            .and_then(|mut p| p.parse_statement())
            .expect("parses");
        restrict(&mut stmt, Dialect::Mysql, "(`id` < 10 OR `id` IS NULL)").expect("restricts");
        assert_eq!(
            stmt.to_string(),
            "SELECT `t`.`a` FROM `s`.`t` WHERE ((`id` < 10 OR `id` IS NULL))"
        );
    }

    #[test]
    fn literals_escape_quotes() {
        assert_eq!(literal(Dialect::Postgres, "o'neil"), "'o''neil'");
        assert_eq!(literal(Dialect::Mysql, "a\\b"), "'a\\\\b'");
    }
}
