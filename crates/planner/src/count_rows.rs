//! Optimizer rule: `count(*)` of a flow scan without conditions is counted by each slave from
//! its files' footers (remembered per file, see `engine::row_counts`) and its open windows'
//! batches, instead of by reading its rows: the `Partial` count over a [`SlaveScanExec`] becomes a
//! [`ClusterCountExec`], which asks each slave for its count with one Flight action and adds them
//! up on the master, with no stage, plan or worker session on the slaves.
//! It must run after DataFusion's physical optimizer rules and before the reduce tree (a
//! count's partial state is one row per slave: there is nothing for a proxy to merge).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_expr::Partitioning;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::channel::TimedChannels;
use crate::cluster_count::{ClusterCountExec, CountRequest};
use crate::scan::SlaveScanExec;

/// The rule; its counts ask the slaves over `connections`.
#[derive(Debug)]
pub struct CountRows {
    connections: Arc<TimedChannels>,
}

impl CountRows {
    /// The rule, asking the slaves over `connections`.
    pub fn new(connections: Arc<TimedChannels>) -> CountRows {
        CountRows { connections }
    }
}

impl PhysicalOptimizerRule for CountRows {
    fn name(&self) -> &str {
        "flowfold_count_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let rewritten = plan.transform_up(|node| match counted_by_slaves(&node, &self.connections) {
            Some(count) => Ok(Transformed::yes(count)),
            None => Ok(Transformed::no(node)),
        })?;
        Ok(rewritten.data)
    }
}

/// The count of the slaves replacing `node`, if it is a `Partial` `count(*)` (no GROUP BY, no
/// DISTINCT or FILTER) of a flow scan with no conditions, limit or rollup.
fn counted_by_slaves(
    node: &Arc<dyn ExecutionPlan>,
    connections: &Arc<TimedChannels>,
) -> Option<Arc<dyn ExecutionPlan>> {
    let aggregate = node.downcast_ref::<AggregateExec>()?;
    if *aggregate.mode() != AggregateMode::Partial || !aggregate.group_expr().is_empty() {
        return None;
    }
    let [count] = aggregate.aggr_expr() else {
        return None;
    };
    let counts_every_row = count.fun().name() == "count"
        && !count.is_distinct()
        && aggregate.filter_expr().iter().all(Option::is_none)
        && matches!(count.expressions().as_slice(),
            [arg] if arg.downcast_ref::<Literal>().is_some_and(|l| !l.value().is_null()));
    if !counts_every_row {
        return None;
    }
    let scan = scan_below(aggregate.input())?;
    let request = scan.request();
    if !request.filters.is_empty() || request.limit.is_some() || request.rollup.is_some() {
        return None;
    }
    let count = ClusterCountExec::new(
        scan.slaves().cloned().collect(),
        CountRequest {
            channel: request.channel.clone(),
        },
        aggregate.schema().field(0).name(),
        node.output_partitioning().partition_count(),
        Arc::clone(connections),
    );
    Some(Arc::new(count))
}

/// The flow scan under `input` through round-robin repartitions only (they move rows, and a
/// count does not care where).
fn scan_below(input: &Arc<dyn ExecutionPlan>) -> Option<&SlaveScanExec> {
    if let Some(scan) = input.downcast_ref::<SlaveScanExec>() {
        return Some(scan);
    }
    let repartition = input.downcast_ref::<RepartitionExec>()?;
    match repartition.partitioning() {
        Partitioning::RoundRobinBatch(_) => scan_below(repartition.input()),
        _ => None,
    }
}
