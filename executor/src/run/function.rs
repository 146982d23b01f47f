//! Creates a user-defined function (dbt 1.11's `functions/`) on its target: its body
//! compiled like a model's, wrapped in the database's `CREATE FUNCTION`.

use async_trait::async_trait;
use dvt_core::dialect::Dialect;
use dvt_core::manifest::Node;

use super::RunContext;
use super::runner::{NodeOutcome, NodeReporter, NodeRunner, compile, run_hooks};
use crate::adapter::function::{FunctionHost, create_function_statements};
use crate::adapter::replace::ensure_schema;
use crate::error::{Error, Result};

/// Replaces a function on its target. A function is not staged and swapped like a
/// relation: each database's `CREATE OR REPLACE` (or drop and create on MySQL) is the
/// replacement, see [`crate::adapter::function`].
#[derive(Debug)]
pub(super) struct FunctionRunner;

#[async_trait]
impl NodeRunner for FunctionRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let info = node
            .function
            .as_ref()
            .ok_or_else(|| Error::internal(format!("function `{}` has no signature", node.name)))?;
        let db = ctx.node_database(report);
        let c = compile(ctx, node, report, &db)?;
        let dialect = ctx.manifest.target(&node.target).dialect();
        // SQLite fails here, before connecting: it has no functions to create.
        let probe = FunctionHost {
            dialect,
            mariadb: false,
        };
        create_function_statements(
            &node.target,
            probe,
            &node.name,
            &node.relation,
            info,
            &c.sql,
        )?;
        let adapter = db.adapter(&node.target).await?;
        let mariadb = dialect == Dialect::Mysql
            && adapter
                .server_version()
                .await?
                .to_ascii_lowercase()
                .contains("mariadb");
        let statements = create_function_statements(
            &node.target,
            FunctionHost { dialect, mariadb },
            &node.name,
            &node.relation,
            info,
            &c.sql,
        )?;
        ensure_schema(&*adapter, &node.relation.schema).await?;
        run_hooks(ctx, node, "pre-hook", &db).await?;
        for sql in &statements {
            adapter.execute(sql).await?;
        }
        run_hooks(ctx, node, "post-hook", &db).await?;
        Ok(NodeOutcome {
            rows: None,
            compiled: Some(c.sql),
            test: None,
            message: None,
        })
    }
}
