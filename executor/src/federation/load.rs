//! Loads by executors: the last stage of a federated model on a cluster writes the
//! destination from the executors that computed it. Each task loads its partition into a
//! staging table of its own (named for the run, the partition and the attempt: a
//! database's temporary tables belong to one connection, and a re-run task must never
//! write into a table a lost attempt may have filled) and returns one row naming it. The
//! client builds the model's relation from exactly the tables named in the rows it
//! received, swaps it in, and drops every staging table of the run.

use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use dvt_core::dialect::{Dialect, Relation};
use serde::{Deserialize, Serialize};

use super::ScanEnvironment;
use crate::adapter::replace::{MARKER, fit, fnv1a};
use crate::error::Error;

/// The serializable part of a [`DvtLoadExec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoadSpec {
    /// The destination target.
    pub(crate) target: String,
    /// The model's relation; staging tables go in its schema.
    pub(crate) relation: Relation,
    pub(crate) run_id: String,
    /// The model's table: SQL types for named columns and table constraints (a
    /// contract). Each partition's table takes the column types only: a key is checked
    /// once the parts are one table.
    pub(crate) ddl: crate::adapter::TableDdl,
}

/// Hex digits of the partition and the attempt that end every staging table name, so all
/// of a run's tables share one prefix however long the model's name is.
const TAIL: usize = 12;

impl LoadSpec {
    /// The name every staging table of this model in this run starts with.
    pub(crate) fn prefix(&self, dialect: Dialect) -> String {
        let name = self.table_name(dialect, 0, 0);
        name[..name.len() - TAIL].to_owned()
    }

    fn table_name(&self, dialect: Dialect, partition: usize, attempt: u32) -> String {
        let run = fnv1a(self.run_id.as_bytes()) as u32;
        fit(
            dialect,
            &self.relation.identifier,
            &format!(
                "{MARKER}ld_{run:08x}_{:04x}{attempt:08x}",
                partition & 0xffff
            ),
        )
    }

    fn table(&self, dialect: Dialect, partition: usize, attempt: u32) -> Relation {
        Relation {
            database: self.relation.database.clone(),
            schema: self.relation.schema.clone(),
            identifier: self.table_name(dialect, partition, attempt),
            quoting: self.relation.quoting,
        }
    }
}

/// The name every staging table a cluster load of `relation` in run `run_id` creates
/// starts with.
pub fn load_prefix(dialect: Dialect, relation: &Relation, run_id: &str) -> String {
    LoadSpec {
        target: String::new(),
        relation: relation.clone(),
        run_id: run_id.to_owned(),
        ddl: crate::adapter::TableDdl::default(),
    }
    .prefix(dialect)
}

/// The rows a load returns: one per partition loaded.
pub(crate) static LOAD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("staging_table", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("executor", DataType::Utf8, false),
        Field::new("task", DataType::Utf8, false),
    ]))
});

/// Loads each partition of its input into a staging table of its own.
#[derive(Debug)]
pub struct DvtLoadExec {
    pub(crate) spec: LoadSpec,
    input: Arc<dyn ExecutionPlan>,
    env: Arc<ScanEnvironment>,
    properties: Arc<PlanProperties>,
}

impl DvtLoadExec {
    pub(crate) fn new(
        spec: LoadSpec,
        input: Arc<dyn ExecutionPlan>,
        env: Arc<ScanEnvironment>,
    ) -> Self {
        let partitions = input.properties().partitioning.partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&LOAD_SCHEMA)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        DvtLoadExec {
            spec,
            input,
            env,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for DvtLoadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DvtLoadExec: target={}, relation={}",
            self.spec.target, self.spec.relation
        )
    }
}

impl ExecutionPlan for DvtLoadExec {
    fn name(&self) -> &'static str {
        "DvtLoadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    // The scheduler cuts the input down to one task's partitions: the partition count
    // must follow the new child.
    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::from(Error::internal(format!(
                "a dvt load has one input, got {}",
                c.len()
            )))
        })?;
        Ok(Arc::new(DvtLoadExec::new(
            self.spec.clone(),
            input,
            Arc::clone(&self.env),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let spec = self.spec.clone();
        let env = Arc::clone(&self.env);
        let task = context
            .task_id()
            .unwrap_or_else(|| format!("local-{partition}"));
        let stream = futures::stream::once(async move {
            let adapter = env.registry.adapter(&spec.target).await?;
            // A fresh attempt number per execution: a task re-run after its executor was
            // lost writes a new table, and the lost attempt's is dropped at the end.
            let attempt = uuid::Uuid::new_v4().as_u128() as u32;
            let table = spec.table(adapter.dialect(), partition, attempt);
            adapter.drop_relation(&table).await?;
            let part = crate::adapter::TableDdl::columns(spec.ddl.column_types.clone());
            adapter.create_table(&table, &input.schema(), &part).await?;
            let rows = match adapter.append(&table, input).await {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = adapter.drop_relation(&table).await;
                    // As on the client: a load that failed because its input failed
                    // reports the input's error.
                    return Err(DataFusionError::from(super::surface_query_error(e)));
                }
            };
            tracing::debug!(target = %spec.target, table = %table, rows, task, "loaded a partition");
            RecordBatch::try_new(
                Arc::clone(&LOAD_SCHEMA),
                vec![
                    Arc::new(StringArray::from(vec![table.identifier])),
                    Arc::new(UInt64Array::from(vec![rows])),
                    Arc::new(StringArray::from(vec![env.executor_id.clone()])),
                    Arc::new(StringArray::from(vec![task])),
                ],
            )
            .map_err(DataFusionError::from)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&LOAD_SCHEMA),
            stream,
        )))
    }
}

/// What the client learns from a load's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPart {
    /// The staging table holding the partition.
    pub table: String,
    /// Rows in it.
    pub rows: u64,
    /// The executor that loaded it.
    pub executor: String,
    /// The task, as `job/stage/task`.
    pub task: String,
}

/// Reads the rows of a finished load.
pub(crate) fn loaded_parts(batches: &[RecordBatch]) -> crate::error::Result<Vec<LoadedPart>> {
    let mut out = Vec::new();
    for batch in batches {
        let column = |i: usize| batch.column(i).as_any();
        let (Some(tables), Some(rows), Some(executors), Some(tasks)) = (
            column(0).downcast_ref::<StringArray>(),
            column(1).downcast_ref::<UInt64Array>(),
            column(2).downcast_ref::<StringArray>(),
            column(3).downcast_ref::<StringArray>(),
        ) else {
            return Err(Error::internal("a dvt load returned rows of another shape"));
        };
        for r in 0..batch.num_rows() {
            out.push(LoadedPart {
                table: tables.value(r).to_owned(),
                rows: rows.value(r),
                executor: executors.value(r).to_owned(),
                task: tasks.value(r).to_owned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_tables_of_a_run_share_a_prefix_even_for_long_names() {
        for name in ["orders", &"x".repeat(80)] {
            let spec = LoadSpec {
                target: "pg".into(),
                relation: Relation::new("s", name),
                run_id: "run-1".into(),
                ddl: crate::adapter::TableDdl::default(),
            };
            let prefix = spec.prefix(Dialect::Postgres);
            let a = spec.table_name(Dialect::Postgres, 3, 7);
            let b = spec.table_name(Dialect::Postgres, 65535, u32::MAX);
            assert!(
                a.starts_with(&prefix) && b.starts_with(&prefix),
                "{a} {b} {prefix}"
            );
            assert_ne!(a, b);
            assert!(Dialect::Postgres.identifier_fits(&b), "{b}");
            let other_run = LoadSpec {
                run_id: "run-2".into(),
                ..spec.clone()
            };
            assert!(
                !other_run
                    .table_name(Dialect::Postgres, 3, 7)
                    .starts_with(&prefix)
            );
        }
    }
}
