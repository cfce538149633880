//! The top-N of one proxy group, finished on its proxy. When every slave a top-N aggregation
//! reads belongs to one proxy group, that group's merger (its proxy, or first slave) holds all
//! the partial states there are, so it finishes the aggregation and keeps the top N itself:
//!
//! ```text
//! SortPreservingMerge fetch=N      master: merges N rows per task
//!   NetworkCoalesce 2 -> 1
//! ProxyMergeExec                   the group's proxy (task 2: an empty padding task, in the
//!   SortExec TopK(fetch=N)         master's process, see `reduce_tree`)
//!     (projections, filters)
//!       Final
//!         NetworkCoalesce 2K -> 2
//! PartialReduce                    one task per slave: its partitions' states merged by key
//!   Repartition hash(keys)
//!     Partial
//!       SlaveScanExec
//! ```
//!
//! This replaces the engine's shuffle of partial states across the slaves (a second stage on
//! every slave, K x K streams) by one stage on the proxy and K streams. The master still receives
//! only N rows per task. The price: the proxy holds every group of its slaves' flows in memory,
//! as a single node running the query would. Across several proxy groups the groups are still
//! shuffled, so no single node holds the groups of every site.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::execution_plan::ReplaceChildrenOptions;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan};

/// New children: their partitioning and ordering differ from the old ones'.
const RECOMPUTE: ReplaceChildrenOptions = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);

/// Nodes that may lie between the top-N's merge and the final aggregate, besides sorts: each
/// works on its own partition, so it runs on the proxy as well as on the master.
const PER_PARTITION: &[&str] = &["ProjectionExec", "FilterExec", "LocalLimitExec", "CoalesceBatchesExec"];

/// A top-N over an aggregation: the merge on top, the nodes between (top first) and the final
/// aggregate.
pub(crate) struct TopN {
    /// The `SortPreservingMergeExec` with a fetch.
    pub merge: Arc<dyn ExecutionPlan>,
    /// Per-partition nodes between the merge and the aggregate, the merge's child first.
    pub between: Vec<Arc<dyn ExecutionPlan>>,
    /// The final aggregate.
    pub aggregate: Arc<dyn ExecutionPlan>,
}

impl TopN {
    /// `node` as a top-N over an aggregate: a merge with a fetch whose input reaches an aggregate
    /// through per-partition nodes only, one of them a `SortExec` with a fetch (a TopK).
    pub(crate) fn of(node: &Arc<dyn ExecutionPlan>) -> Option<TopN> {
        let merge = node.downcast_ref::<SortPreservingMergeExec>()?;
        merge.fetch()?;
        let mut between = Vec::new();
        let mut top_k = false;
        let mut current = Arc::clone(merge.input());
        while !current.is::<AggregateExec>() {
            let sort = current.downcast_ref::<SortExec>();
            if !(sort.is_some() || PER_PARTITION.contains(&current.name())) || current.children().len() != 1 {
                return None;
            }
            top_k |= sort.is_some_and(|s| s.fetch().is_some());
            let child = Arc::clone(current.children()[0]);
            between.push(current);
            current = child;
        }
        top_k.then(|| TopN {
            merge: Arc::clone(node),
            between,
            aggregate: current,
        })
    }

    /// The nodes between, rebuilt over `aggregate` (same schema as the original aggregate).
    pub(crate) fn rebuild_over(&self, aggregate: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let mut top = aggregate;
        for node in self.between.iter().rev() {
            top = Arc::clone(node).replace_children(vec![top], RECOMPUTE)?;
        }
        Ok(top)
    }

    /// The merge on top, over `input`.
    pub(crate) fn merge_over(&self, input: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        Arc::clone(&self.merge).replace_children(vec![input], RECOMPUTE)
    }
}
