//! Optimizer rule: `count(*)` of a flow scan without conditions is counted by each slave from
//! its files' footers (remembered per slave, see `engine::row_counts`) and its open windows'
//! batches, instead of by reading its rows: the `Partial` count over a [`SlaveScanExec`] becomes a
//! scan that answers the count itself ([`ScanRequest::count_rows`]), with no plan of its own.
//! On one node DataFusion answers such a count from the statistics already; across slaves the
//! master has none, so each slave counts its own.
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

use crate::scan::{ScanRequest, SlaveScanExec};

/// The rule.
#[derive(Debug, Default)]
pub struct CountRows;

impl PhysicalOptimizerRule for CountRows {
    fn name(&self) -> &str {
        "flowfold_count_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let rewritten = plan.transform_up(|node| match counted_by_slaves(&node)? {
            Some(scan) => Ok(Transformed::yes(scan)),
            None => Ok(Transformed::no(node)),
        })?;
        Ok(rewritten.data)
    }
}

/// The counting scan replacing `node`, if it is a `Partial` `count(*)` (no GROUP BY, no
/// DISTINCT or FILTER) of a flow scan with no conditions, limit or rollup.
fn counted_by_slaves(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *aggregate.mode() != AggregateMode::Partial || !aggregate.group_expr().is_empty() {
        return Ok(None);
    }
    let [count] = aggregate.aggr_expr() else {
        return Ok(None);
    };
    let counts_every_row = count.fun().name() == "count"
        && !count.is_distinct()
        && aggregate.filter_expr().iter().all(Option::is_none)
        && matches!(count.expressions().as_slice(),
            [arg] if arg.downcast_ref::<Literal>().is_some_and(|l| !l.value().is_null()));
    if !counts_every_row {
        return Ok(None);
    }
    let Some(scan) = scan_below(aggregate.input()) else {
        return Ok(None);
    };
    let request = scan.request();
    if !request.filters.is_empty() || request.limit.is_some() || request.rollup.is_some() {
        return Ok(None);
    }
    let state = aggregate.schema().field(0).name().clone();
    let counting = ScanRequest {
        projection: None,
        count_rows: Some(state),
        ..request.clone()
    };
    let scan = SlaveScanExec::with_layout(
        counting,
        scan.tasks().to_vec(),
        node.output_partitioning().partition_count(),
    )?;
    Ok(Some(Arc::new(scan)))
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
