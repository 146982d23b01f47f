//! `dvt init NAME && cd NAME && dvt build` works with no database server.

use crate::common::*;

#[test]
fn init_then_build_runs_on_the_embedded_default() {
    let home = tempfile::tempdir().expect("tempdir");
    let run = dvt(home.path(), &["init", "demo_proj"], &[]);
    run.assert_ok();
    let project = home.path().join("demo_proj");
    assert!(project.join("dbt_project.yml").is_file());
    let text = std::fs::read_to_string(project.join("dbt_project.yml")).expect("project file");
    assert!(text.contains("name: demo_proj"), "{text}");

    // Every command is non-interactive (stdin is not a terminal here).
    let run = dvt(&project, &["build", "--threads", "2"], &[]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("PASS=10 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=10"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("customer_revenue [federated]"),
        "{}",
        run.stdout
    );
    assert!(project.join("data/warehouse.db").is_file());
    assert!(project.join("data/crm.db").is_file());
    let st = statuses(&project);
    let (tests, built): (Vec<_>, Vec<_>) = st.iter().partition(|(id, _)| id.starts_with("test."));
    assert!(built.iter().all(|(_, s)| *s == "success"), "{st:?}");
    assert!(tests.iter().all(|(_, s)| *s == "pass"), "{st:?}");
    assert_eq!((built.len(), tests.len()), (5, 5), "{st:?}");

    // The federated table landed in the warehouse: preview the pushdown view over it.
    let show = dvt(
        &project,
        &["show", "--select", "revenue_by_country", "--limit", "50"],
        &[],
    );
    show.assert_ok();
    assert!(show.stdout.contains("pushdown"), "{}", show.stdout);
    let fed = dvt(
        &project,
        &["show", "--select", "customer_revenue", "--limit", "50"],
        &[],
    );
    fed.assert_ok();
    assert!(fed.stdout.contains("federated"), "{}", fed.stdout);
    // 8 customers in the seed: 8 data rows between the table borders.
    let rows = fed
        .stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("customer_id"))
        .count();
    assert_eq!(rows, 8, "{}", fed.stdout);

    let debug = dvt(&project, &["debug"], &[]);
    debug.assert_ok();
    assert!(
        debug.stdout.contains("[OK]   crm (sqlite)")
            && debug.stdout.contains("[OK]   warehouse (sqlite)"),
        "{}",
        debug.stdout
    );
    let sync = dvt(&project, &["sync"], &[]);
    sync.assert_ok();
    assert!(
        sync.stdout.contains("staging bucket") && !sync.stdout.contains("[FAIL]"),
        "{}",
        sync.stdout
    );
    let parse = dvt(&project, &["parse"], &[]);
    parse.assert_ok();
    assert!(
        parse
            .stdout
            .contains("Parsed 3 models, 5 data tests, 2 seeds, 0 sources, 1 macros"),
        "{}",
        parse.stdout
    );

    // A second init into the same folder refuses instead of overwriting.
    let again = dvt(home.path(), &["init", "demo_proj"], &[]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}
