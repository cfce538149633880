//! `ProxyMergeExec`: marks the stage that merges one proxy group's partial aggregates, and names
//! the node each of its tasks runs on (the group's proxy, or its first slave). It passes its
//! input through unchanged; routing reads the names (see `routing`).

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

use crate::topology::SlaveRef;

/// The merge stage of proxy groups: task `i` runs on `mergers[i]`.
#[derive(Debug)]
pub struct ProxyMergeExec {
    input: Arc<dyn ExecutionPlan>,
    mergers: Vec<SlaveRef>,
}

impl ProxyMergeExec {
    /// Marks `input` as the merge stage running on `mergers`, one task each.
    pub fn new(input: Arc<dyn ExecutionPlan>, mergers: Vec<SlaveRef>) -> ProxyMergeExec {
        ProxyMergeExec { input, mergers }
    }

    /// The node of each task.
    pub fn mergers(&self) -> &[SlaveRef] {
        &self.mergers
    }
}

impl DisplayAs for ProxyMergeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.mergers.iter().map(|m| m.name.as_str()).collect();
        write!(f, "ProxyMergeExec: on=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for ProxyMergeExec {
    fn name(&self) -> &str {
        "ProxyMergeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(ProxyMergeExec::new(input, self.mergers.clone()))),
            _ => Err(DataFusionError::Internal("ProxyMergeExec has one input".into())),
        }
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, ctx)
    }
}
