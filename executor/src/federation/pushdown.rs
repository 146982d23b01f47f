//! The SQL a source receives: DataFusion's unparser over a small plan (scan of the remote
//! relation, pushed filters, projection, limit), in the source's dialect.
//!
//! A filter is pushed only when the source evaluates it exactly as DataFusion would; see
//! [`pushdown_kind`].

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, TableReference};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Between, BinaryExpr, Cast, Expr, LogicalPlanBuilder, LogicalTableSource, Operator,
    TableProviderFilterPushDown, lit,
};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::{
    DefaultDialect, Dialect as UnparserDialect, MySqlDialect, PostgreSqlDialect, SqliteDialect,
};
use dvt_core::dialect::{Dialect, Relation};

/// The column a scan with no projected columns (`count(*)`) fetches, so each remote row
/// still arrives as one staged row.
pub(crate) const ROW_MARKER: &str = "__dvt_row";

fn unparser_dialect(dialect: Dialect) -> &'static dyn UnparserDialect {
    match dialect {
        Dialect::Postgres => &PostgreSqlDialect {},
        Dialect::Mysql => &MySqlDialect {},
        Dialect::Sqlite => &SqliteDialect {},
        Dialect::Datafusion => &DefaultDialect {},
    }
}

fn remote_reference(relation: &Relation) -> TableReference {
    TableReference::partial(relation.schema.as_str(), relation.identifier.as_str())
}

/// Points every column at the remote relation instead of DataFusion's
/// `<target>.<schema>.<identifier>` name.
fn requalify(expr: &Expr, table: &TableReference) -> DfResult<Expr> {
    expr.clone()
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) => {
                    Transformed::yes(Expr::Column(Column::new(Some(table.clone()), c.name)))
                }
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
}

/// The SQL that fetches `projection` (all columns when `None`, [`ROW_MARKER`] when empty)
/// of the rows of `relation` matching all `filters`, at most `limit` of them.
pub(crate) fn remote_sql(
    dialect: Dialect,
    relation: &Relation,
    schema: &SchemaRef,
    projection: Option<&[usize]>,
    filters: &[Expr],
    limit: Option<usize>,
) -> DfResult<String> {
    Ok(remote_statement(dialect, relation, schema, projection, filters, limit)?.to_string())
}

/// [`remote_sql`] once per range of a split scan (see [`super::partition`]): each
/// statement also keeps only its range's rows. One statement when `ranges` is empty or
/// a limit is pushed (a limit applies to the whole input, not to each range).
pub(crate) fn remote_sql_per_range(
    dialect: Dialect,
    relation: &Relation,
    schema: &SchemaRef,
    projection: Option<&[usize]>,
    filters: &[Expr],
    limit: Option<usize>,
    ranges: &[String],
) -> DfResult<Vec<String>> {
    if ranges.is_empty() || limit.is_some() {
        return Ok(vec![remote_sql(
            dialect, relation, schema, projection, filters, limit,
        )?]);
    }
    let statement = remote_statement(dialect, relation, schema, projection, filters, None)?;
    ranges
        .iter()
        .map(|range| {
            let mut part = statement.clone();
            super::partition::restrict(&mut part, dialect, range)?;
            Ok(part.to_string())
        })
        .collect()
}

fn remote_statement(
    dialect: Dialect,
    relation: &Relation,
    schema: &SchemaRef,
    projection: Option<&[usize]>,
    filters: &[Expr],
    limit: Option<usize>,
) -> DfResult<Statement> {
    let table = remote_reference(relation);
    let source = Arc::new(LogicalTableSource::new(Arc::clone(schema)));
    let mut builder = LogicalPlanBuilder::scan(table.clone(), source, None)?;
    let filters = filters
        .iter()
        .map(|f| requalify(f, &table))
        .collect::<DfResult<Vec<_>>>()?;
    if let Some(predicate) = conjunction(filters) {
        builder = builder.filter(predicate)?;
    }
    builder = project(builder, &table, schema, projection)?;
    if let Some(n) = limit {
        builder = builder.limit(0, Some(n))?;
    }
    let plan = builder.build()?;
    Unparser::new(unparser_dialect(dialect)).plan_to_sql(&plan)
}

/// Adds the scan's projection: the wanted columns, or the row marker when none is.
fn project(
    mut builder: LogicalPlanBuilder,
    table: &TableReference,
    schema: &SchemaRef,
    projection: Option<&[usize]>,
) -> DfResult<LogicalPlanBuilder> {
    match projection {
        None => {}
        Some([]) => builder = builder.project(vec![lit(1i64).alias(ROW_MARKER)])?,
        Some(indices) => {
            let columns = indices
                .iter()
                .map(|&i| {
                    Expr::Column(Column::new(
                        Some(table.clone()),
                        schema.field(i).name().clone(),
                    ))
                })
                .collect::<Vec<_>>();
            builder = builder.project(columns)?;
        }
    }
    Ok(builder)
}

/// Field metadata naming a column's logical type on its source (`citext`, `bpchar`, ...),
/// set by the adapters where the Arrow type alone hides how the source compares values.
use crate::adapter::types::TYPE_KEY as SOURCE_TYPE_KEY;

/// Whether `filter` can go to a source of `dialect`, and how exactly.
///
/// A filter is pushed only when the rows the source returns are exactly the rows
/// DataFusion would keep (`Exact`), or a superset that DataFusion filters again
/// (`Inexact`). So only comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `IN` lists and
/// `BETWEEN` over columns, literals and lossless widening casts are considered, and:
/// - string ordering (`<`, `BETWEEN`) never goes: collations order strings differently
///   from DataFusion's byte order;
/// - strings that the source compares ignoring case or trailing spaces (every MySQL
///   string with its default collations, PostgreSQL `citext` and `char(n)`) may only be
///   tested for equality in a positive position: `name = 'a'` returns a superset
///   (`Inexact`), but `name <> 'a'` or `NOT (name = 'a')` would return a subset;
/// - MySQL booleans are integers (`2` is true to DataFusion but not `= TRUE` to MySQL),
///   so they are never compared there;
/// - a cast that rounds or truncates (float to integer, decimal to a smaller scale)
///   never goes: the databases round where DataFusion truncates;
/// - dates and timestamps stay in DataFusion on SQLite, which stores them as text, and
///   zoned timestamps everywhere.
pub(crate) fn pushdown_kind(
    dialect: Dialect,
    schema: &SchemaRef,
    filter: &Expr,
) -> TableProviderFilterPushDown {
    let mut check = Check {
        dialect,
        schema,
        loose_strings: false,
    };
    if !check.supported(filter, true) {
        return TableProviderFilterPushDown::Unsupported;
    }
    let table = TableReference::bare("t");
    let unparses = requalify(filter, &table)
        .and_then(|f| Unparser::new(unparser_dialect(dialect)).expr_to_sql(&f))
        .is_ok();
    if !unparses {
        TableProviderFilterPushDown::Unsupported
    } else if check.loose_strings {
        TableProviderFilterPushDown::Inexact
    } else {
        TableProviderFilterPushDown::Exact
    }
}

struct Check<'a> {
    dialect: Dialect,
    schema: &'a SchemaRef,
    /// Some operand is a string the source compares loosely (case, trailing spaces).
    loose_strings: bool,
}

fn is_string(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Whether a cast keeps every value exactly (so source and engine agree on it).
fn lossless_cast(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    let int_bits = |t: &T| match t {
        T::Int8 => Some((8, true)),
        T::Int16 => Some((16, true)),
        T::Int32 => Some((32, true)),
        T::Int64 => Some((64, true)),
        T::UInt8 => Some((8, false)),
        T::UInt16 => Some((16, false)),
        T::UInt32 => Some((32, false)),
        T::UInt64 => Some((64, false)),
        _ => None,
    };
    let decimal = |t: &T| match t {
        T::Decimal128(p, s) | T::Decimal256(p, s) => Some((i32::from(*p), i32::from(*s))),
        _ => None,
    };
    if from == to {
        return true;
    }
    match (int_bits(from), int_bits(to), decimal(to)) {
        // Wider integer, and signed only from signed or from a narrower unsigned.
        (Some((fb, fs)), Some((tb, ts)), _) => tb > fb && (ts || !fs) || (tb == fb && fs == ts),
        (Some((fb, _)), None, Some((p, s))) => {
            let digits = match fb {
                8 => 3,
                16 => 5,
                32 => 10,
                _ => 20,
            };
            p - s >= digits
        }
        (Some((fb, _)), None, None) => matches!(to, T::Float64) && fb <= 32,
        _ => match (decimal(from), decimal(to)) {
            (Some((fp, fs)), Some((tp, ts))) => ts >= fs && tp - ts >= fp - fs,
            _ => matches!((from, to), (T::Float32, T::Float64)),
        },
    }
}

impl Check<'_> {
    /// The type of a column, literal or lossless cast of one, or `None` when the operand
    /// is anything else (which makes the filter unsupported).
    fn operand_type(&mut self, expr: &Expr) -> Option<DataType> {
        let ty = match expr {
            Expr::Column(c) => {
                let field = self.schema.field_with_name(&c.name).ok()?;
                let ty = field.data_type().clone();
                if is_string(&ty) && self.loose_collation(field) {
                    self.loose_strings = true;
                }
                ty
            }
            Expr::Literal(v, _) => {
                if !supported_literal(v) {
                    return None;
                }
                v.data_type()
            }
            Expr::Cast(Cast { expr, field }) => {
                let inner = self.operand_type(expr)?;
                if !lossless_cast(&inner, field.data_type()) {
                    return None;
                }
                field.data_type().clone()
            }
            _ => return None,
        };
        let temporal = matches!(
            ty,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
        );
        if matches!(ty, DataType::Timestamp(_, Some(_)))
            || (temporal && self.dialect == Dialect::Sqlite)
            || (ty == DataType::Boolean && self.dialect == Dialect::Mysql)
            || !(ty.is_numeric()
                || is_string(&ty)
                || temporal
                || ty == DataType::Boolean
                || ty == DataType::Null)
        {
            return None;
        }
        Some(ty)
    }

    fn loose_collation(&self, field: &arrow::datatypes::Field) -> bool {
        match self.dialect {
            Dialect::Mysql => true,
            Dialect::Postgres => field
                .metadata()
                .get(SOURCE_TYPE_KEY)
                .is_some_and(|t| matches!(t.as_str(), "citext" | "bpchar")),
            Dialect::Sqlite | Dialect::Datafusion => false,
        }
    }

    /// Whether a string comparison may go where it sits: only equality in a positive
    /// position when the strings compare loosely.
    fn comparable(&mut self, left: &Expr, right: &Expr, positive: bool, equality: bool) -> bool {
        let before = self.loose_strings;
        self.loose_strings = false;
        let types = (self.operand_type(left), self.operand_type(right));
        let loose = self.loose_strings;
        self.loose_strings |= before;
        match types {
            (Some(l), Some(r)) => {
                let strings = is_string(&l) || is_string(&r);
                if strings && !equality {
                    return false;
                }
                !(strings && loose && !positive)
            }
            _ => false,
        }
    }

    /// `positive`: whether the expression sits under an even number of negations.
    fn supported(&mut self, expr: &Expr, positive: bool) -> bool {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And | Operator::Or => {
                    self.supported(left, positive) && self.supported(right, positive)
                }
                Operator::Eq => self.comparable(left, right, positive, true),
                Operator::NotEq => self.comparable(left, right, !positive, true),
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                    self.comparable(left, right, positive, false)
                }
                _ => false,
            },
            Expr::Not(inner) => self.supported(inner, !positive),
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => self.operand_type(inner).is_some(),
            Expr::InList(list) => {
                let positive = positive != list.negated;
                list.list.iter().all(|e| {
                    matches!(e, Expr::Literal(..)) && self.comparable(&list.expr, e, positive, true)
                })
            }
            Expr::Between(Between {
                expr, low, high, ..
            }) => [low, high]
                .iter()
                .all(|bound| self.comparable(expr, bound, positive, false)),
            _ => false,
        }
    }
}

fn supported_literal(v: &ScalarValue) -> bool {
    !matches!(
        v,
        ScalarValue::Float32(Some(f)) if !f.is_finite()
    ) && !matches!(v, ScalarValue::Float64(Some(f)) if !f.is_finite())
        && (v.data_type().is_numeric()
            || is_string(&v.data_type())
            || matches!(
                v.data_type(),
                DataType::Boolean
                    | DataType::Null
                    | DataType::Date32
                    | DataType::Timestamp(_, None)
            ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::col;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
        ]))
    }

    #[test]
    fn pushes_projection_filter_and_limit() {
        let rel = Relation::new("shop", "orders");
        let filter = col("amount").gt(lit(ScalarValue::Decimal128(Some(1000), 10, 2)));
        let sql = remote_sql(
            Dialect::Postgres,
            &rel,
            &schema(),
            Some(&[0, 2]),
            &[filter],
            Some(5),
        )
        .expect("unparses");
        assert!(
            sql.starts_with(
                "SELECT \"orders\".\"id\", \"orders\".\"amount\" FROM \"shop\".\"orders\" WHERE"
            ),
            "{sql}"
        );
        assert!(sql.contains("LIMIT 5"), "{sql}");
        let mysql =
            remote_sql(Dialect::Mysql, &rel, &schema(), Some(&[]), &[], None).expect("unparses");
        assert_eq!(mysql, "SELECT 1 AS `__dvt_row` FROM `shop`.`orders`");
    }

    #[test]
    fn loose_strings_go_only_as_positive_equality_and_casts_only_widen() {
        let s = schema();
        let name_eq = col("name").eq(lit("m"));
        let kind = |d, e: &Expr| pushdown_kind(d, &s, e);
        use TableProviderFilterPushDown::{Exact, Inexact, Unsupported};
        assert_eq!(kind(Dialect::Mysql, &name_eq), Inexact);
        assert_eq!(
            kind(Dialect::Mysql, &col("name").not_eq(lit("m"))),
            Unsupported
        );
        assert_eq!(
            kind(Dialect::Mysql, &Expr::Not(Box::new(name_eq.clone()))),
            Unsupported
        );
        assert_eq!(
            kind(Dialect::Mysql, &col("name").in_list(vec![lit("a")], true)),
            Unsupported
        );
        assert_eq!(
            kind(Dialect::Mysql, &col("name").in_list(vec![lit("a")], false)),
            Inexact
        );
        // Double negation is positive again.
        assert_eq!(
            kind(
                Dialect::Mysql,
                &Expr::Not(Box::new(col("name").not_eq(lit("m"))))
            ),
            Inexact
        );
        assert_eq!(
            kind(Dialect::Postgres, &col("name").not_eq(lit("m"))),
            Exact
        );
        // citext on PostgreSQL compares like MySQL.
        let citext = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true).with_metadata(
                std::collections::HashMap::from([(
                    SOURCE_TYPE_KEY.to_owned(),
                    "citext".to_owned(),
                )]),
            ),
        ]));
        assert_eq!(
            pushdown_kind(Dialect::Postgres, &citext, &col("name").eq(lit("m"))),
            Inexact
        );
        assert_eq!(
            pushdown_kind(Dialect::Postgres, &citext, &col("name").not_eq(lit("m"))),
            Unsupported
        );
        // A cast that truncates is not pushed; one that widens is.
        let truncating = Expr::Cast(Cast::new(Box::new(col("amount")), DataType::Int64));
        assert_eq!(
            kind(Dialect::Postgres, &truncating.eq(lit(3i64))),
            Unsupported
        );
        let widening = Expr::Cast(Cast::new(Box::new(col("id")), DataType::Decimal128(38, 2)));
        assert_eq!(
            kind(
                Dialect::Postgres,
                &widening.gt(lit(ScalarValue::Decimal128(Some(150), 38, 2)))
            ),
            Exact
        );
    }

    #[test]
    fn string_ordering_is_not_pushed() {
        let s = schema();
        let lt = col("name").lt(lit("m"));
        assert_eq!(
            pushdown_kind(Dialect::Postgres, &s, &lt),
            TableProviderFilterPushDown::Unsupported
        );
        let eq = col("name").eq(lit("m"));
        assert_eq!(
            pushdown_kind(Dialect::Postgres, &s, &eq),
            TableProviderFilterPushDown::Exact
        );
        assert_eq!(
            pushdown_kind(Dialect::Mysql, &s, &eq),
            TableProviderFilterPushDown::Inexact
        );
        let num = col("id").gt(lit(3i64));
        assert_eq!(
            pushdown_kind(Dialect::Mysql, &s, &num),
            TableProviderFilterPushDown::Exact
        );
    }
}
