//! `examples/federated_pg_mysql` against the real servers: it builds from empty
//! databases, every federated table equals the same query computed inside one
//! database, and rebuilds replace tables atomically.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::common::*;

struct Example {
    dir: tempfile::TempDir,
    _cleanup: Cleanup,
}

impl Example {
    fn new(schemas: &[String], dbs: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(&repo_root().join("examples/federated_pg_mysql"), dir.path());
        Example {
            dir,
            _cleanup: Cleanup {
                pg_schemas: schemas.to_vec(),
                maria_dbs: dbs.to_vec(),
            },
        }
    }

    fn dvt(&self, args: &[&str], pg_schema: &str, maria_db: &str) -> Run {
        dvt(
            self.dir.path(),
            args,
            &[("DVT_PG_SCHEMA", pg_schema), ("DVT_MYSQL_SCHEMA", maria_db)],
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn example_builds_and_federated_tables_equal_the_single_database_query() {
    let fed = unique("dvt_it_fed");
    let single = unique("dvt_it_one");
    let ex = Example::new(&[fed.clone(), single.clone()], std::slice::from_ref(&fed));
    let pg = pg().await;
    let mut maria = maria().await;

    let run = ex.dvt(&["build"], &fed, &fed);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("PASS=7 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=7"),
        "{}",
        run.stdout
    );
    let st = statuses(ex.dir.path());
    assert_eq!(st.len(), 7);
    assert!(st.values().all(|s| s == "success"), "{st:?}");

    let ls = ex.dvt(&["ls"], &fed, &fed);
    ls.assert_ok();
    let line = |name: &str| {
        ls.stdout
            .lines()
            .find(|l| l.contains(&format!(".{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from ls:\n{}", ls.stdout))
            .to_owned()
    };
    assert!(
        line("customer_orders").contains("target=pg")
            && line("customer_orders").contains("path=federated")
    );
    assert!(
        line("orders_enriched_maria").contains("target=maria")
            && line("orders_enriched_maria").contains("path=federated")
    );
    assert!(line("maria_product_catalog").contains("path=pushdown (non-default target)"));
    assert!(
        line("segment_revenue").contains("target=pg")
            && line("segment_revenue").ends_with("path=pushdown")
    );

    // The same project with every node forced onto PostgreSQL: all models push down,
    // so each federated model's query is computed inside one database.
    let run = ex.dvt(&["build", "--target", "pg"], &single, &fed);
    run.assert_ok();
    let ls = ex.dvt(&["ls", "--target", "pg"], &single, &fed);
    assert!(!ls.stdout.contains("path=federated"), "{}", ls.stdout);

    let cols = "customer_id, customer_name, segment, order_count, total_amount, first_order_date";
    let federated = pg_rows(
        &pg,
        &format!("select {cols} from \"{fed}\".customer_orders"),
    )
    .await;
    let inside = pg_rows(
        &pg,
        &format!("select {cols} from \"{single}\".customer_orders"),
    )
    .await;
    assert_eq!(federated.len(), 10);
    assert_eq!(federated, inside);

    let cols = "order_id, product_name, category, quantity, amount";
    let federated = maria_rows(
        &mut maria,
        &format!("select {cols} from `{fed}`.orders_enriched_maria"),
    )
    .await;
    let inside = pg_rows(
        &pg,
        &format!("select {cols} from \"{single}\".orders_enriched_maria"),
    )
    .await;
    assert_eq!(federated.len(), 20);
    assert_eq!(federated, inside);

    // The pushdown view over the federated table reads the same totals.
    let view = pg_rows(&pg, &format!("select segment, customer_count, order_count, total_amount from \"{fed}\".segment_revenue")).await;
    let inside = pg_rows(&pg, &format!("select segment, customer_count, order_count, total_amount from \"{single}\".segment_revenue")).await;
    assert!(!view.is_empty());
    assert_eq!(view, inside);

    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ex.dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(
        manifest["nodes"]["model.federated_pg_mysql.customer_orders"]["dvt"]["path"],
        "pushdown"
    );
    let compiled = std::fs::read_to_string(
        ex.dir
            .path()
            .join("target/compiled/federated_pg_mysql/models/customer_orders.sql"),
    )
    .expect("compiled SQL written");
    assert!(
        compiled.contains(&format!("\"{single}\".\"raw_orders\"")),
        "{compiled}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuilds_are_atomic_for_concurrent_readers() {
    // Fail with how-to-start hints before dvt reports a bare connection error.
    let _ = (pg().await, maria().await);
    let s = unique("dvt_it_atomic");
    let ex = Example::new(std::slice::from_ref(&s), std::slice::from_ref(&s));
    ex.dvt(&["build"], &s, &s).assert_ok();

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let pg_reader = {
        let (stop, reads, s) = (Arc::clone(&stop), Arc::clone(&reads), s.clone());
        tokio::spawn(async move {
            let client = pg().await;
            let mut anomalies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sql = format!("select count(*) from \"{s}\".customer_orders");
                match client.query_one(&sql, &[]).await {
                    Ok(row) if row.get::<_, i64>(0) == 10 => {}
                    Ok(row) => anomalies.push(format!("pg saw {} rows", row.get::<_, i64>(0))),
                    Err(e) => anomalies.push(format!("pg: {e}")),
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            anomalies
        })
    };
    let maria_reader = {
        let (stop, reads, s) = (Arc::clone(&stop), Arc::clone(&reads), s.clone());
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut conn = maria().await;
            let mut anomalies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sql = format!("select count(*) from `{s}`.orders_enriched_maria");
                match conn.query_first::<i64, _>(sql).await {
                    Ok(Some(20)) => {}
                    Ok(n) => anomalies.push(format!("maria saw {n:?} rows")),
                    Err(e) => anomalies.push(format!("maria: {e}")),
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            anomalies
        })
    };
    for _ in 0..3 {
        let dir = ex.dir.path().to_path_buf();
        let s2 = s.clone();
        let run = tokio::task::spawn_blocking(move || {
            dvt(
                &dir,
                &["run"],
                &[
                    ("DVT_PG_SCHEMA", s2.as_str()),
                    ("DVT_MYSQL_SCHEMA", s2.as_str()),
                ],
            )
        })
        .await
        .expect("dvt run");
        run.assert_ok();
    }
    stop.store(true, Ordering::Relaxed);
    let mut anomalies = pg_reader.await.expect("pg reader");
    anomalies.extend(maria_reader.await.expect("maria reader"));
    assert!(
        reads.load(Ordering::Relaxed) > 20,
        "readers ran too little to prove anything"
    );
    assert!(anomalies.is_empty(), "readers saw: {anomalies:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_model_keeps_its_previous_table_and_skips_descendants() {
    let _ = (pg().await, maria().await);
    let s = unique("dvt_it_fail");
    let dir = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup::everywhere(&[&s]);
    let profiles = format!(
        "p:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {s}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {s}}}\n"
    );
    let breakable = "{% if var('break', false) %}, no_such_column{% endif %}";
    write_project(
        dir.path(),
        &[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nmodels:\n  p:\n    +materialized: table\nseeds:\n  p:\n    other:\n      +target: maria\n",
            ),
            ("profiles.yml", &profiles),
            ("seeds/base.csv", "id,v\n1,a\n2,b\n3,c\n4,d\n5,e\n"),
            ("seeds/other.csv", "id,w\n1,x\n2,y\n3,z\n4,q\n5,r\n"),
            (
                "models/push_model.sql",
                &format!("select id, v{breakable} from {{{{ ref('base') }}}}"),
            ),
            (
                "models/push_child.sql",
                "{{ config(materialized='view') }}select * from {{ ref('push_model') }}",
            ),
            (
                "models/fed_model.sql",
                &format!(
                    "select b.id, b.v, o.w{breakable} from {{{{ ref('base') }}}} b join {{{{ ref('other') }}}} o on o.id = b.id"
                ),
            ),
            (
                "models/fed_child.sql",
                "select * from {{ ref('fed_model') }}",
            ),
            (
                "models/independent.sql",
                "select count(*) as n from {{ ref('base') }}",
            ),
        ],
    );
    dvt(dir.path(), &["build"], &[]).assert_ok();
    let pg = pg().await;
    let run = dvt(dir.path(), &["run", "--vars", "{break: true}"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let st = statuses(dir.path());
    assert_eq!(st["model.p.push_model"], "error");
    assert_eq!(st["model.p.fed_model"], "error");
    assert_eq!(st["model.p.push_child"], "skipped");
    assert_eq!(st["model.p.fed_child"], "skipped");
    assert_eq!(st["model.p.independent"], "success");
    assert!(
        run.stderr.contains("DVT301") || run.stderr.contains("DVT302"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("ERROR=2 SKIP=2"), "{}", run.stdout);
    for t in ["push_model", "fed_model"] {
        let rows = pg_rows(&pg, &format!("select * from \"{s}\".{t}")).await;
        assert_eq!(rows.len(), 5, "{t} lost its previous rows");
    }
    let leftovers = pg_rows(
        &pg,
        &format!("select table_name from information_schema.tables where table_schema = '{s}' and table_name like '%dvt%'"),
    )
    .await;
    assert!(
        leftovers.is_empty(),
        "temporary relations left behind: {leftovers:?}"
    );
}
