//! A project's or package's macro named like one of DVT's cross-database macros wins as
//! dbt's dispatch rules say: `adapter.dispatch(name, 'dbt')` searches the root project
//! (`<adapter>__name`, then `default__name`) before DVT's built-ins, or the packages of
//! the project's `dispatch:` order for `dbt`; an unqualified call of a macro the project
//! defines is the project's, while `dbt.<name>` stays DVT's.
//! Compiling connects to nothing, so no database runs here.

use super::*;

const MODEL: &str = "select
    {{ dbt.dateadd('day', 1, 'x') }} as a,
    {{ dateadd('day', 1, 'x') }} as b,
    {{ dbt.hash('y') }} as c,
    {{ datediff('p', 'q', 'day') }} as d,
    {{ dbt.datediff('p', 'q', 'day') }} as e,
    {{ dbt.length('z') }} as f
";

const PROJECT_MACROS: &str = "
{% macro postgres__dateadd(datepart, interval, from_date_or_timestamp) -%}
    project_dateadd({{ from_date_or_timestamp }}, {{ interval }})
{%- endmacro %}

{% macro default__hash(field) -%}
    project_hash({{ field }})
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) -%}
    project_datediff({{ first_date }}, {{ second_date }})
{%- endmacro %}
";

const SHIM_MACROS: &str = "
{% macro sqlite__length(expression) -%}
    shim_length({{ expression }})
{%- endmacro %}
";

const PROFILES: &str = "crossdb:
  target: pg
  outputs:
    pg: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: s}
    my: {type: mysql, server: 127.0.0.1, username: root, schema: s}
    lite: {type: sqlite, path: x.sqlite}
";

/// A project with `PROJECT_MACROS` and an installed package `shim`; `dispatch` is the
/// `dispatch:` entry of its `dbt_project.yml`, if any.
fn project(dispatch: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let project_yml = format!("name: crossdb\nprofile: crossdb\n{dispatch}");
    write_files(
        dir.path(),
        &[
            ("dbt_project.yml", project_yml.as_str()),
            ("profiles.yml", PROFILES),
            ("models/m.sql", MODEL),
            ("macros/overrides.sql", PROJECT_MACROS),
            ("dbt_packages/shim/dbt_project.yml", "name: shim\n"),
            ("dbt_packages/shim/macros/shim.sql", SHIM_MACROS),
        ],
    );
    dir
}

/// The model's columns `a` to `f`, each as words.
fn columns(dir: &Path, target: &str) -> Vec<String> {
    let sql = compile(&load(dir, target), "crossdb", "m", None);
    let text = words(&sql).join(" ");
    let body = text
        .strip_prefix("select ")
        .expect("the model starts with select");
    ["a", "b", "c", "d", "e", "f"]
        .iter()
        .scan(body, |rest, column| {
            let (value, after) = rest
                .split_once(&format!(" as {column}"))
                .unwrap_or_else(|| panic!("no column `{column}` in {sql}"));
            *rest = after.trim_start_matches(',').trim_start();
            Some(value.to_owned())
        })
        .collect()
}

#[test]
fn project_macros_win_over_dvts_on_postgres() {
    let dir = project("");
    assert_eq!(
        columns(dir.path(), "pg"),
        [
            // The project's `postgres__dateadd`, through `dbt.dateadd` and through the
            // built-in `dateadd` an unqualified call reaches.
            "project_dateadd(x, 1)",
            "project_dateadd(x, 1)",
            // The project's `default__hash`: DVT has no `postgres__hash` either.
            "project_hash(y)",
            // The project's own `datediff` for an unqualified call; `dbt.datediff` is
            // still DVT's.
            "project_datediff(p, q)",
            "((q)::date - (p)::date)",
            "length( z )",
        ]
    );
}

#[test]
fn a_project_default_beats_dvts_adapter_macro_as_in_dbt() {
    let dir = project("");
    let mysql = columns(dir.path(), "my");
    // dbt searches the root project with every prefix before the next package, so the
    // project's `default__hash` wins over DVT's `mysql__hash`; DVT's `mysql__dateadd`
    // stays, the project having only a `postgres__dateadd`.
    assert_eq!(mysql[2], "project_hash(y)");
    assert_eq!(mysql[0], "date_add(x, interval (1) day)");
    assert_eq!(mysql[4], "datediff(q, p)");
}

#[test]
fn a_package_macro_wins_only_through_the_dispatch_search_order() {
    // Without a `dispatch:` entry for `dbt`, dbt searches the root project and `dbt`:
    // the package's `sqlite__length` is not seen.
    let plain = project("");
    assert_eq!(columns(plain.path(), "lite")[5], "length( z )");

    let shimmed = project(
        "dispatch:\n  - macro_namespace: dbt\n    search_order: ['crossdb', 'shim', 'dbt']\n",
    );
    let lite = columns(shimmed.path(), "lite");
    assert_eq!(lite[5], "shim_length(z)");
    // The project's macros still come first; DVT's `sqlite__dateadd` serves the rest.
    assert_eq!(lite[2], "project_hash(y)");
    assert!(
        lite[0].starts_with("strftime(case when length(x) > 10"),
        "{}",
        lite[0]
    );
}
