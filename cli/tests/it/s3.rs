//! S3 staging buckets against a real S3 protocol peer: moto's server (PyPI
//! `moto[server]`), started per test on a port of its choosing by [`Moto::start`] and
//! killed when it drops. `bash .ci/moto-venv` (run by `.ci/run`) installs it.
//!
//! A build through an S3 bucket gives the tables a build through the default folder
//! gives, locally and on a cluster, and leaves the bucket empty; a failed build leaves
//! its objects and names them; the secret key never reaches an artifact, a log or the
//! output.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dvt_core::compute::{BucketConfig, BucketKind};
use dvt_core::secret::Secret;
use dvt_executor::staging::Staging;
use object_store::ObjectStoreExt;

use crate::cluster::{Cluster, ExecutorOptions};
use crate::common::*;

const MOTO_HINT: &str = "the S3 tests need moto's server (PyPI `moto[server]`): run `bash .ci/moto-venv`, which installs it into ~/.cache/dvt/moto-venv and prints the path of `moto_server`, or point DVT_TEST_MOTO_SERVER at a `moto_server` binary";

/// `moto_server`: `$DVT_TEST_MOTO_SERVER`, else where `.ci/moto-venv` installs it.
fn moto_binary() -> PathBuf {
    let path = match std::env::var_os("DVT_TEST_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/dvt/moto-venv/bin/moto_server")
        }
    };
    assert!(
        path.is_file(),
        "`{}` does not exist: {MOTO_HINT}",
        path.display()
    );
    path
}

/// A moto server on loopback, killed on drop.
struct Moto {
    child: Child,
    /// `127.0.0.1:<port>`.
    address: String,
    log: PathBuf,
}

impl Moto {
    /// Starts moto on a port it chooses (`-p 0`; it logs the one it bound), logging into
    /// `dir/moto.log`, and waits until it answers.
    fn start(dir: &Path) -> Moto {
        let log = dir.join("moto.log");
        let file = std::fs::File::create(&log).expect("moto log");
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("moto_server does not start ({e}): {MOTO_HINT}"));
        let mut moto = Moto {
            child,
            address: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&moto.log).unwrap_or_default();
            if let Some(rest) = text.split("Running on http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                moto.address = format!("127.0.0.1:{port}");
                if moto.http("GET", "/").0 == 200 {
                    return moto;
                }
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited ({status}): {text}\n{MOTO_HINT}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 60 s: {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`.
    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// One plain HTTP/1.0 request (moto needs no signature): status and body.
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        let Ok(mut stream) = std::net::TcpStream::connect(&self.address) else {
            return (0, String::new());
        };
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.address
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Creates a bucket with a name no other test uses.
    fn create_bucket(&self) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("dvt-it-{}", &id[..12]);
        let (status, body) = self.http("PUT", &format!("/{name}"));
        assert_eq!(status, 200, "creating bucket {name}: {body}");
        name
    }

    /// Every key in `bucket`, read by moto itself rather than through DVT.
    fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.http("GET", &format!("/{bucket}?list-type=2&max-keys=1000"));
        assert_eq!(status, 200, "listing {bucket}: {body}");
        assert!(!body.contains("<IsTruncated>true"), "{body}");
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_owned()))
            .collect();
        keys.sort();
        keys
    }

    /// The requests moto logged.
    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Access key and secret key given to DVT only through these variables.
const KEY_VAR: &str = "DVT_TEST_S3_KEY";
const SECRET_VAR: &str = "DVT_TEST_S3_SECRET";
const PREFIX: &str = "staging/dvt";

/// A secret key value no other text contains by chance.
fn secret_value() -> String {
    format!("s3cr3t-{}", uuid::Uuid::new_v4().simple())
}

/// `buckets.yml` of the example's profile: `s3name` on moto, credentials through
/// `env_var()`.
fn buckets_yml(moto: &Moto, bucket: &str) -> String {
    format!(
        "federated:\n  buckets:\n    s3name:\n      type: s3\n      bucket: {bucket}\n      prefix: {PREFIX}\n      endpoint: \"{}\"\n      region: us-east-1\n      access_key_id: \"{{{{ env_var('{KEY_VAR}') }}}}\"\n      secret_access_key: \"{{{{ env_var('{SECRET_VAR}') }}}}\"\n",
        moto.endpoint()
    )
}

/// The example project in `work/project`, with `buckets.yml`.
fn example(work: &Path, moto: &Moto, bucket: &str) -> PathBuf {
    let project = work.join("project");
    copy_tree(&repo_root().join("examples/federated_pg_mysql"), &project);
    std::fs::write(project.join("buckets.yml"), buckets_yml(moto, bucket)).expect("buckets.yml");
    project
}

/// Runs `dvt` in the example with both targets' schemas set to `schema` and the S3
/// credentials in the environment.
fn run_example(project: &Path, args: &[&str], schema: &str, secret: &str) -> Run {
    dvt(
        project,
        args,
        &[
            ("DVT_PG_SCHEMA", schema),
            ("DVT_MYSQL_SCHEMA", schema),
            (KEY_VAR, "dvt-test-key"),
            (SECRET_VAR, secret),
        ],
    )
}

/// The example's tables in schema `a` equal those in schema `b`, and are not empty.
async fn same_tables(a: &str, b: &str) {
    let pg = pg().await;
    let mut maria = maria().await;
    for table in ["customer_orders", "raw_orders"] {
        let q = |s: &str| format!("select * from \"{s}\".\"{table}\"");
        let (x, y) = (pg_rows(&pg, &q(a)).await, pg_rows(&pg, &q(b)).await);
        assert!(!x.is_empty(), "{table} is empty");
        assert_eq!(x, y, "{table} differs between the S3 bucket and the folder");
    }
    let q = |s: &str| format!("select * from `{s}`.`orders_enriched_maria`");
    let x = maria_rows(&mut maria, &q(a)).await;
    let y = maria_rows(&mut maria, &q(b)).await;
    assert!(!x.is_empty(), "orders_enriched_maria is empty");
    assert_eq!(
        x, y,
        "orders_enriched_maria differs between the S3 bucket and the folder"
    );
}

/// No file under `dir` (artifacts, journals, logs, staged files) and no output holds
/// `secret`.
fn assert_secret_absent(dir: &Path, outputs: &[&Run], secret: &str) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("target/run_results.json"))
            && files.iter().any(|f| f.ends_with("target/manifest.json")),
        "the artifacts to check are missing: {files:?}"
    );
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "the S3 secret key is in {}",
            f.display()
        );
    }
    for run in outputs {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the S3 secret key was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_bucket_builds_the_example_like_the_default_bucket_and_ends_empty() {
    let on_s3 = unique("dvt_it_s3");
    let local = unique("dvt_it_s3loc");
    let _cleanup = Cleanup::everywhere(&[&on_s3, &local]);
    let work = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start(work.path());
    let bucket = moto.create_bucket();
    let project = example(work.path(), &moto, &bucket);
    let secret = secret_value();

    let debug = run_example(&project, &["debug"], &on_s3, &secret);
    let line = format!("[OK]   bucket s3name (s3): s3://{bucket}/{PREFIX} writable");
    assert!(debug.stdout.contains(&line), "{line} in {}", debug.stdout);

    let built = run_example(&project, &["build", "--bucket", "s3name"], &on_s3, &secret);
    built.assert_ok();
    assert!(
        built
            .stdout
            .contains("PASS=7 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=7"),
        "{}",
        built.stdout
    );
    // The extracts went through moto, under the bucket's prefix.
    assert!(
        moto.requests()
            .contains(&format!("\"PUT /{bucket}/{PREFIX}/")),
        "no extract was written to the bucket:\n{}",
        moto.requests()
    );
    assert_eq!(
        moto.keys(&bucket),
        Vec::<String>::new(),
        "a successful run left objects"
    );
    let folder = run_example(&project, &["build"], &local, &secret);
    folder.assert_ok();
    same_tables(&on_s3, &local).await;
    assert_secret_absent(work.path(), &[&debug, &built, &folder], &secret);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_keeps_its_s3_objects_and_names_them() {
    let schema = unique("dvt_it_s3f");
    let _cleanup = Cleanup::everywhere(&[&schema]);
    let work = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start(work.path());
    let bucket = moto.create_bucket();
    let project = example(work.path(), &moto, &bucket);
    // Fails in the engine, after both inputs were extracted: names are not numbers.
    std::fs::write(
        project.join("models/broken.sql"),
        "select cast(c.name as int) as n, o.amount from {{ ref('raw_customers') }} as c join {{ ref('raw_orders') }} as o on o.customer_id = c.id",
    )
    .expect("model");
    let secret = secret_value();
    let run = run_example(&project, &["build", "--bucket", "s3name"], &schema, &secret);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        statuses(&project)["model.federated_pg_mysql.broken"],
        "error"
    );
    let keys = moto.keys(&bucket);
    assert!(
        keys.iter().any(|k| k.contains(".raw_customers/")),
        "the failed model's extracts are gone: {keys:?}"
    );
    let prefix = keys[0].split('/').take(3).collect::<Vec<_>>().join("/");
    assert!(
        prefix.starts_with(&format!("{PREFIX}/")) && keys.iter().all(|k| k.starts_with(&prefix)),
        "objects of one run under {PREFIX}: {keys:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "warning[DVT005]: the run failed, so its {} staged objects stay in `s3://{bucket}/{prefix}/`",
            keys.len()
        )),
        "{}",
        run.stderr
    );
    for k in &keys {
        let named = format!("\n  s3://{bucket}/{k}\n");
        assert!(run.stderr.contains(&named), "{named} in {}", run.stderr);
    }
    assert_secret_absent(work.path(), &[&run], &secret);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_stages_in_s3_with_the_tables_of_local_mode() {
    let on_cluster = unique("dvt_it_s3cl");
    let local = unique("dvt_it_s3cloc");
    let _cleanup = Cleanup::everywhere(&[&on_cluster, &local]);
    let work = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start(work.path());
    let bucket = moto.create_bucket();
    let project = example(work.path(), &moto, &bucket);
    let secret = secret_value();
    // Executors resolve `s3name` from the same buckets.yml, with credentials from their
    // own environment.
    let options = ExecutorOptions {
        bucket: Some("s3name".into()),
        env: vec![
            (KEY_VAR.into(), "dvt-test-key".into()),
            (SECRET_VAR.into(), secret.clone()),
        ],
    };
    let cluster = Cluster::start_with(work.path(), &project, 2, &options);
    std::fs::write(
        project.join("computes.yml"),
        format!(
            "federated:\n  computes:\n    cluster: {{type: ballista, scheduler: \"{}\"}}\n",
            cluster.url
        ),
    )
    .expect("computes.yml");
    let built = run_example(
        &project,
        &["build", "--compute", "cluster", "--bucket", "s3name"],
        &on_cluster,
        &secret,
    );
    built.assert_ok();
    assert!(
        built
            .stdout
            .contains("PASS=7 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=7"),
        "{}",
        built.stdout
    );
    let ran = cluster.executors_that_ran_tasks();
    assert!(
        !ran.is_empty() && ran.iter().all(|id| id.starts_with("exec-")),
        "tasks ran on {ran:?}"
    );
    let logs = cluster.logs();
    assert!(
        logs.contains(&format!("s3://{bucket}/{PREFIX}")),
        "the executors do not stage in the bucket:\n{logs}"
    );
    assert!(
        moto.requests()
            .contains(&format!("\"PUT /{bucket}/{PREFIX}/")),
        "no extract was written to the bucket"
    );
    assert_eq!(
        moto.keys(&bucket),
        Vec::<String>::new(),
        "a successful run left objects"
    );
    let folder = run_example(&project, &["build"], &local, &secret);
    folder.assert_ok();
    same_tables(&on_cluster, &local).await;
    drop(cluster);
    assert_secret_absent(work.path(), &[&built, &folder], &secret);
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_run_deletes_one_runs_objects_and_no_other() {
    let work = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start(work.path());
    let bucket = moto.create_bucket();
    let staging = Staging::from_bucket(&BucketConfig {
        name: "s3name".into(),
        shared: true,
        kind: BucketKind::S3 {
            bucket: bucket.clone(),
            prefix: PREFIX.into(),
            endpoint: Some(moto.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some(Secret::new("dvt-test-key")),
            secret_access_key: Some(Secret::new(secret_value())),
            session_token: None,
            allow_http: true,
            path_style: true,
        },
        location: None,
    })
    .expect("an S3 staging bucket");
    let store = staging.store();
    // `run-a-2` shares `run-a`'s first characters but is another run.
    for key in [
        "run-a/pg.s.t/part-0-1.parquet",
        "run-a/pg.s.u/part-0-2.parquet",
        "run-a-2/pg.s.t/part-0-1.parquet",
        "run-b/pg.s.t/part-0-1.parquet",
    ] {
        store
            .put(&key.into(), "x".into())
            .await
            .expect("put into moto");
    }
    assert_eq!(staging.run_objects("run-a").await.expect("list").len(), 2);
    staging.remove_run("run-a").await.expect("remove run-a");
    assert_eq!(
        moto.keys(&bucket),
        [
            format!("{PREFIX}/run-a-2/pg.s.t/part-0-1.parquet"),
            format!("{PREFIX}/run-b/pg.s.t/part-0-1.parquet"),
        ]
    );
    // Removing a run that staged nothing is not an error.
    staging.remove_run("run-a").await.expect("remove again");
    assert_eq!(
        staging.run_location("run-b"),
        format!("s3://{bucket}/{PREFIX}/run-b/")
    );
}
