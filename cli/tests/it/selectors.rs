//! Node selection as dbt does it: dbt's selector methods (`path:`, `file:`, `config.*`,
//! `test_type:`, `test_name:`, folder names), the `@` operator, indirect selection of
//! tests (`--indirect-selection`, and tests of excluded nodes leaving with them),
//! `selectors.yml` (`--selector`, `default:`, `union`/`intersection`/`exclude`,
//! `method: selector`), `result:` and `source_status:` against `--state`, and a warning
//! for a criterion that matches nothing.

use std::path::Path;

use crate::common::*;

const PROJECT: &[(&str, &str)] = &[
    ("dbt_project.yml", "name: sel\nprofile: sel\n"),
    (
        "profiles.yml",
        "sel:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/sel.db}\n",
    ),
    (
        "seeds/raw.csv",
        "id,loaded_at\n1,2026-01-01 00:00:00\n2,2026-01-02 00:00:00\n",
    ),
    (
        "models/staging/stg_a.sql",
        "{{ config(tags=['nightly']) }}select id from {{ ref('raw') }}",
    ),
    (
        "models/staging/stg_b.sql",
        "select id from {{ ref('raw') }}",
    ),
    (
        "models/marts/mart_x.sql",
        "{{ config(materialized='table') }}select a.id from {{ ref('stg_a') }} a join {{ ref('stg_b') }} b on a.id = b.id",
    ),
    (
        "models/marts/mart_y.sql",
        "select id from {{ ref('mart_x') }}",
    ),
    (
        "models/marts/from_source.sql",
        "select id from {{ source('landing', 'events') }}",
    ),
    (
        "models/schema.yml",
        "version: 2\n\
         models:\n\
         \x20 - name: stg_a\n    columns:\n      - name: id\n        data_tests: [not_null]\n\
         \x20 - name: mart_x\n    columns:\n      - name: id\n        data_tests:\n          - unique\n          - relationships: {to: ref('stg_b'), field: id}\n\
         exposures:\n\
         \x20 - name: dash\n    type: dashboard\n    owner: {name: me}\n    depends_on: [ref('mart_y')]\n\
         sources:\n\
         \x20 - name: landing\n    tags: [external]\n    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {count: 1, period: day}\n    tables:\n      - name: events\n        identifier: raw\n",
    ),
    (
        "tests/assert_mart_y_small.sql",
        "select id from {{ ref('mart_y') }} where id > 100",
    ),
];

/// `dvt ls --output name` with `args`: the names, sorted, and stderr.
fn names(dir: &Path, args: &[&str]) -> (Vec<String>, String) {
    let mut all = vec!["ls", "--output", "name"];
    all.extend(args);
    let out = dvt(dir, &all, &[]);
    out.assert_ok();
    let mut names: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    names.sort();
    (names, out.stderr)
}

fn ls(dir: &Path, args: &[&str]) -> Vec<String> {
    names(dir, args).0
}

const NOT_NULL: &str = "not_null_stg_a_id";
const UNIQUE: &str = "unique_mart_x_id";
const RELATIONSHIPS: &str = "relationships_mart_x_id__id__ref_stg_b_";
const SINGULAR: &str = "assert_mart_y_small";

#[test]
fn dbt_selector_methods_graph_operators_and_indirect_selection() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(dir.path(), PROJECT);
    let d = dir.path();

    // A folder name selects what is in it (dbt's fqn match); its tests come along,
    // eagerly: the relationships test reads stg_b.
    assert_eq!(
        ls(d, &["-s", "staging"]),
        [NOT_NULL, RELATIONSHIPS, "stg_a", "stg_b"]
    );
    // Cautious: only tests whose every parent is selected.
    assert_eq!(
        ls(d, &["-s", "staging", "--indirect-selection", "cautious"]),
        [NOT_NULL, "stg_a", "stg_b"]
    );
    // Buildable: a test reading mart_x and stg_b comes with mart_x, stg_b being
    // mart_x's ancestor; cautious holds it back; empty brings no test at all.
    assert_eq!(
        ls(d, &["-s", "mart_x", "--indirect-selection", "buildable"]),
        ["mart_x", RELATIONSHIPS, UNIQUE]
    );
    assert_eq!(
        ls(d, &["-s", "mart_x", "--indirect-selection", "cautious"]),
        ["mart_x", UNIQUE]
    );
    assert_eq!(
        ls(d, &["-s", "mart_x", "--indirect-selection", "empty"]),
        ["mart_x"]
    );
    // Cautious held-back tests join once the union holds all they read.
    assert_eq!(
        ls(
            d,
            &["-s", "mart_x", "stg_b", "--indirect-selection", "cautious"]
        ),
        ["mart_x", RELATIONSHIPS, "stg_b", UNIQUE]
    );

    // Excluding a node excludes the tests that read it (every node selected otherwise).
    let rest = ls(d, &["--exclude", "stg_b", "--resource-type", "test"]);
    assert_eq!(rest, [SINGULAR, NOT_NULL, UNIQUE]);

    // `@`: the node, its descendants (the exposure and tests too: they are in the
    // graph) and all their ancestors; not stg_a's own test.
    assert_eq!(
        ls(d, &["-s", "@stg_b", "--indirect-selection", "empty"]),
        [
            SINGULAR,
            "dash",
            "mart_x",
            "mart_y",
            "raw",
            RELATIONSHIPS,
            "stg_a",
            "stg_b",
            UNIQUE
        ]
    );
    // Methods: config, path (folder, glob, file), file name, default file method,
    // test type and name, package `this`, tags on sources.
    assert_eq!(
        ls(
            d,
            &[
                "-s",
                "config.materialized:table",
                "--indirect-selection",
                "empty"
            ]
        ),
        ["mart_x"]
    );
    assert_eq!(
        ls(
            d,
            &["-s", "path:models/marts/*.sql", "--resource-type", "model"]
        ),
        ["from_source", "mart_x", "mart_y"]
    );
    assert_eq!(
        ls(d, &["-s", "models/staging", "--resource-type", "model"]),
        ["stg_a", "stg_b"]
    );
    assert_eq!(
        ls(d, &["-s", "stg_a.sql", "--indirect-selection", "empty"]),
        ["stg_a"]
    );
    assert_eq!(
        ls(d, &["-s", "file:mart_?", "--indirect-selection", "empty"]),
        ["mart_x", "mart_y"]
    );
    assert_eq!(ls(d, &["-s", "test_type:singular"]), [SINGULAR]);
    assert_eq!(
        ls(d, &["-s", "test_name:relationships", "test_name:uniq*"]),
        [RELATIONSHIPS, UNIQUE]
    );
    assert_eq!(
        ls(
            d,
            &["-s", "tag:external+1", "--indirect-selection", "empty"]
        ),
        ["from_source", "landing.events"]
    );
    assert_eq!(ls(d, &["-s", "package:this,resource_type:seed"]), ["raw"]);

    // A criterion matching nothing warns and the others still select.
    let (got, stderr) = names(d, &["-s", "nope", "stg_b", "--indirect-selection", "empty"]);
    assert_eq!(got, ["stg_b"]);
    assert!(
        stderr.contains("DVT007") && stderr.contains("'nope' does not match any enabled nodes"),
        "{stderr}"
    );
    // Bad criteria are coded errors.
    for bad in ["@stg_a+", "config:table", "test_type:fuzzy", "metric:a.b.c"] {
        let out = dvt(d, &["ls", "-s", bad], &[]);
        assert_eq!(out.code, 1, "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("DVT111"), "{bad}: {}", out.stderr);
    }
    let both = dvt(d, &["ls", "-s", "a", "--selector", "x"], &[]);
    assert_eq!(both.code, 2, "{}", both.stderr);

    // `dvt build` runs what the selection names, tests included.
    let run = dvt(
        d,
        &["build", "-s", "+mart_x", "--indirect-selection", "cautious"],
        &[],
    );
    run.assert_ok();
    let built = statuses(d);
    let nodes: Vec<&str> = built
        .keys()
        .filter(|id| !id.starts_with("test."))
        .map(String::as_str)
        .collect();
    assert_eq!(
        nodes,
        [
            "model.sel.mart_x",
            "model.sel.stg_a",
            "model.sel.stg_b",
            "seed.sel.raw"
        ]
    );
    let tests: Vec<&str> = built
        .keys()
        .filter_map(|id| id.strip_prefix("test.sel."))
        .map(|rest| rest.rsplit_once('.').map_or(rest, |(name, _)| name))
        .collect();
    assert_eq!(tests, [NOT_NULL, RELATIONSHIPS, UNIQUE]);
    assert!(
        built.values().all(|s| s == "success" || s == "pass"),
        "{built:?}"
    );
    let args = &target_json(d, "run_results.json")["args"];
    assert_eq!(args["indirect_selection"], "cautious");
}

#[test]
fn selectors_yml_names_selections_and_a_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(dir.path(), PROJECT);
    let d = dir.path();
    write_project(
        d,
        &[(
            "selectors.yml",
            "selectors:\n\
             \x20 - name: staging_only\n    definition: 'path:models/staging'\n\
             \x20 - name: nightly\n    description: the nightly job\n    definition:\n      union:\n        - method: tag\n          value: nightly\n          children: true\n          indirect_selection: empty\n        - method: selector\n          value: staging_only\n        - exclude:\n            - mart_y\n            - stg_b\n\
             \x20 - name: marts_tables\n    default: \"{{ target.name == 'lite' }}\"\n    definition:\n      intersection:\n        - 'path:models/marts'\n        - config.materialized: table\n",
        )],
    );
    // The tag's descendants (tests among them: `indirect_selection: empty` brings no
    // more), the other selector's nodes with their tests, minus the exclusions and the
    // tests reading them.
    assert_eq!(
        ls(d, &["--selector", "nightly"]),
        ["dash", "mart_x", NOT_NULL, "stg_a", UNIQUE]
    );
    // The default selector serves a command with no selection flags, and says so.
    let (got, stderr) = names(d, &[]);
    assert_eq!(got, ["mart_x", RELATIONSHIPS, UNIQUE]);
    assert!(
        stderr.contains("Using default selector marts_tables"),
        "{stderr}"
    );
    // `--select` overrides it.
    assert_eq!(
        ls(d, &["-s", "stg_b", "--indirect-selection", "empty"]),
        ["stg_b"]
    );

    // The default selector applies to `seed` too (it picks no seed): name the seed.
    dvt(d, &["seed", "-s", "raw"], &[]).assert_ok();
    // A YAML criterion without `indirect_selection:` follows the flag: cautious leaves
    // out the relationships test, which reads mart_x.
    dvt(
        d,
        &[
            "build",
            "--selector",
            "staging_only",
            "--indirect-selection",
            "cautious",
        ],
        &[],
    )
    .assert_ok();
    let built: Vec<String> = statuses(d).into_keys().collect();
    assert_eq!(built.len(), 3, "{built:?}");
    assert_eq!(built[..2], ["model.sel.stg_a", "model.sel.stg_b"]);
    assert!(
        built[2].starts_with("test.sel.not_null_stg_a_id."),
        "{built:?}"
    );
    assert_eq!(
        target_json(d, "run_results.json")["args"]["selector"],
        "staging_only"
    );
    let manifest = target_json(d, "manifest.json");
    let nightly = &manifest["selectors"]["nightly"];
    assert_eq!(nightly["description"], "the nightly job");
    assert_eq!(
        nightly["definition"]["union"][1],
        serde_json::json!({"method": "path", "value": "models/staging"})
    );
    assert_eq!(manifest["selectors"]["marts_tables"]["default"], true);

    // An unknown name lists the defined ones.
    let unknown = dvt(d, &["ls", "--selector", "weekly"], &[]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("DVT111")
            && unknown
                .stderr
                .contains("`staging_only`, `nightly`, `marts_tables`"),
        "{}",
        unknown.stderr
    );

    // Malformed files are coded errors at their line.
    for (text, line, words) in [
        (
            "selectors:\n  - name: a\n    definition: [x]\n",
            3,
            "not a list",
        ),
        (
            "selectors:\n  - name: a\n    definition: 'tag:x'\n    colour: red\n",
            4,
            "unknown key `colour`",
        ),
        (
            "selectors:\n  - name: a\n    definition: {method: selector, value: b}\n  - name: b\n    definition: x\n",
            3,
            "no selector `b` defined above",
        ),
        (
            "selectors:\n  - name: a\n    default: true\n    definition: x\n  - name: b\n    default: true\n    definition: y\n",
            6,
            "two selectors have `default: true`",
        ),
        (
            "selectors:\n  - name: a\n    definition:\n      union:\n        - 'nope:x'\n",
            5,
            "unknown method `nope`",
        ),
        (
            "selectors:\n  - name: a\n    definition:\n      union:\n        - x\n        - exclude: [y]\n        - exclude: [z]\n",
            7,
            "one `exclude` per `union`",
        ),
    ] {
        std::fs::write(d.join("selectors.yml"), text).expect("selectors.yml");
        let out = dvt(d, &["ls"], &[]);
        assert_eq!(out.code, 1, "{text}");
        assert!(out.stderr.contains("DVT137"), "{text}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("selectors.yml:{line}:")) && out.stderr.contains(words),
            "{text}: {}",
            out.stderr
        );
    }
}

#[test]
fn result_and_source_status_compare_with_an_earlier_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(dir.path(), PROJECT);
    let d = dir.path();
    // mart_y's singular test fails once a big id arrives.
    write_project(
        d,
        &[(
            "seeds/raw.csv",
            "id,loaded_at\n1,2026-01-01 00:00:00\n200,2026-01-02 00:00:00\n",
        )],
    );
    dvt(d, &["seed"], &[]).assert_ok();
    let run = dvt(d, &["build"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    dvt(d, &["source", "freshness"], &[]);
    let prod = d.join("prod");
    std::fs::create_dir_all(&prod).expect("prod");
    for f in ["manifest.json", "run_results.json", "sources.json"] {
        std::fs::copy(d.join("target").join(f), prod.join(f)).expect("keep the state");
    }
    let state = ["--state", "prod", "--indirect-selection", "empty"];
    let with_state = |select: &str| {
        let mut args = vec!["-s", select];
        args.extend(state);
        ls(d, &args)
    };
    assert_eq!(with_state("result:fail"), [SINGULAR]);
    assert_eq!(
        with_state("result:success,resource_type:model"),
        ["from_source", "mart_x", "mart_y", "stg_a", "stg_b"]
    );
    assert_eq!(with_state("result:fail+"), [SINGULAR]);

    // Nothing loaded since: no fresher source. Then a later row arrives.
    assert!(with_state("source_status:fresher+").is_empty());
    let db = d.join("data/sel.db");
    let insert = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys;c=sqlite3.connect(sys.argv[1]);c.execute(\"insert into raw values (3, '2026-02-01 00:00:00')\");c.commit()",
        ])
        .arg(&db)
        .status()
        .expect("python3 runs");
    assert!(insert.success());
    dvt(d, &["source", "freshness"], &[]);
    assert_eq!(
        with_state("source_status:fresher+"),
        ["from_source", "landing.events"]
    );

    // Without the artifacts these methods read, a coded error says what is missing.
    std::fs::remove_file(prod.join("run_results.json")).expect("rm");
    let out = dvt(d, &["ls", "-s", "result:fail", "--state", "prod"], &[]);
    assert!(
        out.code == 1 && out.stderr.contains("DVT111") && out.stderr.contains("run_results.json"),
        "{}",
        out.stderr
    );
    let out = dvt(d, &["ls", "-s", "result:fail"], &[]);
    assert!(
        out.code == 1 && out.stderr.contains("--state"),
        "{}",
        out.stderr
    );
}
