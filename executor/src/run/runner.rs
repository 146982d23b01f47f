//! One runner per kind of node, behind one small trait. This is where DVT plugs into
//! dbt's run loop: a model goes to the pushdown runner or the federation runner by the
//! path routing gave it; seeds load into any target.

use std::collections::BTreeMap;

use async_trait::async_trait;
use dvt_core::manifest::{Materialization, Node, ResourceType};
use dvt_core::resolve::ExecPath;
use dvt_core::seed::load_seed;
use tokio::sync::mpsc::UnboundedSender;

use super::{RunContext, RunEvent, write_compiled};
use crate::adapter::replace::ensure_schema;
use crate::error::Result;
use crate::federation::FederatedQuery;

/// What a node produced.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NodeOutcome {
    /// Rows written, when known.
    pub rows: Option<u64>,
    /// The SQL it ran (models).
    pub compiled: Option<String>,
}

/// Lets a runner report log lines for its node.
#[derive(Debug, Clone)]
pub struct NodeReporter {
    pub(crate) unique_id: String,
    pub(crate) events: UnboundedSender<RunEvent>,
}

impl NodeReporter {
    /// Sends a coded warning about the node.
    pub fn warn(&self, code: &str, message: impl Into<String>) {
        let _ = self.events.send(RunEvent::NodeWarning {
            unique_id: self.unique_id.clone(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// Sends a log line attributed to the node. A consumer that went away is not an
    /// error for the run.
    pub fn log(&self, message: impl Into<String>) {
        let _ = self.events.send(RunEvent::NodeLog {
            unique_id: self.unique_id.clone(),
            message: message.into(),
        });
    }
}

/// Builds one node.
#[async_trait]
pub trait NodeRunner: Send + Sync + std::fmt::Debug {
    /// Builds `node` on its target.
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome>;
}

/// Picks the runner of each node. The scheduler plugs its cluster runners in here; tests
/// plug in failing ones.
pub trait RunnerSelector: Send + Sync + std::fmt::Debug {
    /// The runner for `node`.
    fn runner_for<'a>(&'a self, node: &Node) -> &'a dyn NodeRunner;
}

/// The local runners: [`runner_for`].
#[derive(Debug, Default)]
pub struct LocalRunners;

impl RunnerSelector for LocalRunners {
    fn runner_for<'a>(&'a self, node: &Node) -> &'a dyn NodeRunner {
        runner_for(node)
    }
}

/// The runner for a node: by resource type, then by execution path.
pub fn runner_for(node: &Node) -> &'static dyn NodeRunner {
    match (node.resource_type, node.path) {
        (ResourceType::Seed, _) => &SeedRunner,
        (ResourceType::Model, ExecPath::Pushdown) => &PushdownRunner,
        (ResourceType::Model, ExecPath::Federated) => &FederationRunner,
    }
}

/// Loads a CSV seed into its target through the bulk loader.
#[derive(Debug)]
struct SeedRunner;

#[async_trait]
impl NodeRunner for SeedRunner {
    async fn run(&self, ctx: &RunContext, node: &Node, _: &NodeReporter) -> Result<NodeOutcome> {
        let m = &ctx.manifest;
        let data = load_seed(
            &m.path(&node.original_file_path),
            &node.original_file_path,
            &node.seed_options(),
        )?;
        let adapter = prepare_target(ctx, node).await?;
        let column_types = crate::seed::seed_column_types(&data);
        let stream = crate::seed::seed_stream(&data)?;
        let rows = adapter
            .replace_table_from_stream(&node.relation, stream, &column_types, &ctx.invocation_id)
            .await?;
        Ok(NodeOutcome {
            rows: Some(rows),
            compiled: None,
        })
    }
}

/// Compiles a model and runs its SQL on its own target, as dbt does.
#[derive(Debug)]
struct PushdownRunner;

#[async_trait]
impl NodeRunner for PushdownRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let c = compile(ctx, node, report)?;
        let adapter = prepare_target(ctx, node).await?;
        let rows = match node.materialized {
            Materialization::View => {
                adapter
                    .replace_view_as(&node.relation, &c.sql, &ctx.invocation_id)
                    .await?;
                None
            }
            _ => {
                adapter
                    .replace_table_as(&node.relation, &c.sql, &ctx.invocation_id)
                    .await?
            }
        };
        Ok(NodeOutcome {
            rows,
            compiled: Some(c.sql),
        })
    }
}

/// Compiles a model for the engine, extracts its inputs, computes it and loads the
/// result into its target.
#[derive(Debug)]
struct FederationRunner;

#[async_trait]
impl NodeRunner for FederationRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let c = compile(ctx, node, report)?;
        prepare_target(ctx, node).await?;
        let rows = ctx
            .engine
            .run_into(
                &ctx.invocation_id,
                &FederatedQuery::from(&c),
                &node.target,
                &node.relation,
                &BTreeMap::new(),
            )
            .await?;
        Ok(NodeOutcome {
            rows: Some(rows),
            compiled: Some(c.sql),
        })
    }
}

/// The node's target, with its schema present and the staged relations of its replace
/// recorded in the run's journal.
async fn prepare_target(
    ctx: &RunContext,
    node: &Node,
) -> Result<std::sync::Arc<dyn crate::adapter::Adapter>> {
    let adapter = ctx.registry.adapter(&node.target).await?;
    ensure_schema(&*adapter, &node.relation.schema).await?;
    ctx.record_staged(&node.target, &node.relation).await?;
    Ok(adapter)
}

fn compile(
    ctx: &RunContext,
    node: &Node,
    report: &NodeReporter,
) -> Result<dvt_core::manifest::CompiledNode> {
    let c = ctx.manifest.compile(&node.unique_id)?;
    for line in &c.logs {
        report.log(line.clone());
    }
    for w in &c.warnings {
        report.warn(w.code, w.message.clone());
    }
    write_compiled(&ctx.manifest, &node.unique_id, &c.sql)?;
    Ok(c)
}
