//! Seed CSV files: parsing, type inference and `column_types` overrides.

/// The type of a seed column, inferred from its values or given by `column_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedType {
    /// Whole numbers that fit in 64 bits.
    Integer,
    /// Exact decimal numbers: numbers with a decimal point, and whole numbers too large
    /// for 64 bits. `precision` is the most significant digits a value needs (at most
    /// 76), `scale` the most digits after the point.
    Decimal {
        /// Digits in all (before and after the point).
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// `true`/`false` (any case).
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD HH:MM:SS`, or ISO 8601 with a `T` (normalised to
    /// `YYYY-MM-DD HH:MM:SS[.ffffff]`), as dbt's seeds infer timestamps.
    Timestamp,
    /// Anything else.
    Text,
    /// A `column_types` override: the SQL type written verbatim in the target's DDL;
    /// values travel as text and the database converts them.
    Custom(String),
}

/// One column of a seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedColumn {
    /// Column name from the header row.
    pub name: String,
    /// Inferred or overridden type.
    pub ty: SeedType,
}

/// A parsed seed: columns and rows of normalised text values (`None` is NULL).
///
/// Every value of a typed column has been checked to parse as that type; booleans are
/// normalised to `true`/`false` and timestamps use a space separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedData {
    /// Columns in file order.
    pub columns: Vec<SeedColumn>,
    /// Rows in file order.
    pub rows: Vec<Vec<Option<String>>>,
}

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Location, Result};

/// Options of a seed (`delimiter`, `column_types`).
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Field delimiter, default `,`.
    pub delimiter: u8,
    /// `column_types`: column -> SQL type.
    pub column_types: BTreeMap<String, String>,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            delimiter: b',',
            column_types: BTreeMap::new(),
        }
    }
}

/// Parses a seed file. `display` is the path used in error messages (project-relative).
pub fn load_seed(path: &Path, display: &Path, opts: &SeedOptions) -> Result<SeedData> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: display.to_path_buf(),
        source,
    })?;
    parse_seed(&bytes, display, opts)
}

/// Parses seed CSV bytes; see [`load_seed`].
pub fn parse_seed(bytes: &[u8], display: &Path, opts: &SeedOptions) -> Result<SeedData> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut records = reader.records();
    let csv_err = |e: csv::Error| {
        let line = e.position().map(|p| crate::error::small(p.line() as usize));
        Error::Csv {
            location: Location {
                file: display.to_path_buf(),
                line,
                column: None,
            },
            message: e.to_string(),
        }
    };
    let header = match records.next() {
        Some(r) => r.map_err(csv_err)?,
        None => {
            return Err(Error::Csv {
                location: Location::file(display),
                message: "the file is empty; a seed needs a header row".into(),
            });
        }
    };
    let names: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = h.trim_start_matches('\u{feff}').trim();
            if h.is_empty() {
                Err(Error::Csv {
                    location: Location {
                        file: display.to_path_buf(),
                        line: Some(1),
                        column: Some(crate::error::small(i + 1)),
                    },
                    message: format!("header field {} is empty", i + 1),
                })
            } else {
                Ok(h.to_owned())
            }
        })
        .collect::<Result<_>>()?;
    // Databases compare column names without case (SQLite, MySQL) or fold them (an
    // unquoted PostgreSQL name), so `id` and `ID` would collide in the table.
    for (i, name) in names.iter().enumerate() {
        let folded = name.to_lowercase();
        if let Some(first) = names[..i].iter().position(|n| n.to_lowercase() == folded) {
            return Err(Error::Csv {
                location: Location {
                    file: display.to_path_buf(),
                    line: Some(1),
                    column: Some(crate::error::small(i + 1)),
                },
                message: format!(
                    "header field {} `{name}` repeats field {} `{}`",
                    i + 1,
                    first + 1,
                    names[first]
                ),
            });
        }
    }
    // A `column_types` entry naming a column this file lacks is not an error: folder
    // configs give types for columns of many seeds at once (Fivetran's integration
    // projects type `canceled_at` for every seed), and dbt types only the columns present.
    let mut rows = Vec::new();
    for rec in records {
        let rec = rec.map_err(csv_err)?;
        let line = rec
            .position()
            .map(|p| crate::error::small(p.line() as usize));
        if rec.len() == 1 && rec.get(0) == Some("") && names.len() > 1 {
            continue; // a blank line
        }
        if rec.len() != names.len() {
            return Err(Error::RaggedCsv {
                location: Location {
                    file: display.to_path_buf(),
                    line,
                    column: Some(crate::error::small(rec.len().min(names.len()) + 1)),
                },
                expected: names.len(),
                found: rec.len(),
            });
        }
        rows.push(
            rec.iter()
                .map(|v| (!v.is_empty()).then(|| v.to_owned()))
                .collect::<Vec<_>>(),
        );
    }
    let mut columns = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        let ty = match opts.column_types.get(&name) {
            Some(sql) => SeedType::Custom(sql.clone()),
            None => infer(rows.iter().filter_map(|r| r[i].as_deref())),
        };
        for r in rows.iter_mut() {
            if let Some(v) = r[i].as_mut() {
                normalise(&ty, v);
            }
        }
        columns.push(SeedColumn { name, ty });
    }
    Ok(SeedData { columns, rows })
}

/// The most decimal digits a seed decimal may have: what Arrow's `Decimal256` holds.
/// Wider numbers stay text.
const MAX_DECIMAL_DIGITS: usize = 76;

/// Digits before the point (without leading zeros) and after it of a plain decimal
/// number (`-12.50`, `+3`, `.5`), or `None` for anything else.
fn decimal_shape(v: &str) -> Option<(usize, usize)> {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| (int.trim_start_matches('0').len(), frac.len()))
}

/// dbt's date tester: Python's `strptime(v, "%Y-%m-%d")`, which takes one-digit months
/// and days (`2022-9-1`) but only a four-digit year.
fn is_date(v: &str) -> bool {
    v.split('-').next().is_some_and(|y| y.len() == 4)
        && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
}

/// The two timestamp testers of dbt's seeds (agate's, in dbt-common): exactly
/// `%Y-%m-%d %H:%M:%S` (no fraction, no zone: `2022-09-19 05:50:07.000000` is text
/// there), or ISO 8601 with a `T` (`2022-09-19T05:50:07.123Z`, `20220919T0550`). A
/// column is a timestamp when all its values pass the same tester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimestampForm {
    Spaced,
    Iso,
}

fn timestamp_form(v: &str) -> Option<TimestampForm> {
    if v.split('-').next().is_some_and(|y| y.len() == 4)
        && chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_ok()
    {
        return Some(TimestampForm::Spaced);
    }
    iso_timestamp(v).map(|_| TimestampForm::Iso)
}

/// An ISO 8601 date-time (`<date>T<time>[zone]`, extended or basic form) as
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`: a time with an offset is moved to UTC (dbt binds
/// it as an instant, which a `timestamp` column stores in the session's zone, UTC on
/// DVT's connections), and the fraction is cut to microseconds, as Python's datetime
/// cuts it.
fn iso_timestamp(v: &str) -> Option<String> {
    let (date, time) = v.split_once('T')?;
    let date = match date.len() {
        10 => chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?,
        8 if date.bytes().all(|b| b.is_ascii_digit()) => {
            chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok()?
        }
        _ => return None,
    };
    // The zone: `Z`, or `+hh`, `+hh:mm`, `+hhmm` (or `-`), as minutes east of UTC.
    let (time, offset_minutes) = match time.find(['Z', '+', '-']) {
        Some(at) => {
            let zone = &time[at..];
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            let minutes = if zone == "Z" {
                0
            } else if matches!(digits.len(), 2 | 4) && digits.bytes().all(|b| b.is_ascii_digit()) {
                let h: i64 = digits[..2].parse().ok()?;
                let m: i64 = digits.get(2..).map_or(Some(0), |m| m.parse().ok())?;
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                sign * (h * 60 + m)
            } else {
                return None;
            };
            (&time[..at], minutes)
        }
        None => (time, 0),
    };
    let (clock, fraction) = match time.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (c, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let parts: Vec<&str> = if clock.contains(':') {
        clock.split(':').collect()
    } else {
        (0..clock.len())
            .step_by(2)
            .map(|i| clock.get(i..i + 2).unwrap_or(""))
            .collect()
    };
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        || (!fraction.is_empty() && parts.len() < 3)
    {
        return None;
    }
    let n = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u32>().ok());
    let at = date.and_hms_opt(n(0)?, n(1)?, n(2)?)? - chrono::Duration::minutes(offset_minutes);
    let mut out = at.format("%Y-%m-%d %H:%M:%S").to_string();
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&format!("{fraction:0<6}")[..6]);
    }
    Some(out)
}

fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> SeedType {
    let mut any = false;
    let (mut int, mut dec, mut boolean, mut date) = (true, true, true, true);
    // The form every value so far has, `None` once two differ or one is neither.
    let mut ts: Option<Option<TimestampForm>> = None;
    let (mut int_digits, mut scale) = (0usize, 0usize);
    for v in values {
        any = true;
        let is_int = v.parse::<i64>().is_ok() && !v.starts_with('+');
        int &= is_int;
        if dec {
            match decimal_shape(v) {
                Some((i, s)) => {
                    int_digits = int_digits.max(i);
                    scale = scale.max(s);
                }
                None => dec = false,
            }
        }
        boolean &= v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false");
        date &= is_date(v);
        let form = timestamp_form(v);
        ts = match ts {
            None => Some(form),
            Some(prev) if prev == form => Some(prev),
            Some(_) => Some(None),
        };
    }
    match () {
        // A column with no value at all: dbt's type tester tries integers first, and
        // nothing contradicts them (dbt-codegen's seeds have such a column).
        _ if !any => SeedType::Integer,
        _ if int => SeedType::Integer,
        _ if dec && int_digits + scale <= MAX_DECIMAL_DIGITS => SeedType::Decimal {
            precision: (int_digits + scale).max(1) as u8,
            scale: scale as u8,
        },
        _ if boolean => SeedType::Boolean,
        _ if date => SeedType::Date,
        _ if matches!(ts, Some(Some(_))) => SeedType::Timestamp,
        _ => SeedType::Text,
    }
}

fn normalise(ty: &SeedType, v: &mut String) {
    match ty {
        SeedType::Boolean => *v = v.to_ascii_lowercase(),
        SeedType::Timestamp => {
            if let Some(iso) = iso_timestamp(v) {
                *v = iso;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_without_values_is_an_integer_as_in_dbt() {
        let d = parse_seed(
            b"id,blank\n1,\n2,\n".as_slice(),
            Path::new("seeds/s.csv"),
            &SeedOptions::default(),
        )
        .unwrap();
        assert_eq!(d.columns[1].ty, SeedType::Integer);
        assert_eq!(d.rows[0][1], None);
    }

    #[test]
    fn infers_types_and_keeps_nulls() {
        let csv = "id,price,ok,day,at,name,mixed\n1,1.5,true,2024-01-02,2024-01-02T03:04:05,a,1\n2,2.25,FALSE,2024-02-03,2024-01-02T03:04:05.5,\"b, c\",x\n3,,,,,,2\n";
        let d = parse_seed(
            csv.as_bytes(),
            Path::new("seeds/s.csv"),
            &SeedOptions::default(),
        )
        .unwrap();
        let tys: Vec<_> = d.columns.iter().map(|c| c.ty.clone()).collect();
        assert_eq!(
            tys,
            vec![
                SeedType::Integer,
                SeedType::Decimal {
                    precision: 3,
                    scale: 2
                },
                SeedType::Boolean,
                SeedType::Date,
                SeedType::Timestamp,
                SeedType::Text,
                SeedType::Text
            ]
        );
        assert_eq!(d.rows[1][2].as_deref(), Some("false"));
        assert_eq!(d.rows[0][4].as_deref(), Some("2024-01-02 03:04:05"));
        assert_eq!(d.rows[1][4].as_deref(), Some("2024-01-02 03:04:05.500000"));
        assert_eq!(d.rows[1][5].as_deref(), Some("b, c"));
        assert_eq!(d.rows[2][1], None);
    }

    #[test]
    fn wide_numbers_are_exact_decimals_and_wider_ones_text() {
        let wide = "12345678901234567890123456789.0123456789";
        let csv = format!(
            "big,wide,too_wide,nanos\n99999999999999999999,{wide},{},2024-01-01 00:00:00.1234567\n-5,0.5,1,2024-01-01 00:00:00.1234560\n",
            "9".repeat(77)
        );
        let d = parse_seed(csv.as_bytes(), Path::new("s.csv"), &SeedOptions::default()).unwrap();
        let tys: Vec<_> = d.columns.iter().map(|c| c.ty.clone()).collect();
        assert_eq!(
            tys,
            vec![
                SeedType::Decimal {
                    precision: 20,
                    scale: 0
                },
                SeedType::Decimal {
                    precision: 39,
                    scale: 10
                },
                SeedType::Text,
                SeedType::Text,
            ]
        );
        assert_eq!(d.rows[0][1].as_deref(), Some(wide));
    }

    #[test]
    fn ragged_rows_name_line_and_column() {
        let csv = "a,b\n1,2\n3,4,5\n";
        let err = parse_seed(
            csv.as_bytes(),
            Path::new("seeds/s.csv"),
            &SeedOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT200");
        assert!(err.to_string().starts_with("seeds/s.csv:3:3:"), "{err}");
    }

    #[test]
    fn repeated_header_fields_are_located() {
        let err = parse_seed(
            b"id,name,ID\n1,a,2\n",
            Path::new("seeds/s.csv"),
            &SeedOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT201");
        assert!(
            err.to_string().starts_with(
                "seeds/s.csv:1:3: invalid CSV: header field 3 `ID` repeats field 1 `id`"
            ),
            "{err}"
        );
    }

    #[test]
    fn column_types_override_and_columns_the_file_lacks_are_ignored() {
        let mut opts = SeedOptions::default();
        opts.column_types.insert("a".into(), "varchar(10)".into());
        let d = parse_seed(
            b"a;b\n1;2\n",
            Path::new("s.csv"),
            &SeedOptions {
                delimiter: b';',
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(d.columns[0].ty, SeedType::Custom("varchar(10)".into()));
        assert_eq!(d.columns[1].ty, SeedType::Integer);
        opts.column_types.insert("zz".into(), "int".into());
        let d = parse_seed(b"a\n1\n", Path::new("s.csv"), &opts).unwrap();
        assert_eq!(
            (d.columns.len(), &d.columns[0].ty),
            (1, &SeedType::Custom("varchar(10)".into()))
        );
    }

    use proptest::prelude::*;

    /// The kinds of column the generator writes, each with values of that kind only.
    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Integer,
        Decimal,
        Boolean,
        Date,
        Timestamp,
        IsoTimestamp,
        Text,
    }

    fn value(kind: Kind) -> BoxedStrategy<String> {
        match kind {
            Kind::Integer => any::<i64>().prop_map(|i| i.to_string()).boxed(),
            Kind::Decimal => ("-?[0-9]{1,6}", "[0-9]{1,4}")
                .prop_map(|(i, f)| format!("{i}.{f}"))
                .boxed(),
            Kind::Boolean => prop::sample::select(vec!["true", "false", "TRUE", "False"])
                .prop_map(str::to_owned)
                .boxed(),
            Kind::Date => (1900i32..2100, 1u32..13, 1u32..29)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
                .boxed(),
            Kind::Timestamp => (1900i32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60)
                .prop_map(|(y, mo, d, h, mi)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:07"))
                .boxed(),
            Kind::IsoTimestamp => (
                1900i32..2100,
                1u32..13,
                1u32..29,
                0u32..24,
                "(:[0-5][0-9](\\.[0-9]{1,9})?)?",
                // Offsets move the time (see `timestamps_are_inferred_as_dbt_infers_them`).
                "Z?",
            )
                .prop_map(|(y, mo, d, h, rest, zone)| {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:30{rest}{zone}")
                })
                .boxed(),
            // Always starts with `x`, so never a number, boolean or date; may hold the
            // delimiter, quotes and line breaks, which the writer quotes.
            Kind::Text => "x[a-z ,;|\t\"\n]{0,8}".boxed(),
        }
    }

    /// A seed: delimiter, column names and kinds, and rows (`None` is an empty field).
    #[allow(clippy::type_complexity)]
    fn seed() -> impl Strategy<Value = (u8, Vec<(String, Kind)>, Vec<Vec<Option<String>>>)> {
        let kind = prop::sample::select(vec![
            Kind::Integer,
            Kind::Decimal,
            Kind::Boolean,
            Kind::Date,
            Kind::Timestamp,
            Kind::IsoTimestamp,
            Kind::Text,
        ]);
        let columns = prop::collection::btree_map("[a-z][a-z0-9_]{0,6}", kind, 1..6)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>());
        let delimiter = prop::sample::select(vec![b',', b';', b'\t', b'|']);
        (delimiter, columns).prop_flat_map(|(delimiter, columns)| {
            let row: Vec<_> = columns
                .iter()
                .map(|(_, k)| prop::option::weighted(0.8, value(*k)))
                .collect();
            let rows = prop::collection::vec(row, 0..8);
            (Just(delimiter), Just(columns), rows)
        })
    }

    fn write_csv(delimiter: u8, names: &[&str], rows: &[Vec<Option<String>>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_writer(Vec::new());
        w.write_record(names).expect("header");
        for r in rows {
            w.write_record(r.iter().map(|v| v.as_deref().unwrap_or("")))
                .expect("row");
        }
        w.into_inner().expect("flush")
    }

    /// What an ISO value in UTC becomes, worked out apart from [`iso_timestamp`]: a space
    /// for the `T`, seconds added, the `Z` dropped, six fractional digits.
    fn iso_text(v: &str) -> String {
        let Some((date, time)) = v.split_once('T') else {
            return v.to_owned();
        };
        let time = time.split(['Z', '+', '-']).next().unwrap_or(time);
        let (clock, frac) = time.split_once('.').unwrap_or((time, ""));
        let clock = if clock.len() == 5 {
            format!("{clock}:00")
        } else {
            clock.to_owned()
        };
        let frac = if frac.is_empty() {
            String::new()
        } else {
            format!(".{:0<6.6}", frac)
        };
        format!("{date} {clock}{frac}")
    }

    #[test]
    fn timestamps_are_inferred_as_dbt_infers_them() {
        let ty = |v: &str| {
            let csv = format!("a\n{v}\n");
            parse_seed(csv.as_bytes(), Path::new("s.csv"), &SeedOptions::default())
                .unwrap()
                .columns[0]
                .ty
                .clone()
        };
        // Each case checked against dbt-core 1.10's seed type tester.
        for (v, want) in [
            ("2022-09-19 05:50:07.000000", SeedType::Text),
            ("2022-09-19 05:50:07", SeedType::Timestamp),
            ("2022-09-19 05:50", SeedType::Text),
            ("2022-09-19T05:50:07.123", SeedType::Timestamp),
            ("2022-09-19T05:50", SeedType::Timestamp),
            ("2022-09-19T05:50:07Z", SeedType::Timestamp),
            ("2022-09-19T05:50:07+02:00", SeedType::Timestamp),
            ("20220919T055007", SeedType::Timestamp),
            ("2022-09-19T05", SeedType::Timestamp),
            ("2022-09-19 05:50:07+00", SeedType::Text),
            ("2022-9-1", SeedType::Date),
        ] {
            assert_eq!(ty(v), want, "{v}");
        }
        // One column, two forms: text, as in dbt.
        let d = parse_seed(
            b"a\n2022-09-19 05:50:07\n2022-09-19T05:50:07\n",
            Path::new("s.csv"),
            &SeedOptions::default(),
        )
        .unwrap();
        assert_eq!(d.columns[0].ty, SeedType::Text);
        let d = parse_seed(
            b"a\n2022-09-19T05:50:07.1234567+02:00\n20220919T0550\n",
            Path::new("s.csv"),
            &SeedOptions::default(),
        )
        .unwrap();
        assert_eq!(
            d.rows,
            vec![
                vec![Some("2022-09-19 03:50:07.123456".to_owned())],
                vec![Some("2022-09-19 05:50:00".to_owned())]
            ]
        );
    }

    fn is_timestamp_text(v: &str) -> bool {
        chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            delimiter in prop::sample::select(vec![b',', b';', b'\t', b'"', b'\n']),
            typed in any::<bool>(),
        ) {
            let mut opts = SeedOptions { delimiter, ..SeedOptions::default() };
            if typed {
                opts.column_types.insert("a".into(), "text".into());
            }
            if let Err(e) = parse_seed(&bytes, Path::new("seeds/s.csv"), &opts) {
                prop_assert!(matches!(e.code(), "DVT200" | "DVT201"), "{e}");
                prop_assert!(e.to_string().starts_with("seeds/s.csv"), "{e}");
            }
        }

        #[test]
        fn csv_like_text_never_panics(text in "[a-c0-9,;\"\n\r\u{feff} .-]{0,60}") {
            if let Err(e) = parse_seed(text.as_bytes(), Path::new("s.csv"), &SeedOptions::default()) {
                prop_assert!(matches!(e.code(), "DVT200" | "DVT201"), "{e}");
            }
        }

        #[test]
        fn written_csv_round_trips_with_its_types((delimiter, columns, rows) in seed(), bom in any::<bool>()) {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            let mut bytes = if bom { "\u{feff}".as_bytes().to_vec() } else { Vec::new() };
            bytes.extend(write_csv(delimiter, &names, &rows));
            let opts = SeedOptions { delimiter, ..SeedOptions::default() };
            let parsed = parse_seed(&bytes, Path::new("s.csv"), &opts).expect("written CSV parses");
            let got_names: Vec<&str> = parsed.columns.iter().map(|c| c.name.as_str()).collect();
            prop_assert_eq!(got_names, names);
            // A single column of one empty field is an empty line, which the writer
            // quotes; every other row comes back.
            prop_assert_eq!(parsed.rows.len(), rows.len());
            for (i, (_, kind)) in columns.iter().enumerate() {
                let values: Vec<&str> = rows.iter().filter_map(|r| r[i].as_deref()).collect();
                let ty = &parsed.columns[i].ty;
                let want = match (values.is_empty(), kind) {
                    (false, Kind::Text) => SeedType::Text,
                    (true, _) | (false, Kind::Integer) => SeedType::Integer,
                    (false, Kind::Decimal) => {
                        let (mut int_digits, mut scale) = (0, 0);
                        for (i, s) in values.iter().filter_map(|v| decimal_shape(v)) {
                            int_digits = int_digits.max(i);
                            scale = scale.max(s);
                        }
                        SeedType::Decimal {
                            precision: (int_digits + scale).max(1) as u8,
                            scale: scale as u8,
                        }
                    }
                    (false, Kind::Boolean) => SeedType::Boolean,
                    (false, Kind::Date) => SeedType::Date,
                    (false, Kind::Timestamp | Kind::IsoTimestamp) => SeedType::Timestamp,
                };
                prop_assert_eq!(ty, &want, "column {}", i);
                for (r, row) in rows.iter().enumerate() {
                    let got = parsed.rows[r][i].as_deref();
                    let want = row[i].as_deref().map(|v| match ty {
                        SeedType::Boolean => v.to_ascii_lowercase(),
                        SeedType::Timestamp => iso_text(v),
                        _ => v.to_owned(),
                    });
                    prop_assert_eq!(got, want.as_deref(), "row {} column {}", r, i);
                    // Every value fits the inferred type.
                    if let Some(v) = got {
                        let fits = match ty {
                            SeedType::Integer => v.parse::<i64>().is_ok(),
                            SeedType::Decimal { scale, .. } => decimal_shape(v).is_some_and(|(_, s)| s <= usize::from(*scale))
                                || v.parse::<i64>().is_ok(),
                            SeedType::Boolean => v == "true" || v == "false",
                            SeedType::Date => is_date(v),
                            SeedType::Timestamp => is_timestamp_text(v),
                            SeedType::Text | SeedType::Custom(_) => true,
                        };
                        prop_assert!(fits, "`{}` does not fit {:?}", v, ty);
                    }
                }
            }
        }

        #[test]
        fn mixed_columns_infer_a_type_every_value_fits(
            values in prop::collection::vec(
                prop_oneof![
                    value(Kind::Integer), value(Kind::Decimal), value(Kind::Boolean),
                    value(Kind::Date), value(Kind::Timestamp), value(Kind::IsoTimestamp),
                    value(Kind::Text),
                ],
                1..6,
            )
        ) {
            let rows: Vec<Vec<Option<String>>> = values.into_iter().map(|v| vec![Some(v)]).collect();
            let parsed = parse_seed(&write_csv(b',', &["v"], &rows), Path::new("s.csv"), &SeedOptions::default())
                .expect("written CSV parses");
            let ty = &parsed.columns[0].ty;
            for row in &parsed.rows {
                let v = row[0].as_deref().expect("no empty values generated");
                let fits = match ty {
                    SeedType::Integer => v.parse::<i64>().is_ok(),
                    SeedType::Decimal { scale, .. } => decimal_shape(v).is_some_and(|(_, s)| s <= usize::from(*scale))
                        || v.parse::<i64>().is_ok(),
                    SeedType::Boolean => v == "true" || v == "false",
                    SeedType::Date => is_date(v),
                    SeedType::Timestamp => is_timestamp_text(v),
                    SeedType::Text | SeedType::Custom(_) => true,
                };
                prop_assert!(fits, "`{}` does not fit {:?}", v, ty);
            }
        }
    }
}
