//! Routing and selection as `dvt ls` / `dvt compile` show them (SQLite, no server).

use crate::common::*;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: r\nprofile: r\nmodels:\n  r:\n    marts:\n      +tags: [mart]\n",
            ),
            (
                "profiles.yml",
                "r:\n  target: wh\n  outputs:\n    wh: {type: sqlite, path: data/wh.db}\n    crm: {type: sqlite, path: data/crm.db}\n",
            ),
            (
                "models/sources.yml",
                "version: 2\nsources:\n  - name: crm\n    connection: crm\n    tables: [{name: people}]\n  - name: loose\n    tables: [{name: things}]\n",
            ),
            (
                "models/staging/stg_people.sql",
                "{{ config(target='crm') }}select * from {{ source('crm', 'people') }}",
            ),
            (
                "models/staging/stg_things.sql",
                "select * from {{ source('loose', 'things') }}",
            ),
            (
                "models/marts/joined.sql",
                "select p.id, p.name, t.thing from {{ ref('stg_people') }} p join {{ ref('stg_things') }} t on t.id = p.id",
            ),
            (
                "models/marts/after.sql",
                "select * from {{ ref('joined') }}",
            ),
            // Seeds that create the source tables, for the build test.
            ("seeds/people.csv", "id,name\n1,ann\n2,bo\n3,cy\n"),
            ("seeds/things.csv", "id,thing\n1,hat\n3,cup\n4,pen\n"),
            (
                "seeds/props.yml",
                "version: 2\nseeds:\n  - name: people\n    config: {target: crm}\n",
            ),
        ],
    );
    dir
}

#[test]
fn ls_shows_target_and_path_and_federated_views_warn() {
    let dir = project();
    let run = dvt(dir.path(), &["ls"], &[]);
    run.assert_ok();
    let line = |n: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(n))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("r.staging.stg_people").contains("target=crm")
            && line("stg_people").contains("pushdown (non-default target)"),
        "{}",
        run.stdout
    );
    assert!(
        line("r.staging.stg_things").contains("target=wh")
            && line("stg_things").ends_with("path=pushdown")
    );
    assert!(line("r.marts.joined").contains("table") && line("joined").contains("path=federated"));
    assert!(line("r.marts.after").contains("view") && line("after").ends_with("path=pushdown"));
    // `joined` is a view by default, but federated: built as a table with DVT001.
    assert!(
        run.stderr.contains("warning[DVT001]") && run.stderr.contains("`joined`"),
        "{}",
        run.stderr
    );
    // `loose` has no connection in a two-target project.
    assert!(
        run.stderr.contains("warning[DVT002]") && run.stderr.contains("`loose`"),
        "{}",
        run.stderr
    );

    // --target forces every node onto one target: nothing is federated any more.
    let forced = dvt(dir.path(), &["ls", "--target", "crm"], &[]);
    forced.assert_ok();
    assert!(
        !forced.stdout.contains("path=federated"),
        "{}",
        forced.stdout
    );
}

#[test]
fn selection_operators() {
    let dir = project();
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls"];
        a.extend_from_slice(args);
        let run = dvt(dir.path(), &a, &[]);
        run.assert_ok();
        run.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|s| s.rsplit('.').next().unwrap_or(s).to_owned())
            .collect()
    };
    // `dvt ls` lists the selected sources after the nodes, as `dbt ls` does.
    assert_eq!(
        names(&["--select", "+joined"]),
        ["stg_people", "stg_things", "joined", "people", "things"]
    );
    assert_eq!(
        names(&["--select", "stg_people+"]),
        ["stg_people", "joined", "after"]
    );
    assert_eq!(
        names(&["--select", "stg_people+1"]),
        ["stg_people", "joined"]
    );
    assert_eq!(names(&["--select", "tag:mart"]), ["joined", "after"]);
    assert_eq!(
        names(&["--select", "path:models/staging"]),
        ["stg_people", "stg_things"]
    );
    assert_eq!(
        names(&["--select", "tag:mart,+after", "--exclude", "after"]),
        ["joined"]
    );
    assert_eq!(
        names(&["--select", "stg_people", "stg_things"]),
        ["stg_people", "stg_things"]
    );
}

#[test]
fn compile_renders_relations_for_each_path() {
    let dir = project();
    let run = dvt(dir.path(), &["compile", "--select", "joined"], &[]);
    run.assert_ok();
    assert!(
        run.stdout.contains("target=wh") && run.stdout.contains("path=federated"),
        "{}",
        run.stdout
    );
    // Federated SQL names inputs as target.schema.table for the engine.
    assert!(
        run.stdout.contains("\"crm\".\"main\".\"stg_people\""),
        "{}",
        run.stdout
    );
    let pushed = std::fs::read_to_string(
        dir.path()
            .join("target/compiled/r/models/staging/stg_people.sql"),
    )
    .unwrap_or_default();
    assert!(
        pushed.is_empty(),
        "compile --select joined wrote only joined"
    );
    let run = dvt(dir.path(), &["compile"], &[]);
    run.assert_ok();
    let pushed = std::fs::read_to_string(
        dir.path()
            .join("target/compiled/r/models/staging/stg_people.sql"),
    )
    .expect("compiled");
    assert_eq!(pushed.trim(), "select * from \"main\".\"people\"");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(
        manifest["nodes"]["model.r.joined"]["dvt"]["path"],
        "federated"
    );
    // Built as a table (DVT001), configured as a view: `config` says what the project
    // configured, as dbt's manifest does; `dvt` what DVT builds.
    assert_eq!(
        manifest["nodes"]["model.r.joined"]["dvt"]["materialized"],
        "table"
    );
    assert_eq!(
        manifest["nodes"]["model.r.joined"]["config"]["materialized"],
        "view"
    );
    assert_eq!(
        manifest["sources"]["source.r.crm.people"]["dvt"]["connection"],
        "crm"
    );
    assert_eq!(
        manifest["child_map"]["model.r.stg_people"][0],
        "model.r.joined"
    );
}

#[test]
fn sources_on_two_targets_federate_in_parallel() {
    let dir = project();
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(dir.path(), &["run", "--threads", "2"], &[]);
    run.assert_ok();
    assert!(
        run.stdout.contains("PASS=4") && run.stdout.contains("TOTAL=4"),
        "{}",
        run.stdout
    );
    let text =
        std::fs::read_to_string(dir.path().join("target/run_results.json")).expect("run_results");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let threads: std::collections::BTreeSet<&str> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["thread_id"].as_str())
        .collect();
    // stg_people and stg_things are independent and start together on two threads.
    assert_eq!(threads.len(), 2, "{threads:?}");
    let joined = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["unique_id"] == "model.r.joined")
        .expect("joined ran");
    assert_eq!(joined["dvt"]["path"], "federated");
    assert_eq!(joined["adapter_response"]["rows_affected"], 2);
    let show = dvt(
        dir.path(),
        &["show", "--select", "after", "--limit", "10"],
        &[],
    );
    show.assert_ok();
    assert!(
        show.stdout.contains("ann") && show.stdout.contains("cup") && !show.stdout.contains("bo "),
        "{}",
        show.stdout
    );
}

#[test]
fn parallel_nodes_on_one_sqlite_file_wait_for_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = String::from("id,v\n");
    for i in 0..5000 {
        rows.push_str(&format!("{i},value {i}\n"));
    }
    let mut files: Vec<(String, String)> = vec![
        ("dbt_project.yml".into(), "name: l\nprofile: l\n".into()),
        ("profiles.yml".into(), "l:\n  target: a\n  outputs:\n    a: {type: sqlite, path: a.db}\n    b: {type: sqlite, path: b.db}\n".into()),
    ];
    for i in 0..6 {
        files.push((format!("seeds/s{i}.csv"), rows.clone()));
        files.push((format!("models/m{i}.sql"), format!("{{{{ config(materialized='table') }}}}select count(*) as n from {{{{ ref('s{i}') }}}}")));
        // Federated into the same file the other nodes write to.
        files.push((
            format!("models/f{i}.sql"),
            format!("{{{{ config(target='b') }}}}select * from {{{{ ref('m{i}') }}}}"),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_project(dir.path(), &refs);
    let run = dvt(dir.path(), &["build", "--threads", "6"], &[]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("PASS=18 WARN=6 ERROR=0 SKIP=0 NO-OP=0 TOTAL=18"),
        "{}",
        run.stdout
    );
}

#[test]
fn ephemeral_models_are_inlined_not_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: e\nprofile: e\nseeds:\n  e:\n    people:\n      +target: crm\n",
            ),
            (
                "profiles.yml",
                "e:\n  target: wh\n  outputs:\n    wh: {type: sqlite, path: data/wh.db}\n    crm: {type: sqlite, path: data/crm.db}\n",
            ),
            ("seeds/people.csv", "id,name\n1,ann\n2,bo\n3,cy\n"),
            ("seeds/things.csv", "id,thing\n1,hat\n3,cup\n4,pen\n"),
            (
                "models/named.sql",
                "{{ config(materialized='ephemeral') }}select id, upper(name) as name from {{ ref('people') }}",
            ),
            (
                "models/owned.sql",
                "{{ config(materialized='table') }}select n.name, t.thing from {{ ref('named') }} n join {{ ref('things') }} t on t.id = n.id",
            ),
        ],
    );
    let ls = dvt(dir.path(), &["ls"], &[]);
    ls.assert_ok();
    assert!(
        ls.stdout
            .lines()
            .any(|l| l.contains("e.named") && l.contains("ephemeral")),
        "{}",
        ls.stdout
    );
    assert!(
        ls.stdout
            .lines()
            .any(|l| l.contains("e.owned") && l.contains("path=federated")),
        "{}",
        ls.stdout
    );
    let run = dvt(dir.path(), &["build"], &[]);
    run.assert_ok();
    assert!(
        run.stdout.contains("PASS=3") && run.stdout.contains("TOTAL=3"),
        "{}",
        run.stdout
    );
    let st = statuses(dir.path());
    assert!(!st.contains_key("model.e.named"), "{st:?}");
    let show = dvt(dir.path(), &["show", "--select", "owned"], &[]);
    show.assert_ok();
    assert!(
        show.stdout.contains("ANN") && show.stdout.contains("CY") && !show.stdout.contains("BO"),
        "{}",
        show.stdout
    );
    let compiled = std::fs::read_to_string(dir.path().join("target/compiled/e/models/owned.sql"))
        .expect("compiled");
    assert!(
        compiled.starts_with("with __dbt__cte__named as ("),
        "{compiled}"
    );
}

/// `adapter.get_relation` and `get_columns_in_relation` on a federated model's input ask
/// the target that holds it (`crm`), not the model's own (`wh`, where `people` is not).
#[test]
fn a_federated_model_introspects_its_inputs_where_they_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: r\nprofile: r\nseeds:\n  +target: crm\n",
            ),
            (
                "profiles.yml",
                "r:\n  target: wh\n  outputs:\n    wh: {type: sqlite, path: data/wh.db}\n    crm: {type: sqlite, path: data/crm.db}\n",
            ),
            ("seeds/people.csv", "id,full_name\n1,ann\n2,bo\n"),
            (
                "models/intro.sql",
                "{%- set cols = adapter.get_columns_in_relation(ref('people')) -%}\n\
                 {%- set rel = adapter.get_relation(database=none, schema=ref('people').schema, identifier=ref('people').identifier) -%}\n\
                 select '{{ cols | map(attribute='name') | join(',') }}' as cols, '{{ rel.type if rel else 'missing' }}' as kind, count(*) as n from {{ ref('people') }}",
            ),
        ],
    );
    dvt(dir.path(), &["build"], &[]).assert_ok();
    let rows = sqlite_rows(
        &dir.path().join("data/wh.db"),
        "select cols, kind, n from intro",
    );
    assert_eq!(
        rows,
        vec![vec![
            "id,full_name".to_owned(),
            "table".to_owned(),
            normalise(Some("2"))
        ]]
    );
}

/// `run_query` in a federated model runs where the inputs it names live; naming inputs
/// of two targets in one query is a coded error, not a database's complaint.
#[test]
fn a_federated_run_query_over_two_targets_is_refused_with_a_code() {
    let dir = project();
    std::fs::write(
        dir.path().join("models/marts/both.sql"),
        "{% if execute %}{% set r = run_query('select count(*) from ' ~ ref('stg_people') ~ ' p join ' ~ ref('stg_things') ~ ' t on t.id = p.id') %}{% endif %}\nselect p.id from {{ ref('stg_people') }} p join {{ ref('stg_things') }} t on t.id = p.id",
    )
    .expect("model");
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(dir.path(), &["build", "--select", "+both"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT109]")
            && run
                .stderr
                .contains("reads inputs on several targets (crm, wh)"),
        "{}",
        run.stderr
    );
}
