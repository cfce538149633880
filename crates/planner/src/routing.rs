//! The engine's planning events, answered from the topology:
//! - task count: a [`SlaveScanExec`] runs as one task per slave, and never fewer than two tasks
//!   (the engine removes a 1-to-1 network boundary and would then read on the master, which has
//!   no flows; the second task of a one-slave cluster is an empty padding scan);
//! - leaf split: task `i` reads slave `i` only;
//! - routing: a stage holding the split scan runs task `i` on slave `i`; a merge stage
//!   (`ProxyMergeExec`, see `reduce_tree`) runs task `g` on group `g`'s proxy (or, for a padding
//!   group, in the master's process); other stages (a shuffled GROUP BY, a join) go round-robin
//!   over the selected slaves, the resolver's URLs, a single task beside its input's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedLeafExec, NetworkBoundaryExt, RouteTasksEvent,
    RouteTasksEventResponse, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse, Stage, WorkerResolver,
    get_distributed_worker_resolver,
};
use url::Url;

use crate::cluster::ClusterState;
use crate::cluster_count::ClusterCountExec;
use crate::merge::ProxyMergeExec;
use crate::scan::SlaveScanExec;
use crate::topology::SlaveRef;

/// Tasks a scan runs as: its layout, at least two.
fn tasks_for(scan: &SlaveScanExec) -> usize {
    scan.tasks().len().max(2)
}

/// Task count of a stage reading flows: one task per slave (at least two); a count of the
/// slaves ([`ClusterCountExec`]) asks them itself, from the master: one task.
pub fn scan_task_count(ev: DesiredTaskCountEvent) -> Option<Result<DesiredTaskCountEventResponse>> {
    if ev.plan.is::<ClusterCountExec>() {
        return Some(Ok(DesiredTaskCountEventResponse::maximum(1)));
    }
    let scan = ev.plan.downcast_ref::<SlaveScanExec>()?;
    Some(Ok(DesiredTaskCountEventResponse::maximum(tasks_for(scan))))
}

/// Splits a scan into one variant per task: task `i` reads slave `i`, padding tasks read nothing.
pub fn split_scan(ev: ScaleUpLeafNodeEvent) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    let scan = ev.plan.downcast_ref::<SlaveScanExec>()?;
    let layout = scan.tasks();
    if ev.task_count < layout.len() {
        return Some(Err(DataFusionError::Plan(format!(
            "a flow scan of {} tasks given only {} tasks: raise distributed.max_tasks_per_stage",
            layout.len(),
            ev.task_count
        ))));
    }
    let variants: Result<Vec<Arc<dyn ExecutionPlan>>> = (0..ev.task_count)
        .map(|i| {
            let mine = vec![layout.get(i).cloned().flatten()];
            Ok(Arc::new(scan.with_tasks(mine)?) as Arc<dyn ExecutionPlan>)
        })
        .collect();
    Some(
        variants
            .and_then(|v| DistributedLeafExec::try_new(Arc::clone(ev.plan), v))
            .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))),
    )
}

/// Routes the tasks of a stage that reads flows to the slaves their scans name, and those of a
/// proxy groups' merge stage to the groups' proxies.
pub fn route_tasks(ev: RouteTasksEvent) -> Option<Result<RouteTasksEventResponse>> {
    if let Some(mergers) = stage_mergers(ev.plan) {
        if mergers.len() != ev.task_count {
            return Some(Err(DataFusionError::Plan(format!(
                "a merge stage of {} tasks for {} proxy groups",
                ev.task_count,
                mergers.len()
            ))));
        }
        let urls: Result<Vec<Url>> = mergers.iter().map(|m| m.url().map_err(DataFusionError::from)).collect();
        return Some(urls.map(RouteTasksEventResponse::new));
    }
    let Some(variants) = stage_scan_variants(ev.plan) else {
        return Some(route_other(&ev));
    };
    let urls: Result<Vec<Url>> = (0..ev.task_count)
        .map(|i| {
            // A padding task runs anywhere: on the first slave of the layout.
            let slave = variants
                .get(i)
                .and_then(|v| v.first())
                .or_else(|| variants.iter().find_map(|v| v.first()))
                .ok_or_else(|| DataFusionError::Plan("a flow scan with no slave to run on".into()))?;
            slave.url().map_err(DataFusionError::from)
        })
        .collect();
    Some(urls.map(RouteTasksEventResponse::new))
}

/// Routes a stage that neither reads flows nor merges a proxy group's partials (a shuffled
/// GROUP BY, a join, a broadcast table) to the selected slaves: a single task beside the one
/// task of the stage it reads, if there is one (no transfer); otherwise round-robin from a start
/// that moves on with every stage. Never the master's in-process worker, where the engine would
/// put a single task: the other nodes reading that stage cannot reach it.
fn route_other(ev: &RouteTasksEvent) -> Result<RouteTasksEventResponse> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    if ev.task_count == 1
        && let Some(url) = single_child_worker(ev.plan)
    {
        return Ok(RouteTasksEventResponse::new(vec![url]));
    }
    let urls = get_distributed_worker_resolver(ev.task_ctx.session_config())?.get_urls()?;
    if urls.is_empty() {
        return Err(DataFusionError::Plan("no slave to run a stage on".into()));
    }
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(RouteTasksEventResponse::new(
        (0..ev.task_count)
            .map(|i| urls[(start + i) % urls.len()].clone())
            .collect(),
    ))
}

/// The worker of the stage `plan` reads, if that stage runs as one task.
fn single_child_worker(plan: &Arc<dyn ExecutionPlan>) -> Option<Url> {
    let mut found = None;
    let _ = plan.apply(|node| {
        let Some(boundary) = node.as_network_boundary() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if let Stage::Remote(remote) = boundary.input_stage()
            && let [url] = remote.workers.as_slice()
        {
            found = Some(url.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Jump)
    });
    found
}

/// The merge nodes of this stage, if it is a proxy groups' merge stage.
fn stage_mergers(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<SlaveRef>> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if node.is_network_boundary() {
            return Ok(TreeNodeRecursion::Jump);
        }
        if let Some(merge) = node.downcast_ref::<ProxyMergeExec>() {
            found = Some(merge.mergers().to_vec());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The slaves of each task's scan in this stage (not looking into other stages).
fn stage_scan_variants(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<Vec<SlaveRef>>> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if node.is_network_boundary() {
            return Ok(TreeNodeRecursion::Jump);
        }
        if let Some(leaf) = node.downcast_ref::<DistributedLeafExec>()
            && leaf.original().is::<SlaveScanExec>()
        {
            let slaves = leaf.variants().iter().filter_map(|v| v.downcast_ref::<SlaveScanExec>());
            found = Some(slaves.map(|s| s.slaves().cloned().collect()).collect());
            return Ok(TreeNodeRecursion::Stop);
        }
        if let Some(scan) = node.downcast_ref::<SlaveScanExec>() {
            found = Some(scan.tasks().iter().map(|t| t.iter().cloned().collect()).collect());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The engine's worker list: the selected slaves.
#[derive(Debug, Clone)]
pub struct ClusterWorkers(pub Arc<ClusterState>);

impl WorkerResolver for ClusterWorkers {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        self.0.worker_urls().map_err(DataFusionError::from)
    }
}
