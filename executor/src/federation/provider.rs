//! DVT's table provider: one remote relation as plain data (target name, relation,
//! schema). Its scans become [`DvtScanExec`] nodes carrying the SQL pushed to the source.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use dvt_core::dialect::{Dialect, Relation};
use serde::{Deserialize, Serialize};

use super::ScanEnvironment;
use super::pushdown::{ROW_MARKER, pushdown_kind, remote_sql};
use super::scan::{DvtScanExec, ScanSpec};

/// The serializable part of a [`DvtTableProvider`] (its schema travels separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputSpec {
    pub(crate) target: String,
    pub(crate) relation: Relation,
    pub(crate) dialect: Dialect,
    pub(crate) run_id: String,
    /// One query execution: its scans share staged files, other queries never do.
    pub(crate) query_id: String,
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
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        // With no columns wanted (`count(*)`), one marker column still carries the rows
        // through staging; the scan then emits batches with a row count and no columns.
        let fetch_schema = if schema.fields().is_empty() {
            Arc::new(Schema::new(vec![Field::new(
                ROW_MARKER,
                DataType::Int64,
                false,
            )]))
        } else {
            Arc::clone(&schema)
        };
        let sql = remote_sql(
            self.spec.dialect,
            &self.spec.relation,
            &self.schema,
            projection.map(Vec::as_slice),
            filters,
            limit,
        )?;
        let spec = ScanSpec {
            target: self.spec.target.clone(),
            relation: self.spec.relation.clone(),
            run_id: self.spec.run_id.clone(),
            query_id: self.spec.query_id.clone(),
            sql,
        };
        Ok(Arc::new(DvtScanExec::new(
            spec,
            schema,
            fetch_schema,
            Arc::clone(&self.env),
        )))
    }
}
