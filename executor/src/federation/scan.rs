//! DVT's scan: one remote input as a `DataSourceExec` over file groups, one group per
//! range of the source (see [`super::partition`]). Opening a group's one "file" runs the
//! range's query on the source, writes the rows as a Parquet part named by the range into
//! the staging bucket, and streams the part back. Ballista splits a `DataSourceExec` over
//! file groups into one task per group, so each range is extracted once, by the executor
//! that runs its task; a custom scan node would be run whole by every task.
//!
//! The scan is plain data (target name, SQL per range, schemas, run id); the connection
//! comes from the executing process's own [`ScanEnvironment`].

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use dvt_core::dialect::Relation;
use futures::{FutureExt, StreamExt};
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

/// The serializable part of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScanSpec {
    pub(crate) target: String,
    pub(crate) relation: Relation,
    pub(crate) run_id: String,
    pub(crate) query_id: String,
    /// The SQL sent to the source, one statement per range (one when not split).
    pub(crate) parts: Vec<String>,
}

impl ScanSpec {
    /// Where range `index` is staged. Extracts of one relation with different SQL in one
    /// run get different files; the same SQL in the same run reuses the file, so a
    /// retried task rewrites only its own part.
    pub(crate) fn part_path(&self, index: usize) -> ObjectPath {
        let prefix = Staging::input_prefix(&self.run_id, &self.target, &self.relation);
        prefix.join(format!(
            "part-{index:05}-{:016x}.parquet",
            fnv1a(self.parts[index].as_bytes())
        ))
    }

    /// The parts as file groups: one per range, or the ranges dealt round-robin into at
    /// most `groups` groups.
    fn file_groups(&self, groups: Option<usize>) -> Vec<FileGroup> {
        let n = groups.map_or(self.parts.len(), |g| g.min(self.parts.len()).max(1));
        let mut out: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n];
        for i in 0..self.parts.len() {
            out[i % n].push(PartitionedFile::new(self.part_path(i).to_string(), 0));
        }
        out.into_iter().map(FileGroup::new).collect()
    }

    /// The range a group's file stands for.
    fn part_of(&self, file: &PartitionedFile) -> Option<usize> {
        (0..self.parts.len()).find(|i| self.part_path(*i) == file.object_meta.location)
    }
}

/// The scan of one remote input over `spec`'s ranges: what the plan sees is `schema`
/// (empty for `count(*)`); the remote queries return and the parts hold `fetch_schema`.
/// `groups` caps the file groups (see [`ScanSpec::file_groups`]).
pub(crate) fn scan_plan(
    spec: ScanSpec,
    schema: SchemaRef,
    fetch_schema: SchemaRef,
    env: Arc<ScanEnvironment>,
    groups: Option<usize>,
) -> Arc<DataSourceExec> {
    let groups = spec.file_groups(groups);
    let source = DvtExtractSource::new(spec, schema, fetch_schema, env);
    scan_with_groups(source, groups)
}

/// A scan of `source` reading `groups` (all of the source's, or the slice a task got).
pub(crate) fn scan_with_groups(
    source: DvtExtractSource,
    groups: Vec<FileGroup>,
) -> Arc<DataSourceExec> {
    // The parts are read through the process's bucket, not through the session's object
    // stores: the URL only satisfies the config and is never opened.
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_groups(groups)
        .build();
    DataSourceExec::from_data_source(config)
}

/// The DVT source behind a scan plan, with the groups the plan reads.
pub(crate) fn extract_source(
    plan: &dyn ExecutionPlan,
) -> Option<(&DvtExtractSource, &[FileGroup])> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<DvtExtractSource>()?;
    Some((source, &config.file_groups))
}

/// Bytes of one column that a batch read back from staging aims at (the adapters'
/// readers cut their batches at the same size).
const STAGED_BATCH_BYTES: usize = 128 << 20;

/// Encoded bytes an extract buffers before it writes a row group: what each extract
/// running at once holds in memory.
const ROW_GROUP_BYTES: usize = 32 << 20;

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

/// DVT's file source: each "file" is one range of a remote input.
#[derive(Debug, Clone)]
pub struct DvtExtractSource {
    pub(crate) spec: ScanSpec,
    /// What the plan sees (empty for `count(*)`).
    pub(crate) schema: SchemaRef,
    /// What the remote queries return and the parts hold.
    pub(crate) fetch_schema: SchemaRef,
    table_schema: TableSchema,
    metrics: ExecutionPlanMetricsSet,
    env: Arc<ScanEnvironment>,
}

impl DvtExtractSource {
    pub(crate) fn new(
        spec: ScanSpec,
        schema: SchemaRef,
        fetch_schema: SchemaRef,
        env: Arc<ScanEnvironment>,
    ) -> Self {
        DvtExtractSource {
            spec,
            table_schema: TableSchema::from(Arc::clone(&schema)),
            schema,
            fetch_schema,
            metrics: ExecutionPlanMetricsSet::new(),
            env,
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

    /// The SQL sent to the source, one statement per range.
    pub fn parts(&self) -> &[String] {
        &self.spec.parts
    }
}

impl FileSource for DvtExtractSource {
    fn create_file_opener(
        &self,
        _object_store: Arc<dyn object_store::ObjectStore>,
        _base_config: &FileScanConfig,
        _partition: usize,
    ) -> DfResult<Arc<dyn FileOpener>> {
        Ok(Arc::new(ExtractOpener {
            source: self.clone(),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, _batch_size: usize) -> Arc<dyn FileSource> {
        // Parts are read back in batches sized by bytes (see `staged_batch_size`).
        Arc::new(self.clone())
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "dvt"
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(
                f,
                ", target={}, relation={}, ranges={}",
                self.spec.target,
                self.spec.relation,
                self.spec.parts.len()
            ),
            DisplayFormatType::TreeRender => write!(f, "target={}", self.spec.target),
        }
    }

    // The groups are the source's ranges: merging or cutting them would extract a range
    // twice or not at all.
    fn supports_repartitioning(&self) -> bool {
        false
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
}

/// Opens one range: extracts it into its part (unless a finished part is there) and
/// streams the part back.
struct ExtractOpener {
    source: DvtExtractSource,
}

impl FileOpener for ExtractOpener {
    fn open(&self, file: PartitionedFile) -> DfResult<FileOpenFuture> {
        let spec = &self.source.spec;
        let index = spec.part_of(&file).ok_or_else(|| {
            DataFusionError::from(Error::internal(format!(
                "`{}` is not a part of the scan of `{}`",
                file.object_meta.location, spec.relation
            )))
        })?;
        Ok(extract_and_read(
            Arc::clone(&self.source.env),
            spec.clone(),
            index,
            Arc::clone(&self.source.fetch_schema),
            Arc::clone(&self.source.schema),
        )
        .boxed())
    }
}

async fn extract_and_read(
    env: Arc<ScanEnvironment>,
    spec: ScanSpec,
    index: usize,
    fetch_schema: SchemaRef,
    schema: SchemaRef,
) -> DfResult<futures::stream::BoxStream<'static, DfResult<arrow::array::RecordBatch>>> {
    let store = env.staging.store();
    let path = spec.part_path(index);
    let sql = &spec.parts[index];
    let location = path.to_string();
    let staging_err = |e: Box<dyn std::error::Error + Send + Sync>| {
        DataFusionError::from(Error::staging(&location, e))
    };
    if store.head(&path).await.is_err() {
        tracing::debug!(target = %spec.target, relation = %spec.relation, part = index, %sql, "extracting");
        let adapter = env.registry.adapter(&spec.target).await?;
        let mut rows = adapter.query_as(sql, Arc::clone(&fetch_schema)).await?;
        let sink = BufWriter::new(Arc::clone(&store), path.clone());
        let mut writer = AsyncArrowWriter::try_new(sink, Arc::clone(&fetch_schema), None)
            .map_err(|e| staging_err(e.into()))?;
        while let Some(batch) = rows.next().await {
            writer
                .write(&batch?)
                .await
                .map_err(|e| staging_err(e.into()))?;
            // Small row groups bound what each running extract buffers, and what a
            // reader of the part fetches at once.
            if writer.in_progress_size() >= ROW_GROUP_BYTES {
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
    fn ranges_are_one_group_each_on_a_cluster_and_dealt_into_the_partitions_locally() {
        let spec = ScanSpec {
            target: "pg".into(),
            relation: Relation::new("s", "t"),
            run_id: "r".into(),
            query_id: "q".into(),
            parts: (0..5).map(|i| format!("select {i}")).collect(),
        };
        let sizes = |g: &[FileGroup]| g.iter().map(FileGroup::len).collect::<Vec<_>>();
        assert_eq!(sizes(&spec.file_groups(None)), vec![1; 5]);
        let local = spec.file_groups(Some(2));
        assert_eq!(sizes(&local), vec![3, 2]);
        // Every part once, whatever the grouping.
        let mut parts: Vec<String> = local
            .iter()
            .flat_map(|g| g.iter().map(|f| f.object_meta.location.to_string()))
            .collect();
        parts.sort();
        parts.dedup();
        assert_eq!(parts.len(), 5);
        assert_eq!(sizes(&spec.file_groups(Some(16))), vec![1; 5]);
    }

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
