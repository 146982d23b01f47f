//! dbt unit tests (`unit_tests:` with `given`/`expect`): the model runs on fixture rows
//! instead of its inputs, on every target; a wrong expectation fails with the rows that
//! differ; fixtures in `csv` format; `dvt test` runs them with the data tests.

use crate::common::*;

const MODEL: &str = "select c.id, c.email, c.email like '%@%.%' as is_valid, count(o.id) * {{ var('order_weight', 1) }} as orders
from {{ ref('customers') }} c
left join {{ ref('orders') }} o on o.customer_id = c.id
group by c.id, c.email
";

fn props(expect_orders_for_1: u32) -> String {
    format!(
        "version: 2
unit_tests:
  - name: emails_and_orders
    model: customer_summary
    given:
      - input: ref('customers')
        rows:
          - {{id: 1, email: ann@example.com}}
          - {{id: 2, email: not-an-email}}
      - input: ref('orders')
        format: csv
        rows: |
          id,customer_id
          10,1
          11,1
    expect:
      rows:
        - {{id: 1, is_valid: true, orders: {expect_orders_for_1}}}
        - {{id: 2, is_valid: false, orders: 0}}
  # Longer than any database allows a relation name: a unit test builds none.
  - name: weighted_orders_count_ten_times_each_because_the_vars_override_says_so
    model: customer_summary
    overrides:
      vars: {{order_weight: 10}}
    given:
      - input: ref('customers')
        rows: [{{id: 1, email: a@b.co}}]
      - input: ref('orders')
        rows: [{{id: 5, customer_id: 1}}]
    expect:
      rows: [{{id: 1, orders: 10}}]
"
    )
}

async fn unit_tests_on(target: &str) {
    let pg_schema = unique("dvt_it_ut");
    let maria_db = unique("dvt_it_ut");
    let _cleanup = Cleanup {
        pg_schemas: vec![pg_schema.clone(), format!("{pg_schema}_dbt_test__audit")],
        maria_dbs: vec![maria_db.clone()],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: {target}\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {pg_schema}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {maria_db}}}\n    lite: {{type: sqlite, path: data/lite.db}}\n"
    );
    let good = props(2);
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: ut\nprofile: p\n"),
            ("profiles.yml", profiles.as_str()),
            ("seeds/customers.csv", "id,email\n7,x@y.org\n"),
            ("seeds/orders.csv", "id,customer_id\n70,7\n"),
            ("models/customer_summary.sql", MODEL),
            ("models/unit.yml", good.as_str()),
        ],
    );
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(dir.path(), &["test"], &[]);
    run.assert_ok();
    let st = statuses(dir.path());
    // `overrides.vars` wins over the model's default (one order, weighted by 10).
    assert_eq!(
        st.get("unit_test.ut.customer_summary.weighted_orders_count_ten_times_each_because_the_vars_override_says_so")
            .map(String::as_str),
        Some("pass"),
        "{target}: {st:?}"
    );
    assert_eq!(
        st.get("unit_test.ut.customer_summary.emails_and_orders")
            .map(String::as_str),
        Some("pass"),
        "{target}: {st:?}\n{}\n{}",
        run.stdout,
        std::fs::read_to_string(dir.path().join("target/run_results.json")).unwrap_or_default()
    );
    // The seeds' own rows are not what the unit test sees: one order is expected twice.
    let bad = props(3);
    write_project(dir.path(), &[("models/unit.yml", bad.as_str())]);
    let run = dvt(dir.path(), &["test"], &[]);
    assert_eq!(run.code, 1, "{target}: {}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("error[DVT307]")
            && run.stderr.contains("expected but not returned: (1, 1, 3)")
            && run.stderr.contains("returned but not expected: (1, 1, 2)"),
        "{target}: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unit_tests_on_postgres() {
    unit_tests_on("pg").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unit_tests_on_mariadb() {
    unit_tests_on("maria").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unit_tests_on_sqlite() {
    unit_tests_on("lite").await;
}

/// In `dvt build` a model's unit tests run before it, on fixtures: a failing one skips
/// the model and everything downstream (dbt's order); a passing one lets them build.
#[test]
fn build_runs_unit_tests_before_their_model_and_skips_it_when_one_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = |doubled: u32| {
        format!(
            "unit_tests:\n  - name: doubles\n    model: m\n    given:\n      - input: ref('raw')\n        rows:\n          - {{id: 1, amount: 5}}\n    expect:\n      rows:\n        - {{id: 1, doubled: {doubled}}}\n  - name: keeps_ids\n    model: m\n    given:\n      - input: ref('raw')\n        rows:\n          - {{id: 2, amount: 1}}\n    expect:\n      rows:\n        - {{id: 2}}\n  - name: copies\n    model: child\n    given:\n      - input: ref('m')\n        rows:\n          - {{id: 3, doubled: 4}}\n    expect:\n      rows:\n        - {{id: 3, doubled: 4}}\n"
        )
    };
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: ut\nprofile: ut\nmodels:\n  ut:\n    +materialized: table\n",
            ),
            (
                "profiles.yml",
                "ut:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n",
            ),
            ("seeds/raw.csv", "id,amount\n1,5\n2,7\n"),
            (
                "models/m.sql",
                "select id, amount * 2 as doubled from {{ ref('raw') }}",
            ),
            ("models/child.sql", "select * from {{ ref('m') }}"),
            ("models/unit.yml", &unit(11)),
        ],
    );
    let failed = dvt(dir.path(), &["build"], &[]);
    assert_eq!(failed.code, 1, "{}", failed.stdout);
    let status = statuses(dir.path());
    assert_eq!(status["unit_test.ut.m.doubles"], "fail", "{status:?}");
    // dbt runs a model's unit tests in order and skips the rest after a failure.
    assert_eq!(status["unit_test.ut.m.keeps_ids"], "skipped", "{status:?}");
    assert_eq!(status["model.ut.m"], "skipped", "{status:?}");
    assert_eq!(status["model.ut.child"], "skipped", "{status:?}");
    // A unit test waits for its model's parents: `m` did not build, so `copies` is
    // skipped, as in dbt.
    assert_eq!(status["unit_test.ut.child.copies"], "skipped", "{status:?}");
    assert_eq!(
        sqlite_count(
            &dir.path().join("data/main.db"),
            "select count(*) from sqlite_master where name in ('m', 'child')"
        ),
        0
    );

    std::fs::write(dir.path().join("models/unit.yml"), unit(10)).expect("unit.yml");
    let built = dvt(dir.path(), &["build"], &[]);
    built.assert_ok();
    let at = |needle: &str| {
        built
            .stdout
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` in {}", built.stdout))
    };
    let order = [at(" doubles "), at(" model m "), at(" model child ")];
    assert!(
        order[0] < order[1] && order[1] < order[2],
        "{}",
        built.stdout
    );
    assert_eq!(
        sqlite_count(
            &dir.path().join("data/main.db"),
            "select count(*) from child"
        ),
        2
    );
}

/// `overrides.macros` beyond `is_incremental` (a plain macro and a namespaced one) and
/// `overrides.env_vars` hold inside the unit test only; the model's own build uses the
/// real macros and environment.
#[test]
fn unit_tests_override_macros_and_env_vars() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: u\nprofile: u\n"),
            (
                "profiles.yml",
                "u:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/u.db}\n",
            ),
            ("seeds/base.csv", "id\n1\n"),
            ("macros/weight.sql", "{% macro weight() %}3{% endmacro %}"),
            (
                "macros/bounds.sql",
                "{% macro bounds() %}{{ return({'low': 0}) }}{% endmacro %}",
            ),
            (
                "models/stamped.sql",
                "select id, {{ dbt.current_timestamp() }} as seen_at, '{{ env_var('DVT_IT_REGION', 'none') }}' as region, {{ weight() }} as w, {{ bounds()['low'] }} as low from {{ ref('base') }}",
            ),
            (
                "models/props.yml",
                "unit_tests:\n  - name: pinned\n    model: stamped\n    overrides:\n      macros:\n        dbt.current_timestamp: \"'2024-01-01'\"\n        weight: \"7\"\n        bounds: {low: 5}\n      env_vars:\n        DVT_IT_REGION: eu\n    given:\n      - input: ref('base')\n        rows: [{id: 1}]\n    expect:\n      rows: [{id: 1, seen_at: '2024-01-01', region: eu, w: 7, low: 5}]\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["build"], &[]);
    run.assert_ok();
    let st = statuses(dir.path());
    assert_eq!(st["unit_test.u.stamped.pinned"], "pass", "{st:?}");
    let rows = sqlite_rows(
        &dir.path().join("data/u.db"),
        "select region, w, seen_at = '2024-01-01', low from stamped",
    );
    assert_eq!(
        rows,
        vec![vec![
            "none".to_owned(),
            normalise(Some("3")),
            normalise(Some("0")),
            normalise(Some("0"))
        ]]
    );
}

#[test]
fn unit_tests_read_fixture_files_which_are_no_singular_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: f\nprofile: f\n"),
            (
                "profiles.yml",
                "f:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/f.db}\n",
            ),
            ("seeds/base.csv", "id,amount\n1,5\n"),
            ("seeds/rates.csv", "id,rate\n1,2\n"),
            (
                "models/scaled.sql",
                "select b.id, b.amount * r.rate as scaled from {{ ref('base') }} b join {{ ref('rates') }} r on r.id = b.id",
            ),
            // dbt's fixture folder, nested as a project may nest it.
            ("tests/fixtures/base_rows.csv", "id,amount\n1,10\n2,20\n"),
            (
                "tests/fixtures/more/rates_rows.sql",
                "select 1 as id, {{ var('first_rate', 3) }} as rate union all select 2 as id, {{ 2 * 2 }} as rate",
            ),
            (
                "tests/fixtures/scaled_expected.csv",
                "id,scaled\n1,30\n2,80\n",
            ),
            (
                "models/props.yml",
                "unit_tests:\n  - name: from_files\n    model: scaled\n    given:\n      - input: ref('base')\n        format: csv\n        fixture: base_rows\n      - input: ref('rates')\n        format: sql\n        fixture: rates_rows\n    expect:\n      format: csv\n      fixture: scaled_expected\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["build"], &[]);
    run.assert_ok();
    let st = statuses(dir.path());
    assert_eq!(st["unit_test.f.scaled.from_files"], "pass", "{st:?}");
    // The fixture files are not singular tests.
    assert!(
        !st.keys()
            .any(|k| k.contains("base_rows") || k.contains("rates_rows")),
        "{st:?}"
    );
    // A fixture that is not there is a coded error naming the file it looked for.
    write_project(
        dir.path(),
        &[(
            "models/props.yml",
            "unit_tests:\n  - name: from_files\n    model: scaled\n    given:\n      - input: ref('base')\n        format: csv\n        fixture: nowhere\n      - input: ref('rates')\n        rows: [{id: 1, rate: 1}]\n    expect:\n      rows: [{id: 1, scaled: 5}]\n",
        )],
    );
    let run = dvt(dir.path(), &["test"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("error[DVT115]") && run.stderr.contains("nowhere.csv"),
        "{}",
        run.stderr
    );
}

/// dbt casts a unit test's expected values to the types the model returns: a date
/// written as `2016-09-01` equals the midnight timestamp `date_trunc` gives on
/// PostgreSQL (dbt-labs/jaffle-shop's `stg_locations` test). The fixtures come in the
/// order the model reads its inputs, whatever order `given` lists them in, and YAML
/// booleans are written as dbt writes them.
#[tokio::test(flavor = "multi_thread")]
async fn expected_values_compare_as_the_models_types() {
    let schema = unique("dvt_it_ut_types");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}}}\n"
    );
    let props = |day: &str| {
        format!(
            "unit_tests:\n  - name: truncates\n    model: stores\n    given:\n      - input: ref('flags')\n        rows:\n          - {{id: 1, open: true}}\n      - input: ref('raw_stores')\n        rows:\n          - {{id: 1, opened_at: '2016-09-01T10:11:12'}}\n          - {{id: 2, opened_at: '2079-10-27T23:59:59.9999'}}\n    expect:\n      rows:\n        - {{id: 1, opened_date: '{day}', open: true}}\n        - {{id: 2, opened_date: '2079-10-27', open: null}}\n"
        )
    };
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: ut\nprofile: p\n"),
            ("profiles.yml", profiles.as_str()),
            (
                "seeds/raw_stores.csv",
                "id,opened_at\n1,2016-09-01 10:11:12\n",
            ),
            ("seeds/flags.csv", "id,open\n1,true\n"),
            (
                "models/stores.sql",
                "select s.id, date_trunc('day', s.opened_at) as opened_date, f.open\nfrom {{ ref('raw_stores') }} s left join {{ ref('flags') }} f on f.id = s.id",
            ),
            ("models/unit.yml", &props("2016-09-01")),
        ],
    );
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(dir.path(), &["test"], &[]);
    run.assert_ok();
    assert_eq!(
        statuses(dir.path())
            .get("unit_test.ut.stores.truncates")
            .map(String::as_str),
        Some("pass")
    );
    let compiled = std::fs::read_to_string(
        dir.path()
            .join("target/compiled/ut/models/unit.yml/models/truncates.sql"),
    )
    .expect("compiled unit test");
    let stores = compiled
        .find("__dbt__cte__raw_stores as")
        .expect("raw_stores fixture");
    let flags = compiled
        .find("__dbt__cte__flags as")
        .expect("flags fixture");
    assert!(stores < flags, "{compiled}");
    assert!(compiled.contains("cast(True as boolean)"), "{compiled}");

    // Another day is a failure, still compared as timestamps.
    std::fs::write(dir.path().join("models/unit.yml"), props("2016-09-02")).expect("props");
    let run = dvt(dir.path(), &["test"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("expected but not returned: (1, 2016-09-02 00:00:00, 1)")
            && run
                .stderr
                .contains("returned but not expected: (1, 2016-09-01 00:00:00, 1)"),
        "{}",
        run.stderr
    );
}
