//! Seeds as Arrow streams, so `dvt seed` goes through the same bulk loaders as federated
//! models.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder, RecordBatch,
    RecordBatchOptions, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use dvt_core::seed::{SeedData, SeedType};

use crate::error::{Error, Result};

const BATCH_ROWS: usize = 8192;

/// The Arrow type a seed column loads as.
pub fn seed_arrow_type(ty: &SeedType) -> DataType {
    match ty {
        SeedType::Integer => DataType::Int64,
        SeedType::Decimal { scale } => DataType::Decimal128(38, *scale as i8),
        SeedType::Boolean => DataType::Boolean,
        SeedType::Date => DataType::Date32,
        SeedType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        SeedType::Text | SeedType::Custom(_) => DataType::Utf8,
    }
}

/// The Arrow schema of a seed.
pub fn seed_schema(data: &SeedData) -> SchemaRef {
    Arc::new(Schema::new(
        data.columns
            .iter()
            .map(|c| Field::new(&c.name, seed_arrow_type(&c.ty), true))
            .collect::<Vec<_>>(),
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

/// A seed's rows as a stream of Arrow batches, typed by [`seed_arrow_type`].
pub fn seed_stream(data: &SeedData) -> Result<SendableRecordBatchStream> {
    let schema = seed_schema(data);
    let mut batches = Vec::new();
    for (n, chunk) in data.rows.chunks(BATCH_ROWS).enumerate() {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(data.columns.len());
        for (i, column) in data.columns.iter().enumerate() {
            let values = chunk
                .iter()
                .enumerate()
                .map(|(r, row)| (n * BATCH_ROWS + r, row.get(i).and_then(|v| v.as_deref())));
            columns.push(build_column(&column.name, &column.ty, values)?);
        }
        batches.push(
            RecordBatch::try_new_with_options(
                Arc::clone(&schema),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(chunk.len())),
            )
            .map_err(|e| Error::internal(format!("building a seed batch: {e}")))?,
        );
    }
    let stream = MemoryStream::try_new(batches, schema, None)
        .map_err(|e| Error::internal(format!("building the seed stream: {e}")))?;
    Ok(Box::pin(stream))
}

fn build_column<'a>(
    name: &str,
    ty: &SeedType,
    values: impl Iterator<Item = (usize, Option<&'a str>)>,
) -> Result<ArrayRef> {
    // Core validated every value; a failure here means the two disagree.
    let bad = |row: usize, v: &str| {
        Error::internal(format!(
            "seed value `{v}` in column `{name}`, row {} does not parse as {ty:?}",
            row + 1
        ))
    };
    Ok(match ty {
        SeedType::Integer => {
            let mut b = Int64Builder::new();
            for (row, v) in values {
                match v {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.trim().parse().map_err(|_| bad(row, v))?),
                }
            }
            Arc::new(b.finish())
        }
        SeedType::Decimal { scale } => {
            let mut b = Decimal128Builder::new();
            for (row, v) in values {
                match v {
                    None => b.append_null(),
                    Some(v) => b.append_value(parse_decimal(v, *scale).ok_or_else(|| bad(row, v))?),
                }
            }
            Arc::new(
                b.finish()
                    .with_precision_and_scale(38, *scale as i8)
                    .map_err(|e| Error::internal(e.to_string()))?,
            )
        }
        SeedType::Boolean => {
            let mut b = BooleanBuilder::new();
            for (row, v) in values {
                match v.map(|v| (v, v.trim().to_ascii_lowercase())) {
                    None => b.append_null(),
                    Some((_, l)) if l == "true" => b.append_value(true),
                    Some((_, l)) if l == "false" => b.append_value(false),
                    Some((v, _)) => return Err(bad(row, v)),
                }
            }
            Arc::new(b.finish())
        }
        SeedType::Date => {
            let mut b = Date32Builder::new();
            for (row, v) in values {
                match v {
                    None => b.append_null(),
                    Some(v) => b.append_value(parse_date(v).ok_or_else(|| bad(row, v))?),
                }
            }
            Arc::new(b.finish())
        }
        SeedType::Timestamp => {
            let mut b = TimestampMicrosecondBuilder::new();
            for (row, v) in values {
                match v {
                    None => b.append_null(),
                    Some(v) => b.append_value(parse_timestamp(v).ok_or_else(|| bad(row, v))?),
                }
            }
            Arc::new(b.finish())
        }
        SeedType::Text | SeedType::Custom(_) => {
            let mut b = StringBuilder::new();
            for (_, v) in values {
                b.append_option(v);
            }
            Arc::new(b.finish())
        }
    })
}

/// Parses `-12.3` as the unscaled integer of a decimal with `scale` digits (`-1230` for
/// scale 2). Fails when the text has more fraction digits than `scale`.
pub(crate) fn parse_decimal(text: &str, scale: u8) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || frac.len() > usize::from(scale)
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in frac.len()..usize::from(scale) {
        value = value.checked_mul(10)?;
    }
    Some(if negative { -value } else { value })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((date - epoch).num_days()).ok()
}

/// Microseconds since the epoch of `YYYY-MM-DD[ T]HH:MM:SS[.ffffff]` (or a bare date).
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(text, format) {
            return Some(ts.and_utc().timestamp_micros());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use dvt_core::seed::SeedColumn;
    use futures::StreamExt;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(parse_decimal("12.3", 2), Some(1230));
        assert_eq!(parse_decimal("-0.05", 2), Some(-5));
        assert_eq!(parse_decimal("7", 0), Some(7));
        assert_eq!(parse_decimal(".5", 1), Some(5));
        assert_eq!(parse_decimal("1.234", 2), None);
        assert_eq!(parse_decimal("1e3", 2), None);
        assert_eq!(parse_decimal("-", 2), None);
    }

    #[test]
    fn parses_dates_and_timestamps() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.5"), Some(1_500_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:02"), Some(2_000_000));
    }

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
                    ty: SeedType::Decimal { scale: 2 },
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
                    Some("1.5".into()),
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
            &DataType::Decimal128(38, 2)
        );
        let amounts = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::Decimal128Array>()
            .expect("decimal");
        assert_eq!(amounts.value(0), 150);
        assert!(amounts.is_null(1));
    }
}
