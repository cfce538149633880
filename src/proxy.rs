//! A running proxy: the worker service that merges its group's partial aggregates, and the
//! metrics endpoint. Flow distribution to its slaves comes with the control-plane issue.

use std::net::SocketAddr;

use anyhow::Context;
use engine::sql::QueryResources;
use planner::{WorkerTimeouts, flow_worker, serve_worker};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// What the proxy bound, written to the ready file.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyReady {
    pub pid: u32,
    pub query: SocketAddr,
    pub metrics: SocketAddr,
}

/// A started proxy.
pub struct Proxy {
    pub ready: ProxyReady,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Proxy {
    /// Binds the query port (worker service) and the metrics endpoint.
    pub async fn start(query: SocketAddr, metrics: SocketAddr, resources: &QueryResources) -> anyhow::Result<Proxy> {
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
        let (metrics, metrics_task) = crate::node::serve_metrics(metrics, Registry::default()).await?;
        Ok(Proxy {
            ready: ProxyReady {
                pid: std::process::id(),
                query,
                metrics,
            },
            tasks: vec![worker_task, metrics_task],
            stop,
        })
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        for task in self.tasks {
            task.abort();
        }
    }
}
