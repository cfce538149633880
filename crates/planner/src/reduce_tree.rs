//! Optimizer rule: the partial-reduction tree of the design. A two-phase aggregation over the
//! flow scan, with only filters and projections between the scan and its `Partial` aggregate,
//! becomes
//!
//! ```text
//! Final                       master (head stage)
//!   NetworkCoalesce M -> 1
//! ProxyMergeExec              one task per proxy group, on its proxy (or first slave)
//!   PartialReduce
//!     NetworkCoalesce M*K -> M
//! PartialReduce               one task per slave: group g's slaves are tasks g*K .. g*K+K-1
//!   Partial                   (one per partition of the slave)
//!     SlaveScanExec
//! ```
//!
//! so each slave sends one partial state per group (its partitions' states merged, not one per
//! partition), each proxy merges its own slaves' partial states and the master receives one
//! merged partial state per proxy group. The engine groups producer tasks contiguously and
//! evenly, so every group is padded to the widest group's K tasks with empty scans, and a single
//! group gets an empty second group (a 1 -> 1 boundary would be removed and the merge run on the
//! master). That second group runs in the master's process ([`SlaveRef::master_local`]): its
//! tasks cost no plan sent and no connection.
//!
//! When it applies: every GROUP BY key is a low-cardinality flow field ([`LOW_CARDINALITY`]) or a
//! function of `flow_start`/`flow_end` (a time bucket), or there is no GROUP BY. Otherwise the
//! groups could be too many to funnel through one master, and the rule leaves the plan to the
//! engine, which shuffles partial states by key across the slaves; they finish the aggregation
//! (and any top-N above it) and the master receives only final rows. Except a top-N over the
//! slaves of one proxy group: it is finished on that group's proxy (see `group_top_n`). The rule
//! must run after DataFusion's own physical optimizer rules (it is appended after them).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion_distributed::NetworkCoalesceExec;

use crate::cluster::ClusterState;
use crate::group_top_n::TopN;
use crate::merge::ProxyMergeExec;
use crate::scan::SlaveScanExec;
use crate::topology::{ProxyGroup, SlaveRef, Topology};

/// Flow fields with few distinct values: grouping by them keeps the partial states small.
pub const LOW_CARDINALITY: &[&str] = &[
    "exporter",
    "observation_domain",
    "protocol",
    "tcp_flags",
    "tos",
    "direction",
    "vlan",
    "input_if",
    "output_if",
    "src_mask",
    "dst_mask",
    "sampling_interval",
];

/// The rule; it reads group membership from the cluster's topology.
#[derive(Debug)]
pub struct ReduceTree {
    cluster: Arc<ClusterState>,
}

impl ReduceTree {
    /// The rule over `cluster`.
    pub fn new(cluster: Arc<ClusterState>) -> ReduceTree {
        ReduceTree { cluster }
    }
}

impl PhysicalOptimizerRule for ReduceTree {
    fn name(&self) -> &str {
        "flowfold_reduce_tree"
    }

    fn schema_check(&self) -> bool {
        true
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let mut scans = 0;
        plan.apply(|node| {
            scans += usize::from(node.is::<SlaveScanExec>());
            Ok(TreeNodeRecursion::Continue)
        })?;
        if scans != 1 {
            return Ok(plan);
        }
        let rewritten = plan.transform_down(|node| {
            let tree = match self.rewrite_top_n(&node)? {
                Some(tree) => Some(tree),
                None => self.rewrite(&node)?,
            };
            Ok(match tree {
                Some(tree) => Transformed::new(tree, true, TreeNodeRecursion::Jump),
                None => Transformed::no(node),
            })
        })?;
        Ok(rewritten.data)
    }
}

/// A two-phase aggregation over the flow scan, taken apart: its `Partial` aggregate over the
/// padded scan, and what the merge phases need.
struct TwoPhase {
    /// The `Partial` aggregate (and what lies below it), over the padded scan.
    partial: Arc<dyn ExecutionPlan>,
    /// Tasks of the padded scan.
    producer_tasks: usize,
    /// Each group's merger (a single group's padding group last).
    mergers: Vec<SlaveRef>,
    /// Whether every GROUP BY key has few distinct values.
    low_cardinality: bool,
    by_position: PhysicalGroupBy,
    aggregates: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    input_schema: SchemaRef,
}

impl TwoPhase {
    /// The aggregate of `mode` over the `Partial` states of `input` (a single partition).
    fn merge_over(&self, mode: AggregateMode, input: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(AggregateExec::try_new(
            mode,
            self.by_position.clone(),
            self.aggregates.clone(),
            self.filters.clone(),
            Arc::new(CoalescePartitionsExec::new(input)),
            Arc::clone(&self.input_schema),
        )?))
    }

    /// The `Partial` states of each slave's partitions merged by key, keeping the partitions: a
    /// hash repartition on the group keys, then a `PartialReduce` per partition. One state per
    /// group and slave leaves the slave, not one per group and partition, and the merge stays
    /// parallel (the groups of a high-cardinality GROUP BY can be many).
    fn merge_by_key(&self) -> Result<Arc<dyn ExecutionPlan>> {
        let partitions = self.partial.output_partitioning().partition_count();
        if partitions < 2 {
            return Ok(Arc::clone(&self.partial));
        }
        let keys = self.by_position.expr().iter().map(|(e, _)| Arc::clone(e)).collect();
        let by_key = RepartitionExec::try_new(Arc::clone(&self.partial), Partitioning::Hash(keys, partitions))?;
        Ok(Arc::new(AggregateExec::try_new(
            AggregateMode::PartialReduce,
            self.by_position.clone(),
            self.aggregates.clone(),
            self.filters.clone(),
            Arc::new(by_key),
            Arc::clone(&self.input_schema),
        )?))
    }

    /// Whether the scan reads the slaves of one proxy group only.
    fn one_group(&self) -> bool {
        matches!(self.mergers.as_slice(), [_, padding] if padding.is_master_local())
    }
}

impl ReduceTree {
    /// The tree for `node` if it is the final aggregate of an aggregation the rule applies to.
    fn rewrite(&self, node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(parts) = self.two_phase(node)? else {
            return Ok(None);
        };
        if !parts.low_cardinality {
            return Ok(None);
        }
        let groups = parts.mergers.len();
        let per_slave = parts.merge_over(AggregateMode::PartialReduce, Arc::clone(&parts.partial))?;
        let to_proxies = NetworkCoalesceExec::try_new(per_slave, parts.producer_tasks, groups)?;
        let reduce = parts.merge_over(AggregateMode::PartialReduce, Arc::new(to_proxies))?;
        let merge = ProxyMergeExec::new(reduce, parts.mergers.clone());
        let to_master = NetworkCoalesceExec::try_new(Arc::new(merge), groups, 1)?;
        Ok(Some(parts.merge_over(AggregateMode::Final, Arc::new(to_master))?))
    }

    /// The top-N of one proxy group finished on its merger, if `node` is the merge of a top-N
    /// over a high-cardinality aggregation of one proxy group's slaves (see `group_top_n`).
    fn rewrite_top_n(&self, node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(top_n) = TopN::of(node) else {
            return Ok(None);
        };
        let Some(parts) = self.two_phase(&top_n.aggregate)? else {
            return Ok(None);
        };
        if parts.low_cardinality || !parts.one_group() {
            return Ok(None);
        }
        let tasks = parts.mergers.len();
        let to_proxy = NetworkCoalesceExec::try_new(parts.merge_by_key()?, parts.producer_tasks, tasks)?;
        let finished = top_n.rebuild_over(parts.merge_over(AggregateMode::Final, Arc::new(to_proxy))?)?;
        let merge = ProxyMergeExec::new(finished, parts.mergers.clone());
        let to_master = NetworkCoalesceExec::try_new(Arc::new(merge), tasks, 1)?;
        Ok(Some(top_n.merge_over(Arc::new(to_master))?))
    }

    /// `node` taken apart, if it is the final aggregate of a two-phase aggregation over the flow
    /// scan with only filters and projections between the scan and its `Partial` aggregate.
    fn two_phase(&self, node: &Arc<dyn ExecutionPlan>) -> Result<Option<TwoPhase>> {
        let Some(top) = node.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        if !matches!(top.mode(), AggregateMode::Final | AggregateMode::FinalPartitioned) {
            return Ok(None);
        }
        let Some(partial_node) = partial_below(top.input()) else {
            return Ok(None);
        };
        let Some(partial) = partial_node.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        let Some(scan) = scan_below(partial.input()) else {
            return Ok(None);
        };
        let Some((layout, mergers)) = self.layout(&scan) else {
            return Ok(None);
        };
        let producer_tasks = layout.len();
        let padded: Arc<dyn ExecutionPlan> = Arc::new(scan.with_tasks(layout)?);
        let partial_padded = Arc::clone(&partial_node)
            .transform_up(|n| match n.is::<SlaveScanExec>() {
                true => Ok(Transformed::yes(Arc::clone(&padded))),
                false => Ok(Transformed::no(n)),
            })?
            .data;
        Ok(Some(TwoPhase {
            partial: partial_padded,
            producer_tasks,
            mergers,
            low_cardinality: partial.group_expr().expr().iter().all(|(e, _)| low_cardinality(e)),
            by_position: positional(partial.group_expr()),
            aggregates: partial.aggr_expr().to_vec(),
            filters: partial.filter_expr().to_vec(),
            input_schema: partial.input_schema(),
        }))
    }

    /// The padded task layout of `scan` (group by group, K tasks each) and each group's merger.
    fn layout(&self, scan: &SlaveScanExec) -> Option<(Vec<Option<SlaveRef>>, Vec<SlaveRef>)> {
        let topology = self.cluster.topology();
        let mut groups: Vec<(&ProxyGroup, Vec<SlaveRef>)> = Vec::new();
        for slave in scan.slaves() {
            let group = topology.group_of(&slave.name)?;
            match groups.iter_mut().find(|(g, _)| g.name == group.name) {
                Some((_, slaves)) => slaves.push(slave.clone()),
                None => groups.push((group, vec![slave.clone()])),
            }
        }
        let width = groups.iter().map(|(_, s)| s.len()).max()?;
        let mut mergers: Vec<SlaveRef> = Vec::new();
        let mut layout = Vec::new();
        for (group, slaves) in &groups {
            mergers.push(Topology::merger(group).clone());
            layout.extend(slaves.iter().cloned().map(Some));
            layout.extend(std::iter::repeat_n(None, width - slaves.len()));
        }
        if mergers.len() == 1 {
            // The padding group runs in the master's own process: no plan is sent for it.
            mergers.push(SlaveRef::master_local());
            layout.extend(std::iter::repeat_n(Some(SlaveRef::master_local()), width));
        }
        Some((layout, mergers))
    }
}

/// The `Partial` aggregate feeding a final one through repartitions and coalesces only.
fn partial_below(input: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let mut node = Arc::clone(input);
    loop {
        if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
            return (*aggregate.mode() == AggregateMode::Partial).then_some(node);
        }
        if !matches!(
            node.name(),
            "RepartitionExec" | "CoalesceBatchesExec" | "CoalescePartitionsExec"
        ) {
            return None;
        }
        let child = Arc::clone(*node.children().first()?);
        node = child;
    }
}

/// The flow scan under a `Partial` aggregate, if only filters, projections and round-robin
/// repartitions lie between (anything else could need rows of other slaves).
fn scan_below(input: &Arc<dyn ExecutionPlan>) -> Option<SlaveScanExec> {
    let mut node = Arc::clone(input);
    loop {
        if let Some(scan) = node.downcast_ref::<SlaveScanExec>() {
            return scan.with_tasks(scan.tasks().to_vec()).ok();
        }
        let passes = match node.downcast_ref::<RepartitionExec>() {
            Some(r) => matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)),
            None => matches!(node.name(), "FilterExec" | "ProjectionExec" | "CoalesceBatchesExec"),
        };
        if !passes || node.children().len() != 1 {
            return None;
        }
        let child = Arc::clone(node.children()[0]);
        node = child;
    }
}

/// Whether a GROUP BY key has few distinct values.
fn low_cardinality(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let columns = collect_columns(expr);
    if expr.downcast_ref::<Column>().is_some() {
        return columns.iter().all(|c| LOW_CARDINALITY.contains(&c.name()));
    }
    !columns.is_empty()
        && columns
            .iter()
            .all(|c| LOW_CARDINALITY.contains(&c.name()) || matches!(c.name(), "flow_start" | "flow_end"))
}

/// The group-by of the merge phases: the partial output's group columns, by position.
fn positional(group_by: &PhysicalGroupBy) -> PhysicalGroupBy {
    let column = |(i, (_, name)): (usize, &(Arc<dyn PhysicalExpr>, String))| {
        (Arc::new(Column::new(name, i)) as Arc<dyn PhysicalExpr>, name.clone())
    };
    PhysicalGroupBy::new(
        group_by.expr().iter().enumerate().map(column).collect(),
        group_by.null_expr().iter().enumerate().map(column).collect(),
        group_by.groups().to_vec(),
        group_by.has_grouping_set(),
    )
}
