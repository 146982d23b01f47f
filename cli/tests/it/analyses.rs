//! Analyses (`analyses/*.sql`): compiled by `compile` into `target/compiled/`, never
//! built; in `manifest.json` as dbt-core 1.10 writes them (fqn under `analysis`, configs
//! from the project's `models:` tree, `path` under `analysis/`, no relation), and listed
//! by `ls` only when asked for.

use crate::common::*;

#[test]
fn analyses_compile_and_never_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: an\nprofile: p\nmodels:\n  an:\n    +tags: [fromproj]\n    analysis:\n      +meta: {k: analysis_folder}\n",
            ),
            (
                "profiles.yml",
                "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/lite.db}\n",
            ),
            ("models/m.sql", "select 1 as id"),
            (
                "analyses/a1.sql",
                "select * from {{ ref('m') }} -- {{ this }}",
            ),
            (
                "analyses/sub/a2.sql",
                "{{ config(tags=['x']) }}select count(*) as n from {{ ref('m') }}",
            ),
            (
                "analyses/off.sql",
                "{{ config(enabled=false) }}select * from {{ ref('missing') }}",
            ),
            (
                "analyses/props.yml",
                "version: 2\nanalyses:\n  - name: a1\n    description: An analysis\n    config: {tags: [mine]}\n    columns: [{name: id, description: the id}]\n",
            ),
        ],
    );
    let compile = dvt(dir.path(), &["compile"], &[]);
    compile.assert_ok();
    let compiled = |rel: &str| {
        std::fs::read_to_string(dir.path().join("target/compiled/an").join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    assert_eq!(
        compiled("analyses/a1.sql").trim(),
        "select * from \"main\".\"m\" -- \"main\".\"a1\""
    );
    assert_eq!(
        compiled("analyses/sub/a2.sql").trim(),
        "select count(*) as n from \"main\".\"m\""
    );
    assert!(
        !dir.path()
            .join("target/compiled/an/analyses/off.sql")
            .exists()
    );

    let manifest = target_json(dir.path(), "manifest.json");
    let a1 = &manifest["nodes"]["analysis.an.a1"];
    let a2 = &manifest["nodes"]["analysis.an.a2"];
    assert_eq!(a1["resource_type"], "analysis");
    assert_eq!(
        a2["fqn"],
        serde_json::json!(["an", "analysis", "sub", "a2"])
    );
    assert_eq!(a2["path"], "analysis/sub/a2.sql");
    assert_eq!(a2["original_file_path"], "analyses/sub/a2.sql");
    assert_eq!(a1["relation_name"], serde_json::Value::Null);
    assert_eq!(a1["description"], "An analysis");
    assert_eq!(a1["tags"], serde_json::json!(["fromproj", "mine"]));
    assert_eq!(a2["tags"], serde_json::json!(["fromproj", "x"]));
    assert_eq!(
        a2["config"]["meta"],
        serde_json::json!({"k": "analysis_folder"})
    );
    assert_eq!(a1["depends_on"]["nodes"], serde_json::json!(["model.an.m"]));
    assert!(manifest["nodes"].get("analysis.an.off").is_none());
    assert_eq!(
        manifest["child_map"]["model.an.m"],
        serde_json::json!(["analysis.an.a1", "analysis.an.a2"])
    );

    // Nothing builds an analysis: `run` and `build` of everything build the model only.
    for command in ["run", "build"] {
        dvt(dir.path(), &[command], &[]).assert_ok();
        let results = statuses(dir.path());
        assert_eq!(
            results.keys().collect::<Vec<_>>(),
            vec!["model.an.m"],
            "{command}"
        );
    }
    let db = dir.path().join("data/lite.db");
    assert_eq!(
        sqlite_rows(
            &db,
            "select name from sqlite_master where type in ('table', 'view') order by name"
        ),
        vec![vec!["m".to_owned()]]
    );

    // `show` runs an analysis's query.
    let show = dvt(dir.path(), &["show", "-s", "a2"], &[]);
    show.assert_ok();
    assert!(
        show.stdout.contains("Previewing a2") && show.stdout.contains("| 1 |"),
        "{}",
        show.stdout
    );

    // `ls` lists analyses when asked for by type, as `dbt ls` does.
    let ls = dvt(dir.path(), &["ls", "--output", "selector"], &[]);
    ls.assert_ok();
    assert_eq!(ls.stdout.trim(), "an.m", "{}", ls.stdout);
    let ls = dvt(
        dir.path(),
        &[
            "ls",
            "-s",
            "+a1",
            "--resource-type",
            "analysis",
            "--output",
            "selector",
        ],
        &[],
    );
    ls.assert_ok();
    assert_eq!(ls.stdout.trim(), "an.analysis.a1", "{}", ls.stdout);

    // `compile -s` takes an analysis alone.
    std::fs::remove_dir_all(dir.path().join("target/compiled")).expect("clean");
    dvt(dir.path(), &["compile", "-s", "a2"], &[]).assert_ok();
    assert!(
        dir.path()
            .join("target/compiled/an/analyses/sub/a2.sql")
            .exists()
    );
    assert!(!dir.path().join("target/compiled/an/models/m.sql").exists());

    // audit_helper's analyses print their comparison with agate's `print_table` while
    // compiling: on standard output, as dbt prints it.
    write_project(
        dir.path(),
        &[(
            "analyses/printed.sql",
            "{% set r = run_query('select id, ' ~ \"'x'\" ~ ' as name from ' ~ ref('m')) %}{% if execute %}{% do r.print_table() %}{% endif %}select 1 as one",
        )],
    );
    let printed = dvt(dir.path(), &["compile", "-s", "printed"], &[]);
    printed.assert_ok();
    assert!(
        printed
            .stdout
            .contains("| id | name |\n| -- | ---- |\n|  1 | x    |\n"),
        "{}",
        printed.stdout
    );
}
