//! The run loop `dvt run`, `dvt seed` and `dvt build` share with the scheduler: dbt's DAG
//! walk (order through unbuilt nodes, `--threads`, skip-on-failure, `--fail-fast`,
//! cancel), one runner per node, progress as a stream of [`RunEvent`](crate::run::RunEvent)s and the artifacts
//! every run writes.
//!
//! ```text
//! RunContext (manifest, targets, engine) ──> execute(options, events, cancel) ──> RunSummary
//!                                              │ per node: runner_for(node).run(..)
//!                                              └ events: RunStarted, NodeStarted, NodeLog,
//!                                                        NodeFinished, RunFinished
//! ```

use serde::Serialize;
use serde_json::Value as Json;

mod artifacts;
mod clone;
mod context;
mod dag;
mod function;
mod incremental;
mod journal;
mod runner;
mod snapshot;

pub use artifacts::{write_compiled, write_json_atomic, write_manifest, write_semantic_manifest};
pub use context::{BuildFlags, EngineKey, RunContext, path_label};
pub use dag::execute;
pub use journal::{Collected, Journal, collect_garbage};
pub use runner::{
    LocalRunners, NodeOutcome, NodeReporter, NodeRunner, RunnerSelector, TestOutcome, runner_for,
};

/// Which resource types a command builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// `dvt run`: models.
    #[default]
    Run,
    /// `dvt seed`: seeds.
    Seed,
    /// `dvt test`: data tests.
    Test,
    /// `dvt snapshot`: snapshots.
    Snapshot,
    /// `dvt build`: seeds, functions, models, snapshots and tests.
    Build,
    /// `dvt clone`: views of the state's models, seeds and snapshots.
    Clone,
}

impl RunKind {
    /// The command's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Seed => "seed",
            RunKind::Test => "test",
            RunKind::Snapshot => "snapshot",
            RunKind::Build => "build",
            RunKind::Clone => "clone",
        }
    }

    /// The command named `name` (as `run_results.json` records it).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            RunKind::Run,
            RunKind::Seed,
            RunKind::Test,
            RunKind::Snapshot,
            RunKind::Build,
            RunKind::Clone,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// What to run and how: plain data, so the CLI's flags and a scheduler's API request both
/// convert into it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// The command.
    pub kind: RunKind,
    /// `--select`.
    pub select: Vec<String>,
    /// `--exclude`.
    pub exclude: Vec<String>,
    /// `--selector`: a selection named in `selectors.yml`.
    pub selector: Option<String>,
    /// `--indirect-selection`.
    pub indirect_selection: dvt_core::select::Indirect,
    /// `--threads` (else the default target's `threads`, else 1).
    pub threads: Option<usize>,
    /// `--fail-fast`: stop starting nodes after the first failure.
    pub fail_fast: bool,
    /// `--full-refresh`.
    pub full_refresh: bool,
    /// `--keep-staging`: keep the run's staged extracts when it succeeds too (a failed
    /// run keeps them anyway, for inspection).
    pub keep_staging: bool,
    /// `--target`, as given (recorded in `run_results.json`).
    pub target: Option<String>,
    /// Only these of the selected nodes run (`dvt retry`: what failed or was skipped).
    pub only: Option<std::collections::BTreeSet<String>>,
    /// More flags to record in `run_results.json`'s `args` (`--compute`, `--bucket`,
    /// the event-time window), so `dvt retry` can repeat them.
    pub recorded: serde_json::Map<String, Json>,
}

impl RunOptions {
    /// Options for `kind` with everything else at its default.
    pub fn new(kind: RunKind) -> Self {
        RunOptions {
            kind,
            ..RunOptions::default()
        }
    }

    /// The selection flags.
    pub fn criteria(&self) -> dvt_core::select::Criteria {
        dvt_core::select::Criteria {
            select: self.select.clone(),
            exclude: self.exclude.clone(),
            selector: self.selector.clone(),
            indirect: self.indirect_selection,
        }
    }

    /// The `args` block of `run_results.json`.
    pub(crate) fn args_json(&self, threads: usize) -> Json {
        let mut args = serde_json::json!({
            "which": self.kind.as_str(),
            "select": self.select,
            "exclude": self.exclude,
            "selector": self.selector,
            "indirect_selection": self.indirect_selection.as_str(),
            "target": self.target,
            "threads": threads,
            "full_refresh": self.full_refresh,
            "fail_fast": self.fail_fast,
        });
        if let Json::Object(m) = &mut args {
            m.extend(self.recorded.clone());
        }
        args
    }
}

/// What a progress line needs to know about a node, so a consumer (the CLI, the
/// scheduler's store) never needs the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// `model.pkg.name`.
    pub unique_id: String,
    /// The node's name.
    pub name: String,
    /// `model`, `seed`.
    pub resource_type: String,
    /// dbt's wording: `table model`, `view model`, `seed file`.
    pub description: String,
    /// `pushdown`, `pushdown (non-default target)`, `federated`, `seed`.
    pub path: String,
    /// The target it builds on.
    pub target: String,
    /// The node's file, relative to the project.
    pub file: String,
}

/// Progress of a run, in order.
// A few events per node: their size is irrelevant next to the work they report.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunEvent {
    /// The walk starts.
    RunStarted {
        /// The run's invocation id.
        invocation_id: String,
        /// Parallel nodes.
        threads: usize,
        /// Nodes to build.
        total: usize,
    },
    /// A line about the run as a whole (e.g. what a killed run's cleanup removed).
    RunLog {
        /// The line.
        message: String,
    },
    /// A coded warning about the run as a whole (e.g. DVT007, a selector matching
    /// nothing).
    RunWarning {
        /// `DVT007`, ...
        code: String,
        /// The message.
        message: String,
    },
    /// A node starts on a thread.
    NodeStarted {
        /// 1-based position in start order.
        index: usize,
        /// Nodes in the run.
        total: usize,
        /// The node.
        node: NodeInfo,
        /// `Thread-N`.
        thread: String,
    },
    /// A line a node logged (Jinja `log()`).
    NodeLog {
        /// The node.
        unique_id: String,
        /// The line.
        message: String,
    },
    /// A coded warning about a node (e.g. DVT003).
    NodeWarning {
        /// The node.
        unique_id: String,
        /// `DVT003`, ...
        code: String,
        /// The message.
        message: String,
    },
    /// A node finished: success, error or skipped.
    NodeFinished {
        /// 1-based position in start order.
        index: usize,
        /// Nodes in the run.
        total: usize,
        /// The node.
        node: NodeInfo,
        /// Its result, as written to `run_results.json`.
        result: dvt_core::artifacts::RunResult,
    },
    /// Every node is done (or cancelled); `run_results.json` is written.
    RunFinished {
        /// The outcome.
        summary: Box<RunSummary>,
    },
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct RunSummary {
    /// Every node of the run, in DAG order.
    pub results: Vec<dvt_core::artifacts::RunResult>,
    /// Seconds.
    pub elapsed: f64,
    /// Nodes that succeeded (tests that passed included).
    pub pass: usize,
    /// Tests that warned.
    pub warn: usize,
    /// Nodes that failed (tests that failed included).
    pub error: usize,
    /// Nodes skipped.
    pub skip: usize,
    /// Nodes with nothing to do (exposures in `build`).
    pub noop: usize,
    /// Whether the run was cancelled before it finished.
    pub cancelled: bool,
    /// Where `run_results.json` was written.
    pub run_results: std::path::PathBuf,
    /// Staged extracts left in the bucket: `--keep-staging`, a failed run (kept for
    /// inspection), or a failure removing them.
    pub kept_staging: Vec<crate::staging::KeptStaging>,
}

impl RunSummary {
    /// Whether every node succeeded.
    pub fn success(&self) -> bool {
        self.error == 0 && !self.cancelled
    }
}
