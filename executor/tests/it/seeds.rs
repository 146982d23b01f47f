//! Seeds load through the bulk loaders into every adapter.

use std::collections::BTreeMap;
use std::sync::Arc;

use dvt_core::dialect::{Dialect, Relation};
use dvt_core::seed::{SeedColumn, SeedData, SeedType};
use dvt_executor::adapter::{Adapter, TableDdl};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::seed::{seed_column_types, seed_stream};

use crate::common::{
    RUN, mysql_target, pg_target, query_rows, sqlite_target, unique_name, with_cleanup,
};

fn seed() -> SeedData {
    let col = |name: &str, ty: SeedType| SeedColumn {
        name: name.into(),
        ty,
    };
    let v = |s: &str| Some(s.to_owned());
    SeedData {
        columns: vec![
            col("id", SeedType::Integer),
            col(
                "price",
                SeedType::Decimal {
                    precision: 4,
                    scale: 2,
                },
            ),
            col("active", SeedType::Boolean),
            col("born", SeedType::Date),
            col("seen_at", SeedType::Timestamp),
            col("label", SeedType::Text),
            col("code", SeedType::Custom("VARCHAR(8)".into())),
        ],
        rows: vec![
            vec![
                v("1"),
                v("19.99"),
                v("true"),
                v("1990-05-17"),
                v("2024-01-02 03:04:05"),
                v("plain"),
                v("AB"),
            ],
            vec![
                v("2"),
                v("-0.5"),
                v("false"),
                None,
                v("2024-01-02 03:04:05.250000"),
                v("with, \"quotes\""),
                None,
            ],
            vec![v("3"), None, None, v("2000-02-29"), None, v(""), v("Z")],
        ],
    }
}

async fn load_seed(adapter: Arc<dyn Adapter>, schema: &str) {
    let d = adapter.dialect();
    dvt_executor::adapter::replace::ensure_schema(&*adapter, schema)
        .await
        .expect("schema");
    let data = seed();
    let rel = Relation::new(schema, "my_seed");
    let types = TableDdl::columns(seed_column_types(&data));
    assert_eq!(
        types.column_types,
        BTreeMap::from([("code".to_owned(), "VARCHAR(8)".to_owned())])
    );
    let loaded = adapter
        .replace_table_from_stream(&rel, seed_stream(&data).expect("stream"), &types, RUN)
        .await
        .expect("load seed");
    assert_eq!(loaded, 3);
    let sql = format!(
        "select id, price, born, seen_at, label, code from {} order by id",
        d.render(&rel)
    );
    let got = query_rows(&adapter, &sql).await;
    let expected: Vec<Vec<String>> = [
        [
            "1",
            "19.99",
            "1990-05-17",
            "2024-01-02T03:04:05",
            "plain",
            "AB",
        ],
        [
            "2",
            "-0.50",
            "NULL",
            "2024-01-02T03:04:05.250",
            "with, \"quotes\"",
            "NULL",
        ],
        ["3", "NULL", "2000-02-29", "NULL", "", "Z"],
    ]
    .iter()
    .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
    .collect();
    assert_eq!(got, expected);
    let active = query_rows(
        &adapter,
        &format!(
            "select case when active is null then 'null' when active then 'yes' else 'no' end from {} order by id",
            d.render(&rel)
        ),
    )
    .await;
    assert_eq!(
        active,
        vec![
            vec!["yes".to_owned()],
            vec!["no".to_owned()],
            vec!["null".to_owned()]
        ]
    );
    // Loading again replaces the seed.
    let reloaded = adapter
        .replace_table_from_stream(&rel, seed_stream(&data).expect("stream"), &types, RUN)
        .await
        .expect("reload seed");
    assert_eq!(reloaded, 3);
    if d == Dialect::Sqlite {
        return;
    }
    let sql = format!(
        "select count(*) from information_schema.tables where table_schema = '{schema}' and table_name like 'my_seed%'"
    );
    assert_eq!(query_rows(&adapter, &sql).await, vec![vec!["1".to_owned()]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_load_into_postgres() {
    let schema = unique_name();
    let registry = TargetRegistry::new(BTreeMap::from([(
        "pg".to_owned(),
        pg_target("pg", &schema),
    )]));
    let adapter = registry.adapter("pg").await.expect("connect");
    let cleanup = Arc::clone(&adapter);
    let drop_sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    with_cleanup(Box::pin(load_seed(adapter, &schema)), async move {
        cleanup.execute(&drop_sql).await.expect("drop");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_load_into_mysql() {
    let schema = unique_name();
    let registry = TargetRegistry::new(BTreeMap::from([(
        "maria".to_owned(),
        mysql_target("maria", &schema),
    )]));
    let adapter = registry.adapter("maria").await.expect("connect");
    let cleanup = Arc::clone(&adapter);
    let drop_sql = format!("DROP DATABASE IF EXISTS `{schema}`");
    with_cleanup(Box::pin(load_seed(adapter, &schema)), async move {
        cleanup.execute(&drop_sql).await.expect("drop");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_load_into_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = TargetRegistry::new(BTreeMap::from([(
        "lite".to_owned(),
        sqlite_target("lite", &dir.path().join("seeds.db")),
    )]));
    let adapter = registry.adapter("lite").await.expect("connect");
    load_seed(adapter, "main").await;
}
