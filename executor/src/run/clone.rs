//! `dvt clone --state <dir>`: dbt's `clone`. Each selected model, seed and snapshot
//! gets a view of the relation the state's run built (a development schema that reads
//! production), unless its relation already exists here (`--full-refresh` replaces it).
//! A view only reads a table of its own database, so the state's relation must be on
//! the node's target.

use async_trait::async_trait;
use dvt_core::manifest::Node;

use super::RunContext;
use super::runner::{NodeOutcome, NodeReporter, NodeRunner, prepare_target};
use crate::error::{Error, Result};

/// Clones one node from the state ([`super::RunKind::Clone`]).
#[derive(Debug)]
pub(crate) struct CloneRunner;

fn no_op() -> NodeOutcome {
    NodeOutcome {
        message: Some("No-op".into()),
        ..NodeOutcome::default()
    }
}

#[async_trait]
impl NodeRunner for CloneRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let state = ctx
            .manifest
            .state
            .as_ref()
            .ok_or_else(|| Error::internal("`clone` runs with `--state`"))?;
        let found = state
            .nodes
            .get(&node.unique_id)
            .and_then(|before| Some((before, before.relation.clone()?)));
        let Some((before, theirs)) = found else {
            report.log(format!(
                "No relation found in state manifest for {}",
                node.unique_id
            ));
            return Ok(no_op());
        };
        // DVT's manifest says where the state's run built the node; a dbt-core
        // manifest's run built everything on its one target, taken as the node's.
        let their_target = before.entry["dvt"]["target"]
            .as_str()
            .unwrap_or(&node.target);
        if their_target != node.target {
            return Err(Error::Unsupported {
                target: node.target.clone(),
                feature: format!(
                    "`{}` was built on target `{their_target}` by the state's run and is cloned onto `{}`: a view reads only its own database",
                    node.unique_id, node.target
                ),
            });
        }
        let db = ctx.node_database(report);
        let adapter = prepare_target(ctx, node, &db).await?;
        let dialect = adapter.dialect();
        let theirs = dvt_core::dialect::Relation {
            quoting: node.relation.quoting,
            ..theirs
        };
        let ours = dialect.render(&node.relation);
        let source = dialect.render(&theirs);
        // The state's relation is this one (a state of the same schema): a view of
        // itself is no clone.
        if ours == source {
            report.log(format!("Relation {ours} is the state's own"));
            return Ok(no_op());
        }
        if !ctx.flags.full_refresh && adapter.relation_kind(&node.relation).await?.is_some() {
            report.log(format!("Relation {ours} already exists"));
            return Ok(no_op());
        }
        let sql = format!("select * from {source}");
        adapter
            .replace_view_as(&node.relation, &sql, &ctx.invocation_id)
            .await?;
        Ok(NodeOutcome {
            compiled: Some(sql),
            ..NodeOutcome::default()
        })
    }
}
