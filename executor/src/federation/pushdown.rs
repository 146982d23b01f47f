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
    if let Some(n) = limit {
        builder = builder.limit(0, Some(n))?;
    }
    let plan = builder.build()?;
    let statement = Unparser::new(unparser_dialect(dialect)).plan_to_sql(&plan)?;
    Ok(statement.to_string())
}

/// Whether `filter` can go to a source of `dialect`, and how exactly.
///
/// Only comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `IN` lists and `BETWEEN` over
/// columns and literals are pushed. String ordering (`<`, `BETWEEN`) is never pushed,
/// since collations order strings differently from DataFusion's byte order. MySQL compares
/// strings case-insensitively by default, so string equality there is `Inexact` (the
/// source returns a superset and DataFusion filters again). SQLite stores dates as text,
/// so filters on dates and timestamps stay in DataFusion.
pub(crate) fn pushdown_kind(
    dialect: Dialect,
    schema: &SchemaRef,
    filter: &Expr,
) -> TableProviderFilterPushDown {
    let mut check = Check {
        dialect,
        schema,
        touches_strings: false,
    };
    if !check.supported(filter) {
        return TableProviderFilterPushDown::Unsupported;
    }
    let table = TableReference::bare("t");
    let unparses = requalify(filter, &table)
        .and_then(|f| Unparser::new(unparser_dialect(dialect)).expr_to_sql(&f))
        .is_ok();
    if !unparses {
        TableProviderFilterPushDown::Unsupported
    } else if check.touches_strings && dialect == Dialect::Mysql {
        TableProviderFilterPushDown::Inexact
    } else {
        TableProviderFilterPushDown::Exact
    }
}

struct Check<'a> {
    dialect: Dialect,
    schema: &'a SchemaRef,
    touches_strings: bool,
}

fn is_string(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

impl Check<'_> {
    /// The type of a column or literal operand, or `None` when the operand is anything
    /// else (which makes the filter unsupported).
    fn operand_type(&mut self, expr: &Expr) -> Option<DataType> {
        let ty = match expr {
            Expr::Column(c) => self
                .schema
                .field_with_name(&c.name)
                .ok()
                .map(|f| f.data_type().clone())?,
            Expr::Literal(v, _) => {
                if !supported_literal(v) {
                    return None;
                }
                v.data_type()
            }
            Expr::Cast(Cast { expr, field }) => {
                let data_type = field.data_type();
                let inner = self.operand_type(expr)?;
                let numeric = |t: &DataType| t.is_numeric();
                if !(numeric(&inner) && numeric(data_type)) && inner != *data_type {
                    return None;
                }
                data_type.clone()
            }
            _ => return None,
        };
        let temporal = matches!(
            ty,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
        );
        if matches!(ty, DataType::Timestamp(_, Some(_)))
            || (temporal && self.dialect == Dialect::Sqlite)
            || !(ty.is_numeric()
                || is_string(&ty)
                || temporal
                || ty == DataType::Boolean
                || ty == DataType::Null)
        {
            return None;
        }
        if is_string(&ty) {
            self.touches_strings = true;
        }
        Some(ty)
    }

    fn supported(&mut self, expr: &Expr) -> bool {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And | Operator::Or => self.supported(left) && self.supported(right),
                Operator::Eq | Operator::NotEq => {
                    self.operand_type(left).is_some() && self.operand_type(right).is_some()
                }
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                    match (self.operand_type(left), self.operand_type(right)) {
                        (Some(l), Some(r)) => !is_string(&l) && !is_string(&r),
                        _ => false,
                    }
                }
                _ => false,
            },
            Expr::Not(inner) => self.supported(inner),
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => self.operand_type(inner).is_some(),
            Expr::InList(list) => {
                self.operand_type(&list.expr).is_some()
                    && list
                        .list
                        .iter()
                        .all(|e| matches!(e, Expr::Literal(..)) && self.operand_type(e).is_some())
            }
            Expr::Between(Between {
                expr, low, high, ..
            }) => [expr, low, high]
                .iter()
                .all(|e| self.operand_type(e).is_some_and(|t| !is_string(&t))),
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
