//! Security defaults: only documented connection keys reach Jinja's `target`; staged
//! source data is private to its owner and removed after every successful run unless
//! kept.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const PROFILES: &str = "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db, token: t0p-s3cret, api_secret: s3cr3t-k3y, my_custom: custom-v4lue}\n    crm: {type: sqlite, path: data/crm.db}\n";

#[test]
fn target_exposes_only_documented_connection_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            (
                "models/m.sql",
                "select '{{ target.token }}|{{ target.api_secret }}|{{ target.my_custom }}|{{ target.name }}|{{ target.type }}' as t",
            ),
        ],
    );
    let run = dvt(dir.path(), &["compile"], &[]);
    run.assert_ok();
    let compiled = std::fs::read_to_string(dir.path().join("target/compiled/p/models/m.sql"))
        .expect("compiled sql");
    assert!(compiled.contains("'|||main|sqlite'"), "{compiled}");
    for secret in ["t0p-s3cret", "s3cr3t-k3y", "custom-v4lue"] {
        assert!(
            !compiled.contains(secret),
            "{secret} reached Jinja: {compiled}"
        );
        let manifest =
            std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest");
        assert!(!manifest.contains(secret), "{secret} in manifest.json");
    }
}

/// A federated model selecting `columns` from a join across the two SQLite targets.
fn federated_project(dir: &std::path::Path, columns: &str) {
    let model = format!(
        "{{{{ config(materialized='table') }}}}select {columns} from {{{{ ref('customers') }}}} c join {{{{ ref('orders') }}}} o on o.cid = c.id"
    );
    write_project(
        dir,
        &[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nseeds:\n  p:\n    customers:\n      +target: crm\n",
            ),
            ("profiles.yml", PROFILES),
            ("seeds/customers.csv", "id,name\n1,a\n2,b\n"),
            ("seeds/orders.csv", "cid,amount\n1,5\n2,7\n"),
            ("models/joined.sql", &model),
        ],
    );
}

fn staged_runs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(".dvt/staging"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn staged_extracts_are_private_kept_after_failed_runs_and_removed_after_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Fails while planning: nothing was extracted, so nothing is left.
    federated_project(dir.path(), "c.id, o.nope");
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("[federated]"), "{}", run.stdout);
    assert!(!run.stderr.contains("DVT005"), "{}", run.stderr);
    assert!(
        staged_runs(dir.path()).is_empty(),
        "a failed run that staged nothing left a folder"
    );

    // Fails in the engine after both inputs were extracted: they stay, named.
    federated_project(dir.path(), "c.id, cast(c.name as int) as n");
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let kept = staged_runs(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        run.stderr.contains(&format!(
            "warning[DVT005]: the run failed, so its 2 staged objects stay in `{}`",
            kept[0].display()
        )),
        "{}",
        run.stderr
    );
    for input in std::fs::read_dir(&kept[0])
        .expect("the run's folder")
        .flatten()
    {
        for part in std::fs::read_dir(input.path())
            .expect("an input's folder")
            .flatten()
        {
            let named = format!("\n  {}\n", part.path().display());
            assert!(run.stderr.contains(&named), "{named} in {}", run.stderr);
        }
    }
    std::fs::remove_dir_all(&kept[0]).expect("delete them when done");

    federated_project(dir.path(), "c.id, o.amount");
    dvt(dir.path(), &["run"], &[]).assert_ok();
    assert!(
        staged_runs(dir.path()).is_empty(),
        "a successful run left staged data"
    );

    let run = dvt(dir.path(), &["run", "--keep-staging"], &[]);
    run.assert_ok();
    assert!(
        run.stdout.contains("Staged extracts kept in"),
        "{}",
        run.stdout
    );
    let kept = staged_runs(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join(".dvt/staging")), 0o700);
    // Nothing under the bucket is readable by group or others through it.
    let root_mode = mode(&dir.path().join(".dvt/staging"));
    assert_eq!(root_mode & 0o077, 0);
}

/// Builds a table recording whether the model's own session is encrypted, with the
/// PostgreSQL output's TLS settings given as `tls` (YAML flow-mapping entries).
fn pg_tls_run(dir: &std::path::Path, schema: &str, host: &str, tls: &str) -> Run {
    write_project(
        dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            (
                "profiles.yml",
                &format!(
                    "p:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: {host}, user: postgres, dbname: test, schema: {schema}{tls}}}\n"
                ),
            ),
            (
                "models/tls.sql",
                "{{ config(materialized='table') }}select coalesce((select ssl::text from pg_stat_ssl where pid = pg_backend_pid()), 'none') as encrypted",
            ),
        ],
    );
    dvt(dir, &["run"], &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_tls_settings_are_honoured_as_libpq_documents_them() {
    let schema = unique("dvt_it_tls");
    let _cleanup = Cleanup {
        pg_schemas: vec![schema.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    let ssl = pg_rows(&pg, "show ssl").await;
    assert_eq!(
        ssl,
        vec![vec!["on".to_owned()]],
        "this test needs PostgreSQL with ssl=on (Debian's default, with its snakeoil certificate for CN=localhost)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = format!("select encrypted from {schema}.tls");
    let encrypted = async |pg: &tokio_postgres::Client| pg_rows(pg, &sql).await[0][0].clone();
    let cert = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

    // The default (`prefer`, as libpq's) encrypts when the server offers TLS.
    pg_tls_run(dir.path(), &schema, "127.0.0.1", "").assert_ok();
    assert_eq!(encrypted(&pg).await, "true");
    pg_tls_run(dir.path(), &schema, "127.0.0.1", ", sslmode: disable").assert_ok();
    assert_eq!(encrypted(&pg).await, "false");
    pg_tls_run(dir.path(), &schema, "127.0.0.1", ", sslmode: require").assert_ok();
    assert_eq!(encrypted(&pg).await, "true");
    // Verification: Debian trusts its snakeoil certificate system-wide, so `verify-ca`
    // succeeds with or without `sslrootcert`; `verify-full` also checks the host name
    // (CN=localhost), so it refuses 127.0.0.1.
    pg_tls_run(dir.path(), &schema, "127.0.0.1", ", sslmode: verify-ca").assert_ok();
    let with_ca = format!(", sslmode: verify-ca, sslrootcert: {cert}");
    pg_tls_run(dir.path(), &schema, "127.0.0.1", &with_ca).assert_ok();
    assert_eq!(encrypted(&pg).await, "true");
    let full = format!(", sslmode: verify-full, sslrootcert: {cert}");
    let run = pg_tls_run(dir.path(), &schema, "127.0.0.1", &full);
    assert_eq!(
        run.code, 1,
        "host name 127.0.0.1 is not the certificate's: {}",
        run.stdout
    );
    assert!(run.stderr.contains("error[DVT300]"), "{}", run.stderr);
    pg_tls_run(dir.path(), &schema, "localhost", &full).assert_ok();
    // A bad mode or a missing CA file is a coded error, never a silent downgrade.
    let run = pg_tls_run(dir.path(), &schema, "127.0.0.1", ", sslmode: sometimes");
    assert!(run.stderr.contains("error[DVT300]"), "{}", run.stderr);
    let run = pg_tls_run(
        dir.path(),
        &schema,
        "127.0.0.1",
        ", sslmode: verify-ca, sslrootcert: /no/such/ca.pem",
    );
    assert!(run.stderr.contains("error[DVT300]"), "{}", run.stderr);
}

#[test]
fn mariadb_tls_required_fails_against_a_server_without_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    for mode in ["required", "preferred"] {
        write_project(
            dir.path(),
            &[
                ("dbt_project.yml", "name: p\nprofile: p\n"),
                (
                    "profiles.yml",
                    &format!(
                        "p:\n  target: m\n  outputs:\n    m: {{type: mysql, server: 127.0.0.1, username: root, schema: test, sslmode: {mode}}}\n"
                    ),
                ),
            ],
        );
        let run = dvt(dir.path(), &["debug"], &[]);
        assert_eq!(
            run.code, 1,
            "sslmode {mode} against a server without TLS: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("[FAIL] m (mysql): DVT300"),
            "{}",
            run.stdout
        );
    }
}

/// A model's `bucket:` stages its extracts in that bucket of `buckets.yml`, the others
/// in the run's; an unknown name fails at parse time at the model's file, and a cluster
/// compute refuses a bucket its executors cannot all reach.
#[test]
fn a_model_bucket_config_stages_that_model_in_its_own_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    federated_project(dir.path(), "c.id, o.amount");
    let own = dir.path().join("own-bucket");
    std::fs::write(
        dir.path().join("buckets.yml"),
        format!(
            "p:\n  buckets:\n    own: {{type: filesystem, path: \"{}\"}}\n",
            own.display()
        ),
    )
    .expect("buckets.yml");
    dvt(dir.path(), &["seed"], &[]).assert_ok();
    let model = "{{ config(materialized='table', bucket='own') }}select c.id, o.amount from {{ ref('customers') }} c join {{ ref('orders') }} o on o.cid = c.id";
    std::fs::write(dir.path().join("models/joined.sql"), model).expect("model");
    let run = dvt(dir.path(), &["run", "--keep-staging"], &[]);
    run.assert_ok();
    let runs = |p: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let staged = runs(&own);
    assert_eq!(staged.len(), 1, "{staged:?}");
    let inputs = runs(&staged[0]);
    assert_eq!(inputs.len(), 2, "{inputs:?}");
    assert!(
        staged_runs(dir.path()).is_empty(),
        "the run's bucket got the model's extracts"
    );
    // `dvt show` places the model as `dvt run` does, or where `--bucket` says.
    let shown = dvt(dir.path(), &["show", "--select", "joined"], &[]);
    shown.assert_ok();
    assert!(
        shown.stdout.contains("Previewing joined"),
        "{}",
        shown.stdout
    );
    // It removed what it staged: only the kept run above is left in either bucket.
    assert_eq!(runs(&own).len(), 1);
    assert!(staged_runs(dir.path()).is_empty());
    let shown = dvt(
        dir.path(),
        &["show", "--select", "joined", "--bucket", "nowhere"],
        &[],
    );
    assert_eq!(shown.code, 1, "{}", shown.stderr);
    assert!(shown.stderr.contains("error[DVT123]"), "{}", shown.stderr);

    std::fs::write(
        dir.path().join("models/joined.sql"),
        model.replace("bucket='own'", "bucket='nowhere'"),
    )
    .expect("model");
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error[DVT123]"), "{}", run.stderr);
    assert!(run.stderr.contains("joined.sql"), "{}", run.stderr);

    std::fs::write(
        dir.path().join("computes.yml"),
        "p:\n  computes:\n    cluster: {type: ballista, scheduler: \"df://127.0.0.1:1\"}\n",
    )
    .expect("computes.yml");
    std::fs::write(
        dir.path().join("models/joined.sql"),
        model.replace("bucket='own'", "bucket='own', compute='cluster'"),
    )
    .expect("model");
    let run = dvt(dir.path(), &["run"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error[DVT124]"), "{}", run.stderr);
}
