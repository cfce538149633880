//! The two sessions of distributed queries: the master's (plans over the cluster, runs the head
//! stage, merges) and the worker's (runs stage fragments on a slave's own flows).

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{DistributedExt, SessionStateBuilderExt, Worker, WorkerQueryContext};
use engine::profiles::ProfileCatalog;
use engine::sql::functions::flow_functions;
use engine::sql::rollup::UseRollups;
use engine::sql::{CATALOG, QueryResources, query_config, query_runtime};

use crate::channel::{TimedChannels, WorkerTimeouts};
use crate::channels::ChannelCache;
use crate::cluster::ClusterState;
use crate::codec::FlowCodec;
use crate::count_rows::CountRows;
use crate::local::LocalFlows;
use crate::reduce_tree::ReduceTree;
use crate::routing::{ClusterWorkers, route_tasks, scan_task_count, split_scan};
use crate::table::{cluster_catalog, cluster_rollup};
use crate::topology::SlaveRef;

/// The master's session: catalog `flowfold` over `cluster` (its channel tables from
/// `channels`), flow functions, the distributed planner with flowfold's codec, task handlers,
/// the count and reduce-tree rules and connection timeouts, and an in-process worker for the tasks that
/// only pad a plan's shape; the profiles of `profiles` as schemas.
pub fn master_session(
    cluster: Arc<ClusterState>,
    channels: Arc<ChannelCache>,
    profiles: Option<Arc<ProfileCatalog>>,
    resources: &QueryResources,
) -> Result<SessionContext> {
    let timeouts = cluster.timeouts();
    let local_worker = flow_worker(None, resources, timeouts)?;
    let local_url = SlaveRef::master_local()
        .url()
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    // One connection per worker, for the plans' stages and for the counts alike.
    let connections = Arc::new(TimedChannels::new(timeouts));
    let mut builder = SessionStateBuilder::new().with_default_features();
    if resources.rollups {
        builder = builder.with_optimizer_rule(Arc::new(UseRollups::default().with(cluster_rollup)));
    }
    let state = builder
        .with_config(plan_config(resources))
        .with_runtime_env(query_runtime(resources).map_err(to_df)?)
        .with_physical_optimizer_rule(Arc::new(CountRows::new(Arc::clone(&connections))))
        .with_physical_optimizer_rule(Arc::new(ReduceTree::new(Arc::clone(&cluster))))
        .with_distributed_worker_resolver(ClusterWorkers(Arc::clone(&cluster)))
        .with_distributed_channel_resolver(SharedChannels(connections))
        .with_distributed_user_codec(FlowCodec)
        .with_distributed_desired_task_count_handler(scan_task_count)
        .with_distributed_scale_up_leaf_node_handler(split_scan)
        .with_distributed_route_tasks_handler(route_tasks)
        .with_distributed_local_worker_context(local_worker.to_local_worker_context(local_url))
        // A shuffled aggregation too merges each slave's partial states by key before they
        // cross the network (as the reduce tree and the one-group top-N do).
        .with_distributed_partial_reduce(true)?
        // Off unless a query turns it on (`EXPLAIN ANALYZE`, see the failover's `attempt`).
        .with_distributed_metrics_collection(false)?
        .with_distributed_planner()
        .build();
    let ctx = SessionContext::new_with_state(state);
    for function in flow_functions() {
        ctx.register_udf(function);
    }
    ctx.register_catalog(CATALOG, cluster_catalog(cluster, channels, profiles));
    Ok(ctx)
}

/// The master's session options: a node's (see [`query_config`]), with at least
/// [`MIN_TASK_PARTITIONS`] partitions per task whatever the master's own thread count.
fn plan_config(resources: &QueryResources) -> SessionConfig {
    let config = query_config(resources);
    let partitions = config.target_partitions().max(MIN_TASK_PARTITIONS);
    config.with_target_partitions(partitions)
}

/// The fewest partitions the master plans a task with. DataFusion plans a query over one
/// partition without the repartitions and merges the distributed planner cuts stages at, so a
/// master with one thread would plan every query to run in its own process, where no flows are.
const MIN_TASK_PARTITIONS: usize = 2;

/// The worker service of a node storing flows (`local`), or of a node that only computes
/// shuffled stages (`None`).
///
/// Every task gets its own session. The engine offers a builder with DataFusion's default
/// functions and rules, whose `build` registers all of them again: a few percent of a node's
/// CPU on short queries. So the functions and rules are registered once, in a template state,
/// and each task gets a clone of it with the task's own configuration (which carries the
/// engine's per-task extensions) plus flowfold's.
pub fn flow_worker(local: Option<LocalFlows>, resources: &QueryResources, timeouts: WorkerTimeouts) -> Result<Worker> {
    let local = local.map(Arc::new);
    let channels = Arc::new(TimedChannels::new(timeouts));
    let runtime = query_runtime(resources).map_err(to_df)?;
    let mut template = SessionStateBuilder::new()
        .with_default_features()
        .with_runtime_env(Arc::clone(&runtime));
    template
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(flow_functions().into_iter().map(Arc::new));
    let template = Arc::new(template.build());
    let worker = Worker::from_session_builder(move |mut ctx: WorkerQueryContext| {
        let mut config = ctx.builder.config().take().unwrap_or_default();
        if let Some(local) = &local {
            config.set_extension(Arc::clone(local));
        }
        config.set_distributed_channel_resolver(SharedChannels(Arc::clone(&channels)));
        config.set_distributed_user_codec(FlowCodec);
        let mut state = SessionState::clone(&template);
        *state.config_mut() = config;
        async move { Ok(state) }
    });
    Ok(worker.with_runtime_env(runtime).with_version(env!("CARGO_PKG_VERSION")))
}

/// One [`TimedChannels`] shared by all of a worker's queries.
#[derive(Debug)]
struct SharedChannels(Arc<TimedChannels>);

#[async_trait::async_trait]
impl datafusion_distributed::ChannelResolver for SharedChannels {
    async fn get_worker_client_for_url(
        &self,
        url: &url::Url,
    ) -> Result<Box<dyn datafusion_distributed::WorkerChannel>> {
        self.0.get_worker_client_for_url(url).await
    }
}

fn to_df(e: engine::EngineError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}
