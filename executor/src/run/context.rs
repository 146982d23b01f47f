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
use super::runner::{LocalRunners, RunnerSelector};

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
}

impl RunContext {
    /// A context over `manifest` with the local engine and the project's staging folder
    /// (`.dvt/staging`). Nothing connects yet.
    pub fn new(manifest: Manifest, invocation_id: String) -> Result<Self> {
        let registry = Arc::new(TargetRegistry::new(manifest.profile.outputs.clone()));
        let staging = Staging::local(manifest.path(Path::new(".dvt/staging")))?;
        let engine = FederationEngine::new(Arc::clone(&registry), staging, Compute::Local);
        Ok(RunContext {
            manifest,
            registry,
            engine,
            invocation_id,
            runners: Arc::new(LocalRunners),
        })
    }

    /// The project's artifact folder (`target-path:`, default `target`).
    pub fn target_dir(&self) -> PathBuf {
        self.manifest
            .path(Path::new(&self.manifest.project.target_path))
    }

    /// The staging bucket.
    pub fn staging(&self) -> &Staging {
        &self.engine.environment().staging
    }

    /// How a node is described in progress lines and events.
    pub fn node_info(&self, node: &Node) -> NodeInfo {
        NodeInfo {
            unique_id: node.unique_id.clone(),
            name: node.name.clone(),
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
    }
}

/// The execution path as users read it.
pub fn path_label(m: &Manifest, node: &Node) -> String {
    match (node.resource_type, node.path) {
        (ResourceType::Seed, _) => "seed".into(),
        (_, ExecPath::Federated) => "federated".into(),
        (_, ExecPath::Pushdown) if node.target != m.default_target => {
            "pushdown (non-default target)".into()
        }
        (_, ExecPath::Pushdown) => "pushdown".into(),
    }
}
