//! What the dialects' type modules share (see `docs/types.md` for the mapping tables).
//!
//! Reading: each dialect decodes a source value into a [`Cell`], and a [`BatchBuilder`]
//! appends cells to Arrow columns of the wanted type, exactly or not at all: a value the
//! column cannot hold is an error naming the reason, which the reader turns into a
//! [`Error::ReadValue`] naming the column and the row. Batches are cut by rows and by
//! bytes ([`BatchLimits`]), so a text column never outgrows Arrow's 32-bit offsets.
//!
//! Loading: [`CellReader`] reads Arrow values back as cells, which each dialect renders
//! for its bulk path.
//!
//! Arrow fields may carry the source's logical type under [`TYPE_KEY`] (JSON, UUID,
//! intervals, unconstrained numerics, ...) so a destination of the same kind recreates
//! it; a column DVT cannot read is a `Null` field marked with [`UNSUPPORTED_KEY`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Decimal128Builder, Decimal256Builder,
    Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder,
    ListArray, NullArray, RecordBatch, RecordBatchOptions, StringBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder, UInt64Builder, make_array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit, i256};

use crate::error::Error;

/// Field metadata key: the source's logical type when Arrow's type alone loses it
/// (`json`, `jsonb`, `uuid`, `interval`, `money`, `citext`, `numeric`, `timetz`, `xml`,
/// `mysql:enum(...)`, `mysql:set(...)`).
pub(crate) const TYPE_KEY: &str = "dvt.type";

/// Field metadata key of a column DVT cannot read: the source's type name. Such a column
/// is a `Null` field, so a model that does not read it still plans; reading it fails.
pub(crate) const UNSUPPORTED_KEY: &str = "dvt.unsupported";

/// Logical type of an unconstrained (PostgreSQL `numeric`) or too-wide decimal.
pub(crate) const NUMERIC: &str = "numeric";

/// The logical type a field carries, if any.
pub(crate) fn logical_type(field: &Field) -> Option<&str> {
    field.metadata().get(TYPE_KEY).map(String::as_str)
}

/// A nullable field of `ty`, with a logical type when `logical` is given.
pub(crate) fn field(name: &str, ty: DataType, logical: Option<&str>) -> Field {
    let f = Field::new(name, ty, true);
    match logical {
        Some(l) => f.with_metadata(HashMap::from([(TYPE_KEY.to_owned(), l.to_owned())])),
        None => f,
    }
}

/// The placeholder of a column of a type DVT cannot read.
pub(crate) fn unsupported_field(name: &str, source_type: &str) -> Field {
    Field::new(name, DataType::Null, true).with_metadata(HashMap::from([(
        UNSUPPORTED_KEY.to_owned(),
        source_type.to_owned(),
    )]))
}

/// The error for reading a column DVT cannot read.
pub(crate) fn unsupported_column(target: &str, dialect: &str, column: &str, ty: &str) -> Error {
    Error::unsupported(
        target,
        format!(
            "reading column `{column}` of {dialect} type `{ty}`; leave it out of the model \
             or cast it to a supported type on the source (see docs/types.md)"
        ),
    )
}

/// A value the destination cannot hold exactly, as the source of an
/// [`Error::BulkLoad`] (DVT304); `row` counts from 1 in the rows loaded.
#[derive(Debug, thiserror::Error)]
#[error("column `{column}`, row {row}: {reason}")]
pub(crate) struct ValueError {
    pub(crate) column: String,
    pub(crate) row: u64,
    pub(crate) reason: String,
}

/// The error for a value the destination cannot hold (DVT304), naming column and row.
pub(crate) fn load_error(
    target: &str,
    relation: &str,
    column: &str,
    row: u64,
    reason: String,
) -> Error {
    Error::bulk_load(
        target,
        &relation,
        ValueError {
            column: column.to_owned(),
            row,
            reason,
        },
    )
}

/// One reader per column of `batch` (named `names`); a column of a type no load can
/// render fails naming it and `first_row`, the batch's first row in the load.
pub(crate) fn cell_readers<'a>(
    target: &str,
    relation: &str,
    batch: &'a RecordBatch,
    names: &[String],
    first_row: u64,
) -> Result<Vec<CellReader<'a>>, Error> {
    batch
        .columns()
        .iter()
        .zip(names)
        .map(|(c, name)| {
            CellReader::new(c.as_ref())
                .map_err(|reason| load_error(target, relation, name, first_row, reason))
        })
        .collect()
}

/// The error for a source value the column it is read into cannot hold.
pub(crate) fn read_error(target: &str, column: &str, row: u64, reason: String) -> Error {
    Error::ReadValue {
        target: target.to_owned(),
        column: column.to_owned(),
        row,
        reason,
    }
}

/// Fails with [`unsupported_column`] when `schema` asks for a column DVT cannot read.
pub(crate) fn check_readable(target: &str, dialect: &str, schema: &Schema) -> Result<(), Error> {
    for f in schema.fields() {
        if let Some(ty) = f.metadata().get(UNSUPPORTED_KEY) {
            return Err(unsupported_column(target, dialect, f.name(), ty));
        }
    }
    Ok(())
}

/// The Arrow type of an exact decimal of `precision` digits, `scale` after the point:
/// `Decimal128` up to 38 digits, `Decimal256` up to 76, `None` beyond.
pub(crate) fn decimal_type(precision: u32, scale: u32) -> Option<DataType> {
    let p = precision.max(scale).max(1);
    let s = i8::try_from(scale).ok()?;
    match p {
        1..=38 => Some(DataType::Decimal128(p as u8, s)),
        39..=76 => Some(DataType::Decimal256(p as u8, s)),
        _ => None,
    }
}

/// How large batches grow: whichever limit is reached first closes a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchLimits {
    /// Rows per batch.
    pub(crate) rows: usize,
    /// Bytes of values per batch (strings and binaries count their length).
    pub(crate) bytes: usize,
}

/// The limits readers use: 8,192 rows or 128 MiB, far below the 2 GiB an Arrow string
/// or binary column can address.
pub(crate) const BATCH_LIMITS: BatchLimits = BatchLimits {
    rows: 8192,
    bytes: 128 << 20,
};

/// An exact decimal: `digits` × 10^-`scale` (ASCII digits, possibly with leading zeros).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal<'a> {
    pub(crate) negative: bool,
    pub(crate) digits: Cow<'a, str>,
    pub(crate) scale: u32,
}

impl<'a> Decimal<'a> {
    /// Parses `[+-]digits[.digits][e[+-]exp]`; `None` for anything else (including NaN and
    /// infinities, which have no decimal value).
    pub(crate) fn parse(text: &'a str) -> Option<Decimal<'a>> {
        let t = text.trim();
        let (negative, rest) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(rest[i + 1..].parse::<i32>().ok()?)),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let scale = frac.len() as i64 - i64::from(exp.unwrap_or(0));
        if exp.is_none() && frac.is_empty() {
            return Some(Decimal {
                negative,
                digits: Cow::Borrowed(int),
                scale: 0,
            });
        }
        // An exponent beyond this is not a value any column holds.
        if !(-2000..=2000).contains(&scale) {
            return None;
        }
        let mut digits = String::with_capacity(int.len() + frac.len());
        digits.push_str(int);
        digits.push_str(frac);
        let scale = if scale < 0 {
            digits.extend(std::iter::repeat_n('0', (-scale) as usize));
            0
        } else {
            scale as u32
        };
        Some(Decimal {
            negative,
            digits: Cow::Owned(digits),
            scale,
        })
    }

    /// An integer.
    pub(crate) fn from_int(v: i128) -> Decimal<'static> {
        Decimal {
            negative: v < 0,
            digits: Cow::Owned(v.unsigned_abs().to_string()),
            scale: 0,
        }
    }

    /// A float's exact shortest decimal form (the one that reads back as the same float).
    pub(crate) fn from_f64(v: f64) -> Option<Decimal<'static>> {
        if !v.is_finite() {
            return None;
        }
        // Rust prints floats in their shortest round-trip form, without an exponent.
        let text = format!("{v}");
        Decimal::parse(&text).map(Decimal::into_owned)
    }

    pub(crate) fn into_owned(self) -> Decimal<'static> {
        Decimal {
            negative: self.negative,
            digits: Cow::Owned(self.digits.into_owned()),
            scale: self.scale,
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.bytes().all(|b| b == b'0')
    }

    /// Digits before and after the point, without leading zeros before it and trailing
    /// zeros after it.
    pub(crate) fn significant(&self) -> (&str, &str) {
        let d: &str = &self.digits;
        let split = d.len().saturating_sub(self.scale as usize);
        let int_part = if self.scale as usize > d.len() {
            ""
        } else {
            &d[..split]
        };
        let frac_part = if self.scale as usize > d.len() {
            // More scale than digits: leading zeros after the point are implied.
            d
        } else {
            &d[split..]
        };
        (
            int_part.trim_start_matches('0'),
            frac_part.trim_end_matches('0'),
        )
    }

    /// Digits after the point a column needs to hold the value exactly.
    pub(crate) fn needed_scale(&self) -> u32 {
        let (_, frac) = self.significant();
        if self.scale as usize > self.digits.len() {
            // `frac` is all digits; the implied zeros count too.
            (self.scale as usize - self.digits.len() + frac.len()) as u32
        } else {
            frac.len() as u32
        }
    }

    /// Digits before the point a column needs (at least none).
    pub(crate) fn needed_integer_digits(&self) -> u32 {
        self.significant().0.len() as u32
    }

    /// The unscaled integer of this value in a `Decimal(precision, scale)` column, or why
    /// the column cannot hold it.
    pub(crate) fn to_unscaled(&self, precision: u8, scale: i8) -> Result<i256, String> {
        let scale = i64::from(scale);
        let int_digits = i64::from(self.needed_integer_digits());
        let frac_digits = i64::from(self.needed_scale());
        if frac_digits > scale.max(0) {
            return Err(format!(
                "{} has {frac_digits} digits after the point; the column holds {}",
                self.to_text(),
                scale.max(0)
            ));
        }
        if int_digits + scale > i64::from(precision) {
            return Err(format!(
                "{} needs {} digits; the column holds {precision} with {scale} after the point",
                self.to_text(),
                int_digits + scale.max(frac_digits)
            ));
        }
        let (int, frac) = self.significant();
        let mut s = String::with_capacity(precision as usize + 1);
        if self.negative {
            s.push('-');
        }
        s.push_str(int);
        if self.scale as usize > self.digits.len() {
            s.extend(std::iter::repeat_n(
                '0',
                self.scale as usize - self.digits.len(),
            ));
        }
        s.push_str(frac);
        s.extend(std::iter::repeat_n(
            '0',
            (scale - frac_digits).max(0) as usize,
        ));
        if s.is_empty() || s == "-" {
            return Ok(i256::ZERO);
        }
        i256::from_string(&s).ok_or_else(|| format!("{} is not a decimal", self.to_text()))
    }

    /// The value as text, with its scale (`-12.30`, `0.05`, `7`).
    pub(crate) fn to_text(&self) -> String {
        let d = self.digits.trim_start_matches('0');
        let scale = self.scale as usize;
        let mut out = String::with_capacity(d.len() + 3);
        if self.negative && !self.is_zero() {
            out.push('-');
        }
        if scale == 0 {
            out.push_str(if d.is_empty() { "0" } else { d });
            return out;
        }
        if d.len() > scale {
            out.push_str(&d[..d.len() - scale]);
            out.push('.');
            out.push_str(&d[d.len() - scale..]);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - d.len()));
            out.push_str(d);
        }
        out
    }

    /// The value as text without trailing zeros after the point (`12.3`, `-0.05`, `7`).
    pub(crate) fn to_plain_text(&self) -> String {
        let (int, frac) = self.significant();
        let mut out = String::new();
        if self.negative && !(int.is_empty() && frac.is_empty()) {
            out.push('-');
        }
        out.push_str(if int.is_empty() { "0" } else { int });
        if !frac.is_empty() {
            out.push('.');
            let implied = (self.scale as usize).saturating_sub(self.digits.len());
            out.extend(std::iter::repeat_n('0', implied));
            out.push_str(frac);
        }
        out
    }
}

/// One value on its way between a database and Arrow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float32(f32),
    Float64(f64),
    Decimal(Decimal<'a>),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00; UTC when `zoned`.
    Timestamp {
        micros: i64,
        zoned: bool,
    },
    /// Microseconds since midnight (`24:00:00` is 86,400,000,000).
    Time(i64),
    List(Vec<Cell<'a>>),
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One Arrow column being built from cells.
#[derive(Debug)]
pub(crate) enum ColumnBuilder {
    Null(usize),
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    UInt8(UInt8Builder),
    UInt16(UInt16Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal128(Decimal128Builder, u8, i8),
    Decimal256(Decimal256Builder, u8, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    /// Date32 as days.
    Date32(Int32Builder),
    /// Timestamps and Time64 as integers of `unit`, retyped to `ty` when finished.
    Temporal {
        values: Int64Builder,
        ty: DataType,
        unit: TimeUnit,
    },
    List {
        field: FieldRef,
        child: Box<ColumnBuilder>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
    },
}

fn micros_to_unit(micros: i64, unit: TimeUnit) -> Result<i64, String> {
    match unit {
        TimeUnit::Second if micros % 1_000_000 == 0 => Ok(micros / 1_000_000),
        TimeUnit::Millisecond if micros % 1_000 == 0 => Ok(micros / 1_000),
        TimeUnit::Microsecond => Ok(micros),
        TimeUnit::Nanosecond => micros
            .checked_mul(1_000)
            .ok_or_else(|| "timestamp is out of range for nanoseconds".to_owned()),
        _ => Err(format!(
            "{micros} microseconds do not fit a {unit:?} column"
        )),
    }
}

fn int_range<T: TryFrom<i128>>(v: i128, ty: &str) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("{v} is out of range for {ty}"))
}

impl ColumnBuilder {
    /// A builder for a column of `ty`, or why DVT cannot build one.
    pub(crate) fn new(ty: &DataType) -> Result<Self, String> {
        use DataType as T;
        Ok(match ty {
            T::Null => ColumnBuilder::Null(0),
            T::Boolean => ColumnBuilder::Boolean(BooleanBuilder::new()),
            T::Int8 => ColumnBuilder::Int8(Int8Builder::new()),
            T::Int16 => ColumnBuilder::Int16(Int16Builder::new()),
            T::Int32 => ColumnBuilder::Int32(Int32Builder::new()),
            T::Int64 => ColumnBuilder::Int64(Int64Builder::new()),
            T::UInt8 => ColumnBuilder::UInt8(UInt8Builder::new()),
            T::UInt16 => ColumnBuilder::UInt16(UInt16Builder::new()),
            T::UInt32 => ColumnBuilder::UInt32(UInt32Builder::new()),
            T::UInt64 => ColumnBuilder::UInt64(UInt64Builder::new()),
            T::Float32 => ColumnBuilder::Float32(Float32Builder::new()),
            T::Float64 => ColumnBuilder::Float64(Float64Builder::new()),
            T::Decimal128(p, s) => ColumnBuilder::Decimal128(Decimal128Builder::new(), *p, *s),
            T::Decimal256(p, s) => ColumnBuilder::Decimal256(Decimal256Builder::new(), *p, *s),
            T::Utf8 => ColumnBuilder::Utf8(StringBuilder::new()),
            T::Binary => ColumnBuilder::Binary(BinaryBuilder::new()),
            T::Date32 => ColumnBuilder::Date32(Int32Builder::new()),
            T::Timestamp(unit, _) => ColumnBuilder::Temporal {
                values: Int64Builder::new(),
                ty: ty.clone(),
                unit: *unit,
            },
            T::Time64(unit @ (TimeUnit::Microsecond | TimeUnit::Nanosecond)) => {
                ColumnBuilder::Temporal {
                    values: Int64Builder::new(),
                    ty: ty.clone(),
                    unit: *unit,
                }
            }
            T::List(f) => ColumnBuilder::List {
                field: Arc::clone(f),
                child: Box::new(ColumnBuilder::new(f.data_type())?),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            },
            other => return Err(format!("dvt cannot build Arrow columns of type {other}")),
        })
    }

    /// Appends one value; returns the bytes it takes, or why the column cannot hold it.
    pub(crate) fn append(&mut self, cell: Cell<'_>) -> Result<usize, String> {
        if cell == Cell::Null {
            self.append_null();
            return Ok(1);
        }
        macro_rules! int {
            ($b:expr, $t:ty, $name:expr) => {{
                let v = integer_of(&cell)?;
                $b.append_value(int_range::<$t>(v, $name)?);
                Ok(std::mem::size_of::<$t>())
            }};
        }
        match self {
            ColumnBuilder::Null(_) => {
                Err("dvt cannot read values of this column's type".to_owned())
            }
            ColumnBuilder::Boolean(b) => {
                let v = match &cell {
                    Cell::Bool(v) => *v,
                    Cell::Int(0) | Cell::UInt(0) => false,
                    Cell::Int(1) | Cell::UInt(1) => true,
                    Cell::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                        "true" | "t" | "1" => true,
                        "false" | "f" | "0" => false,
                        _ => return Err(format!("{} is not a boolean", describe(&cell))),
                    },
                    other => return Err(format!("{} is not a boolean", describe(other))),
                };
                b.append_value(v);
                Ok(1)
            }
            ColumnBuilder::Int8(b) => int!(b, i8, "an 8-bit integer"),
            ColumnBuilder::Int16(b) => int!(b, i16, "a 16-bit integer"),
            ColumnBuilder::Int32(b) => int!(b, i32, "a 32-bit integer"),
            ColumnBuilder::Int64(b) => int!(b, i64, "a 64-bit integer"),
            ColumnBuilder::UInt8(b) => int!(b, u8, "an unsigned 8-bit integer"),
            ColumnBuilder::UInt16(b) => int!(b, u16, "an unsigned 16-bit integer"),
            ColumnBuilder::UInt32(b) => int!(b, u32, "an unsigned 32-bit integer"),
            ColumnBuilder::UInt64(b) => int!(b, u64, "an unsigned 64-bit integer"),
            ColumnBuilder::Float32(b) => {
                let v = match &cell {
                    Cell::Float32(v) => *v,
                    Cell::Float64(v) if v.is_nan() || f64::from(*v as f32) == *v => *v as f32,
                    Cell::Int(i) if (*i as f32) as i64 == *i => *i as f32,
                    Cell::Text(t) => t
                        .trim()
                        .parse()
                        .map_err(|_| format!("{} is not a number", describe(&cell)))?,
                    other => {
                        return Err(format!("{} is not exactly a 32-bit float", describe(other)));
                    }
                };
                b.append_value(v);
                Ok(4)
            }
            ColumnBuilder::Float64(b) => {
                let v = match &cell {
                    Cell::Float64(v) => *v,
                    Cell::Float32(v) => f64::from(*v),
                    Cell::Int(i) if (*i as f64) as i64 == *i && i.unsigned_abs() <= 1 << 53 => {
                        *i as f64
                    }
                    Cell::UInt(u) if *u <= 1 << 53 => *u as f64,
                    Cell::Text(t) => t
                        .trim()
                        .parse()
                        .map_err(|_| format!("{} is not a number", describe(&cell)))?,
                    other => {
                        return Err(format!("{} is not exactly a 64-bit float", describe(other)));
                    }
                };
                b.append_value(v);
                Ok(8)
            }
            ColumnBuilder::Decimal128(b, p, s) => {
                let v = decimal_of(&cell)?.to_unscaled(*p, *s)?;
                b.append_value(
                    v.to_i128()
                        .ok_or_else(|| "decimal out of range".to_owned())?,
                );
                Ok(16)
            }
            ColumnBuilder::Decimal256(b, p, s) => {
                let v = decimal_of(&cell)?.to_unscaled(*p, *s)?;
                b.append_value(v);
                Ok(32)
            }
            ColumnBuilder::Utf8(b) => {
                match &cell {
                    Cell::Text(t) => b.append_value(t),
                    Cell::Bytes(bytes) => b.append_value(
                        std::str::from_utf8(bytes)
                            .map_err(|_| "the value is not valid UTF-8 text".to_owned())?,
                    ),
                    Cell::Int(i) => b.append_value(i.to_string()),
                    Cell::UInt(u) => b.append_value(u.to_string()),
                    Cell::Float64(f) => b.append_value(f.to_string()),
                    Cell::Float32(f) => b.append_value(f.to_string()),
                    Cell::Decimal(d) => b.append_value(d.to_text()),
                    other => return Err(format!("{} is not text", describe(other))),
                }
                Ok(match &cell {
                    Cell::Text(t) => t.len(),
                    Cell::Bytes(x) => x.len(),
                    _ => 24,
                })
            }
            ColumnBuilder::Binary(b) => match &cell {
                Cell::Bytes(x) => {
                    b.append_value(x);
                    Ok(x.len())
                }
                Cell::Text(t) => {
                    b.append_value(t.as_bytes());
                    Ok(t.len())
                }
                other => Err(format!("{} is not binary", describe(other))),
            },
            ColumnBuilder::Date32(b) => {
                let v = match &cell {
                    Cell::Date(d) => *d,
                    Cell::Text(t) => parse_date(t)
                        .ok_or_else(|| format!("{} is not a date (YYYY-MM-DD)", describe(&cell)))?,
                    other => return Err(format!("{} is not a date", describe(other))),
                };
                b.append_value(v);
                Ok(4)
            }
            ColumnBuilder::Temporal { values, ty, unit } => {
                let micros = match (&*ty, &cell) {
                    (DataType::Time64(_), Cell::Time(t)) => {
                        if !(0..=MICROS_PER_DAY).contains(t) {
                            return Err(format!(
                                "{} is not a time of day (00:00:00 to 24:00:00)",
                                describe(&cell)
                            ));
                        }
                        *t
                    }
                    (DataType::Time64(_), Cell::Text(t)) => parse_time(t).ok_or_else(|| {
                        format!("{} is not a time of day (HH:MM:SS)", describe(&cell))
                    })?,
                    (DataType::Timestamp(_, tz), Cell::Timestamp { micros, zoned }) => {
                        if *zoned && tz.is_none() {
                            return Err(
                                "a timestamp with a time zone cannot go to a column without one"
                                    .to_owned(),
                            );
                        }
                        *micros
                    }
                    (DataType::Timestamp(_, tz), Cell::Text(t)) => parse_timestamp(t, tz.is_some())
                        .ok_or_else(|| {
                            format!(
                                "{} is not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff]{})",
                                describe(&cell),
                                if tz.is_some() { "[+HH:MM]" } else { "" }
                            )
                        })?,
                    // SQLite stores times as Unix seconds too.
                    (DataType::Timestamp(..), Cell::Int(secs)) => secs
                        .checked_mul(1_000_000)
                        .ok_or_else(|| format!("{secs} seconds are out of range"))?,
                    (_, other) => {
                        return Err(format!("{} is not a {ty}", describe(other)));
                    }
                };
                values.append_value(micros_to_unit(micros, *unit)?);
                Ok(8)
            }
            ColumnBuilder::List {
                child,
                offsets,
                nulls,
                ..
            } => {
                let Cell::List(items) = cell else {
                    return Err(format!("{} is not a list", describe(&cell)));
                };
                let mut bytes = 4;
                let n = items.len();
                for item in items {
                    bytes += child.append(item)?;
                }
                let last = *offsets.last().unwrap_or(&0);
                let next = i32::try_from(n)
                    .ok()
                    .and_then(|n| last.checked_add(n))
                    .ok_or_else(|| "list too long for one batch".to_owned())?;
                offsets.push(next);
                nulls.append_non_null();
                Ok(bytes)
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Null(n) => *n += 1,
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Int8(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) | ColumnBuilder::Date32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::UInt8(b) => b.append_null(),
            ColumnBuilder::UInt16(b) => b.append_null(),
            ColumnBuilder::UInt32(b) => b.append_null(),
            ColumnBuilder::UInt64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Decimal128(b, ..) => b.append_null(),
            ColumnBuilder::Decimal256(b, ..) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Temporal { values, .. } => values.append_null(),
            ColumnBuilder::List { offsets, nulls, .. } => {
                offsets.push(*offsets.last().unwrap_or(&0));
                nulls.append_null();
            }
        }
    }

    /// The column built so far; the builder starts over empty.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, String> {
        let arr: ArrayRef = match self {
            ColumnBuilder::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Int8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::UInt8(b) => Arc::new(b.finish()),
            ColumnBuilder::UInt16(b) => Arc::new(b.finish()),
            ColumnBuilder::UInt32(b) => Arc::new(b.finish()),
            ColumnBuilder::UInt64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal128(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            ),
            ColumnBuilder::Decimal256(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            ),
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Date32(b) => retype(Arc::new(b.finish()), &DataType::Date32)?,
            ColumnBuilder::Temporal { values, ty, .. } => retype(Arc::new(values.finish()), ty)?,
            ColumnBuilder::List {
                field,
                child,
                offsets,
                nulls,
            } => {
                let values = child.finish()?;
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(
                    ListArray::try_new(Arc::clone(field), offsets, values, nulls.finish())
                        .map_err(|e| e.to_string())?,
                )
            }
        };
        Ok(arr)
    }
}

/// The same buffers under another primitive type of the same width.
fn retype(array: ArrayRef, ty: &DataType) -> Result<ArrayRef, String> {
    let data = array
        .into_data()
        .into_builder()
        .data_type(ty.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(make_array(data))
}

fn integer_of(cell: &Cell<'_>) -> Result<i128, String> {
    match cell {
        Cell::Int(i) => Ok(i128::from(*i)),
        Cell::UInt(u) => Ok(i128::from(*u)),
        Cell::Bool(b) => Ok(i128::from(*b)),
        Cell::Float64(f) if f.fract() == 0.0 && f.abs() < 1e38 => Ok(*f as i128),
        Cell::Float32(f) if f.fract() == 0.0 && f.abs() < 1e38 => Ok(*f as i128),
        Cell::Decimal(d) if d.needed_scale() == 0 && d.needed_integer_digits() <= 38 => d
            .to_unscaled(38, 0)?
            .to_i128()
            .ok_or_else(|| format!("{} is out of range", d.to_text())),
        Cell::Text(t) => t
            .trim()
            .parse::<i128>()
            .map_err(|_| format!("{} is not an integer", describe(cell))),
        other => Err(format!("{} is not an integer", describe(other))),
    }
}

fn decimal_of<'a>(cell: &'a Cell<'a>) -> Result<Cow<'a, Decimal<'a>>, String> {
    Ok(match cell {
        Cell::Decimal(d) => Cow::Borrowed(d),
        Cell::Int(i) => Cow::Owned(Decimal::from_int(i128::from(*i))),
        Cell::UInt(u) => Cow::Owned(Decimal::from_int(i128::from(*u))),
        Cell::Float64(f) => {
            Cow::Owned(Decimal::from_f64(*f).ok_or_else(|| format!("{f} has no decimal value"))?)
        }
        Cell::Float32(f) => Cow::Owned(
            Decimal::from_f64(f64::from(*f)).ok_or_else(|| format!("{f} has no decimal value"))?,
        ),
        Cell::Text(t) => Cow::Owned(
            Decimal::parse(t)
                .ok_or_else(|| format!("{} is not a decimal number", describe(cell)))?
                .into_owned(),
        ),
        other => return Err(format!("{} is not a decimal number", describe(other))),
    })
}

/// A short description of a value for error messages (long texts are cut).
pub(crate) fn describe(cell: &Cell<'_>) -> String {
    fn cut(s: &str) -> String {
        if s.chars().count() > 40 {
            format!("`{}...`", s.chars().take(40).collect::<String>())
        } else {
            format!("`{s}`")
        }
    }
    match cell {
        Cell::Null => "NULL".to_owned(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::UInt(u) => u.to_string(),
        Cell::Float32(f) => f.to_string(),
        Cell::Float64(f) => f.to_string(),
        Cell::Decimal(d) => cut(&d.to_text()),
        Cell::Text(t) => cut(t),
        Cell::Bytes(b) => format!("{} bytes", b.len()),
        Cell::Date(d) => format_date(*d).unwrap_or_else(|| format!("day {d}")),
        Cell::Timestamp { micros, .. } => {
            format_timestamp(*micros).unwrap_or_else(|| format!("{micros} µs"))
        }
        Cell::Time(t) => format_time(*t),
        Cell::List(items) => format!("a list of {} items", items.len()),
    }
}

/// Builds record batches of one schema from cells, closing a batch at its limits.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    limits: BatchLimits,
    rows: usize,
    bytes: usize,
}

impl BatchBuilder {
    pub(crate) fn new(schema: SchemaRef, limits: BatchLimits) -> Result<Self, String> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                ColumnBuilder::new(f.data_type()).map_err(|e| format!("column `{}`: {e}", f.name()))
            })
            .collect::<Result<_, _>>()?;
        Ok(BatchBuilder {
            schema,
            columns,
            limits,
            rows: 0,
            bytes: 0,
        })
    }

    /// Appends the value of column `col` of the current row.
    pub(crate) fn append(&mut self, col: usize, cell: Cell<'_>) -> Result<(), String> {
        let builder = self
            .columns
            .get_mut(col)
            .ok_or_else(|| format!("no column {col}"))?;
        self.bytes += builder.append(cell)?;
        Ok(())
    }

    /// Ends the current row; `true` when the batch is full and should be taken.
    pub(crate) fn end_row(&mut self) -> bool {
        self.rows += 1;
        self.rows >= self.limits.rows || self.bytes >= self.limits.bytes
    }

    /// Rows in the batch being built.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The batch built so far; the builder starts a new one.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, String> {
        let columns = self
            .columns
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| e.to_string())
    }
}

/// Reads the values of one Arrow column as cells.
pub(crate) struct CellReader<'a> {
    array: &'a dyn Array,
    child: Option<Box<CellReader<'a>>>,
}

impl<'a> CellReader<'a> {
    /// A reader, or why DVT cannot load this Arrow type.
    pub(crate) fn new(array: &'a dyn Array) -> Result<Self, String> {
        use DataType as T;
        let child = match array.data_type() {
            T::List(_) => Some(Box::new(CellReader::new(
                array.as_list::<i32>().values().as_ref(),
            )?)),
            T::LargeList(_) => Some(Box::new(CellReader::new(
                array.as_list::<i64>().values().as_ref(),
            )?)),
            T::FixedSizeList(..) => Some(Box::new(CellReader::new(
                array.as_fixed_size_list().values().as_ref(),
            )?)),
            T::Dictionary(..) => {
                let dict = array.as_any_dictionary();
                Some(Box::new(CellReader::new(dict.values().as_ref())?))
            }
            T::Null
            | T::Boolean
            | T::Int8
            | T::Int16
            | T::Int32
            | T::Int64
            | T::UInt8
            | T::UInt16
            | T::UInt32
            | T::UInt64
            | T::Float16
            | T::Float32
            | T::Float64
            | T::Decimal32(..)
            | T::Decimal64(..)
            | T::Decimal128(..)
            | T::Decimal256(..)
            | T::Utf8
            | T::LargeUtf8
            | T::Utf8View
            | T::Binary
            | T::LargeBinary
            | T::BinaryView
            | T::FixedSizeBinary(_)
            | T::Date32
            | T::Date64
            | T::Timestamp(..)
            | T::Time32(_)
            | T::Time64(_)
            | T::Duration(_)
            | T::Interval(_) => None,
            other => return Err(format!("dvt cannot load Arrow columns of type {other}")),
        };
        Ok(CellReader { array, child })
    }

    /// The value at `i`.
    pub(crate) fn cell(&self, i: usize) -> Result<Cell<'a>, String> {
        use DataType as T;
        use arrow::datatypes::*;
        let a = self.array;
        if a.is_null(i) {
            return Ok(Cell::Null);
        }
        Ok(match a.data_type() {
            T::Null => Cell::Null,
            T::Boolean => Cell::Bool(a.as_boolean().value(i)),
            T::Int8 => Cell::Int(a.as_primitive::<Int8Type>().value(i).into()),
            T::Int16 => Cell::Int(a.as_primitive::<Int16Type>().value(i).into()),
            T::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(i).into()),
            T::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(i)),
            T::UInt8 => Cell::UInt(a.as_primitive::<UInt8Type>().value(i).into()),
            T::UInt16 => Cell::UInt(a.as_primitive::<UInt16Type>().value(i).into()),
            T::UInt32 => Cell::UInt(a.as_primitive::<UInt32Type>().value(i).into()),
            T::UInt64 => Cell::UInt(a.as_primitive::<UInt64Type>().value(i)),
            T::Float16 => Cell::Float32(a.as_primitive::<Float16Type>().value(i).to_f32()),
            T::Float32 => Cell::Float32(a.as_primitive::<Float32Type>().value(i)),
            T::Float64 => Cell::Float64(a.as_primitive::<Float64Type>().value(i)),
            T::Decimal32(_, s) => {
                decimal_cell(i128::from(a.as_primitive::<Decimal32Type>().value(i)), *s)
            }
            T::Decimal64(_, s) => {
                decimal_cell(i128::from(a.as_primitive::<Decimal64Type>().value(i)), *s)
            }
            T::Decimal128(_, s) => decimal_cell(a.as_primitive::<Decimal128Type>().value(i), *s),
            T::Decimal256(_, s) => {
                let v = a.as_primitive::<Decimal256Type>().value(i);
                let text = v.to_string();
                let (negative, digits) = match text.strip_prefix('-') {
                    Some(d) => (true, d.to_owned()),
                    None => (false, text),
                };
                scaled_decimal(negative, digits, *s)
            }
            T::Utf8 => Cell::Text(Cow::Borrowed(a.as_string::<i32>().value(i))),
            T::LargeUtf8 => Cell::Text(Cow::Borrowed(a.as_string::<i64>().value(i))),
            T::Utf8View => Cell::Text(Cow::Borrowed(a.as_string_view().value(i))),
            T::Binary => Cell::Bytes(Cow::Borrowed(a.as_binary::<i32>().value(i))),
            T::LargeBinary => Cell::Bytes(Cow::Borrowed(a.as_binary::<i64>().value(i))),
            T::BinaryView => Cell::Bytes(Cow::Borrowed(a.as_binary_view().value(i))),
            T::FixedSizeBinary(_) => Cell::Bytes(Cow::Borrowed(a.as_fixed_size_binary().value(i))),
            T::Date32 => Cell::Date(a.as_primitive::<Date32Type>().value(i)),
            T::Date64 => {
                let ms = a.as_primitive::<Date64Type>().value(i);
                Cell::Date(
                    i32::try_from(ms.div_euclid(86_400_000))
                        .map_err(|_| format!("date {ms} ms is out of range"))?,
                )
            }
            T::Timestamp(unit, tz) => {
                let raw = timestamp_raw(a, i, *unit);
                Cell::Timestamp {
                    micros: raw_to_micros(raw, *unit)?,
                    zoned: tz.is_some(),
                }
            }
            T::Time32(TimeUnit::Second) => {
                Cell::Time(i64::from(a.as_primitive::<Time32SecondType>().value(i)) * 1_000_000)
            }
            T::Time32(_) => {
                Cell::Time(i64::from(a.as_primitive::<Time32MillisecondType>().value(i)) * 1_000)
            }
            T::Time64(TimeUnit::Nanosecond) => Cell::Time(
                a.as_primitive::<Time64NanosecondType>()
                    .value(i)
                    .div_euclid(1_000),
            ),
            T::Time64(_) => Cell::Time(a.as_primitive::<Time64MicrosecondType>().value(i)),
            T::Duration(unit) => {
                let raw = duration_raw(a, i, *unit);
                Cell::Text(Cow::Owned(format_interval(
                    0,
                    0,
                    raw_to_micros(raw, *unit)?,
                )))
            }
            T::Interval(IntervalUnit::YearMonth) => Cell::Text(Cow::Owned(format_interval(
                a.as_primitive::<IntervalYearMonthType>().value(i),
                0,
                0,
            ))),
            T::Interval(IntervalUnit::DayTime) => {
                let v = a.as_primitive::<IntervalDayTimeType>().value(i);
                Cell::Text(Cow::Owned(format_interval(
                    0,
                    v.days,
                    i64::from(v.milliseconds) * 1_000,
                )))
            }
            T::Interval(IntervalUnit::MonthDayNano) => {
                let v = a.as_primitive::<IntervalMonthDayNanoType>().value(i);
                Cell::Text(Cow::Owned(format_interval(
                    v.months,
                    v.days,
                    v.nanoseconds.div_euclid(1_000),
                )))
            }
            T::List(_) | T::LargeList(_) | T::FixedSizeList(..) => {
                let child = self
                    .child
                    .as_ref()
                    .ok_or_else(|| "list without values".to_owned())?;
                let (start, end) = match a.data_type() {
                    T::List(_) => {
                        let o = a.as_list::<i32>().value_offsets();
                        (o[i] as usize, o[i + 1] as usize)
                    }
                    T::LargeList(_) => {
                        let o = a.as_list::<i64>().value_offsets();
                        (o[i] as usize, o[i + 1] as usize)
                    }
                    _ => {
                        let n = a.as_fixed_size_list().value_length() as usize;
                        (i * n, (i + 1) * n)
                    }
                };
                Cell::List(
                    (start..end)
                        .map(|j| child.cell(j))
                        .collect::<Result<_, _>>()?,
                )
            }
            T::Dictionary(..) => {
                let dict = a.as_any_dictionary();
                let key = dict.normalized_keys()[i];
                self.child
                    .as_ref()
                    .ok_or_else(|| "dictionary without values".to_owned())?
                    .cell(key)?
            }
            other => return Err(format!("dvt cannot load Arrow values of type {other}")),
        })
    }
}

fn timestamp_raw(a: &dyn Array, i: usize, unit: TimeUnit) -> i64 {
    use arrow::datatypes::*;
    match unit {
        TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
        TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
        TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
        TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
    }
}

fn duration_raw(a: &dyn Array, i: usize, unit: TimeUnit) -> i64 {
    use arrow::datatypes::*;
    match unit {
        TimeUnit::Second => a.as_primitive::<DurationSecondType>().value(i),
        TimeUnit::Millisecond => a.as_primitive::<DurationMillisecondType>().value(i),
        TimeUnit::Microsecond => a.as_primitive::<DurationMicrosecondType>().value(i),
        TimeUnit::Nanosecond => a.as_primitive::<DurationNanosecondType>().value(i),
    }
}

/// Microseconds of a value in `unit`. Nanoseconds are truncated toward the past: no
/// destination stores them.
fn raw_to_micros(raw: i64, unit: TimeUnit) -> Result<i64, String> {
    match unit {
        TimeUnit::Second => raw
            .checked_mul(1_000_000)
            .ok_or_else(|| format!("{raw} seconds are out of range")),
        TimeUnit::Millisecond => raw
            .checked_mul(1_000)
            .ok_or_else(|| format!("{raw} milliseconds are out of range")),
        TimeUnit::Microsecond => Ok(raw),
        TimeUnit::Nanosecond => Ok(raw.div_euclid(1_000)),
    }
}

fn decimal_cell(v: i128, scale: i8) -> Cell<'static> {
    scaled_decimal(v < 0, v.unsigned_abs().to_string(), scale)
}

fn scaled_decimal(negative: bool, mut digits: String, scale: i8) -> Cell<'static> {
    let scale = if scale < 0 {
        digits.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        0
    } else {
        scale as u32
    };
    Cell::Decimal(Decimal {
        negative,
        digits: Cow::Owned(digits),
        scale,
    })
}

/// Year, month and day of a day number (days since 1970-01-01), for any `i32` (proleptic
/// Gregorian calendar, astronomical years: 0 is 1 BC).
pub(crate) fn civil_from_days(days: i32) -> (i64, u32, u32) {
    // Howard Hinnant's `civil_from_days`.
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i32> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DD` for years 0000 to 9999; `None` outside.
pub(crate) fn format_date(days: i32) -> Option<String> {
    let (y, m, d) = civil_from_days(days);
    (0..=9999)
        .contains(&y)
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// Splits microseconds since the epoch into a day number and microseconds into the day.
pub(crate) fn split_micros(micros: i64) -> (i32, i64) {
    let days = micros.div_euclid(MICROS_PER_DAY);
    // i64 microseconds span ±292,000 years, well inside i32 days.
    (days as i32, micros.rem_euclid(MICROS_PER_DAY))
}

/// `HH:MM:SS` with `.ffffff` when there are fractional seconds.
pub(crate) fn format_time(micros: i64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{frac:06}")
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` for years 0000 to 9999; `None` outside.
pub(crate) fn format_timestamp(micros: i64) -> Option<String> {
    let (days, time) = split_micros(micros);
    Some(format!("{} {}", format_date(days)?, format_time(time)))
}

/// An ISO 8601 duration (`P1Y2M3DT4H5M6.5S`, `PT0S`), each part signed as PostgreSQL
/// writes it with `intervalstyle = iso_8601`.
pub(crate) fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        out.push_str(&format!("{years}Y"));
    }
    if months != 0 {
        out.push_str(&format!("{months}M"));
    }
    if days != 0 {
        out.push_str(&format!("{days}D"));
    }
    if micros != 0 {
        out.push('T');
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let (h, m, s, f) = (
            abs / 3_600_000_000,
            abs / 60_000_000 % 60,
            abs / 1_000_000 % 60,
            abs % 1_000_000,
        );
        if h != 0 {
            out.push_str(&format!("{sign}{h}H"));
        }
        if m != 0 {
            out.push_str(&format!("{sign}{m}M"));
        }
        if s != 0 || f != 0 {
            if f == 0 {
                out.push_str(&format!("{sign}{s}S"));
            } else {
                let frac = format!("{f:06}");
                out.push_str(&format!("{sign}{s}.{}S", frac.trim_end_matches('0')));
            }
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let mut parts = t.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m_text = parts.next()?;
    let d_text = parts.next()?;
    if m_text.len() != 2 || d_text.len() != 2 {
        return None;
    }
    let (m, d) = (m_text.parse().ok()?, d_text.parse().ok()?);
    days_from_civil(if negative { -y } else { y }, m, d)
}

/// Microseconds since midnight of `HH:MM:SS[.f]` (up to `24:00:00`).
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next().unwrap_or("0").parse().ok()?;
    if parts.next().is_some() || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return None;
    }
    let micros = parse_fraction(frac)?;
    let total = ((h * 60 + m) * 60 + s) * 1_000_000 + micros;
    (0..=MICROS_PER_DAY).contains(&total).then_some(total)
}

/// Microseconds of the digits after a seconds' point; `None` when they are not digits or
/// would be cut (more than six significant digits).
fn parse_fraction(frac: &str) -> Option<i64> {
    if frac.is_empty() {
        return Some(0);
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = frac.trim_end_matches('0');
    if trimmed.len() > 6 {
        return None;
    }
    let mut digits = trimmed.to_owned();
    digits.extend(std::iter::repeat_n('0', 6 - trimmed.len()));
    digits.parse().ok()
}

/// Microseconds since the epoch of `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` or a bare date; with
/// `zoned`, an offset (`+HH:MM`, `+HHMM`, `+HH`, `Z`) is converted to UTC and a text
/// without one is taken as UTC. Without `zoned`, a text with an offset is refused.
pub(crate) fn parse_timestamp(text: &str, zoned: bool) -> Option<i64> {
    let t = text.trim();
    let (date, rest) = match t.find([' ', 'T']) {
        Some(i) if i >= 10 => (&t[..i], t[i + 1..].trim_start()),
        _ => (t, ""),
    };
    let days = parse_date(date)?;
    // An offset starts at a sign after the time, or is `Z`.
    let (time, offset) = if let Some(stripped) = rest.strip_suffix(['Z', 'z']) {
        (stripped.trim_end(), Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        (rest[..i].trim_end(), Some(parse_offset(&rest[i..])?))
    } else {
        (rest, None)
    };
    if offset.is_some() && !zoned {
        return None;
    }
    let time = if time.is_empty() {
        0
    } else if time.matches(':').count() == 1 {
        parse_time(&format!("{time}:00"))?
    } else {
        parse_time(time)?
    };
    let micros = i64::from(days)
        .checked_mul(MICROS_PER_DAY)?
        .checked_add(time)?;
    micros.checked_sub(offset.unwrap_or(0))
}

/// Microseconds east of UTC of `+HH[:MM[:SS]]` / `-HHMM`.
fn parse_offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![2, 4, 6].contains(&digits.len()) {
        return None;
    }
    let h: i64 = digits[0..2].parse().ok()?;
    let m: i64 = digits.get(2..4).unwrap_or("0").parse().ok()?;
    let s: i64 = digits.get(4..6).unwrap_or("0").parse().ok()?;
    Some(sign * ((h * 60 + m) * 60 + s) * 1_000_000)
}

/// A list as JSON text (`[1,"a",null]`): the documented form of arrays on destinations
/// without them. Decimals are exact JSON numbers; dates and times are ISO strings.
pub(crate) fn list_json(items: &[Cell<'_>]) -> Result<String, String> {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_value(item, &mut out)?;
    }
    out.push(']');
    Ok(out)
}

fn json_value(cell: &Cell<'_>, out: &mut String) -> Result<(), String> {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match cell {
        Cell::Null => out.push_str("null"),
        Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Cell::Int(i) => out.push_str(&i.to_string()),
        Cell::UInt(u) => out.push_str(&u.to_string()),
        Cell::Float32(f) if f.is_finite() => out.push_str(&f.to_string()),
        Cell::Float64(f) if f.is_finite() => out.push_str(&f.to_string()),
        Cell::Float32(_) | Cell::Float64(_) => {
            return Err(format!("{} has no JSON form", describe(cell)));
        }
        Cell::Decimal(d) => out.push_str(&d.to_text()),
        Cell::Text(t) => out.push_str(&quoted(t)),
        Cell::Bytes(b) => out.push_str(&quoted(&hex(b))),
        Cell::Date(d) => out.push_str(&quoted(
            &format_date(*d).ok_or_else(|| format!("{} is out of range", describe(cell)))?,
        )),
        Cell::Timestamp { micros, zoned } => {
            let mut s = format_timestamp(*micros)
                .ok_or_else(|| format!("{} is out of range", describe(cell)))?;
            if *zoned {
                s.push_str("+00:00");
            }
            out.push_str(&quoted(&s));
        }
        Cell::Time(t) => out.push_str(&quoted(&format_time(*t))),
        Cell::List(items) => out.push_str(&list_json(items)?),
    }
    Ok(())
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_exactly_or_say_why() {
        let d = Decimal::parse("-12.3400").expect("decimal");
        assert_eq!(d.needed_scale(), 2);
        assert_eq!(d.needed_integer_digits(), 2);
        assert_eq!(d.to_unscaled(4, 2).expect("fits"), i256::from_i128(-1234));
        assert_eq!(
            d.to_unscaled(10, 5).expect("fits"),
            i256::from_i128(-1_234_000)
        );
        let err = d
            .to_unscaled(10, 1)
            .expect_err("too many digits after the point");
        assert!(err.contains("2 digits after the point"), "{err}");
        let err = d.to_unscaled(3, 2).expect_err("too wide");
        assert!(err.contains("holds 3"), "{err}");
        assert_eq!(d.to_text(), "-12.3400");
        assert_eq!(d.to_plain_text(), "-12.34");
        let small = Decimal::parse("0.000123").expect("decimal");
        assert_eq!(small.needed_scale(), 6);
        assert_eq!(small.to_unscaled(6, 6).expect("fits"), i256::from_i128(123));
        assert_eq!(Decimal::parse("1.5e3").expect("exp").to_text(), "1500");
        assert_eq!(Decimal::parse("1.5e-3").expect("exp").to_text(), "0.0015");
        assert_eq!(Decimal::parse("-0.00").expect("zero").to_text(), "0.00");
        assert_eq!(Decimal::parse("-0.00").expect("zero").to_plain_text(), "0");
        assert!(Decimal::parse("NaN").is_none());
        assert!(Decimal::parse("1.2.3").is_none());
        // 40 significant digits survive into a Decimal256.
        let wide = "1234567890123456789012345678.901234567890";
        let v = Decimal::parse(wide)
            .expect("decimal")
            .to_unscaled(40, 12)
            .expect("fits");
        assert_eq!(v.to_string(), wide.replace('.', ""));
        assert_eq!(
            Decimal::from_f64(0.1).expect("finite").to_unscaled(5, 2),
            Ok(i256::from_i128(10))
        );
    }

    #[test]
    fn builders_refuse_values_they_cannot_hold() {
        let mut b = ColumnBuilder::new(&DataType::Int16).expect("builder");
        assert!(b.append(Cell::Int(32767)).is_ok());
        let err = b.append(Cell::Int(32768)).expect_err("overflow");
        assert!(err.contains("out of range"), "{err}");
        let mut f = ColumnBuilder::new(&DataType::Float64).expect("builder");
        assert!(f.append(Cell::Int(1 << 53)).is_ok());
        assert!(f.append(Cell::Int((1 << 53) + 1)).is_err());
        let mut t = ColumnBuilder::new(&DataType::Time64(TimeUnit::Microsecond)).expect("b");
        assert!(t.append(Cell::Time(MICROS_PER_DAY)).is_ok());
        assert!(t.append(Cell::Time(-1)).is_err());
        let mut ts =
            ColumnBuilder::new(&DataType::Timestamp(TimeUnit::Microsecond, None)).expect("b");
        assert!(
            ts.append(Cell::Timestamp {
                micros: 0,
                zoned: true
            })
            .is_err()
        );
        let mut u = ColumnBuilder::new(&DataType::Utf8).expect("b");
        assert!(u.append(Cell::Bytes(Cow::Borrowed(&[0xff, 0xfe]))).is_err());
    }

    #[test]
    fn batches_are_cut_by_bytes_as_well_as_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let limits = BatchLimits {
            rows: 1000,
            bytes: 250,
        };
        let mut b = BatchBuilder::new(schema, limits).expect("builder");
        let value = "x".repeat(100);
        let mut batches = Vec::new();
        for _ in 0..7 {
            b.append(0, Cell::Text(Cow::Borrowed(&value)))
                .expect("append");
            if b.end_row() {
                batches.push(b.finish().expect("batch"));
            }
        }
        if b.rows() > 0 {
            batches.push(b.finish().expect("batch"));
        }
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        let limits = BatchLimits {
            rows: 2,
            bytes: 1 << 20,
        };
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let mut b = BatchBuilder::new(schema, limits).expect("builder");
        b.append(0, Cell::Null).expect("append");
        assert!(!b.end_row());
        b.append(0, Cell::Null).expect("append");
        assert!(b.end_row());
    }

    #[test]
    fn dates_and_times_round_trip_through_text() {
        for text in [
            "1970-01-01",
            "1969-12-31",
            "0001-01-01",
            "9999-12-31",
            "2000-02-29",
        ] {
            let days = parse_date(text).expect("date");
            assert_eq!(format_date(days).as_deref(), Some(text));
        }
        assert_eq!(parse_date("2001-02-29"), None);
        assert_eq!(civil_from_days(i32::MAX).0, 5_881_580);
        assert_eq!(
            parse_timestamp("1969-07-20 20:17:40.5", false),
            Some(-14_182_939_500_000)
        );
        assert_eq!(
            format_timestamp(-14_182_939_500_000).as_deref(),
            Some("1969-07-20 20:17:40.500000")
        );
        assert_eq!(
            parse_timestamp("2024-03-10 12:00:00+05:30", true),
            parse_timestamp("2024-03-10 06:30:00", true)
        );
        assert_eq!(parse_timestamp("2024-03-10 12:00:00+05:30", false), None);
        assert_eq!(parse_timestamp("2024-03-10 12:00:00.1234567", false), None);
        assert_eq!(parse_time("24:00:00"), Some(MICROS_PER_DAY));
        assert_eq!(format_interval(14, 3, 14_706_500_000), "P1Y2M3DT4H5M6.5S");
        assert_eq!(
            format_interval(-14, 3, -14_706_000_000),
            "P-1Y-2M3DT-4H-5M-6S"
        );
        assert_eq!(format_interval(0, 0, 0), "PT0S");
    }
}
