//! Ballista extension codecs. DVT's table provider and scan node travel as small JSON
//! documents behind a magic prefix; everything else goes to Ballista's own codecs.
//!
//! A decoded provider or scan gets its [`ScanEnvironment`](crate::federation::ScanEnvironment) (targets, credentials, staging
//! bucket) from the codec of the decoding process, never from the plan.

use std::io::Cursor;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileGroup;
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::federation::{
    DvtExtractSource, DvtLoadExec, DvtTableProvider, InputSpec, LoadSpec, ScanEnvironment,
    ScanSpec, extract_source, scan_with_groups,
};

/// Starts every DVT payload. A zero first byte is never a valid protobuf tag, so the
/// prefix cannot be confused with a Ballista or DataFusion message.
const MAGIC: &[u8] = b"\0dvt\x01";

#[derive(Serialize, Deserialize)]
struct ScanPayload {
    spec: ScanSpec,
    /// Arrow IPC encoding of the plan-facing schema (keeps field metadata).
    schema: Vec<u8>,
    /// Arrow IPC encoding of the staged schema.
    fetch_schema: Vec<u8>,
    /// The parts each file group of the node reads: all of the scan's, or the slice
    /// the scheduler gave one task.
    groups: Vec<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct LoadPayload {
    load: LoadSpec,
}

fn encode_json<T: Serialize>(value: &T, buf: &mut Vec<u8>) -> DfResult<()> {
    buf.extend_from_slice(MAGIC);
    serde_json::to_writer(&mut *buf, value)
        .map_err(|e| Error::internal(format!("encoding a dvt plan node: {e}")).into())
}

fn decode_json<'a, T: Deserialize<'a>>(buf: &'a [u8]) -> Option<DfResult<T>> {
    let body = buf.strip_prefix(MAGIC)?;
    Some(
        serde_json::from_slice(body)
            .map_err(|e| Error::internal(format!("decoding a dvt plan node: {e}")).into()),
    )
}

fn schema_to_ipc(schema: &SchemaRef) -> DfResult<Vec<u8>> {
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

fn schema_from_ipc(bytes: &[u8]) -> DfResult<SchemaRef> {
    let reader = arrow::ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)?;
    Ok(reader.schema())
}

/// The logical codec: encodes [`DvtTableProvider`]s, delegates the rest to
/// [`BallistaLogicalExtensionCodec`].
#[derive(Debug)]
pub struct DvtLogicalCodec {
    env: Arc<ScanEnvironment>,
    inner: BallistaLogicalExtensionCodec,
}

impl DvtLogicalCodec {
    /// A codec whose decoded providers scan with `env`.
    pub fn new(env: Arc<ScanEnvironment>) -> Self {
        DvtLogicalCodec {
            env,
            inner: BallistaLogicalExtensionCodec::default(),
        }
    }
}

impl LogicalExtensionCodec for DvtLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        match decode_json::<InputSpec>(buf) {
            Some(spec) => Ok(Arc::new(DvtTableProvider::new(
                spec?,
                schema,
                Arc::clone(&self.env),
            ))),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        match node.downcast_ref::<DvtTableProvider>() {
            Some(provider) => encode_json(&provider.spec, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// The physical codec: encodes DVT's extract scans, delegates the rest to
/// [`BallistaPhysicalExtensionCodec`].
#[derive(Debug)]
pub struct DvtPhysicalCodec {
    env: Arc<ScanEnvironment>,
    inner: BallistaPhysicalExtensionCodec,
}

impl DvtPhysicalCodec {
    /// A codec whose decoded scans run with `env`.
    pub fn new(env: Arc<ScanEnvironment>) -> Self {
        DvtPhysicalCodec {
            env,
            inner: BallistaPhysicalExtensionCodec::default(),
        }
    }
}

impl PhysicalExtensionCodec for DvtPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // A load's payload names its spec under `load`; a scan's under `spec`.
        if let Some(Ok(payload)) = decode_json::<LoadPayload>(buf) {
            let [input] = inputs else {
                return Err(Error::internal(format!(
                    "a dvt load has one input, got {}",
                    inputs.len()
                ))
                .into());
            };
            return Ok(Arc::new(DvtLoadExec::new(
                payload.load,
                Arc::clone(input),
                Arc::clone(&self.env),
            )));
        }
        match decode_json::<ScanPayload>(buf) {
            Some(payload) => {
                let payload = payload?;
                let source = DvtExtractSource::new(
                    payload.spec,
                    schema_from_ipc(&payload.schema)?,
                    schema_from_ipc(&payload.fetch_schema)?,
                    Arc::clone(&self.env),
                );
                let groups = payload
                    .groups
                    .into_iter()
                    .map(|files| {
                        FileGroup::new(
                            files
                                .into_iter()
                                .map(|f| PartitionedFile::new(f, 0))
                                .collect(),
                        )
                    })
                    .collect();
                Ok(scan_with_groups(source, groups))
            }
            None => self.inner.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        if let Some(load) = node.downcast_ref::<DvtLoadExec>() {
            return encode_json(
                &LoadPayload {
                    load: load.spec.clone(),
                },
                buf,
            );
        }
        match extract_source(node.as_ref()) {
            Some((scan, groups)) => encode_json(
                &ScanPayload {
                    spec: scan.spec.clone(),
                    schema: schema_to_ipc(&scan.schema)?,
                    fetch_schema: schema_to_ipc(&scan.fetch_schema)?,
                    groups: groups
                        .iter()
                        .map(|g| {
                            g.iter()
                                .map(|f| f.object_meta.location.to_string())
                                .collect()
                        })
                        .collect(),
                },
                buf,
            ),
            None => self.inner.try_encode(node, buf, proto_converter),
        }
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;
    use datafusion_proto::physical_plan::DefaultPhysicalProtoConverter;
    use dvt_core::dialect::{Dialect, Relation};

    use super::*;
    use crate::registry::TargetRegistry;
    use crate::staging::Staging;

    #[test]
    fn scan_nodes_and_providers_round_trip_without_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Arc::new(ScanEnvironment {
            registry: Arc::new(TargetRegistry::new(BTreeMap::new())),
            staging: Staging::local(dir.path().to_owned()).expect("staging"),
            executor_id: "test".into(),
        });
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false).with_metadata(HashMap::from([(
                "source_type".to_owned(),
                "bigint".to_owned(),
            )])),
        ]));
        let spec = ScanSpec {
            target: "pg".into(),
            relation: Relation::new("shop", "orders"),
            run_id: "r1".into(),
            query_id: "q1".into(),
            parts: vec![
                "SELECT \"orders\".\"id\" FROM \"shop\".\"orders\" WHERE (ctid < '(4,0)'::TID)"
                    .into(),
                "SELECT \"orders\".\"id\" FROM \"shop\".\"orders\" WHERE (ctid >= '(4,0)'::TID)"
                    .into(),
            ],
        };
        let scan: Arc<dyn ExecutionPlan> = crate::federation::scan_plan(
            spec.clone(),
            Arc::clone(&schema),
            Arc::clone(&schema),
            Arc::clone(&env),
            None,
        );
        let codec = DvtPhysicalCodec::new(Arc::clone(&env));
        let converter = DefaultPhysicalProtoConverter {};
        let mut buf = Vec::new();
        codec
            .try_encode(Arc::clone(&scan), &mut buf, &converter)
            .expect("encodes");
        assert!(buf.starts_with(MAGIC));
        let ctx = SessionContext::new();
        let decoded = codec
            .try_decode(&buf, &[], &ctx.task_ctx(), &converter)
            .expect("decodes");
        let (decoded, groups) = extract_source(decoded.as_ref()).expect("a dvt scan");
        assert_eq!(decoded.spec, spec);
        assert_eq!(decoded.schema, schema);
        assert_eq!(decoded.parts().len(), 2);
        // One group per range, each holding its own part.
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].files()[0].object_meta.location, spec.part_path(1));

        let provider: Arc<dyn TableProvider> = Arc::new(DvtTableProvider::new(
            InputSpec {
                target: "pg".into(),
                relation: Relation::new("shop", "orders"),
                dialect: Dialect::Postgres,
                run_id: "r1".into(),
                query_id: "q1".into(),
                remote_columns: vec!["ID".into()],
                ranges: Vec::new(),
            },
            Arc::clone(&schema),
            Arc::clone(&env),
        ));
        let logical = DvtLogicalCodec::new(env);
        let table = TableReference::full("pg", "shop", "orders");
        let mut buf = Vec::new();
        logical
            .try_encode_table_provider(&table, provider, &mut buf)
            .expect("encodes");
        let text = String::from_utf8_lossy(&buf);
        assert!(!text.contains("password"), "{text}");
        let decoded = logical
            .try_decode_table_provider(&buf, &table, Arc::clone(&schema), &ctx.task_ctx())
            .expect("decodes");
        let decoded = decoded
            .downcast_ref::<DvtTableProvider>()
            .expect("a dvt provider");
        assert_eq!(decoded.relation(), &Relation::new("shop", "orders"));
    }
}
