//! `dvt run-operation`: a macro called with `--args`, its queries run on the target
//! (PostgreSQL, or SQLite with `--target`); hooks that query the database; the
//! coded errors of an unknown macro and bad arguments.

use crate::common::*;

const MACROS: &str = "{% macro fill_audit(rows=2, label='x') %}\n\
  {% do run_query('create table if not exists ' ~ audit_table() ~ ' (n integer, label varchar(20))') %}\n\
  {% for i in range(rows) %}{% do run_query('insert into ' ~ audit_table() ~ \" values (\" ~ i ~ \", '\" ~ label ~ \"')\") %}{% endfor %}\n\
  {% call statement('c', fetch_result=True) %}select count(*) from {{ audit_table() }}{% endcall %}\n\
  {{ log('audit has ' ~ load_result('c').table.columns[0].values()[0] ~ ' rows on ' ~ target.name, info=True) }}\n\
{% endmacro %}\n\
{% macro audit_table() %}{{ return(target.schema ~ '.audit' if target.type == 'postgres' else 'audit') }}{% endmacro %}\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_macro_runs_its_queries_on_the_target_with_its_arguments() {
    let schema = unique("dvt_it_runop");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    pg.batch_execute(&format!("create schema \"{schema}\""))
        .await
        .expect("schema");
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = "{% set r = run_query('select count(*) from ' ~ audit_table()) %}{{ log('audit rows at the end: ' ~ r.columns[0].values()[0], info=True) }}";
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                &format!("name: ro\nprofile: ro\non-run-end:\n  - \"{hook}\"\n"),
            ),
            (
                "profiles.yml",
                &format!(
                    "ro:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}}}\n    lite: {{type: sqlite, path: data/ro.db}}\n"
                ),
            ),
            ("macros/ops.sql", MACROS),
            (
                "models/m.sql",
                r#"{{ config(materialized='table', post_hook="{% set r = run_query('select count(*) from ' ~ this) %}insert into {{ audit_table() }} values ({{ r.columns[0].values()[0] }}, 'post')") }}
select 1 as id union all select 2"#,
            ),
        ],
    );
    let run = dvt(
        dir.path(),
        &[
            "run-operation",
            "fill_audit",
            "--args",
            "{rows: 3, label: hello}",
        ],
        &[],
    );
    run.assert_ok();
    assert!(
        run.stdout.contains("audit has 3 rows on pg"),
        "{}",
        run.stdout
    );
    // run_results.json records the operation as dbt does, without its arguments.
    let results = || target_json(dir.path(), "run_results.json");
    let r = results();
    assert_eq!(r["results"][0]["unique_id"], "macro.ro.fill_audit");
    assert_eq!(r["results"][0]["status"], "success");
    assert_eq!(r["args"]["which"], "run-operation");
    assert!(!r.to_string().contains("hello"), "{r}");
    assert_eq!(
        pg_rows(
            &pg,
            &format!("select n, label from \"{schema}\".audit order by n")
        )
        .await,
        ["0", "1", "2"]
            .map(|n| vec![normalise(Some(n)), "hello".to_owned()])
            .to_vec()
    );
    // Default arguments, on another target.
    let lite = dvt(
        dir.path(),
        &["run-operation", "fill_audit", "--target", "lite"],
        &[],
    );
    lite.assert_ok();
    assert!(
        lite.stdout.contains("audit has 2 rows on lite"),
        "{}",
        lite.stdout
    );
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/ro.db"),
            "select count(*), min(label) from audit"
        ),
        vec![vec![normalise(Some("2")), "x".to_owned()]]
    );
    // Hooks may query too: the model's post-hook counts its rows, on-run-end the audit's.
    let build = dvt(dir.path(), &["run"], &[]);
    build.assert_ok();
    assert!(
        build.stdout.contains("audit rows at the end: 4"),
        "{}",
        build.stdout
    );
    assert_eq!(
        pg_rows(
            &pg,
            &format!("select n from \"{schema}\".audit where label = 'post'")
        )
        .await,
        vec![vec![normalise(Some("2"))]]
    );

    let missing = dvt(dir.path(), &["run-operation", "fill_adit"], &[]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("error[DVT134]") && missing.stderr.contains("fill_adit"),
        "{}",
        missing.stderr
    );
    let in_package = dvt(dir.path(), &["run-operation", "nopkg.fill_audit"], &[]);
    assert!(
        in_package.stderr.contains("error[DVT134]")
            && in_package
                .stderr
                .contains("no installed package is named `nopkg`"),
        "{}",
        in_package.stderr
    );
    let bad = dvt(
        dir.path(),
        &["run-operation", "fill_audit", "--args", "{rows: [}"],
        &[],
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("error[DVT112]") && bad.stderr.contains("--args"),
        "{}",
        bad.stderr
    );
    // A failing query is the macro's error, at its line; nothing else ran.
    let failing = dvt(
        dir.path(),
        &[
            "run-operation",
            "fill_audit",
            "--args",
            "{rows: 1, label: \"it's\"}",
        ],
        &[],
    );
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    assert!(
        failing.stderr.contains("error[DVT109]") && failing.stderr.contains("macros/ops.sql:3"),
        "{}",
        failing.stderr
    );
    let r = results();
    assert_eq!(r["results"][0]["status"], "error");
    assert!(
        r["results"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("DVT109")),
        "{r}"
    );
    assert_eq!(
        pg_rows(&pg, &format!("select count(*) from \"{schema}\".audit")).await,
        vec![vec![normalise(Some("4"))]]
    );
}

/// What dbt_artifacts reads in `on-run-end`: each result's node (its config, schema),
/// its `timing` stages, and the run's `invocation_id`, the one `run_results.json` has.
#[test]
fn on_run_end_results_carry_their_nodes_and_the_run_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = "{% for r in results %}{{ log('result ' ~ r.node.name ~ ' ' ~ r.node.config.materialized ~ ' full_refresh=' ~ (r.node.config.full_refresh is none) ~ ' timing=' ~ (r.timing | map(attribute='name') | join('+')) ~ ' thread=' ~ (r.thread_id is string), info=True) }}{% endfor %}{{ log('invocation ' ~ invocation_id ~ ' which=' ~ invocation_args_dict.which, info=True) }}";
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                &format!("name: rr\nprofile: rr\non-run-end:\n  - \"{hook}\"\n"),
            ),
            (
                "profiles.yml",
                "rr:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/rr.db}\n",
            ),
            (
                "models/m.sql",
                "{{ config(materialized='table') }}\n{% if execute %}{{ log('model sees which=' ~ flags.WHICH ~ ' full_refresh=' ~ flags.FULL_REFRESH, info=True) }}{% endif %}\nselect 1 as id",
            ),
        ],
    );
    // `flags` is the command's in every node (elementary tells `test` from `run` by it).
    let build = dvt(dir.path(), &["build", "--full-refresh"], &[]);
    build.assert_ok();
    assert!(
        build
            .stdout
            .contains("model sees which=build full_refresh=True"),
        "{}",
        build.stdout
    );
    let run = dvt(dir.path(), &["run"], &[]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("model sees which=run full_refresh=False"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("result m table full_refresh=True timing=compile+execute thread=True"),
        "{}",
        run.stdout
    );
    let results = target_json(dir.path(), "run_results.json");
    let id = results["metadata"]["invocation_id"].as_str().expect("id");
    assert!(
        run.stdout.contains(&format!("invocation {id} which=run")),
        "{}",
        run.stdout
    );
}

/// What packages such as elementary reach for beyond the documented context: `graph` as
/// a cache, `builtins`, `thread_id`, `dbt_version`, `dbt_metadata_envs`, and dbt's
/// relation helpers; and a model may name its parent through `builtins.ref`.
#[test]
fn package_internals_context_and_relation_helpers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = r#"{% macro probe() %}
{% do graph.setdefault('cache', {}).update({'k': 1}) %}
{{ log('cache=' ~ graph.setdefault('cache', {}).get('k'), info=True) }}
{% do graph.setdefault('nested', {'results': {}, 'tables': {'m': {'rows': []}}}) %}
{% do graph.setdefault('nested', {}).get('results').update({'t1': 'pass'}) %}
{% do graph['nested']['tables']['m']['rows'].append(3) %}
{% do graph['nested'].update({'later': {'list': []}}) %}
{% do graph['nested']['later']['list'].append('x') %}
{{ log('nested=' ~ graph['nested'] ~ ' to_dict=' ~ {'a': {'b': 1}}.to_dict()['a']['b'], info=True) }}
{{ log('project=' ~ builtins.ref.config.project_name ~ ' thread=' ~ thread_id ~ ' version=' ~ (dbt_version.split('.')[0] | int) ~ '.' ~ ('x' | int) ~ '.' ~ ('2.9' | int) ~ '/' ~ ('n' | float) ~ ' team=' ~ dbt_metadata_envs.get('TEAM'), info=True) }}
{% set base = api.Relation.create(schema='main', identifier='base_t') %}
{% set tmp = dbt.make_temp_relation(base).incorporate(path={'schema': 'main'}) %}
{% do run_query(dbt.get_create_table_as_sql(false, tmp, 'select 7 as n')) %}
{% set found = dbt.get_or_create_relation(database=none, schema='main', identifier=tmp.identifier, type='table') %}
{{ log('tmp=' ~ tmp.identifier ~ ' existed=' ~ found[0], info=True) }}
{% do dbt.drop_relation_if_exists(found[1]) %}
{% do adapter.commit() %}
{% set gone = dbt.get_or_create_relation(database=none, schema='main', identifier=tmp.identifier, type='table') %}
{{ log('after drop existed=' ~ gone[0], info=True) }}
{% endmacro %}
"#;
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: px\nprofile: px\n"),
            (
                "profiles.yml",
                "px:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/px.db}\n",
            ),
            ("macros/probe.sql", probe),
            ("models/a.sql", "select 1 as id union all select 2"),
            (
                "models/b.sql",
                "{{ config(materialized='table') }}\nselect count(*) as n from {{ builtins.ref('a') }}",
            ),
        ],
    );
    let op = dvt(
        dir.path(),
        &["run-operation", "probe"],
        &[("DBT_ENV_CUSTOM_ENV_TEAM", "data")],
    );
    op.assert_ok();
    for line in [
        "cache=1",
        "nested={'results': {'t1': 'pass'}, 'tables': {'m': {'rows': [3]}}, 'later': {'list': ['x']}} to_dict=1",
        "project=px thread=MainThread version=1.0.2/0.0 team=data",
        "tmp=base_t__dbt_tmp existed=True",
        "after drop existed=False",
    ] {
        assert!(op.stdout.contains(line), "{line}: {}", op.stdout);
    }
    dvt(dir.path(), &["run"], &[]).assert_ok();
    assert_eq!(
        sqlite_rows(&dir.path().join("data/px.db"), "select n from b"),
        vec![vec![normalise(Some("2"))]]
    );
    // `builtins.ref` records the dependency as `ref` does.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(
        manifest["nodes"]["model.px.b"]["depends_on"]["nodes"],
        serde_json::json!(["model.px.a"])
    );
}

/// What one render's statements leave in their session (temporary tables, an open
/// transaction) the render's next statements see, as on dbt's connection, on every
/// database; on PostgreSQL a node's pre-hooks, its SQL and its post-hooks share that
/// connection too. A node's connection goes back to the pool cleared, so a later node
/// never inherits a transaction (which would swallow what it builds), a setting or a
/// temporary table.
#[tokio::test(flavor = "multi_thread")]
async fn a_render_s_statements_share_one_connection_given_back_clean() {
    let schema = unique("dvt_it_session");
    let maria_db = unique("dvt_it_session");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![maria_db.clone()],
    };
    let pg = pg().await;
    let mut maria = maria().await;
    maria_rows(&mut maria, &format!("create database `{maria_db}`")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scratch = "{% macro scratch() %}\n\
      {% do run_query('create temporary table scratch as select 41 as v') %}\n\
      {% do run_query('insert into scratch values (1)') %}\n\
      {% set r = run_query('create temporary table two as select count(*) as s from scratch; select s * 42 as s from two') %}\n\
      {{ log('scratch sum ' ~ r.columns[0].values()[0] ~ ' on ' ~ target.name, info=True) }}\n\
      {% set tmp = dbt.make_temp_relation(api.Relation.create(database=target.database, schema=target.schema, identifier='scratch_base')) %}\n\
      {% do run_query(dbt.get_create_table_as_sql(true, tmp, 'select 3 as v')) %}\n\
      {{ log('temp relation ' ~ (tmp.schema is none) ~ ' holds ' ~ run_query('select v from ' ~ tmp).columns[0].values()[0], info=True) }}\n\
      {{ log('temp columns ' ~ (adapter.get_columns_in_relation(tmp) | map(attribute='name') | join(',')), info=True) }}\n\
      {% do adapter.drop_relation(tmp) %}\n\
      {% do run_query(dbt.get_create_table_as_sql(true, tmp, 'select 4 as v')) %}\n\
      {{ log('dropped and made again ' ~ run_query('select v from ' ~ tmp).columns[0].values()[0], info=True) }}\n\
      {% do adapter.create_schema(api.Relation.create(database=target.database, schema=target.schema)) %}\n\
      {% set ra = api.Relation.create(database=target.database, schema=target.schema, identifier='ren_a') %}\n\
      {% set rb = api.Relation.create(database=target.database, schema=target.schema, identifier='ren_b') %}\n\
      {% do run_query(dbt.get_create_table_as_sql(false, ra, 'select 9 as v')) %}\n\
      {% do adapter.rename_relation(ra, rb) %}\n\
      {{ log('renamed ' ~ run_query('select v from ' ~ rb).columns[0].values()[0], info=True) }}\n\
      {{ log('schema ' ~ adapter.check_schema_exists(target.database, target.schema) ~ ' ' ~ adapter.check_schema_exists(target.database, 'no_such_schema_x') ~ ' ' ~ (target.schema in adapter.list_schemas(target.database)), info=True) }}\n\
    {% endmacro %}\n";
    // Leaves a transaction open and a temporary table in it.
    let leak = "{% if execute %}{% do run_query('begin; create temporary table leak as select 1 as v') %}{% endif %}\nselect 1 as id";
    let probe = "-- depends_on: {{ ref('leaky') }} {{ ref('pre_tmp') }}\n\
      {% set r = run_query(\"select (to_regclass('pg_temp.leak') is null)::int * 1000 + (to_regclass('pg_temp.pre_src') is null and current_setting('application_name') <> 'dvt_pre_hook')::int * 100 + (to_regclass('pg_temp.scratch') is null)::int * 10 + (pg_current_xact_id_if_assigned() is null)::int as clean\") if execute else none %}\n\
      select {{ r.columns[0].values()[0] if r else 0 }} as clean";
    // A pre-hook's temporary table and setting, read by the model's own SQL and by its
    // post-hook, as dbt runs them on one connection.
    let pre_tmp = "{{ config(pre_hook=[\"create temporary table pre_src as select 7 as v\", \"set application_name = 'dvt_pre_hook'\"], post_hook=\"insert into {{ this }} select v + 1, current_setting('application_name') from pre_src\") }}\n\
      select v, current_setting('application_name') as app from pre_src";
    let mut files: Vec<(String, String)> = vec![
        (
            "dbt_project.yml".into(),
            "name: se\nprofile: se\nmodels:\n  +materialized: table\n".into(),
        ),
        (
            "profiles.yml".into(),
            format!(
                "se:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {schema}, threads: 1}}\n    maria: {{type: mysql, server: 127.0.0.1, port: 3306, username: root, password: '', schema: {maria_db}}}\n    lite: {{type: sqlite, path: data/se.db}}\n"
            ),
        ),
        ("macros/ops.sql".into(), scratch.into()),
        ("models/leaky.sql".into(), leak.into()),
        ("models/pre_tmp.sql".into(), pre_tmp.into()),
        (
            "models/pre_any.sql".into(),
            "{{ config(pre_hook='create temporary table pre_any_src as select 7 as v', post_hook='insert into {{ this }} select v + 1 from pre_any_src') }}\nselect v from pre_any_src".into(),
        ),
        (
            "models/hooked.sql".into(),
            "{{ config(pre_hook=['create temporary table h as select 5 as v', 'create table ' ~ this.schema ~ '.from_hook as select v from h']) }}\nselect 2 as id".into(),
        ),
    ];
    for i in 1..=4 {
        files.push((format!("models/probe_{i}.sql"), probe.into()));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_project(dir.path(), &files);
    for target in ["pg", "maria", "lite"] {
        let op = dvt(
            dir.path(),
            &["run-operation", "scratch", "--target", target],
            &[],
        );
        op.assert_ok();
        assert!(
            op.stdout.contains(&format!("scratch sum 84 on {target}")),
            "{target}: {}",
            op.stdout
        );
        // dbt's scratch relation: session-temporary, unqualified, where the database
        // keeps such tables apart (PostgreSQL, SQLite); in the target's database on MySQL.
        let unqualified = target != "maria";
        assert!(
            op.stdout.contains(&format!(
                "temp relation {} holds 3",
                if unqualified { "True" } else { "False" }
            )),
            "{target}: {}",
            op.stdout
        );
        // MySQL's catalogue does not list temporary tables: its `SHOW COLUMNS` does.
        assert!(
            op.stdout.contains("temp columns v"),
            "{target}: {}",
            op.stdout
        );
        assert!(
            op.stdout.contains("dropped and made again 4")
                && op.stdout.contains("schema True False True")
                && op.stdout.contains("renamed 9"),
            "{target}: {}",
            op.stdout
        );
    }
    let run = dvt(dir.path(), &["run"], &[]);
    run.assert_ok();
    for i in 1..=4 {
        assert_eq!(
            pg_rows(&pg, &format!("select clean from \"{schema}\".probe_{i}")).await,
            vec![vec![normalise(Some("1111"))]],
            "probe_{i} inherited the leaky model's session"
        );
    }
    // Every model's table was committed, the leaky one's too (and the renamed table).
    assert_eq!(
        pg_rows(
            &pg,
            &format!("select count(*) from pg_tables where schemaname = '{schema}'")
        )
        .await,
        vec![vec![normalise(Some("10"))]]
    );
    assert_eq!(
        pg_rows(
            &pg,
            &format!("select v, app from \"{schema}\".pre_tmp order by v")
        )
        .await,
        vec![
            vec![normalise(Some("7")), normalise(Some("dvt_pre_hook"))],
            vec![normalise(Some("8")), normalise(Some("dvt_pre_hook"))],
        ]
    );
    let seven_eight = vec![vec![normalise(Some("7"))], vec![normalise(Some("8"))]];
    assert_eq!(
        pg_rows(
            &pg,
            &format!("select v from \"{schema}\".pre_any order by v")
        )
        .await,
        seven_eight
    );
    for target in ["maria", "lite"] {
        dvt(
            dir.path(),
            &["run", "--target", target, "--select", "pre_any"],
            &[],
        )
        .assert_ok();
    }
    assert_eq!(
        maria_rows(
            &mut maria,
            &format!("select v from `{maria_db}`.pre_any order by v")
        )
        .await,
        seven_eight
    );
    assert_eq!(
        sqlite_rows(
            &dir.path().join("data/se.db"),
            "select v from pre_any order by v"
        ),
        seven_eight
    );
    assert_eq!(
        pg_rows(&pg, &format!("select v from \"{schema}\".from_hook")).await,
        vec![vec![normalise(Some("5"))]]
    );
}

/// A macro sees the render's `model`, not its caller's argument of that name: inside a
/// generic test, `model` is the tested relation, while a macro it calls (elementary's
/// `get_test_model()`) reads the test node, as in dbt.
#[test]
fn macros_see_the_render_s_model_not_a_caller_s_argument() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: tm\nprofile: tm\n"),
            (
                "profiles.yml",
                "tm:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/tm.db}\n",
            ),
            ("models/m.sql", "select 1 as id"),
            (
                "models/schema.yml",
                "models:\n  - name: m\n    data_tests:\n      - probe\n",
            ),
            (
                "macros/t.sql",
                "{% macro test_node() %}{{ return(model) }}{% endmacro %}\n\
                 {% test probe(model) %}\n\
                 {% if execute %}{{ log('node ' ~ test_node().get('original_file_path') ~ ' ' ~ test_node().resource_type ~ ' tests ' ~ model.identifier ~ ' attached ' ~ test_node().attached_node ~ ' severity ' ~ test_node().config.severity ~ ' kwargs ' ~ test_node().test_metadata.kwargs, info=True) }}{% endif %}\n\
                 select 1 as x where 1 = 0\n\
                 {% endtest %}\n",
            ),
        ],
    );
    let build = dvt(dir.path(), &["build"], &[]);
    build.assert_ok();
    assert!(
        build
            .stdout
            .contains("node models/schema.yml test tests m attached model.tm.m severity ERROR kwargs {'model': \"{{ get_where_subquery(ref('m')) }}\"}"),
        "{}",
        build.stdout
    );
}

/// A MariaDB node whose compilation queries before its database exists: the pinned
/// connection opened then has no default database, and gets the one the run creates, so
/// the pre-hook's unqualified temporary table works on the first run.
#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_mariadb_connection_uses_the_database_the_run_creates() {
    let maria_db = unique("dvt_it_pinuse");
    let _cleanup = Cleanup {
        pg_schemas: vec![],
        maria_dbs: vec![maria_db.clone()],
    };
    let mut maria = maria().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = format!(
        "pu:\n  target: maria\n  outputs:\n    maria: {{type: mysql, server: 127.0.0.1, port: 3306, username: root, password: '', schema: {maria_db}}}\n"
    );
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: pu\nprofile: pu\nmodels:\n  +materialized: table\n",
            ),
            ("profiles.yml", &profiles),
            (
                "models/first.sql",
                "{{ config(pre_hook='create temporary table pu_src as select 5 as v') }}\n{% if execute %}{% do run_query('select 1') %}{% endif %}\nselect v from pu_src",
            ),
        ],
    );
    dvt(dir.path(), &["run"], &[]).assert_ok();
    assert_eq!(
        maria_rows(&mut maria, &format!("select v from `{maria_db}`.first")).await,
        vec![vec![normalise(Some("5"))]]
    );
}
