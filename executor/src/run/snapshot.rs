//! The runner of snapshots, on both paths. The snapshot query's rows are first staged
//! in a table on the snapshot's target (`CREATE TABLE AS` when pushed down, a bulk load
//! when federated); the snapshot table is then created from them, or updated by dbt's
//! rules in one transaction ([`dvt_core::snapshot`] writes the SQL).

use async_trait::async_trait;
use dvt_core::manifest::Node;
use dvt_core::resolve::ExecPath;
use dvt_core::snapshot::{SnapshotConfig, SnapshotSql};

use super::RunContext;
use super::runner::{NodeOutcome, NodeReporter, NodeRunner, compile, prepare_target, run_hooks};
use crate::adapter::replace::StagedNames;
use crate::adapter::{Adapter, RelationKind};
use crate::error::Result;
use crate::federation::FederatedQuery;

/// Builds snapshots.
#[derive(Debug)]
pub(crate) struct SnapshotRunner;

#[async_trait]
impl NodeRunner for SnapshotRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let cfg = SnapshotConfig::from_config(&node.config, &node.original_file_path)?;
        let db = ctx.node_database(report);
        let c = compile(ctx, node, report, &db)?;
        let adapter = prepare_target(ctx, node, &db).await?;
        run_hooks(ctx, node, "pre-hook", &db).await?;
        let names = StagedNames::new(adapter.dialect(), &node.relation, &ctx.invocation_id);
        // One transaction where the target allows (PostgreSQL): the staged rows are never
        // seen by others, and a failure leaves nothing behind.
        let (rows, staged) = adapter
            .atomically(async {
                let staged = match node.path {
                    ExecPath::Pushdown => {
                        adapter.drop_relation(&names.staged).await?;
                        match adapter.create_table_as(&names.staged, &c.sql).await {
                            Ok(n) => n,
                            Err(e) => return adapter.discard(&names, e).await,
                        }
                    }
                    ExecPath::Federated => Some(
                        ctx.engine_for(node)
                            .stage_into(
                                &ctx.invocation_id,
                                &FederatedQuery::for_node(&c, &ctx.manifest),
                                &adapter,
                                &names,
                            )
                            .await?,
                    ),
                };
                let rows = match snapshot(&*adapter, node, &cfg, &names).await {
                    Ok(rows) => rows,
                    Err(e) => return adapter.discard(&names, e).await,
                };
                adapter.drop_relation(&names.staged).await?;
                Ok((rows, staged))
            })
            .await?;
        super::runner::apply_relation_configs(ctx, node, &db).await?;
        run_hooks(ctx, node, "post-hook", &db).await?;
        Ok(NodeOutcome {
            rows: rows.or(staged),
            compiled: Some(c.sql),
            test: None,
            message: None,
        })
    }
}

/// Creates the snapshot table from the staged rows, or applies them to it.
async fn snapshot(
    adapter: &(dyn Adapter + 'static),
    node: &Node,
    cfg: &SnapshotConfig,
    names: &StagedNames,
) -> Result<Option<u64>> {
    let d = adapter.dialect();
    // One timestamp for the whole snapshot, as dbt's `snapshot_get_time()` inside one
    // transaction.
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    let source = d.render(&names.staged);
    let sql = SnapshotSql {
        dialect: d,
        cfg,
        source: &source,
        now: &now,
    };
    match adapter.relation_kind(&node.relation).await? {
        Some(RelationKind::Table) => {}
        other => {
            if other.is_some() {
                adapter.drop_relation(&node.relation).await?;
            }
            return adapter
                .create_table_as(&node.relation, &sql.first_build())
                .await;
        }
    }
    let target = d.render(&node.relation);
    let staged_cols = adapter.columns_of(&names.staged).await?;
    let mut target_cols: Vec<String> = adapter
        .columns_of(&node.relation)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    // A column new in the query joins the table, as dbt's snapshots add it.
    for c in &staged_cols {
        if !target_cols.contains(&c.name) {
            adapter
                .execute(&format!(
                    "alter table {target} add column {} {}",
                    d.quote(&c.name),
                    c.data_type
                ))
                .await?;
            target_cols.push(c.name.clone());
        }
    }
    let meta = sql.meta_columns();
    let source_cols: Vec<String> = staged_cols.into_iter().map(|c| c.name).collect();
    let table_cols: Vec<String> = target_cols
        .into_iter()
        .filter(|c| !meta.contains(c))
        .collect();
    let statements = sql.apply(&target, &source_cols, &table_cols);
    adapter.execute_in_transaction(&statements).await?;
    Ok(None)
}
