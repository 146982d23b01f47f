//! One runner per kind of node, behind one small trait. This is where DVT plugs into
//! dbt's run loop: a model goes to the pushdown runner or the federation runner by the
//! path routing gave it; seeds load into any target.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::introspect::RegistryDatabase;
use dvt_core::compile::CompileOptions;
use dvt_core::manifest::{Manifest, Materialization, Node, ResourceType};
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
    /// The SQL it ran (models, tests).
    pub compiled: Option<String>,
    /// A test's verdict.
    pub test: Option<TestOutcome>,
    /// The result's message instead of `OK <rows>`: `No-op` for a node that found
    /// nothing to do (`clone` of a relation that exists).
    pub message: Option<String>,
}

/// What a data test found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TestOutcome {
    /// `Pass`, `Warn` or `Fail`.
    pub status: dvt_core::artifacts::RunStatus,
    /// The failing rows (`fail_calc`).
    pub failures: u64,
    /// dbt's wording: `Got 3 results, configured to fail if != 0`.
    pub message: String,
}

/// Lets a runner report log lines for its node.
#[derive(Debug, Clone)]
pub struct NodeReporter {
    pub(crate) unique_id: String,
    pub(crate) events: UnboundedSender<RunEvent>,
    /// When the node's first compilation ended: `run_results.json`'s `compile` stage.
    pub(crate) compiled_at: Arc<std::sync::Mutex<Option<String>>>,
    /// The worker thread running the node (`Thread-3`), as `run_results.json` names it.
    pub(crate) thread: String,
}

impl NodeReporter {
    /// Records that the node's SQL is compiled (the first time only: a microbatch
    /// model compiles once per batch).
    pub(crate) fn compiled(&self) {
        let mut at = self.compiled_at.lock().unwrap_or_else(|e| e.into_inner());
        if at.is_none() {
            *at = Some(super::artifacts::now());
        }
    }

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
        (ResourceType::Snapshot, _) => &super::snapshot::SnapshotRunner,
        (ResourceType::Model, _) if node.materialized == Materialization::Incremental => {
            &super::incremental::IncrementalRunner
        }
        (ResourceType::Model, ExecPath::Pushdown) => &PushdownRunner,
        (ResourceType::Model, ExecPath::Federated) => &FederationRunner,
        (ResourceType::Test, _) => &TestRunner,
        (ResourceType::Function, _) => &super::function::FunctionRunner,
        (ResourceType::Analysis, _) => &AnalysisRunner,
    }
}

/// An analysis is compiled, never built: no command's selection takes one, and a runner
/// asked for it only compiles it, as `compile` does.
#[derive(Debug)]
struct AnalysisRunner;

#[async_trait]
impl NodeRunner for AnalysisRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let db = ctx.node_database(report);
        let c = compile(ctx, node, report, &db)?;
        Ok(NodeOutcome {
            rows: None,
            compiled: Some(c.sql),
            test: None,
            message: None,
        })
    }
}

/// Loads a CSV seed into its target through the bulk loader.
#[derive(Debug)]
struct SeedRunner;

/// A seed header name written into PostgreSQL's DDL as it stands (`quote_columns:
/// false`): a plain name folds to lower case, and one the header already quotes
/// (`"a-b"`, as Fivetran's seeds write names that need quoting) keeps its inner text.
fn unquoted_seed_column(name: &str) -> String {
    match name
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(inner) if !inner.is_empty() => inner.replace("\"\"", "\""),
        _ => name.to_lowercase(),
    }
}

#[async_trait]
impl NodeRunner for SeedRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        let m = &ctx.manifest;
        let mut data = load_seed(
            &m.path(&node.original_file_path),
            &node.original_file_path,
            &node.seed_options(),
        )?;
        if m.target(&node.target).dialect() == dvt_core::dialect::Dialect::Postgres {
            crate::seed::postgres_seed_types(&mut data);
            // `quote_columns: false` writes the header's names unquoted, which
            // PostgreSQL folds to lower case (dbt's default quotes them as written).
            let quoted = node.config.get("quote_columns").is_none_or(|v| {
                !matches!(
                    v.as_bool()
                        .or_else(|| v.as_str().map(|s| s.eq_ignore_ascii_case("true"))),
                    Some(false)
                )
            });
            if !quoted {
                for c in &mut data.columns {
                    c.name = unquoted_seed_column(&c.name);
                }
            }
        }
        let db = ctx.node_database(report);
        let adapter = prepare_target(ctx, node, &db).await?;
        let ddl = crate::adapter::TableDdl::columns(crate::seed::seed_column_types(&data));
        let stream = crate::seed::seed_stream(&data)?;
        run_hooks(ctx, node, "pre-hook", &db).await?;
        let rows = adapter
            .reload_table_from_stream(&node.relation, stream, &ddl, &ctx.invocation_id)
            .await?;
        apply_relation_configs(ctx, node, &db).await?;
        run_hooks(ctx, node, "post-hook", &db).await?;
        Ok(NodeOutcome {
            rows: Some(rows),
            compiled: None,
            test: None,
            message: None,
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
        let db = ctx.node_database(report);
        let c = compile(ctx, node, report, &db)?;
        let adapter = prepare_target(ctx, node, &db).await?;
        run_hooks(ctx, node, "pre-hook", &db).await?;
        let rows = match node.materialized {
            Materialization::View => {
                adapter
                    .replace_view_as(&node.relation, &c.sql, &ctx.invocation_id)
                    .await?;
                None
            }
            Materialization::MaterializedView => {
                adapter
                    .replace_materialized_view_as(&node.relation, &c.sql, &ctx.invocation_id)
                    .await?;
                None
            }
            _ => match contract_columns(&ctx.manifest, node)? {
                Some(contract) => {
                    check_contract(&*adapter, node, &c.sql, &contract.columns).await?;
                    adapter
                        .replace_table_with_columns(
                            &node.relation,
                            &c.sql,
                            &contract.columns,
                            &contract.constraints,
                            &ctx.invocation_id,
                        )
                        .await?
                }
                None => {
                    adapter
                        .replace_table_as(&node.relation, &c.sql, &ctx.invocation_id)
                        .await?
                }
            },
        };
        apply_relation_configs(ctx, node, &db).await?;
        run_hooks(ctx, node, "post-hook", &db).await?;
        Ok(NodeOutcome {
            rows,
            compiled: Some(c.sql),
            test: None,
            message: None,
        })
    }
}

/// An enforced contract (`contract: {enforced: true}`) as the table's DDL.
#[derive(Debug)]
pub(super) struct Contract {
    /// Each column's name and the DDL of its type with its column constraints, in the
    /// property file's order.
    pub(super) columns: Vec<(String, String)>,
    /// The model's own constraints, as table constraints.
    pub(super) constraints: Vec<dvt_core::constraints::TableConstraint>,
}

/// `node`'s enforced contract; `None` without one.
pub(super) fn contract_columns(manifest: &Manifest, node: &Node) -> Result<Option<Contract>> {
    if !node.contract_enforced() {
        return Ok(None);
    }
    let constraints = manifest.contract_constraints(node)?;
    let mut columns = Vec::new();
    for (name, props) in &node.columns {
        let Some(ty) = props.get("data_type").and_then(serde_json::Value::as_str) else {
            return Err(crate::Error::ContractMismatch {
                model: node.name.clone(),
                message: format!("column `{name}` has no `data_type`"),
            });
        };
        let ddl = std::iter::once(ty.to_owned())
            .chain(constraints.columns.get(name).into_iter().flatten().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        columns.push((name.clone(), ddl));
    }
    Ok(Some(Contract {
        columns,
        constraints: constraints.table,
    }))
}

/// Fails with DVT310 unless the model returns exactly the contract's columns (dbt
/// compares names; the types are then enforced by the table's DDL).
pub(super) async fn check_contract(
    adapter: &dyn crate::adapter::Adapter,
    node: &Node,
    sql: &str,
    columns: &[(String, String)],
) -> Result<()> {
    let probe = format!(
        "select * from ({}) dbt_contract_probe where 1 = 0",
        crate::adapter::trim_select(sql)
    );
    let schema = adapter.query(&probe).await?.schema();
    let returned: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    check_contract_names(node, &returned, columns)
}

/// A federated model's enforced contract: checks the names its query returns (DVT310)
/// and gives the contract's type and constraints per returned column and its table
/// constraints, for the table's DDL. Empty without an enforced contract.
pub(super) async fn federated_contract(
    engine: &crate::federation::FederationEngine,
    manifest: &Manifest,
    node: &Node,
    query: &FederatedQuery,
) -> Result<crate::adapter::TableDdl> {
    let Some(Contract {
        columns,
        constraints,
    }) = contract_columns(manifest, node)?
    else {
        return Ok(crate::adapter::TableDdl::default());
    };
    let returned: Vec<String> = engine
        .output_schema(query)
        .await?
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    check_contract_names(node, &returned, &columns)?;
    let column_types = columns
        .into_iter()
        .filter_map(|(name, ddl)| {
            returned
                .iter()
                .find(|r| r.eq_ignore_ascii_case(&name))
                .map(|r| (r.clone(), ddl))
        })
        .collect();
    Ok(crate::adapter::TableDdl {
        column_types,
        constraints,
    })
}

/// The contract check on the names a model returns.
fn check_contract_names(
    node: &Node,
    returned: &[String],
    columns: &[(String, String)],
) -> Result<()> {
    let declared: Vec<&String> = columns.iter().map(|(n, _)| n).collect();
    let missing: Vec<&String> = declared
        .iter()
        .copied()
        .filter(|n| !returned.iter().any(|r| r.eq_ignore_ascii_case(n)))
        .collect();
    let extra: Vec<&String> = returned
        .iter()
        .filter(|r| !declared.iter().any(|n| n.eq_ignore_ascii_case(r)))
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let list = |v: &[&String]| {
        v.iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "the contract's {} are not returned",
            list(&missing)
        ));
    }
    if !extra.is_empty() {
        parts.push(format!(
            "{} are returned but not in the contract",
            list(&extra)
        ));
    }
    Err(crate::Error::ContractMismatch {
        model: node.name.clone(),
        message: parts.join("; "),
    })
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
        let db = ctx.node_database(report);
        let c = compile(ctx, node, report, &db)?;
        let query = FederatedQuery::for_node(&c, &ctx.manifest);
        let engine = ctx.engine_for(node);
        // An enforced contract: the names are checked before anything is built, and the
        // table is created with the contract's types and constraints (the load then
        // enforces them, as the database does for a pushed-down contracted model).
        let ddl = federated_contract(engine, &ctx.manifest, node, &query).await?;
        let adapter = prepare_target(ctx, node, &db).await?;
        run_hooks(ctx, node, "pre-hook", &db).await?;
        let rows = engine
            .load_into(&ctx.invocation_id, &query, &adapter, &node.relation, &ddl)
            .await?;
        apply_relation_configs(ctx, node, &db).await?;
        run_hooks(ctx, node, "post-hook", &db).await?;
        Ok(NodeOutcome {
            rows: Some(rows),
            compiled: Some(c.sql),
            test: None,
            message: None,
        })
    }
}

/// Runs a data test where the node it tests lives: its query (failing rows) is wrapped
/// in dbt's count, `warn_if`/`error_if` decide the verdict. A test reading relations on
/// other targets is computed by the federation engine, like a federated model. With
/// `store_failures`, the failing rows are first stored in `<schema>_dbt_test__audit`.
#[derive(Debug)]
struct TestRunner;

#[async_trait]
impl NodeRunner for TestRunner {
    async fn run(
        &self,
        ctx: &RunContext,
        node: &Node,
        report: &NodeReporter,
    ) -> Result<NodeOutcome> {
        if let Some(spec) = node.test.as_ref().and_then(|t| t.unit.as_ref()) {
            return run_unit_test(ctx, node, report, spec).await;
        }
        let db = ctx.node_database(report);
        let c = compile(ctx, node, report, &db)?;
        let config = |key: &str| {
            node.config
                .get(key)
                .and_then(|v| v.as_str().map(str::to_owned))
        };
        // `store_failures_as` wins over `store_failures`, as in dbt.
        let store_as = config("store_failures_as").map(|v| v.to_ascii_lowercase());
        let store = match store_as.as_deref() {
            Some("table" | "view") => true,
            Some("ephemeral") => false,
            _ => {
                matches!(
                    node.config.get("store_failures"),
                    Some(serde_json::Value::Bool(true))
                ) || config("store_failures").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            }
        };
        let dialect = match node.path {
            ExecPath::Pushdown => ctx.manifest.target(&node.target).dialect(),
            ExecPath::Federated => dvt_core::dialect::Dialect::Datafusion,
        };
        let limit = node
            .config
            .get("limit")
            .and_then(serde_json::Value::as_u64)
            .map(|n| format!("\nlimit {n}"))
            .unwrap_or_default();
        let mut main_sql = c.sql.clone();
        if store {
            // dbt stores what the test would count: the failing rows, cut by `limit`.
            let stored_sql = format!(
                "select * from (\n{}\n) dbt_internal_stored{limit}",
                dvt_core::sql::strip_trailing_semicolons(dialect, &c.sql)
            );
            let mut query = FederatedQuery::for_node(&c, &ctx.manifest);
            query.sql = stored_sql.clone();
            match node.path {
                ExecPath::Pushdown if store_as.as_deref() == Some("view") => {
                    let adapter = prepare_target(ctx, node, &db).await?;
                    adapter
                        .replace_view_as(&node.relation, &stored_sql, &ctx.invocation_id)
                        .await?;
                }
                ExecPath::Pushdown => {
                    let adapter = prepare_target(ctx, node, &db).await?;
                    adapter
                        .replace_table_as(&node.relation, &stored_sql, &ctx.invocation_id)
                        .await?;
                }
                ExecPath::Federated => {
                    let adapter = prepare_target(ctx, node, &db).await?;
                    ctx.engine_for(node)
                        .load_into(
                            &ctx.invocation_id,
                            &query,
                            &adapter,
                            &node.relation,
                            &crate::adapter::TableDdl::default(),
                        )
                        .await?;
                }
            }
            main_sql = format!(
                "select * from {}",
                ctx.manifest
                    .target(&node.target)
                    .dialect()
                    .render(&node.relation)
            );
        }
        let fail_calc = config("fail_calc").unwrap_or_else(|| "count(*)".into());
        let warn_if = config("warn_if").unwrap_or_else(|| "!= 0".into());
        let error_if = config("error_if").unwrap_or_else(|| "!= 0".into());
        let inner = dvt_core::sql::strip_trailing_semicolons(dialect, &main_sql);
        let wrapped = format!(
            "select\n      {fail_calc} as failures,\n      {fail_calc} {warn_if} as should_warn,\n      {fail_calc} {error_if} as should_error\n    from (\n      {inner}{limit}\n    ) dbt_internal_test"
        );
        let batches = match (node.path, store) {
            (ExecPath::Pushdown, _) | (ExecPath::Federated, true) => {
                let adapter = db.adapter(&node.target).await?;
                crate::federation::collect_stream(adapter.query(&wrapped).await?).await?
            }
            (ExecPath::Federated, false) => {
                let mut query = FederatedQuery::for_node(&c, &ctx.manifest);
                query.sql = wrapped;
                ctx.engine_for(node)
                    .collect(&ctx.invocation_id, &query, None)
                    .await?
            }
        };
        let row = first_row(&batches).ok_or_else(|| {
            crate::Error::internal(format!(
                "test `{}` returned no row from its count",
                node.name
            ))
        })?;
        let failures = row
            .first()
            .and_then(|v| v.parse::<f64>().ok())
            .map(|f| f as u64)
            .unwrap_or(0);
        let truthy = |v: Option<&String>| {
            v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "t"))
        };
        let (should_warn, should_error) = (truthy(row.get(1)), truthy(row.get(2)));
        let severity = config("severity").unwrap_or_else(|| "error".into());
        let error_severity = severity.eq_ignore_ascii_case("error");
        let (status, condition) = if error_severity && should_error {
            (dvt_core::artifacts::RunStatus::Fail, error_if)
        } else if should_warn {
            (dvt_core::artifacts::RunStatus::Warn, warn_if)
        } else {
            (dvt_core::artifacts::RunStatus::Pass, String::new())
        };
        let message = match status {
            dvt_core::artifacts::RunStatus::Pass => "PASS".to_owned(),
            _ => format!(
                "Got {failures} result{}, configured to {} if {condition}",
                if failures == 1 { "" } else { "s" },
                if status == dvt_core::artifacts::RunStatus::Fail {
                    "fail"
                } else {
                    "warn"
                }
            ),
        };
        // A test under its thresholds passes with no failures recorded, as in dbt's
        // run_results.json (the rows it found are not failures then).
        let failures = if status == dvt_core::artifacts::RunStatus::Pass {
            0
        } else {
            failures
        };
        Ok(NodeOutcome {
            rows: None,
            compiled: Some(c.sql),
            test: Some(TestOutcome {
                status,
                failures,
                message,
            }),
            message: None,
        })
    }
}

/// Runs a unit test: the model's SQL over the fixtures, on the model's target, its rows
/// compared with `expect` on the columns `expect` names (as multisets; numbers compare
/// by value, booleans as 1/0).
async fn run_unit_test(
    ctx: &RunContext,
    node: &Node,
    report: &NodeReporter,
    spec: &serde_json::Value,
) -> Result<NodeOutcome> {
    use dvt_core::artifacts::RunStatus;
    let db = ctx.node_database(report);
    let compiled = compile(ctx, node, report, &db)?;
    let compiled_sql = compiled.sql;
    let adapter = db.adapter(&node.target).await?;
    let batches = crate::federation::collect_stream(adapter.query(&compiled_sql).await?).await?;
    let expect = &spec["expect"];
    let expected = ctx
        .manifest
        .fixture_value(expect)
        .and_then(|rows| {
            dvt_core::compile::fixture_rows(expect["format"].as_str().unwrap_or("dict"), &rows)
        })
        .map_err(|e| {
            crate::Error::from(dvt_core::error::Error::InvalidConfig {
                location: dvt_core::error::Location::file(&node.original_file_path),
                key: "expect".into(),
                message: format!("unit test `{}`: {e}", node.name),
            })
        })?;
    let mut columns: Vec<String> = Vec::new();
    for r in &expected {
        for k in r.keys() {
            if !columns.iter().any(|c| c.eq_ignore_ascii_case(k)) {
                columns.push(k.clone());
            }
        }
    }
    let canonical = |v: Option<String>| -> Option<String> {
        let v = v?;
        let lower = v.to_ascii_lowercase();
        Some(match lower.as_str() {
            "true" | "t" => "1".into(),
            "false" | "f" => "0".into(),
            _ => match v.parse::<f64>() {
                Ok(f) => format!("{f}"),
                Err(_) => v,
            },
        })
    };
    // dbt casts the expected values to the types of the columns the model returns before
    // comparing: `'2016-09-01'` equals a timestamp at midnight, a timestamp a date.
    let types: Vec<Option<arrow::datatypes::DataType>> = columns
        .iter()
        .map(|c| {
            let schema = batches.first()?.schema();
            let field = schema
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(c))?
                .clone();
            Some(field.data_type().clone())
        })
        .collect();
    let canonical_at = |column: usize, v: Option<String>| -> Option<String> {
        use arrow::datatypes::DataType;
        let v = v?;
        let at = match types.get(column).and_then(Option::as_ref) {
            Some(t @ (DataType::Date32 | DataType::Date64 | DataType::Timestamp(..))) => {
                dvt_core::manifest::parse_instant(&v).map(|at| (t, at.naive_utc()))
            }
            _ => None,
        };
        match at {
            Some((DataType::Timestamp(..), at)) => {
                Some(at.format("%Y-%m-%d %H:%M:%S%.f").to_string())
            }
            Some((_, at)) => Some(at.date().to_string()),
            None => canonical(Some(v)),
        }
    };
    let mut want: Vec<Vec<Option<String>>> = expected
        .iter()
        .map(|r| {
            columns
                .iter()
                .enumerate()
                .map(|(column, c)| {
                    let v = r
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(c))
                        .map(|(_, v)| v);
                    canonical_at(
                        column,
                        match v {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::String(s)) => Some(s.clone()),
                            Some(other) => Some(other.to_string()),
                        },
                    )
                })
                .collect()
        })
        .collect();
    let options = arrow::util::display::FormatOptions::default();
    let mut got: Vec<Vec<Option<String>>> = Vec::new();
    for batch in &batches {
        let schema = batch.schema();
        let mut picks = Vec::new();
        for c in &columns {
            let Some(i) = schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(c))
            else {
                return Ok(NodeOutcome {
                    rows: None,
                    compiled: Some(compiled_sql.clone()),
                    test: Some(TestOutcome {
                        status: RunStatus::Fail,
                        failures: 1,
                        message: format!(
                            "the unit test expects column `{c}`, which the model does not return"
                        ),
                    }),
                    message: None,
                });
            };
            picks.push(i);
        }
        for row in 0..batch.num_rows() {
            got.push(
                picks
                    .iter()
                    .enumerate()
                    .map(|(column, &i)| {
                        let col = batch.column(i);
                        if arrow::array::Array::is_null(col.as_ref(), row) {
                            return None;
                        }
                        let text =
                            arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &options)
                                .map(|f| f.value(row).to_string())
                                .ok();
                        canonical_at(column, text)
                    })
                    .collect(),
            );
        }
    }
    want.sort();
    got.sort();
    let mut missing = Vec::new();
    let mut rest = got.clone();
    for w in &want {
        match rest.iter().position(|g| g == w) {
            Some(i) => {
                rest.remove(i);
            }
            None => missing.push(w.clone()),
        }
    }
    let show = |rows: &[Vec<Option<String>>]| {
        rows.iter()
            .take(5)
            .map(|r| {
                format!(
                    "({})",
                    r.iter()
                        .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let failures = (missing.len() + rest.len()) as u64;
    let (status, message) = if failures == 0 {
        (RunStatus::Pass, "PASS".to_owned())
    } else {
        (
            RunStatus::Fail,
            format!(
                "actual differs from expected on ({}): expected but not returned: {}; returned but not expected: {}",
                columns.join(", "),
                if missing.is_empty() {
                    "none".into()
                } else {
                    show(&missing)
                },
                if rest.is_empty() {
                    "none".into()
                } else {
                    show(&rest)
                },
            ),
        )
    };
    Ok(NodeOutcome {
        rows: None,
        compiled: Some(compiled_sql),
        test: Some(TestOutcome {
            status,
            failures,
            message,
        }),
        message: None,
    })
}

/// The first row of a result, each cell as text (`None` for an empty result).
fn first_row(batches: &[arrow::array::RecordBatch]) -> Option<Vec<String>> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let options = arrow::util::display::FormatOptions::default().with_null("");
    Some(
        batch
            .columns()
            .iter()
            .map(|c| {
                arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options)
                    .map(|f| f.value(0).to_string())
                    .unwrap_or_default()
            })
            .collect(),
    )
}

/// The node's target, with its schema present and the staged relations of its replace
/// recorded in the run's journal.
pub(super) async fn prepare_target(
    ctx: &RunContext,
    node: &Node,
    db: &RegistryDatabase,
) -> Result<Arc<dyn crate::adapter::Adapter>> {
    let adapter = db.adapter(&node.target).await?;
    ensure_schema(&*adapter, &node.relation.schema).await?;
    ctx.record_staged(&node.target, &node.relation).await?;
    Ok(adapter)
}

/// dbt's `grants` and `persist_docs` on a built relation: `grant <privilege> on <rel>
/// to <grantee>` for each grantee (PostgreSQL, MySQL; SQLite has no grants), and, on
/// PostgreSQL, the description as the relation's and the columns' comments. The
/// relation was just created, so it holds no other grant to revoke.
pub(super) async fn apply_relation_configs(
    ctx: &RunContext,
    node: &Node,
    db: &RegistryDatabase,
) -> Result<()> {
    use dvt_core::dialect::Dialect;
    let adapter = db.adapter(&node.target).await?;
    let d = adapter.dialect();
    let rel = d.render(&node.relation);
    let kind = match node.materialized {
        Materialization::View => "view",
        Materialization::MaterializedView => "materialized view",
        _ => "table",
    };
    if d != Dialect::Sqlite
        && let Some(serde_json::Value::Object(grants)) = node.config.get("grants")
    {
        for (privilege, grantees) in grants {
            for grantee in dvt_core::project::as_string_list(grantees) {
                adapter
                    .execute(&format!("grant {privilege} on {rel} to {grantee}"))
                    .await?;
            }
        }
    }
    let docs = node.config.get("persist_docs");
    let flag = |key: &str| {
        docs.and_then(|d| d.get(key))
            .is_some_and(|v| v == &serde_json::Value::Bool(true))
    };
    if d == Dialect::Postgres && kind == "table" {
        // `unlogged: true`: dbt creates it unlogged; DVT builds, swaps, then converts.
        if node.config.get("unlogged") == Some(&serde_json::Value::Bool(true)) {
            adapter
                .execute(&format!("alter table {rel} set unlogged"))
                .await?;
        }
        for index in node
            .config
            .get("indexes")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let columns = index
                .get("columns")
                .map(dvt_core::project::as_string_list)
                .unwrap_or_default();
            if columns.is_empty() {
                continue;
            }
            let unique = index.get("unique") == Some(&serde_json::Value::Bool(true));
            let method = index
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("btree");
            adapter
                .execute(&format!(
                    "create {}index on {rel} using {method} ({})",
                    if unique { "unique " } else { "" },
                    columns.join(", ")
                ))
                .await?;
        }
    }
    if d == Dialect::Postgres {
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let m = &ctx.manifest;
        if flag("relation") && !node.description.is_empty() {
            let text = m.render_description(node, &node.description);
            adapter
                .execute(&format!("comment on {kind} {rel} is {}", lit(&text)))
                .await?;
        }
        if flag("columns") {
            let existing = adapter.relation_schema(&node.relation).await?;
            for (name, props) in &node.columns {
                let Some(text) = props.get("description").and_then(serde_json::Value::as_str)
                else {
                    continue;
                };
                // dbt documents only the columns the relation has.
                if text.is_empty() || existing.field_with_name(name).is_err() {
                    continue;
                }
                let text = m.render_description(node, text);
                adapter
                    .execute(&format!(
                        "comment on column {rel}.{} is {}",
                        d.quote(name),
                        lit(&text)
                    ))
                    .await?;
            }
        }
    }
    if d == Dialect::Mysql && kind == "table" {
        mysql_comments(ctx, &*adapter, node, flag("relation"), flag("columns")).await?;
    }
    Ok(())
}

/// `persist_docs` on MySQL/MariaDB, as dbt-mysql writes it: the table's `COMMENT`, and
/// each column's through `MODIFY COLUMN`, which must restate the column's definition
/// (read back from the catalogue so the type and nullability stay). Views take no
/// comments there.
async fn mysql_comments(
    ctx: &RunContext,
    adapter: &dyn crate::adapter::Adapter,
    node: &Node,
    relation: bool,
    columns: bool,
) -> Result<()> {
    use dvt_core::dialect::Dialect;
    let d = Dialect::Mysql;
    let rel = d.render(&node.relation);
    let lit = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
    let m = &ctx.manifest;
    if relation && !node.description.is_empty() {
        let text = m.render_description(node, &node.description);
        adapter
            .execute(&format!("alter table {rel} comment = {}", lit(&text)))
            .await?;
    }
    if !columns {
        return Ok(());
    }
    let described: Vec<(&String, String)> = node
        .columns
        .iter()
        .filter_map(|(name, props)| {
            let text = props.get("description")?.as_str()?;
            (!text.is_empty()).then(|| (name, m.render_description(node, text)))
        })
        .collect();
    if described.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "select column_name, column_type, is_nullable from information_schema.columns \
         where table_schema = {} and table_name = {}",
        lit(&node.relation.schema),
        lit(&node.relation.identifier)
    );
    let batches = crate::federation::collect_stream(adapter.query(&sql).await?).await?;
    let mut definitions = BTreeMap::new();
    for batch in &batches {
        let text = |i: usize| -> Result<arrow::array::ArrayRef> {
            arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8)
                .map_err(|e| crate::Error::internal(e.to_string()))
        };
        let (names, types, nullable) = (text(0)?, text(1)?, text(2)?);
        let as_str = |a: &arrow::array::ArrayRef, r: usize| {
            a.as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .map(|s| s.value(r).to_owned())
                .unwrap_or_default()
        };
        for r in 0..batch.num_rows() {
            definitions.insert(
                as_str(&names, r).to_lowercase(),
                (as_str(&types, r), as_str(&nullable, r) == "NO"),
            );
        }
    }
    for (name, text) in described {
        // dbt documents only the columns the relation has.
        let Some((column_type, not_null)) = definitions.get(&name.to_lowercase()) else {
            continue;
        };
        adapter
            .execute(&format!(
                "alter table {rel} modify column {} {column_type}{} comment {}",
                d.quote(name),
                if *not_null { " not null" } else { "" },
                lit(&text)
            ))
            .await?;
    }
    Ok(())
}

/// Runs a node's `pre-hook`s or `post-hook`s (`key`) on its target, one statement each,
/// in order, on the node's connection (`db`); the first failing hook fails the node.
pub(super) async fn run_hooks(
    ctx: &RunContext,
    node: &Node,
    key: &str,
    db: &Arc<RegistryDatabase>,
) -> Result<()> {
    let hooks = ctx.manifest.compile_hooks(
        &node.unique_id,
        key,
        Some(Arc::clone(db) as Arc<dyn dvt_core::jinja::Database>),
    )?;
    // On the connection the hooks' own Jinja queried and the model's statements use:
    // what one hook leaves in the session (a temporary table, a setting) the next
    // statement sees, as in dbt.
    for sql in hooks {
        db.execute(&node.target, &sql).await?;
    }
    Ok(())
}

pub(super) fn compile(
    ctx: &RunContext,
    node: &Node,
    report: &NodeReporter,
    db: &Arc<RegistryDatabase>,
) -> Result<dvt_core::manifest::CompiledNode> {
    compile_node(ctx, node, report, &CompileOptions::default(), true, db)
}

/// Compiles a node with `opts`, reports its logs and warnings, and writes its compiled
/// SQL under `target/compiled/` when `write` (a microbatch writes one file per batch).
pub(super) fn compile_node(
    ctx: &RunContext,
    node: &Node,
    report: &NodeReporter,
    opts: &CompileOptions,
    write: bool,
    db: &Arc<RegistryDatabase>,
) -> Result<dvt_core::manifest::CompiledNode> {
    let mut opts = opts.clone();
    opts.database = Some(Arc::clone(db) as Arc<dyn dvt_core::jinja::Database>);
    opts.empty = ctx.flags.empty;
    opts.defer = ctx.flags.defer.clone();
    let c = ctx.manifest.compile_with(&node.unique_id, &opts)?;
    report.compiled();
    for line in &c.logs {
        report.log(line.clone());
    }
    for w in &c.warnings {
        report.warn(w.code, w.message.clone());
    }
    if write {
        write_compiled(&ctx.manifest, &node.unique_id, &c.sql)?;
        super::artifacts::write_fixtures(&ctx.manifest, &node.unique_id, &c.fixtures)?;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::unquoted_seed_column;

    #[test]
    fn unquoted_seed_columns_fold_unless_the_header_quotes_them() {
        assert_eq!(unquoted_seed_column("Name"), "name");
        assert_eq!(
            unquoted_seed_column("\"property_hs_all-funky-a9384-syntax\""),
            "property_hs_all-funky-a9384-syntax"
        );
        assert_eq!(unquoted_seed_column("\"Say \"\"hi\"\"\""), "Say \"hi\"");
        assert_eq!(unquoted_seed_column("\"\""), "\"\"");
    }
}
