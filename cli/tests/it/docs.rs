//! `dvt docs generate`: `catalog.json` describes each relation on the target holding it
//! (a PostgreSQL table, a SQLite view, a MariaDB source with its comments); relations
//! not built and ephemeral models are left out.

use mysql_async::prelude::Queryable;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_describes_every_relation_where_it_lives() {
    let name = unique("dvt_it_docs");
    let _cleanup = Cleanup::everywhere(&[&name]);
    let mut maria = maria().await;
    maria
        .query_drop(format!(
            "create database `{name}`; create table `{name}`.raw_orders (id int comment 'the key', amount decimal(10,2)) comment 'orders from the shop';\
             insert into `{name}`.raw_orders values (1, 2.50), (2, 4.00);"
        ))
        .await
        .expect("maria source");
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: d\nprofile: d\nmodels:\n  d:\n    +persist_docs: {relation: true, columns: true}\n",
            ),
            (
                "profiles.yml",
                &format!(
                    "d:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {name}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {name}}}\n    lite: {{type: sqlite, path: data/lite.db}}\n"
                ),
            ),
            (
                "models/props.yml",
                &format!(
                    "sources:\n  - name: shop\n    schema: {name}\n    connection: maria\n    tables:\n      - name: raw_orders\nmodels:\n  - name: orders\n    description: Orders, in cents.\n    columns:\n      - name: id\n        description: The order.\n"
                ),
            ),
            (
                "models/orders.sql",
                "{{ config(materialized='table') }}select id, cast(amount * 100 as integer) as cents from {{ source('shop', 'raw_orders') }}",
            ),
            (
                "models/labels.sql",
                "{{ config(target='lite') }}select id, 'x' as label from {{ ref('step') }}",
            ),
            (
                "models/step.sql",
                "{{ config(materialized='ephemeral', target='lite') }}select 1 as id",
            ),
            (
                "models/later.sql",
                "{{ config(target='lite') }}select 2 as id",
            ),
        ],
    );
    dvt(dir.path(), &["run", "--exclude", "later"], &[]).assert_ok();
    let gen_ = dvt(dir.path(), &["docs", "generate"], &[]);
    gen_.assert_ok();
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/catalog.json")).expect("catalog.json"),
    )
    .expect("json");
    assert!(dir.path().join("target/manifest.json").is_file());
    assert_eq!(catalog["errors"], serde_json::Value::Null);
    let nodes = catalog["nodes"].as_object().expect("nodes");
    assert_eq!(
        nodes.keys().collect::<Vec<_>>(),
        ["model.d.labels", "model.d.orders"],
        "not built and ephemeral models are left out"
    );
    let orders = &nodes["model.d.orders"];
    assert_eq!(orders["metadata"]["type"], "BASE TABLE");
    assert_eq!(orders["metadata"]["schema"], name.as_str());
    assert_eq!(orders["metadata"]["database"], "test");
    assert_eq!(orders["metadata"]["comment"], "Orders, in cents.");
    assert_eq!(orders["metadata"]["owner"], "postgres");
    assert_eq!(orders["columns"]["id"]["comment"], "The order.");
    assert_eq!(orders["columns"]["cents"]["type"], "integer");
    assert_eq!(orders["columns"]["cents"]["index"], 2);
    let labels = &nodes["model.d.labels"];
    assert_eq!(labels["metadata"]["type"], "VIEW");
    assert_eq!(labels["dvt"]["target"], "lite");
    let source = &catalog["sources"]["source.d.shop.raw_orders"];
    assert_eq!(source["metadata"]["comment"], "orders from the shop");
    assert_eq!(source["columns"]["id"]["comment"], "the key");
    assert_eq!(source["columns"]["amount"]["type"], "decimal(10,2)");
    assert_eq!(source["dvt"]["target"], "maria");

    let empty = dvt(dir.path(), &["docs", "generate", "--empty-catalog"], &[]);
    empty.assert_ok();
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/catalog.json")).expect("catalog.json"),
    )
    .expect("json");
    assert_eq!(catalog["nodes"], serde_json::json!({}));
}
