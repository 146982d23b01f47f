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

/// `dvt docs generate` writes the website, `target/index.html` (its data inside it, a
/// description cannot break out of it), and `dvt docs serve` serves the target folder,
/// nothing outside it.
#[test]
fn the_docs_website_is_written_and_served() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: site\nprofile: site\nmodels:\n  +materialized: table\n",
            ),
            (
                "profiles.yml",
                "site:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/site.db}\n",
            ),
            (
                "models/base.sql",
                "select 1 as id, cast('a' as text) as label",
            ),
            ("models/top.sql", "select id from {{ ref('base') }}"),
            (
                "models/props.yml",
                "version: 2\nmodels:\n  - name: base\n    description: \"The base </script><b>rows</b>\"\n    columns:\n      - name: id\n        description: The key.\n",
            ),
        ],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    dvt(dir.path(), &["docs", "generate", "--static"], &[]).assert_ok();
    let page = std::fs::read_to_string(dir.path().join("target/index.html")).expect("index.html");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("target/static_index.html")).expect("static"),
        page
    );
    let start = page.find("application/json\">").expect("data") + "application/json\">".len();
    let end = start + page[start..].find("</script>").expect("end of data");
    let data: serde_json::Value = serde_json::from_str(&page[start..end]).expect("json");
    let base = &data["nodes"]["model.site.base"];
    assert_eq!(base["description"], "The base </script><b>rows</b>");
    assert_eq!(base["columns"]["id"]["description"], "The key.");
    assert_eq!(base["columns"]["label"]["type"], "TEXT");
    assert_eq!(
        data["nodes"]["model.site.top"]["depends_on"],
        serde_json::json!(["model.site.base"])
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dvt"))
        .current_dir(dir.path())
        .args(["docs", "serve", "--port", "0", "--no-browser"])
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dvt docs serve");
    let mut first = String::new();
    // Kept open while the server runs: it prints more after the address.
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut first).expect("address line");
    let addr = first
        .trim()
        .strip_prefix("Serving docs at http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let get = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        out
    };
    let index = get("/");
    assert!(index.starts_with("HTTP/1.1 200 OK"), "{index}");
    assert!(index.contains("model.site.base"));
    let manifest = get("/manifest.json");
    assert!(manifest.starts_with("HTTP/1.1 200 OK") && manifest.contains("application/json"));
    for outside in [
        "/../dbt_project.yml",
        "/%2e%2e/profiles.yml",
        "/nothing.json",
    ] {
        let r = get(outside);
        assert!(r.starts_with("HTTP/1.1 404"), "{outside}: {r}");
    }
    child.kill().expect("stop the server");
    let _ = child.wait();
}
