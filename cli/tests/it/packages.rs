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

/// Packages' `on-run-start`/`on-run-end` hooks run as dbt runs them: the root project's
/// first, then each package's by package name, in the package's context (its macros
/// and vars), each recorded in `run_results.json`.
#[test]
fn package_hooks_run_after_the_root_project_s_in_dbt_s_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    write_project(
        &root,
        &[
            (
                "dbt_project.yml",
                "name: shop\nprofile: shop\non-run-end:\n  - \"{{ log('hook root end', info=True) }}\"\n",
            ),
            (
                "profiles.yml",
                "shop:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/shop.db}\n",
            ),
            (
                "packages.yml",
                "packages:\n  - local: ../zeta\n  - local: ../alpha\n",
            ),
            ("models/m.sql", "select 1 as id"),
        ],
    );
    for (name, extra) in [("zeta", ""), ("alpha", "vars:\n  greeting: from alpha\n")] {
        write_project(
            &dir.path().join(name),
            &[
                (
                    "dbt_project.yml",
                    &format!(
                        "name: {name}\n{extra}on-run-start:\n  - \"{{{{ {name}_says('start') }}}}\"\non-run-end:\n  - \"{{{{ {name}_says('end') }}}}\"\n  - \"{{{{ log('hook {name} end 2', info=True) }}}}\"\n"
                    ),
                ),
                (
                    "macros/says.sql",
                    &format!(
                        "{{% macro {name}_says(when) %}}{{{{ log('hook {name} ' ~ when ~ ' ' ~ var('greeting', 'plain'), info=True) }}}}{{% endmacro %}}\n"
                    ),
                ),
                // A package model's file, as dbt gives it: within its package.
                (
                    &format!("models/sub/{name}_model.sql"),
                    "{% if execute %}{{ log('file ' ~ model.original_file_path ~ ' path ' ~ model.path, info=True) }}{% endif %}select 1 as id",
                ),
            ],
        );
    }
    dvt(&root, &["deps"], &[]).assert_ok();
    let run = dvt(&root, &["run"], &[]);
    run.assert_ok();
    let order: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once(" hook ").map(|(_, rest)| rest))
        .filter(|l| !l.contains("..."))
        .collect();
    assert_eq!(
        order,
        [
            "alpha start from alpha",
            "zeta start plain",
            "root end",
            "alpha end from alpha",
            "alpha end 2",
            "zeta end plain",
            "zeta end 2",
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("file models/sub/alpha_model.sql path sub/alpha_model.sql"),
        "{}",
        run.stdout
    );
    // manifest.json names a package node's file as dbt does.
    let manifest = target_json(&root, "manifest.json");
    let node = &manifest["nodes"]["model.alpha.alpha_model"];
    assert_eq!(node["path"], "sub/alpha_model.sql");
    assert_eq!(node["original_file_path"], "models/sub/alpha_model.sql");
    let results = target_json(&root, "run_results.json");
    let ids: Vec<&str> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["unique_id"].as_str())
        .filter(|id| id.starts_with("operation."))
        .collect();
    for id in [
        "operation.alpha.alpha-on-run-start-0",
        "operation.zeta.zeta-on-run-end-1",
        "operation.shop.shop-on-run-end-0",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(
        root.join("target/compiled/alpha/dbt_project.yml/hooks/alpha-on-run-end-0.sql")
            .is_file()
    );
}

/// A package's property entry for a seed the project disables and replaces with its own
/// patches the project's seed, as dbt does (dbt_project_evaluator documents its
/// exceptions seed that way): its description, columns and `column_types` apply, and
/// a versioned ephemeral model's CTE is named after its relation (`<name>_v<n>`).
#[test]
fn a_package_entry_for_a_disabled_seed_patches_the_project_seed_of_that_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    write_project(
        &root,
        &[
            (
                "dbt_project.yml",
                "name: shop\nprofile: shop\nseeds:\n  helper:\n    exceptions:\n      +enabled: false\n",
            ),
            (
                "profiles.yml",
                "shop:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/shop.db}\n",
            ),
            ("packages.yml", "packages:\n  - local: ../helper\n"),
            ("seeds/exceptions.csv", "code,note\n007,kept as text\n"),
            (
                "models/versions.yml",
                "version: 2\nmodels:\n  - name: base\n    latest_version: 2\n    config: {materialized: ephemeral}\n    versions:\n      - v: 2\n",
            ),
            ("models/base_v2.sql", "select 1 as id"),
            ("models/reads.sql", "select * from {{ ref('base') }}"),
        ],
    );
    write_project(
        &dir.path().join("helper"),
        &[
            ("dbt_project.yml", "name: helper\n"),
            ("seeds/exceptions.csv", "code,note\n"),
            (
                "seeds/seeds.yml",
                "version: 2\nseeds:\n  - name: exceptions\n    description: What not to report.\n    config:\n      column_types: {code: text}\n    columns:\n      - name: code\n        description: The code.\n",
            ),
        ],
    );
    dvt(&root, &["deps"], &[]).assert_ok();
    dvt(&root, &["build"], &[]).assert_ok();
    let manifest = target_json(&root, "manifest.json");
    let seed = &manifest["nodes"]["seed.shop.exceptions"];
    assert_eq!(seed["description"], "What not to report.");
    assert_eq!(seed["columns"]["code"]["description"], "The code.");
    assert_eq!(seed["patch_path"], "helper://seeds/seeds.yml");
    assert!(manifest["nodes"].get("seed.helper.exceptions").is_none());
    // `column_types` kept the leading zero.
    assert_eq!(
        sqlite_rows(&root.join("data/shop.db"), "select code from exceptions"),
        vec![vec![normalise(Some("007"))]]
    );
    let compiled = std::fs::read_to_string(root.join("target/compiled/shop/models/reads.sql"))
        .expect("compiled reads");
    assert!(compiled.contains("__dbt__cte__base_v2 as"), "{compiled}");
}

/// A `pkg.test_name` test runs the package's test macro even when the root project
/// defines one of the same name, while `depends_on.macros` records the root project's,
/// as dbt-core records it (it looks the macro up by name from the test's package).
#[test]
fn a_namespaced_test_runs_the_package_macro_and_records_dbt_s_choice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    write_project(
        &root,
        &[
            ("dbt_project.yml", "name: shop\nprofile: shop\n"),
            (
                "profiles.yml",
                "shop:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/shop.db}\n",
            ),
            ("packages.yml", "packages:\n  - local: ../helper\n"),
            // The root project's version would find nothing.
            (
                "macros/tests.sql",
                "{% test positive(model, column_name) %}select 1 as x where 1 = 0{% endtest %}",
            ),
            ("models/amounts.sql", "select -1 as amount"),
            (
                "models/amounts.yml",
                "version: 2\nmodels:\n  - name: amounts\n    columns:\n      - name: amount\n        data_tests: [helper.positive]\n",
            ),
        ],
    );
    write_project(
        &dir.path().join("helper"),
        &[
            ("dbt_project.yml", "name: helper\n"),
            (
                "macros/tests.sql",
                "{% test positive(model, column_name) %}select * from {{ model }} where {{ column_name }} <= 0{% endtest %}",
            ),
        ],
    );
    dvt(&root, &["deps"], &[]).assert_ok();
    let run = dvt(&root, &["build"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let st = statuses(&root);
    let (id, status) = st
        .iter()
        .find(|(id, _)| id.starts_with("test.shop.helper_positive"))
        .expect("the test ran");
    assert_eq!(status, "fail");
    let manifest = target_json(&root, "manifest.json");
    assert_eq!(
        manifest["nodes"][id]["depends_on"]["macros"][0],
        "macro.shop.test_positive"
    );
}
