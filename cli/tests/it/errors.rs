//! Bad input gets exit code 1, a stable code and the file (and line) it came from.

use crate::common::*;

const PROFILES: &str = "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n    other: {type: sqlite, path: data/other.db}\n";

fn project(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = vec![
        ("dbt_project.yml", "name: p\nprofile: p\n"),
        ("profiles.yml", PROFILES),
        ("seeds/s.csv", "a,b\n1,2\n"),
        ("models/ok.sql", "select a from {{ ref('s') }}"),
    ];
    files.extend_from_slice(extra);
    write_project(dir.path(), &files);
    dir
}

fn assert_fails(dir: &tempfile::TempDir, args: &[&str], code: &str, location: &str) -> Run {
    let run = dvt(dir.path(), args, &[]);
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(&format!("error[{code}]")),
        "expected {code}:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(location),
        "expected `{location}` in:\n{}",
        run.stderr
    );
    run
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let dir = project(&[(
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: ok\n    description: [unclosed\n",
    )]);
    assert_fails(&dir, &["parse"], "DVT102", "models/schema.yml:");
    let dir = project(&[("dbt_project.yml", "name: p\nprofile: p\nmodels: {a\n")]);
    assert_fails(&dir, &["run"], "DVT102", "dbt_project.yml:");
}

#[test]
fn unknown_ref_names_file_and_line() {
    let dir = project(&[("models/bad.sql", "select 1 as x\nfrom {{ ref('nope') }}\n")]);
    assert_fails(&dir, &["compile"], "DVT106", "models/bad.sql:2");
}

#[test]
fn cycle_prints_the_cycle() {
    let dir = project(&[
        ("models/a.sql", "select * from {{ ref('b') }}"),
        ("models/b.sql", "select * from {{ ref('c') }}"),
        ("models/c.sql", "select * from {{ ref('a') }}"),
    ]);
    let run = assert_fails(&dir, &["run"], "DVT108", "models/");
    assert!(
        // Printed in data-flow order: `c` reads `a`, `b` reads `c`, `a` reads `b`.
        run.stderr
            .contains("model.p.a -> model.p.c -> model.p.b -> model.p.a")
            || run
                .stderr
                .contains("model.p.c -> model.p.b -> model.p.a -> model.p.c")
            || run
                .stderr
                .contains("model.p.b -> model.p.a -> model.p.c -> model.p.b"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_target_in_config_or_flag() {
    let dir = project(&[(
        "models/t.sql",
        "{{ config(target='nowhere') }}\nselect 1 as x",
    )]);
    let run = assert_fails(&dir, &["ls"], "DVT104", "models/t.sql");
    assert!(run.stderr.contains("`nowhere`"), "{}", run.stderr);
    let dir = project(&[]);
    assert_fails(&dir, &["run", "--target", "nowhere"], "DVT104", "--target");
    let dir = project(&[(
        "models/sources.yml",
        "version: 2\nsources:\n  - name: crm\n    connection: nowhere\n    tables: [{name: t}]\n",
    )]);
    assert_fails(&dir, &["parse"], "DVT104", "models/sources.yml:3");
}

#[test]
fn jinja_syntax_error_names_file_and_line() {
    let dir = project(&[("models/j.sql", "select 1 as x\n-- fine\n{% if %}\n")]);
    assert_fails(&dir, &["compile"], "DVT109", "models/j.sql:3");
}

#[test]
fn ragged_csv_names_file_line_and_column() {
    let dir = project(&[("seeds/bad.csv", "id,name\n1,a\n2,b,extra\n3,c\n")]);
    let run = assert_fails(&dir, &["seed"], "DVT200", "seeds/bad.csv:3:3");
    assert!(run.stdout.contains("ERROR=1"), "{}", run.stdout);
    // The good seed still loads: a failing node does not stop independent ones.
    let st = statuses(dir.path());
    assert_eq!(st["seed.p.s"], "success");
    assert_eq!(st["seed.p.bad"], "error");
}

#[test]
fn conflicting_source_connections_are_an_error() {
    let dir = project(&[
        (
            "models/a.yml",
            "version: 2\nsources:\n  - name: crm\n    connection: main\n    tables: [{name: t}]\n",
        ),
        (
            "models/b.yml",
            "version: 2\nsources:\n  - name: crm\n    connection: other\n    tables: [{name: u}]\n",
        ),
    ]);
    assert_fails(&dir, &["parse"], "DVT105", "models/b.yml:4");
}

#[test]
fn bad_selector_and_vars_are_coded() {
    let dir = project(&[]);
    assert_fails(&dir, &["ls", "--select", "nope:x"], "DVT111", "nope:x");
    assert_fails(&dir, &["run", "--vars", "[1, 2]"], "DVT112", "--vars");
}

#[test]
fn secrets_never_reach_output_or_artifacts() {
    let secret = "Sup3rSecretPassw0rd";
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            (
                "profiles.yml",
                // Port 1 refuses connections, so every command that connects fails.
                "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: 127.0.0.1, port: 1, user: \"{{ env_var('DVT_IT_USER', 'nobody') }}\", password: \"{{ env_var('DVT_ENV_SECRET_PW') }}\", dbname: test, schema: s}\n",
            ),
            ("models/m.sql", "select 1 as x"),
        ],
    );
    let envs = [("DVT_ENV_SECRET_PW", secret)];
    let debug = dvt(dir.path(), &["debug"], &envs);
    assert_eq!(debug.code, 1, "{}", debug.stdout);
    assert!(debug.stdout.contains("[FAIL] pg"), "{}", debug.stdout);
    let run = dvt(dir.path(), &["run"], &envs);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("DVT300"), "{}", run.stderr);
    let mut seen = format!(
        "{}{}{}{}",
        debug.stdout, debug.stderr, run.stdout, run.stderr
    );
    for f in ["target/manifest.json", "target/run_results.json"] {
        seen.push_str(&std::fs::read_to_string(dir.path().join(f)).expect("artifact written"));
    }
    assert!(!seen.contains(secret), "the password leaked:\n{seen}");

    // Models may not read secret variables at all.
    write_project(
        dir.path(),
        &[(
            "models/m.sql",
            "select '{{ env_var('DVT_ENV_SECRET_PW') }}' as x",
        )],
    );
    let run = dvt(dir.path(), &["compile"], &envs);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("DVT109") && run.stderr.contains("only be used in profiles.yml"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(secret));
}

#[test]
fn missing_env_var_without_default_is_coded() {
    let dir = project(&[(
        "models/e.sql",
        "select '{{ env_var('DVT_IT_SURELY_UNSET_VAR') }}' as x",
    )]);
    let run = assert_fails(&dir, &["compile"], "DVT110", "models/e.sql:1");
    assert!(
        run.stderr.contains("DVT_IT_SURELY_UNSET_VAR"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_flags_exit_2_with_a_code() {
    let dir = project(&[]);
    let run = dvt(dir.path(), &["run", "--no-such-flag"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[DVT400]") && run.stderr.contains("--no-such-flag"),
        "{}",
        run.stderr
    );
    let run = dvt(dir.path(), &["run", "--threads", "many"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("error[DVT400]"), "{}", run.stderr);
}

#[test]
fn fail_fast_stops_independent_nodes_too() {
    let dir = project(&[
        (
            "models/a_broken.sql",
            "select no_such_column from {{ ref('s') }}",
        ),
        // Same depth as `a_broken` (both read the seed), so it is started after it.
        (
            "models/b_fine.sql",
            "select count(*) as x from {{ ref('s') }}",
        ),
    ]);
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(
        dir.path(),
        &["run", "--threads", "1", "--fail-fast", "--exclude", "ok"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let st = statuses(dir.path());
    assert_eq!(st["model.p.a_broken"], "error");
    assert_eq!(st["model.p.b_fine"], "skipped");
    let run = dvt(
        dir.path(),
        &["run", "--threads", "1", "--exclude", "ok"],
        &[],
    );
    assert_eq!(run.code, 1);
    let st = statuses(dir.path());
    assert_eq!(st["model.p.b_fine"], "success");
}
