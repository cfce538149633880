//! Planning and running client SQL under the node's limits: read-only statements only,
//! parameters bound, a slot from [`Admission`], and a deadline covering planning and execution.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use planner::ClusterState;

use crate::error::QueryError;
use crate::limits::{Admission, QueryLimits, RunningQuery};
use crate::metrics::{GroupLabel, QueryMetrics};

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
        let result = self.run_inner(plan, params).await;
        if let Err(e) = &result {
            self.metrics.fail(e.kind());
        }
        result
    }

    async fn run_inner(&self, plan: LogicalPlan, params: Option<ParamValues>) -> Result<RunningQuery, QueryError> {
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
        let start = self.start(plan);
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
    /// Plans and starts `plan`. With failover, waits for the first batch: a query that failed
    /// before it is planned again without the proxy groups found down, at most once per group.
    async fn start(&self, plan: LogicalPlan) -> datafusion::error::Result<SendableRecordBatchStream> {
        let Some(cluster) = &self.failover else {
            return self.ctx.execute_logical_plan(plan).await?.execute_stream().await;
        };
        if let Some(batch) = planner::distributed_explain(&self.ctx, &plan).await? {
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
            let started = async {
                let stream = self
                    .ctx
                    .execute_logical_plan(plan.clone())
                    .await?
                    .execute_stream()
                    .await?;
                with_first_batch(stream).await
            };
            let error = match started.await {
                Ok(stream) => return Ok(stream),
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
                self.metrics
                    .failovers
                    .get_or_create(&GroupLabel {
                        proxy_group: group.clone(),
                    })
                    .inc();
            }
            tracing::warn!(error = %error, down = ?down, "query failed on a proxy group; retrying without it");
            retries += 1;
        }
    }
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
