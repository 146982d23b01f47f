//! A federated model of `examples/federated_pg_mysql`, loaded and compiled by dvt-core,
//! computed through Ballista's standalone mode with DVT's codecs, gives the same rows
//! as the in-process DataFusion path.

use std::path::Path;
use std::sync::Arc;

use dvt_core::manifest::{LoadOptions, Manifest, ResourceType};
use dvt_core::profile::{ProfileLookup, parse_cli_vars};
use dvt_core::resolve::ExecPath;
use dvt_core::seed::load_seed;
use dvt_executor::federation::{Compute, FederatedQuery, FederationEngine};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::staging::Staging;

const RUN: &str = "it-run";

const SERVERS_HINT: &str = "this test needs PostgreSQL on 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306; start them with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` and `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`";

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/federated_pg_mysql")
}

fn sorted_lines(batches: &[arrow::record_batch::RecordBatch]) -> Vec<String> {
    let text = arrow::util::pretty::pretty_format_batches(batches)
        .expect("format")
        .to_string();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_federated_models_give_the_same_rows_on_ballista_and_locally() {
    let schema = format!(
        "dvt_it_xc_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    // The example's profiles.yml takes its schemas from env vars. Tests in one process
    // share the environment, so a copy of the example gets its own schema written in.
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&example(), dir.path());
    let profiles = std::fs::read_to_string(dir.path().join("profiles.yml")).expect("profiles");
    std::fs::write(
        dir.path().join("profiles.yml"),
        profiles.replace("'dvt_example'", &format!("'{schema}'")),
    )
    .expect("write");

    let m = Manifest::load(&LoadOptions {
        project_dir: dir.path().to_path_buf(),
        profiles: ProfileLookup::default(),
        target: None,
        vars: parse_cli_vars("").expect("vars"),
    })
    .expect("example loads");
    let registry = Arc::new(TargetRegistry::new(m.profile.outputs.clone()));

    let result = async {
        for n in m
            .nodes
            .values()
            .filter(|n| n.resource_type == ResourceType::Seed)
        {
            let adapter = registry.adapter(&n.target).await.expect(SERVERS_HINT);
            dvt_executor::adapter::replace::ensure_schema(&*adapter, &n.relation.schema)
                .await
                .expect("schema");
            let data = load_seed(
                &m.path(&n.original_file_path),
                &n.original_file_path,
                &n.seed_options(),
            )
            .expect("seed parses");
            let types = dvt_executor::adapter::TableDdl::columns(
                dvt_executor::seed::seed_column_types(&data),
            );
            let stream = dvt_executor::seed::seed_stream(&data).expect("seed stream");
            adapter
                .replace_table_from_stream(&n.relation, stream, &types, RUN)
                .await
                .expect("seed loads");
        }
        let staging =
            |sub: &str| Staging::local(dir.path().join(".dvt").join(sub)).expect("staging");
        let local = FederationEngine::new(Arc::clone(&registry), staging("local"), Compute::Local);
        let ballista = FederationEngine::new(
            Arc::clone(&registry),
            staging("ballista"),
            Compute::BallistaStandalone,
        );
        let mut compared = 0;
        for (id, n) in &m.nodes {
            if n.path != ExecPath::Federated {
                continue;
            }
            let q = FederatedQuery::from(&m.compile(id).expect("compiles"));
            let a = local.collect("r1", &q, None).await.expect("local run");
            let b = ballista
                .collect("r2", &q, None)
                .await
                .expect("ballista run");
            let (a, b) = (sorted_lines(&a), sorted_lines(&b));
            assert!(!a.is_empty(), "{id} returned no rows");
            assert_eq!(a, b, "{id}: Ballista and local DataFusion disagree");
            compared += 1;
        }
        assert_eq!(compared, 2, "the example has two federated models");
    };
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    for target in ["pg", "maria"] {
        if let Ok(a) = registry.adapter(target).await {
            let sql = match target {
                "pg" => format!("drop schema if exists \"{schema}\" cascade"),
                _ => format!("drop database if exists `{schema}`"),
            };
            let _ = a.execute(&sql).await;
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read example") {
        let e = e.expect("entry");
        let p = e.path();
        let name = e.file_name();
        if ["target", ".dvt", "data"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        if p.is_dir() {
            copy(&p, &to.join(&name));
        } else {
            std::fs::copy(&p, to.join(&name)).expect("copy");
        }
    }
}
