//! A running proxy: the site's export target distributing the export over its slaves (flow-source
//! model: each exporter's datagrams to its slave; round-robin model: every exporter's records
//! spread over all slaves), the worker service that merges its group's partial aggregates, and
//! the metrics endpoint.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::sql::QueryResources;
use ingest::relay::{Forwarder, ForwarderConfig, RelayMetrics, Spreader, SpreaderConfig};
use planner::{WorkerTimeouts, flow_worker, serve_worker};
use prometheus_client::registry::Registry;
use serde::Serialize;

pub use crate::config::proxy::DistributionModel;

/// What the proxy bound, written to the ready file.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyReady {
    pub pid: u32,
    /// Flow listeners (empty when the proxy only merges).
    pub flows: Vec<SocketAddr>,
    pub query: SocketAddr,
    pub metrics: SocketAddr,
}

/// The flow distribution of a proxy.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// Flow-source or round-robin.
    pub model: DistributionModel,
    /// UDP listeners exporters send to.
    pub listen: Vec<SocketAddr>,
    /// Receive buffer per listener.
    pub recv_buffer: usize,
    /// The slaves' relay addresses.
    pub slaves: Vec<SocketAddr>,
    /// Exporter -> slave assignments, kept across restarts (flow-source model).
    pub state: std::path::PathBuf,
    /// How a datagram's records are dealt (round-robin model).
    pub spread: ingest::relay::Spread,
}

/// What distributes the export.
enum Distributor {
    FlowSource(Arc<Forwarder>),
    RoundRobin(Spreader),
}

impl Distributor {
    fn bound(&self) -> &[SocketAddr] {
        match self {
            Distributor::FlowSource(f) => f.bound(),
            Distributor::RoundRobin(s) => s.bound(),
        }
    }
}

/// A started proxy.
pub struct Proxy {
    pub ready: ProxyReady,
    distributor: Option<Distributor>,
    control: Option<flight::control::ControlClient>,
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
        control: Option<crate::control::ProxyControl>,
    ) -> anyhow::Result<Proxy> {
        let mut registry = Registry::default();
        let control_metrics = flight::control::ControlClientMetrics::new();
        if control.is_some() {
            control_metrics.register(&mut registry);
        }
        let distributor = match distribution {
            Some(d) => {
                let relay_metrics = RelayMetrics::new();
                relay_metrics.register(&mut registry);
                tracing::info!(model = d.model.name(), slaves = d.slaves.len(), "flow distribution");
                Some(match d.model {
                    DistributionModel::FlowSource => {
                        let mut config = ForwarderConfig::new(d.listen, d.slaves, d.state);
                        config.recv_buffer = d.recv_buffer;
                        Distributor::FlowSource(Arc::new(
                            Forwarder::start(config, relay_metrics).context("starting the flow distribution")?,
                        ))
                    }
                    DistributionModel::RoundRobin => {
                        let mut config = SpreaderConfig::new(d.listen, d.slaves);
                        config.recv_buffer = d.recv_buffer;
                        config.splitter.spread = d.spread;
                        Distributor::RoundRobin(
                            Spreader::start(config, relay_metrics)
                                .context("starting the round-robin flow distribution")?,
                        )
                    }
                })
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
        let admin = match &distributor {
            Some(Distributor::FlowSource(f)) => crate::proxy_admin::routes(Arc::clone(f)),
            Some(Distributor::RoundRobin(s)) => crate::proxy_admin::round_robin_routes(s.slaves()),
            None => axum::Router::new(),
        };
        let (metrics, metrics_task) = crate::node::serve_http(metrics, registry, admin).await?;
        let ready = ProxyReady {
            pid: std::process::id(),
            flows: distributor.as_ref().map(|d| d.bound().to_vec()).unwrap_or_default(),
            query,
            metrics,
        };
        let control = match control {
            Some(control) => {
                let identity = control.identity();
                let forwarder = match &distributor {
                    Some(Distributor::FlowSource(f)) => Some(Arc::clone(f)),
                    _ => None,
                };
                let exporters: crate::control::ExporterList = match &distributor {
                    Some(Distributor::FlowSource(f)) => {
                        let f = Arc::clone(f);
                        Arc::new(move || f.assignments().into_iter().map(|(e, _)| e.to_string()).collect())
                    }
                    Some(Distributor::RoundRobin(s)) => {
                        let seen = s.seen();
                        Arc::new(move || seen.list().iter().map(ToString::to_string).collect())
                    }
                    None => Arc::new(BTreeSet::new),
                };
                let client = control.start(&ready, exporters, control_metrics).await;
                let followed = match (forwarder, &distributor) {
                    (Some(forwarder), _) => Some(crate::proxy_follow::Followed::FlowSource(forwarder)),
                    (None, Some(Distributor::RoundRobin(s))) => {
                        Some(crate::proxy_follow::Followed::RoundRobin(s.slaves()))
                    }
                    (None, _) => None,
                };
                if let Some(followed) = followed {
                    crate::proxy_follow::follow_topology(&client, followed, identity);
                }
                Some(client)
            }
            None => None,
        };
        Ok(Proxy {
            ready,
            distributor,
            control,
            tasks: vec![worker_task, metrics_task],
            stop,
        })
    }

    /// Stops forwarding and serving.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        if let Some(control) = self.control {
            control.stop();
        }
        let _ = self.stop.send(());
        for task in self.tasks {
            task.abort();
        }
        match self.distributor {
            Some(Distributor::FlowSource(forwarder)) => {
                // The admin routes held the other references; their server task is aborted above.
                let forwarder = wait_unique(forwarder).await;
                tokio::task::spawn_blocking(move || forwarder.shutdown()).await??;
            }
            Some(Distributor::RoundRobin(spreader)) => {
                tokio::task::spawn_blocking(move || spreader.shutdown()).await??;
            }
            None => {}
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
