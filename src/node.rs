//! A running standalone node: the channel store, ingest threads and the metrics endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::profiles::{PROFILES_FILE, ProfileCatalog};
use engine::sql::{QueryResources, flow_session};
use engine::store::{FlowStore, StoreConfig};
use flight::{FlowSqlService, QueryLimits, QueryMetrics, QueryRunner};
use ingest::metrics::{IngestMetrics, render};
use ingest::{Ingest, IngestConfig};
use planner::{LocalFlows, WorkerTimeouts, flow_worker};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::profiles_admin::{self, open_profiles};
use crate::retention::{RetentionMetrics, RetentionSettings, RetentionThread};

/// How to run a standalone node.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The node's name in the cluster topology.
    pub name: String,
    pub data_dir: PathBuf,
    pub flows: Vec<SocketAddr>,
    /// UDP addresses receiving export relayed by a proxy.
    pub relays: Vec<SocketAddr>,
    pub metrics: SocketAddr,
    pub recv_buffer: usize,
    pub window: Duration,
    pub fsync_interval: Duration,
    pub seal_grace: Duration,
    pub max_lateness: Duration,
    pub max_lead: Duration,
    /// Write rollups beside sealed windows.
    pub rollups: bool,
    /// TCP address of the Flight SQL service (port 0 picks a free port).
    pub query: SocketAddr,
    /// Memory and spill space the node's queries share.
    pub query_resources: QueryResources,
    /// Concurrency and time limits of queries.
    pub query_limits: QueryLimits,
    /// What sealed data is removed, and how often that is checked.
    pub retention: engine::store::retention::RetentionRules,
    /// Time between retention runs.
    pub retention_interval: Duration,
    /// How long expired windows stay on disk for the queries still reading them.
    pub retention_grace: Duration,
    /// The control plane (`None`: no masters configured).
    pub control: Option<crate::control::NodeControl>,
}

/// What the node bound, written to the ready file.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyInfo {
    pub pid: u32,
    pub data: PathBuf,
    pub flows: Vec<SocketAddr>,
    /// Relay listeners (export forwarded by a proxy).
    pub relays: Vec<SocketAddr>,
    pub metrics: SocketAddr,
    pub query: SocketAddr,
}

/// A started node.
pub struct Node {
    ingest: Ingest,
    pub ready: ReadyInfo,
    metrics_task: tokio::task::JoinHandle<()>,
    query_task: tokio::task::JoinHandle<()>,
    stop_queries: tokio::sync::oneshot::Sender<()>,
    retention: Option<RetentionThread>,
    control: Option<flight::control::ControlClient>,
}

impl Node {
    /// Opens the store (recovering open windows), binds every listener and the metrics endpoint.
    pub async fn start(settings: NodeSettings) -> anyhow::Result<Node> {
        let store_config = StoreConfig {
            data_dir: settings.data_dir.clone(),
            window: settings.window,
            fsync_interval: settings.fsync_interval,
            seal_grace: settings.seal_grace,
            max_lateness: settings.max_lateness,
            max_lead: settings.max_lead,
            rollups: settings.rollups,
            ..StoreConfig::default()
        };
        let data_dir = settings.data_dir.clone();
        let (store, recovery) = tokio::task::spawn_blocking(move || FlowStore::open(store_config))
            .await?
            .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
        tracing::info!(?recovery, "store opened");

        let metrics = IngestMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut ingest_config = IngestConfig::new(settings.flows.clone(), settings.data_dir.join("state"));
        ingest_config.recv_buffer = settings.recv_buffer;
        ingest_config.relay_listeners = settings.relays.clone();
        let ingest = Ingest::start(ingest_config, store, Arc::clone(&metrics))?;

        let profiles = Arc::new(open_profiles(Some(&settings.data_dir.join(PROFILES_FILE)))?);
        let retention_metrics = RetentionMetrics::new();
        retention_metrics.register(&mut registry);
        let retention = RetentionThread::start(
            RetentionSettings {
                data_dir: settings.data_dir.clone(),
                rules: settings.retention.clone(),
                window: settings.window,
                interval: settings.retention_interval,
                grace: settings.retention_grace,
                profiles: Some(Arc::clone(&profiles)),
            },
            retention_metrics,
        )
        .context("starting the retention thread")?;

        let query_metrics = QueryMetrics::new();
        query_metrics.register(&mut registry);
        let (query_addr, query_task, stop_queries) =
            start_query_service(&settings, query_metrics, Arc::clone(&profiles)).await?;

        let control_metrics = flight::control::ControlClientMetrics::new();
        if settings.control.is_some() {
            control_metrics.register(&mut registry);
        }
        let (metrics_addr, metrics_task) = serve_http(
            settings.metrics,
            registry,
            profiles_admin::routes(
                Arc::clone(&profiles),
                Some(profiles_admin::LocalStore {
                    data_dir: settings.data_dir.clone(),
                    window: settings.window,
                    grace: settings.retention_grace,
                }),
            ),
        )
        .await?;
        let ready = ReadyInfo {
            pid: std::process::id(),
            data: settings.data_dir,
            flows: ingest.bound().to_vec(),
            relays: ingest.bound_relays().to_vec(),
            metrics: metrics_addr,
            query: query_addr,
        };
        let control = match &settings.control {
            Some(control) => {
                let identity = crate::control::Identity {
                    name: settings.name.clone(),
                    query: query_addr,
                    flows: ready.flows.clone(),
                    metrics: metrics_addr,
                };
                let stats = crate::control::node_stats(&metrics, ready.data.clone());
                let client = crate::control::start_client(control, identity, &ready.data, stats, control_metrics).await;
                crate::control::follow_profiles(&client, profiles);
                Some(client)
            }
            None => None,
        };
        Ok(Node {
            ingest,
            ready,
            metrics_task,
            query_task,
            stop_queries,
            retention,
            control,
        })
    }

    /// Stops serving queries and ingest, and seals every open window.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.metrics_task.abort();
        if let Some(control) = self.control {
            control.stop();
        }
        let _ = self.stop_queries.send(());
        if tokio::time::timeout(Duration::from_secs(5), self.query_task)
            .await
            .is_err()
        {
            tracing::warn!("queries still running after 5 s; stopping anyway");
        }
        let retention = self.retention;
        tokio::task::spawn_blocking(move || retention.map(RetentionThread::stop)).await?;
        tokio::task::spawn_blocking(move || self.ingest.shutdown()).await??;
        Ok(())
    }
}

/// Binds the query port and serves Flight SQL and the worker service on it until the returned
/// sender fires.
async fn start_query_service(
    settings: &NodeSettings,
    metrics: Arc<QueryMetrics>,
    profiles: Arc<ProfileCatalog>,
) -> anyhow::Result<(
    SocketAddr,
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
)> {
    let mut resources = settings.query_resources.clone();
    if resources.spill_dir.is_none() {
        let dir = settings.data_dir.join("spill");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the spill directory {}", dir.display()))?;
        resources.spill_dir = Some(dir);
    }
    let ctx = flow_session(&settings.data_dir, &resources, Some(profiles))?;
    let local = LocalFlows::new(settings.name.clone(), settings.data_dir.clone());
    let worker = flow_worker(Some(local), &resources, WorkerTimeouts::default())?;
    let runner = Arc::new(QueryRunner::new(ctx, settings.query_limits.clone(), metrics));
    let service = FlowSqlService::new(runner).with_data_dir(settings.data_dir.clone());
    let listener = tokio::net::TcpListener::bind(settings.query)
        .await
        .with_context(|| format!("binding the query port {}", settings.query))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = flight::serve(listener, service, Some(worker), shutdown).await {
            tracing::error!(error = %e, "query service stopped");
        }
    });
    Ok((addr, task, stop))
}

/// Serves `GET /metrics` of `registry` and the routes of `extra` on `addr`.
pub async fn serve_http(
    addr: SocketAddr,
    registry: Registry,
    extra: axum::Router,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics endpoint {addr}"))?;
    let bound = listener.local_addr()?;
    let registry = Arc::new(registry);
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let registry = Arc::clone(&registry);
                async move { render(&registry) }
            }),
        )
        .merge(extra);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok((bound, task))
}
