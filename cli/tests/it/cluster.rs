//! A real cluster on loopback: one `dvt-scheduler` and two `dvt-executor` processes,
//! started on free ports by [`Cluster::start`] and killed when it drops. `dvt build
//! --compute cluster` of `examples/federated_pg_mysql` must give the same tables as the
//! local engine, with the executors (explicit ids) running the tasks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// The scheduler and executors of one test.
pub(crate) struct Cluster {
    children: Vec<Child>,
    /// The scheduler's `df://` address.
    pub(crate) url: String,
    /// Where the scheduler writes per-job event logs (which executor ran which task).
    pub(crate) events: PathBuf,
    /// The staging folder every process shares.
    pub(crate) staging: PathBuf,
    logs: PathBuf,
}

/// `n` distinct free ports: every listener stays open until all are taken, or the
/// system could hand out the same port twice.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// A binary of the workspace, next to `dvt` (built by `cargo nextest run --workspace`).
fn sibling_binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_dvt"))
        .parent()
        .expect("the dvt binary has a folder")
        .join(name);
    assert!(
        path.exists(),
        "`{}` is missing: build the workspace's binaries first (`cargo build --workspace --bins`, or run the tests with `cargo nextest run --workspace`)",
        path.display()
    );
    path
}

impl Cluster {
    /// Starts a scheduler and `executors` executors whose profiles are in `profiles_dir`,
    /// all staging under `work/staging`, and waits until every executor registered.
    pub(crate) fn start(work: &Path, profiles_dir: &Path, executors: usize) -> Cluster {
        Cluster::start_with(work, profiles_dir, executors, &ExecutorOptions::default())
    }

    /// [`Cluster::start`] with executors configured by `options` (see the end of the
    /// file).
    pub(crate) fn start_with(
        work: &Path,
        profiles_dir: &Path,
        executors: usize,
        options: &ExecutorOptions,
    ) -> Cluster {
        let logs = work.join("logs");
        let events = work.join("events");
        let staging = work.join("staging");
        for d in [&logs, &events, &staging] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let ports = free_ports(1 + 2 * executors);
        let port = ports[0];
        let mut cluster = Cluster {
            children: Vec::new(),
            url: format!("df://127.0.0.1:{port}"),
            events: events.clone(),
            staging: staging.clone(),
            logs: logs.clone(),
        };
        let log = |name: &str| std::fs::File::create(logs.join(name)).expect("log file");
        // Executors first: they wait for the scheduler (`--scheduler-wait-seconds`), as
        // pods starting in any order do.
        for i in 1..=executors {
            let mut command = Command::new(sibling_binary("dvt-executor"));
            command
                .args(["--scheduler-host", "127.0.0.1"])
                .args(["--scheduler-port", &port.to_string()])
                .args(["--bind-host", "127.0.0.1"])
                .args(["--bind-port", &ports[2 * i - 1].to_string()])
                .args(["--bind-grpc-port", &ports[2 * i].to_string()])
                .arg("--profiles-dir")
                .arg(profiles_dir)
                .arg("--work-dir")
                .arg(work.join(format!("work{i}")))
                .args(["--executor-id", &format!("exec-{i}")])
                // Short failure detection (production keeps Ballista's minutes; see
                // docs/cluster.md): a killed executor is presumed lost within seconds.
                .args(["--heartbeat-seconds", "1"])
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log(&format!("executor{i}.log")));
            options.apply(&mut command, &staging);
            let child = command.spawn().expect("dvt-executor starts");
            cluster.children.push(child);
        }
        let scheduler = Command::new(sibling_binary("dvt-scheduler"))
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--bind-port", &port.to_string()])
            .arg("--event-log-dir")
            .arg(&events)
            .args(["--executor-timeout-seconds", "8"])
            .args(["--expire-interval-seconds", "1"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log("scheduler.log"))
            .spawn()
            .expect("dvt-scheduler starts");
        cluster.children.push(scheduler);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(logs.join("scheduler.log")).unwrap_or_default();
            let registered = (1..=executors)
                .filter(|i| text.contains(&format!("id: \"exec-{i}\"")))
                .count();
            if registered == executors {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{registered} of {executors} executors registered within 60 s; logs in {}:\n{}",
                logs.display(),
                cluster.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// The ids of the executors that ran a task, from the scheduler's event logs.
    pub(crate) fn executors_that_ran_tasks(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for e in std::fs::read_dir(&self.events)
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if v["ev"] == "TaskEnd"
                    && let Some(id) = v["data"]["executor_id"].as_str()
                {
                    out.insert(id.to_owned());
                }
            }
        }
        out
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.logs)
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            out.push_str(&format!("== {}\n", e.path().display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Cluster {
    /// Kills executor `i` (1-based) with SIGKILL, as a lost node would vanish.
    pub(crate) fn kill_executor(&mut self, i: usize) {
        let child = &mut self.children[i - 1];
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The text the scheduler logged so far.
    pub(crate) fn scheduler_log(&self) -> String {
        std::fs::read_to_string(self.logs.join("scheduler.log")).unwrap_or_default()
    }

    /// The text executor `i` logged so far.
    pub(crate) fn executor_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.logs.join(format!("executor{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_builds_the_example_with_the_same_tables_as_local_mode() {
    let on_cluster = unique("dvt_it_cl");
    let local = unique("dvt_it_loc");
    let _cleanup = Cleanup::everywhere(&[&on_cluster, &local]);
    let work = tempfile::tempdir().expect("tempdir");
    let project = work.path().join("project");
    copy_tree(&repo_root().join("examples/federated_pg_mysql"), &project);
    let cluster = Cluster::start(work.path(), &project, 2);
    std::fs::write(
        project.join("computes.yml"),
        format!(
            "federated:\n  target: local\n  computes:\n    local: {{type: local, threads: 2}}\n    cluster: {{type: ballista, scheduler: \"{}\"}}\n",
            cluster.url
        ),
    )
    .expect("computes.yml");
    std::fs::write(
        project.join("buckets.yml"),
        format!(
            "federated:\n  target: shared\n  buckets:\n    shared: {{type: filesystem, path: \"{}\", shared: true}}\n    private: {{type: filesystem, path: .dvt/private}}\n",
            cluster.staging.display()
        ),
    )
    .expect("buckets.yml");
    let env = |schema: &str| {
        vec![
            ("DVT_PG_SCHEMA".to_owned(), schema.to_owned()),
            ("DVT_MYSQL_SCHEMA".to_owned(), schema.to_owned()),
        ]
    };
    let run = |args: &[&str], schema: &str| {
        let e = env(schema);
        let e: Vec<(&str, &str)> = e.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        dvt(&project, args, &e)
    };

    // `dvt debug` checks each compute and bucket: the scheduler answers with both
    // executors; an unreachable scheduler fails the check.
    let debug = run(&["debug"], &on_cluster);
    debug.assert_ok();
    for line in [
        "[OK]   compute local (local, default): 2 threads",
        "[OK]   compute cluster (ballista): ",
        ", 2 executors",
        "[OK]   bucket shared (filesystem, default, shared)",
    ] {
        assert!(debug.stdout.contains(line), "{line} in {}", debug.stdout);
    }
    let computes = std::fs::read_to_string(project.join("computes.yml")).expect("computes.yml");
    std::fs::write(
        project.join("computes.yml"),
        format!("{computes}    gone: {{type: ballista, scheduler: \"df://127.0.0.1:1\"}}\n"),
    )
    .expect("computes.yml");
    let debug = run(&["debug"], &on_cluster);
    assert_eq!(debug.code, 1, "{}", debug.stdout);
    assert!(
        debug
            .stdout
            .contains("[FAIL] compute gone (ballista): DVT300"),
        "{}",
        debug.stdout
    );
    std::fs::write(project.join("computes.yml"), &computes).expect("computes.yml");

    // A cluster refuses a bucket its executors cannot all reach.
    let refused = run(
        &["build", "--compute", "cluster", "--bucket", "private"],
        &on_cluster,
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("error[DVT124]"),
        "{}",
        refused.stderr
    );

    let built = run(&["build", "--compute", "cluster"], &on_cluster);
    built.assert_ok();
    assert!(
        built
            .stdout
            .contains("PASS=7 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=7"),
        "{}",
        built.stdout
    );
    run(&["build"], &local).assert_ok();
    let ran = cluster.executors_that_ran_tasks();
    assert!(
        !ran.is_empty() && ran.iter().all(|id| id.starts_with("exec-")),
        "tasks ran on {ran:?}"
    );

    let pg = pg().await;
    let mut maria = maria().await;
    for table in ["customer_orders", "raw_orders"] {
        let q = |s: &str| format!("select * from \"{s}\".\"{table}\"");
        let (a, b) = (
            pg_rows(&pg, &q(&on_cluster)).await,
            pg_rows(&pg, &q(&local)).await,
        );
        assert!(!a.is_empty(), "{table} is empty");
        assert_eq!(a, b, "{table} differs between the cluster and local mode");
    }
    let q = |s: &str| format!("select * from `{s}`.`orders_enriched_maria`");
    let a = maria_rows(&mut maria, &q(&on_cluster)).await;
    let b = maria_rows(&mut maria, &q(&local)).await;
    assert!(!a.is_empty());
    assert_eq!(
        a, b,
        "orders_enriched_maria differs between the cluster and local mode"
    );
}

/// The events of the scheduler's logs: (stage, task, executor) of every finished task.
fn task_ends(events: &Path) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(events).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["ev"] != "TaskEnd" {
                continue;
            }
            let d = &v["data"];
            if let (Some(stage), Some(partition), Some(executor)) = (
                d["stage_id"].as_u64(),
                d["task_id"].as_u64(),
                d["executor_id"].as_str(),
            ) {
                out.push((stage, partition, executor.to_owned()));
            }
        }
    }
    out
}

/// A project `big` copying the PostgreSQL source table `src.events` (`rows` rows of
/// `id`, `md5(id)`) into the model `dst.copied` on another target, so the model is
/// federated; `source_config` is the source's `config:` (YAML flow mapping). Returns the
/// project folder ([`Cluster::configure`] points it at a cluster).
async fn big_source_project(
    pg: &tokio_postgres::Client,
    work: &Path,
    src: &str,
    dst: &str,
    rows: u64,
    source_config: &str,
) -> PathBuf {
    pg.batch_execute(&format!(
        "create schema \"{src}\"; \
         create table \"{src}\".events as select g as id, md5(g::text) as note \
           from generate_series(1, {rows}) g;"
    ))
    .await
    .expect("source table");
    let project = work.join("project");
    let profile = format!(
        "big:\n  target: src\n  outputs:\n    src: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {src}}}\n    dst: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {dst}}}\n"
    );
    write_project(
        &project,
        &[
            (
                "dbt_project.yml",
                "name: big\nprofile: big\nmodels:\n  big:\n    +materialized: table\n",
            ),
            ("profiles.yml", &profile),
            (
                "models/sources.yml",
                &format!(
                    "version: 2\nsources:\n  - name: raw\n    schema: {src}\n    connection: src\n    config: {source_config}\n    tables:\n      - name: events\n"
                ),
            ),
            (
                "models/copied.sql",
                "{{ config(target='dst') }}\nselect id, note from {{ source('raw', 'events') }}\n",
            ),
        ],
    );
    project
}

impl Cluster {
    /// Points `project`'s profile `profile` at this cluster (compute `cluster`) and its
    /// shared staging folder (bucket `shared`, the default).
    pub(crate) fn configure(&self, project: &Path, profile: &str) {
        std::fs::write(
            project.join("computes.yml"),
            format!(
                "{profile}:\n  computes:\n    cluster: {{type: ballista, scheduler: \"{}\"}}\n",
                self.url
            ),
        )
        .expect("computes.yml");
        std::fs::write(
            project.join("buckets.yml"),
            format!(
                "{profile}:\n  target: shared\n  buckets:\n    shared: {{type: filesystem, path: \"{}\", shared: true}}\n",
                self.staging.display()
            ),
        )
        .expect("buckets.yml");
    }
}

/// The rows of `dst.copied`: count, distinct ids, sum of ids, notes equal to `md5(id)`.
async fn copied_summary(pg: &tokio_postgres::Client, dst: &str) -> Vec<Vec<String>> {
    pg_rows(
        pg,
        &format!(
            "select count(*)::text, count(distinct id)::text, sum(id)::text, \
             count(*) filter (where note = md5(id::text))::text from \"{dst}\".copied"
        ),
    )
    .await
}

/// The tables of `schema`, by name.
async fn tables_of(pg: &tokio_postgres::Client, schema: &str) -> Vec<Vec<String>> {
    pg_rows(
        pg,
        &format!(
            "select table_name::text from information_schema.tables where table_schema = '{schema}' order by 1"
        ),
    )
    .await
}

/// The summary [`copied_summary`] gives for ids `1..=n`.
fn expected_summary(n: u64) -> Vec<Vec<String>> {
    let (n_text, sum) = (n.to_string(), (n * (n + 1) / 2).to_string());
    vec![
        [
            n_text.as_str(),
            n_text.as_str(),
            sum.as_str(),
            n_text.as_str(),
        ]
        .map(|v| normalise(Some(v)))
        .to_vec(),
    ]
}

/// A 1M-row PostgreSQL source is split into ranges (`ctid` pages), the ranges are
/// extracted by both executors, and every source row lands in the destination once.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_splits_a_large_source_across_both_executors_exactly_once() {
    let src = unique("dvt_it_big");
    let dst = unique("dvt_it_bigdst");
    let _cleanup = Cleanup {
        pg_schemas: vec![src.clone(), dst.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    let work = tempfile::tempdir().expect("tempdir");
    // No partitioning config: the default splits by `ctid` pages.
    let project = big_source_project(&pg, work.path(), &src, &dst, 1_000_000, "{}").await;
    let cluster = Cluster::start(work.path(), &project, 2);
    cluster.configure(&project, "big");
    let built = dvt(&project, &["run", "--compute", "cluster"], &[]);
    built.assert_ok();
    assert_eq!(copied_summary(&pg, &dst).await, expected_summary(1_000_000));
    // The executors loaded their partitions into staging tables of their own; the client
    // swapped in the model and dropped every one of them.
    assert_eq!(tables_of(&pg, &dst).await, vec![vec!["copied".to_owned()]]);
    // The scan's stage is the one with a task per range (DVT asks for one partition per
    // task): several ranges, and both executors ran some of them.
    let ends = task_ends(&cluster.events);
    let mut by_stage: std::collections::BTreeMap<u64, Vec<(u64, String)>> = Default::default();
    for (stage, partition, executor) in ends {
        by_stage
            .entry(stage)
            .or_default()
            .push((partition, executor));
    }
    let (stage, tasks) = by_stage
        .iter()
        .max_by_key(|(_, t)| t.len())
        .expect("tasks ran");
    let partitions: std::collections::BTreeSet<u64> = tasks.iter().map(|(p, _)| *p).collect();
    let executors: std::collections::BTreeSet<&str> =
        tasks.iter().map(|(_, e)| e.as_str()).collect();
    assert!(
        partitions.len() >= 3,
        "stage {stage} ran {} tasks: {tasks:?}",
        partitions.len()
    );
    assert_eq!(
        executors,
        ["exec-1", "exec-2"].into_iter().collect(),
        "stage {stage}: {tasks:?}"
    );
}

// Executors staging somewhere other than the shared folder (S3 tests in `s3.rs`).

/// How [`Cluster::start_with`] configures its executors: by default they stage into the
/// cluster's shared folder (`--staging-dir`).
#[derive(Debug, Default)]
pub(crate) struct ExecutorOptions {
    /// `--bucket`: a bucket of `buckets.yml` in the profiles folder, instead of the folder.
    pub(crate) bucket: Option<String>,
    /// Extra environment, e.g. the variables `buckets.yml` reads credentials from.
    pub(crate) env: Vec<(String, String)>,
}

impl ExecutorOptions {
    fn apply(&self, command: &mut Command, staging: &Path) {
        match &self.bucket {
            Some(bucket) => command.args(["--bucket", bucket]),
            None => command.arg("--staging-dir").arg(staging),
        };
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
    }
}

impl Cluster {
    /// Everything the processes logged so far, one file after the other.
    pub(crate) fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.logs)
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        out
    }
}

/// kill -9 of one executor while it extracts: its tasks run again on the other executor,
/// the model has every source row exactly once, and neither a staging table nor a staged
/// part is left behind.
#[tokio::test(flavor = "multi_thread")]
async fn an_executor_killed_during_extraction_loses_no_row_and_doubles_none() {
    let src = unique("dvt_it_k9");
    let dst = unique("dvt_it_k9dst");
    let _cleanup = Cleanup {
        pg_schemas: vec![src.clone(), dst.clone()],
        maria_dbs: vec![],
    };
    let pg = pg().await;
    let work = tempfile::tempdir().expect("tempdir");
    let project =
        big_source_project(&pg, work.path(), &src, &dst, 2_000_000, "{partitions: 16}").await;
    let mut cluster = Cluster::start(work.path(), &project, 2);
    cluster.configure(&project, "big");
    let dir = project.clone();
    let run = std::thread::spawn(move || dvt(&dir, &["run", "--compute", "cluster"], &[]));
    // Kill exec-2 as soon as it has started a task of the job.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cluster.executor_log(2).contains("Execute task") {
        assert!(
            Instant::now() < deadline && !run.is_finished(),
            "exec-2 never started a task:\n{}",
            cluster.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.kill_executor(2);
    let run = run.join().expect("the dvt run thread");
    run.assert_ok();

    assert_eq!(copied_summary(&pg, &dst).await, expected_summary(2_000_000));
    assert_eq!(tables_of(&pg, &dst).await, vec![vec!["copied".to_owned()]]);
    // The run's staged parts are gone with the successful run.
    let left: Vec<_> = std::fs::read_dir(&cluster.staging)
        .expect("staging folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "staged parts left: {left:?}");
    // The scheduler noticed the loss (by the missed heartbeats, or when it next failed
    // to hand exec-2 a task: which comes first is timing), and the tasks the lost
    // executor held ran again on the other one.
    let log = cluster.scheduler_log();
    assert!(
        log.contains("executor exec-2 heartbeat timed out")
            || log.contains("Removing executor exec-2"),
        "{}",
        cluster.log_tail()
    );
    let ends = task_ends(&cluster.events);
    assert!(
        ends.iter().any(|(_, _, e)| e == "exec-1"),
        "exec-1 ran no task: {ends:?}"
    );
}

/// The embedded example (two SQLite files) on the cluster: the executors extract from the
/// files (their profiles are the project's), the client loads its SQLite destination, and
/// the tables equal local mode's.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_builds_the_demo_with_the_same_tables_as_local_mode() {
    let work = tempfile::tempdir().expect("tempdir");
    let on_cluster = work.path().join("cluster");
    let local = work.path().join("local");
    for dir in [&on_cluster, &local] {
        copy_tree(&repo_root().join("examples/demo"), dir);
    }
    let cluster = Cluster::start(work.path(), &on_cluster, 2);
    cluster.configure(&on_cluster, "demo");
    let built = dvt(&on_cluster, &["build", "--compute", "cluster"], &[]);
    built.assert_ok();
    dvt(&local, &["build"], &[]).assert_ok();
    assert!(
        cluster
            .executors_that_ran_tasks()
            .iter()
            .any(|e| e.starts_with("exec-")),
        "no executor ran a task"
    );
    for table in ["customer_revenue", "revenue_by_country"] {
        let q = format!("select * from {table}");
        let a = sqlite_rows(&on_cluster.join("data/warehouse.db"), &q);
        let b = sqlite_rows(&local.join("data/warehouse.db"), &q);
        assert!(!a.is_empty(), "{table} is empty");
        assert_eq!(a, b, "{table} differs between the cluster and local mode");
    }
}
