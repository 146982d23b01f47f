//! dbt 1.11's `functions/` (user-defined SQL functions): `dvt build` creates each function
//! on its target before the models calling it through `function()`, a second build
//! replaces it (views calling it keep working), and the errors: SQLite has no functions
//! (DVT306, that node only), an unknown `function()` (DVT133), a function without
//! `returns` (DVT115), a federated model calling a function (DVT116).

use crate::common::*;

const ORDERS: &str = "id,price\n1,10\n2,25\n";

const PRICED: &str = "{{ config(materialized='table') }}
select id, {{ function('price_with_tax') }}(price) as gross from {{ ref('orders') }}
";

const PRICED_VIEW: &str =
    "select id, {{ function('price_with_tax') }}(price) as gross from {{ ref('orders') }}
";

fn unit_test(gross: u32) -> String {
    format!(
        "unit_tests:
  - name: gross_is_taxed
    model: priced
    given:
      - input: ref('orders')
        rows: [{{id: 1, price: 100}}]
    expect:
      rows: [{{id: 1, gross: {gross}}}]
"
    )
}

fn function_props(data_type: &str) -> String {
    format!(
        "functions:
  - name: price_with_tax
    description: the price with tax
    config:
      volatility: deterministic
    arguments:
      - name: price
        data_type: {data_type}
        description: the net price
    returns:
      data_type: {data_type}
"
    )
}

/// Builds a function and the models calling it on `target` (`pg` or `maria`), checks
/// the values it computes and the catalogue, then changes its body and builds again.
async fn build_and_replace(target: &str, data_type: &str) {
    let pg_schema = unique("dvt_it_fn");
    let maria_db = unique("dvt_it_fn");
    let _cleanup = Cleanup {
        pg_schemas: vec![pg_schema.clone(), format!("{pg_schema}_udf")],
        maria_dbs: vec![maria_db.clone(), format!("{maria_db}_udf")],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "p:\n  target: {target}\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {pg_schema}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {maria_db}}}\n"
    );
    let props = function_props(data_type);
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: fx\nprofile: p\nvars:\n  rate: 1.2\nfunctions:\n  fx:\n    +schema: udf\n",
            ),
            ("profiles.yml", profiles.as_str()),
            ("seeds/orders.csv", ORDERS),
            (
                "functions/price_with_tax.sql",
                "select price * {{ var('rate') }};\n",
            ),
            ("functions/schema.yml", props.as_str()),
            ("models/priced.sql", PRICED),
            ("models/priced_view.sql", PRICED_VIEW),
            ("models/unit.yml", unit_test(120).as_str()),
        ],
    );
    let ls = dvt(dir.path(), &["ls", "--resource-type", "function"], &[]);
    ls.assert_ok();
    assert!(
        ls.stdout.contains("fx.price_with_tax") && ls.stdout.contains("function"),
        "{}",
        ls.stdout
    );
    // On a fresh database the unit test of `priced` waits for the function it calls.
    dvt(dir.path(), &["build"], &[]).assert_ok();
    let st = statuses(dir.path());
    assert_eq!(
        st.get("function.fx.price_with_tax").map(String::as_str),
        Some("success"),
        "{st:?}"
    );
    assert_eq!(
        st.get("unit_test.fx.priced.gross_is_taxed")
            .map(String::as_str),
        Some("pass"),
        "{st:?}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("manifest is JSON");
    assert_eq!(
        manifest["functions"]["function.fx.price_with_tax"]["returns"]["data_type"],
        data_type
    );
    assert_eq!(
        manifest["nodes"]["model.fx.priced"]["depends_on"]["nodes"],
        serde_json::json!(["function.fx.price_with_tax", "seed.fx.orders"])
    );

    let want = |a: &str, b: &str| {
        vec![
            vec![normalise(Some("1")), normalise(Some(a))],
            vec![normalise(Some("2")), normalise(Some(b))],
        ]
    };
    let catalogue_and_rows = |schema: String| async move {
        match target {
            "pg" => {
                let c = pg().await;
                let routines = pg_rows(
                    &c,
                    &format!(
                        "select routine_name, routine_type from information_schema.routines where routine_schema = '{schema}_udf'"
                    ),
                )
                .await;
                let table =
                    pg_rows(&c, &format!("select id, gross from \"{schema}\".priced")).await;
                let view = pg_rows(
                    &c,
                    &format!("select id, gross from \"{schema}\".priced_view"),
                )
                .await;
                (routines, table, view)
            }
            _ => {
                let mut c = maria().await;
                let routines = maria_rows(
                    &mut c,
                    &format!(
                        "select routine_name, routine_type from information_schema.routines where routine_schema = '{schema}_udf'"
                    ),
                )
                .await;
                let table =
                    maria_rows(&mut c, &format!("select id, gross from `{schema}`.priced")).await;
                let view = maria_rows(
                    &mut c,
                    &format!("select id, gross from `{schema}`.priced_view"),
                )
                .await;
                (routines, table, view)
            }
        }
    };
    let schema = if target == "pg" {
        pg_schema.clone()
    } else {
        maria_db.clone()
    };
    let (routines, table, view) = catalogue_and_rows(schema.clone()).await;
    assert_eq!(
        routines,
        vec![vec!["price_with_tax".to_owned(), "FUNCTION".to_owned()]],
        "{target}"
    );
    assert_eq!(table, want("12", "30"), "{target}");
    assert_eq!(view, want("12", "30"), "{target}");

    // A new body replaces the function in place: the table is rebuilt with the new
    // values, the view (never rebuilt by `--select priced`) calls the new body too.
    let unit = unit_test(200);
    write_project(
        dir.path(),
        &[
            ("functions/price_with_tax.sql", "select price * 2\n"),
            ("models/unit.yml", unit.as_str()),
        ],
    );
    dvt(
        dir.path(),
        &["build", "--select", "+priced", "--exclude", "orders"],
        &[],
    )
    .assert_ok();
    let st = statuses(dir.path());
    assert_eq!(
        st.get("function.fx.price_with_tax").map(String::as_str),
        Some("success"),
        "{st:?}"
    );
    assert!(!st.contains_key("model.fx.priced_view"), "{st:?}");
    let (routines, table, view) = catalogue_and_rows(schema).await;
    assert_eq!(routines.len(), 1, "{target}: {routines:?}");
    assert_eq!(table, want("20", "50"), "{target}");
    assert_eq!(view, want("20", "50"), "{target}");

    // As in dbt, `run` builds models only: the function keeps its body.
    write_project(
        dir.path(),
        &[("functions/price_with_tax.sql", "select price * 3\n")],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    let st = statuses(dir.path());
    assert!(!st.contains_key("function.fx.price_with_tax"), "{st:?}");
    assert_eq!(
        st.get("model.fx.priced").map(String::as_str),
        Some("success")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_on_postgres() {
    build_and_replace("pg", "numeric").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_on_mariadb() {
    build_and_replace("maria", "decimal(12,2)").await;
}

#[test]
fn functions_errors_are_coded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/lite.db}\n    other: {type: sqlite, path: data/other.db}\n";
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: fe\nprofile: p\n"),
            ("profiles.yml", profiles),
            ("seeds/orders.csv", ORDERS),
            ("functions/price_with_tax.sql", "select price * 1.2\n"),
            ("functions/schema.yml", function_props("numeric").as_str()),
            ("models/priced.sql", PRICED),
            (
                "models/plain.sql",
                "{{ config(materialized='table') }}\nselect 1 as x\n",
            ),
        ],
    );
    // SQLite has no functions: that node fails, what calls it is skipped, the rest
    // builds.
    let run = dvt(dir.path(), &["build"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("DVT306") && all.contains("`price_with_tax`") && all.contains("SQLite"),
        "{all}"
    );
    let st = statuses(dir.path());
    assert_eq!(
        st.get("function.fe.price_with_tax").map(String::as_str),
        Some("error"),
        "{st:?}"
    );
    assert_eq!(
        st.get("model.fe.priced").map(String::as_str),
        Some("skipped")
    );
    assert_eq!(
        st.get("model.fe.plain").map(String::as_str),
        Some("success")
    );

    // An unknown function, at the line of its call.
    write_project(
        dir.path(),
        &[(
            "models/priced.sql",
            "select id,\n  {{ function('price_with_taxes') }}(price) as gross\nfrom {{ ref('orders') }}\n",
        )],
    );
    let run = dvt(dir.path(), &["parse"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT133]")
            && run.stderr.contains("models/priced.sql:2")
            && run.stderr.contains("price_with_taxes"),
        "{}",
        run.stderr
    );

    // A function without `returns`, at its entry.
    write_project(
        dir.path(),
        &[
            ("models/priced.sql", PRICED),
            (
                "functions/schema.yml",
                "functions:\n  - name: price_with_tax\n    arguments:\n      - {name: price, data_type: numeric}\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["parse"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT115]")
            && run.stderr.contains("functions/schema.yml:2")
            && run.stderr.contains("returns"),
        "{}",
        run.stderr
    );

    // A federated model cannot call a database's function.
    write_project(
        dir.path(),
        &[
            ("functions/schema.yml", function_props("numeric").as_str()),
            (
                "seeds/props.yml",
                "seeds:\n  - name: orders\n    config: {target: other}\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["parse"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT116]")
            && run.stderr.contains("`priced`")
            && run.stderr.contains("`price_with_tax`")
            && run.stderr.contains("federated"),
        "{}",
        run.stderr
    );
}
