//! Seeds as Arrow streams, so `dvt seed` goes through the same bulk loaders as federated
//! models.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use dvt_core::seed::{SeedData, SeedType};

use crate::adapter::types::{BatchBuilder, BatchLimits, Cell, NUMERIC, decimal_type, field};
use crate::error::{Error, Result};

const LIMITS: BatchLimits = BatchLimits {
    rows: 8192,
    bytes: 64 << 20,
};

/// The Arrow type a seed column loads as: decimals are exact `Decimal128` (up to 38
/// digits) or `Decimal256` (up to 76).
pub fn seed_arrow_type(ty: &SeedType) -> DataType {
    match ty {
        SeedType::Integer => DataType::Int64,
        SeedType::Decimal { precision, scale } => {
            decimal_type(u32::from(*precision), u32::from(*scale)).unwrap_or(DataType::Utf8)
        }
        SeedType::Boolean => DataType::Boolean,
        SeedType::Date => DataType::Date32,
        SeedType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        SeedType::Text | SeedType::Custom(_) => DataType::Utf8,
    }
}

/// The Arrow schema of a seed. Decimal columns say `numeric`, so PostgreSQL creates them
/// as unconstrained `NUMERIC` (as dbt does); other databases get `DECIMAL(p,s)` sized to
/// the values.
pub fn seed_schema(data: &SeedData) -> SchemaRef {
    Arc::new(Schema::new(
        data.columns
            .iter()
            .map(|c| {
                let logical = matches!(c.ty, SeedType::Decimal { .. }).then_some(NUMERIC);
                field(&c.name, seed_arrow_type(&c.ty), logical)
            })
            .collect::<Vec<Field>>(),
    ))
}

/// The `column_types` a loader needs for a seed: the SQL type of every
/// [`SeedType::Custom`] column (whose values travel as text for the database to convert).
pub fn seed_column_types(data: &SeedData) -> BTreeMap<String, String> {
    data.columns
        .iter()
        .filter_map(|c| match &c.ty {
            SeedType::Custom(sql) => Some((c.name.clone(), sql.clone())),
            _ => None,
        })
        .collect()
}

/// dbt-postgres's seed types: whole numbers are `integer` (`bigint` when a value does
/// not fit, where dbt would fail), numbers with a decimal point `double precision`, so
/// seeds read back exactly as dbt's do (`30.00` is `30`). Values of these columns then
/// travel as text and PostgreSQL converts them. Other databases keep DVT's exact types.
pub fn postgres_seed_types(data: &mut SeedData) {
    use dvt_core::seed::SeedType;
    for (i, column) in data.columns.iter_mut().enumerate() {
        let ty = match column.ty {
            SeedType::Integer => {
                let fits = data.rows.iter().all(|r| {
                    r.get(i)
                        .and_then(|v| v.as_deref())
                        .is_none_or(|v| v.trim().parse::<i32>().is_ok())
                });
                if fits { "integer" } else { "bigint" }
            }
            SeedType::Decimal { .. } => "double precision",
            _ => continue,
        };
        column.ty = SeedType::Custom(ty.to_owned());
    }
}

/// A seed's rows as a stream of Arrow batches, typed by [`seed_arrow_type`]; every value
/// is parsed exactly (decimals keep all their digits).
pub fn seed_stream(data: &SeedData) -> Result<SendableRecordBatchStream> {
    let schema = seed_schema(data);
    let mut builder = BatchBuilder::new(Arc::clone(&schema), LIMITS)
        .map_err(|e| Error::internal(format!("building a seed batch: {e}")))?;
    let mut batches = Vec::new();
    for (r, row) in data.rows.iter().enumerate() {
        for (i, column) in data.columns.iter().enumerate() {
            let cell = match row.get(i).and_then(|v| v.as_deref()) {
                None => Cell::Null,
                Some(v) => Cell::Text(Cow::Borrowed(v)),
            };
            // Core validated every value; a failure here means the two disagree.
            builder.append(i, cell).map_err(|e| {
                Error::internal(format!(
                    "seed column `{}`, row {} does not load as {:?}: {e}",
                    column.name,
                    r + 1,
                    column.ty
                ))
            })?;
        }
        if builder.end_row() {
            batches.push(finish(&mut builder)?);
        }
    }
    if builder.rows() > 0 {
        batches.push(finish(&mut builder)?);
    }
    let stream = MemoryStream::try_new(batches, schema, None)
        .map_err(|e| Error::internal(format!("building the seed stream: {e}")))?;
    Ok(Box::pin(stream))
}

fn finish(builder: &mut BatchBuilder) -> Result<arrow::array::RecordBatch> {
    builder
        .finish()
        .map_err(|e| Error::internal(format!("building a seed batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use dvt_core::seed::SeedColumn;
    use futures::StreamExt;

    #[tokio::test]
    async fn builds_typed_batches() {
        let data = SeedData {
            columns: vec![
                SeedColumn {
                    name: "id".into(),
                    ty: SeedType::Integer,
                },
                SeedColumn {
                    name: "amount".into(),
                    ty: SeedType::Decimal {
                        precision: 40,
                        scale: 2,
                    },
                },
                SeedColumn {
                    name: "ok".into(),
                    ty: SeedType::Boolean,
                },
                SeedColumn {
                    name: "code".into(),
                    ty: SeedType::Custom("CHAR(3)".into()),
                },
            ],
            rows: vec![
                vec![
                    Some("1".into()),
                    Some("12345678901234567890123456789012345678.5".into()),
                    Some("true".into()),
                    Some("abc".into()),
                ],
                vec![None, None, None, None],
            ],
        };
        assert_eq!(
            seed_column_types(&data),
            BTreeMap::from([("code".to_owned(), "CHAR(3)".to_owned())])
        );
        let mut stream = seed_stream(&data).expect("stream");
        let batch = stream.next().await.expect("one batch").expect("ok");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.schema().field(1).data_type(),
            &DataType::Decimal256(40, 2)
        );
        let amounts = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::Decimal256Array>()
            .expect("decimal");
        assert_eq!(
            amounts.value_as_string(0),
            "12345678901234567890123456789012345678.50"
        );
        assert!(amounts.is_null(1));
    }
}
