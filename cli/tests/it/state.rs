//! `state:` selectors and `--defer` against an earlier `manifest.json` (`--state`): new
//! nodes, changed SQL, changed configs, `state:modified+` building only what changed and
//! what depends on it, and a dev run reading production's parents.

use crate::common::*;

fn ls(dir: &std::path::Path, select: &str) -> Vec<String> {
    let out = dvt(
        dir,
        &[
            "ls", "--select", select, "--state", "prod", "--output", "name",
        ],
        &[],
    );
    out.assert_ok();
    let mut names: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    names.sort();
    names
}

/// `dvt ls -s <select> --state prod`, for what it prints on stderr and its exit code.
fn state_ls(dir: &std::path::Path, select: &str) -> Run {
    dvt(dir, &["ls", "-s", select, "--state", "prod"], &[])
}

/// Keeps the manifest just written as `prod/manifest.json`, the state later runs compare
/// with.
fn keep_state(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("prod")).expect("prod");
    std::fs::copy(
        dir.join("target/manifest.json"),
        dir.join("prod/manifest.json"),
    )
    .expect("keep the state");
}

#[test]
fn state_selectors_pick_what_changed_since_a_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: s\nprofile: s\n"),
            (
                "profiles.yml",
                "s:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/s.db}\n",
            ),
            ("seeds/raw.csv", "id\n1\n2\n"),
            ("models/a.sql", "select id from {{ ref('raw') }}"),
            ("models/b.sql", "select id from {{ ref('a') }}"),
            ("models/c.sql", "select id from {{ ref('a') }}"),
            ("models/after_b.sql", "select id from {{ ref('b') }}"),
        ],
    );
    dvt(dir.path(), &["build"], &[]).assert_ok();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let checksum = &manifest["nodes"]["model.s.a"]["checksum"];
    assert_eq!(checksum["name"], "sha256");
    assert_eq!(checksum["checksum"].as_str().map(str::len), Some(64));
    keep_state(dir.path());

    // Nothing changed yet.
    assert!(ls(dir.path(), "state:modified").is_empty());
    std::fs::write(
        dir.path().join("models/b.sql"),
        "select id, 1 as n from {{ ref('a') }}",
    )
    .expect("b");
    std::fs::write(
        dir.path().join("models/c.sql"),
        "{{ config(materialized='table') }}select id from {{ ref('a') }}",
    )
    .expect("c");
    std::fs::write(dir.path().join("models/d.sql"), "select 4 as id").expect("d");

    assert_eq!(ls(dir.path(), "state:new"), ["d"]);
    // A node the state lacks counts as modified in every sense, as in dbt-core.
    assert_eq!(ls(dir.path(), "state:modified.body"), ["b", "c", "d"]);
    assert_eq!(ls(dir.path(), "state:modified.configs"), ["c", "d"]);
    assert_eq!(ls(dir.path(), "state:modified"), ["b", "c", "d"]);
    assert_eq!(
        ls(dir.path(), "state:modified+"),
        ["after_b", "b", "c", "d"]
    );

    let run = dvt(
        dir.path(),
        &["build", "--select", "state:modified+", "--state", "prod"],
        &[],
    );
    run.assert_ok();
    let mut built: Vec<String> = statuses(dir.path()).into_keys().collect();
    built.sort();
    assert_eq!(
        built,
        ["model.s.after_b", "model.s.b", "model.s.c", "model.s.d"]
    );

    // dbt's other `ls` outputs.
    let json = dvt(
        dir.path(),
        &["ls", "--select", "d", "--output", "json"],
        &[],
    );
    json.assert_ok();
    let line: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("one JSON line");
    assert_eq!(line["unique_id"], "model.s.d");
    assert_eq!(line["original_file_path"], "models/d.sql");
    let paths = dvt(
        dir.path(),
        &["ls", "--select", "+b", "--output", "path"],
        &[],
    );
    // dbt's forms come in dbt's order, by unique id.
    assert_eq!(
        paths.stdout.lines().collect::<Vec<_>>(),
        ["models/a.sql", "models/b.sql", "seeds/raw.csv"]
    );

    let bare = dvt(dir.path(), &["ls", "--select", "state:new"], &[]);
    assert_ne!(bare.code, 0);
    assert!(
        bare.stderr.contains("error[DVT111]") && bare.stderr.contains("--state"),
        "{}",
        bare.stderr
    );
}

/// `--defer --state`: a dev run building one model reads the parents it does not build
/// from production's relations while they are missing in dev, its own once they exist,
/// and production's again with `--favor-state`.
#[tokio::test(flavor = "multi_thread")]
async fn defer_reads_unbuilt_parents_where_the_state_built_them() {
    let prod = unique("dvt_it_prod");
    let dev = unique("dvt_it_dev");
    let _cleanup = Cleanup {
        pg_schemas: vec![prod.clone(), dev.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: s\nprofile: s\nmodels:\n  s:\n    +materialized: table\n",
            ),
            (
                "profiles.yml",
                &format!(
                    "s:\n  target: dev\n  outputs:\n    prod: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {prod}}}\n    dev: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {dev}}}\n"
                ),
            ),
            ("seeds/raw.csv", "id\n1\n2\n3\n"),
            ("models/a.sql", "select id from {{ ref('raw') }}"),
            ("models/b.sql", "select id from {{ ref('a') }}"),
        ],
    );
    dvt(dir.path(), &["build", "--target", "prod"], &[]).assert_ok();
    std::fs::create_dir_all(dir.path().join("prod_state")).expect("state");
    std::fs::copy(
        dir.path().join("target/manifest.json"),
        dir.path().join("prod_state/manifest.json"),
    )
    .expect("keep prod's manifest");
    // Building on another target is not a change: nothing is `state:modified` in dev.
    let unchanged = dvt(
        dir.path(),
        &[
            "ls",
            "--select",
            "state:modified",
            "--state",
            "prod_state",
            "--output",
            "name",
        ],
        &[],
    );
    unchanged.assert_ok();
    assert_eq!(unchanged.stdout.trim(), "", "{}", unchanged.stdout);
    let count = |schema: &str, table: &str| {
        let sql = format!("select count(*) from \"{schema}\".{table}");
        let pg = &pg;
        async move { pg_rows(pg, &sql).await }
    };

    // Without --defer, b has no `a` in dev.
    let bare = dvt(dir.path(), &["run", "--select", "b"], &[]);
    assert_eq!(bare.code, 1, "{}", bare.stdout);
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--state", "prod_state", "--defer"];
        args.extend(extra);
        dvt(dir.path(), &args, &[])
    };
    run(&["--select", "b"]).assert_ok();
    assert_eq!(count(&dev, "b").await, vec![vec![normalise(Some("3"))]]);
    let compiled = std::fs::read_to_string(dir.path().join("target/compiled/s/models/b.sql"))
        .expect("compiled b");
    assert!(
        compiled.contains(&format!("\"{prod}\".\"a\"")),
        "{compiled}"
    );

    // Dev builds its own `a` (its `raw` deferred to production); b then reads it.
    std::fs::write(
        dir.path().join("models/a.sql"),
        "select id from {{ ref('raw') }} where id < 2",
    )
    .expect("a");
    run(&["--select", "a"]).assert_ok();
    run(&["--select", "b"]).assert_ok();
    assert_eq!(count(&dev, "b").await, vec![vec![normalise(Some("1"))]]);
    // --favor-state reads production's `a` although dev has one.
    run(&["--select", "b", "--favor-state"]).assert_ok();
    assert_eq!(count(&dev, "b").await, vec![vec![normalise(Some("3"))]]);

    let no_state = dvt(dir.path(), &["run", "--select", "b", "--defer"], &[]);
    assert_eq!(no_state.code, 2, "{}", no_state.stderr);
    assert!(no_state.stderr.contains("--state"), "{}", no_state.stderr);
}

/// dbt strips a file's text before hashing it: a model with blank lines around its SQL
/// gets dbt-core's checksum and `raw_code`, so a dbt-core manifest as `--state` does not
/// see every such file as modified.
#[test]
fn checksums_hash_the_stripped_file_as_dbt_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: s\nprofile: s\n"),
            (
                "profiles.yml",
                "s:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/s.db}\n",
            ),
            ("models/n.sql", "\n  select 1 as id  \n\n"),
        ],
    );
    dvt(dir.path(), &["parse"], &[]).assert_ok();
    let node = &target_json(dir.path(), "manifest.json")["nodes"]["model.s.n"];
    assert_eq!(node["raw_code"], "select 1 as id");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1]).read().strip().encode()).hexdigest())",
        ])
        .arg(dir.path().join("models/n.sql"))
        .output()
        .expect("python3 runs");
    let want = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(want.len(), 64);
    assert_eq!(node["checksum"]["checksum"], want.as_str());
}

/// `state:modified` follows a node's macro calls through other macros and through
/// `adapter.dispatch` to a changed macro, as dbt-core does; it also sees descriptions
/// that `persist_docs` writes, contracts, moved files, sources and exposures.
#[test]
fn state_modified_sees_macros_contracts_descriptions_and_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let macros = "{% macro inner() %}1{% endmacro %}\n\
        {% macro outer() %}{{ inner() }}{% endmacro %}\n\
        {% macro pick() %}{{ return(adapter.dispatch('pick')()) }}{% endmacro %}\n\
        {% macro default__pick() %}2{% endmacro %}\n\
        {% macro sqlite__pick() %}3{% endmacro %}\n";
    let props = |described: &str, ty: &str, table: &str| {
        format!(
            "version: 2\nmodels:\n  - name: docs_kept\n    description: {described}\n    config: {{persist_docs: {{relation: true}}}}\n  - name: docs_not_kept\n    description: {described}\n  - name: pinned\n    config: {{contract: {{enforced: true}}, materialized: table}}\n    columns:\n      - name: id\n        data_type: {ty}\nsources:\n  - name: src\n    tables: [{{name: t, identifier: {table}}}]\nexposures:\n  - name: dash\n    type: dashboard\n    owner: {{email: a@b.c}}\n    depends_on: [ref('plain')]\n"
        )
    };
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: s\nprofile: s\n"),
            (
                "profiles.yml",
                "s:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/s.db}\n",
            ),
            ("macros/m.sql", macros),
            ("models/calls_outer.sql", "select {{ outer() }} as id"),
            ("models/calls_pick.sql", "select {{ pick() }} as id"),
            ("models/plain.sql", "select 1 as id"),
            ("models/docs_kept.sql", "select 1 as id"),
            ("models/docs_not_kept.sql", "select 1 as id"),
            ("models/pinned.sql", "select 1 as id"),
            (
                "models/reads_src.sql",
                "select * from {{ source('src', 't') }}",
            ),
            ("models/schema.yml", &props("one", "integer", "raw")),
        ],
    );
    dvt(dir.path(), &["parse"], &[]).assert_ok();
    let manifest = target_json(dir.path(), "manifest.json");
    let outer = &manifest["macros"]["macro.s.outer"];
    assert_eq!(
        outer["macro_sql"],
        "{% macro outer() %}{{ inner() }}{% endmacro %}"
    );
    assert_eq!(
        outer["depends_on"]["macros"],
        serde_json::json!(["macro.s.inner"])
    );
    // The dispatch resolves for the default target's adapter.
    assert_eq!(
        manifest["macros"]["macro.s.pick"]["depends_on"]["macros"],
        serde_json::json!(["macro.s.sqlite__pick"])
    );
    keep_state(dir.path());
    assert!(ls(dir.path(), "state:modified").is_empty());
    assert_eq!(ls(dir.path(), "state:unmodified").len(), 9);

    // The macro two calls away changes; so does the one dispatch picks on SQLite, while
    // the default implementation's change alone would not reach anything.
    std::fs::write(
        dir.path().join("macros/m.sql"),
        macros
            .replace("inner() %}1", "inner() %}10")
            .replace("sqlite__pick() %}3", "sqlite__pick() %}30"),
    )
    .expect("macros");
    assert_eq!(
        ls(dir.path(), "state:modified.macros"),
        ["calls_outer", "calls_pick"]
    );
    assert_eq!(ls(dir.path(), "state:modified.body"), Vec::<String>::new());
    std::fs::write(
        dir.path().join("macros/m.sql"),
        macros.replace("default__pick() %}2", "default__pick() %}20"),
    )
    .expect("macros");
    assert_eq!(
        ls(dir.path(), "state:modified.macros"),
        Vec::<String>::new()
    );
    std::fs::write(dir.path().join("macros/m.sql"), macros).expect("macros");

    // Descriptions count where persist_docs writes them; a contract's column type; a
    // source moved to another table, with what reads it.
    std::fs::write(
        dir.path().join("models/schema.yml"),
        props("two", "bigint", "landing"),
    )
    .expect("props");
    assert_eq!(
        ls(dir.path(), "state:modified.persisted_descriptions"),
        ["docs_kept"]
    );
    assert_eq!(ls(dir.path(), "state:modified.contract"), ["pinned"]);
    // A retyped column of an enforced contract is a breaking change: a warning for an
    // unversioned model, as dbt-core's.
    let warned = state_ls(dir.path(), "state:modified");
    warned.assert_ok();
    assert!(
        warned.stderr.contains("warning[DVT009]")
            && warned.stderr.contains("model.s.pinned")
            && warned.stderr.contains("id (integer -> bigint)"),
        "{}",
        warned.stderr
    );
    assert_eq!(ls(dir.path(), "state:modified.relation"), ["src.t"]);
    assert_eq!(
        ls(dir.path(), "state:modified+"),
        ["docs_kept", "pinned", "reads_src", "src.t"]
    );
    std::fs::write(
        dir.path().join("models/schema.yml"),
        props("one", "integer", "raw").replace("ref('plain')", "ref('pinned')"),
    )
    .expect("props");
    assert_eq!(ls(dir.path(), "state:modified"), ["dash"]);

    // A moved file is a changed fqn.
    std::fs::write(
        dir.path().join("models/schema.yml"),
        props("one", "integer", "raw"),
    )
    .expect("props");
    std::fs::create_dir_all(dir.path().join("models/marts")).expect("marts");
    std::fs::rename(
        dir.path().join("models/plain.sql"),
        dir.path().join("models/marts/plain.sql"),
    )
    .expect("move");
    assert_eq!(ls(dir.path(), "state:modified"), ["plain"]);

    // Disabling the contracted model: a warning (it is unversioned), and the run goes on.
    std::fs::write(
        dir.path().join("models/schema.yml"),
        props("one", "integer", "raw").replace(
            "config: {contract: {enforced: true}, materialized: table}",
            "config: {contract: {enforced: true}, materialized: table, enabled: false}",
        ),
    )
    .expect("props");
    let disabled = state_ls(dir.path(), "state:modified");
    disabled.assert_ok();
    assert!(
        disabled.stderr.contains("warning[DVT009]")
            && disabled.stderr.contains("model.s.pinned")
            && disabled.stderr.contains("deleted, renamed or disabled"),
        "{}",
        disabled.stderr
    );
}

/// A versioned model's contract is a promise to its readers: breaking it (here, a
/// removed column) since the state is an error, as dbt-core's ContractBreakingChange.
#[test]
fn breaking_a_versioned_contract_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let props = |columns: &str| {
        format!(
            "version: 2\nmodels:\n  - name: orders\n    latest_version: 1\n    config: {{contract: {{enforced: true}}, materialized: table}}\n    columns:\n{columns}    versions:\n      - v: 1\n"
        )
    };
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: s\nprofile: s\n"),
            (
                "profiles.yml",
                "s:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/s.db}\n",
            ),
            ("models/orders_v1.sql", "select 1 as id, 2 as amount"),
            (
                "models/orders.yml",
                &props(
                    "      - {name: id, data_type: integer}\n      - {name: amount, data_type: integer}\n",
                ),
            ),
        ],
    );
    dvt(dir.path(), &["parse"], &[]).assert_ok();
    keep_state(dir.path());
    std::fs::write(
        dir.path().join("models/orders.yml"),
        props("      - {name: id, data_type: integer}\n"),
    )
    .expect("props");
    let out = state_ls(dir.path(), "state:modified");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error[DVT138]") && out.stderr.contains("columns removed: amount"),
        "{}",
        out.stderr
    );
    // Other selections do not compare contracts.
    state_ls(dir.path(), "state:modified.body").assert_ok();

    // Deleting the versioned contracted model breaks its readers as much.
    std::fs::remove_file(dir.path().join("models/orders.yml")).expect("props");
    std::fs::remove_file(dir.path().join("models/orders_v1.sql")).expect("model");
    let out = state_ls(dir.path(), "state:modified");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error[DVT138]")
            && out.stderr.contains("model.s.orders.v1")
            && out.stderr.contains("deleted, renamed or disabled"),
        "{}",
        out.stderr
    );
}

/// dbt-core's other breaking changes of an enforced contract: a constraint the database
/// enforced removed (from a column or from the model), and a table becoming a view while
/// it had constraints. Adding a model constraint changes the contract without breaking it.
#[test]
fn removing_an_enforced_constraint_breaks_a_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let props = |model: &str, id: &str| {
        format!(
            "version: 2\nmodels:\n  - name: orders\n    config: {{contract: {{enforced: true}}}}\n    constraints:\n{model}    columns:\n      - {{name: id, data_type: integer{id}}}\n      - {{name: amount, data_type: integer}}\n"
        )
    };
    let key = "      - {type: primary_key, columns: [id], name: orders_key}\n";
    let check = "      - {type: check, expression: \"amount > 0\"}\n";
    let not_null = ", constraints: [{type: not_null}]";
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: s\nprofile: s\n"),
            (
                "profiles.yml",
                "s:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/s.db}\n",
            ),
            (
                "models/orders.sql",
                "{{ config(materialized='table') }}\nselect 1 as id, 2 as amount",
            ),
            ("models/orders.yml", &props(key, not_null)),
        ],
    );
    dvt(dir.path(), &["parse"], &[]).assert_ok();
    keep_state(dir.path());
    let only_orders = |out: &Run| {
        out.assert_ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("s.orders "),
            "{}",
            out.stdout
        );
    };
    let warned = |out: &Run, what: &str| {
        only_orders(out);
        assert!(
            out.stderr.contains("DVT009") && out.stderr.contains(what),
            "{what}: {}",
            out.stderr
        );
    };

    let edit =
        |text: String| std::fs::write(dir.path().join("models/orders.yml"), text).expect("props");
    edit(props(&format!("{key}{check}"), not_null));
    let out = state_ls(dir.path(), "state:modified.contract");
    only_orders(&out);
    assert!(!out.stderr.contains("DVT009"), "{}", out.stderr);

    edit(props(check, not_null));
    warned(
        &state_ls(dir.path(), "state:modified.contract"),
        "enforced model constraints removed: 'orders_key' constraint on columns [\"id\"]",
    );
    edit(props(key, ""));
    warned(
        &state_ls(dir.path(), "state:modified"),
        "enforced column constraints removed: 'not_null' constraint on column id",
    );
    edit(props(key, not_null));
    std::fs::write(
        dir.path().join("models/orders.sql"),
        "{{ config(materialized='view') }}\nselect 1 as id, 2 as amount",
    )
    .expect("model");
    warned(
        &state_ls(dir.path(), "state:modified"),
        "materialization changed with enforced constraints: table -> view",
    );
}

/// `dvt clone --state`: views of the state's relations where the development schema
/// lacks them (dbt's `clone`); what exists stays, `--full-refresh` replaces it too.
#[tokio::test(flavor = "multi_thread")]
async fn clone_makes_views_of_the_states_relations() {
    let prod = unique("dvt_it_prod");
    let dev = unique("dvt_it_dev");
    let _cleanup = Cleanup::everywhere(&[&prod, &dev]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = |schema: &str| {
        format!(
            "s:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}}}\n"
        )
    };
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: s\nprofile: s\n"),
            ("profiles.yml", &profiles(&prod)),
            ("seeds/raw.csv", "id\n1\n2\n"),
            ("models/v.sql", "select id from {{ ref('raw') }}"),
            (
                "models/t.sql",
                "{{ config(materialized='table') }}select id * 10 as id from {{ ref('e') }}",
            ),
            (
                "models/e.sql",
                "{{ config(materialized='ephemeral') }}select id from {{ ref('raw') }}",
            ),
        ],
    );
    dvt(dir.path(), &["build"], &[]).assert_ok();
    keep_state(dir.path());
    write_project(dir.path(), &[("profiles.yml", &profiles(&dev))]);

    let bare = dvt(dir.path(), &["clone"], &[]);
    assert_eq!(bare.code, 2, "{}", bare.stderr);
    assert!(bare.stderr.contains("--state"), "{}", bare.stderr);

    let pg = pg().await;
    let kinds = format!(
        "select table_name::text, table_type::text from information_schema.tables where table_schema = '{dev}'"
    );
    let messages = |dir: &std::path::Path| {
        target_json(dir, "run_results.json")["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["unique_id"].as_str().unwrap_or_default().to_owned(),
                    r["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    dvt(dir.path(), &["clone", "--state", "prod"], &[]).assert_ok();
    let view = |name: &str| vec![name.to_owned(), "VIEW".to_owned()];
    assert_eq!(
        pg_rows(&pg, &kinds).await,
        vec![view("raw"), view("t"), view("v")]
    );
    assert_eq!(
        pg_rows(&pg, &format!("select id from \"{dev}\".t")).await,
        vec![vec![normalise(Some("10"))], vec![normalise(Some("20"))]]
    );
    let definition = pg_rows(
        &pg,
        &format!("select view_definition::text from information_schema.views where table_schema = '{dev}' and table_name = 't'"),
    )
    .await;
    assert!(definition[0][0].contains(&prod), "{definition:?}");
    let first = messages(dir.path());
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        vec!["model.s.t", "model.s.v", "seed.s.raw"]
    );
    assert!(first.values().all(|m| m == "OK"), "{first:?}");

    // What exists here stays: a table built in development is not replaced.
    dvt(dir.path(), &["run", "-s", "t"], &[]).assert_ok();
    let again = dvt(dir.path(), &["clone", "--state", "prod"], &[]);
    again.assert_ok();
    assert!(again.stdout.contains("already exists"), "{}", again.stdout);
    assert!(messages(dir.path()).values().all(|m| m == "No-op"));
    let table = |name: &str| vec![name.to_owned(), "BASE TABLE".to_owned()];
    assert_eq!(
        pg_rows(&pg, &kinds).await,
        vec![view("raw"), table("t"), view("v")]
    );
    dvt(
        dir.path(),
        &["clone", "--state", "prod", "--full-refresh", "-s", "t"],
        &[],
    )
    .assert_ok();
    assert_eq!(
        pg_rows(&pg, &kinds).await,
        vec![view("raw"), view("t"), view("v")]
    );
}
