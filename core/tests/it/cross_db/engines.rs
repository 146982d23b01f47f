//! The same macro calls, compiled for PostgreSQL, MariaDB and SQLite, run on each and
//! give the same values: the ones written here, which are PostgreSQL's.
//!
//! Values are compared as each kind of value means: a date equals the timestamp at its
//! midnight (PostgreSQL's `date + interval` is a timestamp, MariaDB keeps a date, SQLite
//! keeps the text's shape), numbers by value (`12.345000` is `12.345`), booleans whether
//! spelled `t` or `1`, arrays by their elements (PostgreSQL's `{1,2}`, JSON's `[1, 2]`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Time,
    Bool,
    List,
}

/// A value as its kind compares it (`None`: null).
fn normalise(kind: Kind, value: Option<&str>) -> Option<String> {
    let v = value?;
    Some(match kind {
        Kind::Text => v.to_owned(),
        Kind::Number => v
            .parse::<f64>()
            .map_or_else(|_| v.to_owned(), |f| format!("{f}")),
        Kind::Time => {
            let v = v.strip_suffix("+00").unwrap_or(v);
            v.strip_suffix(" 00:00:00").unwrap_or(v).to_owned()
        }
        Kind::Bool => match v {
            "t" | "true" | "1" => "true".to_owned(),
            "f" | "false" | "0" => "false".to_owned(),
            other => other.to_owned(),
        },
        Kind::List => v.chars().filter(|c| !"{}[]\" ".contains(*c)).collect(),
    })
}

/// One expression of the `scalars` model: its column, the Jinja call, its kind and
/// PostgreSQL's value (`None`: null). The row it reads is `INPUT`.
type Scalar = (&'static str, &'static str, Kind, Option<&'static str>);

/// The input row, `dvt_in`: d = 2020-01-31 (a Friday), d2 = 2019-06-15 (a Saturday),
/// ts = 2020-02-29 23:59:59, ts2 = 2020-03-01 00:00:30 (a Sunday), ts3 = 2019-12-31
/// 08:15:00, s = 'a-b-c', name = 'Lovelace', missing = null, flag = true, off = false,
/// n = 3.
const SCALARS: &[Scalar] = &[
    // dateadd: months clamp to the end of a shorter month, as PostgreSQL's do.
    (
        "add_day",
        "dbt.dateadd('day', 3, 'd')",
        Kind::Time,
        Some("2020-02-03"),
    ),
    (
        "add_week",
        "dbt.dateadd('week', -2, 'd')",
        Kind::Time,
        Some("2020-01-17"),
    ),
    (
        "add_month",
        "dbt.dateadd('month', 1, 'd')",
        Kind::Time,
        Some("2020-02-29"),
    ),
    (
        "add_month_back",
        "dbt.dateadd('month', -1, 'ts3')",
        Kind::Time,
        Some("2019-11-30 08:15:00"),
    ),
    (
        "add_months_of_column",
        "dbt.dateadd('month', 'n', 'd')",
        Kind::Time,
        Some("2020-04-30"),
    ),
    (
        "add_quarter",
        "dbt.dateadd('quarter', 1, 'd')",
        Kind::Time,
        Some("2020-04-30"),
    ),
    (
        "add_year",
        "dbt.dateadd('year', 1, 'ts')",
        Kind::Time,
        Some("2021-02-28 23:59:59"),
    ),
    (
        "add_hour_to_date",
        "dbt.dateadd('hour', -6, 'd')",
        Kind::Time,
        Some("2020-01-30 18:00:00"),
    ),
    (
        "add_minute",
        "dbt.dateadd('minute', 90, 'ts')",
        Kind::Time,
        Some("2020-03-01 01:29:59"),
    ),
    (
        "add_second",
        "dbt.dateadd('second', 31, 'ts')",
        Kind::Time,
        Some("2020-03-01 00:00:30"),
    ),
    (
        "add_day_to_timestamp",
        "dbt.dateadd('day', 1, 'ts')",
        Kind::Time,
        Some("2020-03-01 23:59:59"),
    ),
    // datediff counts the boundaries crossed between the two.
    (
        "diff_year",
        "dbt.datediff('d2', 'd', 'year')",
        Kind::Number,
        Some("1"),
    ),
    (
        "diff_quarter",
        "dbt.datediff('d2', 'd', 'quarter')",
        Kind::Number,
        Some("3"),
    ),
    (
        "diff_month",
        "dbt.datediff('d2', 'd', 'month')",
        Kind::Number,
        Some("7"),
    ),
    (
        "diff_month_back",
        "dbt.datediff('d', 'd2', 'month')",
        Kind::Number,
        Some("-7"),
    ),
    (
        "diff_day",
        "dbt.datediff('d2', 'd', 'day')",
        Kind::Number,
        Some("230"),
    ),
    (
        "diff_week",
        "dbt.datediff('d2', 'd', 'week')",
        Kind::Number,
        Some("33"),
    ),
    (
        "diff_week_back",
        "dbt.datediff('d', 'd2', 'week')",
        Kind::Number,
        Some("-33"),
    ),
    (
        "diff_day_of_timestamps",
        "dbt.datediff('ts', 'ts2', 'day')",
        Kind::Number,
        Some("1"),
    ),
    (
        "diff_hour",
        "dbt.datediff('ts', 'ts2', 'hour')",
        Kind::Number,
        Some("1"),
    ),
    (
        "diff_hour_to_date",
        "dbt.datediff('ts3', 'd', 'hour')",
        Kind::Number,
        Some("736"),
    ),
    (
        "diff_minute",
        "dbt.datediff('ts', 'ts2', 'minute')",
        Kind::Number,
        Some("1"),
    ),
    (
        "diff_second",
        "dbt.datediff('ts', 'ts2', 'second')",
        Kind::Number,
        Some("31"),
    ),
    // date_trunc: weeks start on Monday.
    (
        "trunc_year",
        "dbt.date_trunc('year', 'ts')",
        Kind::Time,
        Some("2020-01-01"),
    ),
    (
        "trunc_quarter",
        "dbt.date_trunc('quarter', 'ts3')",
        Kind::Time,
        Some("2019-10-01"),
    ),
    (
        "trunc_quarter_of_date",
        "dbt.date_trunc('quarter', 'd')",
        Kind::Time,
        Some("2020-01-01"),
    ),
    (
        "trunc_month",
        "dbt.date_trunc('month', 'ts')",
        Kind::Time,
        Some("2020-02-01"),
    ),
    (
        "trunc_week",
        "dbt.date_trunc('week', 'd')",
        Kind::Time,
        Some("2020-01-27"),
    ),
    (
        "trunc_week_of_sunday",
        "dbt.date_trunc('week', 'ts2')",
        Kind::Time,
        Some("2020-02-24"),
    ),
    (
        "trunc_day",
        "dbt.date_trunc('day', 'ts')",
        Kind::Time,
        Some("2020-02-29"),
    ),
    (
        "trunc_hour",
        "dbt.date_trunc('hour', 'ts')",
        Kind::Time,
        Some("2020-02-29 23:00:00"),
    ),
    (
        "trunc_minute",
        "dbt.date_trunc('minute', 'ts3')",
        Kind::Time,
        Some("2019-12-31 08:15:00"),
    ),
    (
        "trunc_second",
        "dbt.date_trunc('second', 'ts')",
        Kind::Time,
        Some("2020-02-29 23:59:59"),
    ),
    (
        "last_day_month",
        "dbt.last_day('d', 'month')",
        Kind::Time,
        Some("2020-01-31"),
    ),
    (
        "last_day_month_leap",
        "dbt.last_day('ts', 'month')",
        Kind::Time,
        Some("2020-02-29"),
    ),
    (
        "last_day_quarter",
        "dbt.last_day('ts3', 'quarter')",
        Kind::Time,
        Some("2019-12-31"),
    ),
    (
        "last_day_year",
        "dbt.last_day('d', 'year')",
        Kind::Time,
        Some("2020-12-31"),
    ),
    (
        "last_day_week",
        "dbt.last_day('d', 'week')",
        Kind::Time,
        Some("2020-02-02"),
    ),
    (
        "date",
        "dbt.date(2021, 12, 31)",
        Kind::Time,
        Some("2021-12-31"),
    ),
    (
        "now_is_recent",
        "'case when ' ~ dbt.datediff('d', dbt.current_timestamp(), 'day') ~ ' > 2000 then 1 else 0 end'",
        Kind::Number,
        Some("1"),
    ),
    // Strings.
    (
        "concat",
        "dbt.concat(['s', \"'-'\", 'name'])",
        Kind::Text,
        Some("a-b-c-Lovelace"),
    ),
    (
        "concat_null",
        "dbt.concat(['s', 'missing'])",
        Kind::Text,
        None,
    ),
    (
        "hash",
        "dbt.hash('name')",
        Kind::Text,
        Some(HASH_OF_LOVELACE),
    ),
    (
        "hash_of_number",
        "dbt.hash('n')",
        Kind::Text,
        Some(HASH_OF_3),
    ),
    (
        "split_second",
        "dbt.split_part('s', \"'-'\", 2)",
        Kind::Text,
        Some("b"),
    ),
    (
        "split_past_end",
        "dbt.split_part('s', \"'-'\", 5)",
        Kind::Text,
        Some(""),
    ),
    (
        "split_last",
        "dbt.split_part('s', \"'-'\", -1)",
        Kind::Text,
        Some("c"),
    ),
    (
        "split_first_from_end",
        "dbt.split_part('s', \"'-'\", -3)",
        Kind::Text,
        Some("a"),
    ),
    (
        "split_empty_part",
        "dbt.split_part(\"'a--b'\", \"'-'\", 2)",
        Kind::Text,
        Some(""),
    ),
    (
        "split_long_delimiter",
        "dbt.split_part(\"'x::y::z'\", \"'::'\", 2)",
        Kind::Text,
        Some("y"),
    ),
    (
        "split_null",
        "dbt.split_part('missing', \"'-'\", 1)",
        Kind::Text,
        None,
    ),
    ("right", "dbt.right('name', 3)", Kind::Text, Some("ace")),
    ("length", "dbt.length('name')", Kind::Number, Some("8")),
    (
        "length_of_accents",
        "dbt.length(\"'né'\")",
        Kind::Number,
        Some("2"),
    ),
    (
        "position",
        "dbt.position(\"'lace'\", 'name')",
        Kind::Number,
        Some("5"),
    ),
    (
        "position_missing",
        "dbt.position(\"'z'\", 'name')",
        Kind::Number,
        Some("0"),
    ),
    (
        "replace",
        "dbt.replace('name', \"'e'\", \"'E'\")",
        Kind::Text,
        Some("LovElacE"),
    ),
    (
        "quoted_literal",
        "dbt.string_literal(dbt.escape_single_quotes(\"O'Reilly\"))",
        Kind::Text,
        Some("O'Reilly"),
    ),
    (
        "backslash_literal",
        "dbt.string_literal(dbt.escape_single_quotes('a\\\\b'))",
        Kind::Text,
        Some("a\\b"),
    ),
    // Casts and types.
    (
        "safe_cast_int",
        "dbt.safe_cast(\"'12'\", dbt.type_int())",
        Kind::Number,
        Some("12"),
    ),
    (
        "cast_to_string",
        "dbt.cast('n', dbt.type_string())",
        Kind::Text,
        Some("3"),
    ),
    (
        "cast_float",
        "dbt.cast(\"'2.5'\", dbt.type_float())",
        Kind::Number,
        Some("2.5"),
    ),
    (
        "cast_numeric",
        "dbt.cast(\"'12.345'\", dbt.type_numeric())",
        Kind::Number,
        Some("12.345"),
    ),
    (
        "cast_bigint",
        "dbt.cast(\"'9000000000'\", dbt.type_bigint())",
        Kind::Number,
        Some("9000000000"),
    ),
    (
        "cast_timestamp",
        "dbt.cast(\"'2020-01-02 03:04:05'\", dbt.type_timestamp())",
        Kind::Time,
        Some("2020-01-02 03:04:05"),
    ),
    (
        "cast_date",
        "dbt.cast(\"'2020-01-02'\", 'date')",
        Kind::Time,
        Some("2020-01-02"),
    ),
    (
        "cast_boolean",
        "dbt.cast('flag', dbt.type_boolean())",
        Kind::Bool,
        Some("true"),
    ),
    (
        "true_as_text",
        "dbt.cast_bool_to_text('flag')",
        Kind::Text,
        Some("true"),
    ),
    (
        "false_as_text",
        "dbt.cast_bool_to_text('off')",
        Kind::Text,
        Some("false"),
    ),
    // Arrays: PostgreSQL's, JSON on the others.
    (
        "array",
        "dbt.array_construct(['1', '2', '3'])",
        Kind::List,
        Some("1,2,3"),
    ),
    (
        "array_append",
        "dbt.array_append(dbt.array_construct([\"'a'\"], 'text'), \"'b'\")",
        Kind::List,
        Some("a,b"),
    ),
    (
        "array_concat",
        "dbt.array_concat(dbt.array_construct(['1']), dbt.array_construct(['2', '3']))",
        Kind::List,
        Some("1,2,3"),
    ),
];

const HASH_OF_LOVELACE: &str = "21c8aa62c758b879c133038ff8a52e07";
const HASH_OF_3: &str = "eccbc87e4b5ce2fe28308fd9f2a7baf3";

/// The tables the models read, per engine (each in its own types; SQLite's dates are
/// text, its booleans 1 and 0).
fn setup_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => {
            "create table dvt_in (d date, d2 date, ts timestamp, ts2 timestamp, ts3 timestamp, s text, name text, missing text, flag boolean, off boolean, n integer);
            insert into dvt_in values ('2020-01-31', '2019-06-15', '2020-02-29 23:59:59', '2020-03-01 00:00:30', '2019-12-31 08:15:00', 'a-b-c', 'Lovelace', null, true, false, 3);
            create table dvt_people (grp text, name text, flag boolean);
            insert into dvt_people values ('GB', 'Ada', true), ('GB', 'Alan', false), ('US', 'Grace', true), ('US', 'Barbara', false), ('US', 'Donald', false), ('NL', 'Edsger', false);
            create table dvt_nums (x integer);
            insert into dvt_nums values (1), (2), (3);
            create table dvt_odd (x integer);
            insert into dvt_odd values (1), (3), (5);"
        }
        Engine::Mariadb => {
            "create table dvt_in (d date, d2 date, ts datetime, ts2 datetime, ts3 datetime, s varchar(50), name varchar(50), missing varchar(50), flag boolean, off boolean, n int);
            insert into dvt_in values ('2020-01-31', '2019-06-15', '2020-02-29 23:59:59', '2020-03-01 00:00:30', '2019-12-31 08:15:00', 'a-b-c', 'Lovelace', null, true, false, 3);
            create table dvt_people (grp varchar(10), name varchar(50), flag boolean);
            insert into dvt_people values ('GB', 'Ada', true), ('GB', 'Alan', false), ('US', 'Grace', true), ('US', 'Barbara', false), ('US', 'Donald', false), ('NL', 'Edsger', false);
            create table dvt_nums (x int);
            insert into dvt_nums values (1), (2), (3);
            create table dvt_odd (x int);
            insert into dvt_odd values (1), (3), (5);"
        }
        Engine::Sqlite => {
            "create table dvt_in (d date, d2 date, ts timestamp, ts2 timestamp, ts3 timestamp, s text, name text, missing text, flag boolean, off boolean, n integer);
            insert into dvt_in values ('2020-01-31', '2019-06-15', '2020-02-29 23:59:59', '2020-03-01 00:00:30', '2019-12-31 08:15:00', 'a-b-c', 'Lovelace', null, 1, 0, 3);
            create table dvt_people (grp text, name text, flag boolean);
            insert into dvt_people values ('GB', 'Ada', 1), ('GB', 'Alan', 0), ('US', 'Grace', 1), ('US', 'Barbara', 0), ('US', 'Donald', 0), ('NL', 'Edsger', 0);
            create table dvt_nums (x integer);
            insert into dvt_nums values (1), (2), (3);
            create table dvt_odd (x integer);
            insert into dvt_odd values (1), (3), (5);"
        }
    }
}

/// The models besides `scalars`: (name, SQL, the kind of each column, PostgreSQL's
/// rows). Each orders its rows, so the engines' rows line up.
type RowModel = (
    &'static str,
    &'static str,
    &'static [Kind],
    &'static [&'static [&'static str]],
);

const ROW_MODELS: &[RowModel] = &[
    (
        "aggregates",
        "select grp, {{ dbt.bool_or('flag') }} as any_flag, {{ dbt.any_value('grp') }} as some_grp,
            {{ dbt.length(dbt.listagg('name', \"'|'\")) }} as names_length, count(*) as people
        from dvt_people group by grp order by grp",
        &[
            Kind::Text,
            Kind::Bool,
            Kind::Text,
            Kind::Number,
            Kind::Number,
        ],
        &[
            &["GB", "true", "GB", "8", "2"],
            &["NL", "false", "NL", "6", "1"],
            &["US", "true", "US", "20", "3"],
        ],
    ),
    (
        "series",
        "select * from ({{ dbt.generate_series(5) }}) as t order by 1",
        &[Kind::Number],
        &[&["1"], &["2"], &["3"], &["4"], &["5"]],
    ),
    (
        "spine_of_days",
        "select * from ({{ dbt.date_spine('day', dbt.date(2020, 2, 26), dbt.date(2020, 3, 2)) }}) as t order by 1",
        &[Kind::Time],
        &[
            &["2020-02-26"],
            &["2020-02-27"],
            &["2020-02-28"],
            &["2020-02-29"],
            &["2020-03-01"],
        ],
    ),
    (
        "spine_of_months",
        "select * from ({{ dbt.date_spine('month', dbt.date(2019, 11, 30), dbt.date(2020, 3, 31)) }}) as t order by 1",
        &[Kind::Time],
        &[
            &["2019-11-30"],
            &["2019-12-30"],
            &["2020-01-30"],
            &["2020-02-29"],
        ],
    ),
    (
        "except_rows",
        "select * from (select x from dvt_nums {{ dbt.except() }} select x from dvt_odd) as t order by 1",
        &[Kind::Number],
        &[&["2"]],
    ),
    (
        "intersect_rows",
        "select * from (select x from dvt_nums {{ dbt.intersect() }} select x from dvt_odd) as t order by 1",
        &[Kind::Number],
        &[&["1"], &["3"]],
    ),
];

/// `listagg` with an order (and a limit): SQLite runs it from 3.44 on (DVT's own
/// connections run 3.50).
const ORDERED_LISTAGG: RowModel = (
    "ordered_listagg",
    "select grp,
        {{ dbt.listagg('name', \"', '\", 'order by name') }} as names,
        {{ dbt.listagg('name', \"'|'\", 'order by name desc', 2) }} as last_two
    from dvt_people group by grp order by grp",
    &[Kind::Text, Kind::Text, Kind::Text],
    &[
        &["GB", "Ada, Alan", "Alan|Ada"],
        &["NL", "Edsger", "Edsger"],
        &["US", "Barbara, Donald, Grace", "Grace|Donald"],
    ],
);

/// What `ordered_listagg` compiles to for SQLite, checked as text where Python's SQLite
/// is older than 3.44 and cannot run it.
const ORDERED_LISTAGG_SQLITE: &str = "select grp, group_concat(name, ', ' order by name) as names,
    (select group_concat(value, '|') from json_each(json_group_array(name order by name desc)) where key < 2) as last_two
    from dvt_people group by grp order by grp";

fn scalars_model() -> String {
    let columns: Vec<String> = SCALARS
        .iter()
        .map(|(name, call, _, _)| format!("    {{{{ {call} }}}} as c_{name}"))
        .collect();
    format!("select\n{}\nfrom dvt_in\n", columns.join(",\n"))
}

fn profiles(pg: &Scratch, my: &Scratch, lite: &Scratch) -> String {
    format!(
        "crossdb:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {}}}\n    my: {{type: mysql, server: 127.0.0.1, username: root, schema: {}}}\n    lite: {{type: sqlite, path: '{}'}}\n",
        pg.name,
        my.name,
        lite.sqlite_file().display()
    )
}

#[test]
fn postgres_mariadb_and_sqlite_agree_on_every_macro() {
    let scratches: Vec<Arc<Scratch>> = Engine::ALL
        .iter()
        .map(|e| Arc::new(Scratch::new(*e)))
        .collect();
    for s in &scratches {
        s.exec(setup_sql(s.engine));
    }
    let project = tempfile::tempdir().expect("tempdir");
    let mut files = vec![
        (
            "dbt_project.yml".to_owned(),
            "name: crossdb\nprofile: crossdb\n".to_owned(),
        ),
        (
            "profiles.yml".to_owned(),
            profiles(&scratches[0], &scratches[1], &scratches[2]),
        ),
        ("models/scalars.sql".to_owned(), scalars_model()),
    ];
    for (name, sql, _, _) in ROW_MODELS.iter().chain([&ORDERED_LISTAGG]) {
        files.push((format!("models/{name}.sql"), (*sql).to_owned()));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write_files(project.path(), &files);
    let sqlite_runs_ordered_listagg = sqlite_version() >= (3, 44);

    let mut failures = Vec::new();
    for scratch in &scratches {
        let engine = scratch.engine;
        let m = load(project.path(), engine.target());
        let db: Arc<dyn Database> = Arc::new(ScratchDatabase(Arc::clone(scratch)));
        let run = |model: &str| -> (String, Rows) {
            let sql = compile(&m, "crossdb", model, Some(Arc::clone(&db)));
            let rows = scratch.query(&sql).unwrap_or_else(|e| {
                panic!("{engine:?}: model `{model}` fails: {e}\n--- SQL\n{sql}")
            });
            (sql, rows)
        };

        let (sql, rows) = run("scalars");
        assert_eq!(rows.len(), 1, "{engine:?}: scalars gives one row\n{sql}");
        assert_eq!(
            rows[0].len(),
            SCALARS.len(),
            "{engine:?}: scalars' columns\n{sql}"
        );
        for ((name, call, kind, expected), got) in SCALARS.iter().zip(&rows[0]) {
            let got = normalise(*kind, got.as_deref());
            if got.as_deref() != *expected {
                failures.push(format!(
                    "{engine:?} `{call}` ({name}): {got:?}, PostgreSQL's value is {expected:?}"
                ));
            }
        }

        for (name, _, kinds, expected) in ROW_MODELS.iter().chain([&ORDERED_LISTAGG]) {
            if *name == ORDERED_LISTAGG.0
                && engine == Engine::Sqlite
                && !sqlite_runs_ordered_listagg
            {
                let sql = compile(&m, "crossdb", name, Some(Arc::clone(&db)));
                assert_eq!(
                    words(&sql),
                    words(ORDERED_LISTAGG_SQLITE),
                    "SQLite's ordered listagg\n{sql}"
                );
                continue;
            }
            let (sql, rows) = run(name);
            let got: Vec<Vec<Option<String>>> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .zip(kinds.iter())
                        .map(|(v, k)| normalise(*k, v.as_deref()))
                        .collect()
                })
                .collect();
            let want: Vec<Vec<Option<String>>> = expected
                .iter()
                .map(|row| row.iter().map(|v| Some((*v).to_owned())).collect())
                .collect();
            if got != want {
                failures.push(format!(
                    "{engine:?} model `{name}`: {got:?}, PostgreSQL's rows are {want:?}\n--- SQL\n{sql}"
                ));
            }
        }
    }
    let by_engine: BTreeMap<&str, usize> = failures.iter().fold(BTreeMap::new(), |mut acc, f| {
        *acc.entry(f.split(' ').next().unwrap_or("")).or_default() += 1;
        acc
    });
    assert!(
        failures.is_empty(),
        "{} values differ ({by_engine:?}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
