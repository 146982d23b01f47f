//! DVT's table provider: one remote relation as plain data (target name, relation,
//! schema). Its scans are DVT extract scans (see [`super::scan`]) carrying the SQL pushed
//! to the source, one statement per range of the source.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use dvt_core::dialect::{Dialect, Relation};
use serde::{Deserialize, Serialize};

use super::ScanEnvironment;
use super::pushdown::{ROW_MARKER, pushdown_kind, remote_sql_per_range};
use super::scan::{ScanSpec, scan_plan};

/// The serializable part of a [`DvtTableProvider`] (its schema travels separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputSpec {
    pub(crate) target: String,
    pub(crate) relation: Relation,
    pub(crate) dialect: Dialect,
    pub(crate) run_id: String,
    /// One query execution: its scans share staged files, other queries never do.
    pub(crate) query_id: String,
    /// The source's own column names, when the engine sees them under other names
    /// (see [`engine_names`]); empty when they are the same.
    #[serde(default)]
    pub(crate) remote_columns: Vec<String>,
    /// The source's ranges (see [`super::partition`]), planned by the client; empty
    /// when the input is read in one piece.
    #[serde(default)]
    pub(crate) ranges: Vec<String>,
}

/// The schema the engine plans with, and the source's column names when they differ.
///
/// MySQL and SQLite resolve column names case-insensitively, while the engine, like
/// PostgreSQL, folds unquoted names to lower case: a MySQL column `CustomerID` would be
/// unreachable as `CustomerID` (read as `customerid`) and reachable only as
/// `"CustomerID"`. So their columns are exposed in lower case, unless two of them would
/// then collide, and the SQL sent to the source uses the original names.
pub(crate) fn engine_names(dialect: Dialect, remote: &SchemaRef) -> (SchemaRef, Vec<String>) {
    if !matches!(dialect, Dialect::Mysql | Dialect::Sqlite) {
        return (Arc::clone(remote), Vec::new());
    }
    let lowered: Vec<String> = remote
        .fields()
        .iter()
        .map(|f| f.name().to_lowercase())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = lowered.iter().collect();
    let changed = remote
        .fields()
        .iter()
        .zip(&lowered)
        .any(|(f, l)| f.name() != l);
    if !changed || distinct.len() != lowered.len() {
        return (Arc::clone(remote), Vec::new());
    }
    let fields: Vec<Field> = remote
        .fields()
        .iter()
        .zip(&lowered)
        .map(|(f, l)| f.as_ref().clone().with_name(l))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, remote.metadata().clone()));
    let originals = remote.fields().iter().map(|f| f.name().clone()).collect();
    (schema, originals)
}

/// A remote relation registered in DataFusion as `<target>.<schema>.<identifier>`.
#[derive(Debug)]
pub struct DvtTableProvider {
    pub(crate) spec: InputSpec,
    schema: SchemaRef,
    env: Arc<ScanEnvironment>,
}

impl DvtTableProvider {
    pub(crate) fn new(spec: InputSpec, schema: SchemaRef, env: Arc<ScanEnvironment>) -> Self {
        DvtTableProvider { spec, schema, env }
    }

    /// The schema and filters in the source's own column names.
    fn remote_terms(&self, filters: &[Expr]) -> DfResult<(SchemaRef, Vec<Expr>)> {
        if self.spec.remote_columns.is_empty() {
            return Ok((Arc::clone(&self.schema), filters.to_vec()));
        }
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .zip(&self.spec.remote_columns)
            .map(|(f, remote)| f.as_ref().clone().with_name(remote))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ));
        let rename: std::collections::BTreeMap<&str, &str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .zip(self.spec.remote_columns.iter().map(String::as_str))
            .collect();
        let filters = filters
            .iter()
            .map(|f| {
                f.clone()
                    .transform(|e| {
                        Ok(match e {
                            Expr::Column(c) => match rename.get(c.name.as_str()) {
                                Some(remote) => Transformed::yes(Expr::Column(
                                    datafusion::common::Column::new(c.relation, *remote),
                                )),
                                None => Transformed::no(Expr::Column(c)),
                            },
                            other => Transformed::no(other),
                        })
                    })
                    .map(|t| t.data)
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok((schema, filters))
    }

    /// The target the relation lives on.
    pub fn target(&self) -> &str {
        &self.spec.target
    }

    /// The remote relation.
    pub fn relation(&self) -> &Relation {
        &self.spec.relation
    }
}

#[async_trait]
impl TableProvider for DvtTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| pushdown_kind(self.spec.dialect, &self.schema, f))
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let (remote_schema, filters) = self.remote_terms(filters)?;
        // With no columns wanted (`count(*)`), one marker column still carries the rows
        // through staging; the scan then emits batches with a row count and no columns.
        // The staged file keeps the source's column names; the scan renames by position.
        let fetch_schema = if schema.fields().is_empty() {
            Arc::new(Schema::new(vec![Field::new(
                ROW_MARKER,
                DataType::Int64,
                false,
            )]))
        } else {
            match projection {
                Some(p) => Arc::new(remote_schema.project(p)?),
                None => Arc::clone(&remote_schema),
            }
        };
        let parts = remote_sql_per_range(
            self.spec.dialect,
            &self.spec.relation,
            &remote_schema,
            projection.map(Vec::as_slice),
            &filters,
            limit,
            &self.spec.ranges,
        )?;
        let spec = ScanSpec {
            target: self.spec.target.clone(),
            relation: self.spec.relation.clone(),
            run_id: self.spec.run_id.clone(),
            query_id: self.spec.query_id.clone(),
            parts,
        };
        // On a cluster every range is a file group of its own, so each is a task and the
        // ranges spread over the executors (which bound how many run at once). The local
        // engine polls every group at once: there the ranges are dealt into as many
        // groups as it has partitions, each extracting its ranges one after another, so
        // memory and source connections stay bounded by the partitions, not the ranges.
        let on_cluster = state
            .config_options()
            .extensions
            .get::<ballista_core::config::BallistaConfig>()
            .is_some();
        let groups = if on_cluster {
            None
        } else {
            Some(state.config_options().execution.target_partitions.max(1))
        };
        Ok(scan_plan(
            spec,
            schema,
            fetch_schema,
            Arc::clone(&self.env),
            groups,
        ))
    }
}
