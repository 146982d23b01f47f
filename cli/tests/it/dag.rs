//! dbt's DAG semantics: repeated builds, ordering and skipping through nodes that are not
//! built in this invocation (ephemeral models, unselected nodes), artifacts always written.

use crate::common::*;

const PROFILES: &str = "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n    other: {type: sqlite, path: data/other.db}\n";

#[test]
fn the_demo_builds_again_and_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo_root().join("examples/demo"), dir.path());
    for round in 1..=3 {
        let run = dvt(dir.path(), &["build", "--threads", "4"], &[]);
        run.assert_ok();
        assert!(
            run.stdout
                .contains("PASS=10 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=10"),
            "round {round}:\n{}",
            run.stdout
        );
    }
    // The view over the federated table still reads it after three swaps.
    let n = sqlite_count(
        &dir.path().join("data/warehouse.db"),
        "select count(*) from revenue_by_country",
    );
    assert!(n > 0, "revenue_by_country has {n} rows");
}

#[test]
fn views_over_rebuilt_tables_survive_a_run_that_only_rebuilds_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("seeds/s.csv", "id\n1\n2\n"),
            (
                "models/t.sql",
                "{{ config(materialized='table') }}select id from {{ ref('s') }}",
            ),
            ("models/v.sql", "select id * 10 as x from {{ ref('t') }}"),
        ],
    );
    dvt(dir.path(), &["build"], &[]).assert_ok();
    for _ in 0..2 {
        dvt(dir.path(), &["run", "--select", "t"], &[]).assert_ok();
    }
    assert_eq!(
        sqlite_count(&dir.path().join("data/main.db"), "select sum(x) from v"),
        30
    );
}

#[test]
fn skips_and_waits_through_ephemeral_and_unselected_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("seeds/s.csv", "id\n1\n2\n"),
            // `bad` fails; `child` reads it only through an ephemeral model.
            (
                "models/bad.sql",
                "{{ config(materialized='table') }}select id from no_such_table",
            ),
            (
                "models/eph.sql",
                "{{ config(materialized='ephemeral') }}select id from {{ ref('bad') }}",
            ),
            (
                "models/child.sql",
                "{{ config(materialized='table') }}select id from {{ ref('eph') }}",
            ),
            // `far` reads `bad` through `mid`, which the selection leaves out.
            ("models/mid.sql", "select id from {{ ref('bad') }}"),
            (
                "models/far.sql",
                "{{ config(materialized='table') }}select id from {{ ref('mid') }}",
            ),
            // Independent of `bad`: still built.
            (
                "models/ok.sql",
                "{{ config(materialized='table') }}select id from {{ ref('s') }}",
            ),
        ],
    );
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(
        dir.path(),
        &[
            "run",
            "--threads",
            "4",
            "--select",
            "bad",
            "child",
            "far",
            "ok",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let st = statuses(dir.path());
    assert_eq!(st["model.p.bad"], "error", "{st:?}");
    assert_eq!(st["model.p.child"], "skipped", "{st:?}");
    assert_eq!(st["model.p.far"], "skipped", "{st:?}");
    assert_eq!(st["model.p.ok"], "success", "{st:?}");
    assert!(!st.contains_key("model.p.mid"), "{st:?}");
    let text =
        std::fs::read_to_string(dir.path().join("target/run_results.json")).expect("run results");
    assert!(
        text.contains("upstream `model.p.bad` did not succeed"),
        "{text}"
    );

    // Once `bad` is fixed, `child` waits for it (four threads would otherwise start
    // `child` first and fail on the missing table).
    write_project(
        dir.path(),
        &[(
            "models/bad.sql",
            "{{ config(materialized='table') }}select id from {{ ref('s') }}",
        )],
    );
    let run = dvt(
        dir.path(),
        &[
            "run",
            "--threads",
            "4",
            "--select",
            "bad",
            "child",
            "mid",
            "far",
        ],
        &[],
    );
    run.assert_ok();
    assert!(run.stdout.contains("PASS=4"), "{}", run.stdout);
}

/// A seed loaded again keeps the views that read it (dbt truncates and inserts); a seed
/// whose columns changed replaces its table. PostgreSQL, MariaDB and SQLite.
#[tokio::test(flavor = "multi_thread")]
async fn reseeding_keeps_views_over_the_seed_on_every_database() {
    let pg_schema = unique("dvt_it_reseed");
    let maria_db = unique("dvt_it_reseed");
    let _cleanup = Cleanup {
        pg_schemas: vec![pg_schema.clone()],
        maria_dbs: vec![maria_db.clone()],
    };
    let pg = pg().await;
    let mut maria = maria().await;
    for (target, schema) in [
        ("pg", &pg_schema),
        ("maria", &maria_db),
        ("lite", &"main".to_owned()),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let profiles = format!(
            "p:\n  target: {target}\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {pg_schema}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {maria_db}}}\n    lite: {{type: sqlite, path: data/lite.db}}\n"
        );
        let sources = format!(
            "version: 2\nsources:\n  - name: raw\n    schema: {schema}\n    tables: [{{name: s}}]\n"
        );
        write_project(
            dir.path(),
            &[
                ("dbt_project.yml", "name: p\nprofile: p\n"),
                ("profiles.yml", profiles.as_str()),
                ("seeds/s.csv", "id,name\n1,a\n2,b\n"),
                ("models/src.yml", sources.as_str()),
                // Reads the seed through a source: no DAG edge, so a later `dvt seed`
                // alone reloads the table under the view.
                (
                    "models/v.sql",
                    "select id, name from {{ source('raw', 's') }}",
                ),
            ],
        );
        // Seeded first, as a dbt user must: nothing orders the view after the seed
        // (dbt's queue would start the view first, and fail, in one `build`).
        dvt(dir.path(), &["seed"], &[]).assert_ok();
        dvt(dir.path(), &["run"], &[]).assert_ok();
        std::fs::write(dir.path().join("seeds/s.csv"), "id,name\n1,a\n2,b\n3,c\n").expect("csv");
        dvt(dir.path(), &["seed"], &[]).assert_ok();
        let count = match target {
            "pg" => pg_rows(&pg, &format!("select count(*) from \"{pg_schema}\".v")).await,
            "maria" => {
                maria_rows(&mut maria, &format!("select count(*) from `{maria_db}`.v")).await
            }
            _ => vec![vec![normalise(Some(
                &sqlite_count(&dir.path().join("data/lite.db"), "select count(*) from v")
                    .to_string(),
            ))]],
        };
        assert_eq!(
            count,
            vec![vec![normalise(Some("3"))]],
            "{target}: the view reads the reloaded seed"
        );

        // New columns: the table is replaced and has them.
        std::fs::write(dir.path().join("seeds/s.csv"), "id,name,extra\n1,a,x\n").expect("csv");
        dvt(dir.path(), &["seed"], &[]).assert_ok();
        let extra = match target {
            "pg" => pg_rows(&pg, &format!("select extra from \"{pg_schema}\".s")).await,
            "maria" => maria_rows(&mut maria, &format!("select extra from `{maria_db}`.s")).await,
            _ => vec![vec![sqlite_scalar(
                &dir.path().join("data/lite.db"),
                "select extra from s",
            )]],
        };
        assert_eq!(
            extra,
            vec![vec!["x".to_owned()]],
            "{target}: the seed's new column"
        );
    }
}

/// dbt 1.10's `build` lists the selected exposures: a no-op once their parents are
/// built, skipped when one failed; `run_results.json` and the summary line count them.
#[test]
fn build_records_exposures_as_no_ops() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: ex\nprofile: ex\n"),
            (
                "profiles.yml",
                "ex:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/ex.db}\n",
            ),
            ("models/m.sql", "select 1 as id"),
            ("models/bad.sql", "select * from no_such_table"),
            (
                "models/mb.sql",
                "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='ts', begin='2020-01-01', batch_size='day') }}\nselect 1 as id, '2020-01-01 10:00:00' as ts",
            ),
            (
                "models/exposures.yml",
                "exposures:\n  - name: board\n    type: dashboard\n    owner: {name: Ann}\n    depends_on: [ref('m')]\n  - name: broken\n    type: dashboard\n    owner: {name: Ann}\n    depends_on: [ref('bad'), ref('m')]\n",
            ),
        ],
    );
    let build = dvt(
        dir.path(),
        &[
            "build",
            "--event-time-start",
            "2020-01-01",
            "--event-time-end",
            "2020-01-02",
        ],
        &[],
    );
    assert_eq!(build.code, 1, "{}", build.stderr);
    assert!(
        build.stdout.contains("NO-OP exposure board")
            && build
                .stdout
                .contains("PASS=2 WARN=0 ERROR=1 SKIP=1 NO-OP=1 TOTAL=5"),
        "{}",
        build.stdout
    );
    let st = statuses(dir.path());
    assert_eq!(
        st.get("exposure.ex.board").map(String::as_str),
        Some("no-op")
    );
    assert_eq!(
        st.get("exposure.ex.broken").map(String::as_str),
        Some("skipped")
    );
    // A microbatch model records its failed batches, none, as dbt does.
    let results = target_json(dir.path(), "run_results.json");
    let failures = |id: &str| {
        results["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["unique_id"] == id)
            .map(|r| r["failures"].clone())
    };
    assert_eq!(failures("model.ex.mb"), Some(serde_json::json!(0)));
    assert_eq!(failures("model.ex.m"), Some(serde_json::Value::Null));
    assert_eq!(failures("exposure.ex.board"), Some(serde_json::json!(0)));
    // A selection without them leaves them out; `run` never lists them.
    // `graph.exposures` gives dbt's `path`, below the models folder.
    write_project(
        dir.path(),
        &[(
            "macros/paths.sql",
            "{% macro paths() %}{% for e in graph.exposures.values() | sort(attribute='name') %}{{ log('exposure ' ~ e.name ~ ' path ' ~ e.path, info=True) }}{% endfor %}{% endmacro %}",
        )],
    );
    let paths = dvt(dir.path(), &["run-operation", "paths"], &[]);
    paths.assert_ok();
    assert!(
        paths.stdout.contains("exposure board path exposures.yml"),
        "{}",
        paths.stdout
    );
    let only_m = dvt(dir.path(), &["build", "--select", "m"], &[]);
    only_m.assert_ok();
    assert!(
        !statuses(dir.path())
            .keys()
            .any(|k| k.starts_with("exposure."))
    );
    dvt(dir.path(), &["run", "--select", "m"], &[]).assert_ok();
    assert!(
        !statuses(dir.path())
            .keys()
            .any(|k| k.starts_with("exposure."))
    );
}

/// A Python model is not silently missing: the load warns (DVT006) naming the file, the
/// SQL models build, and a model that refs it fails with its own coded error.
#[test]
fn python_models_are_reported_not_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: py\nprofile: py\n"),
            (
                "profiles.yml",
                "py:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/py.db}\n",
            ),
            ("models/m.sql", "select 1 as id"),
            (
                "models/scores.py",
                "def model(dbt, session):\n    return dbt.ref('m')\n",
            ),
        ],
    );
    let run = dvt(dir.path(), &["run"], &[]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("warning[DVT006]: models/scores.py: Python models are not supported"),
        "{}",
        run.stderr
    );
    assert_eq!(
        statuses(dir.path()).get("model.py.m").map(String::as_str),
        Some("success")
    );
    write_project(
        dir.path(),
        &[("models/uses.sql", "select * from {{ ref('scores') }}")],
    );
    let refs = dvt(dir.path(), &["run"], &[]);
    assert_ne!(refs.code, 0);
    assert!(refs.stderr.contains("error[DVT106]"), "{}", refs.stderr);
}
