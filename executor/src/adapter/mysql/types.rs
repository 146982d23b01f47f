//! MySQL and MariaDB type mapping and value rendering: column types to Arrow, binary
//! protocol values to cells, Arrow fields to DDL, and cells to `LOAD DATA` text checked
//! against the destination column. The tables are in `docs/types.md`.

use std::borrow::Cow;

use arrow::datatypes::{DataType, Field, TimeUnit};
use mysql_async::Value;
use mysql_async::consts::{ColumnFlags, ColumnType};

use crate::adapter::types::{
    Cell, Decimal, NUMERIC, civil_from_days, days_from_civil, decimal_type, field, format_date,
    format_time, format_timestamp, hex, list_json, logical_type, split_micros, unsupported_field,
};

/// Logical types of `enum(...)` and `set(...)` columns start with this, followed by the
/// column's type as the server wrote it; a MySQL destination recreates it.
const MYSQL_PREFIX: &str = "mysql:";

/// What a column reads as.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Natural {
    Field(Field),
    /// `tinyint(1)`: `Boolean` when every value is 0, 1 or NULL, else `Int8`.
    ProbeBool,
    Unsupported,
}

/// Splits `decimal(12,4) unsigned` into `decimal`, `Some("12,4")`, `unsigned`.
fn parse_column_type(column_type: &str) -> (String, Option<&str>, bool) {
    let t = column_type.trim();
    let end = t.find(['(', ' ']).unwrap_or(t.len());
    let base = t[..end].to_ascii_lowercase();
    let args = t[end..]
        .strip_prefix('(')
        .and_then(|rest| rest.rfind(')').map(|i| &rest[..i]));
    let unsigned = t.to_ascii_lowercase().contains(" unsigned");
    (base, args, unsigned)
}

/// The Arrow field of a column of `column_type` (as `information_schema.COLUMNS` writes
/// it); `json` when MariaDB's `json_valid` check marks a text column as JSON.
pub(super) fn natural(name: &str, column_type: &str, json: bool) -> Natural {
    let (base, args, unsigned) = parse_column_type(column_type);
    let simple = |t: DataType| Natural::Field(field(name, t, None));
    let int = |signed: DataType, uns: DataType| simple(if unsigned { uns } else { signed });
    let ts = |tz: Option<&str>| {
        simple(DataType::Timestamp(
            TimeUnit::Microsecond,
            tz.map(Into::into),
        ))
    };
    match base.as_str() {
        "tinyint" if args == Some("1") && !unsigned => Natural::ProbeBool,
        "bool" | "boolean" => Natural::ProbeBool,
        "tinyint" => int(DataType::Int8, DataType::UInt8),
        "smallint" => int(DataType::Int16, DataType::UInt16),
        "mediumint" | "int" | "integer" => int(DataType::Int32, DataType::UInt32),
        "bigint" => int(DataType::Int64, DataType::UInt64),
        "bit" if args.is_none_or(|a| a.trim() == "1") => simple(DataType::Boolean),
        "bit" => simple(DataType::UInt64),
        "float" => simple(DataType::Float32),
        "double" | "real" => simple(DataType::Float64),
        "decimal" | "numeric" | "dec" | "fixed" => {
            let mut parts = args.unwrap_or("10,0").split(',').map(str::trim);
            let p = parts.next().and_then(|p| p.parse().ok()).unwrap_or(10);
            let s = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            match decimal_type(p, s) {
                Some(t) => simple(t),
                None => Natural::Unsupported,
            }
        }
        "date" => simple(DataType::Date32),
        "datetime" => ts(None),
        // TIMESTAMP stores instants; DVT's sessions use time zone +00:00.
        "timestamp" => ts(Some("UTC")),
        "time" => simple(DataType::Time64(TimeUnit::Microsecond)),
        "year" => simple(DataType::Int16),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
            Natural::Field(field(name, DataType::Utf8, json.then_some("json")))
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            simple(DataType::Binary)
        }
        "enum" | "set" => Natural::Field(field(
            name,
            DataType::Utf8,
            Some(&format!("{MYSQL_PREFIX}{}", column_type.trim())),
        )),
        "json" => Natural::Field(field(name, DataType::Utf8, Some("json"))),
        "uuid" => Natural::Field(field(name, DataType::Utf8, Some("uuid"))),
        "inet4" | "inet6" => simple(DataType::Utf8),
        _ => Natural::Unsupported,
    }
}

/// The field of a column DVT cannot read.
pub(super) fn unsupported(name: &str, column_type: &str) -> Field {
    unsupported_field(name, column_type)
}

/// The Arrow field of a result column from its metadata (for queries without a known
/// schema), or `None` when DVT cannot read its type.
pub(super) fn result_field(c: &mysql_async::Column) -> Option<Field> {
    let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let int = |s: DataType, u: DataType| if unsigned { u } else { s };
    let binary = c.character_set() == 63;
    use ColumnType as C;
    let ty = match c.column_type() {
        C::MYSQL_TYPE_TINY => int(DataType::Int8, DataType::UInt8),
        C::MYSQL_TYPE_SHORT | C::MYSQL_TYPE_YEAR => int(DataType::Int16, DataType::UInt16),
        C::MYSQL_TYPE_INT24 | C::MYSQL_TYPE_LONG => int(DataType::Int32, DataType::UInt32),
        C::MYSQL_TYPE_LONGLONG => int(DataType::Int64, DataType::UInt64),
        C::MYSQL_TYPE_FLOAT => DataType::Float32,
        C::MYSQL_TYPE_DOUBLE => DataType::Float64,
        C::MYSQL_TYPE_DECIMAL | C::MYSQL_TYPE_NEWDECIMAL => {
            let s = u32::from(c.decimals());
            let p = c
                .column_length()
                .saturating_sub(u32::from(s > 0))
                .saturating_sub(u32::from(!unsigned));
            decimal_type(p, s)?
        }
        C::MYSQL_TYPE_DATE | C::MYSQL_TYPE_NEWDATE => DataType::Date32,
        C::MYSQL_TYPE_DATETIME | C::MYSQL_TYPE_DATETIME2 => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        C::MYSQL_TYPE_TIMESTAMP | C::MYSQL_TYPE_TIMESTAMP2 => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        C::MYSQL_TYPE_TIME | C::MYSQL_TYPE_TIME2 => DataType::Time64(TimeUnit::Microsecond),
        C::MYSQL_TYPE_BIT if c.column_length() == 1 => DataType::Boolean,
        C::MYSQL_TYPE_BIT => DataType::UInt64,
        C::MYSQL_TYPE_NULL => DataType::Utf8,
        C::MYSQL_TYPE_VARCHAR
        | C::MYSQL_TYPE_VAR_STRING
        | C::MYSQL_TYPE_STRING
        | C::MYSQL_TYPE_TINY_BLOB
        | C::MYSQL_TYPE_MEDIUM_BLOB
        | C::MYSQL_TYPE_LONG_BLOB
        | C::MYSQL_TYPE_BLOB
        | C::MYSQL_TYPE_ENUM
        | C::MYSQL_TYPE_SET
        | C::MYSQL_TYPE_JSON => {
            if binary {
                DataType::Binary
            } else {
                DataType::Utf8
            }
        }
        _ => return None,
    };
    Some(field(&c.name_str(), ty, None))
}

/// Decodes one binary-protocol value of a column of `column_type`.
pub(super) fn decode(value: &Value, column_type: ColumnType) -> Result<Cell<'_>, String> {
    use ColumnType as C;
    Ok(match value {
        Value::NULL => Cell::Null,
        Value::Int(i) => Cell::Int(*i),
        Value::UInt(u) => Cell::UInt(*u),
        Value::Float(f) => Cell::Float32(*f),
        Value::Double(d) => Cell::Float64(*d),
        Value::Bytes(b) => match column_type {
            C::MYSQL_TYPE_DECIMAL | C::MYSQL_TYPE_NEWDECIMAL => {
                let text = std::str::from_utf8(b).map_err(|_| "decimal is not text")?;
                Cell::Decimal(
                    Decimal::parse(text).ok_or_else(|| format!("`{text}` is not a decimal"))?,
                )
            }
            C::MYSQL_TYPE_BIT => {
                if b.len() > 8 {
                    return Err("bit value wider than 64 bits".to_owned());
                }
                Cell::UInt(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
            }
            C::MYSQL_TYPE_GEOMETRY => {
                return Err("geometry values are not supported".to_owned());
            }
            _ => Cell::Bytes(Cow::Borrowed(b)),
        },
        Value::Date(y, m, d, h, mi, s, us) => {
            // Zero dates (`0000-00-00`, or a zero month or day, which some sql_modes
            // allow) are no date at all: they read as NULL.
            if *m == 0 || *d == 0 {
                return Ok(Cell::Null);
            }
            let days = days_from_civil(i64::from(*y), u32::from(*m), u32::from(*d))
                .ok_or_else(|| format!("{y:04}-{m:02}-{d:02} is not a date"))?;
            match column_type {
                C::MYSQL_TYPE_DATE | C::MYSQL_TYPE_NEWDATE => Cell::Date(days),
                _ => Cell::Timestamp {
                    micros: i64::from(days) * 86_400_000_000
                        + ((i64::from(*h) * 60 + i64::from(*mi)) * 60 + i64::from(*s)) * 1_000_000
                        + i64::from(*us),
                    zoned: matches!(
                        column_type,
                        C::MYSQL_TYPE_TIMESTAMP | C::MYSQL_TYPE_TIMESTAMP2
                    ),
                },
            }
        }
        Value::Time(negative, days, h, m, s, us) => {
            let micros = (((i64::from(*days) * 24 + i64::from(*h)) * 60 + i64::from(*m)) * 60
                + i64::from(*s))
                * 1_000_000
                + i64::from(*us);
            Cell::Time(if *negative { -micros } else { micros })
        }
    })
}

/// `DECIMAL(p,s)` holding the values of Arrow's `Decimal(p, s)` when MySQL can (at most
/// 65 digits, 30 after the point); otherwise the widest that keeps the integer digits,
/// and each value is checked as it loads.
fn decimal_sql(p: i32, s: i32) -> String {
    let (p, s) = if s < 0 { (p - s, 0) } else { (p, s) };
    let scale = s.min(30);
    let precision = (p - s + scale).clamp(scale.max(1), 65);
    format!("DECIMAL({precision},{scale})")
}

/// The SQL type of a column created for `field`.
pub(crate) fn sql_type(field: &Field) -> Option<String> {
    use DataType as T;
    let ty = field.data_type();
    let logical = logical_type(field);
    if matches!(ty, T::Utf8 | T::LargeUtf8 | T::Utf8View)
        && let Some(l) = logical
    {
        return Some(match l {
            l if l.starts_with(MYSQL_PREFIX) => l[MYSQL_PREFIX.len()..].to_owned(),
            "json" | "jsonb" => "JSON".into(),
            "uuid" => "CHAR(36)".into(),
            // Wider than Arrow's decimals: the widest DECIMAL, each value checked.
            l if l == NUMERIC => "DECIMAL(65,30)".into(),
            _ => "LONGTEXT".into(),
        });
    }
    element_type(ty)
}

fn element_type(ty: &DataType) -> Option<String> {
    use DataType as T;
    Some(match ty {
        T::Boolean => "BOOLEAN".into(),
        T::Int8 => "TINYINT".into(),
        T::UInt8 => "TINYINT UNSIGNED".into(),
        T::Int16 => "SMALLINT".into(),
        T::UInt16 => "SMALLINT UNSIGNED".into(),
        T::Int32 => "INT".into(),
        T::UInt32 => "INT UNSIGNED".into(),
        T::Int64 => "BIGINT".into(),
        T::UInt64 => "BIGINT UNSIGNED".into(),
        T::Float16 | T::Float32 => "FLOAT".into(),
        T::Float64 => "DOUBLE".into(),
        T::Decimal32(p, s) | T::Decimal64(p, s) | T::Decimal128(p, s) | T::Decimal256(p, s) => {
            decimal_sql(i32::from(*p), i32::from(*s))
        }
        T::Null | T::Utf8 | T::LargeUtf8 | T::Utf8View => "LONGTEXT".into(),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "LONGBLOB".into(),
        T::Date32 | T::Date64 => "DATE".into(),
        T::Timestamp(TimeUnit::Second, _) => "DATETIME".into(),
        T::Timestamp(TimeUnit::Millisecond, _) => "DATETIME(3)".into(),
        T::Timestamp(_, _) => "DATETIME(6)".into(),
        T::Time32(_) | T::Time64(_) => "TIME(6)".into(),
        T::Duration(_) | T::Interval(_) => "VARCHAR(100)".into(),
        T::List(_) | T::LargeList(_) | T::FixedSizeList(..) => "JSON".into(),
        T::Dictionary(_, v) => element_type(v)?,
        _ => return None,
    })
}

/// What a destination column needs of the values loaded into it, from
/// `information_schema.COLUMNS` (`DATA_TYPE`, `NUMERIC_PRECISION`, `NUMERIC_SCALE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Dest {
    /// Values are checked to fit exactly.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Bytes travel as hexadecimal and are decoded by `UNHEX`.
    Binary,
    /// An integer column (`BOOLEAN` is `tinyint(1)`): text booleans (`true`, `f`, ...)
    /// go in as 1 and 0, which the server would refuse as text.
    Integer,
    Other,
}

impl Dest {
    pub(super) fn of(data_type: &str, precision: Option<u64>, scale: Option<u64>) -> Dest {
        match data_type.to_ascii_lowercase().as_str() {
            "decimal" | "numeric" => Dest::Decimal {
                precision: precision.unwrap_or(10).min(76) as u8,
                scale: scale.unwrap_or(0).min(76) as i8,
            },
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                Dest::Binary
            }
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "bit" => {
                Dest::Integer
            }
            _ => Dest::Other,
        }
    }
}

/// Appends a non-null value as `LOAD DATA` reads it into a column of `dest` (before
/// `LOAD DATA` escaping), or says why the column cannot hold it exactly.
pub(super) fn render(cell: &Cell<'_>, dest: &Dest, out: &mut String) -> Result<(), String> {
    let check_decimal = |d: &Decimal<'_>| -> Result<(), String> {
        if let Dest::Decimal { precision, scale } = dest {
            d.to_unscaled(*precision, *scale)?;
        }
        Ok(())
    };
    // Year 0 would be read back as a zero date.
    let year_range = |days: i32| -> Result<String, String> {
        format_date(days)
            .filter(|_| civil_from_days(days).0 >= 1)
            .ok_or_else(|| "MySQL and MariaDB hold years 1 to 9999 only".to_owned())
    };
    match cell {
        Cell::Null => {}
        Cell::Bool(b) => out.push(if *b { '1' } else { '0' }),
        Cell::Int(i) => {
            check_decimal(&Decimal::from_int(i128::from(*i)))?;
            out.push_str(&i.to_string());
        }
        Cell::UInt(u) => {
            check_decimal(&Decimal::from_int(i128::from(*u)))?;
            out.push_str(&u.to_string());
        }
        // The float's exact value as a double: the server parses a double and narrows
        // it, and the shortest single-precision text can parse above `FLT_MAX`.
        Cell::Float32(f) if f.is_finite() => out.push_str(&f64::from(*f).to_string()),
        Cell::Float64(f) if f.is_finite() => {
            if let Some(d) = Decimal::from_f64(*f) {
                check_decimal(&d)?;
            }
            out.push_str(&f.to_string());
        }
        Cell::Float32(_) | Cell::Float64(_) => {
            return Err("MySQL and MariaDB have no NaN or infinite floats".to_owned());
        }
        Cell::Decimal(d) => {
            check_decimal(d)?;
            out.push_str(&d.to_text());
        }
        Cell::Text(t) => {
            if matches!(dest, Dest::Decimal { .. }) {
                let d = Decimal::parse(t).ok_or_else(|| format!("`{t}` is not a decimal"))?;
                check_decimal(&d)?;
            }
            let boolean = || match t.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" => Some('1'),
                "false" | "f" | "no" | "n" | "off" => Some('0'),
                _ => None,
            };
            if *dest == Dest::Binary {
                out.push_str(&hex(t.as_bytes()));
            } else if *dest == Dest::Integer
                && let Some(b) = boolean()
            {
                out.push(b);
            } else {
                out.push_str(t);
            }
        }
        Cell::Bytes(b) => {
            if *dest == Dest::Binary {
                out.push_str(&hex(b));
            } else {
                out.push_str(
                    std::str::from_utf8(b)
                        .map_err(|_| "binary value for a text column is not UTF-8")?,
                );
            }
        }
        Cell::Date(d) => out.push_str(&year_range(*d)?),
        Cell::Timestamp { micros, .. } => {
            // A zoned timestamp goes in as its UTC wall time.
            let (days, _) = split_micros(*micros);
            year_range(days)?;
            out.push_str(&format_timestamp(*micros).unwrap_or_default());
        }
        Cell::Time(t) => out.push_str(&format_time(*t)),
        Cell::List(items) => out.push_str(&list_json(items)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_map_to_arrow() {
        let ty = |t: &str| match natural("c", t, false) {
            Natural::Field(f) => Some(f.data_type().clone()),
            _ => None,
        };
        assert_eq!(ty("int(10) unsigned"), Some(DataType::UInt32));
        assert_eq!(ty("decimal(12,4)"), Some(DataType::Decimal128(12, 4)));
        assert_eq!(ty("decimal(65,30)"), Some(DataType::Decimal256(65, 30)));
        assert_eq!(
            ty("datetime(6)"),
            Some(DataType::Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(natural("c", "tinyint(1)", false), Natural::ProbeBool);
        assert_eq!(natural("c", "point", false), Natural::Unsupported);
        let Natural::Field(e) = natural("c", "enum('a','b)')", false) else {
            panic!("enum is text");
        };
        assert_eq!(logical_type(&e), Some("mysql:enum('a','b)')"));
        assert_eq!(sql_type(&e).as_deref(), Some("enum('a','b)')"));
    }

    #[test]
    fn decimals_are_fitted_and_checked() {
        assert_eq!(decimal_sql(12, 4), "DECIMAL(12,4)");
        assert_eq!(decimal_sql(76, 40), "DECIMAL(65,30)");
        assert_eq!(decimal_sql(70, 0), "DECIMAL(65,0)");
        let dest = Dest::Decimal {
            precision: 65,
            scale: 30,
        };
        let mut s = String::new();
        let long = Decimal::parse("1.0000000000000000000000000000001").expect("decimal");
        let err = render(&Cell::Decimal(long), &dest, &mut s).expect_err("31 digits");
        assert!(err.contains("31 digits after the point"), "{err}");
        let mut s = String::new();
        render(&Cell::Text("12.5".into()), &dest, &mut s).expect("fits");
        assert_eq!(s, "12.5");
        assert!(render(&Cell::Float64(f64::NAN), &Dest::Other, &mut String::new()).is_err());
        let bc = days_from_civil(-43, 3, 15).expect("date");
        assert!(render(&Cell::Date(bc), &Dest::Other, &mut String::new()).is_err());
    }

    #[test]
    fn text_booleans_load_into_integer_columns() {
        let out = |t: &str, dest: &Dest| {
            let mut s = String::new();
            render(&Cell::Text(t.into()), dest, &mut s).expect("renders");
            s
        };
        assert_eq!(out("false", &Dest::Integer), "0");
        assert_eq!(out("TRUE", &Dest::Integer), "1");
        assert_eq!(out("7", &Dest::Integer), "7");
        assert_eq!(out("false", &Dest::Other), "false");
    }
}
