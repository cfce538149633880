//! A running master: Flight SQL over the cluster (the distributed session) and the metrics
//! endpoint. It stores no flows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::sql::QueryResources;
use flight::{FlowSqlService, QueryLimits, QueryMetrics, QueryRunner};
use planner::{ChannelCache, ClusterState, FlowSourceStore, Topology, TopologyStore, WorkerTimeouts, master_session};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// How to run a master.
#[derive(Debug, Clone)]
pub struct MasterSettings {
    /// The configuration's topology: the initial state of the catalog's (used on a first start).
    pub topology: Topology,
    pub timeouts: WorkerTimeouts,
    pub down_for: Duration,
    pub query: SocketAddr,
    pub metrics: SocketAddr,
    pub query_resources: QueryResources,
    pub query_limits: QueryLimits,
    /// The profile catalog file (`None`: profiles kept in memory, lost at exit).
    pub catalog: Option<std::path::PathBuf>,
    /// The control service (`[control]`).
    pub control: crate::config::control::MasterControlSection,
}

/// What the master bound, written to the ready file.
#[derive(Debug, Clone, Serialize)]
pub struct MasterReady {
    pub pid: u32,
    pub query: SocketAddr,
    pub metrics: SocketAddr,
    /// The control service nodes register with.
    pub control: SocketAddr,
}

/// A started master.
pub struct Master {
    pub ready: MasterReady,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop_queries: tokio::sync::oneshot::Sender<()>,
    /// A backup master's session to the master it follows.
    follower: Option<flight::control::ControlClient>,
    /// Where a backup master keeps the configuration it follows (kept alive with it).
    _state_dir: Option<Follow>,
}

/// The directory of a backup master's followed configuration: beside its catalog, or a
/// temporary one for a master without a catalog file.
enum Follow {
    Dir(std::path::PathBuf),
    Temporary(tempfile::TempDir),
}

impl Follow {
    fn path(&self) -> &std::path::Path {
        match self {
            Follow::Dir(dir) => dir,
            Follow::Temporary(dir) => dir.path(),
        }
    }
}

impl Master {
    /// Binds the query port and the metrics endpoint.
    pub async fn start(settings: MasterSettings) -> anyhow::Result<Master> {
        // The topology lives in the catalog file beside the profiles; the configuration's is
        // only the initial state (see `planner::store`).
        let store = match settings.catalog.as_deref() {
            Some(path) => {
                TopologyStore::open(path).with_context(|| format!("opening the topology catalog {}", path.display()))?
            }
            None => TopologyStore::in_memory()?,
        };
        let cluster = Arc::new(ClusterState::open(
            settings.topology,
            store,
            settings.timeouts,
            settings.down_for,
        )?);
        let flow_sources = Arc::new(match settings.catalog.as_deref() {
            Some(path) => FlowSourceStore::open(path)
                .with_context(|| format!("opening the flow sources of the catalog {}", path.display()))?,
            None => FlowSourceStore::in_memory()?,
        });
        let channels = Arc::new(ChannelCache::new(Arc::clone(&cluster)));
        channels.refresh().await;
        let refresher = tokio::spawn(ChannelCache::keep_fresh(Arc::clone(&channels)));
        let profiles = Arc::new(crate::profiles_admin::open_profiles(settings.catalog.as_deref())?);
        let admin = crate::master_admin::routes(Arc::clone(&cluster), Arc::clone(&channels))
            .merge(crate::profiles_admin::routes(Arc::clone(&profiles), None));
        let ctx = master_session(
            Arc::clone(&cluster),
            Arc::clone(&channels),
            Some(Arc::clone(&profiles)),
            &settings.query_resources,
        )?;
        let mut registry = Registry::default();
        channels.metrics().register(&mut registry);
        let control = crate::control::MasterControl::start(
            &settings.control,
            &profiles,
            {
                let (version, topology) = cluster.versioned();
                (version, Topology::clone(&topology))
            },
            &mut registry,
            std::future::pending(),
        )
        .await?;
        let admin =
            crate::control::publish_profile_changes(admin, Arc::clone(&profiles), Arc::clone(&control.publisher))
                .merge(crate::control_admin::routes(
                    Arc::clone(&control.registry),
                    Arc::clone(&control.publisher),
                ))
                .merge(crate::topology_admin::routes(
                    Arc::clone(&cluster),
                    Arc::clone(&control.publisher),
                ))
                .merge(crate::flow_sources::routes(
                    Arc::clone(&flow_sources),
                    Arc::clone(&profiles),
                ))
                .merge(crate::group_rebalance::routes(
                    Arc::clone(&cluster),
                    Arc::clone(&control.registry),
                ));
        // Layered over every route: a backup master takes no configuration change.
        let admin = match settings.control.follows() {
            true => crate::master_follow::refuse_changes(admin, settings.control.masters.clone()),
            false => admin,
        };
        let discovery_metrics = crate::flow_sources::DiscoveryMetrics::default();
        discovery_metrics.register(&mut registry);
        let discovery = crate::flow_sources::spawn_discovery(
            Arc::clone(&control.registry),
            Arc::clone(&cluster),
            flow_sources,
            channels,
            discovery_metrics,
        );
        let query_metrics = QueryMetrics::new();
        query_metrics.register(&mut registry);
        let follow_metrics = flight::control::ControlClientMetrics::new();
        if settings.control.follows() {
            follow_metrics.register(&mut registry);
        }
        let followers = crate::master_follow::Followers {
            profiles: Arc::clone(&profiles),
            cluster: Arc::clone(&cluster),
            publisher: Arc::clone(&control.publisher),
        };
        let runner = Arc::new(QueryRunner::new(ctx, settings.query_limits, query_metrics).with_failover(cluster));

        let listener = tokio::net::TcpListener::bind(settings.query)
            .await
            .with_context(|| format!("binding the query port {}", settings.query))?;
        let query = listener.local_addr()?;
        let (stop_queries, stopped) = tokio::sync::oneshot::channel::<()>();
        let query_task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = flight::serve(listener, FlowSqlService::new(runner), None, shutdown).await {
                tracing::error!(error = %e, "query service stopped");
            }
        });
        // The registry is served from here on: a backup master's follow metrics are in it.
        let (metrics, metrics_task) = crate::node::serve_http(settings.metrics, registry, admin).await?;
        let mut state_dir = None;
        let follower = match settings.control.follows() {
            true => {
                let dir = match settings.catalog.as_deref().and_then(std::path::Path::parent) {
                    Some(dir) if !dir.as_os_str().is_empty() => Follow::Dir(dir.to_path_buf()),
                    _ => Follow::Temporary(tempfile::tempdir().context("a directory for the followed configuration")?),
                };
                let client = crate::master_follow::start(
                    &settings.control,
                    query,
                    metrics,
                    dir.path(),
                    followers,
                    follow_metrics,
                )
                .await?;
                state_dir = Some(dir);
                Some(client)
            }
            false => None,
        };
        Ok(Master {
            ready: MasterReady {
                pid: std::process::id(),
                query,
                metrics,
                control: control.addr,
            },
            tasks: vec![query_task, metrics_task, refresher, control.task, discovery],
            stop_queries,
            follower,
            _state_dir: state_dir,
        })
    }

    /// Stops serving queries.
    pub async fn shutdown(self) {
        if let Some(follower) = self.follower {
            follower.stop();
        }
        let _ = self.stop_queries.send(());
        for task in self.tasks {
            task.abort();
        }
    }
}
