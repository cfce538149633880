//! How a [`SlaveScanExec`] crosses the wire inside a stage plan: its request (projection, filters
//! as DataFusion logical expressions, limit), its slaves and its partition count, as protobuf.
//! Registered on the master and on every worker; filters that call flow functions decode on
//! workers because their sessions register the same functions.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::DefaultLogicalExtensionCodec;
use datafusion_proto::logical_plan::from_proto::parse_exprs;
use datafusion_proto::logical_plan::to_proto::serialize_exprs;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::LogicalExprNode;
use prost::Message;

use crate::scan::{ScanRequest, SlaveScanExec};
use crate::topology::SlaveRef;

/// The [`PhysicalExtensionCodec`] of flowfold's plan nodes.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowCodec;

#[derive(Clone, PartialEq, Message)]
struct ScanProto {
    #[prost(bool, tag = "1")]
    has_projection: bool,
    #[prost(uint32, repeated, tag = "2")]
    projection: Vec<u32>,
    #[prost(message, repeated, tag = "3")]
    filters: Vec<LogicalExprNode>,
    #[prost(uint64, optional, tag = "4")]
    limit: Option<u64>,
    #[prost(message, repeated, tag = "5")]
    slaves: Vec<SlaveProto>,
    #[prost(uint32, tag = "6")]
    partitions: u32,
}

#[derive(Clone, PartialEq, Message)]
struct SlaveProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    query: String,
}

fn codec_error(what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("flowfold plan codec: {what}"))
}

impl PhysicalExtensionCodec for FlowCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(codec_error(format!(
                "SlaveScanExec has no inputs, got {}",
                inputs.len()
            )));
        }
        let proto = ScanProto::decode(buf).map_err(codec_error)?;
        let filters = parse_exprs(&proto.filters, ctx, &DefaultLogicalExtensionCodec {})
            .map_err(|e| codec_error(format!("scan filters: {e}")))?;
        let request = ScanRequest {
            projection: proto
                .has_projection
                .then(|| proto.projection.iter().map(|i| *i as usize).collect()),
            filters,
            limit: proto.limit.map(|l| l as usize),
        };
        let slaves = proto
            .slaves
            .into_iter()
            .map(|s| SlaveRef {
                name: s.name,
                query: s.query,
            })
            .collect();
        Ok(Arc::new(SlaveScanExec::try_new(
            request,
            slaves,
            proto.partitions as usize,
        )?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(scan) = node.downcast_ref::<SlaveScanExec>() else {
            return Err(codec_error(format!("cannot encode {}", node.name())));
        };
        let request = scan.request();
        let proto = ScanProto {
            has_projection: request.projection.is_some(),
            projection: request.projection.iter().flatten().map(|i| *i as u32).collect(),
            filters: serialize_exprs(&request.filters, &DefaultLogicalExtensionCodec {})
                .map_err(|e| codec_error(format!("scan filters: {e}")))?,
            limit: request.limit.map(|l| l as u64),
            slaves: scan
                .slaves()
                .iter()
                .map(|s| SlaveProto {
                    name: s.name.clone(),
                    query: s.query.clone(),
                })
                .collect(),
            partitions: scan.partitions() as u32,
        };
        proto.encode(buf).map_err(codec_error)
    }
}
