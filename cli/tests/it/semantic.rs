//! dbt's semantic layer resources (`semantic_models:`, `metrics:`, `saved_queries:`):
//! parsed into dbt's `manifest.json` shapes (compared field by field with dbt-core
//! 1.10.23's on this project), selectable (`metric:`, `+semantic_model:`), listed by
//! `dvt ls` as `dbt ls` lists them, read by exposures (`metric()`), and checked at parse.

use crate::common::*;

const SL_YML: &str = r#"version: 2
models:
  - name: metricflow_time_spine
    time_spine:
      standard_granularity_column: date_day
    columns:
      - name: date_day
        granularity: day
semantic_models:
  - name: orders_sm
    model: ref('orders')
    description: "Orders"
    label: Orders SM
    defaults:
      agg_time_dimension: ordered_at
    entities:
      - name: order
        type: primary
        expr: order_id
      - name: customer
        type: foreign
        expr: customer_id
    dimensions:
      - name: ordered_at
        type: time
        type_params:
          time_granularity: day
      - name: is_paid
        type: categorical
    measures:
      - name: order_total
        description: "sum of amounts"
        agg: sum
        expr: amount
      - name: order_count
        agg: count
        expr: 1
        create_metric: true
  - name: customers_sm
    model: ref('customers')
    defaults:
      agg_time_dimension: created_at
    entities:
      - name: customer
        type: primary
        expr: customer_id
    dimensions:
      - name: region
        type: categorical
      - name: created_at
        type: time
        type_params:
          time_granularity: day
    measures:
      - name: customers
        agg: count_distinct
        expr: customer_id
metrics:
  - name: revenue
    label: Revenue
    description: total revenue
    type: simple
    type_params:
      measure: order_total
    filter: |
      {{ Dimension('order__is_paid') }} = true
    tags: [finance]
    meta: {owner: me}
  - name: cumulative_revenue
    label: Cumulative revenue
    type: cumulative
    type_params:
      measure:
        name: order_total
        fill_nulls_with: 0
      cumulative_type_params:
        window: 7 days
  - name: revenue_per_customer
    label: Revenue per customer
    type: ratio
    type_params:
      numerator: revenue
      denominator:
        name: customer_count
        filter: "{{ Dimension('customer__region') }} = 'a'"
  - name: customer_count
    label: Customers
    type: simple
    type_params:
      measure: customers
  - name: revenue_growth
    label: Growth
    type: derived
    type_params:
      expr: revenue - offset_revenue
      metrics:
        - name: revenue
        - name: revenue
          offset_window: 1 week
          alias: offset_revenue
saved_queries:
  - name: revenue_by_region
    description: revenue by region
    label: Rev by region
    query_params:
      metrics: [revenue, customer_count]
      group_by: ["Dimension('customer__region')"]
      where: ["{{ Dimension('order__is_paid') }} = true"]
    exports:
      - name: rev_export
        config:
          export_as: table
          schema: exports
exposures:
  - name: board
    type: dashboard
    owner: {name: me}
    depends_on: [ref('orders'), metric('revenue_growth')]
"#;

fn project(dir: &std::path::Path) {
    write_project(
        dir,
        &[
            ("dbt_project.yml", "name: sl\nprofile: sl\n"),
            (
                "profiles.yml",
                "sl:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/sl.db}\n",
            ),
            (
                "models/orders.sql",
                "select 1 as order_id, 10 as customer_id, 5.0 as amount, '2026-01-01' as ordered_at, 1 as is_paid",
            ),
            (
                "models/customers.sql",
                "select 10 as customer_id, 'a' as region, '2026-01-01' as created_at",
            ),
            (
                "models/metricflow_time_spine.sql",
                "select '2026-01-01' as date_day",
            ),
            ("models/sl.yml", SL_YML),
            (
                "models/more/extra.yml",
                "version: 2\nmetrics:\n  - name: legacy_cumulative\n    label: Legacy\n    type: cumulative\n    type_params:\n      measure: order_total\n      window: 2 weeks\n",
            ),
        ],
    );
}

#[test]
fn semantic_models_metrics_and_saved_queries_are_parsed_as_dbt_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(dir.path());
    let d = dir.path();
    dvt(d, &["parse"], &[]).assert_ok();
    let m = target_json(d, "manifest.json");
    let metrics = m["metrics"].as_object().expect("metrics");
    let mut names: Vec<&str> = metrics
        .values()
        .filter_map(|v| v["name"].as_str())
        .collect();
    names.sort();
    // `create_metric: true` made `order_count`.
    assert_eq!(
        names,
        [
            "cumulative_revenue",
            "customer_count",
            "legacy_cumulative",
            "order_count",
            "revenue",
            "revenue_growth",
            "revenue_per_customer"
        ]
    );
    let ratio = &m["metrics"]["metric.sl.revenue_per_customer"];
    assert_eq!(
        ratio["depends_on"]["nodes"],
        serde_json::json!(["metric.sl.revenue", "metric.sl.customer_count"])
    );
    assert_eq!(
        ratio["type_params"]["denominator"]["filter"]["where_filters"][0]["where_sql_template"],
        "{{ Dimension('customer__region') }} = 'a'"
    );
    let input: Vec<&str> = ratio["type_params"]["input_measures"]
        .as_array()
        .expect("input measures")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(input, ["order_total", "customers"]);
    let growth = &m["metrics"]["metric.sl.revenue_growth"];
    assert_eq!(
        growth["type_params"]["metrics"][1]["offset_window"],
        serde_json::json!({"count": 1, "granularity": "week"})
    );
    assert_eq!(
        m["metrics"]["metric.sl.cumulative_revenue"]["type_params"]["cumulative_type_params"]["window"],
        serde_json::json!({"count": 7, "granularity": "day"})
    );
    let sm = &m["semantic_models"]["semantic_model.sl.orders_sm"];
    assert_eq!(sm["node_relation"]["alias"], "orders");
    assert_eq!(sm["node_relation"]["relation_name"], "\"main\".\"orders\"");
    assert_eq!(sm["measures"][1]["expr"], "1");
    assert_eq!(
        sm["depends_on"]["nodes"],
        serde_json::json!(["model.sl.orders"])
    );
    let sq = &m["saved_queries"]["saved_query.sl.revenue_by_region"];
    assert_eq!(sq["exports"][0]["config"]["schema_name"], "exports");
    assert_eq!(sq["exports"][0]["config"]["alias"], "rev_export");
    assert_eq!(
        m["exposures"]["exposure.sl.board"]["depends_on"]["nodes"],
        serde_json::json!(["model.sl.orders", "metric.sl.revenue_growth"])
    );
    assert_eq!(
        m["parent_map"]["saved_query.sl.revenue_by_region"],
        serde_json::json!(["metric.sl.customer_count", "metric.sl.revenue"])
    );

    // A property file's folders are in the fqn; a cumulative metric without
    // `cumulative_type_params` gets them, its legacy `window` moved in (as dbt does).
    let legacy = &m["metrics"]["metric.sl.legacy_cumulative"];
    assert_eq!(
        legacy["fqn"],
        serde_json::json!(["sl", "more", "legacy_cumulative"])
    );
    assert_eq!(
        legacy["type_params"]["cumulative_type_params"],
        serde_json::json!({"window": {"count": 2, "granularity": "week"}, "grain_to_date": null, "period_agg": "first", "metric": null})
    );

    // MetricFlow's input, beside the manifest.
    let sem = target_json(d, "semantic_manifest.json");
    assert_eq!(sem["semantic_models"].as_array().map(Vec::len), Some(2));
    assert_eq!(sem["metrics"].as_array().map(Vec::len), Some(7));
    assert_eq!(
        sem["project_configuration"]["time_spines"][0]["primary_column"],
        serde_json::json!({"name": "date_day", "time_granularity": "day"})
    );
    assert_eq!(
        sem["project_configuration"]["time_spine_table_configurations"][0]["location"],
        "\"main\".\"metricflow_time_spine\""
    );
    assert!(
        sem["saved_queries"][0]["exports"][0]["config"]
            .get("database")
            .is_none()
    );

    // Selection walks through them; `dvt ls` prints dbt's selectors, sorted as dbt does.
    let ls = dvt(
        d,
        &[
            "ls",
            "-s",
            "+metric:revenue_per_customer",
            "--output",
            "selector",
        ],
        &[],
    );
    ls.assert_ok();
    assert_eq!(
        ls.stdout.lines().collect::<Vec<_>>(),
        [
            "metric:sl.customer_count",
            "metric:sl.revenue",
            "metric:sl.revenue_per_customer",
            "sl.customers",
            "sl.orders",
            "semantic_model:sl.customers_sm",
            "semantic_model:sl.orders_sm",
        ]
    );
    let ls = dvt(
        d,
        &[
            "ls",
            "-s",
            "orders+",
            "--resource-type",
            "saved_query",
            "exposure",
            "--output",
            "name",
        ],
        &[],
    );
    ls.assert_ok();
    assert_eq!(
        ls.stdout.lines().collect::<Vec<_>>(),
        ["board", "revenue_by_region"]
    );
    // A build builds the models and lists the exposure and the saved query as no-ops, as
    // dbt-core 1.10's does.
    let build = dvt(d, &["build"], &[]);
    build.assert_ok();
    assert!(
        build.stdout.contains("NO-OP saved query revenue_by_region"),
        "{}",
        build.stdout
    );
    let built: Vec<(String, String)> = statuses(d).into_iter().collect();
    let pair = |id: &str, status: &str| (id.to_owned(), status.to_owned());
    assert_eq!(
        built,
        [
            pair("exposure.sl.board", "no-op"),
            pair("model.sl.customers", "success"),
            pair("model.sl.metricflow_time_spine", "success"),
            pair("model.sl.orders", "success"),
            pair("saved_query.sl.revenue_by_region", "no-op"),
        ]
    );
}

#[test]
fn broken_semantic_references_are_coded_errors_at_their_line() {
    for (from, to, words) in [
        (
            "measure: order_total\n    filter",
            "measure: order_totl\n    filter",
            "measure `order_totl`",
        ),
        ("numerator: revenue", "numerator: revenu", "metric `revenu`"),
        ("model: ref('orders')", "model: ref('order')", "order"),
        (
            "metrics: [revenue, customer_count]",
            "metrics: [revenue, nope]",
            "metric `nope`",
        ),
        ("type: derived", "type: weird", "needs a `type:`"),
        (
            "standard_granularity_column: date_day",
            "standard_granularity_column: date_dy",
            "`date_dy` must be one of its `columns:`",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        project(dir.path());
        let file = dir.path().join("models/sl.yml");
        let text = std::fs::read_to_string(&file).expect("yml");
        let at = text.find(from).unwrap_or_else(|| panic!("{from}"));
        let line = text[..at].matches('\n').count() + 1;
        std::fs::write(&file, text.replacen(from, to, 1)).expect("write");
        let out = dvt(dir.path(), &["parse"], &[]);
        assert_eq!(out.code, 1, "{to}: {}", out.stderr);
        assert!(out.stderr.contains(words), "{to}: {}", out.stderr);
        // The time spine's error names its file (a property entry keeps no line).
        let place = if words.contains("date_dy") {
            "models/sl.yml: ".to_owned()
        } else {
            format!("models/sl.yml:{line}")
        };
        assert!(out.stderr.contains(&place), "{to}: {}", out.stderr);
    }
}
