//! PostgreSQL's type mapping and value rendering: column types to Arrow (with the data
//! probe that sizes unconstrained `numeric`), binary wire values to cells, Arrow fields
//! to DDL, and cells to `COPY ... (FORMAT csv)` text. The tables are in `docs/types.md`.

use std::borrow::Cow;
use std::error::Error as StdError;

use arrow::datatypes::{DataType, Field, TimeUnit};
use tokio_postgres::types::{FromSql, Kind, Type};

use crate::adapter::types::{
    Cell, Decimal, NUMERIC, civil_from_days, decimal_type, field, format_interval, format_time,
    logical_type, split_micros, unsupported_field,
};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A value in PostgreSQL's binary format, whatever its type.
pub(super) struct Raw<'a>(pub(super) &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// How one column's binary values become cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    /// `money`: an integer of the currency's minor unit, `scale` digits after the point.
    Money {
        scale: u32,
    },
    Text,
    Jsonb,
    Uuid,
    Bytea,
    Date,
    Time,
    Timetz,
    Timestamp,
    Timestamptz,
    Interval,
    /// One-dimensional arrays of the element decoder.
    Array(Box<Decoder>),
}

/// The type under any domains.
fn base(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(inner) => base(inner),
        _ => ty,
    }
}

/// The decoder of a type, or `None` when DVT cannot read it. `money_scale` is the minor
/// unit's digits of `money` (two for most locales).
pub(super) fn decoder(ty: &Type, money_scale: u32) -> Option<Decoder> {
    let ty = base(ty);
    Some(match *ty {
        Type::BOOL => Decoder::Bool,
        Type::INT2 => Decoder::Int2,
        Type::INT4 => Decoder::Int4,
        Type::INT8 => Decoder::Int8,
        Type::OID => Decoder::Oid,
        Type::FLOAT4 => Decoder::Float4,
        Type::FLOAT8 => Decoder::Float8,
        Type::NUMERIC => Decoder::Numeric,
        Type::MONEY => Decoder::Money { scale: money_scale },
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::CHAR
        | Type::JSON
        | Type::XML
        | Type::UNKNOWN => Decoder::Text,
        Type::JSONB => Decoder::Jsonb,
        Type::UUID => Decoder::Uuid,
        Type::BYTEA => Decoder::Bytea,
        Type::DATE => Decoder::Date,
        Type::TIME => Decoder::Time,
        Type::TIMETZ => Decoder::Timetz,
        Type::TIMESTAMP => Decoder::Timestamp,
        Type::TIMESTAMPTZ => Decoder::Timestamptz,
        Type::INTERVAL => Decoder::Interval,
        _ => match ty.kind() {
            Kind::Enum(_) => Decoder::Text,
            Kind::Simple if ty.name() == "citext" => Decoder::Text,
            Kind::Array(elem) => match decoder(elem, money_scale)? {
                Decoder::Array(_) => return None,
                d => Decoder::Array(Box::new(d)),
            },
            _ => return None,
        },
    })
}

/// What a column reads as.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Natural {
    /// A known Arrow field.
    Field(Field),
    /// A `numeric` whose precision and scale come from the data: unconstrained, or wider
    /// than the 76 digits of `Decimal256`.
    ProbeNumeric,
    /// A type DVT cannot read (its name).
    Unsupported(String),
}

/// The precision and scale of a `numeric(p,s)` type modifier, or `None` when
/// unconstrained. Negative scales and scales above the precision (PostgreSQL 15) become
/// the plain decimal that holds the same values.
pub(super) fn numeric_typmod(typmod: i32) -> Option<(u32, u32)> {
    if typmod < 4 {
        return None;
    }
    let m = typmod - 4;
    let p = ((m >> 16) & 0xffff) as u32;
    // The scale is an 11-bit signed number.
    let raw = m & 0x7ff;
    let s = if raw & 0x400 != 0 { raw - 0x800 } else { raw };
    if s < 0 {
        Some((p + s.unsigned_abs(), 0))
    } else {
        Some((p.max(s as u32), s as u32))
    }
}

/// The Arrow field of a column of type `ty` (modifier `typmod`).
pub(super) fn natural(name: &str, ty: &Type, typmod: i32, money_scale: u32) -> Natural {
    let b = base(ty);
    let simple = |t: DataType| Natural::Field(field(name, t, None));
    let logical = |l: &str| Natural::Field(field(name, DataType::Utf8, Some(l)));
    match *b {
        Type::BOOL => simple(DataType::Boolean),
        Type::INT2 => simple(DataType::Int16),
        Type::INT4 => simple(DataType::Int32),
        Type::INT8 => simple(DataType::Int64),
        Type::OID => simple(DataType::UInt32),
        Type::FLOAT4 => simple(DataType::Float32),
        Type::FLOAT8 => simple(DataType::Float64),
        Type::NUMERIC => {
            // A domain's modifier lives on the domain, not the column: probe it.
            let typmod = if b == ty { typmod } else { -1 };
            match numeric_typmod(typmod).and_then(|(p, s)| decimal_type(p, s)) {
                Some(t) => simple(t),
                None => Natural::ProbeNumeric,
            }
        }
        Type::MONEY => Natural::Field(field(
            name,
            DataType::Decimal128(19, money_scale.min(18) as i8),
            Some("money"),
        )),
        // `char(n)` compares ignoring trailing spaces: filter pushdown must know.
        Type::BPCHAR => logical("bpchar"),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::CHAR | Type::UNKNOWN => {
            simple(DataType::Utf8)
        }
        Type::JSON => logical("json"),
        Type::JSONB => logical("jsonb"),
        Type::XML => logical("xml"),
        Type::UUID => logical("uuid"),
        Type::INTERVAL => logical("interval"),
        Type::TIMETZ => logical("timetz"),
        Type::BYTEA => simple(DataType::Binary),
        Type::DATE => simple(DataType::Date32),
        Type::TIME => simple(DataType::Time64(TimeUnit::Microsecond)),
        Type::TIMESTAMP => simple(DataType::Timestamp(TimeUnit::Microsecond, None)),
        Type::TIMESTAMPTZ => simple(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )),
        _ => match b.kind() {
            Kind::Enum(_) => simple(DataType::Utf8),
            Kind::Simple if b.name() == "citext" => logical("citext"),
            Kind::Array(elem) if !matches!(base(elem).kind(), Kind::Array(_)) => {
                match natural("item", elem, typmod, money_scale) {
                    // Lists keep only the element's Arrow type.
                    Natural::Field(f) => simple(DataType::List(
                        Field::new("item", f.data_type().clone(), true).into(),
                    )),
                    _ => Natural::Unsupported(ty.name().to_owned()),
                }
            }
            _ => Natural::Unsupported(ty.name().to_owned()),
        },
    }
}

/// The field of a probed `numeric` column, from its largest scale and integer digits
/// (`None` when it has no values): a decimal of exactly that size, or exact text
/// beyond 76 digits. Either way the field says `numeric`, so a PostgreSQL destination
/// creates an unconstrained `NUMERIC` again.
pub(super) fn probed_numeric(name: &str, scale: Option<i32>, int_digits: Option<i32>) -> Field {
    let s = scale.unwrap_or(0).max(0) as u32;
    let d = int_digits.unwrap_or(1).max(1) as u32;
    let ty = decimal_type(d + s, s).unwrap_or(DataType::Utf8);
    field(name, ty, Some(NUMERIC))
}

/// The field of a column DVT cannot read.
pub(super) fn unsupported(name: &str, type_name: &str) -> Field {
    unsupported_field(name, type_name)
}

fn be<const N: usize>(raw: &[u8], at: usize) -> Result<[u8; N], String> {
    raw.get(at..at + N)
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| "truncated binary value".to_owned())
}

fn i16_at(raw: &[u8], at: usize) -> Result<i16, String> {
    Ok(i16::from_be_bytes(be(raw, at)?))
}

fn i32_at(raw: &[u8], at: usize) -> Result<i32, String> {
    Ok(i32::from_be_bytes(be(raw, at)?))
}

fn i64_at(raw: &[u8], at: usize) -> Result<i64, String> {
    Ok(i64::from_be_bytes(be(raw, at)?))
}

fn text(raw: &[u8]) -> Result<Cow<'_, str>, String> {
    std::str::from_utf8(raw)
        .map(Cow::Borrowed)
        .map_err(|_| "the value is not valid UTF-8".to_owned())
}

/// Decodes one non-null binary value.
pub(super) fn decode<'a>(d: &Decoder, raw: &'a [u8]) -> Result<Cell<'a>, String> {
    Ok(match d {
        Decoder::Bool => Cell::Bool(*raw.first().ok_or("empty boolean")? != 0),
        Decoder::Int2 => Cell::Int(i16_at(raw, 0)?.into()),
        Decoder::Int4 => Cell::Int(i32_at(raw, 0)?.into()),
        Decoder::Int8 => Cell::Int(i64_at(raw, 0)?),
        Decoder::Oid => Cell::UInt(u32::from_be_bytes(be(raw, 0)?).into()),
        Decoder::Float4 => Cell::Float32(f32::from_be_bytes(be(raw, 0)?)),
        Decoder::Float8 => Cell::Float64(f64::from_be_bytes(be(raw, 0)?)),
        Decoder::Numeric => Cell::Decimal(numeric(raw)?),
        Decoder::Money { scale } => {
            let v = i64_at(raw, 0)?;
            Cell::Decimal(Decimal {
                negative: v < 0,
                digits: Cow::Owned(v.unsigned_abs().to_string()),
                scale: *scale,
            })
        }
        Decoder::Text => Cell::Text(text(raw)?),
        Decoder::Jsonb => match raw.split_first() {
            Some((1, rest)) => Cell::Text(text(rest)?),
            _ => return Err("unknown jsonb format version".to_owned()),
        },
        Decoder::Uuid => {
            let b: [u8; 16] = be(raw, 0)?;
            let h = crate::adapter::types::hex(&b);
            Cell::Text(Cow::Owned(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )))
        }
        Decoder::Bytea => Cell::Bytes(Cow::Borrowed(raw)),
        Decoder::Date => {
            let v = i32_at(raw, 0)?;
            match v {
                i32::MAX => return Err("date `infinity` has no value outside PostgreSQL".into()),
                i32::MIN => return Err("date `-infinity` has no value outside PostgreSQL".into()),
                _ => Cell::Date(
                    v.checked_add(PG_EPOCH_DAYS)
                        .ok_or("date out of range for Arrow")?,
                ),
            }
        }
        Decoder::Time => Cell::Time(i64_at(raw, 0)?),
        Decoder::Timetz => {
            let micros = i64_at(raw, 0)?;
            // The zone is in seconds west of UTC.
            let east = -i32_at(raw, 8)?;
            let sign = if east < 0 { '-' } else { '+' };
            let abs = east.unsigned_abs();
            let mut s = format!(
                "{}{sign}{:02}:{:02}",
                format_time(micros),
                abs / 3600,
                abs / 60 % 60
            );
            if abs % 60 != 0 {
                s.push_str(&format!(":{:02}", abs % 60));
            }
            Cell::Text(Cow::Owned(s))
        }
        Decoder::Timestamp | Decoder::Timestamptz => {
            let v = i64_at(raw, 0)?;
            if v == i64::MAX || v == i64::MIN {
                return Err(format!(
                    "timestamp `{}infinity` has no value outside PostgreSQL",
                    if v == i64::MIN { "-" } else { "" }
                ));
            }
            Cell::Timestamp {
                micros: v
                    .checked_add(PG_EPOCH_MICROS)
                    .ok_or("timestamp out of range for Arrow")?,
                zoned: *d == Decoder::Timestamptz,
            }
        }
        Decoder::Interval => Cell::Text(Cow::Owned(format_interval(
            i32_at(raw, 12)?,
            i32_at(raw, 8)?,
            i64_at(raw, 0)?,
        ))),
        Decoder::Array(elem) => Cell::List(array(elem, raw)?),
    })
}

fn array<'a>(elem: &Decoder, raw: &'a [u8]) -> Result<Vec<Cell<'a>>, String> {
    let ndim = i32_at(raw, 0)?;
    if ndim == 0 {
        return Ok(Vec::new());
    }
    if ndim != 1 {
        return Err(format!(
            "a {ndim}-dimensional array has no list form; only one-dimensional arrays are read"
        ));
    }
    let len = i32_at(raw, 12)?;
    let lower = i32_at(raw, 16)?;
    if lower != 1 {
        return Err(format!(
            "an array starting at index {lower} has no list form (lists start at 1)"
        ));
    }
    let mut at = 20;
    let mut items = Vec::with_capacity(len.max(0) as usize);
    for _ in 0..len {
        let n = i32_at(raw, at)?;
        at += 4;
        if n < 0 {
            items.push(Cell::Null);
            continue;
        }
        let end = at + n as usize;
        let value = raw.get(at..end).ok_or("truncated array")?;
        items.push(decode(elem, value)?);
        at = end;
    }
    Ok(items)
}

/// A `numeric` in PostgreSQL's binary form (base-10000 digits with a weight) as an exact
/// decimal of its display scale.
fn numeric(raw: &[u8]) -> Result<Decimal<'static>, String> {
    let ndigits = i16_at(raw, 0)?.max(0) as usize;
    let weight = i32::from(i16_at(raw, 2)?);
    let sign = u16::from_be_bytes(be(raw, 4)?);
    let dscale = u16::from_be_bytes(be(raw, 6)?) as usize;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("numeric `NaN` has no exact decimal value".to_owned()),
        0xD000 => return Err("numeric `Infinity` has no exact decimal value".to_owned()),
        0xF000 => return Err("numeric `-Infinity` has no exact decimal value".to_owned()),
        _ => return Err("unknown numeric sign".to_owned()),
    }
    let mut groups = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        groups.push(i16_at(raw, 8 + 2 * i)?);
    }
    // Groups cover 10000^weight down to 10000^(weight - ndigits + 1).
    let frac_groups = (ndigits as i32 - weight - 1)
        .max(0)
        .max(dscale.div_ceil(4) as i32) as usize;
    let mut digits = String::with_capacity(4 * (weight.max(0) as usize + 1 + frac_groups));
    let group_at = |e: i32| -> i16 {
        let idx = weight - e;
        if idx >= 0 && (idx as usize) < groups.len() {
            groups[idx as usize]
        } else {
            0
        }
    };
    for e in (0..=weight).rev() {
        digits.push_str(&format!("{:04}", group_at(e)));
    }
    for k in 1..=frac_groups as i32 {
        digits.push_str(&format!("{:04}", group_at(-k)));
    }
    let mut scale = 4 * frac_groups;
    // Keep exactly the display scale; the digits beyond it are zeros.
    while scale > dscale && digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    Ok(Decimal {
        negative: sign == 0x4000,
        digits: Cow::Owned(digits),
        scale: scale as u32,
    })
}

/// The SQL type of a column created for `field`.
pub(crate) fn sql_type(field: &Field) -> Option<String> {
    use DataType as T;
    let logical = logical_type(field);
    let ty = field.data_type();
    Some(match (ty, logical) {
        (T::Decimal128(..) | T::Decimal256(..) | T::Utf8 | T::LargeUtf8 | T::Utf8View, Some(l))
            if l == NUMERIC =>
        {
            "NUMERIC".into()
        }
        (T::Decimal128(..) | T::Decimal256(..), Some("money")) => "MONEY".into(),
        (T::Utf8 | T::LargeUtf8 | T::Utf8View, Some(l)) => match l {
            "json" => "JSON".into(),
            "jsonb" => "JSONB".into(),
            "uuid" => "UUID".into(),
            "interval" => "INTERVAL".into(),
            "timetz" => "TIMETZ".into(),
            "xml" => "XML".into(),
            // `citext` needs its extension on the destination: plain text keeps the
            // values (not the case-insensitive comparison).
            _ => "TEXT".into(),
        },
        _ => element_type(ty)?,
    })
}

fn element_type(ty: &DataType) -> Option<String> {
    use DataType as T;
    Some(match ty {
        T::Null | T::Utf8 | T::LargeUtf8 | T::Utf8View => "TEXT".into(),
        T::Boolean => "BOOLEAN".into(),
        T::Int8 | T::Int16 | T::UInt8 => "SMALLINT".into(),
        T::Int32 | T::UInt16 => "INTEGER".into(),
        T::Int64 | T::UInt32 => "BIGINT".into(),
        T::UInt64 => "NUMERIC(20,0)".into(),
        T::Float16 | T::Float32 => "REAL".into(),
        T::Float64 => "DOUBLE PRECISION".into(),
        T::Decimal32(p, s) | T::Decimal64(p, s) => format!("NUMERIC({p},{})", (*s).max(0)),
        T::Decimal128(p, s) | T::Decimal256(p, s) => {
            if *s < 0 {
                format!("NUMERIC({},0)", i32::from(*p) - i32::from(*s))
            } else {
                format!("NUMERIC({p},{s})")
            }
        }
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "BYTEA".into(),
        T::Date32 | T::Date64 => "DATE".into(),
        T::Timestamp(_, None) => "TIMESTAMP".into(),
        T::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        T::Time32(_) | T::Time64(_) => "TIME".into(),
        T::Duration(_) | T::Interval(_) => "INTERVAL".into(),
        T::List(f) | T::LargeList(f) | T::FixedSizeList(f, _) => {
            let inner = element_type(f.data_type())?;
            if inner.ends_with("[]") {
                inner
            } else {
                format!("{inner}[]")
            }
        }
        T::Dictionary(_, v) => element_type(v)?,
        _ => return None,
    })
}

/// `YYYY-MM-DD`, with years before 1 written as PostgreSQL's `BC` years (`-43` is
/// `0044-... BC`); the era goes after the whole value.
fn date_parts(days: i32) -> (String, bool) {
    let (y, m, d) = civil_from_days(days);
    if y >= 1 {
        (format!("{y:04}-{m:02}-{d:02}"), false)
    } else {
        (format!("{:04}-{m:02}-{d:02}", 1 - y), true)
    }
}

/// Appends a value as `COPY` text reads it (without CSV quoting).
pub(super) fn render(cell: &Cell<'_>, out: &mut String) -> Result<(), String> {
    match cell {
        Cell::Null => {}
        Cell::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Cell::Int(i) => out.push_str(&i.to_string()),
        Cell::UInt(u) => out.push_str(&u.to_string()),
        Cell::Float32(f) => float(f64::from(*f), &f.to_string(), out),
        Cell::Float64(f) => float(*f, &f.to_string(), out),
        Cell::Decimal(d) => out.push_str(&d.to_text()),
        Cell::Text(t) => {
            if t.contains('\0') {
                return Err("PostgreSQL text cannot hold NUL characters".to_owned());
            }
            out.push_str(t);
        }
        Cell::Bytes(b) => {
            out.push_str("\\x");
            out.push_str(&crate::adapter::types::hex(b));
        }
        Cell::Date(d) => {
            let (s, bc) = date_parts(*d);
            out.push_str(&s);
            if bc {
                out.push_str(" BC");
            }
        }
        Cell::Timestamp { micros, zoned } => {
            let (days, time) = split_micros(*micros);
            let (s, bc) = date_parts(days);
            out.push_str(&s);
            out.push(' ');
            out.push_str(&format_time(time));
            if *zoned {
                out.push_str("+00");
            }
            if bc {
                out.push_str(" BC");
            }
        }
        Cell::Time(t) => out.push_str(&format_time(*t)),
        Cell::List(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item {
                    Cell::Null => out.push_str("NULL"),
                    Cell::List(_) => render(item, out)?,
                    other => {
                        let mut s = String::new();
                        render(other, &mut s)?;
                        out.push('"');
                        for c in s.chars() {
                            if c == '"' || c == '\\' {
                                out.push('\\');
                            }
                            out.push(c);
                        }
                        out.push('"');
                    }
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

fn float(v: f64, shortest: &str, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("Infinity");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Infinity");
    } else {
        out.push_str(shortest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(negative: bool, weight: i16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(if negative { 0x4000u16 } else { 0 }.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn decodes_numerics_exactly_at_their_display_scale() {
        // 123456.789 = 12|3456|.7890
        let n = numeric(&numeric_bytes(false, 1, 3, &[12, 3456, 7890])).expect("numeric");
        assert_eq!(n.to_text(), "123456.789");
        // -0.001 = .0010 with weight -1
        let n = numeric(&numeric_bytes(true, -1, 3, &[10])).expect("numeric");
        assert_eq!(n.to_text(), "-0.001");
        // 0.00005 = .0000|5000 with weight -2
        let n = numeric(&numeric_bytes(false, -2, 5, &[5000])).expect("numeric");
        assert_eq!(n.to_text(), "0.00005");
        // 1.50 keeps its display scale.
        let n = numeric(&numeric_bytes(false, 0, 2, &[1, 5000])).expect("numeric");
        assert_eq!(n.to_text(), "1.50");
        // 10^40 = 1 followed by ten 0000 groups.
        let n = numeric(&numeric_bytes(false, 10, 0, &[1])).expect("numeric");
        assert_eq!(n.to_text(), format!("1{}", "0".repeat(40)));
        assert_eq!(
            numeric(&numeric_bytes(false, 0, 0, &[]))
                .expect("zero")
                .to_text(),
            "0"
        );
        let mut nan = numeric_bytes(false, 0, 0, &[]);
        nan[4] = 0xC0;
        assert!(numeric(&nan).expect_err("NaN").contains("NaN"));
    }

    #[test]
    fn numeric_modifiers_become_decimal_types() {
        let typmod = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        assert_eq!(numeric_typmod(typmod(10, 2)), Some((10, 2)));
        assert_eq!(numeric_typmod(typmod(3, -2)), Some((5, 0)));
        assert_eq!(numeric_typmod(typmod(2, 5)), Some((5, 5)));
        assert_eq!(numeric_typmod(-1), None);
        assert_eq!(
            probed_numeric("n", Some(10), Some(30)).data_type(),
            &DataType::Decimal256(40, 10)
        );
        assert_eq!(
            probed_numeric("n", Some(2), Some(5)).data_type(),
            &DataType::Decimal128(7, 2)
        );
        assert_eq!(
            probed_numeric("n", Some(0), Some(80)).data_type(),
            &DataType::Utf8
        );
    }

    #[test]
    fn renders_copy_text() {
        let mut s = String::new();
        render(
            &Cell::Date(crate::adapter::types::days_from_civil(-43, 3, 15).expect("date")),
            &mut s,
        )
        .expect("date");
        assert_eq!(s, "0044-03-15 BC");
        let mut s = String::new();
        render(
            &Cell::List(vec![
                Cell::Text("a\"b".into()),
                Cell::Null,
                Cell::Text("NULL".into()),
            ]),
            &mut s,
        )
        .expect("list");
        assert_eq!(s, r#"{"a\"b",NULL,"NULL"}"#);
        let mut s = String::new();
        render(&Cell::Float64(f64::NEG_INFINITY), &mut s).expect("float");
        assert_eq!(s, "-Infinity");
        assert!(render(&Cell::Text("a\0b".into()), &mut String::new()).is_err());
    }
}
