//! A package's YAML read with the package's vars, as connector packages (Fivetran's)
//! rely on: the root project names the tables under `vars: {<package>: ...}`.

use crate::common::*;

#[test]
fn package_sources_read_the_vars_the_root_project_scopes_to_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    write_project(
        &root,
        &[
            (
                "dbt_project.yml",
                "name: shop\nprofile: shop\nvars:\n  connector_pkg:\n    orders_identifier: orders_data\n",
            ),
            (
                "profiles.yml",
                "shop:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/shop.db}\n",
            ),
            ("packages.yml", "packages:\n  - local: ../connector\n"),
            ("seeds/orders_data.csv", "id,amount\n1,10\n2,20\n"),
        ],
    );
    write_project(
        &dir.path().join("connector"),
        &[
            (
                "dbt_project.yml",
                "name: connector_pkg\nmodels:\n  connector_pkg:\n    +materialized: table\n",
            ),
            (
                "models/src.yml",
                "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: orders\n        identifier: \"{{ var('orders_identifier', 'orders') }}\"\n",
            ),
            (
                "models/stg_orders.sql",
                "select id, amount from {{ source('raw', 'orders') }}",
            ),
        ],
    );
    dvt(&root, &["deps"], &[]).assert_ok();
    dvt(&root, &["seed"], &[]).assert_ok();
    dvt(&root, &["run"], &[]).assert_ok();
    assert_eq!(
        sqlite_rows(
            &root.join("data/shop.db"),
            "select sum(amount) from stg_orders"
        ),
        vec![vec![normalise(Some("30"))]]
    );
}
