//! SQLite's type mapping and value rendering. SQLite stores each value with its own
//! storage class (INTEGER, REAL, TEXT, BLOB) whatever the column declares, so DVT reads a
//! declared type it knows as that type (checking every value), and a column without one
//! (`CREATE TABLE AS` expressions, `NUMERIC`) by what its values are. Decimals wider than
//! the 15 digits a REAL keeps are stored as exact text in `DECIMAL_TEXT(p,s)` columns.
//! The tables are in `docs/types.md`.

use std::borrow::Cow;

use arrow::datatypes::{DataType, Field, TimeUnit};
use rusqlite::types::{Value, ValueRef};

use crate::adapter::types::{
    Cell, Decimal, NUMERIC, decimal_type, field, format_date, format_time, format_timestamp,
    list_json, logical_type,
};

/// The largest integer a REAL holds exactly (2^53).
const EXACT_REAL_INT: i64 = 9_007_199_254_740_992;

/// Decimals up to this many digits live in SQLite's numbers exactly (a REAL keeps 15
/// significant digits); wider ones as text.
const REAL_DIGITS: u8 = 15;

/// What a column reads as.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Natural {
    Field(Field),
    /// No declared type DVT can trust: the column's values decide.
    Probe,
}

fn precision_scale(decl: &str) -> Option<(u32, u32)> {
    let inner = decl.split_once('(')?.1.split_once(')')?.0;
    let mut parts = inner.split(',').map(str::trim);
    let p: u32 = parts.next()?.parse().ok()?;
    let s: u32 = parts.next().unwrap_or("0").parse().ok()?;
    Some((p, s))
}

/// The Arrow field of a column declared `decl` (SQLite's affinity rules, plus the names
/// DVT itself creates).
pub(super) fn declared(name: &str, decl: Option<&str>) -> Natural {
    let Some(decl) = decl.map(str::trim).filter(|d| !d.is_empty()) else {
        return Natural::Probe;
    };
    let d = decl.to_ascii_uppercase();
    let simple = |t: DataType| Natural::Field(field(name, t, None));
    if d.starts_with("DECIMAL_TEXT") {
        return Natural::Field(
            match precision_scale(&d).and_then(|(p, s)| decimal_type(p, s)) {
                Some(t) => field(name, t, None),
                None => field(name, DataType::Utf8, Some(NUMERIC)),
            },
        );
    }
    if d.starts_with("DECIMAL") || d.starts_with("NUMERIC") || d.starts_with("NUM") {
        return match precision_scale(&d) {
            Some((p, s)) => match decimal_type(p, s) {
                Some(t) => simple(t),
                None => Natural::Field(field(name, DataType::Utf8, Some(NUMERIC))),
            },
            None => Natural::Probe,
        };
    }
    if d.contains("BOOL") {
        simple(DataType::Boolean)
    } else if d.contains("INT") {
        simple(DataType::Int64)
    } else if d.contains("TIMESTAMPTZ") {
        simple(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ))
    } else if d.contains("TIMESTAMP") || d.contains("DATETIME") {
        simple(DataType::Timestamp(TimeUnit::Microsecond, None))
    } else if d.contains("DATE") {
        simple(DataType::Date32)
    } else if d.contains("TIME") {
        simple(DataType::Time64(TimeUnit::Microsecond))
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        simple(DataType::Utf8)
    } else if d.contains("JSON") {
        Natural::Field(field(name, DataType::Utf8, Some("json")))
    } else if d.contains("BLOB") {
        simple(DataType::Binary)
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        simple(DataType::Float64)
    } else {
        Natural::Probe
    }
}

/// Counts of a column's values by what they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stats {
    pub(super) ints: i64,
    pub(super) reals: i64,
    pub(super) texts: i64,
    pub(super) blobs: i64,
    /// Integers a REAL cannot hold exactly.
    pub(super) big_ints: i64,
    pub(super) dates: i64,
    pub(super) timestamps: i64,
    pub(super) zoned_timestamps: i64,
}

const DATE_GLOB: &str = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]";

/// The SQL expressions (eight per column) that compute a column's [`Stats`].
pub(super) fn stats_sql(column: &str) -> String {
    let c = column;
    let ts = format!("{DATE_GLOB}[ T][0-9][0-9]:[0-9][0-9]*");
    let zone = format!("({c} GLOB '*[+-][0-9][0-9]:[0-9][0-9]' OR {c} GLOB '*Z')");
    [
        format!("typeof({c}) = 'integer'"),
        format!("typeof({c}) = 'real'"),
        format!("typeof({c}) = 'text'"),
        format!("typeof({c}) = 'blob'"),
        format!("typeof({c}) = 'integer' AND ({c} > {EXACT_REAL_INT} OR {c} < -{EXACT_REAL_INT})"),
        format!("typeof({c}) = 'text' AND {c} GLOB '{DATE_GLOB}'"),
        format!("typeof({c}) = 'text' AND {c} GLOB '{ts}' AND NOT {zone}"),
        format!("typeof({c}) = 'text' AND {c} GLOB '{ts}' AND {zone}"),
    ]
    .iter()
    .map(|e| format!("coalesce(sum({e}), 0)"))
    .collect::<Vec<_>>()
    .join(", ")
}

impl Stats {
    /// Adds one value (for results read into memory).
    pub(super) fn add(&mut self, v: &ValueRef<'_>) {
        match v {
            ValueRef::Null => {}
            ValueRef::Integer(i) => {
                self.ints += 1;
                if i.unsigned_abs() > EXACT_REAL_INT as u64 {
                    self.big_ints += 1;
                }
            }
            ValueRef::Real(_) => self.reals += 1,
            ValueRef::Blob(_) => self.blobs += 1,
            ValueRef::Text(t) => {
                self.texts += 1;
                let t = String::from_utf8_lossy(t);
                let b = t.as_bytes();
                let date_like = b.len() >= 10
                    && b[..10].iter().enumerate().all(|(i, c)| {
                        if i == 4 || i == 7 {
                            *c == b'-'
                        } else {
                            c.is_ascii_digit()
                        }
                    });
                if !date_like {
                    return;
                }
                if b.len() == 10 {
                    self.dates += 1;
                } else if b.len() >= 16
                    && (b[10] == b' ' || b[10] == b'T')
                    && b[11].is_ascii_digit()
                    && b[12].is_ascii_digit()
                    && b[13] == b':'
                {
                    let zoned = t.ends_with('Z')
                        || (b.len() >= 22 && {
                            let tail = &b[b.len() - 6..];
                            (tail[0] == b'+' || tail[0] == b'-') && tail[3] == b':'
                        });
                    if zoned {
                        self.zoned_timestamps += 1;
                    } else {
                        self.timestamps += 1;
                    }
                }
            }
        }
    }

    /// The Arrow type these values read as exactly: numbers when they are all numbers
    /// (REAL when any is a REAL and every integer fits one), dates and timestamps when
    /// all texts have one form, text otherwise.
    pub(super) fn data_type(&self) -> DataType {
        let numbers = self.ints + self.reals;
        let any = numbers + self.texts + self.blobs;
        if any == 0 {
            DataType::Utf8
        } else if self.blobs == any {
            DataType::Binary
        } else if self.ints == any {
            DataType::Int64
        } else if numbers == any && self.big_ints == 0 {
            DataType::Float64
        } else if self.texts == any && self.dates == any {
            DataType::Date32
        } else if self.texts == any && self.timestamps == any {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        } else if self.texts == any && self.zoned_timestamps == any {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        } else {
            DataType::Utf8
        }
    }
}

/// A stored value as a cell.
pub(super) fn cell(v: ValueRef<'_>) -> Cell<'_> {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float64(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Cell::Text(Cow::Borrowed(s)),
            Err(_) => Cell::Bytes(Cow::Borrowed(t)),
        },
        ValueRef::Blob(b) => Cell::Bytes(Cow::Borrowed(b)),
    }
}

/// The SQL type of a column created for `field`.
pub(crate) fn sql_type(field: &Field) -> Option<String> {
    use DataType as T;
    let ty = field.data_type();
    if matches!(ty, T::Utf8 | T::LargeUtf8 | T::Utf8View) && logical_type(field) == Some(NUMERIC) {
        return Some("DECIMAL_TEXT".into());
    }
    element_type(ty)
}

fn element_type(ty: &DataType) -> Option<String> {
    use DataType as T;
    Some(match ty {
        T::Boolean => "BOOLEAN".into(),
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => {
            "INTEGER".into()
        }
        T::Float16 | T::Float32 | T::Float64 => "REAL".into(),
        T::Decimal32(p, s) | T::Decimal64(p, s) | T::Decimal128(p, s) | T::Decimal256(p, s) => {
            let (p, s) = if *s < 0 {
                (i32::from(*p) - i32::from(*s), 0)
            } else {
                (i32::from(*p), i32::from(*s))
            };
            if p <= i32::from(REAL_DIGITS) {
                format!("DECIMAL({p},{s})")
            } else {
                format!("DECIMAL_TEXT({p},{s})")
            }
        }
        T::Null
        | T::Utf8
        | T::LargeUtf8
        | T::Utf8View
        | T::List(_)
        | T::LargeList(_)
        | T::FixedSizeList(..)
        | T::Duration(_)
        | T::Interval(_) => "TEXT".into(),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "BLOB".into(),
        T::Date32 | T::Date64 => "DATE".into(),
        T::Timestamp(_, None) => "TIMESTAMP".into(),
        T::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        T::Time32(_) | T::Time64(_) => "TIME".into(),
        T::Dictionary(_, v) => element_type(v)?,
        _ => return None,
    })
}

/// SQLite's affinity of a declared column type: whether a number-looking text loaded
/// into it becomes a number.
pub(super) fn converts_numbers(decl: Option<&str>) -> bool {
    let d = decl.unwrap_or("").to_ascii_uppercase();
    if d.contains("INT") {
        return true;
    }
    !(d.is_empty()
        || d.contains("CHAR")
        || d.contains("CLOB")
        || d.contains("TEXT")
        || d.contains("BLOB"))
}

fn lossy_number(d: &Decimal<'_>) -> Option<String> {
    let (int, frac) = d.significant();
    let digits = int.len() + frac.len();
    let is_i64 = frac.is_empty() && d.to_plain_text().parse::<i64>().is_ok();
    (!is_i64 && digits > usize::from(REAL_DIGITS)).then(|| {
        format!(
            "{} has {digits} significant digits; a SQLite number keeps 15. Declare the \
             column DECIMAL_TEXT(p,s) or TEXT to keep it exactly",
            d.to_plain_text()
        )
    })
}

/// The value bound for a non-null cell loaded into a column declared `decl`.
pub(super) fn bind(cell: &Cell<'_>, decl: Option<&str>) -> Result<Value, String> {
    let numeric = converts_numbers(decl);
    Ok(match cell {
        Cell::Null => Value::Null,
        Cell::Bool(b) => Value::Integer(i64::from(*b)),
        Cell::Int(i) => Value::Integer(*i),
        Cell::UInt(u) => Value::Integer(
            i64::try_from(*u)
                .map_err(|_| format!("{u} does not fit SQLite's 64-bit signed integers"))?,
        ),
        Cell::Float32(f) if !f.is_nan() => Value::Real(f64::from(*f)),
        Cell::Float64(f) if !f.is_nan() => Value::Real(*f),
        Cell::Float32(_) | Cell::Float64(_) => {
            return Err("SQLite stores NaN as NULL".to_owned());
        }
        Cell::Decimal(d) if numeric => {
            if let Some(reason) = lossy_number(d) {
                return Err(reason);
            }
            let text = d.to_plain_text();
            match text.parse::<i64>() {
                Ok(i) => Value::Integer(i),
                Err(_) => Value::Real(
                    text.parse()
                        .map_err(|_| format!("{text} is not a number"))?,
                ),
            }
        }
        Cell::Decimal(d) => Value::Text(d.to_text()),
        Cell::Text(t) => {
            if numeric
                && let Some(d) = Decimal::parse(t)
                && let Some(reason) = lossy_number(&d)
            {
                return Err(reason);
            }
            Value::Text(t.to_string())
        }
        Cell::Bytes(b) => Value::Blob(b.to_vec()),
        Cell::Date(d) => {
            Value::Text(format_date(*d).ok_or("SQLite dates are years 0000 to 9999 (ISO text)")?)
        }
        Cell::Timestamp { micros, zoned } => {
            let mut s = format_timestamp(*micros)
                .ok_or("SQLite dates are years 0000 to 9999 (ISO text)")?;
            if *zoned {
                s.push_str("+00:00");
            }
            Value::Text(s)
        }
        Cell::Time(t) => Value::Text(format_time(*t)),
        Cell::List(items) => Value::Text(list_json(items)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(decl: &str) -> Option<DataType> {
        match declared("c", Some(decl)) {
            Natural::Field(f) => Some(f.data_type().clone()),
            Natural::Probe => None,
        }
    }

    #[test]
    fn declared_types_map_to_arrow() {
        assert_eq!(ty("INTEGER"), Some(DataType::Int64));
        assert_eq!(ty("decimal(12,4)"), Some(DataType::Decimal128(12, 4)));
        assert_eq!(
            ty("DECIMAL_TEXT(40,10)"),
            Some(DataType::Decimal256(40, 10))
        );
        assert_eq!(
            ty("DATETIME"),
            Some(DataType::Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(ty("TIME"), Some(DataType::Time64(TimeUnit::Microsecond)));
        assert_eq!(ty("NUM"), None);
        assert_eq!(ty("NUMERIC"), None);
        assert_eq!(declared("c", None), Natural::Probe);
    }

    #[test]
    fn undeclared_columns_read_as_what_their_values_are() {
        let stats = |values: &[ValueRef<'_>]| {
            let mut s = Stats::default();
            for v in values {
                s.add(v);
            }
            s.data_type()
        };
        assert_eq!(
            stats(&[ValueRef::Integer(1), ValueRef::Null]),
            DataType::Int64
        );
        assert_eq!(
            stats(&[ValueRef::Integer(1), ValueRef::Real(1.5)]),
            DataType::Float64
        );
        assert_eq!(
            stats(&[ValueRef::Integer(1 << 60), ValueRef::Real(1.5)]),
            DataType::Utf8
        );
        assert_eq!(
            stats(&[ValueRef::Text(b"2024-01-02"), ValueRef::Text(b"1900-12-31")]),
            DataType::Date32
        );
        assert_eq!(
            stats(&[ValueRef::Text(b"2024-01-02 03:04:05.5")]),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(
            stats(&[ValueRef::Text(b"2024-01-02 03:04:05+00:00")]),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            stats(&[ValueRef::Text(b"2024-01-02"), ValueRef::Text(b"x")]),
            DataType::Utf8
        );
        assert_eq!(stats(&[]), DataType::Utf8);
    }

    #[test]
    fn numbers_that_sqlite_would_round_are_refused() {
        let wide = Decimal::parse("1234567890.1234567890").expect("decimal");
        assert!(bind(&Cell::Decimal(wide.clone()), Some("NUMERIC")).is_err());
        assert_eq!(
            bind(&Cell::Decimal(wide), Some("DECIMAL_TEXT(20,10)")),
            Ok(Value::Text("1234567890.1234567890".into()))
        );
        let small = Decimal::parse("12.30").expect("decimal");
        assert_eq!(
            bind(&Cell::Decimal(small), Some("DECIMAL(4,2)")),
            Ok(Value::Real(12.3))
        );
        assert!(
            bind(
                &Cell::Text("12345678901234567.5".into()),
                Some("DECIMAL(20,1)")
            )
            .is_err()
        );
        assert!(bind(&Cell::UInt(u64::MAX), Some("INTEGER")).is_err());
        assert_eq!(
            bind(&Cell::Text("9223372036854775807".into()), Some("INTEGER")),
            Ok(Value::Text("9223372036854775807".into()))
        );
    }
}
