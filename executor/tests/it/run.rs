//! The run loop as a library: a panicking runner fails its node only, cancelling stops
//! the run, and `run_results.json` is written either way.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dvt_core::manifest::{LoadOptions, Manifest, Node};
use dvt_core::profile::ProfileLookup;
use dvt_executor::run::{
    LocalRunners, NodeOutcome, NodeReporter, NodeRunner, RunContext, RunEvent, RunKind, RunOptions,
    RunnerSelector, execute,
};
use tokio_util::sync::CancellationToken;

/// Panics on `boom`, never finishes `slow`, runs everything else for real.
#[derive(Debug)]
struct Faulty;

#[derive(Debug)]
struct Panics;

#[async_trait]
impl NodeRunner for Panics {
    async fn run(
        &self,
        _: &RunContext,
        node: &Node,
        _: &NodeReporter,
    ) -> dvt_executor::Result<NodeOutcome> {
        panic!("runner bug in {}", node.name);
    }
}

#[derive(Debug)]
struct Hangs;

#[async_trait]
impl NodeRunner for Hangs {
    async fn run(
        &self,
        _: &RunContext,
        _: &Node,
        _: &NodeReporter,
    ) -> dvt_executor::Result<NodeOutcome> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(NodeOutcome::default())
    }
}

impl RunnerSelector for Faulty {
    fn runner_for<'a>(&'a self, node: &Node) -> &'a dyn NodeRunner {
        match node.name.as_str() {
            "boom" => &Panics,
            "slow" => &Hangs,
            _ => LocalRunners.runner_for(node),
        }
    }
}

fn project(dir: &std::path::Path) -> Manifest {
    let files = [
        ("dbt_project.yml", "name: p\nprofile: p\n"),
        (
            "profiles.yml",
            "p:\n  target: main\n  outputs:\n    main: {type: sqlite, path: data/main.db}\n",
        ),
        ("models/boom.sql", "select 1 as id"),
        ("models/after_boom.sql", "select * from {{ ref('boom') }}"),
        ("models/fine.sql", "select 2 as id"),
        ("models/slow.sql", "select 3 as id"),
    ];
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    Manifest::load(&LoadOptions {
        project_dir: dir.to_path_buf(),
        profiles: ProfileLookup::default(),
        ..LoadOptions::default()
    })
    .expect("project loads")
}

fn context(dir: &std::path::Path) -> Arc<RunContext> {
    let mut ctx = RunContext::new(project(dir), "inv-1".into()).expect("context");
    ctx.runners = Arc::new(Faulty);
    Arc::new(ctx)
}

fn status_of(summary: &dvt_executor::run::RunSummary, name: &str) -> (String, String) {
    let r = summary
        .results
        .iter()
        .find(|r| r.unique_id == format!("model.p.{name}"))
        .unwrap_or_else(|| panic!("{name} has a result"));
    (
        format!("{:?}", r.status),
        r.message.clone().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_runner_fails_its_node_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(dir.path());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut opts = RunOptions::new(RunKind::Run);
    opts.exclude = vec!["slow".into()];
    opts.threads = Some(2);
    let summary = execute(Arc::clone(&ctx), &opts, tx, CancellationToken::new())
        .await
        .expect("the run completes");
    let (status, message) = status_of(&summary, "boom");
    assert_eq!(status, "Error");
    assert!(
        message.starts_with("DVT399") && message.contains("runner bug in boom"),
        "{message}"
    );
    assert_eq!(status_of(&summary, "after_boom").0, "Skipped");
    assert_eq!(status_of(&summary, "fine").0, "Success");
    assert_eq!((summary.pass, summary.error, summary.skip), (1, 1, 1));
    let written = std::fs::read_to_string(dir.path().join("target/run_results.json"))
        .expect("run_results.json written");
    assert!(written.contains("runner bug in boom"), "{written}");
    // The event stream ends with the summary.
    let mut last = None;
    while let Some(e) = rx.recv().await {
        last = Some(e);
    }
    assert!(
        matches!(last, Some(RunEvent::RunFinished { .. })),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_stops_the_run_and_still_writes_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(dir.path());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut opts = RunOptions::new(RunKind::Run);
    opts.select = vec!["slow".into(), "fine".into()];
    opts.threads = Some(1);
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.cancel();
    });
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        execute(Arc::clone(&ctx), &opts, tx, cancel),
    )
    .await
    .expect("cancel ends the run promptly")
    .expect("the run completes");
    assert!(summary.cancelled);
    // One thread: `fine` sorts first and runs; `slow` is aborted.
    assert_eq!(status_of(&summary, "fine").0, "Success");
    let (status, message) = status_of(&summary, "slow");
    assert_eq!(status, "Error");
    assert!(message.starts_with("DVT308"), "{message}");
    assert!(dir.path().join("target/run_results.json").is_file());
}
