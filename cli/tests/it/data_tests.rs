//! Data tests as dbt runs them: generic (built-in, custom `{% test %}` blocks), singular,
//! severity, `warn_if`/`error_if`, `where`, `store_failures`; `dvt test` and `dvt build`
//! skipping what depends on a node whose test failed; tests spanning two targets
//! federated.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// `run_results.json`: unique id (without dbt's hash suffix) -> (status, failures).
fn results(project: &Path) -> BTreeMap<String, (String, Option<i64>)> {
    let text = std::fs::read_to_string(project.join("target/run_results.json"))
        .expect("run_results.json written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("run_results.json is JSON");
    v["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| {
            let id = r["unique_id"].as_str().unwrap_or_default();
            // Generic tests end with a hash of their arguments; the name before it is
            // what a reader compares.
            let id = match id.rsplit_once('.') {
                Some((head, tail))
                    if id.starts_with("test.")
                        && tail.len() == 10
                        && tail.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    head
                }
                _ => id,
            };
            (
                id.to_owned(),
                (
                    r["status"].as_str().unwrap_or_default().to_owned(),
                    r["failures"].as_i64(),
                ),
            )
        })
        .collect()
}

const SCHEMA_YML: &str = r#"version: 2
models:
  - name: stg_customers
    columns:
      - name: id
        data_tests:
          - unique
          - not_null:
              config:
                store_failures: true
          - not_null:
              name: id_present_after_one
              config:
                where: "name <> 'd'"
      - name: status
        data_tests:
          - accepted_values:
              values: ['active', 'churned']
              config:
                severity: warn
  - name: stg_orders
    columns:
      - name: order_id
        data_tests:
          - not_null:
              config:
                store_failures_as: view
      - name: customer_id
        tests:
          - relationships:
              to: ref('stg_customers')
              field: id
              config:
                warn_if: ">0"
                error_if: ">5"
      - name: amount
        data_tests:
          - is_positive
          - is_positive:
              name: amount_positive_or_small
              config:
                error_if: ">1"
                warn_if: ">5"
"#;

fn sqlite_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: tp\nprofile: p\n"),
            (
                "profiles.yml",
                "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n",
            ),
            (
                "seeds/customers.csv",
                "id,name,status\n1,a,active\n2,b,churned\n2,c,active\n,d,paused\n",
            ),
            (
                "seeds/orders.csv",
                "order_id,customer_id,amount\n10,1,5\n11,2,7\n12,9,3\n13,1,-4\n",
            ),
            (
                "models/stg_customers.sql",
                "{{ config(materialized='table') }}\nselect id, name, status from {{ ref('customers') }}\n",
            ),
            (
                "models/stg_orders.sql",
                "select order_id, customer_id, amount from {{ ref('orders') }}\n",
            ),
            (
                "models/after_customers.sql",
                "select count(*) as n from {{ ref('stg_customers') }}\n",
            ),
            (
                "models/after_orders.sql",
                "select count(*) as n from {{ ref('stg_orders') }}\n",
            ),
            ("models/schema.yml", SCHEMA_YML),
            (
                "tests/generic/is_positive.sql",
                "{% test is_positive(model, column_name) %}\nselect * from {{ model }} where {{ column_name }} <= 0\n{% endtest %}\n",
            ),
            (
                "tests/assert_orders_small.sql",
                "select * from {{ ref('stg_orders') }} where amount > 100\n",
            ),
            (
                "tests/assert_one_churned.sql",
                "{{ config(severity='warn') }}\nselect * from {{ ref('stg_customers') }} where status = 'churned'\n",
            ),
        ],
    );
    dir
}

fn status(r: &BTreeMap<String, (String, Option<i64>)>, id: &str) -> (String, Option<i64>) {
    r.get(id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in run_results: {r:#?}"))
}

#[test]
fn build_runs_tests_after_their_nodes_and_skips_what_depends_on_a_failure() {
    let dir = sqlite_project();
    let run = dvt(dir.path(), &["build"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = results(dir.path());
    let st = |id: &str| status(&r, id);
    let s = |x: &str, n: i64| (x.to_owned(), Some(n));
    assert_eq!(st("test.tp.unique_stg_customers_id"), s("fail", 1));
    assert_eq!(st("test.tp.not_null_stg_customers_id"), s("fail", 1));
    // `where` leaves the row with the NULL id out.
    assert_eq!(st("test.tp.id_present_after_one"), s("pass", 0));
    // severity: warn turns the failure into a warning.
    assert_eq!(
        st("test.tp.accepted_values_stg_customers_status__active__churned"),
        s("warn", 1)
    );
    // One orphan: above warn_if, not above error_if.
    assert_eq!(
        st("test.tp.relationships_stg_orders_customer_id__id__ref_stg_customers_"),
        s("warn", 1)
    );
    assert_eq!(st("test.tp.is_positive_stg_orders_amount"), s("fail", 1));
    // error_if is ">1": one failing row is only checked against warn_if (">5"); a
    // passing test records no failures, as dbt's run_results.json does.
    assert_eq!(st("test.tp.amount_positive_or_small"), s("pass", 0));
    assert_eq!(st("test.tp.assert_orders_small"), s("pass", 0));
    assert_eq!(st("test.tp.assert_one_churned"), s("warn", 1));
    // A failing (not warning) test of a node skips that node's children.
    assert_eq!(st("model.tp.after_customers").0, "skipped");
    assert_eq!(st("model.tp.after_orders").0, "skipped");
    assert_eq!(st("model.tp.stg_orders").0, "success");
    assert!(
        run.stdout
            .contains("PASS=8 WARN=3 ERROR=3 SKIP=2 NO-OP=0 TOTAL=16"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("error[DVT307]") && run.stderr.contains("unique_stg_customers_id"),
        "{}",
        run.stderr
    );

    // store_failures kept the failing row, in the test's audit relation.
    let db = dir.path().join("data/main.db");
    assert_eq!(
        sqlite_count(&db, "select count(*) from not_null_stg_customers_id"),
        1
    );
    assert_eq!(
        sqlite_count(
            &db,
            "select count(*) from not_null_stg_customers_id where name = 'd'"
        ),
        1
    );

    // store_failures_as: view keeps the failing rows as a view, not a table.
    assert_eq!(
        sqlite_count(
            &db,
            "select count(*) from sqlite_master where type = 'view' and name = 'not_null_stg_orders_order_id'"
        ),
        1
    );
    assert_eq!(
        sqlite_count(&db, "select count(*) from not_null_stg_orders_order_id"),
        0
    );

    // The compiled test is the SQL of dbt's macro, under its property file.
    let compiled = std::fs::read_to_string(
        dir.path()
            .join("target/compiled/tp/models/schema.yml/unique_stg_customers_id.sql"),
    )
    .expect("compiled test written");
    let words: Vec<&str> = compiled.split_whitespace().collect();
    assert_eq!(
        words.join(" "),
        "select id as unique_field, count(*) as n_records from \"main\".\"stg_customers\" \
         where id is not null group by id having count(*) > 1",
        "{compiled}"
    );
}

#[test]
fn dvt_test_selects_tests_of_the_selected_nodes_and_fails_on_a_failure() {
    let dir = sqlite_project();
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    dvt(dir.path(), &["run"], &[]).assert_ok();
    // dvt run builds no test.
    let r = results(dir.path());
    assert_eq!(r.len(), 4, "{r:?}");
    assert!(r.keys().all(|k| k.starts_with("model.")), "{r:?}");

    let run = dvt(dir.path(), &["test", "--select", "stg_orders"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = results(dir.path());
    let mut ids: Vec<&String> = r.keys().collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "test.tp.amount_positive_or_small",
            "test.tp.assert_orders_small",
            "test.tp.is_positive_stg_orders_amount",
            "test.tp.not_null_stg_orders_order_id",
            "test.tp.relationships_stg_orders_customer_id__id__ref_stg_customers_",
        ],
        "tests reaching stg_orders, no model"
    );

    // Only passing and warning tests: exit code 0.
    let run = dvt(
        dir.path(),
        &[
            "test",
            "--select",
            "assert_orders_small",
            "assert_one_churned",
        ],
        &[],
    );
    run.assert_ok();
    assert!(
        run.stdout
            .contains("PASS=1 WARN=1 ERROR=0 SKIP=0 NO-OP=0 TOTAL=2"),
        "{}",
        run.stdout
    );

    let ls = dvt(dir.path(), &["ls", "--resource-type", "test"], &[]);
    ls.assert_ok();
    assert_eq!(ls.stdout.lines().count(), 10, "{}", ls.stdout);
}

#[test]
fn a_test_of_an_unknown_generic_test_is_a_coded_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: tp\nprofile: p\n"),
            (
                "profiles.yml",
                "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n",
            ),
            ("models/m.sql", "select 1 as id\n"),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - unique\n          - no_such_test\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["test"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no_such_test") && run.stderr.contains("models/schema.yml:8"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("error[DVT118]"), "{}", run.stderr);
}

/// A PostgreSQL model tested against a MariaDB seed: the relationships test spans two
/// targets and is federated; tests of MariaDB nodes run on MariaDB; stored failures land
/// in dbt's audit schema of the tested node's target.
#[tokio::test(flavor = "multi_thread")]
async fn tests_run_on_the_tested_nodes_target_and_span_targets_federated() {
    let pg_schema = unique("dvt_it_dt");
    let maria_db = unique("dvt_it_dt");
    let _cleanup = Cleanup {
        pg_schemas: vec![pg_schema.clone(), format!("{pg_schema}_dbt_test__audit")],
        maria_dbs: vec![maria_db.clone(), format!("{maria_db}_dbt_test__audit")],
    };
    let pg = pg().await;
    let mut maria = maria().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {pg_schema}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {maria_db}}}\n"
    );
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: tp\nprofile: p\n"),
            ("profiles.yml", profiles.as_str()),
            (
                "seeds/customers.csv",
                "id,name,Tier\n1,Ann,gold\n2,Bo,\n3,,silver\n",
            ),
            (
                "seeds/orders.csv",
                "order_id,customer_id\n10,1\n11,2\n12,7\n13,8\n",
            ),
            (
                "seeds/props.yml",
                "version: 2\nseeds:\n  - name: customers\n    config: {target: maria}\n    columns:\n      - name: name\n        data_tests:\n          - not_null:\n              config: {store_failures: true}\n      - name: Tier\n        quote: true\n        data_tests: [not_null]\n",
            ),
            (
                "models/orders_pg.sql",
                "select order_id, customer_id from {{ ref('orders') }}\n",
            ),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: orders_pg\n    columns:\n      - name: customer_id\n        data_tests:\n          - relationships:\n              to: ref('customers')\n              field: id\n              config: {store_failures: true}\n      - name: order_id\n        data_tests: [unique]\n",
            ),
        ],
    );
    let ls = dvt(dir.path(), &["ls", "--resource-type", "test"], &[]);
    ls.assert_ok();
    let line = |n: &str| {
        ls.stdout
            .lines()
            .find(|l| l.contains(n))
            .unwrap_or_else(|| panic!("{n} in {}", ls.stdout))
            .to_owned()
    };
    assert!(
        line("not_null_customers_name").contains("target=maria"),
        "{}",
        ls.stdout
    );
    assert!(
        line("relationships_orders_pg").contains("path=test (federated)"),
        "{}",
        ls.stdout
    );
    assert!(
        line("unique_orders_pg_order_id").contains("path=test"),
        "{}",
        ls.stdout
    );

    let run = dvt(dir.path(), &["build"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = results(dir.path());
    assert_eq!(
        status(
            &r,
            "test.tp.relationships_orders_pg_customer_id__id__ref_customers_"
        ),
        ("fail".to_owned(), Some(2))
    );
    assert_eq!(
        status(&r, "test.tp.not_null_customers_name"),
        ("fail".to_owned(), Some(1))
    );
    // `quote: true` on MariaDB: the column is quoted with backticks (double quotes
    // would make it a string, never null, and the test would pass).
    assert_eq!(
        status(&r, "test.tp.not_null_customers__Tier_"),
        ("fail".to_owned(), Some(1))
    );
    assert_eq!(
        status(&r, "test.tp.unique_orders_pg_order_id"),
        ("pass".to_owned(), Some(0))
    );
    assert!(run.stdout.contains("test (federated)"), "{}", run.stdout);

    // The federated test's failing rows, stored on PostgreSQL (the tested model's
    // target); the MariaDB test's, on MariaDB.
    let stored = pg_rows(
        &pg,
        &format!(
            "select from_field::text from \"{pg_schema}_dbt_test__audit\".\"relationships_orders_pg_customer_id__id__ref_customers_\" order by 1"
        ),
    )
    .await;
    assert_eq!(
        stored,
        vec![vec![normalise(Some("7"))], vec![normalise(Some("8"))]]
    );
    let stored = maria_rows(
        &mut maria,
        &format!("select count(*) from `{maria_db}_dbt_test__audit`.`not_null_customers_name`"),
    )
    .await;
    assert_eq!(stored, vec![vec![normalise(Some("1"))]]);
}

#[test]
fn a_failing_test_of_a_source_skips_what_reads_the_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: st\nprofile: p\non-run-start:\n  - \"drop table if exists raw_events\"\n  - \"create table raw_events as select 1 as id union all select null as id\"\n",
            ),
            (
                "profiles.yml",
                "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n",
            ),
            (
                "models/src.yml",
                "sources:\n  - name: raw\n    schema: main\n    tables:\n      - name: raw_events\n        columns:\n          - name: id\n            data_tests: [not_null]\n",
            ),
            (
                "models/reads_raw.sql",
                "select id from {{ source('raw', 'raw_events') }}\n",
            ),
            ("models/unrelated.sql", "select 1 as x\n"),
        ],
    );
    let run = dvt(dir.path(), &["build"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = results(dir.path());
    assert_eq!(
        status(&r, "test.st.source_not_null_raw_raw_events_id"),
        ("fail".to_owned(), Some(1))
    );
    assert_eq!(status(&r, "model.st.reads_raw").0, "skipped");
    assert_eq!(status(&r, "model.st.unrelated").0, "success");
}
