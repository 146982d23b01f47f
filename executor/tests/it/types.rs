//! The type matrix: each source (PostgreSQL, MariaDB, SQLite, and an SQLite table made by
//! `CREATE TABLE AS`) holds a table with one column per type, and every destination
//! receives it through the federated path (`FederationEngine::run_into`). Each column
//! must arrive with the source's values, compared in the canonical text form of its
//! [`Kind`], or the run must fail with the expected DVT code naming the column.
//!
//! Canonical forms, read back through each database's own text rendering:
//!
//! | kind | canonical form |
//! |---|---|
//! | integers | decimal digits |
//! | floats | Rust's shortest form of the value (single-precision sources as `f32`) |
//! | decimals, money | the exact value: no trailing zeros after the point, `-0` is `0` |
//! | booleans | `true` / `false` |
//! | dates | `YYYY-MM-DD` |
//! | times | `HH:MM:SS.ffffff` |
//! | timestamps | `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC for zoned ones |
//! | text, uuid | the exact text (`char(n)` without trailing spaces) |
//! | bytes | lowercase hexadecimal |
//! | JSON, arrays | JSON with sorted keys (arrays as JSON arrays) |
//! | intervals | ISO 8601 (`P1Y2M3DT4H5M6.5S`); on PostgreSQL, its own text of that value |
//!
//! SQLite destinations are also checked for the storage class of each value (numbers
//! stored as numbers, bytes as blobs, text as text).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use dvt_core::dialect::Relation;
use dvt_core::seed::{SeedOptions, parse_seed};
use dvt_executor::adapter::{Adapter, TableDdl};
use dvt_executor::federation::{Compute, FederatedQuery, FederationEngine, RemoteInput};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::seed::{seed_column_types, seed_stream};
use dvt_executor::staging::Staging;
use futures::TryStreamExt;

use crate::common::{mysql_target, pg_target, sqlite_target, unique_name, with_cleanup};

const ROWS: usize = 6;

/// How a column's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    F32,
    F64,
    Dec,
    Money,
    Bool,
    Date,
    Time,
    Ts,
    Tstz,
    Text,
    Char,
    Bytes,
    Json,
    Array,
    Uuid,
    Interval,
    /// A 10 MB text in row 1.
    Long,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Pg,
    Maria,
    Lite,
}

const DESTINATIONS: [Db; 3] = [Db::Pg, Db::Maria, Db::Lite];

impl Db {
    fn target(self) -> &'static str {
        match self {
            Db::Pg => "pg",
            Db::Maria => "maria",
            Db::Lite => "lite",
        }
    }
}

/// One source column: its SQL type, the literal and canonical value of each row (`None`
/// is NULL), and the code a run into each destination must fail with (`None`: the
/// values arrive).
struct Col {
    name: &'static str,
    sql_type: &'static str,
    kind: Kind,
    values: Vec<(Option<String>, Option<String>)>,
    fails: [Option<&'static str>; 3],
}

impl Col {
    fn fails_into(&self, db: Db) -> Option<&'static str> {
        self.fails[DESTINATIONS.iter().position(|d| *d == db).expect("known")]
    }
}

/// A column whose literals follow from its canonical values.
fn col(
    src: Db,
    name: &'static str,
    sql_type: &'static str,
    kind: Kind,
    values: &[Option<&str>],
) -> Col {
    assert_eq!(values.len(), ROWS, "{name}");
    Col {
        name,
        sql_type,
        kind,
        values: values
            .iter()
            .map(|v| (v.map(|v| literal(src, kind, v)), v.map(str::to_owned)))
            .collect(),
        fails: [None; 3],
    }
}

/// A column with explicit literals and canonical values.
fn col_lit(
    name: &'static str,
    sql_type: &'static str,
    kind: Kind,
    values: &[Option<(&str, &str)>],
) -> Col {
    assert_eq!(values.len(), ROWS, "{name}");
    Col {
        name,
        sql_type,
        kind,
        values: values
            .iter()
            .map(|v| match v {
                Some((lit, canon)) => (Some((*lit).to_owned()), Some((*canon).to_owned())),
                None => (None, None),
            })
            .collect(),
        fails: [None; 3],
    }
}

/// Rows (from 0) whose value reads as NULL whatever the literal.
fn reads_null(mut c: Col, rows: &[usize]) -> Col {
    for &r in rows {
        c.values[r].1 = None;
    }
    c
}

fn fails(
    mut c: Col,
    pg: Option<&'static str>,
    maria: Option<&'static str>,
    lite: Option<&'static str>,
) -> Col {
    c.fails = [pg, maria, lite];
    c
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL literal of a canonical value on a source.
fn literal(src: Db, kind: Kind, canon: &str) -> String {
    match kind {
        Kind::Int | Kind::F32 | Kind::F64 | Kind::Dec | Kind::Money => canon.to_owned(),
        Kind::Bool => match (src, canon) {
            (Db::Pg, v) => v.to_owned(),
            (_, "true") => "1".into(),
            (_, _) => "0".into(),
        },
        Kind::Bytes => match src {
            Db::Pg => format!("'\\x{canon}'::bytea"),
            _ => format!("X'{canon}'"),
        },
        _ => quote(canon),
    }
}

/// The 10 MB value of `Long` columns and its literal on each source.
fn long_value() -> String {
    "ab\"é\n".repeat(LONG_REPEAT)
}

const LONG_REPEAT: usize = 1_750_000;

fn long_literal(src: Db) -> String {
    match src {
        Db::Pg => format!("repeat('ab\"é' || chr(10), {LONG_REPEAT})"),
        Db::Maria => format!("repeat(concat('ab\"é', char(10)), {LONG_REPEAT})"),
        Db::Lite => format!("replace(hex(zeroblob({LONG_REPEAT})), '00', 'ab\"é' || char(10))"),
    }
}

fn long_col(src: Db, name: &'static str, sql_type: &'static str) -> Col {
    let mut values = vec![(Some(long_literal(src)), Some(long_value()))];
    values.push((Some(quote("short")), Some("short".into())));
    values.extend((2..ROWS).map(|_| (None, None)));
    Col {
        name,
        sql_type,
        kind: Kind::Long,
        values,
        fails: [None; 3],
    }
}

const TEXTS: [Option<&str>; ROWS] = [
    Some(""),
    Some("plain"),
    Some("He said \"hi\", it's a \\path\\,\nnew line\r\ttab"),
    None,
    Some("żółć 日本 😀"),
    Some("NULL"),
];

fn pg_columns() -> Vec<Col> {
    let p = Db::Pg;
    let wide_num = "-1234567890123456789012345678.901234567890";
    let huge = format!("{}.5", "9".repeat(79));
    vec![
        col(
            p,
            "c_smallint",
            "smallint",
            Kind::Int,
            &[
                Some("0"),
                Some("-32768"),
                Some("32767"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        col(
            p,
            "c_int",
            "integer",
            Kind::Int,
            &[
                Some("0"),
                Some("-2147483648"),
                Some("2147483647"),
                None,
                Some("42"),
                Some("-42"),
            ],
        ),
        col(
            p,
            "c_bigint",
            "bigint",
            Kind::Int,
            &[
                Some("0"),
                Some("-9223372036854775808"),
                Some("9223372036854775807"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        col(
            p,
            "c_real",
            "real",
            Kind::F32,
            &[
                Some("0"),
                Some("-1.5"),
                Some("3.4028235e38"),
                None,
                Some("3.14"),
                Some("1e-30"),
            ],
        ),
        col(
            p,
            "c_double",
            "double precision",
            Kind::F64,
            &[
                Some("0"),
                Some("-1.5"),
                Some("1.7976931348623157e308"),
                None,
                Some("0.1"),
                Some("2.2250738585072014e-308"),
            ],
        ),
        col(
            p,
            "c_numeric",
            "numeric(12,4)",
            Kind::Dec,
            &[
                Some("0"),
                Some("-12345678.1234"),
                Some("99999999.9999"),
                None,
                Some("0.0001"),
                Some("1.5"),
            ],
        ),
        // 17 digits: more than a REAL holds, so SQLite keeps it as text.
        col(
            p,
            "c_numeric17",
            "numeric(17,2)",
            Kind::Dec,
            &[
                Some("123456789012345.67"),
                Some("-0.01"),
                None,
                Some("99999999999999.99"),
                Some("0"),
                Some("1"),
            ],
        ),
        col(
            p,
            "c_numeric_u",
            "numeric",
            Kind::Dec,
            &[
                Some("0"),
                Some(wide_num),
                Some("0.00000000000000000001"),
                None,
                Some("12345678901234567890123456789012345678901"),
                Some("1.50"),
            ],
        ),
        fails(
            col(
                p,
                "c_numeric_huge",
                "numeric",
                Kind::Dec,
                &[Some("1"), Some(&huge), None, None, Some("-0.5"), Some("0")],
            ),
            None,
            Some("DVT304"),
            None,
        ),
        col(
            p,
            "c_bool",
            "boolean",
            Kind::Bool,
            &[
                Some("true"),
                Some("false"),
                None,
                Some("true"),
                Some("false"),
                Some("true"),
            ],
        ),
        col(
            p,
            "c_date",
            "date",
            Kind::Date,
            &[
                Some("1970-01-01"),
                Some("1900-01-01"),
                Some("9999-12-31"),
                None,
                Some("2000-02-29"),
                Some("0001-01-01"),
            ],
        ),
        col(
            p,
            "c_time",
            "time",
            Kind::Time,
            &[
                Some("00:00:00"),
                Some("23:59:59.999999"),
                Some("12:34:56.5"),
                None,
                Some("24:00:00"),
                Some("00:00:00.000001"),
            ],
        ),
        col(
            p,
            "c_ts",
            "timestamp",
            Kind::Ts,
            &[
                Some("1970-01-01 00:00:00"),
                Some("1969-07-20 20:17:40.5"),
                Some("9999-12-31 23:59:59.999999"),
                None,
                Some("1900-01-01 00:00:00.000001"),
                Some("2024-02-29 12:00:00"),
            ],
        ),
        col_lit(
            "c_tstz",
            "timestamptz",
            Kind::Tstz,
            &[
                Some(("'2024-03-10 12:00:00+05:30'", "2024-03-10 06:30:00")),
                Some(("'1969-12-31 23:59:59.5-08:00'", "1970-01-01 07:59:59.5")),
                Some(("'1900-01-01 00:00:00+00'", "1900-01-01 00:00:00")),
                None,
                Some(("'9999-12-31 12:00:00+00'", "9999-12-31 12:00:00")),
                Some((
                    "'2000-01-01 00:00:00.000001+01'",
                    "1999-12-31 23:00:00.000001",
                )),
            ],
        ),
        col(p, "c_text", "text", Kind::Text, &TEXTS),
        col(
            p,
            "c_varchar",
            "varchar(20)",
            Kind::Text,
            &[
                Some("abc"),
                Some(""),
                None,
                Some("ünïcödé"),
                Some("a,b"),
                Some("\\N"),
            ],
        ),
        col(
            p,
            "c_char",
            "char(5)",
            Kind::Char,
            &[
                Some("ab"),
                Some(""),
                None,
                Some("abcde"),
                Some(" x"),
                Some("é"),
            ],
        ),
        col(
            p,
            "c_json",
            "json",
            Kind::Json,
            &[
                Some(r#"{"b": 1, "a": [1, 2.5]}"#),
                Some("[]"),
                Some("null"),
                None,
                Some(r#""str\"q""#),
                Some("1.5"),
            ],
        ),
        col(
            p,
            "c_jsonb",
            "jsonb",
            Kind::Json,
            &[
                Some(r#"{"b": 1, "a": [1, 2.5]}"#),
                Some("[]"),
                Some("null"),
                None,
                Some(r#""str\"q""#),
                Some("1.5"),
            ],
        ),
        col(
            p,
            "c_uuid",
            "uuid",
            Kind::Uuid,
            &[
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                None,
                Some("00000000-0000-0000-0000-000000000000"),
                Some("ffffffff-ffff-ffff-ffff-ffffffffffff"),
                Some("123e4567-e89b-12d3-a456-426614174000"),
                None,
            ],
        ),
        col_lit(
            "c_int_arr",
            "integer[]",
            Kind::Array,
            &[
                Some(("'{1,2,3}'", "[1,2,3]")),
                Some(("'{}'", "[]")),
                None,
                Some(("'{NULL,-1}'", "[null,-1]")),
                Some(("'{2147483647}'", "[2147483647]")),
                Some(("'{0}'", "[0]")),
            ],
        ),
        col_lit(
            "c_text_arr",
            "text[]",
            Kind::Array,
            &[
                Some(("'{\"a\",\"b c\"}'", r#"["a","b c"]"#)),
                Some(("'{}'", "[]")),
                None,
                Some((
                    r#"'{"quote\"d","back\\slash","NULL",NULL,""}'"#,
                    r#"["quote\"d","back\\slash","NULL",null,""]"#,
                )),
                Some(("'{\"ü\"}'", r#"["ü"]"#)),
                Some(("'{\",\"}'", r#"[","]"#)),
            ],
        ),
        col(
            p,
            "c_citext",
            "citext",
            Kind::Text,
            &[
                Some("MiXeD"),
                None,
                Some(""),
                Some("ß"),
                Some("x"),
                Some("Y"),
            ],
        ),
        col_lit(
            "c_money",
            "money",
            Kind::Money,
            &[
                Some(("12.34", "12.34")),
                Some(("-0.01", "-0.01")),
                Some(("'92233720368547758.07'", "92233720368547758.07")),
                None,
                Some(("0", "0")),
                Some(("1000000", "1000000")),
            ],
        ),
        col_lit(
            "c_interval",
            "interval",
            Kind::Interval,
            &[
                Some(("'1 year 2 mons 3 days 04:05:06.5'", "P1Y2M3DT4H5M6.5S")),
                Some(("'0'", "PT0S")),
                Some(("'-1 days'", "P-1D")),
                None,
                Some(("'-1 year -2 mons +3 days -04:05:06'", "P-1Y-2M3DT-4H-5M-6S")),
                Some(("'00:00:00.000001'", "PT0.000001S")),
            ],
        ),
        col(
            p,
            "c_bytea",
            "bytea",
            Kind::Bytes,
            &[
                Some(""),
                Some("00ff10"),
                None,
                Some("deadbeef"),
                Some("0a0d22275c2c"),
                Some("5c4e"),
            ],
        ),
        col(
            p,
            "c_enum",
            "mood",
            Kind::Text,
            &[
                Some("happy"),
                Some("sad"),
                None,
                Some("ok"),
                Some("happy"),
                Some("sad"),
            ],
        ),
        long_col(p, "c_long", "text"),
        // Values no destination can take, or DVT cannot read.
        fails(
            col_lit(
                "c_float_special",
                "double precision",
                Kind::F64,
                &[
                    Some(("'NaN'", "NaN")),
                    Some(("'Infinity'", "inf")),
                    Some(("'-Infinity'", "-inf")),
                    None,
                    Some(("1", "1")),
                    Some(("2", "2")),
                ],
            ),
            None,
            Some("DVT304"),
            Some("DVT304"),
        ),
        fails(
            col_lit(
                "c_date_far",
                "date",
                Kind::Date,
                &[
                    Some(("'20000-01-01'", "20000-01-01")),
                    Some(("'0044-03-15 BC'", "0044-03-15 BC")),
                    None,
                    None,
                    Some(("'2024-01-01'", "2024-01-01")),
                    None,
                ],
            ),
            None,
            Some("DVT304"),
            Some("DVT304"),
        ),
        fails(
            col_lit(
                "c_numeric_nan",
                "numeric",
                Kind::Dec,
                &[Some(("'NaN'", "")), None, None, None, None, None],
            ),
            Some("DVT303"),
            Some("DVT303"),
            Some("DVT303"),
        ),
        fails(
            col_lit(
                "c_date_inf",
                "date",
                Kind::Date,
                &[Some(("'infinity'", "")), None, None, None, None, None],
            ),
            Some("DVT303"),
            Some("DVT303"),
            Some("DVT303"),
        ),
        fails(
            col_lit(
                "c_matrix",
                "integer[]",
                Kind::Array,
                &[Some(("'{{1,2},{3,4}}'", "")), None, None, None, None, None],
            ),
            Some("DVT303"),
            Some("DVT303"),
            Some("DVT303"),
        ),
    ]
}

fn maria_columns() -> Vec<Col> {
    let m = Db::Maria;
    let wide = "12345678901234567890123456789012345.123456789012345678901234567891";
    vec![
        col(
            m,
            "c_tinyint",
            "tinyint",
            Kind::Int,
            &[
                Some("0"),
                Some("-128"),
                Some("127"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        col(
            m,
            "c_utinyint",
            "tinyint unsigned",
            Kind::Int,
            &[
                Some("0"),
                Some("255"),
                Some("1"),
                None,
                Some("128"),
                Some("7"),
            ],
        ),
        col(
            m,
            "c_smallint",
            "smallint",
            Kind::Int,
            &[
                Some("0"),
                Some("-32768"),
                Some("32767"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        col(
            m,
            "c_mediumint",
            "mediumint",
            Kind::Int,
            &[
                Some("0"),
                Some("-8388608"),
                Some("8388607"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        col(
            m,
            "c_int",
            "int",
            Kind::Int,
            &[
                Some("0"),
                Some("-2147483648"),
                Some("2147483647"),
                None,
                Some("42"),
                Some("-42"),
            ],
        ),
        col(
            m,
            "c_uint",
            "int unsigned",
            Kind::Int,
            &[
                Some("0"),
                Some("4294967295"),
                Some("1"),
                None,
                Some("2"),
                Some("3"),
            ],
        ),
        col(
            m,
            "c_bigint",
            "bigint",
            Kind::Int,
            &[
                Some("0"),
                Some("-9223372036854775808"),
                Some("9223372036854775807"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        fails(
            col(
                m,
                "c_ubigint",
                "bigint unsigned",
                Kind::Int,
                &[
                    Some("0"),
                    Some("18446744073709551615"),
                    Some("1"),
                    None,
                    Some("2"),
                    Some("3"),
                ],
            ),
            None,
            None,
            Some("DVT304"),
        ),
        col(
            m,
            "c_bool",
            "tinyint(1)",
            Kind::Bool,
            &[
                Some("true"),
                Some("false"),
                None,
                Some("true"),
                Some("false"),
                Some("true"),
            ],
        ),
        col(
            m,
            "c_tiny1_wide",
            "tinyint(1)",
            Kind::Int,
            &[
                Some("0"),
                Some("1"),
                Some("2"),
                None,
                Some("-5"),
                Some("127"),
            ],
        ),
        col(
            m,
            "c_year",
            "year",
            Kind::Int,
            &[
                Some("1901"),
                Some("2155"),
                None,
                Some("2024"),
                Some("1970"),
                Some("2000"),
            ],
        ),
        col(
            m,
            "c_float",
            "float",
            Kind::F32,
            &[
                Some("0"),
                Some("-1.5"),
                Some("3.14"),
                None,
                Some("1e-30"),
                Some("123456.7"),
            ],
        ),
        col(
            m,
            "c_double",
            "double",
            Kind::F64,
            &[
                Some("0"),
                Some("-1.5"),
                Some("1.7976931348623157e308"),
                None,
                Some("0.1"),
                Some("2.2250738585072014e-308"),
            ],
        ),
        col(
            m,
            "c_decimal",
            "decimal(12,4)",
            Kind::Dec,
            &[
                Some("0"),
                Some("-12345678.1234"),
                Some("99999999.9999"),
                None,
                Some("0.0001"),
                Some("1.5"),
            ],
        ),
        col(
            m,
            "c_decimal_wide",
            "decimal(65,30)",
            Kind::Dec,
            &[
                Some("0"),
                Some(wide),
                Some("-0.000000000000000000000000000001"),
                None,
                Some("1"),
                Some("-1.5"),
            ],
        ),
        // Zero dates (and dates with a zero month or day) read as NULL.
        reads_null(
            col(
                m,
                "c_date",
                "date",
                Kind::Date,
                &[
                    Some("1970-01-01"),
                    Some("1000-01-01"),
                    Some("9999-12-31"),
                    None,
                    Some("0000-00-00"),
                    Some("2024-00-15"),
                ],
            ),
            &[4, 5],
        ),
        reads_null(
            col(
                m,
                "c_datetime",
                "datetime(6)",
                Kind::Ts,
                &[
                    Some("1970-01-01 00:00:00"),
                    Some("1969-07-20 20:17:40.5"),
                    Some("9999-12-31 23:59:59.999999"),
                    None,
                    Some("0000-00-00 00:00:00"),
                    Some("0001-01-01 00:00:00.000001"),
                ],
            ),
            &[4],
        ),
        // TIMESTAMP stores instants: DVT's sessions write and read them in UTC.
        col(
            m,
            "c_timestamp",
            "timestamp(6) null",
            Kind::Tstz,
            &[
                Some("1970-01-01 00:00:01"),
                Some("2038-01-19 03:14:07.999999"),
                None,
                Some("2024-03-10 06:30:00.5"),
                Some("2000-01-01 00:00:00"),
                None,
            ],
        ),
        col(
            m,
            "c_time",
            "time(6)",
            Kind::Time,
            &[
                Some("00:00:00"),
                Some("23:59:59.999999"),
                Some("12:34:56.5"),
                None,
                Some("00:00:00.000001"),
                Some("01:02:03"),
            ],
        ),
        col(m, "c_text", "text", Kind::Text, &TEXTS),
        col(
            m,
            "c_varchar",
            "varchar(20)",
            Kind::Text,
            &[
                Some("abc"),
                Some(""),
                None,
                Some("ünïcödé"),
                Some("a,b"),
                Some("\\N"),
            ],
        ),
        col(
            m,
            "c_char",
            "char(5)",
            Kind::Char,
            &[
                Some("ab"),
                Some(""),
                None,
                Some("abcde"),
                Some(" x"),
                Some("é"),
            ],
        ),
        col(
            m,
            "c_json",
            "json",
            Kind::Json,
            &[
                Some(r#"{"b": 1, "a": [1, 2.5]}"#),
                Some("[]"),
                Some("null"),
                None,
                Some(r#""str\"q""#),
                Some("1.5"),
            ],
        ),
        col(
            m,
            "c_blob",
            "blob",
            Kind::Bytes,
            &[
                Some(""),
                Some("00ff10"),
                None,
                Some("deadbeef"),
                Some("0a0d22275c2c"),
                Some("5c4e"),
            ],
        ),
        col(
            m,
            "c_enum",
            "enum('a','b c','d''e')",
            Kind::Text,
            &[
                Some("a"),
                Some("b c"),
                None,
                Some("d'e"),
                Some("a"),
                Some("a"),
            ],
        ),
        col(
            m,
            "c_set",
            "set('x','y','z')",
            Kind::Text,
            &[
                Some("x,z"),
                Some(""),
                None,
                Some("y"),
                Some("x,y,z"),
                Some("x"),
            ],
        ),
        col(
            m,
            "c_uuid",
            "uuid",
            Kind::Uuid,
            &[
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                None,
                Some("00000000-0000-0000-0000-000000000000"),
                Some("ffffffff-ffff-ffff-ffff-ffffffffffff"),
                Some("123e4567-e89b-12d3-a456-426614174000"),
                None,
            ],
        ),
        long_col(m, "c_long", "longtext"),
        fails(
            col_lit(
                "c_duration",
                "time",
                Kind::Time,
                &[
                    Some(("'838:59:59'", "")),
                    Some(("'-01:00:00'", "")),
                    None,
                    None,
                    None,
                    None,
                ],
            ),
            Some("DVT303"),
            Some("DVT303"),
            Some("DVT303"),
        ),
    ]
}

fn lite_columns() -> Vec<Col> {
    let l = Db::Lite;
    vec![
        col(
            l,
            "c_int",
            "INTEGER",
            Kind::Int,
            &[
                Some("0"),
                Some("-9223372036854775808"),
                Some("9223372036854775807"),
                None,
                Some("1"),
                Some("-1"),
            ],
        ),
        col(
            l,
            "c_real",
            "REAL",
            Kind::F64,
            &[
                Some("0"),
                Some("-1.5"),
                Some("1.7976931348623157e308"),
                None,
                Some("0.1"),
                Some("2.2250738585072014e-308"),
            ],
        ),
        col(
            l,
            "c_decimal",
            "DECIMAL(12,4)",
            Kind::Dec,
            &[
                Some("0"),
                Some("-12345678.1234"),
                Some("99999999.9999"),
                None,
                Some("0.0001"),
                Some("1.5"),
            ],
        ),
        col_lit(
            "c_dec_text",
            "DECIMAL_TEXT(40,10)",
            Kind::Dec,
            &[
                Some((
                    "'123456789012345678901234567890.0123456789'",
                    "123456789012345678901234567890.0123456789",
                )),
                Some(("'-0.0000000001'", "-0.0000000001")),
                None,
                Some(("'0'", "0")),
                Some(("'1.5'", "1.5")),
                Some(("'99'", "99")),
            ],
        ),
        col(
            l,
            "c_numeric",
            "NUMERIC",
            Kind::F64,
            &[
                Some("1"),
                Some("2.5"),
                None,
                Some("-3"),
                Some("0.1"),
                Some("100"),
            ],
        ),
        col(
            l,
            "c_bool",
            "BOOLEAN",
            Kind::Bool,
            &[
                Some("true"),
                Some("false"),
                None,
                Some("true"),
                Some("false"),
                Some("true"),
            ],
        ),
        col(
            l,
            "c_date",
            "DATE",
            Kind::Date,
            &[
                Some("1970-01-01"),
                Some("1900-01-01"),
                Some("9999-12-31"),
                None,
                Some("2000-02-29"),
                Some("0001-01-01"),
            ],
        ),
        col(
            l,
            "c_ts",
            "DATETIME",
            Kind::Ts,
            &[
                Some("1970-01-01 00:00:00"),
                Some("1969-07-20 20:17:40.5"),
                Some("9999-12-31 23:59:59.999999"),
                None,
                Some("1900-01-01 00:00:00.000001"),
                Some("2024-02-29 12:00:00"),
            ],
        ),
        col_lit(
            "c_tstz",
            "TIMESTAMPTZ",
            Kind::Tstz,
            &[
                Some(("'2024-03-10 12:00:00+05:30'", "2024-03-10 06:30:00")),
                Some(("'1969-12-31 23:59:59.5-08:00'", "1970-01-01 07:59:59.5")),
                Some(("'1900-01-01 00:00:00Z'", "1900-01-01 00:00:00")),
                None,
                Some(("'9999-12-31 12:00:00+00:00'", "9999-12-31 12:00:00")),
                Some((
                    "'2000-01-01 00:00:00.000001+01:00'",
                    "1999-12-31 23:00:00.000001",
                )),
            ],
        ),
        col(
            l,
            "c_time",
            "TIME",
            Kind::Time,
            &[
                Some("00:00:00"),
                Some("23:59:59.999999"),
                Some("12:34:56.5"),
                None,
                Some("00:00:00.000001"),
                Some("01:02:03"),
            ],
        ),
        col(l, "c_text", "TEXT", Kind::Text, &TEXTS),
        col(
            l,
            "c_varchar",
            "VARCHAR(20)",
            Kind::Text,
            &[
                Some("abc"),
                Some(""),
                None,
                Some("ünïcödé"),
                Some("a,b"),
                Some("\\N"),
            ],
        ),
        col(
            l,
            "c_json",
            "JSON",
            Kind::Json,
            &[
                Some(r#"{"b": 1, "a": [1, 2.5]}"#),
                Some("[]"),
                Some("null"),
                None,
                Some(r#""str\"q""#),
                Some("{}"),
            ],
        ),
        col(
            l,
            "c_blob",
            "BLOB",
            Kind::Bytes,
            &[
                Some(""),
                Some("00ff10"),
                None,
                Some("deadbeef"),
                Some("0a0d22275c2c"),
                Some("5c4e"),
            ],
        ),
        col(
            l,
            "c_untyped",
            "",
            Kind::Int,
            &[
                Some("1"),
                Some("-2"),
                None,
                Some("3"),
                Some("4"),
                Some("9007199254740993"),
            ],
        ),
        long_col(l, "c_long", "TEXT"),
    ]
}

/// Columns of the `CREATE TABLE AS` copy of the SQLite source: expressions have no
/// declared type, so DVT reads them by their values.
fn ctas_columns() -> Vec<(Col, &'static str)> {
    let by_name = |name: &str| {
        lite_columns()
            .into_iter()
            .find(|c| c.name == name)
            .expect("column")
    };
    vec![
        (by_name("c_int"), "c_int + 0"),
        (by_name("c_real"), "c_real + 0"),
        (by_name("c_numeric"), "c_numeric"),
        (by_name("c_date"), "c_date || ''"),
        (by_name("c_ts"), "c_ts || ''"),
        (by_name("c_tstz"), "c_tstz || ''"),
        (by_name("c_time"), "c_time || ''"),
        (by_name("c_text"), "c_text || ''"),
        (by_name("c_blob"), "c_blob"),
    ]
}

/// The canonical form of a value as a database renders it.
fn canonical(kind: Kind, text: &str) -> String {
    match kind {
        Kind::Int => text.trim().parse::<i128>().expect("integer").to_string(),
        Kind::F32 => (text.trim().parse::<f64>().expect("float") as f32).to_string(),
        Kind::F64 => text.trim().parse::<f64>().expect("float").to_string(),
        Kind::Dec | Kind::Money => canonical_decimal(text),
        Kind::Bool => match text.trim() {
            "t" | "true" | "1" => "true".into(),
            "f" | "false" | "0" => "false".into(),
            other => panic!("not a boolean: {other}"),
        },
        Kind::Date | Kind::Text | Kind::Uuid | Kind::Interval | Kind::Long => text.to_owned(),
        Kind::Char => text.trim_end_matches(' ').to_owned(),
        Kind::Time => canonical_time(text),
        Kind::Ts | Kind::Tstz => {
            let t = text.trim();
            let t = t
                .strip_suffix("+00:00")
                .or_else(|| t.strip_suffix("+00"))
                .or_else(|| t.strip_suffix('Z'))
                .unwrap_or(t);
            let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
            format!("{date} {}", canonical_time(time))
        }
        Kind::Bytes => text.to_ascii_lowercase(),
        Kind::Json | Kind::Array => sorted_json(&serde_json::from_str(text).expect("json")),
    }
}

fn canonical_time(text: &str) -> String {
    let (hms, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let parts: Vec<u32> = hms
        .split(':')
        .map(|p| p.parse().expect("time part"))
        .collect();
    let mut micros = frac.to_owned();
    micros.truncate(6);
    while micros.len() < 6 {
        micros.push('0');
    }
    format!("{:02}:{:02}:{:02}.{micros}", parts[0], parts[1], parts[2])
}

/// An exact decimal without exponent, leading zeros or trailing fractional zeros.
fn canonical_decimal(text: &str) -> String {
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().expect("exponent")),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let (int, frac) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_owned(),
            digits[point as usize..].to_owned(),
        )
    };
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let mut out = String::new();
    if negative && !(int.is_empty() && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn sorted_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, sorted_json(v))).collect();
            let body = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).expect("key")))
                .collect::<Vec<_>>()
                .join(",");
            format!("{{{body}}}")
        }
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(sorted_json).collect::<Vec<_>>().join(",")
            )
        }
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.as_i64().is_none() && n.as_u64().is_none() => f.to_string(),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The SQL that renders column `c` of a destination as text (SQLite: with its storage
/// class, `class:value`).
fn read_expr(db: Db, kind: Kind, c: &str) -> String {
    match db {
        Db::Pg => match kind {
            Kind::Tstz => format!("({c} at time zone 'UTC')::text"),
            Kind::Bytes => format!("encode({c}, 'hex')"),
            Kind::Array => format!("array_to_json({c})::text"),
            Kind::Money => format!("{c}::numeric::text"),
            _ => format!("{c}::text"),
        },
        Db::Maria => match kind {
            Kind::Bytes => format!("lower(hex({c}))"),
            Kind::F32 => format!("cast(cast({c} as double) as char)"),
            _ => format!("cast({c} as char)"),
        },
        Db::Lite => {
            let inner = match kind {
                Kind::F32 | Kind::F64 => format!("printf('%!.17g', {c})"),
                Kind::Dec | Kind::Money => format!(
                    "CASE typeof({c}) WHEN 'real' THEN printf('%.15g', {c}) ELSE cast({c} as text) END"
                ),
                Kind::Bytes => format!("lower(hex({c}))"),
                _ => format!("cast({c} as text)"),
            };
            format!("typeof({c}) || ':' || coalesce({inner}, '')")
        }
    }
}

/// The storage classes a SQLite destination may hold a kind's values in.
fn storage_classes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Int | Kind::Bool => &["integer"],
        Kind::F32 | Kind::F64 => &["real"],
        Kind::Dec | Kind::Money => &["real", "integer", "text"],
        Kind::Bytes => &["blob"],
        _ => &["text"],
    }
}

/// Every cell of a result as text (`None` for NULL).
async fn text_rows(adapter: &Arc<dyn Adapter>, sql: &str) -> Vec<Vec<Option<String>>> {
    let stream = adapter
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches: Vec<RecordBatch> = stream
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8).expect("text"))
            .collect::<Vec<_>>();
        for row in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| {
                        let s = c.as_string::<i32>();
                        s.is_valid(row).then(|| s.value(row).to_owned())
                    })
                    .collect(),
            );
        }
    }
    out
}

fn cut(s: &str) -> String {
    if s.len() > 120 {
        format!(
            "{}... ({} bytes)",
            &s[..s.floor_char_boundary(120)],
            s.len()
        )
    } else {
        s.to_owned()
    }
}

struct Matrix {
    schema: String,
    registry: Arc<TargetRegistry>,
    _dir: tempfile::TempDir,
    engine: FederationEngine,
}

async fn matrix() -> Matrix {
    matrix_on(false).await
}

/// The matrix on the local engine, or on an in-process cluster of two executors (which
/// extract, compute and load the destinations themselves).
async fn matrix_on(cluster: bool) -> Matrix {
    let schema = unique_name();
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = BTreeMap::from([
        ("pg".to_owned(), pg_target("pg", &schema)),
        ("maria".to_owned(), mysql_target("maria", &schema)),
        (
            "lite".to_owned(),
            sqlite_target("lite", &dir.path().join("lite.db")),
        ),
    ]);
    let registry = Arc::new(TargetRegistry::new(targets.clone()));
    let pg = registry.adapter("pg").await.expect("pg");
    let maria = registry.adapter("maria").await.expect("maria");
    pg.execute(&format!("create schema \"{schema}\""))
        .await
        .expect("pg schema");
    maria
        .execute(&format!("create database `{schema}`"))
        .await
        .expect("maria database");
    let staging = dir.path().join("staging");
    let compute = if cluster {
        Compute::Ballista(crate::common::in_process_cluster(&targets, &staging, 2).await)
    } else {
        Compute::Local
    };
    let engine = FederationEngine::new(
        Arc::clone(&registry),
        Staging::local(staging).expect("staging"),
        compute,
    );
    Matrix {
        schema,
        registry,
        _dir: dir,
        engine,
    }
}

async fn drop_matrix(m: &Matrix) {
    let pg = m.registry.adapter("pg").await.expect("pg");
    let maria = m.registry.adapter("maria").await.expect("maria");
    pg.execute(&format!("drop schema if exists \"{}\" cascade", m.schema))
        .await
        .expect("drop pg schema");
    maria
        .execute(&format!("drop database if exists `{}`", m.schema))
        .await
        .expect("drop maria database");
}

impl Matrix {
    fn relation(&self, db: Db, name: &str) -> Relation {
        match db {
            Db::Lite => Relation::new("main", name),
            _ => Relation::new(self.schema.as_str(), name),
        }
    }

    /// Creates `table` on `src` with an `id` column and `cols`, and fills its rows.
    async fn create_source(&self, src: Db, table: &str, cols: &[Col], prelude: &str) {
        let adapter = self.registry.adapter(src.target()).await.expect("adapter");
        let d = adapter.dialect();
        let rel = d.render(&self.relation(src, table));
        let defs = cols
            .iter()
            .map(|c| format!("{} {}", d.quote(c.name), c.sql_type))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("{prelude}create table {rel} (id integer primary key, {defs});");
        for row in 0..ROWS {
            let values = cols
                .iter()
                .map(|c| c.values[row].0.clone().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push_str(&format!(
                "insert into {rel} values ({}, {values});",
                row + 1
            ));
        }
        // Session settings of the fixture stay off the pooled connection.
        match src {
            Db::Maria => sql.push_str("set session sql_mode = @@global.sql_mode;"),
            Db::Pg => sql.push_str("reset search_path;"),
            Db::Lite => {}
        }
        adapter
            .execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("creating the {src:?} source: {e}"));
    }

    fn query(&self, src: Db, table: &str, columns: &[&str]) -> FederatedQuery {
        let rel = self.relation(src, table);
        let list = std::iter::once("id")
            .chain(columns.iter().copied())
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        FederatedQuery {
            sql: format!(
                "select {list} from \"{}\".\"{}\".\"{}\"",
                src.target(),
                rel.schema,
                rel.identifier
            ),
            inputs: vec![RemoteInput {
                target: src.target().into(),
                relation: rel,
            }],
            hints: Default::default(),
        }
    }

    /// Runs the matrix of one source table: every destination gets the columns that
    /// must arrive, checked value by value, and each column that must fail is run alone
    /// and checked for its code and its name in the message.
    async fn check_source(&self, src: Db, table: &str, cols: &[Col]) {
        for dest in DESTINATIONS {
            let arriving: Vec<&Col> = cols
                .iter()
                .filter(|c| c.fails_into(dest).is_none())
                .collect();
            let names: Vec<&str> = arriving.iter().map(|c| c.name).collect();
            let out = format!("r_{}_{}", src.target(), dest.target());
            let dest_rel = self.relation(dest, &out);
            let loaded = self
                .engine
                .run_into(
                    &format!("types-{}", dest.target()),
                    &self.query(src, table, &names),
                    dest.target(),
                    &dest_rel,
                    &BTreeMap::new(),
                )
                .await
                .unwrap_or_else(|e| {
                    panic!("{src:?} -> {dest:?}: {}: {}", e.code(), e.message_chain())
                });
            assert_eq!(loaded, ROWS as u64, "{src:?} -> {dest:?}");
            self.compare(dest, &dest_rel, &arriving, &format!("{src:?} -> {dest:?}"))
                .await;

            for c in cols {
                let Some(code) = c.fails_into(dest) else {
                    continue;
                };
                let err = self
                    .engine
                    .run_into(
                        &format!("types-err-{}", dest.target()),
                        &self.query(src, table, &[c.name]),
                        dest.target(),
                        &self.relation(dest, &format!("e_{}", c.name)),
                        &BTreeMap::new(),
                    )
                    .await
                    .expect_err(&format!("{src:?} -> {dest:?}: `{}` must fail", c.name));
                assert_eq!(err.code(), code, "{src:?} -> {dest:?} `{}`: {err}", c.name);
                assert!(
                    err.to_string().contains(&format!("`{}`", c.name)),
                    "{src:?} -> {dest:?}: the error names the column: {err}"
                );
            }
        }
    }

    /// Reads `cols` of `rel` on `dest` and compares them with their canonical values.
    async fn compare(&self, dest: Db, rel: &Relation, cols: &[&Col], what: &str) {
        let adapter = self.registry.adapter(dest.target()).await.expect("adapter");
        let d = adapter.dialect();
        let exprs = cols
            .iter()
            .map(|c| read_expr(dest, c.kind, &d.quote(c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let got = text_rows(
            &adapter,
            &format!(
                "select {exprs} from {} order by {}",
                d.render(rel),
                d.quote("id")
            ),
        )
        .await;
        assert_eq!(got.len(), ROWS, "{what}");
        for (j, c) in cols.iter().enumerate() {
            let intervals_on_pg = dest == Db::Pg && c.kind == Kind::Interval;
            let expected_pg = if intervals_on_pg {
                pg_interval_texts(&adapter, c).await
            } else {
                Vec::new()
            };
            for (row, values) in got.iter().enumerate() {
                let raw = values[j].clone();
                let value = match (dest, raw) {
                    (Db::Lite, Some(v)) => {
                        let (class, text) = v.split_once(':').expect("class:value");
                        if class == "null" {
                            None
                        } else {
                            assert!(
                                storage_classes(c.kind).contains(&class),
                                "{what} `{}` row {}: stored as {class}",
                                c.name,
                                row + 1
                            );
                            Some(text.to_owned())
                        }
                    }
                    (_, v) => v,
                };
                let got = value.map(|v| {
                    if intervals_on_pg {
                        v
                    } else {
                        canonical(c.kind, &v)
                    }
                });
                let expected = if intervals_on_pg {
                    expected_pg[row].clone()
                } else {
                    c.values[row].1.as_deref().map(|v| canonical(c.kind, v))
                };
                assert!(
                    got == expected,
                    "{what} `{}` row {}: got {:?}, expected {:?}",
                    c.name,
                    row + 1,
                    got.as_deref().map(cut),
                    expected.as_deref().map(cut)
                );
            }
        }
    }
}

/// PostgreSQL's own text of each expected interval (its `intervalstyle`).
async fn pg_interval_texts(pg: &Arc<dyn Adapter>, c: &Col) -> Vec<Option<String>> {
    let exprs = c
        .values
        .iter()
        .map(|(_, canon)| match canon {
            Some(v) => format!("{}::interval::text", quote(v)),
            None => "NULL::text".into(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    text_rows(pg, &format!("select {exprs}")).await.remove(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_source_into_every_destination() {
    postgres_source_into_every_destination_on(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_source_into_every_destination_on_a_cluster() {
    postgres_source_into_every_destination_on(true).await;
}

async fn postgres_source_into_every_destination_on(cluster: bool) {
    let m = matrix_on(cluster).await;
    let body = async {
        let cols = pg_columns();
        let s = &m.schema;
        let prelude = format!(
            "create extension if not exists citext; \
             create type \"{s}\".mood as enum ('sad', 'ok', 'happy'); set search_path = \"{s}\", public;"
        );
        m.create_source(Db::Pg, "t_src", &cols, &prelude).await;
        m.check_source(Db::Pg, "t_src", &cols).await;
    };
    with_cleanup(Box::pin(body), drop_matrix(&m)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_source_into_every_destination() {
    mariadb_source_into_every_destination_on(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_source_into_every_destination_on_a_cluster() {
    mariadb_source_into_every_destination_on(true).await;
}

async fn mariadb_source_into_every_destination_on(cluster: bool) {
    let m = matrix_on(cluster).await;
    let body = async {
        let cols = maria_columns();
        // Zero dates need a sql_mode without NO_ZERO_DATE; literals keep backslashes.
        let prelude = "set session sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES';";
        m.create_source(Db::Maria, "t_src", &cols, prelude).await;
        m.check_source(Db::Maria, "t_src", &cols).await;
    };
    with_cleanup(Box::pin(body), drop_matrix(&m)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_source_into_every_destination() {
    sqlite_source_into_every_destination_on(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_source_into_every_destination_on_a_cluster() {
    sqlite_source_into_every_destination_on(true).await;
}

async fn sqlite_source_into_every_destination_on(cluster: bool) {
    let m = matrix_on(cluster).await;
    let body = async {
        let cols = lite_columns();
        m.create_source(Db::Lite, "t_src", &cols, "").await;
        m.check_source(Db::Lite, "t_src", &cols).await;
    };
    with_cleanup(Box::pin(body), drop_matrix(&m)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_create_table_as_reads_back_as_numbers_and_dates() {
    let m = matrix().await;
    let body = async {
        m.create_source(Db::Lite, "t_src", &lite_columns(), "")
            .await;
        let ctas = ctas_columns();
        let select = ctas
            .iter()
            .map(|(c, expr)| format!("{expr} AS {}", c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let lite = m.registry.adapter("lite").await.expect("lite");
        lite.execute(&format!(
            "create table t_ctas as select id + 0 as id, {select} from t_src"
        ))
        .await
        .expect("ctas");
        // What DVT reads the undeclared columns as.
        let schema = lite
            .relation_schema(&Relation::new("main", "t_ctas"))
            .await
            .expect("schema");
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}:{:?}", f.name(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            [
                "id:Int64",
                "c_int:Int64",
                "c_real:Float64",
                "c_numeric:Float64",
                "c_date:Date32",
                "c_ts:Timestamp(Microsecond, None)",
                "c_tstz:Timestamp(Microsecond, Some(\"UTC\"))",
                "c_time:Utf8",
                "c_text:Utf8",
                "c_blob:Binary",
            ]
        );
        let cols: Vec<Col> = ctas
            .into_iter()
            .map(|(c, _)| {
                // A time of day has no form SQLite values reveal: it stays text.
                if c.name == "c_time" {
                    Col {
                        kind: Kind::Text,
                        ..c
                    }
                } else {
                    c
                }
            })
            .collect();
        m.check_source(Db::Lite, "t_ctas", &cols).await;
    };
    with_cleanup(Box::pin(body), drop_matrix(&m)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_columns_break_only_models_that_read_them() {
    let m = matrix().await;
    let body = async {
        let s = &m.schema;
        let pg = m.registry.adapter("pg").await.expect("pg");
        pg.execute(&format!(
            "create type \"{s}\".color as enum ('red', 'green'); \
             create table \"{s}\".docs (id int primary key, title text, body tsvector, spot point, \
             hue \"{s}\".color, score numeric); \
             insert into \"{s}\".docs values (1, 'a', to_tsvector('simple', 'x y'), point(1, 2), 'red', 1.25), \
             (2, 'b', NULL, NULL, 'green', NULL);"
        ))
        .await
        .expect("pg fixture");
        let maria = m.registry.adapter("maria").await.expect("maria");
        maria
            .execute(&format!(
                "create table `{s}`.places (id int primary key, name varchar(10), area polygon null, spot point null); \
                 insert into `{s}`.places values (1, 'a', NULL, POINT(1, 2)), (2, 'b', NULL, NULL);"
            ))
            .await
            .expect("maria fixture");

        let schema = pg
            .relation_schema(&Relation::new(s.as_str(), "docs"))
            .await
            .expect("a relation with unsupported columns has a schema");
        let body = schema.field_with_name("body").expect("body");
        assert_eq!(body.data_type(), &DataType::Null);
        assert_eq!(
            body.metadata().get("dvt.unsupported").map(String::as_str),
            Some("tsvector")
        );
        assert_eq!(
            schema.field_with_name("hue").expect("hue").data_type(),
            &DataType::Utf8
        );

        for (src, table, columns, unsupported) in [
            (Db::Pg, "docs", vec!["title", "hue", "score"], "spot"),
            (Db::Maria, "places", vec!["name"], "spot"),
        ] {
            for dest in DESTINATIONS {
                let rel = m.relation(dest, &format!("u_{}_{}", src.target(), dest.target()));
                let loaded = m
                    .engine
                    .run_into(
                        "unsupported",
                        &m.query(src, table, &columns),
                        dest.target(),
                        &rel,
                        &BTreeMap::new(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{src:?} -> {dest:?}: {e}"));
                assert_eq!(loaded, 2);
                let adapter = m.registry.adapter(dest.target()).await.expect("dest");
                let d = adapter.dialect();
                let first = d.quote(columns[0]);
                let got = text_rows(
                    &adapter,
                    &format!(
                        "select {} from {} order by {}",
                        read_expr(dest, Kind::Text, &first),
                        d.render(&rel),
                        d.quote("id")
                    ),
                )
                .await;
                let got: Vec<Option<String>> = got
                    .into_iter()
                    .map(|r| {
                        r[0].clone()
                            .map(|v| v.trim_start_matches("text:").to_owned())
                    })
                    .collect();
                assert_eq!(
                    got,
                    vec![Some("a".to_owned()), Some("b".to_owned())],
                    "{src:?} -> {dest:?}"
                );
                let err = m
                    .engine
                    .run_into(
                        "unsupported-all",
                        &m.query(src, table, &[unsupported]),
                        dest.target(),
                        &rel,
                        &BTreeMap::new(),
                    )
                    .await
                    .expect_err("reading an unsupported column fails");
                assert_eq!(err.code(), "DVT306", "{err}");
                assert!(
                    err.to_string().contains(&format!("`{unsupported}`")),
                    "{err}"
                );
            }
        }
    };
    with_cleanup(Box::pin(body), drop_matrix(&m)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_load_exactly_into_every_destination() {
    let m = matrix().await;
    let body = async {
        let wide = "123456789012345678901234567890.123456789";
        let csv = format!(
            "id,big,wide,price,tiny,at,label,exact\n\
             1,99999999999999999999,{wide},19.99,0.000001,1969-07-20 20:17:40.5,\"a, \"\"b\"\"\",1.1234567890123456789\n\
             2,-1,-0.5,-0.5,0,2024-02-29T12:00:00.000001,,\n\
             3,,,,,,x,0\n"
        );
        for dest in DESTINATIONS {
            let override_type = match dest {
                Db::Pg => "numeric(30,19)",
                Db::Maria => "decimal(30,19)",
                Db::Lite => "DECIMAL_TEXT(30,19)",
            };
            let opts = SeedOptions {
                column_types: BTreeMap::from([("exact".to_owned(), override_type.to_owned())]),
                ..SeedOptions::default()
            };
            let data = parse_seed(csv.as_bytes(), std::path::Path::new("seeds/s.csv"), &opts)
                .expect("seed");
            let adapter = m.registry.adapter(dest.target()).await.expect("dest");
            let rel = m.relation(dest, "seed_exact");
            let loaded = adapter
                .replace_table_from_stream(
                    &rel,
                    seed_stream(&data).expect("stream"),
                    &TableDdl::columns(seed_column_types(&data)),
                    "seed-run",
                )
                .await
                .unwrap_or_else(|e| panic!("{dest:?}: {}", e.message_chain()));
            assert_eq!(loaded, 3);
            let d = adapter.dialect();
            let kinds = [
                ("big", Kind::Dec),
                ("wide", Kind::Dec),
                ("price", Kind::Dec),
                ("tiny", Kind::Dec),
                ("at", Kind::Ts),
                ("label", Kind::Text),
                ("exact", Kind::Dec),
            ];
            let exprs = kinds
                .iter()
                .map(|(c, k)| read_expr(dest, *k, &d.quote(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let got = text_rows(
                &adapter,
                &format!(
                    "select {exprs} from {} order by {}",
                    d.render(&rel),
                    d.quote("id")
                ),
            )
            .await;
            let expected: [[Option<&str>; 7]; 3] = [
                [
                    Some("99999999999999999999"),
                    Some(wide),
                    Some("19.99"),
                    Some("0.000001"),
                    Some("1969-07-20 20:17:40.5"),
                    Some("a, \"b\""),
                    Some("1.1234567890123456789"),
                ],
                [
                    Some("-1"),
                    Some("-0.5"),
                    Some("-0.5"),
                    Some("0"),
                    Some("2024-02-29 12:00:00.000001"),
                    None,
                    None,
                ],
                [None, None, None, None, None, Some("x"), Some("0")],
            ];
            for (row, values) in got.iter().enumerate() {
                for (j, (name, kind)) in kinds.iter().enumerate() {
                    let value = values[j].clone().and_then(|v| match dest {
                        Db::Lite => {
                            let (class, text) = v.split_once(':').expect("class:value");
                            (class != "null").then(|| text.to_owned())
                        }
                        _ => Some(v),
                    });
                    assert_eq!(
                        value.map(|v| canonical(*kind, &v)),
                        expected[row][j].map(|v| canonical(*kind, v)),
                        "{dest:?} seed `{name}` row {}",
                        row + 1
                    );
                }
            }
        }
        // On SQLite a DECIMAL override has NUMERIC affinity, which would keep 15 digits:
        // the load refuses instead of rounding.
        let opts = SeedOptions {
            column_types: BTreeMap::from([("exact".to_owned(), "DECIMAL(30,19)".to_owned())]),
            ..SeedOptions::default()
        };
        let data = parse_seed(
            b"id,exact\n1,1.5\n2,1.1234567890123456789\n",
            std::path::Path::new("seeds/s.csv"),
            &opts,
        )
        .expect("seed");
        let lite = m.registry.adapter("lite").await.expect("lite");
        let err = lite
            .replace_table_from_stream(
                &Relation::new("main", "seed_lossy"),
                seed_stream(&data).expect("stream"),
                &TableDdl::columns(seed_column_types(&data)),
                "seed-run",
            )
            .await
            .expect_err("SQLite would round it");
        assert_eq!(err.code(), "DVT304", "{err}");
        assert!(err.to_string().contains("column `exact`, row 2"), "{err}");
    };
    with_cleanup(Box::pin(body), drop_matrix(&m)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn session_time_zones_do_not_shift_values() {
    let m = matrix().await;
    let s = m.schema.clone();
    // A role whose sessions run in another time zone, as a server or role default can.
    let role = format!("{s}_tz");
    let pg = m.registry.adapter("pg").await.expect("pg");
    let body = async {
        pg.execute(&format!(
            "create role \"{role}\" login; \
             alter role \"{role}\" set timezone = 'Asia/Kolkata'; \
             grant usage, create on schema \"{s}\" to \"{role}\"; \
             create table \"{s}\".tz_src (id int primary key, at timestamptz, naive timestamp); \
             insert into \"{s}\".tz_src values \
             (1, '2024-03-10 12:00:00+05:30', '2024-03-10 12:00:00'), \
             (2, '1969-12-31 23:59:59.5-08:00', '1969-12-31 23:59:59.5'); \
             grant select on \"{s}\".tz_src to \"{role}\";"
        ))
        .await
        .expect("fixture");
        let mut shifted = pg_target("pgtz", &s);
        if let dvt_core::target::Connection::Postgres(c) = &mut shifted.connection {
            c.user = role.clone();
        }
        let mut targets = BTreeMap::from([("pgtz".to_owned(), shifted)]);
        for name in ["maria", "lite"] {
            let dest = m.registry.adapter(name).await.expect("dest");
            targets.insert(name.to_owned(), dest.target().clone());
        }
        let registry = Arc::new(TargetRegistry::new(targets));
        let tz = registry.adapter("pgtz").await.expect("pgtz");
        assert_eq!(
            text_rows(&tz, "select current_setting('TimeZone')").await,
            vec![vec![Some("Asia/Kolkata".to_owned())]],
            "the role's sessions run in another zone"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = FederationEngine::new(
            Arc::clone(&registry),
            Staging::local(dir.path().to_owned()).expect("staging"),
            Compute::Local,
        );
        let query = FederatedQuery {
            sql: format!("select id, at, naive from \"pgtz\".\"{s}\".\"tz_src\""),
            inputs: vec![RemoteInput {
                target: "pgtz".into(),
                relation: Relation::new(s.as_str(), "tz_src"),
            }],
            hints: Default::default(),
        };
        let at = [
            Some("2024-03-10 06:30:00.000000".to_owned()),
            Some("1970-01-01 07:59:59.500000".to_owned()),
        ];
        let naive = [
            Some("2024-03-10 12:00:00.000000".to_owned()),
            Some("1969-12-31 23:59:59.500000".to_owned()),
        ];
        for (dest, reader) in [
            (Db::Pg, Arc::clone(&pg)),
            (Db::Maria, registry.adapter("maria").await.expect("maria")),
            (Db::Lite, registry.adapter("lite").await.expect("lite")),
        ] {
            let target = if dest == Db::Pg {
                "pgtz"
            } else {
                dest.target()
            };
            let rel = m.relation(dest, &format!("tz_{}", dest.target()));
            engine
                .run_into("tz", &query, target, &rel, &BTreeMap::new())
                .await
                .unwrap_or_else(|e| panic!("{dest:?}: {e}"));
            let d = reader.dialect();
            let got = text_rows(
                &reader,
                &format!(
                    "select {}, {} from {} order by {}",
                    read_expr(dest, Kind::Tstz, &d.quote("at")),
                    read_expr(dest, Kind::Ts, &d.quote("naive")),
                    d.render(&rel),
                    d.quote("id")
                ),
            )
            .await;
            for (row, values) in got.iter().enumerate() {
                let strip = |v: &Option<String>| {
                    v.as_deref().map(|v| {
                        let v = if dest == Db::Lite {
                            v.split_once(':').expect("class:value").1
                        } else {
                            v
                        };
                        canonical(Kind::Ts, v)
                    })
                };
                assert_eq!(strip(&values[0]), at[row], "{dest:?} `at` row {}", row + 1);
                assert_eq!(
                    strip(&values[1]),
                    naive[row],
                    "{dest:?} `naive` row {}",
                    row + 1
                );
            }
        }
    };
    let cleanup = async {
        drop_matrix(&m).await;
        pg.execute(&format!("drop role if exists \"{role}\""))
            .await
            .expect("drop role");
    };
    with_cleanup(Box::pin(body), cleanup).await;
}
