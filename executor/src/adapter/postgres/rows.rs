//! PostgreSQL rows to Arrow for the common column types.
//!
//! The table-providers' converter drops timestamps before 1970 (then fails on the row
//! count) and guesses numeric scales, so DVT converts the types it knows itself and leaves
//! the rest to that converter.

use std::error::Error as StdError;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Rows fetched and converted per batch.
pub(super) const CHUNK_ROWS: usize = 8192;

/// The Arrow type DVT reads a column as, or `None` when DVT leaves the type to the
/// table-providers' converter. Unconstrained `numeric` gets its scale from the data.
pub(super) fn arrow_type(ty: &Type, type_modifier: i32) -> Option<Option<DataType>> {
    Some(Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Type::NUMERIC => {
            // typmod is ((precision << 16) | scale) + 4, or -1 when unconstrained.
            let m = type_modifier - 4;
            let (p, s) = ((m >> 16) & 0xffff, m & 0xffff);
            if m >= 0 && (1..=38).contains(&p) && s <= p {
                DataType::Decimal128(p as u8, s as i8)
            } else {
                return Some(None);
            }
        }
        _ => return None,
    }))
}

/// Picks the scale of an unconstrained `numeric` column from the first rows: the largest
/// scale seen, so those rows are exact; later rows with more digits are rounded.
pub(super) fn unconstrained_numeric_type(rows: &[Row], col: usize) -> DataType {
    let scale = rows
        .iter()
        .filter_map(|r| r.try_get::<_, Option<PgNumeric>>(col).ok().flatten())
        .map(|n| n.dscale)
        .max()
        .unwrap_or(0)
        .min(18);
    DataType::Decimal128(38, scale as i8)
}

/// A `numeric` in PostgreSQL's binary form: base-10000 digits with a weight.
#[derive(Debug)]
pub(super) struct PgNumeric {
    negative: bool,
    special: bool,
    weight: i16,
    dscale: u16,
    digits: Vec<i16>,
}

impl<'a> FromSql<'a> for PgNumeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let word = |i: usize| -> Result<[u8; 2], BoxError> {
            raw.get(i..i + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .ok_or_else(|| "truncated numeric".into())
        };
        let ndigits = i16::from_be_bytes(word(0)?);
        let weight = i16::from_be_bytes(word(2)?);
        let sign = u16::from_be_bytes(word(4)?);
        let dscale = u16::from_be_bytes(word(6)?);
        let mut digits = Vec::with_capacity(ndigits.max(0) as usize);
        for i in 0..ndigits.max(0) as usize {
            digits.push(i16::from_be_bytes(word(8 + 2 * i)?));
        }
        Ok(PgNumeric {
            negative: sign == 0x4000,
            special: sign != 0 && sign != 0x4000,
            weight,
            dscale,
            digits,
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

impl PgNumeric {
    /// The value as an unscaled integer at `scale`, rounding half away from zero.
    fn to_i128(&self, scale: i8) -> Result<i128, BoxError> {
        if self.special {
            return Err("NaN or infinite numeric has no decimal value".into());
        }
        let overflow = || -> BoxError { "numeric value out of range for decimal(38)".into() };
        // Digits below `scale` are kept as a fraction of 10^FRAC_DIGITS for rounding.
        const FRAC_DIGITS: i32 = 12;
        let mut acc: i128 = 0;
        let mut rest: i128 = 0;
        for (i, d) in self.digits.iter().enumerate() {
            let d = i128::from(*d);
            // This base-10000 digit counts units of 10^exp, relative to `scale`.
            let exp = 4 * (i32::from(self.weight) - i as i32) + i32::from(scale);
            if exp >= 0 {
                let factor = 10i128.checked_pow(exp as u32).ok_or_else(overflow)?;
                acc = d
                    .checked_mul(factor)
                    .and_then(|v| acc.checked_add(v))
                    .ok_or_else(overflow)?;
                continue;
            }
            let k = -exp;
            if k > FRAC_DIGITS + 4 {
                break; // too small to affect rounding
            }
            let (whole, frac) = if k < 4 {
                let down = 10i128.pow(k as u32);
                (d / down, d % down)
            } else {
                (0, d)
            };
            acc = acc.checked_add(whole).ok_or_else(overflow)?;
            rest += if k <= FRAC_DIGITS {
                frac * 10i128.pow((FRAC_DIGITS - k) as u32)
            } else {
                frac / 10i128.pow((k - FRAC_DIGITS) as u32)
            };
        }
        if rest * 2 >= 10i128.pow(FRAC_DIGITS as u32) {
            acc = acc.checked_add(1).ok_or_else(overflow)?;
        }
        Ok(if self.negative { -acc } else { acc })
    }
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, col: usize) -> Result<Option<T>, BoxError> {
    row.try_get::<_, Option<T>>(col).map_err(Into::into)
}

/// Converts rows to a batch of `schema`, whose types come from [`arrow_type`].
pub(super) fn to_batch(rows: &[Row], schema: &SchemaRef) -> Result<RecordBatch, BoxError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (col, field) in schema.fields().iter().enumerate() {
        columns.push(column(rows, col, field)?);
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )?)
}

macro_rules! primitive {
    ($rows:expr, $col:expr, $builder:ty, $t:ty) => {{
        let mut b = <$builder>::with_capacity($rows.len());
        for row in $rows {
            b.append_option(get::<$t>(row, $col)?);
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}

fn column(rows: &[Row], col: usize, field: &Field) -> Result<ArrayRef, BoxError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("bad epoch")?;
    Ok(match field.data_type() {
        DataType::Boolean => primitive!(rows, col, BooleanBuilder, bool),
        DataType::Int16 => primitive!(rows, col, Int16Builder, i16),
        DataType::Int32 => primitive!(rows, col, Int32Builder, i32),
        DataType::Int64 => primitive!(rows, col, Int64Builder, i64),
        DataType::Float32 => primitive!(rows, col, Float32Builder, f32),
        DataType::Float64 => primitive!(rows, col, Float64Builder, f64),
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            for row in rows {
                b.append_option(get::<&str>(row, col)?);
            }
            Arc::new(b.finish())
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(rows.len());
            for row in rows {
                match get::<NaiveDate>(row, col)? {
                    Some(d) => b.append_value(i32::try_from((d - epoch).num_days())?),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len());
            for row in rows {
                b.append_option(
                    get::<NaiveDateTime>(row, col)?.map(|t| t.and_utc().timestamp_micros()),
                );
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len())
                .with_timezone(Arc::clone(tz));
            for row in rows {
                b.append_option(get::<DateTime<Utc>>(row, col)?.map(|t| t.timestamp_micros()));
            }
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(rows.len());
            for row in rows {
                match get::<PgNumeric>(row, col)? {
                    Some(n) => b.append_value(n.to_i128(*s)?),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
        }
        other => return Err(format!("dvt cannot read postgres columns as {other}").into()),
    })
}

/// The schema of a result whose column types [`arrow_type`] all handles, resolving
/// unconstrained numerics from `first_rows`; `None` when some type is not handled.
pub(super) fn result_schema(
    columns: &[tokio_postgres::Column],
    first_rows: &[Row],
) -> Option<SchemaRef> {
    let mut fields = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let ty = match arrow_type(c.type_(), c.type_modifier())? {
            Some(ty) => ty,
            None => unconstrained_numeric_type(first_rows, i),
        };
        fields.push(Field::new(c.name(), ty, true));
    }
    Some(Arc::new(Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(negative: bool, weight: i16, dscale: u16, digits: &[i16]) -> PgNumeric {
        PgNumeric {
            negative,
            special: false,
            weight,
            dscale,
            digits: digits.to_vec(),
        }
    }

    #[test]
    fn decodes_numerics_at_any_scale() {
        // 123456.789 = 12|3456|.7890
        let n = numeric(false, 1, 3, &[12, 3456, 7890]);
        assert_eq!(n.to_i128(3).expect("fits"), 123_456_789);
        assert_eq!(n.to_i128(5).expect("fits"), 12_345_678_900);
        assert_eq!(n.to_i128(2).expect("fits"), 12_345_679); // rounded
        assert_eq!(n.to_i128(0).expect("fits"), 123_457);
        // -0.001 = .0010 with weight -1
        let n = numeric(true, -1, 3, &[10]);
        assert_eq!(n.to_i128(3).expect("fits"), -1);
        // 0.00005 = .0000|5000 with weight -2, rounds up at scale 4
        let n = numeric(false, -2, 5, &[5000]);
        assert_eq!(n.to_i128(4).expect("fits"), 1);
        assert_eq!(numeric(false, 0, 0, &[]).to_i128(2).expect("zero"), 0);
    }
}
