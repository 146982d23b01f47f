//! Groups and model `access`, as dbt checks them while parsing: a `private` model is
//! read only from its group (a generic test belongs to the group of what it tests), a
//! package with `restrict-access: true` keeps its `private` and `protected` models to
//! itself, and `groups:`, `meta:`, `docs:`, `group:` and `access:` reach
//! `manifest.json` and `graph` as dbt writes them (top-level keys moved into `config:`).

use crate::common::*;

const PROFILES: &str =
    "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n";

const PROPS: &str = "version: 2
groups:
  - name: finance
    owner: {name: Fin, email: fin@example.com}
    description: money
    config: {meta: {tier: 1}}
  - name: ops
    owner: {email: ops@example.com}
models:
  - name: ledger
    meta: {owner: someone}
    docs: {show: false}
    access: private
    group: finance
    columns:
      - name: id
        data_tests: [not_null]
  - name: report
    config: {group: finance}
";

fn project(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = vec![
        ("dbt_project.yml", "name: p\nprofile: p\n"),
        ("profiles.yml", PROFILES),
        ("models/props.yml", PROPS),
        ("models/ledger.sql", "select 1 as id"),
        (
            "models/report.sql",
            "select id, '{% if execute %}{{ graph.groups.values() | map(attribute='name') | sort | join(',') }}' as groups, '{{ graph.nodes['model.p.ledger'].access }}{% endif %}' as access from {{ ref('ledger') }}",
        ),
    ];
    files.extend_from_slice(extra);
    write_project(dir.path(), &files);
    dir
}

fn fails_with(dir: &tempfile::TempDir, code: &str, text: &str) {
    let run = dvt(dir.path(), &["parse"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("error[{code}]")) && run.stderr.contains(text),
        "expected {code} with `{text}`:\n{}",
        run.stderr
    );
}

#[test]
fn groups_access_and_top_level_configs_reach_the_manifest() {
    // `thread_id` is the worker thread's, in a model and in a macro it calls (packages
    // keep per-thread state under it).
    let dir = project(&[
        (
            "macros/tid.sql",
            "{% macro tid() %}{{ return(thread_id) }}{% endmacro %}",
        ),
        (
            "models/threads.sql",
            "select '{{ thread_id }}' as t, '{{ tid() }}' as m",
        ),
    ]);
    dvt(dir.path(), &["build"], &[]).assert_ok();
    assert_eq!(
        sqlite_rows(&dir.path().join("data/main.db"), "select t, m from threads"),
        vec![vec!["Thread-1".to_owned(), "Thread-1".to_owned()]]
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(
        manifest["groups"]["group.p.finance"],
        serde_json::json!({
            "name": "finance",
            "resource_type": "group",
            "package_name": "p",
            "path": "props.yml",
            "original_file_path": "models/props.yml",
            "unique_id": "group.p.finance",
            "owner": {"name": "Fin", "email": "fin@example.com"},
            "description": "money",
            "config": {"meta": {"tier": 1}},
        })
    );
    assert_eq!(
        manifest["groups"]["group.p.ops"]["owner"],
        serde_json::json!({"email": "ops@example.com"})
    );
    let ledger = &manifest["nodes"]["model.p.ledger"];
    assert_eq!(ledger["meta"], serde_json::json!({"owner": "someone"}));
    assert_eq!(
        ledger["config"]["meta"],
        serde_json::json!({"owner": "someone"})
    );
    assert_eq!(ledger["docs"]["show"], serde_json::json!(false));
    assert_eq!(ledger["access"], "private");
    assert_eq!(ledger["group"], "finance");
    assert_eq!(manifest["nodes"]["model.p.report"]["access"], "protected");
    // A generic test takes its model's group, on the node, not in its config (as dbt).
    let test = manifest["nodes"]
        .as_object()
        .expect("nodes")
        .iter()
        .find(|(id, _)| id.starts_with("test.p.not_null_ledger_id"))
        .map(|(_, t)| t)
        .expect("the not_null test");
    assert_eq!(test["group"], "finance");
    // dbt lists a generic test's macro first among its macros (packages tell tests
    // apart by it).
    assert_eq!(test["depends_on"]["macros"][0], "macro.dbt.test_not_null");
    assert_eq!(test["config"]["group"], serde_json::Value::Null);
    // run_results.json times the compilation apart from the execution, as dbt does.
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/run_results.json")).expect("results"),
    )
    .expect("json");
    let report = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["unique_id"] == "model.p.report")
        .expect("report's result");
    let stage = |i: usize, key: &str| {
        report["timing"][i][key]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(report["timing"][0]["name"], "compile");
    assert!(
        stage(0, "completed_at") > stage(0, "started_at"),
        "{report}"
    );
    assert_eq!(stage(1, "started_at"), stage(0, "completed_at"));
    assert!(
        stage(1, "completed_at") > stage(1, "started_at"),
        "{report}"
    );
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/main.db"),
            "select groups, access from report"
        ),
        vec![vec!["finance,ops".to_owned(), "private".to_owned()]]
    );
}

#[test]
fn a_private_model_is_read_only_from_its_group() {
    // No group at all, another group, an exposure: all refused, with dbt's message.
    for (file, text, who) in [
        (
            "models/outsider.sql",
            "select * from {{ ref('ledger') }}",
            "model.p.outsider",
        ),
        (
            "models/other.sql",
            "{{ config(group='ops') }}select * from {{ ref('ledger') }}",
            "model.p.other",
        ),
        (
            "models/exposures.yml",
            "version: 2\nexposures:\n  - name: board\n    type: dashboard\n    owner: {email: a@example.com}\n    depends_on: [\"ref('ledger')\"]\n",
            "exposure.p.board",
        ),
    ] {
        let dir = project(&[(file, text)]);
        fails_with(
            &dir,
            "DVT136",
            &format!(
                "node {who} attempted to reference node model.p.ledger, which is not allowed because the referenced node is private to the 'finance' group"
            ),
        );
    }
    // A relationships test from the ops group into the private model is refused too;
    // one in the finance group is not.
    let rel = "version: 2\nmodels:\n  - name: side\n    config: {group: GROUP}\n    columns:\n      - name: id\n        data_tests:\n          - relationships: {to: ref('ledger'), field: id}\n";
    let dir = project(&[
        ("models/side.sql", "select 1 as id"),
        ("models/side.yml", &rel.replace("GROUP", "ops")),
    ]);
    fails_with(&dir, "DVT136", "private to the 'finance' group");
    let dir = project(&[
        ("models/side.sql", "select 1 as id"),
        ("models/side.yml", &rel.replace("GROUP", "finance")),
    ]);
    dvt(dir.path(), &["parse"], &[]).assert_ok();
}

#[test]
fn a_restricted_package_keeps_its_models_to_itself() {
    let dir = project(&[
        ("packages.yml", "packages:\n  - local: vendor/lib\n"),
        (
            "vendor/lib/dbt_project.yml",
            "name: lib\nprofile: p\nrestrict-access: true\n",
        ),
        ("vendor/lib/models/lib_base.sql", "select 1 as id"),
        (
            "vendor/lib/models/lib.yml",
            "version: 2\nmodels:\n  - name: lib_open\n    access: public\n",
        ),
        (
            "vendor/lib/models/lib_open.sql",
            "select * from {{ ref('lib_base') }}",
        ),
        (
            "models/reader.sql",
            "select * from {{ ref('lib', 'lib_open') }}",
        ),
    ]);
    dvt(dir.path(), &["deps"], &[]).assert_ok();
    // The package's own model reads its protected one; the root reads the public one.
    dvt(dir.path(), &["parse"], &[]).assert_ok();
    std::fs::write(
        dir.path().join("models/reader.sql"),
        "select * from {{ ref('lib', 'lib_base') }}",
    )
    .expect("write");
    fails_with(
        &dir,
        "DVT136",
        "node model.p.reader attempted to reference node model.lib.lib_base, which is not allowed because the referenced node is protected to the 'lib' package",
    );
}

#[test]
fn bad_groups_and_access_are_coded_with_their_file() {
    let dir = project(&[
        (
            "models/more.yml",
            "version: 2\nmodels:\n  - name: odd\n    access: secret\n",
        ),
        ("models/odd.sql", "select 1 as id"),
    ]);
    fails_with(
        &dir,
        "DVT115",
        "model `odd` has an invalid value (secret) for the access field",
    );
    let dir = project(&[
        (
            "models/more.yml",
            "version: 2\nmodels:\n  - name: odd\n    group: nope\n",
        ),
        ("models/odd.sql", "select 1 as id"),
    ]);
    fails_with(
        &dir,
        "DVT115",
        "names group `nope`; the groups are: finance, ops",
    );
    let dir = project(&[
        (
            "models/more.yml",
            "version: 2\nmodels:\n  - name: odd\n    meta: {a: 1}\n    config: {meta: {b: 2}}\n",
        ),
        ("models/odd.sql", "select 1 as id"),
    ]);
    fails_with(&dir, "DVT115", "models/more.yml:4:");
    let dir = project(&[(
        "models/more.yml",
        "version: 2\ngroups:\n  - name: nobody\n    owner: {}\n",
    )]);
    fails_with(&dir, "DVT115", "models/more.yml:4:");
    let dir = project(&[
        (
            "models/more.yml",
            "version: 2\nmodels:\n  - name: odd\n    access: public\n    config: {materialized: ephemeral}\n",
        ),
        ("models/odd.sql", "select 1 as id"),
    ]);
    fails_with(&dir, "DVT115", "with `ephemeral` materialization");
}

/// `deprecation_date:` is kept as dbt keeps it, and a deprecated model (and each
/// reference to it) is warned about at parse, as dbt's DeprecatedModel and
/// DeprecatedReference do.
#[test]
fn deprecated_models_are_dated_and_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: dep\nprofile: dep\n"),
            (
                "profiles.yml",
                "dep:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/d.db}\n",
            ),
            ("models/old.sql", "select 1 as id"),
            ("models/future.sql", "select 1 as id"),
            (
                "models/reader.sql",
                "select id from {{ ref('old') }} union all select id from {{ ref('future') }}",
            ),
            (
                "models/props.yml",
                "version: 2\nmodels:\n  - name: old\n    deprecation_date: 2024-01-01\n  - name: future\n    deprecation_date: '2999-06-30 12:00:00'\n",
            ),
        ],
    );
    let out = dvt(dir.path(), &["parse"], &[]);
    out.assert_ok();
    let m = target_json(dir.path(), "manifest.json");
    assert_eq!(
        m["nodes"]["model.dep.old"]["deprecation_date"],
        "2024-01-01T00:00:00+00:00"
    );
    assert_eq!(
        m["nodes"]["model.dep.future"]["deprecation_date"],
        "2999-06-30T12:00:00+00:00"
    );
    assert_eq!(
        out.stderr.matches("warning[DVT008]").count(),
        2,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "Model model.dep.old has passed its deprecation date of 2024-01-01T00:00:00+00:00"
        ) && out
            .stderr
            .contains("While compiling 'reader': Found a reference to model.dep.old"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("model.dep.future,"), "{}", out.stderr);
}
