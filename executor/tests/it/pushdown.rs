//! Federated SQL means DataFusion's semantics: for every filter, the rows a federated
//! query returns (with filters pushed to each source where DVT judges them exact) equal
//! the rows DataFusion keeps when it filters an unfiltered copy of the same table itself.
//! The data is chosen where databases and DataFusion disagree: case, trailing spaces,
//! NULLs, rounding casts, MySQL booleans, mixed-case column names.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use dvt_core::dialect::Relation;
use dvt_executor::federation::{Compute, FederatedQuery, FederationEngine, RemoteInput};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::staging::Staging;

use crate::common::{mysql_target, pg_target, rows, sqlite_target, unique_name, with_cleanup};

const ROWS: &str = "(1, 'abc', 1.25, 10, 1), (2, 'ABC', 2.5, -3, 0), (3, 'abc ', 2.75, 0, 2), \
    (4, '', -1.5, NULL, NULL), (5, NULL, NULL, 7, 1), (6, 'Ab', 0.5, 2, 0)";

/// Filters over `t(id, name, amount, qty, flag)`; `CustomerID` is `qty`'s alias column.
const FILTERS: &[&str] = &[
    "name = 'abc'",
    "name <> 'abc'",
    "not (name = 'abc')",
    "name in ('abc', 'Ab')",
    "name not in ('abc', 'Ab')",
    "name = ''",
    "name is null",
    "name is not null and qty > 0",
    "cast(amount as int) = 2",
    "cast(amount as int) = 3",
    "amount > 1.25",
    "amount between 0.5 and 2.5",
    "qty in (0, 7) or name = 'ABC'",
    "not (qty < 0 or name <> 'abc')",
    "flag = 1",
    "flag <> 0",
    "{cid} > 1",
    "code = 'abc'",
    "code <> 'abc'",
    "code in ('abc', 'ABC')",
    "qty + 1 > 2",
];

async fn ids_of(batches: &[arrow::record_batch::RecordBatch]) -> Vec<String> {
    let mut ids: Vec<String> = rows(batches).into_iter().map(|r| r[0].clone()).collect();
    ids.sort();
    ids
}

async fn check_source(engine: &FederationEngine, target: &str, relation: Relation) {
    let table = format!(
        "\"{target}\".\"{}\".\"{}\"",
        relation.schema, relation.identifier
    );
    let input = RemoteInput {
        target: target.to_owned(),
        relation,
    };
    let query = |sql: String| FederatedQuery {
        sql,
        inputs: vec![input.clone()],
        hints: Default::default(),
    };
    // The reference: the whole table, extracted once, filtered by DataFusion alone.
    let all = engine
        .collect("ref", &query(format!("select * from {table}")), None)
        .await
        .expect("unfiltered extract");
    let schema = all[0].schema();
    let mem = MemTable::try_new(Arc::clone(&schema), vec![all.clone()]).expect("memtable");
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(mem)).expect("register");
    // PostgreSQL keeps a quoted mixed-case name as written; MySQL and SQLite match names
    // in any case, so the engine reads them unquoted.
    let cid = if target == "pg" {
        "\"CustomerID\""
    } else {
        "CustomerID"
    };
    for filter in FILTERS {
        let filter = &filter.replace("{cid}", cid);
        let expected = ids_of(
            &ctx.sql(&format!("select id from t where {filter}"))
                .await
                .expect("reference plans")
                .collect()
                .await
                .expect("reference runs"),
        )
        .await;
        let got = engine
            .collect(
                "pushed",
                &query(format!("select id from {table} where {filter}")),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{target}: `{filter}`: {e}"));
        assert_eq!(
            ids_of(&got).await,
            expected,
            "{target}: `{filter}` keeps different rows when pushed"
        );
    }
    let got = engine
        .collect(
            "case",
            &query(format!("select {cid} from {table} where id = 1")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{target}: unquoted mixed-case column: {e}"));
    assert_eq!(rows(&got), vec![vec!["10".to_owned()]], "{target}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_filters_keep_exactly_the_rows_datafusion_keeps() {
    let schema = unique_name();
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Arc::new(TargetRegistry::new(BTreeMap::from([
        ("pg".to_owned(), pg_target("pg", &schema)),
        ("maria".to_owned(), mysql_target("maria", &schema)),
        (
            "lite".to_owned(),
            sqlite_target("lite", &dir.path().join("lite.db")),
        ),
    ])));
    let pg = registry.adapter("pg").await.expect("pg");
    let maria = registry.adapter("maria").await.expect("maria");
    let lite = registry.adapter("lite").await.expect("lite");
    let s = schema.clone();
    let body = async {
        pg.execute(&format!(
            "create schema \"{s}\"; \
             create table \"{s}\".t (id int, name varchar(10), amount numeric(6,2), qty int, flag smallint); \
             insert into \"{s}\".t values {ROWS}; \
             alter table \"{s}\".t add column \"CustomerID\" int; \
             update \"{s}\".t set \"CustomerID\" = qty; \
             alter table \"{s}\".t add column code char(5); \
             update \"{s}\".t set code = name;"
        ))
        .await
        .expect("pg fixture");
        maria
            .execute(&format!(
                "create database `{s}`; \
                 create table `{s}`.t (id int, name varchar(10), amount decimal(6,2), qty int, flag tinyint(1)); \
                 insert into `{s}`.t values {ROWS}; \
                 alter table `{s}`.t add column CustomerID int; \
                 update `{s}`.t set CustomerID = qty; \
                 alter table `{s}`.t add column code char(5); \
                 update `{s}`.t set code = name;"
            ))
            .await
            .expect("maria fixture");
        lite.execute(&format!(
            "create table t (id integer, name text, amount decimal(6,2), qty integer, flag integer); \
             insert into t values {ROWS}; \
             alter table t add column CustomerID integer; \
             update t set CustomerID = qty; \
             alter table t add column code char(5); \
             update t set code = name;"
        ))
        .await
        .expect("sqlite fixture");
        let engine = FederationEngine::new(
            Arc::clone(&registry),
            Staging::local(dir.path().join("staging")).expect("staging"),
            Compute::Local,
        );
        check_source(&engine, "pg", Relation::new(&s, "t")).await;
        check_source(&engine, "maria", Relation::new(&s, "t")).await;
        check_source(&engine, "lite", Relation::new("main", "t")).await;
    };
    let cleanup = async {
        let _ = pg
            .execute(&format!("drop schema if exists \"{s}\" cascade"))
            .await;
        let _ = maria
            .execute(&format!("drop database if exists `{s}`"))
            .await;
    };
    with_cleanup(body, cleanup).await;
}
