//! `count(*)` of the cluster's flows, asked of each slave directly: the Flight action
//! [`COUNT_ACTION`], which a slave answers from its files' footers (remembered per file) and its
//! open windows. A count is one number per slave, so it needs no stage of its own: no plan sent,
//! no worker session, no result stream. [`ClusterCountExec`] runs in the master's head stage and
//! sums the answers; a slave that fails fails the query, as a failed task would (the failover
//! then retries without its group).

use std::fmt;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use crate::actions::ask_json;
use crate::channel::TimedChannels;
use crate::topology::SlaveRef;

/// Type of the Flight action a node answers with the number of flows it stores.
pub const COUNT_ACTION: &str = "flowfold.count";

/// The body of a [`COUNT_ACTION`] request (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRequest {
    /// Only this channel table (`exporter_10_0_0_1`); `None`: every channel.
    pub channel: Option<String>,
}

/// A node's answer (JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountAnswer {
    /// Flows stored, sealed and open.
    pub rows: u64,
}

/// Asks the node behind `channel` how many flows it stores.
pub async fn ask_count(channel: Channel, request: &CountRequest) -> Result<u64, tonic::Status> {
    let answer: CountAnswer = ask_json(channel, COUNT_ACTION, request).await?;
    Ok(answer.rows)
}

/// The partial state of a `count(*)` over the slaves of `slaves`: one row, their sum, in
/// partition 0 of `partitions`.
#[derive(Debug)]
pub struct ClusterCountExec {
    slaves: Vec<SlaveRef>,
    request: CountRequest,
    connections: Arc<TimedChannels>,
    properties: Arc<PlanProperties>,
}

impl ClusterCountExec {
    /// A count of `slaves` (of `request.channel` only, if given) whose one column is `state`.
    pub fn new(
        slaves: Vec<SlaveRef>,
        request: CountRequest,
        state: &str,
        partitions: usize,
        connections: Arc<TimedChannels>,
    ) -> ClusterCountExec {
        let schema = Arc::new(Schema::new(vec![Field::new(state, DataType::Int64, false)]));
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions.max(1)),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        ClusterCountExec {
            slaves,
            request,
            connections,
            properties,
        }
    }

    /// The slaves it asks.
    pub fn slaves(&self) -> &[SlaveRef] {
        &self.slaves
    }
}

/// The sum of every slave's count; the first failure, naming its slave, otherwise.
async fn count_all(slaves: Vec<SlaveRef>, request: CountRequest, connections: Arc<TimedChannels>) -> Result<u64> {
    let asks = slaves.iter().map(|slave| {
        let connections = Arc::clone(&connections);
        let request = &request;
        async move {
            let url = slave.url().map_err(|e| DataFusionError::External(Box::new(e)))?;
            let channel = connections.channel(&url)?;
            ask_count(channel, request)
                .await
                .map_err(|e| DataFusionError::Execution(format!("counting the flows of slave {}: {e}", slave.name)))
        }
    });
    let counts = futures::future::try_join_all(asks).await?;
    Ok(counts.into_iter().sum())
}

impl DisplayAs for ClusterCountExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.slaves.iter().map(|s| s.name.as_str()).collect();
        write!(f, "ClusterCountExec: slaves=[{}]", names.join(", "))?;
        if let Some(channel) = &self.request.channel {
            write!(f, ", channel={channel}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ClusterCountExec {
    fn name(&self) -> &str {
        "ClusterCountExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, _ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let schema: SchemaRef = self.schema();
        if partition != 0 {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        }
        let (slaves, request, connections) = (self.slaves.clone(), self.request.clone(), Arc::clone(&self.connections));
        let batch_schema = Arc::clone(&schema);
        let batch = futures::stream::once(async move {
            let rows = count_all(slaves, request, connections).await?;
            let rows =
                i64::try_from(rows).map_err(|_| DataFusionError::Execution(format!("{rows} rows overflow a count")))?;
            Ok(RecordBatch::try_new(
                batch_schema,
                vec![Arc::new(Int64Array::from(vec![rows]))],
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batch)))
    }
}
