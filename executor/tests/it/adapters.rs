//! Each adapter against its real server: atomic table and view replacement, failure
//! safety, and exact bulk-load round trips.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dvt_core::dialect::{Dialect, Relation};
use dvt_executor::adapter::{Adapter, TableDdl};
use dvt_executor::registry::TargetRegistry;

use crate::common::{
    RUN, mysql_target, pg_target, query_rows, sqlite_target, stream_of, unique_name, with_cleanup,
};

const TRICKY: [Option<&str>; 8] = [
    None,
    Some(""),
    Some("say \"hi\" it's"),
    Some("a,b,,c"),
    Some("line1\nline2\r\nline3"),
    Some("ünïcödé ✓ 😀"),
    Some("back\\slash \\N \t tab"),
    Some("NULL"),
];

fn tricky_batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Decimal128(12, 3), true),
        Field::new("dt", DataType::Date32, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("b", DataType::Boolean, true),
    ]));
    let n = TRICKY.len();
    let decimals = [
        Some(1_500),
        None,
        Some(-123_456_789),
        Some(0),
        Some(999_999_999_999),
        Some(-1),
        Some(42_000),
        Some(7),
    ];
    // 2024-02-29 is day 19782; 13:45:01.123456 on that day.
    let dates = [
        Some(19782),
        None,
        Some(0),
        Some(-1),
        Some(19782),
        Some(1),
        Some(2),
        Some(3),
    ];
    let ts0 = 19782_i64 * 86_400_000_000 + 49_501_123_456;
    let stamps = [
        Some(ts0),
        None,
        Some(0),
        Some(ts0 + 1),
        Some(-1_000_000),
        Some(ts0),
        Some(ts0),
        Some(ts0),
    ];
    let bools = [
        Some(true),
        None,
        Some(false),
        Some(true),
        Some(false),
        None,
        Some(true),
        Some(false),
    ];
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            Arc::new(StringArray::from(TRICKY.to_vec())),
            Arc::new(
                Decimal128Array::from(decimals.to_vec())
                    .with_precision_and_scale(12, 3)
                    .expect("decimal"),
            ),
            Arc::new(Date32Array::from(dates.to_vec())),
            Arc::new(TimestampMicrosecondArray::from(stamps.to_vec())),
            Arc::new(BooleanArray::from(bools.to_vec())),
        ],
    )
    .expect("batch")
}

fn expected_tricky_rows() -> Vec<Vec<String>> {
    let d = [
        "1.500",
        "NULL",
        "-123456.789",
        "0.000",
        "999999999.999",
        "-0.001",
        "42.000",
        "0.007",
    ];
    let dt = [
        "2024-02-29",
        "NULL",
        "1970-01-01",
        "1969-12-31",
        "2024-02-29",
        "1970-01-02",
        "1970-01-03",
        "1970-01-04",
    ];
    let ts = [
        "2024-02-29T13:45:01.123456",
        "NULL",
        "1970-01-01T00:00:00",
        "2024-02-29T13:45:01.123457",
        "1969-12-31T23:59:59",
        "2024-02-29T13:45:01.123456",
        "2024-02-29T13:45:01.123456",
        "2024-02-29T13:45:01.123456",
    ];
    let b = [
        "true", "NULL", "false", "true", "false", "NULL", "true", "false",
    ];
    (0..TRICKY.len())
        .map(|i| {
            vec![
                i.to_string(),
                TRICKY[i].unwrap_or("NULL").to_owned(),
                d[i].to_owned(),
                dt[i].to_owned(),
                ts[i].to_owned(),
                b[i].to_owned(),
            ]
        })
        .collect()
}

/// A string column's NULL renders as `NULL` too, so NULL-ness is checked separately.
async fn null_flags(adapter: &Arc<dyn Adapter>, rel: &str) -> Vec<Vec<String>> {
    let sql = format!(
        "select id, case when s is null then 'null' else 'value' end from {rel} order by id"
    );
    query_rows(adapter, &sql).await
}

/// Booleans come back as `1`/`0` from MySQL's `BOOLEAN` (a `TINYINT(1)`).
fn normalize_bool(rows: &mut [Vec<String>], col: usize) {
    for row in rows {
        row[col] = match row[col].as_str() {
            "1" => "true".to_owned(),
            "0" => "false".to_owned(),
            other => other.to_owned(),
        };
    }
}

async fn tmp_count(adapter: &Arc<dyn Adapter>, schema: &str, name: &str) -> String {
    let sql = match adapter.dialect() {
        Dialect::Sqlite => {
            format!("select count(*) from sqlite_master where name like '{name}%'")
        }
        _ => format!(
            "select count(*) from information_schema.tables where table_schema = '{schema}' and table_name like '{name}%'"
        ),
    };
    query_rows(adapter, &sql).await[0][0].clone()
}

async fn column_type(
    adapter: &Arc<dyn Adapter>,
    schema: &str,
    table: &str,
    column: &str,
) -> String {
    let sql = match adapter.dialect() {
        Dialect::Sqlite => {
            format!("select type from pragma_table_info('{table}') where name = '{column}'")
        }
        Dialect::Mysql => format!(
            "select column_type from information_schema.columns where table_schema = '{schema}' and table_name = '{table}' and column_name = '{column}'"
        ),
        _ => format!(
            "select data_type || '(' || character_maximum_length || ')' from information_schema.columns where table_schema = '{schema}' and table_name = '{table}' and column_name = '{column}'"
        ),
    };
    query_rows(adapter, &sql).await[0][0].to_lowercase()
}

async fn exercise(adapter: Arc<dyn Adapter>, schema: &str) {
    let d = adapter.dialect();
    dvt_executor::adapter::replace::ensure_schema(&*adapter, schema)
        .await
        .expect("create schema");
    dvt_executor::adapter::replace::ensure_schema(&*adapter, schema)
        .await
        .expect("create schema twice");
    assert!(!adapter.server_version().await.expect("version").is_empty());
    assert_eq!(
        query_rows(&adapter, "select 'say \"hi\", it''s' as s").await,
        vec![vec!["say \"hi\", it's".to_owned()]]
    );

    // replace_table_as, twice with different SQL.
    let t = Relation::new(schema, "model_a");
    let rt = d.render(&t);
    adapter
        .replace_table_as(&t, "select 1 as id, 'first' as name", RUN)
        .await
        .expect("first build");
    assert_eq!(
        query_rows(&adapter, &format!("select id, name from {rt} order by id")).await,
        vec![vec!["1".to_owned(), "first".to_owned()]]
    );
    let rows = adapter
        .replace_table_as(
            &t,
            "select 2 as id, 'second' as name union all select 3, 'third';",
            RUN,
        )
        .await
        .expect("second build");
    if d != Dialect::Sqlite {
        assert_eq!(rows, Some(2));
    }
    let second = vec![
        vec!["2".to_owned(), "second".to_owned()],
        vec!["3".to_owned(), "third".to_owned()],
    ];
    assert_eq!(
        query_rows(&adapter, &format!("select id, name from {rt} order by id")).await,
        second
    );

    // A failing build leaves the old table and no temporary relation.
    let err = adapter
        .replace_table_as(&t, "select id from no_such_table_anywhere", RUN)
        .await
        .expect_err("bad sql fails");
    assert_eq!(err.code(), "DVT301", "{err}");
    assert!(err.to_string().contains("model_a__dvt_"), "{err}");
    assert_eq!(
        query_rows(&adapter, &format!("select id, name from {rt} order by id")).await,
        second
    );
    assert_eq!(tmp_count(&adapter, schema, "model_a__dvt_").await, "0");
    assert_eq!(tmp_count(&adapter, schema, "model_a__dvt_bak").await, "0");

    // Views: created, replaced, and swapped with tables both ways.
    let v = Relation::new(schema, "model_v");
    let rv = d.render(&v);
    adapter
        .replace_view_as(&v, &format!("select id from {rt} where id > 2"), RUN)
        .await
        .expect("view");
    assert_eq!(
        query_rows(&adapter, &format!("select id from {rv}")).await,
        vec![vec!["3".to_owned()]]
    );
    adapter
        .replace_view_as(&v, &format!("select id from {rt} where id < 3"), RUN)
        .await
        .expect("view again");
    assert_eq!(
        query_rows(&adapter, &format!("select id from {rv}")).await,
        vec![vec!["2".to_owned()]]
    );
    adapter
        .replace_table_as(&v, "select 10 as id", RUN)
        .await
        .expect("table over a view");
    assert_eq!(
        query_rows(&adapter, &format!("select id from {rv}")).await,
        vec![vec!["10".to_owned()]]
    );
    let t2 = Relation::new(schema, "model_b");
    adapter
        .replace_table_as(&t2, "select 5 as id", RUN)
        .await
        .expect("table");
    adapter
        .replace_view_as(&t2, "select 6 as id", RUN)
        .await
        .expect("view over a table");
    assert_eq!(
        query_rows(&adapter, &format!("select id from {}", d.render(&t2))).await,
        vec![vec!["6".to_owned()]]
    );
    assert_eq!(tmp_count(&adapter, schema, "model_b__dvt_").await, "0");

    // Bulk load round trip, replacing an existing table.
    let l = Relation::new(schema, "loaded");
    let rl = d.render(&l);
    adapter
        .replace_table_as(&l, "select 1 as old_column", RUN)
        .await
        .expect("old");
    let loaded = adapter
        .replace_table_from_stream(&l, stream_of(tricky_batch()), &TableDdl::default(), RUN)
        .await
        .expect("bulk load");
    assert_eq!(loaded, TRICKY.len() as u64);
    let mut got = query_rows(
        &adapter,
        &format!("select id, s, d, dt, ts, b from {rl} order by id"),
    )
    .await;
    normalize_bool(&mut got, 5);
    assert_eq!(got, expected_tricky_rows());
    let flags = null_flags(&adapter, &rl).await;
    assert_eq!(flags[0][1], "null");
    assert!(flags[1..].iter().all(|r| r[1] == "value"), "{flags:?}");
    assert_eq!(tmp_count(&adapter, schema, "loaded__dvt_").await, "0");

    // column_types overrides.
    let o = Relation::new(schema, "overridden");
    let overrides = TableDdl::columns(BTreeMap::from([(
        "s".to_owned(),
        "VARCHAR(200)".to_owned(),
    )]));
    adapter
        .replace_table_from_stream(&o, stream_of(tricky_batch()), &overrides, RUN)
        .await
        .expect("bulk load with overrides");
    let ty = column_type(&adapter, schema, "overridden", "s").await;
    let expected = match d {
        Dialect::Postgres => "character varying(200)",
        _ => "varchar(200)",
    };
    assert_eq!(ty, expected);
    assert_eq!(
        query_rows(&adapter, &format!("select count(*) from {}", d.render(&o))).await,
        vec![vec![TRICKY.len().to_string()]]
    );

    // A load the server would have to alter fails instead (MySQL's `LOAD DATA LOCAL`
    // only warns, so the loader checks the warnings).
    if d != Dialect::Sqlite {
        let narrow = TableDdl::columns(BTreeMap::from([("s".to_owned(), "VARCHAR(3)".to_owned())]));
        let err = adapter
            .replace_table_from_stream(&o, stream_of(tricky_batch()), &narrow, RUN)
            .await
            .expect_err("values too long");
        assert_eq!(err.code(), "DVT304", "{err}");
        assert!(err.to_string().contains("overridden__dvt_"), "{err}");
        assert_eq!(tmp_count(&adapter, schema, "overridden__dvt_").await, "0");
        assert_eq!(
            column_type(&adapter, schema, "overridden", "s").await,
            expected
        );
    }

    // A load whose override the database rejects fails and leaves nothing behind.
    let bad = TableDdl::columns(BTreeMap::from([("s".to_owned(), "NOT_A_TYPE(".to_owned())]));
    let err = adapter
        .replace_table_from_stream(&o, stream_of(tricky_batch()), &bad, RUN)
        .await
        .expect_err("bad type");
    assert!(matches!(err.code(), "DVT301" | "DVT304"), "{err}");
    assert_eq!(tmp_count(&adapter, schema, "overridden__dvt_").await, "0");
    assert_eq!(
        query_rows(&adapter, &format!("select count(*) from {}", d.render(&o))).await,
        vec![vec![TRICKY.len().to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_adapter_replaces_atomically_and_round_trips() {
    let schema = unique_name();
    let registry = TargetRegistry::new(BTreeMap::from([(
        "pg".to_owned(),
        pg_target("pg", &schema),
    )]));
    let adapter = registry.adapter("pg").await.expect("connect");
    let cleanup_adapter = Arc::clone(&adapter);
    let drop_sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    with_cleanup(Box::pin(exercise(adapter, &schema)), async move {
        cleanup_adapter
            .execute(&drop_sql)
            .await
            .expect("drop schema");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_adapter_replaces_atomically_and_round_trips() {
    let schema = unique_name();
    let registry = TargetRegistry::new(BTreeMap::from([(
        "maria".to_owned(),
        mysql_target("maria", &schema),
    )]));
    let adapter = registry.adapter("maria").await.expect("connect");
    let cleanup_adapter = Arc::clone(&adapter);
    let drop_sql = format!("DROP DATABASE IF EXISTS `{schema}`");
    with_cleanup(Box::pin(exercise(adapter, &schema)), async move {
        cleanup_adapter
            .execute(&drop_sql)
            .await
            .expect("drop database");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_adapter_replaces_atomically_and_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = sqlite_target("lite", &dir.path().join("dev.db"));
    let registry = TargetRegistry::new(BTreeMap::from([("lite".to_owned(), target)]));
    let adapter = registry.adapter("lite").await.expect("connect");
    exercise(adapter, "main").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_name_the_target_and_hide_the_password() {
    let mut target = pg_target("pg_bad", "public");
    if let dvt_core::target::Connection::Postgres(c) = &mut target.connection {
        c.port = 1; // nothing listens here
        c.password = dvt_core::secret::Secret::new("hunter2-secret");
    }
    let registry = TargetRegistry::new(BTreeMap::from([("pg_bad".to_owned(), target)]));
    let err = registry
        .adapter("pg_bad")
        .await
        .expect_err("cannot connect");
    assert_eq!(err.code(), "DVT300");
    let text = format!("{err} {err:?}");
    assert!(text.contains("pg_bad"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// More callers at once than a PostgreSQL target has connections (ten for a profile of
/// one thread), each holding its connection longer than the 30 s the pool itself waits:
/// the ones left over queue until a connection comes back, and every call succeeds
/// (they used to fail with "Timed out in bb8").
#[tokio::test(flavor = "multi_thread")]
async fn postgres_callers_queue_for_a_connection_behind_long_queries() {
    let mut target = pg_target("pg", &unique_name());
    target.threads = Some(1);
    let registry = TargetRegistry::new(BTreeMap::from([("pg".to_owned(), target)]));
    let adapter = registry.adapter("pg").await.expect("connect");
    let calls: Vec<_> = (0..11)
        .map(|_| {
            let adapter = Arc::clone(&adapter);
            tokio::spawn(async move { adapter.execute("select pg_sleep(31)").await })
        })
        .collect();
    for call in calls {
        call.await
            .expect("task")
            .expect("a queued caller gets its connection");
    }
}
