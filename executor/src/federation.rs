//! The federation engine: a model reading several targets is planned by DataFusion over
//! DVT table providers, each input is extracted (with filters, projection and limit pushed
//! to its source) into the staging bucket, the model is computed locally or on Ballista,
//! and the result is bulk-loaded into the destination.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::RecordBatch;
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use dvt_core::dialect::Relation;
use futures::TryStreamExt;
use tokio::sync::OnceCell;

use crate::adapter::Adapter;
use crate::codec::{DvtLogicalCodec, DvtPhysicalCodec};
use crate::error::{Error, Result};
use crate::registry::TargetRegistry;
use crate::staging::Staging;

mod load;
mod partition;
mod provider;
mod pushdown;
mod scan;

pub(crate) use load::LoadSpec;
pub use load::{DvtLoadExec, LoadedPart, load_prefix};
pub use partition::PartitionHint;
pub use provider::DvtTableProvider;
pub(crate) use provider::InputSpec;
pub use scan::DvtExtractSource;
#[cfg(test)]
pub(crate) use scan::scan_plan;
pub(crate) use scan::{ScanSpec, extract_source, scan_with_groups};

/// One remote relation a federated query reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteInput {
    /// The target it lives on; also its catalog name in the query.
    pub target: String,
    /// The relation on that target.
    pub relation: Relation,
}

/// A federated query.
///
/// The SQL is DataFusion SQL in which each input is written as the quoted three-part name
/// `"<target>"."<schema>"."<identifier>"`, for example
/// `select c.name, sum(o.amount) as total from "pg"."shop"."orders" o join
/// "maria"."crm"."customers" c on c.id = o.customer_id group by c.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedQuery {
    /// The query.
    pub sql: String,
    /// Every remote relation the query reads.
    pub inputs: Vec<RemoteInput>,
    /// How the inputs that say so are split for extraction (`partition_by:` /
    /// `partitions:` of a source); the others split by default.
    pub hints: BTreeMap<RemoteInput, PartitionHint>,
}

impl FederatedQuery {
    /// The query of a node compiled on the federated path, with its sources' settings.
    pub fn for_node(
        compiled: &dvt_core::manifest::CompiledNode,
        manifest: &dvt_core::manifest::Manifest,
    ) -> Self {
        let mut query = FederatedQuery::from(compiled);
        for source in manifest.sources.values() {
            if source.partition_by.is_none() && source.partitions.is_none() {
                continue;
            }
            let input = RemoteInput {
                target: source.connection.clone(),
                relation: source.relation.clone(),
            };
            if query.inputs.contains(&input) {
                query.hints.insert(
                    input,
                    PartitionHint {
                        by: source.partition_by.clone(),
                        count: source.partitions,
                    },
                );
            }
        }
        query
    }
}

impl From<&dvt_core::manifest::CompiledNode> for FederatedQuery {
    /// The query of a model compiled on the federated path.
    fn from(c: &dvt_core::manifest::CompiledNode) -> Self {
        FederatedQuery {
            sql: c.sql.clone(),
            inputs: c
                .inputs
                .iter()
                .map(|(target, relation)| RemoteInput {
                    target: target.clone(),
                    relation: relation.clone(),
                })
                .collect(),
            hints: BTreeMap::new(),
        }
    }
}

/// Where the compute step runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Compute {
    /// In-process DataFusion.
    #[default]
    Local,
    /// Ballista with an in-process scheduler and executor.
    BallistaStandalone,
    /// A Ballista cluster: a `dvt-scheduler` at `df://host:port` and its `dvt-executor`s.
    Ballista(String),
}

/// How the local engine runs (`computes.yml`, `type: local`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalOptions {
    /// Partitions computed at once (DataFusion's target partitions).
    pub threads: Option<usize>,
    /// Memory the engine may hold before it spills, in bytes.
    pub memory_limit: Option<u64>,
    /// Where it spills.
    pub spill_dir: Option<std::path::PathBuf>,
}

/// What a process needs to run DVT scans: its own targets (and credentials) and its
/// staging bucket. Codecs hand it to the providers and scan nodes they decode, so a plan
/// never carries a connection or a password.
#[derive(Debug, Clone)]
pub struct ScanEnvironment {
    /// The process's targets.
    pub registry: Arc<TargetRegistry>,
    /// The staging bucket.
    pub staging: Staging,
    /// Who this process is in load rows and logs (`--executor-id` of an executor).
    pub executor_id: String,
}

/// Plans and runs federated queries.
#[derive(Debug)]
pub struct FederationEngine {
    env: Arc<ScanEnvironment>,
    compute: Compute,
    local: LocalOptions,
    /// Starting Ballista's in-process scheduler and executor takes a while, so the session
    /// is created once and each query gets a copy with its own catalogs.
    ballista: OnceCell<SessionState>,
}

/// The run id `pushed_sql` plans under; nothing is staged for it.
const COMPILE_RUN_ID: &str = "compile";

impl FederationEngine {
    /// Builds an engine; nothing connects until a query runs.
    pub fn new(registry: Arc<TargetRegistry>, staging: Staging, compute: Compute) -> Self {
        FederationEngine {
            env: Arc::new(ScanEnvironment {
                registry,
                staging,
                executor_id: "client".to_owned(),
            }),
            compute,
            local: LocalOptions::default(),
            ballista: OnceCell::new(),
        }
    }

    /// The engine with the local compute's settings.
    pub fn with_local_options(mut self, local: LocalOptions) -> Self {
        self.local = local;
        self
    }

    /// Where this engine computes.
    pub fn compute(&self) -> &Compute {
        &self.compute
    }

    /// The targets and staging bucket this engine scans with.
    pub fn environment(&self) -> &Arc<ScanEnvironment> {
        &self.env
    }

    /// Plans the query, extracts and stages its inputs and streams the result.
    #[tracing::instrument(skip_all, fields(run_id))]
    pub async fn execute(
        &self,
        run_id: &str,
        query: &FederatedQuery,
    ) -> Result<SendableRecordBatchStream> {
        let (ctx, folded) = self.context(run_id, query, self.compute.clone()).await?;
        let df = plan_sql(&ctx, &folded, &query.sql).await?;
        df.execute_stream().await.map_err(Error::execution)
    }

    /// Runs the query and collects at most `limit` rows (all when `None`), for `dvt show`.
    #[tracing::instrument(skip_all, fields(run_id))]
    pub async fn collect(
        &self,
        run_id: &str,
        query: &FederatedQuery,
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>> {
        let (ctx, folded) = self.context(run_id, query, self.compute.clone()).await?;
        let mut df = plan_sql(&ctx, &folded, &query.sql).await?;
        if let Some(n) = limit {
            df = df.limit(0, Some(n)).map_err(Error::planning)?;
        }
        df.collect().await.map_err(Error::execution)
    }

    /// Runs the query and bulk-loads the result into `dest` on `dest_target`, replacing it
    /// atomically. Returns the rows loaded.
    pub async fn run_into(
        &self,
        run_id: &str,
        query: &FederatedQuery,
        dest_target: &str,
        dest: &Relation,
        column_types: &BTreeMap<String, String>,
    ) -> Result<u64> {
        let adapter = self.env.registry.adapter(dest_target).await?;
        let ddl = crate::adapter::TableDdl::columns(column_types.clone());
        self.load_into(run_id, query, &adapter, dest, &ddl).await
    }

    /// [`FederationEngine::run_into`] through a given adapter of the destination: a
    /// node's [pinned](Adapter::pinned) one, so the load shares the node's connection
    /// (its hooks' session, one transaction for the replace).
    #[tracing::instrument(skip_all, fields(run_id, dest_target = %adapter.target().name, dest = %dest))]
    pub async fn load_into(
        &self,
        run_id: &str,
        query: &FederatedQuery,
        adapter: &Arc<dyn Adapter>,
        dest: &Relation,
        ddl: &crate::adapter::TableDdl,
    ) -> Result<u64> {
        let dest_target = adapter.target().name.as_str();
        // SQLite is a file on the client's machine: executors elsewhere cannot write it.
        if let Compute::Ballista(url) = &self.compute
            && adapter.dialect() != dvt_core::dialect::Dialect::Sqlite
        {
            let spec = LoadSpec {
                target: dest_target.to_owned(),
                relation: dest.clone(),
                run_id: run_id.to_owned(),
                ddl: ddl.clone(),
            };
            return self
                .load_by_executors(url, query, spec, adapter)
                .await
                .map(|parts| parts.iter().map(|p| p.rows).sum());
        }
        let stream = self.execute(run_id, query).await?;
        adapter
            .replace_table_from_stream(dest, stream, ddl, run_id)
            .await
            .map_err(surface_query_error)
    }

    /// Computes the query on the cluster with a load on top: each task of the last stage
    /// loads its partition into a staging table of its own and returns a row naming it.
    /// The model's relation is built from exactly the tables named in the rows received
    /// and swapped in; every staging table of the run is dropped whatever happened, so a
    /// task re-run after a lost executor never doubles rows.
    async fn load_by_executors(
        &self,
        scheduler: &str,
        query: &FederatedQuery,
        spec: LoadSpec,
        adapter: &Arc<dyn Adapter>,
    ) -> Result<Vec<LoadedPart>> {
        let prefix = spec.prefix(adapter.dialect());
        let outcome = async {
            // The client plans (it holds the credentials the ranges need), with
            // Ballista's settings; the scheduler only cuts the physical plan into stages
            // and tasks.
            let planning = SessionStateBuilder::new()
                .with_config(self.ballista_config())
                .with_default_features()
                .build();
            let ctx = SessionContext::new_with_state(planning);
            let query_id = uuid::Uuid::new_v4().simple().to_string();
            let folded = self
                .register_inputs(&ctx, &spec.run_id, &query_id, query)
                .await?;
            let df = plan_sql(&ctx, &folded, &query.sql).await?;
            let plan = df.create_physical_plan().await.map_err(Error::planning)?;
            let schema = plan.schema();
            let load: Arc<dyn datafusion::physical_plan::ExecutionPlan> =
                Arc::new(DvtLoadExec::new(spec.clone(), plan, Arc::clone(&self.env)));
            let state = self.ballista_state().await?;
            let config = state.config().clone();
            let scheduler_url = scheduler.replacen("df://", "http://", 1);
            let stream = ballista_core::execution_plans::execute_physical_plan::<
                datafusion_proto::protobuf::PhysicalPlanNode,
            >(
                scheduler_url,
                &config.ballista_config(),
                load,
                &DvtPhysicalCodec::new(Arc::clone(&self.env)),
                state.session_id().to_owned(),
                config,
            )
            .await
            .map_err(Error::execution)?;
            let parts = load::loaded_parts(&collect_stream(stream).await?)?;
            let tables: Vec<Relation> = parts
                .iter()
                .map(|p| Relation {
                    identifier: p.table.clone(),
                    ..spec.relation.clone()
                })
                .collect();
            adapter
                .replace_table_from_parts(&spec.relation, &schema, &tables, &spec.ddl, &spec.run_id)
                .await?;
            tracing::debug!(relation = %spec.relation, parts = ?parts, "loaded by executors");
            Ok(parts)
        }
        .await;
        match adapter
            .tables_with_prefix(&spec.relation.schema, &prefix)
            .await
        {
            Ok(leftovers) => {
                for table in leftovers {
                    if let Err(e) = adapter.drop_relation(&table).await {
                        tracing::warn!(table = %table, error = %e, "could not drop a load's staging table");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(prefix, error = %e, "could not list the load's staging tables")
            }
        }
        outcome
    }

    /// Runs the query and applies its rows to an incremental model's existing table
    /// (`dest` on `dest_target`) with the model's strategy. Returns the rows computed.
    #[tracing::instrument(skip_all, fields(run_id, dest_target = %adapter.target().name, dest = %dest))]
    pub async fn run_incremental_into(
        &self,
        run_id: &str,
        query: &FederatedQuery,
        adapter: &Arc<dyn Adapter>,
        dest: &Relation,
        cfg: &dvt_core::incremental::IncrementalConfig,
        window: Option<crate::adapter::incremental::Window<'_>>,
    ) -> Result<u64> {
        let stream = self.execute(run_id, query).await?;
        let none = crate::adapter::TableDdl::default();
        adapter
            .apply_incremental(
                dest,
                crate::adapter::incremental::NewRows::Stream(stream, &none),
                cfg,
                window,
                run_id,
            )
            .await
            .map_err(surface_query_error)
    }

    /// Runs the query and bulk-loads its rows into the staged table of `names` on
    /// `dest_target` (created fresh; dropped again if the load fails). Returns the rows.
    pub async fn stage_into(
        &self,
        run_id: &str,
        query: &FederatedQuery,
        adapter: &Arc<dyn Adapter>,
        names: &crate::adapter::replace::StagedNames,
    ) -> Result<u64> {
        let stream = self.execute(run_id, query).await?;
        adapter
            .stage_stream(names, stream, &crate::adapter::TableDdl::default())
            .await
            .map_err(surface_query_error)
    }

    /// The columns the query returns, from planning it (nothing runs on the sources but
    /// the catalogue reads that give the inputs' columns).
    pub async fn output_schema(
        &self,
        query: &FederatedQuery,
    ) -> Result<arrow::datatypes::SchemaRef> {
        let (ctx, folded) = self.context(COMPILE_RUN_ID, query, Compute::Local).await?;
        let df = plan_sql(&ctx, &folded, &query.sql).await?;
        Ok(Arc::new(df.schema().as_arrow().clone()))
    }

    /// The SQL each input's source would receive, in input order, for `dvt compile` and
    /// tests. Plans the query (reading each input's columns from its source) but runs
    /// nothing. An input the optimizer prunes away is absent; one scanned twice appears
    /// twice.
    pub async fn pushed_sql(&self, query: &FederatedQuery) -> Result<Vec<(RemoteInput, String)>> {
        let (ctx, folded) = self.context(COMPILE_RUN_ID, query, Compute::Local).await?;
        let df = plan_sql(&ctx, &folded, &query.sql).await?;
        let plan = df.create_physical_plan().await.map_err(Error::planning)?;
        let mut scans = Vec::new();
        plan.apply(|node| {
            if let Some((scan, _)) = extract_source(node.as_ref()) {
                for sql in scan.parts() {
                    scans.push((
                        RemoteInput {
                            target: scan.target().to_owned(),
                            relation: scan.relation().clone(),
                        },
                        sql.clone(),
                    ));
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .map_err(Error::planning)?;
        let order: BTreeMap<&RemoteInput, usize> = query
            .inputs
            .iter()
            .enumerate()
            .map(|(i, r)| (r, i))
            .collect();
        scans.sort_by_key(|(input, sql)| (order.get(input).copied(), sql.clone()));
        Ok(scans)
    }

    async fn context(
        &self,
        run_id: &str,
        query: &FederatedQuery,
        compute: Compute,
    ) -> Result<(SessionContext, BTreeSet<String>)> {
        let state = match compute {
            Compute::Local => self.local_state()?,
            Compute::BallistaStandalone | Compute::Ballista(_) => {
                let base = self.ballista_state().await?;
                let catalogs = Arc::new(MemoryCatalogProviderList::new());
                let default_catalog = Arc::new(MemoryCatalogProvider::new());
                default_catalog
                    .register_schema("public", Arc::new(MemorySchemaProvider::new()))
                    .map_err(Error::planning)?;
                catalogs.register_catalog("datafusion".to_owned(), default_catalog);
                SessionStateBuilder::new_from_existing(base.clone())
                    .with_catalog_list(catalogs)
                    .build()
            }
        };
        let ctx = SessionContext::new_with_state(state);
        // A fresh id per execution keeps queries from reusing each other's extracts.
        let query_id = uuid::Uuid::new_v4().simple().to_string();
        let folded = self.register_inputs(&ctx, run_id, &query_id, query).await?;
        Ok((ctx, folded))
    }

    fn local_state(&self) -> Result<SessionState> {
        let mut config = SessionConfig::new();
        if let Some(n) = self.local.threads {
            config = config.with_target_partitions(n.max(1));
        }
        let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
        if let Some(bytes) = self.local.memory_limit {
            runtime = runtime.with_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX), 1.0);
        }
        if let Some(dir) = &self.local.spill_dir {
            runtime = runtime.with_temp_file_path(dir);
        }
        let runtime = runtime.build_arc().map_err(Error::planning)?;
        Ok(SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build())
    }

    /// Ballista's session settings (which, among others, turn off what cannot cross a
    /// stage boundary, such as dynamic filters) with DVT's codecs.
    fn ballista_config(&self) -> SessionConfig {
        // One partition per task: a scan's ranges then spread over every executor, and a
        // task lost with its executor re-runs one range.
        SessionConfig::new_with_ballista()
            .set_usize(
                ballista_core::config::BALLISTA_SCHEDULER_MAX_PARTITIONS_PER_TASK,
                1,
            )
            .with_ballista_logical_extension_codec(Arc::new(DvtLogicalCodec::new(Arc::clone(
                &self.env,
            ))))
            .with_ballista_physical_extension_codec(Arc::new(DvtPhysicalCodec::new(Arc::clone(
                &self.env,
            ))))
    }

    async fn ballista_state(&self) -> Result<&SessionState> {
        self.ballista
            .get_or_try_init(|| async {
                let config = self.ballista_config();
                let state = SessionStateBuilder::new()
                    .with_config(config)
                    .with_default_features()
                    .build();
                let ctx = match &self.compute {
                    Compute::Ballista(url) => SessionContext::remote_with_state(url, state)
                        .await
                        .map_err(|e| Error::ExecutorProcess {
                        source: format!("cannot reach the Ballista scheduler at `{url}`: {e}")
                            .into(),
                    })?,
                    _ => SessionContext::standalone_with_state(state)
                        .await
                        .map_err(Error::execution)?,
                };
                Ok(ctx.state())
            })
            .await
    }

    async fn register_inputs(
        &self,
        ctx: &SessionContext,
        run_id: &str,
        query_id: &str,
        query: &FederatedQuery,
    ) -> Result<BTreeSet<String>> {
        let mut folded = BTreeSet::new();
        let unique: BTreeSet<&RemoteInput> = query.inputs.iter().collect();
        for input in unique {
            let adapter = self.env.registry.adapter(&input.target).await?;
            let remote_schema = adapter.relation_schema(&input.relation).await?;
            let (schema, remote_columns) =
                provider::engine_names(adapter.dialect(), &remote_schema);
            folded.extend(
                remote_columns
                    .iter()
                    .filter(|c| c.to_lowercase() != **c)
                    .cloned(),
            );
            // `dvt compile` shows the unsplit query and runs nothing on the source.
            let ranges = if run_id == COMPILE_RUN_ID {
                Vec::new()
            } else {
                let hint = query.hints.get(input).cloned().unwrap_or_default();
                partition::plan(adapter.as_ref(), &input.relation, &hint).await?
            };
            let spec = InputSpec {
                target: input.target.clone(),
                relation: input.relation.clone(),
                dialect: adapter.dialect(),
                run_id: run_id.to_owned(),
                query_id: query_id.to_owned(),
                remote_columns,
                ranges,
            };
            let provider = DvtTableProvider::new(spec, schema, Arc::clone(&self.env));
            let catalog = match ctx.catalog(&input.target) {
                Some(c) => c,
                None => {
                    let c: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
                    ctx.register_catalog(input.target.clone(), Arc::clone(&c));
                    c
                }
            };
            let schema_provider = match catalog.schema(&input.relation.schema) {
                Some(s) => s,
                None => {
                    let s: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                    catalog
                        .register_schema(&input.relation.schema, Arc::clone(&s))
                        .map_err(Error::planning)?;
                    s
                }
            };
            schema_provider
                .register_table(input.relation.identifier.clone(), Arc::new(provider))
                .map_err(Error::planning)?;
        }
        Ok(folded)
    }
}

/// Plans `sql`. MySQL and SQLite columns reach the engine in lower case
/// ([`provider::engine_names`]), so SQL written for PostgreSQL that quotes a mixed-case
/// column as the source spells it (`cc."CountryName"`) would name no field: such a quoted
/// reference to one of `folded` (the sources' mixed-case names) is read in lower case,
/// unless the query itself defines that name (`as "CountryName"`).
async fn plan_sql(
    ctx: &SessionContext,
    folded: &BTreeSet<String>,
    sql: &str,
) -> Result<datafusion::dataframe::DataFrame> {
    use datafusion::sql::sqlparser::ast::{
        Expr, SelectItem, SetExpr, Statement, visit_expressions_mut,
    };
    if folded.is_empty() {
        return ctx.sql(sql).await.map_err(Error::planning);
    }
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(Error::planning)?;
    let lower_sql = sql.to_lowercase();
    let defined = |name: &str| {
        let quoted = format!("\"{}\"", name.to_lowercase());
        lower_sql
            .match_indices(&quoted)
            .any(|(at, _)| lower_sql[..at].trim_end().ends_with(" as"))
    };
    if let datafusion::sql::parser::Statement::Statement(s) = &mut statement {
        // The result keeps the name as written: `select o."CustomerName"` makes a column
        // `CustomerName`, as on PostgreSQL, not the engine's `customername`.
        if let Statement::Query(q) = s.as_mut()
            && let SetExpr::Select(select) = q.body.as_mut()
        {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) = item {
                    let last = match &*expr {
                        Expr::Identifier(i) => Some(i),
                        Expr::CompoundIdentifier(parts) => parts.last(),
                        _ => None,
                    };
                    if let Some(i) = last.filter(|i| {
                        i.quote_style == Some('"')
                            && folded.contains(&i.value)
                            && !defined(&i.value)
                    }) {
                        let alias = i.clone();
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias,
                        };
                    }
                }
            }
        }
        let _ = visit_expressions_mut(s.as_mut(), |e| {
            let ident = match e {
                Expr::Identifier(i) => Some(i),
                Expr::CompoundIdentifier(parts) => parts.last_mut(),
                _ => None,
            };
            if let Some(i) = ident
                && i.quote_style == Some('"')
                && folded.contains(&i.value)
                && !defined(&i.value)
            {
                i.value = i.value.to_lowercase();
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(Error::planning)?;
    ctx.execute_logical_plan(plan)
        .await
        .map_err(Error::planning)
}

/// A load that failed because the query feeding it failed reports the query's error (a
/// source's `DVT301`, a `DVT303`), not a bulk-load error.
pub(crate) fn surface_query_error(e: Error) -> Error {
    match e {
        Error::BulkLoad {
            target,
            relation,
            source,
        } => match source.downcast::<datafusion::error::DataFusionError>() {
            Ok(df) => Error::execution(*df),
            Err(source) => Error::BulkLoad {
                target,
                relation,
                source,
            },
        },
        other => other,
    }
}

/// Collects a stream, mapping errors to DVT errors.
pub async fn collect_stream(stream: SendableRecordBatchStream) -> Result<Vec<RecordBatch>> {
    stream.try_collect().await.map_err(Error::execution)
}
