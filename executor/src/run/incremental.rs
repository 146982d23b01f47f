//! The runner of `incremental` models, on both paths: a first build (no table yet, a
//! view in its place, or a full refresh) replaces the relation like a table model; later
//! builds compile with `is_incremental()` true and apply the new rows with the model's
//! strategy ([`apply_incremental`](crate::adapter::Adapter)). A `microbatch` model does
//! this once per batch, each batch compiled with its own event-time window.

use async_trait::async_trait;
use dvt_core::compile::CompileOptions;
use dvt_core::dialect::Dialect;
use dvt_core::incremental::{IncrementalConfig, Strategy, plan_batches};
use dvt_core::manifest::Node;
use dvt_core::resolve::ExecPath;

use super::RunContext;
use super::artifacts::write_atomic;
use super::runner::{
    NodeOutcome, NodeReporter, NodeRunner, compile_node, prepare_target, run_hooks,
};
use crate::adapter::RelationKind;
use crate::adapter::incremental::{NewRows, Window};
use crate::error::Result;
use crate::federation::FederatedQuery;

/// Builds incremental models.
#[derive(Debug)]
pub(crate) struct IncrementalRunner;

#[async_trait]
impl NodeRunner for IncrementalRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let cfg = IncrementalConfig::from_config(&node.config, &node.original_file_path)?;
        let db = ctx.node_database(report);
        let adapter = prepare_target(ctx, node, &db).await?;
        // dbt: `full_refresh: false` in the config wins over the flag.
        let full_refresh = cfg.full_refresh.unwrap_or(ctx.flags.full_refresh);
        let exists = adapter.relation_kind(&node.relation).await? == Some(RelationKind::Table);
        let incremental = exists && !full_refresh;
        run_hooks(ctx, node, "pre-hook", &db).await?;
        let outcome = match (&cfg.microbatch, cfg.strategy) {
            (Some(mb), Strategy::Microbatch) => {
                let batches = plan_batches(
                    mb,
                    incremental,
                    ctx.flags.event_time_start,
                    ctx.flags.event_time_end,
                    chrono::Utc::now().naive_utc(),
                );
                // dbt-postgres's literals on PostgreSQL, for the same compiled SQL.
                let utc_offset = node.path == ExecPath::Pushdown
                    && ctx.manifest.target(&node.target).dialect() == Dialect::Postgres;
                let mut rows = 0;
                let mut last = None;
                for (i, batch) in batches.iter().enumerate() {
                    let (start, end) = batch.sql_bounds(utc_offset);
                    let opts = {
                        let mut o = CompileOptions::incremental(incremental || i > 0);
                        o.event_time_window = Some((start.clone(), end.clone()));
                        o
                    };
                    let c = compile_node(ctx, node, report, &opts, false, &db)?;
                    write_batch(ctx, node, &batch.id(mb.batch_size), &c.sql)?;
                    report.log(format!(
                        "batch {} of {} [{start}, {end})",
                        i + 1,
                        batches.len()
                    ));
                    let window = Window {
                        start: &start,
                        end: &end,
                        event_time: &mb.event_time,
                    };
                    rows += build(ctx, node, &db, &c, &cfg, incremental || i > 0, Some(window))
                        .await?
                        .unwrap_or(0);
                    last = Some(c.sql);
                }
                NodeOutcome {
                    rows: Some(rows),
                    compiled: last,
                    test: None,
                    message: None,
                }
            }
            _ => {
                let opts = CompileOptions::incremental(incremental);
                let c = compile_node(ctx, node, report, &opts, true, &db)?;
                let rows = build(ctx, node, &db, &c, &cfg, incremental, None).await?;
                NodeOutcome {
                    rows,
                    compiled: Some(c.sql),
                    test: None,
                    message: None,
                }
            }
        };
        super::runner::apply_relation_configs(ctx, node, &db).await?;
        run_hooks(ctx, node, "post-hook", &db).await?;
        Ok(outcome)
    }
}

/// One build of the model's relation: a replace on a first or full build, else the
/// strategy.
async fn build(
    ctx: &RunContext,
    node: &Node,
    db: &crate::introspect::RegistryDatabase,
    c: &dvt_core::manifest::CompiledNode,
    cfg: &IncrementalConfig,
    incremental: bool,
    window: Option<Window<'_>>,
) -> Result<Option<u64>> {
    let run_id = &ctx.invocation_id;
    let contract = super::runner::contract_columns(&ctx.manifest, node)?;
    match (node.path, incremental) {
        (ExecPath::Pushdown, incremental) => {
            let adapter = db.adapter(&node.target).await?;
            if let Some(contract) = &contract {
                super::runner::check_contract(&*adapter, node, &c.sql, &contract.columns).await?;
            }
            match (incremental, contract) {
                (false, Some(contract)) => {
                    adapter
                        .replace_table_with_columns(
                            &node.relation,
                            &c.sql,
                            &contract.columns,
                            &contract.constraints,
                            run_id,
                        )
                        .await
                }
                (false, None) => {
                    adapter
                        .replace_table_as(&node.relation, &c.sql, run_id)
                        .await
                }
                (true, _) => adapter
                    .apply_incremental(&node.relation, NewRows::Sql(&c.sql), cfg, window, run_id)
                    .await
                    .map(Some),
            }
        }
        (ExecPath::Federated, incremental) => {
            let engine = ctx.engine_for(node);
            let query = FederatedQuery::for_node(c, &ctx.manifest);
            // The names are checked on every run; the types and constraints are the
            // table's, from its first build.
            let ddl =
                super::runner::federated_contract(engine, &ctx.manifest, node, &query).await?;
            let adapter = db.adapter(&node.target).await?;
            if incremental {
                engine
                    .run_incremental_into(run_id, &query, &adapter, &node.relation, cfg, window)
                    .await
                    .map(Some)
            } else {
                engine
                    .load_into(run_id, &query, &adapter, &node.relation, &ddl)
                    .await
                    .map(Some)
            }
        }
    }
}

/// Writes one batch's SQL where dbt does: `<model path without .sql>/<name>_<batch>.sql`.
fn write_batch(ctx: &RunContext, node: &Node, batch_id: &str, sql: &str) -> Result<()> {
    let m = &ctx.manifest;
    let file = m.compiled_path(&node.unique_id).ok_or_else(|| {
        crate::Error::internal(format!("no node `{}` to write a batch for", node.unique_id))
    })?;
    let dir = m
        .path(std::path::Path::new(&m.project.target_path))
        .join(file.with_extension(""));
    let path = dir.join(format!("{}_{batch_id}.sql", node.name));
    write_atomic(&path, format!("{sql}\n").as_bytes())
}
