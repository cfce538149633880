//! A running proxy: the site's export target forwarding each exporter's datagrams to its slave
//! (flow-source model), the worker service that merges its group's partial aggregates, and the
//! metrics endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::sql::QueryResources;
use ingest::relay::{Forwarder, ForwarderConfig, RelayMetrics};
use planner::{WorkerTimeouts, flow_worker, serve_worker};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// What the proxy bound, written to the ready file.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyReady {
    pub pid: u32,
    /// Flow listeners (empty when the proxy only merges).
    pub flows: Vec<SocketAddr>,
    pub query: SocketAddr,
    pub metrics: SocketAddr,
}

/// The flow-source distribution of a proxy.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// UDP listeners exporters send to.
    pub listen: Vec<SocketAddr>,
    /// Receive buffer per listener.
    pub recv_buffer: usize,
    /// The slaves' relay addresses.
    pub slaves: Vec<SocketAddr>,
    /// Exporter -> slave assignments, kept across restarts.
    pub state: std::path::PathBuf,
}

/// A started proxy.
pub struct Proxy {
    pub ready: ProxyReady,
    forwarder: Option<Arc<Forwarder>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Proxy {
    /// Binds the query port (worker service) and the metrics endpoint, and with `distribution`
    /// the flow listeners.
    pub async fn start(
        query: SocketAddr,
        metrics: SocketAddr,
        resources: &QueryResources,
        distribution: Option<Distribution>,
    ) -> anyhow::Result<Proxy> {
        let mut registry = Registry::default();
        let forwarder = match distribution {
            Some(d) => {
                let relay_metrics = RelayMetrics::new();
                relay_metrics.register(&mut registry);
                let mut config = ForwarderConfig::new(d.listen, d.slaves, d.state);
                config.recv_buffer = d.recv_buffer;
                Some(Arc::new(
                    Forwarder::start(config, relay_metrics).context("starting the flow distribution")?,
                ))
            }
            None => None,
        };
        let worker = flow_worker(None, resources, WorkerTimeouts::default())?;
        let listener = tokio::net::TcpListener::bind(query)
            .await
            .with_context(|| format!("binding the query port {query}"))?;
        let query = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker_task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = serve_worker(listener, worker, shutdown).await {
                tracing::error!(error = %e, "worker service stopped");
            }
        });
        let admin = match &forwarder {
            Some(f) => crate::proxy_admin::routes(Arc::clone(f)),
            None => axum::Router::new(),
        };
        let (metrics, metrics_task) = crate::node::serve_http(metrics, registry, admin).await?;
        Ok(Proxy {
            ready: ProxyReady {
                pid: std::process::id(),
                flows: forwarder.as_ref().map(|f| f.bound().to_vec()).unwrap_or_default(),
                query,
                metrics,
            },
            forwarder,
            tasks: vec![worker_task, metrics_task],
            stop,
        })
    }

    /// Stops forwarding and serving.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        for task in self.tasks {
            task.abort();
        }
        if let Some(forwarder) = self.forwarder {
            // The admin routes held the other references; their server task is aborted above.
            let forwarder = wait_unique(forwarder).await;
            tokio::task::spawn_blocking(move || forwarder.shutdown()).await??;
        }
        Ok(())
    }
}

/// The forwarder once every other reference is dropped (the aborted HTTP task lets go of its
/// copy shortly after).
async fn wait_unique(mut forwarder: Arc<Forwarder>) -> Forwarder {
    loop {
        match Arc::try_unwrap(forwarder) {
            Ok(owned) => return owned,
            Err(shared) => forwarder = shared,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
