//! A PostgreSQL × MariaDB join computed by the federation engine, checked against the
//! same query run inside PostgreSQL alone; then the same through Ballista standalone.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dvt_core::dialect::Relation;
use dvt_executor::federation::{Compute, FederatedQuery, FederationEngine, RemoteInput};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::staging::Staging;

use crate::common::{mysql_target, pg_target, query_rows, rows, unique_name, with_cleanup};

const ORDERS: &str = "(1, 1, 5.00, 'tiny', '2024-01-01 00:00:00'), \
    (2, 1, 25.50, 'a', '1969-07-20 20:17:40.5'), (3, 2, 99.99, 'b', '2024-02-29 12:00:00'), \
    (4, 2, 10.00, 'edge', NULL), (5, 3, 42.00, NULL, '1900-01-01 00:00:00.000001'), \
    (6, 3, 11.11, 'c', NULL), (7, 4, 300.00, 'd', '2262-04-12 00:00:00'), \
    (8, 1, 10.01, 'e', '2001-09-09 01:46:40'), (9, 5, 77.00, 'no customer', NULL)";
const CUSTOMERS: &str = "(1, 'Ada', 'EU'), (2, 'Bob', 'US'), (3, 'Cy', 'EU'), (4, 'Dee', NULL)";

const JOIN_SQL: &str = "select c.name, c.region, count(*) as n, sum(o.amount) as total, \
    min(o.created_at) as first_at \
    from \"pg\".\"{s}\".\"orders\" o join \"maria\".\"{s}\".\"customers\" c on c.id = o.customer_id \
    where o.amount > 10 group by c.name, c.region order by c.name";

const REFERENCE_SQL: &str = "select c.name, c.region, count(*) as n, sum(o.amount) as total, \
    min(o.created_at) as first_at \
    from \"{s}\".orders o join \"{s}\".customers_copy c on c.id = o.customer_id \
    where o.amount > 10 group by c.name, c.region order by c.name";

struct Fixture {
    schema: String,
    registry: Arc<TargetRegistry>,
}

async fn fixture() -> Fixture {
    let schema = unique_name();
    let registry = Arc::new(TargetRegistry::new(BTreeMap::from([
        ("pg".to_owned(), pg_target("pg", &schema)),
        ("maria".to_owned(), mysql_target("maria", &schema)),
    ])));
    let pg = registry.adapter("pg").await.expect("pg");
    let maria = registry.adapter("maria").await.expect("maria");
    let s = &schema;
    pg.execute(&format!(
        "create schema \"{s}\"; \
         create table \"{s}\".orders (id int primary key, customer_id int, amount numeric(10,2), note text, created_at timestamp); \
         insert into \"{s}\".orders values {ORDERS}; \
         create table \"{s}\".customers_copy (id int primary key, name varchar(50), region varchar(10)); \
         insert into \"{s}\".customers_copy values {CUSTOMERS};"
    ))
    .await
    .expect("pg fixture");
    maria
        .execute(&format!(
            "create database `{s}`; \
             create table `{s}`.customers (id int primary key, name varchar(50), region varchar(10)); \
             insert into `{s}`.customers values {CUSTOMERS};"
        ))
        .await
        .expect("maria fixture");
    Fixture { schema, registry }
}

async fn drop_fixture(f: &Fixture) {
    let pg = f.registry.adapter("pg").await.expect("pg");
    let maria = f.registry.adapter("maria").await.expect("maria");
    pg.execute(&format!("drop schema if exists \"{}\" cascade", f.schema))
        .await
        .expect("drop pg schema");
    maria
        .execute(&format!("drop database if exists `{}`", f.schema))
        .await
        .expect("drop maria database");
}

fn join_query(schema: &str) -> FederatedQuery {
    FederatedQuery {
        sql: JOIN_SQL.replace("{s}", schema),
        inputs: vec![
            RemoteInput {
                target: "pg".into(),
                relation: Relation::new(schema, "orders"),
            },
            RemoteInput {
                target: "maria".into(),
                relation: Relation::new(schema, "customers"),
            },
        ],
        hints: Default::default(),
    }
}

fn parquet_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".parquet"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn federated_join_matches_single_database_result() {
    let f = fixture().await;
    let staging_dir = tempfile::tempdir().expect("tempdir");
    let body = async {
        let s = &f.schema;
        let staging = Staging::local(staging_dir.path().join("staging")).expect("staging");
        let engine = FederationEngine::new(Arc::clone(&f.registry), staging, Compute::Local);
        let dest = Relation::new(s.as_str(), "federated_result");
        let loaded = engine
            .run_into("run-1", &join_query(s), "pg", &dest, &BTreeMap::new())
            .await
            .expect("federated run");
        assert_eq!(loaded, 4);

        let pg = f.registry.adapter("pg").await.expect("pg");
        let got = query_rows(
            &pg,
            &format!(
                "select name, region, n, total::text, first_at::text from \"{s}\".federated_result order by name"
            ),
        )
        .await;
        let reference = query_rows(
            &pg,
            &format!(
                "select name, region, n, total::text, first_at::text from ({}) r order by name",
                REFERENCE_SQL.replace("{s}", s)
            ),
        )
        .await;
        assert_eq!(got, reference);
        assert_eq!(
            got,
            vec![
                vec!["Ada", "EU", "2", "35.51", "1969-07-20 20:17:40.5"],
                vec!["Bob", "US", "1", "99.99", "2024-02-29 12:00:00"],
                vec!["Cy", "EU", "2", "53.11", "1900-01-01 00:00:00.000001"],
                vec!["Dee", "NULL", "1", "300.00", "2262-04-12 00:00:00"],
            ]
            .into_iter()
            .map(|r| r.into_iter().map(str::to_owned).collect::<Vec<_>>())
            .collect::<Vec<_>>()
        );

        let run_dir = staging_dir.path().join("staging").join("run-1");
        for input in [format!("pg.{s}.orders"), format!("maria.{s}.customers")] {
            let files = parquet_files(&run_dir.join(&input));
            assert_eq!(files.len(), 1, "{input}: {files:?}");
            assert!(files[0].starts_with("part-0"), "{files:?}");
        }

        // `collect` (for `dvt show`) honours the limit.
        let shown = engine
            .collect("run-2", &join_query(s), Some(2))
            .await
            .expect("collect");
        assert_eq!(rows(&shown).len(), 2);
    };
    with_cleanup(Box::pin(body), drop_fixture(&f)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_sql_carries_filters_and_only_projected_columns() {
    let f = fixture().await;
    let staging_dir = tempfile::tempdir().expect("tempdir");
    let body = async {
        let s = &f.schema;
        let staging = Staging::local(staging_dir.path().to_owned()).expect("staging");
        let engine = FederationEngine::new(Arc::clone(&f.registry), staging, Compute::Local);
        let query = FederatedQuery {
            sql: format!(
                "select o.id, c.name from \"pg\".\"{s}\".\"orders\" o \
                 join \"maria\".\"{s}\".\"customers\" c on c.id = o.customer_id \
                 where o.amount > 10 and c.region = 'EU'"
            ),
            inputs: join_query(s).inputs,
            hints: Default::default(),
        };
        let pushed = engine.pushed_sql(&query).await.expect("pushed sql");
        assert_eq!(pushed.len(), 2, "{pushed:?}");
        let (orders_input, orders_sql) = &pushed[0];
        assert_eq!(orders_input.target, "pg");
        assert!(orders_sql.contains("WHERE"), "{orders_sql}");
        assert!(orders_sql.contains("\"amount\" >"), "{orders_sql}");
        assert!(orders_sql.contains("\"customer_id\""), "{orders_sql}");
        assert!(!orders_sql.contains("note"), "{orders_sql}");
        assert!(!orders_sql.contains('*'), "{orders_sql}");
        let (customers_input, customers_sql) = &pushed[1];
        assert_eq!(customers_input.target, "maria");
        assert!(customers_sql.contains("`region` = 'EU'"), "{customers_sql}");
        assert!(
            customers_sql.contains(&format!("FROM `{s}`.`customers`")),
            "{customers_sql}"
        );

        // The result agrees with the pushed filters.
        let got = engine
            .collect("run-p", &query, None)
            .await
            .expect("collect");
        let mut got = rows(&got);
        got.sort();
        let expected: Vec<Vec<String>> = [["2", "Ada"], ["5", "Cy"], ["6", "Cy"], ["8", "Ada"]]
            .iter()
            .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
            .collect();
        assert_eq!(got, expected);

        // A limit on a plain scan goes to the source too.
        let limited = FederatedQuery {
            sql: format!("select id from \"pg\".\"{s}\".\"orders\" limit 3"),
            inputs: vec![join_query(s).inputs[0].clone()],
            hints: Default::default(),
        };
        let pushed = engine.pushed_sql(&limited).await.expect("pushed sql");
        assert_eq!(pushed.len(), 1, "{pushed:?}");
        assert!(pushed[0].1.ends_with("LIMIT 3"), "{}", pushed[0].1);
        let got = engine
            .collect("run-lim", &limited, None)
            .await
            .expect("limited");
        assert_eq!(rows(&got).len(), 3);

        // Timestamp filters (before the epoch too) go to PostgreSQL.
        let old_orders = FederatedQuery {
            sql: format!(
                "select id from \"pg\".\"{s}\".\"orders\" \
                 where created_at < timestamp '1970-01-01 00:00:00' order by id"
            ),
            inputs: vec![join_query(s).inputs[0].clone()],
            hints: Default::default(),
        };
        let pushed = engine.pushed_sql(&old_orders).await.expect("pushed sql");
        assert!(pushed[0].1.contains("\"created_at\" <"), "{}", pushed[0].1);
        let got = engine
            .collect("run-ts", &old_orders, None)
            .await
            .expect("old orders");
        assert_eq!(rows(&got), vec![vec!["2".to_owned()], vec!["5".to_owned()]]);

        // count(*) over a remote table: no columns projected.
        let count = FederatedQuery {
            sql: format!("select count(*) as n from \"pg\".\"{s}\".\"orders\" where amount > 10"),
            inputs: vec![join_query(s).inputs[0].clone()],
            hints: Default::default(),
        };
        let counted = engine.collect("run-c", &count, None).await.expect("count");
        assert_eq!(rows(&counted), vec![vec!["7".to_owned()]]);
    };
    with_cleanup(Box::pin(body), drop_fixture(&f)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ballista_standalone_matches_local() {
    let f = fixture().await;
    let staging_dir = tempfile::tempdir().expect("tempdir");
    let body = async {
        let s = &f.schema;
        let local = FederationEngine::new(
            Arc::clone(&f.registry),
            Staging::local(staging_dir.path().join("local")).expect("staging"),
            Compute::Local,
        );
        let ballista = FederationEngine::new(
            Arc::clone(&f.registry),
            Staging::local(staging_dir.path().join("ballista")).expect("staging"),
            Compute::BallistaStandalone,
        );
        let expected = rows(
            &local
                .collect("run-l", &join_query(s), None)
                .await
                .expect("local"),
        );
        assert_eq!(expected.len(), 4);
        let got = rows(
            &ballista
                .collect("run-b", &join_query(s), None)
                .await
                .expect("ballista"),
        );
        assert_eq!(got, expected);
        // A second query reuses the cached standalone cluster.
        let again = rows(
            &ballista
                .collect("run-b2", &join_query(s), None)
                .await
                .expect("ballista again"),
        );
        assert_eq!(again, expected);
        // count(*) projects no columns; Ballista must accept the scan's empty batches.
        let count = FederatedQuery {
            sql: format!("select count(*) as n from \"maria\".\"{s}\".\"customers\""),
            inputs: vec![join_query(s).inputs[1].clone()],
            hints: Default::default(),
        };
        let counted = ballista
            .collect("run-bc", &count, None)
            .await
            .expect("count");
        assert_eq!(rows(&counted), vec![vec!["4".to_owned()]]);
        // And loads through the destination's bulk path.
        let dest = Relation::new(s.as_str(), "from_ballista");
        let loaded = ballista
            .run_into("run-b3", &join_query(s), "maria", &dest, &BTreeMap::new())
            .await
            .expect("ballista run_into");
        assert_eq!(loaded, 4);
    };
    with_cleanup(Box::pin(body), drop_fixture(&f)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_source_reports_the_source_error() {
    let f = fixture().await;
    let staging_dir = tempfile::tempdir().expect("tempdir");
    let body = async {
        let s = &f.schema;
        let engine = FederationEngine::new(
            Arc::clone(&f.registry),
            Staging::local(staging_dir.path().to_owned()).expect("staging"),
            Compute::Local,
        );
        let missing = FederatedQuery {
            sql: format!("select * from \"pg\".\"{s}\".\"nope\""),
            inputs: vec![RemoteInput {
                target: "pg".into(),
                relation: Relation::new(s.as_str(), "nope"),
            }],
            hints: Default::default(),
        };
        let err = engine
            .collect("run-x", &missing, None)
            .await
            .expect_err("missing table");
        assert_eq!(err.code(), "DVT301", "{err}");
        assert!(err.to_string().contains("nope"), "{err}");

        let unknown = FederatedQuery {
            sql: "select 1".into(),
            inputs: vec![RemoteInput {
                target: "nowhere".into(),
                relation: Relation::new("a", "b"),
            }],
            hints: Default::default(),
        };
        let err = engine
            .collect("run-y", &unknown, None)
            .await
            .expect_err("unknown target");
        assert_eq!(err.code(), "DVT300", "{err}");

        let bad_sql = FederatedQuery {
            sql: format!("select no_such_column from \"pg\".\"{s}\".\"orders\""),
            inputs: join_query(s).inputs,
            hints: Default::default(),
        };
        let err = engine
            .collect("run-z", &bad_sql, None)
            .await
            .expect_err("bad sql");
        assert_eq!(err.code(), "DVT302", "{err}");
    };
    with_cleanup(Box::pin(body), drop_fixture(&f)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_joins_as_source_and_destination() {
    let f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let body = async {
        let s = &f.schema;
        let db = dir.path().join("lite.db");
        let mut targets = BTreeMap::from([
            ("pg".to_owned(), pg_target("pg", s)),
            ("maria".to_owned(), mysql_target("maria", s)),
        ]);
        targets.insert("lite".to_owned(), crate::common::sqlite_target("lite", &db));
        let registry = Arc::new(TargetRegistry::new(targets));
        let lite = registry.adapter("lite").await.expect("sqlite");
        lite.execute(
            "create table regions (code text, label text, since date, weight decimal(5,2)); \
             insert into regions values ('EU', 'Europe', '1993-11-01', 1.50), \
             ('US', 'United States', '1776-07-04', 2.25), ('APAC', 'Asia', NULL, NULL);",
        )
        .await
        .expect("sqlite fixture");
        let engine = FederationEngine::new(
            Arc::clone(&registry),
            Staging::local(dir.path().join("staging")).expect("staging"),
            Compute::Local,
        );
        let query = FederatedQuery {
            sql: format!(
                "select c.name, r.label, r.since, r.weight from \"maria\".\"{s}\".\"customers\" c \
                 join \"lite\".\"main\".\"regions\" r on r.code = c.region \
                 where r.weight > 1 order by c.name"
            ),
            inputs: vec![
                join_query(s).inputs[1].clone(),
                RemoteInput {
                    target: "lite".into(),
                    relation: Relation::new("main", "regions"),
                },
            ],
            hints: Default::default(),
        };
        let pushed = engine.pushed_sql(&query).await.expect("pushed");
        let lite_sql = &pushed
            .iter()
            .find(|(i, _)| i.target == "lite")
            .expect("lite scan")
            .1;
        assert!(lite_sql.contains("WHERE"), "{lite_sql}");
        let dest = Relation::new("main", "named_regions");
        let loaded = engine
            .run_into("run-lite", &query, "lite", &dest, &BTreeMap::new())
            .await
            .expect("into sqlite");
        assert_eq!(loaded, 3);
        let got = query_rows(
            &lite,
            "select name, label, since, weight from main.named_regions order by name",
        )
        .await;
        let expected: Vec<Vec<String>> = [
            ["Ada", "Europe", "1993-11-01", "1.50"],
            ["Bob", "United States", "1776-07-04", "2.25"],
            ["Cy", "Europe", "1993-11-01", "1.50"],
        ]
        .iter()
        .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
        .collect();
        assert_eq!(got, expected);
    };
    with_cleanup(Box::pin(body), drop_fixture(&f)).await;
}

/// A split scan: each range of the source is extracted into its own part, and every
/// source row reaches the engine exactly once, on each kind of source (PostgreSQL by
/// `ctid` pages, MariaDB by its integer primary key, SQLite by `rowid`, and a
/// `partition_by:` column that holds nulls).
#[tokio::test(flavor = "multi_thread")]
async fn split_scans_deliver_every_source_row_exactly_once() {
    use dvt_executor::federation::PartitionHint;

    let schema = unique_name();
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Arc::new(TargetRegistry::new(BTreeMap::from([
        ("pg".to_owned(), pg_target("pg", &schema)),
        ("maria".to_owned(), mysql_target("maria", &schema)),
        (
            "lite".to_owned(),
            crate::common::sqlite_target("lite", &dir.path().join("lite.db")),
        ),
    ])));
    let pg = registry.adapter("pg").await.expect("pg");
    let maria = registry.adapter("maria").await.expect("maria");
    let lite = registry.adapter("lite").await.expect("lite");
    let s = schema.clone();
    let body = async {
        pg.execute(&format!(
            "create schema \"{s}\"; \
             create table \"{s}\".big as select g as id, md5(g::text) as note from generate_series(1, 200000) g; \
             create table \"{s}\".sparse as select case when g % 10 = 0 then null else g end as k, g as id \
               from generate_series(1, 1000) g;"
        ))
        .await
        .expect("pg fixture");
        maria
            .execute(&format!(
                "create database `{s}`; \
                 create table `{s}`.big (id bigint primary key, note varchar(40)); \
                 insert into `{s}`.big select seq, md5(seq) from `{s}`.seq_1_to_30000;"
            ))
            .await
            .expect("maria fixture");
        lite.execute(
            "create table big (id integer, note text); \
             with recursive g(n) as (select 1 union all select n + 1 from g where n < 30000) \
             insert into big select n, 'x' || n from g;",
        )
        .await
        .expect("sqlite fixture");
        let staging_root = dir.path().join("staging");
        let engine = FederationEngine::new(
            Arc::clone(&registry),
            Staging::local(staging_root.clone()).expect("staging"),
            Compute::Local,
        );
        let cases = [
            ("pg", s.as_str(), "big", "id", 200_000i64, None, 5usize),
            ("maria", s.as_str(), "big", "id", 30_000, None, 3),
            ("lite", "main", "big", "id", 30_000, None, 4),
            // Nulls in the key go with the first range.
            ("pg", s.as_str(), "sparse", "id", 1_000, Some("k"), 4),
        ];
        for (i, (target, sch, table, id, n, by, parts)) in cases.into_iter().enumerate() {
            let input = RemoteInput {
                target: target.into(),
                relation: Relation::new(sch, table),
            };
            let query = FederatedQuery {
                sql: format!(
                    "select count(*) as n, count(distinct {id}) as d, sum({id}) as total \
                     from \"{target}\".\"{sch}\".\"{table}\" where {id} > 10"
                ),
                inputs: vec![input.clone()],
                hints: BTreeMap::from([(
                    input,
                    PartitionHint {
                        by: by.map(str::to_owned),
                        count: Some(parts),
                    },
                )]),
            };
            let run = format!("split-{i}");
            let got = rows(
                &engine
                    .collect(&run, &query, None)
                    .await
                    .expect("split scan"),
            );
            let kept = n - 10;
            let total = (n * (n + 1) - 110) / 2;
            assert_eq!(
                got,
                vec![vec![kept.to_string(), kept.to_string(), total.to_string()]],
                "{target}.{table}"
            );
            let files = parquet_files(
                &staging_root
                    .join(&run)
                    .join(format!("{target}.{sch}.{table}")),
            );
            assert_eq!(files.len(), parts, "{target}.{table}: {files:?}");
        }
    };
    let cleanup = async {
        let _ = pg
            .execute(&format!("drop schema if exists \"{s}\" cascade"))
            .await;
        let _ = maria
            .execute(&format!("drop database if exists `{s}`"))
            .await;
    };
    with_cleanup(Box::pin(body), cleanup).await;
}

/// A client killed during a cluster load leaves the executors' staging tables; the next
/// run finds the dead run's journal and drops every table under the load's prefix, and
/// nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_runs_cluster_load_tables_are_collected() {
    use dvt_core::dialect::Dialect;
    let schema = unique_name();
    let registry = Arc::new(TargetRegistry::new(BTreeMap::from([(
        "pg".to_owned(),
        pg_target("pg", &schema),
    )])));
    let pg = registry.adapter("pg").await.expect("pg");
    let dir = tempfile::tempdir().expect("tempdir");
    let s = schema.clone();
    let body = async {
        let model = Relation::new(s.as_str(), "copied");
        let prefix = dvt_executor::federation::load_prefix(Dialect::Postgres, &model, "dead-run");
        pg.execute(&format!(
            "create schema \"{s}\"; create table \"{s}\".\"{prefix}0000aaaaaaaa\" (id int); \
             create table \"{s}\".\"{prefix}0001bbbbbbbb\" (id int); create table \"{s}\".copied (id int);"
        ))
        .await
        .expect("fixture");
        let runs = dir.path().join("runs");
        std::fs::create_dir_all(&runs).expect("runs dir");
        let journal = [
            serde_json::json!({"kind": "owner", "pid": u32::MAX - 1, "started": null, "invocation_id": "dead-run"}),
            serde_json::json!({"kind": "staged_prefix", "target": "pg", "relation": model, "prefix": prefix}),
        ]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<String>();
        std::fs::write(runs.join("dead-run.jsonl"), journal).expect("journal");
        let staging = Staging::local(dir.path().join("staging")).expect("staging");
        let collected = dvt_executor::run::collect_garbage(&runs, &registry, &staging).await;
        assert_eq!(collected.runs, vec!["dead-run".to_owned()]);
        assert_eq!(collected.relations.len(), 2, "{:?}", collected.relations);
        let left = query_rows(
            &pg,
            &format!(
                "select table_name::text from information_schema.tables where table_schema = '{s}'"
            ),
        )
        .await;
        assert_eq!(left, vec![vec!["copied".to_owned()]]);
        assert!(!runs.join("dead-run.jsonl").exists());
    };
    let cleanup = async {
        let _ = pg
            .execute(&format!("drop schema if exists \"{s}\" cascade"))
            .await;
    };
    with_cleanup(Box::pin(body), cleanup).await;
}
