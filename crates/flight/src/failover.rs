//! Running a query on a master: plan it over the selected proxy groups, wait for its first
//! batch, and if it fails before that, mark the groups that failed it down (see
//! `planner::health`) and plan it again, at most once per proxy group. The answer's schema
//! metadata says which proxy group served each source group (`flowfold.served_by`) and, for a
//! partial answer, which source groups are missing (`flowfold.missing`).

use std::sync::Arc;

use arrow::datatypes::Schema;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion_distributed::DistributedExt;
use futures::StreamExt;
use planner::{ClusterState, QueryReport, Served};

use crate::metrics::{GroupLabel, QueryMetrics};

/// Starts `plan` on the cluster; `partial` accepts an answer without the source groups that
/// cannot answer.
pub async fn start(
    ctx: &SessionContext,
    cluster: &Arc<ClusterState>,
    metrics: &QueryMetrics,
    plan: LogicalPlan,
    partial: bool,
) -> datafusion::error::Result<SendableRecordBatchStream> {
    if let Some(batch) = planner::distributed_explain(ctx, &plan).await? {
        let schema = batch.schema();
        let rows = futures::stream::iter([Ok(batch)]);
        return Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)));
    }
    let groups: usize = cluster
        .topology()
        .source_groups
        .iter()
        .map(|s| s.proxy_groups.len())
        .sum();
    let mut retries = 0;
    loop {
        let report = Arc::new(QueryReport::new(partial));
        let error = match attempt(ctx, &plan, &report).await {
            Ok(stream) => {
                let served = report.served();
                for (_, proxy_group) in &served.groups {
                    let label = GroupLabel {
                        proxy_group: proxy_group.clone(),
                    };
                    metrics.served.get_or_create(&label).inc();
                }
                if !served.missing.is_empty() {
                    tracing::warn!(missing = ?served.missing, "partial answer");
                }
                return Ok(with_metadata(stream, &served));
            }
            Err(e) => e,
        };
        if retries >= groups {
            return Err(error);
        }
        let down = planner::mark_failed_groups(cluster).await;
        if down.is_empty() {
            return Err(error);
        }
        for group in &down {
            let label = GroupLabel {
                proxy_group: group.clone(),
            };
            metrics.failovers.get_or_create(&label).inc();
        }
        tracing::warn!(error = %error, down = ?down, "query failed on a proxy group; retrying without it");
        retries += 1;
    }
}

/// Plans `plan` with `report` in its session config and waits for its first batch.
async fn attempt(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    report: &Arc<QueryReport>,
) -> datafusion::error::Result<SendableRecordBatchStream> {
    let mut state = ctx.state();
    state.config_mut().set_extension(Arc::clone(report));
    // Workers report their plans' metrics only for `EXPLAIN ANALYZE`: otherwise the answer
    // would wait, after its last row, for every task to send metrics nobody reads.
    state.set_distributed_metrics_collection(matches!(plan, LogicalPlan::Analyze(_)))?;
    let physical = state.create_physical_plan(plan).await?;
    let stream = execute_stream(physical, state.task_ctx())?;
    with_first_batch(stream).await
}

/// Waits for the first batch of `stream`: an error before it is returned as the error.
async fn with_first_batch(
    mut stream: SendableRecordBatchStream,
) -> datafusion::error::Result<SendableRecordBatchStream> {
    let schema = stream.schema();
    let first = match stream.next().await {
        None => None,
        Some(Err(e)) => return Err(e),
        Some(Ok(batch)) => Some(Ok(batch)),
    };
    let rest = futures::stream::iter(first).chain(stream);
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rest)))
}

/// The stream with `served` in its schema's metadata (every batch carries it).
fn with_metadata(stream: SendableRecordBatchStream, served: &Served) -> SendableRecordBatchStream {
    let old = stream.schema();
    let mut metadata = old.metadata().clone();
    metadata.extend(served.metadata());
    let schema = Arc::new(Schema::new_with_metadata(old.fields().clone(), metadata));
    let batches = {
        let schema = Arc::clone(&schema);
        stream.map(move |batch| batch.and_then(|b| Ok(b.with_schema(Arc::clone(&schema))?)))
    };
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}
