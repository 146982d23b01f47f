//! DVT's scan node: extract one remote query into the staging bucket, then stream the
//! staged Parquet back. The node is plain data (target name, SQL, schemas, run id); the
//! connection comes from the executing process's own [`ScanEnvironment`].

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
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
use dvt_core::dialect::Relation;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
#[allow(deprecated)] // its replacement needs a hand-written `AsyncFileReader`
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::file::metadata::ParquetMetaData;
use serde::{Deserialize, Serialize};

use super::ScanEnvironment;
use crate::adapter::conform_batch;
use crate::error::Error;
use crate::staging::Staging;

/// The serializable part of a [`DvtScanExec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScanSpec {
    pub(crate) target: String,
    pub(crate) relation: Relation,
    pub(crate) run_id: String,
    pub(crate) query_id: String,
    pub(crate) sql: String,
}

impl ScanSpec {
    /// Where this extract is staged. Extracts of one relation with different SQL in one
    /// run get different files; the same SQL in the same run reuses the file.
    pub(crate) fn staged_path(&self) -> ObjectPath {
        let prefix = Staging::input_prefix(&self.run_id, &self.target, &self.relation);
        prefix.join(format!(
            "part-0-{:016x}.parquet",
            fnv1a(self.sql.as_bytes())
        ))
    }
}

/// Bytes of one column that a batch read back from staging aims at (the adapters'
/// readers cut their batches at the same size).
const STAGED_BATCH_BYTES: usize = 128 << 20;

/// Rows per batch when reading a staged file: as many as fit in `max_bytes` of its widest
/// column (decoded sizes from the file's statistics), between 1 and 8,192.
fn staged_batch_size(metadata: &ParquetMetaData, max_bytes: usize) -> usize {
    let mut widest = 0f64;
    for group in metadata.row_groups() {
        let rows = group.num_rows().max(1) as f64;
        for column in group.columns() {
            let bytes = column
                .unencoded_byte_array_data_bytes()
                .unwrap_or_else(|| column.uncompressed_size())
                .max(0) as f64;
            widest = widest.max(bytes / rows);
        }
    }
    if widest <= 0.0 {
        return 8192;
    }
    ((max_bytes as f64 / widest) as usize).clamp(1, 8192)
}

/// A stable hash (unlike std's, which may change between Rust releases): staged file
/// names must agree across processes.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Scans one remote input: runs the pushed SQL on the source, stages the rows as Parquet
/// and streams them back with the plan's schema.
#[derive(Debug)]
pub struct DvtScanExec {
    pub(crate) spec: ScanSpec,
    /// What the plan sees (empty for `count(*)`).
    pub(crate) schema: SchemaRef,
    /// What the remote query returns and the staged file holds.
    pub(crate) fetch_schema: SchemaRef,
    env: Arc<ScanEnvironment>,
    properties: Arc<PlanProperties>,
}

impl DvtScanExec {
    pub(crate) fn new(
        spec: ScanSpec,
        schema: SchemaRef,
        fetch_schema: SchemaRef,
        env: Arc<ScanEnvironment>,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        DvtScanExec {
            spec,
            schema,
            fetch_schema,
            env,
            properties: Arc::new(properties),
        }
    }

    /// The target the rows come from.
    pub fn target(&self) -> &str {
        &self.spec.target
    }

    /// The remote relation.
    pub fn relation(&self) -> &Relation {
        &self.spec.relation
    }

    /// The SQL sent to the source.
    pub fn sql(&self) -> &str {
        &self.spec.sql
    }
}

impl DisplayAs for DvtScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(
                f,
                "DvtScanExec: target={}, sql={}",
                self.spec.target, self.spec.sql
            ),
            DisplayFormatType::TreeRender => write!(f, "target={}", self.spec.target),
        }
    }
}

impl ExecutionPlan for DvtScanExec {
    fn name(&self) -> &'static str {
        "DvtScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
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
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(Error::internal(format!(
                "dvt scan of `{}` asked for partition {partition} of 1",
                self.spec.relation
            ))
            .into());
        }
        let spec = self.spec.clone();
        let env = Arc::clone(&self.env);
        let fetch_schema = Arc::clone(&self.fetch_schema);
        let schema = Arc::clone(&self.schema);
        let stream =
            futures::stream::once(extract_and_read(env, spec, fetch_schema, schema)).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

async fn extract_and_read(
    env: Arc<ScanEnvironment>,
    spec: ScanSpec,
    fetch_schema: SchemaRef,
    schema: SchemaRef,
) -> DfResult<futures::stream::BoxStream<'static, DfResult<arrow::array::RecordBatch>>> {
    let store = env.staging.store();
    let path = spec.staged_path();
    let location = path.to_string();
    let staging_err = |e: Box<dyn std::error::Error + Send + Sync>| {
        DataFusionError::from(Error::staging(&location, e))
    };
    if store.head(&path).await.is_err() {
        tracing::debug!(target = %spec.target, relation = %spec.relation, sql = %spec.sql, "extracting");
        let adapter = env.registry.adapter(&spec.target).await?;
        let mut rows = adapter
            .query_as(&spec.sql, Arc::clone(&fetch_schema))
            .await?;
        let sink = BufWriter::new(Arc::clone(&store), path.clone());
        let mut writer = AsyncArrowWriter::try_new(sink, Arc::clone(&fetch_schema), None)
            .map_err(|e| staging_err(e.into()))?;
        while let Some(batch) = rows.next().await {
            writer
                .write(&batch?)
                .await
                .map_err(|e| staging_err(e.into()))?;
            // Row groups end at the readers' batch size in bytes, so reading one back
            // never needs more than Arrow's 2 GiB per string column.
            if writer.in_progress_size() >= STAGED_BATCH_BYTES {
                writer.flush().await.map_err(|e| staging_err(e.into()))?;
            }
        }
        writer.close().await.map_err(|e| staging_err(e.into()))?;
    }
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store, path.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| staging_err(e.into()))?;
    let batch_size = staged_batch_size(builder.metadata(), STAGED_BATCH_BYTES);
    let staged = builder
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| staging_err(e.into()))?;
    let stream = staged.map(move |batch| {
        let batch =
            batch.map_err(|e| DataFusionError::from(Error::staging(path.to_string(), e)))?;
        conform_batch(&batch, &schema).map_err(DataFusionError::from)
    });
    Ok(stream.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn staged_files_are_read_back_in_batches_sized_by_bytes() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let values: Vec<String> = (0..10).map(|i| format!("{i:0>100}")).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(values))],
        )
        .expect("batch");
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).expect("reader");
        let metadata = reader.metadata();
        // 100 bytes a row: 250 bytes make batches of 2 rows.
        assert_eq!(staged_batch_size(metadata, 250), 2);
        assert_eq!(staged_batch_size(metadata, 10), 1);
        assert_eq!(staged_batch_size(metadata, 1 << 30), 8192);
    }
}
