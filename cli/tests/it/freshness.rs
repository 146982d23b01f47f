//! `dvt source freshness`: sources on PostgreSQL, MariaDB and SQLite, each measured where
//! it lives, against `warn_after`/`error_after`; `filter`, `freshness: null`, selection,
//! `sources.json`, and a rule without `loaded_at_field` loading but failing to measure.

use mysql_async::prelude::Queryable;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn sources_are_measured_where_they_live() {
    let name = unique("dvt_it_fresh");
    let _cleanup = Cleanup::everywhere(&[&name]);
    let pg = pg().await;
    pg.batch_execute(&format!(
        "create schema \"{name}\"; create table \"{name}\".events (id int, loaded_at timestamptz);\
         insert into \"{name}\".events values (1, now() - interval '5 hours'), (2, now() - interval '2 hours');"
    ))
    .await
    .expect("pg source");
    let mut maria = maria().await;
    maria
        .query_drop(format!(
            "create database `{name}`; create table `{name}`.orders (id int, kind varchar(10), loaded_at datetime);\
             insert into `{name}`.orders values (1, 'web', now() - interval 3 day), (2, 'shop', now() - interval 10 minute);"
        ))
        .await
        .expect("maria source");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("data");
    let lite = dir.path().join("data/lite.db");
    let conn = rusqlite::Connection::open(&lite).expect("sqlite");
    conn.execute_batch(
        "create table clicks (id int, loaded_at text);\
         insert into clicks values (1, datetime('now', '-5 minutes'));",
    )
    .expect("sqlite source");
    drop(conn);
    let sources = format!(
        "sources:\n\
         \x20 - name: app\n    schema: {name}\n    connection: pg\n    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {{count: 1, period: hour}}\n      error_after: {{count: 1, period: day}}\n    tables:\n      - name: events\n      - name: events_off\n        identifier: events\n        freshness: null\n\
         \x20 - name: shop\n    schema: {name}\n    connection: maria\n    config:\n      loaded_at_field: loaded_at\n      freshness:\n        error_after: {{count: 2, period: day}}\n    tables:\n      - name: orders\n      - name: web_orders\n        identifier: orders\n        freshness:\n          warn_after: {{count: 1, period: hour}}\n          filter: \"kind = 'shop'\"\n      - name: nothing\n        identifier: orders\n        freshness:\n          warn_after: {{count: 1, period: hour}}\n          filter: \"kind = 'none'\"\n\
         \x20 - name: web\n    connection: lite\n    tables:\n      - name: clicks\n        loaded_at_field: loaded_at\n        freshness:\n          warn_after: {{count: 1, period: hour}}\n"
    );
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: f\nprofile: f\n"),
            (
                "profiles.yml",
                &format!(
                    "f:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {name}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {name}}}\n    lite: {{type: sqlite, path: data/lite.db}}\n"
                ),
            ),
            ("models/sources.yml", &sources),
        ],
    );
    let run = dvt(dir.path(), &["source", "freshness"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let text =
        std::fs::read_to_string(dir.path().join("target/sources.json")).expect("sources.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let results: std::collections::BTreeMap<String, &serde_json::Value> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["unique_id"].as_str().expect("id").to_owned(), r))
        .collect();
    let status = |id: &str| {
        results[id]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let age = |id: &str| {
        results[id]["max_loaded_at_time_ago_in_s"]
            .as_f64()
            .expect("age")
    };
    // PostgreSQL: newest row 2 hours old, past warn_after (1 hour), before error_after.
    assert_eq!(status("source.f.app.events"), "warn", "{}", run.stdout);
    assert!((7000.0..7600.0).contains(&age("source.f.app.events")));
    // MariaDB: the newest order is 10 minutes old; only shop orders, also 10 minutes.
    // Its `datetime` holds the server's local time, and the age is measured on the
    // server's clock, as dbt measures it, whatever the server's time zone.
    assert_eq!(status("source.f.shop.orders"), "pass", "{}", run.stdout);
    assert!((500.0..900.0).contains(&age("source.f.shop.orders")));
    assert_eq!(status("source.f.shop.web_orders"), "pass");
    // No row passes the filter: the check cannot measure.
    assert_eq!(status("source.f.shop.nothing"), "runtime error");
    assert!(
        results["source.f.shop.nothing"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no rows"))
    );
    // SQLite text timestamps.
    assert_eq!(status("source.f.web.clicks"), "pass");
    assert!((200.0..500.0).contains(&age("source.f.web.clicks")));
    assert!(!results.contains_key("source.f.app.events_off"));
    assert!(
        run.stdout.contains("WARN freshness of app.events"),
        "{}",
        run.stdout
    );
    assert_eq!(
        results["source.f.app.events"]["criteria"]["error_after"],
        serde_json::json!({"count": 1, "period": "day"})
    );

    // Stale: the MariaDB table's rule read with a shorter limit, selected alone.
    maria
        .query_drop(format!("delete from `{name}`.orders where kind = 'shop'"))
        .await
        .expect("delete");
    let stale = dvt(
        dir.path(),
        &["source", "freshness", "--select", "source:shop.orders"],
        &[],
    );
    assert_eq!(stale.code, 1, "{}", stale.stdout);
    assert!(
        stale
            .stdout
            .contains("ERROR STALE freshness of shop.orders"),
        "{}",
        stale.stdout
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/sources.json")).expect("sources.json"),
    )
    .expect("json");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["results"][0]["status"], "error");

    let ok = dvt(
        dir.path(),
        &["source", "freshness", "--select", "source:web"],
        &[],
    );
    ok.assert_ok();

    // A rule with no column to measure loads, as in dbt (dbt_project_evaluator's
    // sources have one), and is that table's coded error when freshness runs.
    std::fs::write(
        dir.path().join("models/sources.yml"),
        "sources:\n  - name: web\n    connection: lite\n    tables:\n      - name: clicks\n        freshness:\n          warn_after: {count: 1, period: hour}\n",
    )
    .expect("sources");
    dvt(dir.path(), &["ls"], &[]).assert_ok();
    let bad = dvt(dir.path(), &["source", "freshness"], &[]);
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/sources.json")).expect("sources.json"),
    )
    .expect("json");
    assert_eq!(json["results"][0]["status"], "runtime error", "{json}");
    let error = json["results"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("DVT115") && error.contains("loaded_at_field"),
        "{json}"
    );
}
