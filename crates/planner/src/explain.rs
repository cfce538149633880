//! `EXPLAIN` on the master shows the distributed plan: DataFusion's `EXPLAIN` plans its input
//! without the session's query planner, so the stages would not appear. This plans the input the
//! way the query would run and draws it stage by stage (tasks, and which slave each scan reads).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion_distributed::display_plan_ascii;

/// The answer to `plan` if it is a plain `EXPLAIN` (not `EXPLAIN ANALYZE`): rows
/// `logical_plan` and `distributed_plan`.
pub async fn distributed_explain(ctx: &SessionContext, plan: &LogicalPlan) -> Result<Option<RecordBatch>> {
    let LogicalPlan::Explain(explain) = plan else {
        return Ok(None);
    };
    let state = ctx.state();
    let logical = state.optimize(&explain.plan)?;
    let physical = state.create_physical_plan(&explain.plan).await?;
    let kinds = StringArray::from(vec!["logical_plan", "distributed_plan"]);
    let plans = StringArray::from(vec![
        logical.display_indent().to_string(),
        display_plan_ascii(physical.as_ref(), false),
    ]);
    let columns: Vec<ArrayRef> = vec![Arc::new(kinds), Arc::new(plans)];
    Ok(Some(RecordBatch::try_new(Arc::clone(explain.schema.inner()), columns)?))
}
