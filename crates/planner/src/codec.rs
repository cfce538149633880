//! How flowfold's plan nodes cross the wire inside a stage plan, as protobuf: a
//! [`SlaveScanExec`] (projection, filters as DataFusion logical expressions, limit, task layout,
//! partition count) and a [`ProxyMergeExec`] (the node of each task).
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

use engine::rollup::RollupKind;

use crate::merge::ProxyMergeExec;
use crate::scan::{ScanRequest, SlaveScanExec};
use crate::topology::SlaveRef;

/// The [`PhysicalExtensionCodec`] of flowfold's plan nodes.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowCodec;

/// One of flowfold's nodes.
#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(oneof = "Node", tags = "1, 2")]
    node: Option<Node>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Node {
    #[prost(message, tag = "1")]
    Scan(ScanProto),
    #[prost(message, tag = "2")]
    Merge(MergeProto),
}

/// A [`ProxyMergeExec`]: the node of each task (its input is the plan's child).
#[derive(Clone, PartialEq, Message)]
struct MergeProto {
    #[prost(message, repeated, tag = "1")]
    mergers: Vec<SlaveProto>,
}

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
    /// The task layout; a task without a slave is padding.
    #[prost(message, repeated, tag = "5")]
    tasks: Vec<TaskProto>,
    #[prost(uint32, tag = "6")]
    partitions: u32,
    #[prost(string, optional, tag = "7")]
    channel: Option<String>,
    /// The rollup read instead of the flows (its kind's name).
    #[prost(string, optional, tag = "8")]
    rollup: Option<String>,
    // Tag 9 was a row count answered instead of rows (now `cluster_count`'s action).
}

#[derive(Clone, PartialEq, Message)]
struct TaskProto {
    #[prost(message, optional, tag = "1")]
    slave: Option<SlaveProto>,
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
        let proto = NodeProto::decode(buf).map_err(codec_error)?;
        match proto.node {
            Some(Node::Scan(scan)) if inputs.is_empty() => decode_scan(scan, ctx),
            Some(Node::Merge(merge)) if inputs.len() == 1 => Ok(Arc::new(ProxyMergeExec::new(
                Arc::clone(&inputs[0]),
                merge.mergers.into_iter().map(slave_ref).collect(),
            ))),
            _ => Err(codec_error(format!("unknown node or {} inputs", inputs.len()))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let node = if let Some(scan) = node.downcast_ref::<SlaveScanExec>() {
            Node::Scan(encode_scan(scan)?)
        } else if let Some(merge) = node.downcast_ref::<ProxyMergeExec>() {
            Node::Merge(MergeProto {
                mergers: merge.mergers().iter().map(slave_proto).collect(),
            })
        } else {
            return Err(codec_error(format!("cannot encode {}", node.name())));
        };
        NodeProto { node: Some(node) }.encode(buf).map_err(codec_error)
    }
}

fn slave_ref(s: SlaveProto) -> SlaveRef {
    SlaveRef::new(s.name, s.query)
}

fn slave_proto(s: &SlaveRef) -> SlaveProto {
    SlaveProto {
        name: s.name.clone(),
        query: s.query.clone(),
    }
}

fn decode_scan(proto: ScanProto, ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    let filters = parse_exprs(&proto.filters, ctx, &DefaultLogicalExtensionCodec {})
        .map_err(|e| codec_error(format!("scan filters: {e}")))?;
    let request = ScanRequest {
        projection: proto
            .has_projection
            .then(|| proto.projection.iter().map(|i| *i as usize).collect()),
        filters,
        limit: proto.limit.map(|l| l as usize),
        channel: proto.channel,
        rollup: match proto.rollup {
            Some(name) => Some(RollupKind::parse(&name).ok_or_else(|| codec_error(format!("unknown rollup {name}")))?),
            None => None,
        },
    };
    let tasks = proto.tasks.into_iter().map(|t| t.slave.map(slave_ref)).collect();
    Ok(Arc::new(SlaveScanExec::with_layout(
        request,
        tasks,
        proto.partitions as usize,
    )?))
}

fn encode_scan(scan: &SlaveScanExec) -> Result<ScanProto> {
    let request = scan.request();
    let proto = ScanProto {
        has_projection: request.projection.is_some(),
        projection: request.projection.iter().flatten().map(|i| *i as u32).collect(),
        filters: serialize_exprs(&request.filters, &DefaultLogicalExtensionCodec {})
            .map_err(|e| codec_error(format!("scan filters: {e}")))?,
        limit: request.limit.map(|l| l as u64),
        tasks: scan
            .tasks()
            .iter()
            .map(|t| TaskProto {
                slave: t.as_ref().map(slave_proto),
            })
            .collect(),
        partitions: scan.partitions() as u32,
        channel: request.channel.clone(),
        rollup: request.rollup.map(|k| k.name().to_string()),
    };
    Ok(proto)
}
