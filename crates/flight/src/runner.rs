//! Planning and running client SQL under the node's limits: read-only statements only,
//! parameters bound, a slot from [`Admission`], and a deadline covering planning and execution.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use datafusion::execution::SendableRecordBatchStream;
use planner::ClusterState;

use crate::error::QueryError;
use crate::limits::{Admission, QueryLimits, RunningQuery};
use crate::metrics::QueryMetrics;

/// Runs client SQL on one session.
pub struct QueryRunner {
    ctx: SessionContext,
    /// On a master: the cluster whose failed proxy groups are skipped on retry.
    failover: Option<Arc<ClusterState>>,
    admission: Admission,
    metrics: Arc<QueryMetrics>,
}

impl QueryRunner {
    /// A runner over `ctx` (normally [`engine::sql::flow_session`]).
    pub fn new(ctx: SessionContext, limits: QueryLimits, metrics: Arc<QueryMetrics>) -> QueryRunner {
        QueryRunner {
            ctx,
            failover: None,
            admission: Admission::new(limits),
            metrics,
        }
    }

    /// Retries a query that fails before its first result on the remaining proxy groups of
    /// `cluster`, after marking the groups that failed it down.
    pub fn with_failover(mut self, cluster: Arc<ClusterState>) -> QueryRunner {
        self.failover = Some(cluster);
        self
    }

    /// The session, for catalog listings.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<QueryMetrics> {
        &self.metrics
    }

    /// Plans `sql` without running it; refuses anything but queries.
    pub async fn plan(&self, sql: &str) -> Result<LogicalPlan, QueryError> {
        let result = self.plan_inner(sql).await;
        if let Err(e) = &result {
            self.metrics.fail(e.kind());
        }
        result
    }

    async fn plan_inner(&self, sql: &str) -> Result<LogicalPlan, QueryError> {
        let plan = self.ctx.state().create_logical_plan(sql).await?;
        if engine::sql::read_only().verify_plan(&plan).is_err() {
            return Err(QueryError::ReadOnly {
                statement: describe(&plan),
            });
        }
        Ok(plan)
    }

    /// Starts running `plan` with `params` bound to its placeholders.
    pub async fn run(&self, plan: LogicalPlan, params: Option<ParamValues>) -> Result<RunningQuery, QueryError> {
        self.run_with(plan, params, false).await
    }

    /// Like [`QueryRunner::run`]; on a master, `partial` accepts an answer without the source
    /// groups that cannot answer (named in the result's metadata) instead of an error.
    pub async fn run_with(
        &self,
        plan: LogicalPlan,
        params: Option<ParamValues>,
        partial: bool,
    ) -> Result<RunningQuery, QueryError> {
        let result = self.run_inner(plan, params, partial).await;
        if let Err(e) = &result {
            self.metrics.fail(e.kind());
        }
        result
    }

    async fn run_inner(
        &self,
        plan: LogicalPlan,
        params: Option<ParamValues>,
        partial: bool,
    ) -> Result<RunningQuery, QueryError> {
        let plan = match params {
            Some(params) => {
                let params = crate::params::cast_to_plan(&plan, params)?;
                plan.with_param_values(params)?
            }
            None => plan,
        };
        let slot = self.admission.admit().await?;
        let limit = self.admission.limits().timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let start = self.start(plan, partial);
        let stream = tokio::time::timeout_at(deadline, start)
            .await
            .map_err(|_| QueryError::Timeout { limit })??;
        Ok(RunningQuery::new(
            stream,
            slot,
            deadline,
            limit,
            Arc::clone(&self.metrics),
        ))
    }
}

impl QueryRunner {
    /// Plans and starts `plan`: on a master through [`crate::failover`], else directly.
    async fn start(&self, plan: LogicalPlan, partial: bool) -> datafusion::error::Result<SendableRecordBatchStream> {
        match &self.failover {
            None => self.ctx.execute_logical_plan(plan).await?.execute_stream().await,
            Some(cluster) => crate::failover::start(&self.ctx, cluster, &self.metrics, plan, partial).await,
        }
    }
}

/// The Arrow schema of a plan's result (field metadata kept: address columns stay marked).
pub fn result_schema(plan: &LogicalPlan) -> SchemaRef {
    Arc::clone(plan.schema().inner())
}

/// What a refused plan would have done, for the error message.
fn describe(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::Ddl(ddl) => format!("DDL ({})", ddl.name()),
        LogicalPlan::Dml(dml) => format!("DML ({})", dml.op),
        LogicalPlan::Copy(_) => "COPY".to_string(),
        LogicalPlan::Statement(statement) => format!("statement ({})", statement.name()),
        other => format!("{} (it changes state)", other.display()),
    }
}
