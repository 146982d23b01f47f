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

/// The root project may describe a package's model (its tests are the root's), but not
/// when the package describes it too: dbt refuses two entries for one node.
#[test]
fn root_properties_apply_to_package_models_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    let package_yml = "version: 2\nmodels:\n  - name: stg\n    description: the package's own\n";
    write_project(
        &root,
        &[
            ("dbt_project.yml", "name: shop\nprofile: shop\n"),
            (
                "profiles.yml",
                "shop:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/shop.db}\n",
            ),
            ("packages.yml", "packages:\n  - local: ../pkg\n"),
            (
                "models/pkg_tests.yml",
                "version: 2\nmodels:\n  - name: stg\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
            ),
        ],
    );
    write_project(
        &dir.path().join("pkg"),
        &[
            ("dbt_project.yml", "name: pkg\n"),
            ("models/stg.sql", "select 1 as id union all select null"),
        ],
    );
    dvt(&root, &["deps"], &[]).assert_ok();
    let build = dvt(&root, &["build"], &[]);
    assert_eq!(build.code, 1, "{}", build.stdout);
    assert!(
        build.stdout.contains("test.shop.not_null_stg_id")
            || build.stdout.contains("not_null_stg_id"),
        "{}",
        build.stdout
    );
    assert!(build.stdout.contains("FAIL 1"), "{}", build.stdout);
    std::fs::write(dir.path().join("pkg/models/props.yml"), package_yml).expect("yml");
    let twice = dvt(&root, &["deps"], &[]);
    twice.assert_ok();
    let compile = dvt(&root, &["compile"], &[]);
    assert_eq!(compile.code, 1, "{}", compile.stderr);
    assert!(
        compile.stderr.contains("DVT114") && compile.stderr.contains("models/pkg_tests.yml:3"),
        "{}",
        compile.stderr
    );
}
