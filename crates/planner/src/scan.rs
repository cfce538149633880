//! `SlaveScanExec`: the leaf of every distributed flow query. On the master it stands for the
//! flows of the chosen slaves; the distributed planner gives each task a variant naming exactly
//! one slave, and on that slave `execute` lists the slave's own partitions at that moment (sealed
//! Parquet windows and open logs, pruned by the pushed filters) and reads them. Flow data never
//! leaves its slave except as the result of the fragment above this scan.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties};
use engine::rollup::RollupKind;
use engine::schema::flow_schema;
use engine::snapshot::Channels;
use engine::sql::rollup::{RollupTable, rollup_table_schema};
use engine::sql::{FlowsTable, find_channel};
use futures::TryStreamExt;
use tokio::sync::OnceCell;

use crate::local::LocalFlows;
use crate::topology::SlaveRef;

/// What a scan reads: columns, pushed filters, row limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRequest {
    /// Indices into the flow schema (`None`: every column).
    pub projection: Option<Vec<usize>>,
    /// Filters the slave uses to prune channels, files, row groups and pages (the plan above
    /// still applies them exactly).
    pub filters: Vec<Expr>,
    /// Rows the scan may stop after.
    pub limit: Option<usize>,
    /// Only this live channel (its table name, `exporter_10_0_0_1`): each slave resolves it
    /// against its own channels; `None` reads every channel.
    pub channel: Option<String>,
    /// Read this rollup instead of the flows: the projection and filters are then over
    /// [`rollup_table_schema`], and conditions on `flow_start` alone are applied exactly.
    pub rollup: Option<RollupKind>,
}

impl ScanRequest {
    /// The columns of the table the request reads (before its projection).
    pub fn table_schema(&self) -> SchemaRef {
        match self.rollup {
            Some(kind) => rollup_table_schema(kind),
            None => flow_schema(),
        }
    }
}

/// The leaf of a distributed flow query.
#[derive(Debug)]
pub struct SlaveScanExec {
    inner: Arc<ScanInner>,
    properties: Arc<PlanProperties>,
}

#[derive(Debug)]
struct ScanInner {
    request: ScanRequest,
    /// The task layout: entry `i` is the slave task `i` reads, `None` a padding task that
    /// returns nothing. Before the planner splits the scan: every slave to read (maybe padded,
    /// see `reduce_tree`). A task's variant: exactly one entry.
    tasks: Vec<Option<SlaveRef>>,
    partitions: usize,
    /// The slave's local plan, made on first `execute` and shared by all partitions.
    local: OnceCell<Arc<dyn ExecutionPlan>>,
}

impl SlaveScanExec {
    /// A scan of `slaves`, one task each, with `partitions` output partitions.
    pub fn try_new(request: ScanRequest, slaves: Vec<SlaveRef>, partitions: usize) -> Result<SlaveScanExec> {
        SlaveScanExec::with_layout(request, slaves.into_iter().map(Some).collect(), partitions)
    }

    /// A scan with the task layout `tasks` (`None`: a padding task).
    pub fn with_layout(request: ScanRequest, tasks: Vec<Option<SlaveRef>>, partitions: usize) -> Result<SlaveScanExec> {
        let schema = match &request.projection {
            Some(indices) => Arc::new(request.table_schema().project(indices)?),
            None => request.table_schema(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(SlaveScanExec {
            inner: Arc::new(ScanInner {
                request,
                tasks,
                partitions: partitions.max(1),
                local: OnceCell::new(),
            }),
            properties,
        })
    }

    /// The same scan with another task layout (one entry: one task's variant).
    pub fn with_tasks(&self, tasks: Vec<Option<SlaveRef>>) -> Result<SlaveScanExec> {
        SlaveScanExec::with_layout(self.inner.request.clone(), tasks, self.partitions())
    }

    /// What the scan reads.
    pub fn request(&self) -> &ScanRequest {
        &self.inner.request
    }

    /// The task layout.
    pub fn tasks(&self) -> &[Option<SlaveRef>] {
        &self.inner.tasks
    }

    /// The slaves it reads, in task order.
    pub fn slaves(&self) -> impl Iterator<Item = &SlaveRef> {
        self.inner.tasks.iter().flatten()
    }

    /// Whether this is a padding task of the master's own process (it reads nothing).
    fn is_master_padding(&self) -> bool {
        matches!(self.inner.tasks.as_slice(), [Some(s)] if s.is_master_local())
    }

    /// Output partitions.
    pub fn partitions(&self) -> usize {
        self.inner.partitions
    }
}

impl ScanInner {
    /// The local plan over this slave's partitions, repartitioned to this node's partition count.
    async fn local_plan(&self, ctx: &Arc<TaskContext>) -> Result<Arc<dyn ExecutionPlan>> {
        let slave = match self.tasks.as_slice() {
            [Some(slave)] => slave,
            [None] => return Err(DataFusionError::Internal("a padding scan has nothing to plan".into())),
            many => {
                return Err(DataFusionError::Execution(format!(
                    "a scan of {} tasks was not split: flows are only read on the slave that stores them",
                    many.len()
                )));
            }
        };
        let Some(local) = ctx.session_config().get_extension::<LocalFlows>() else {
            return Err(DataFusionError::Execution(format!(
                "the scan of slave {} reached a node that stores no flows",
                slave.name
            )));
        };
        if local.name != slave.name {
            return Err(DataFusionError::Execution(format!(
                "the scan of slave {} reached slave {} ({}): check the cluster topology",
                slave.name, local.name, slave.query
            )));
        }
        let channels = match &self.request.channel {
            None => Channels::All,
            Some(name) => Channels::Only(find_channel(&local.data_dir, name).into_iter().collect()),
        };
        let flows = FlowsTable::new(&local.data_dir, channels);
        // The local plan is not optimized further: no statistics are read.
        let mut config = ctx.session_config().clone();
        config.options_mut().execution.collect_statistics = false;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(ctx.runtime_env())
            .build();
        let table: Arc<dyn TableProvider> = match self.request.rollup {
            Some(kind) => Arc::new(RollupTable::new(flows, kind)),
            None => Arc::new(flows),
        };
        let plan = table
            .scan(
                &state,
                self.request.projection.as_ref(),
                &self.request.filters,
                self.request.limit,
            )
            .await?;
        let plan = push_filters_into_scan(&state, plan, &self.request.filters)?;
        spread(plan, self.partitions)
    }
}

/// `plan` with `partitions` output partitions.
fn spread(plan: Arc<dyn ExecutionPlan>, partitions: usize) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.output_partitioning().partition_count() == partitions {
        return Ok(plan);
    }
    Ok(Arc::new(RepartitionExec::try_new(
        plan,
        Partitioning::RoundRobinBatch(partitions),
    )?))
}

impl DisplayAs for SlaveScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let inner = &self.inner;
        let names: Vec<&str> = inner
            .tasks
            .iter()
            .map(|t| match t {
                Some(s) if !s.is_master_local() => s.name.as_str(),
                _ => "-",
            })
            .collect();
        write!(f, "SlaveScanExec: slaves=[{}]", names.join(", "))?;
        if let Some(kind) = inner.request.rollup {
            write!(f, ", rollup={}", kind.name())?;
        }
        if let Some(projection) = &inner.request.projection {
            let schema = inner.request.table_schema();
            let columns: Vec<&str> = projection.iter().map(|i| schema.field(*i).name().as_str()).collect();
            write!(f, ", projection=[{}]", columns.join(", "))?;
        }
        if !inner.request.filters.is_empty() {
            let filters: Vec<String> = inner.request.filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", filters=[{}]", filters.join(", "))?;
        }
        if let Some(channel) = &inner.request.channel {
            write!(f, ", channel={channel}")?;
        }
        if let Some(limit) = inner.request.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for SlaveScanExec {
    fn name(&self) -> &str {
        "SlaveScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let schema: SchemaRef = self.schema();
        if matches!(self.inner.tasks.as_slice(), [None]) || self.is_master_padding() {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        }
        // `execute` is synchronous and listing the partitions is not: plan on first poll.
        let inner = Arc::clone(&self.inner);
        let stream = futures::stream::once(async move {
            let plan = inner.local.get_or_try_init(|| inner.local_plan(&ctx)).await?;
            plan.execute(partition, ctx)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Hands the scan's filters to the Parquet sources of `plan`, as DataFusion's own optimizer does
/// for a single-node plan (filter pushdown is a physical-optimizer step, not part of
/// `TableProvider::scan`): files, row groups and pages are then pruned by their statistics. The
/// filters are re-applied exactly above the scan, on the master's side of the plan.
fn push_filters_into_scan(
    state: &SessionState,
    plan: Arc<dyn ExecutionPlan>,
    filters: &[Expr],
) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(predicate) = conjunction(filters.iter().cloned()) else {
        return Ok(plan);
    };
    let schema = DFSchema::try_from(plan.schema())?;
    let Ok(predicate) = state.create_physical_expr(predicate, &schema) else {
        // A filter on a column the scan does not read: leave the pruning to the plan above.
        return Ok(plan);
    };
    let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, plan)?);
    FilterPushdown::new().optimize(filtered, state.config_options())
}
