//! Everything one invocation shares: the parsed project, its targets (connected lazily),
//! the federation engine and the invocation id that names its staging and temporary
//! relations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dvt_core::manifest::{Manifest, Node, ResourceType};
use dvt_core::resolve::ExecPath;

use crate::error::Result;
use crate::federation::{Compute, FederationEngine};
use crate::registry::TargetRegistry;
use crate::staging::Staging;

use super::NodeInfo;
use super::journal::Journal;
use super::runner::{LocalRunners, RunnerSelector};
use crate::adapter::replace::StagedNames;

/// Where run journals live, relative to the project.
pub(crate) const RUNS_DIR: &str = ".dvt/runs";

/// The project and connections of one invocation.
#[derive(Debug)]
pub struct RunContext {
    /// The parsed project.
    pub manifest: Manifest,
    /// The profile's targets.
    pub registry: Arc<TargetRegistry>,
    /// Federated models run here.
    pub engine: FederationEngine,
    /// This invocation's id: names staged extracts and temporary relations.
    pub invocation_id: String,
    /// Chooses each node's runner.
    pub runners: Arc<dyn RunnerSelector>,
    /// Records what this invocation must clean up if it is killed (`None` when the
    /// project folder is read-only).
    pub journal: Option<Journal>,
    /// Engines for models whose `compute:` or `bucket:` config names one, by those two
    /// names as the model gives them; every other model uses [`RunContext::engine`].
    pub engines: std::collections::BTreeMap<EngineKey, FederationEngine>,
    /// The flags that change how a node is built (the CLI copies them from the same
    /// options as [`RunOptions`](super::RunOptions)).
    pub flags: BuildFlags,
}

/// A model's own `compute:` and `bucket:` configs (either may be absent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EngineKey {
    /// `compute:`, a name of `computes.yml`.
    pub compute: Option<String>,
    /// `bucket:`, a name of `buckets.yml`.
    pub bucket: Option<String>,
}

impl EngineKey {
    /// The key of a node that sets `compute:` or `bucket:`; `None` for the others.
    pub fn of(node: &Node) -> Option<Self> {
        let text = |key: &str| {
            node.config
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let key = EngineKey {
            compute: text("compute"),
            bucket: text("bucket"),
        };
        (key.compute.is_some() || key.bucket.is_some()).then_some(key)
    }
}

/// Flags that change how the runners build a node.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BuildFlags {
    /// `--full-refresh`: incremental models are rebuilt from scratch (unless their
    /// config says `full_refresh: false`).
    pub full_refresh: bool,
    /// `--event-time-start`: where a microbatch model's batches start.
    pub event_time_start: Option<chrono::NaiveDateTime>,
    /// `--event-time-end`: where they end (exclusive).
    pub event_time_end: Option<chrono::NaiveDateTime>,
    /// `--empty`: models and snapshots read no rows from their inputs.
    pub empty: bool,
    /// `--defer`: parents the run does not build are read from the state's relations.
    pub defer: Option<Arc<dvt_core::manifest::Defer>>,
}

impl RunContext {
    /// A context over `manifest` with the local engine and the project's staging folder
    /// (`.dvt/staging`). Nothing connects yet.
    pub fn new(mut manifest: Manifest, invocation_id: String) -> Result<Self> {
        manifest.set_invocation_id(&invocation_id);
        let registry = Arc::new(TargetRegistry::new(manifest.profile.outputs.clone()));
        let staging = Staging::local(manifest.path(Path::new(".dvt/staging")))?;
        let engine = FederationEngine::new(Arc::clone(&registry), staging, Compute::Local);
        let journal = match Journal::open(&manifest.path(Path::new(RUNS_DIR)), &invocation_id) {
            Ok(j) => Some(j),
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the run journal; a killed run's leftovers will need manual cleanup");
                None
            }
        };
        Ok(RunContext {
            manifest,
            registry,
            engine,
            invocation_id,
            runners: Arc::new(LocalRunners),
            journal,
            flags: BuildFlags::default(),
            engines: Default::default(),
        })
    }

    /// A database for one node's run: its compilation's queries, its hooks and its
    /// materialization on its target share one connection
    /// ([`RegistryDatabase::adapter`](crate::introspect::RegistryDatabase::adapter)), as
    /// a dbt node's statements share its thread's connection.
    /// Its renders see `report`'s worker thread as `thread_id`.
    pub fn node_database(
        &self,
        report: &super::runner::NodeReporter,
    ) -> Arc<crate::introspect::RegistryDatabase> {
        Arc::new(crate::introspect::RegistryDatabase::for_thread(
            Arc::clone(&self.registry),
            &report.thread,
        ))
    }

    /// The engine a node computes on: the one of its `compute:` and `bucket:` configs,
    /// else the run's.
    pub fn engine_for(&self, node: &Node) -> &FederationEngine {
        EngineKey::of(node)
            .and_then(|key| self.engines.get(&key))
            .unwrap_or(&self.engine)
    }

    /// Every bucket this run may stage in: the run's, then those of models' own
    /// `compute:`/`bucket:` engines, each once.
    pub fn stagings(&self) -> Vec<&Staging> {
        let mut out: Vec<&Staging> = vec![self.staging()];
        for engine in self.engines.values() {
            let staging = &engine.environment().staging;
            if !out.iter().any(|s| s.location() == staging.location()) {
                out.push(staging);
            }
        }
        out
    }

    /// The project's artifact folder (`target-path:`, default `target`).
    pub fn target_dir(&self) -> PathBuf {
        self.manifest
            .path(Path::new(&self.manifest.project.target_path))
    }

    /// The folder of run journals.
    pub fn runs_dir(&self) -> PathBuf {
        self.manifest.path(Path::new(RUNS_DIR))
    }

    /// Notes, before a replace of `relation` on `target` starts, the staged and backup
    /// relations it will create, so a killed run's next successor can drop them.
    pub async fn record_staged(
        &self,
        target: &str,
        relation: &dvt_core::dialect::Relation,
    ) -> Result<()> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let dialect = self.manifest.target(target).dialect();
        let names = StagedNames::new(dialect, relation, &self.invocation_id);
        let prefix = crate::federation::load_prefix(dialect, relation, &self.invocation_id);
        journal
            .record_staged(target, &names)
            .and_then(|()| journal.record_staged_prefix(target, relation, &prefix))
            .map_err(|e| crate::Error::staging(self.runs_dir().display().to_string(), e))
    }

    /// The staging bucket.
    pub fn staging(&self) -> &Staging {
        &self.engine.environment().staging
    }

    /// How a node is described in progress lines and events.
    pub fn node_info(&self, node: &Node) -> NodeInfo {
        NodeInfo {
            unique_id: node.unique_id.clone(),
            // The versions of a model share its name: `dim_customers.v2`, as selected.
            name: match node.version_text() {
                Some(v) => format!("{}.v{v}", node.name),
                None => node.name.clone(),
            },
            resource_type: node.resource_type.as_str().to_owned(),
            description: describe(node),
            path: path_label(&self.manifest, node),
            target: node.target.clone(),
            file: node.original_file_path.display().to_string(),
        }
    }
}

/// dbt's wording for what a node builds.
fn describe(node: &Node) -> String {
    match node.resource_type {
        ResourceType::Seed => "seed file".to_owned(),
        ResourceType::Model => format!("{} model", node.materialized.as_str()),
        ResourceType::Test => "test".to_owned(),
        ResourceType::Snapshot => "snapshot".to_owned(),
        ResourceType::Function => "function".to_owned(),
        ResourceType::Analysis => "analysis".to_owned(),
    }
}

/// The execution path as users read it.
pub fn path_label(m: &Manifest, node: &Node) -> String {
    match (node.resource_type, node.path) {
        (ResourceType::Seed, _) => "seed".into(),
        (ResourceType::Function, _) => "function".into(),
        (ResourceType::Test, ExecPath::Federated) => "test (federated)".into(),
        (ResourceType::Test, ExecPath::Pushdown) => "test".into(),
        (_, ExecPath::Federated) => "federated".into(),
        (_, ExecPath::Pushdown) if node.target != m.default_target => {
            "pushdown (non-default target)".into()
        }
        (_, ExecPath::Pushdown) => "pushdown".into(),
    }
}
