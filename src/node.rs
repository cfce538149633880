//! A running standalone node: the channel store, ingest threads and the metrics endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::store::{FlowStore, StoreConfig};
use ingest::metrics::{IngestMetrics, render};
use ingest::{Ingest, IngestConfig};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// How to run a standalone node.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub data_dir: PathBuf,
    pub flows: Vec<SocketAddr>,
    pub metrics: SocketAddr,
    pub recv_buffer: usize,
    pub window: Duration,
    pub fsync_interval: Duration,
    pub seal_grace: Duration,
    pub max_lateness: Duration,
    pub max_lead: Duration,
}

/// What the node bound, written to the ready file.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyInfo {
    pub pid: u32,
    pub data: PathBuf,
    pub flows: Vec<SocketAddr>,
    pub metrics: SocketAddr,
}

/// A started node.
pub struct Node {
    ingest: Ingest,
    pub ready: ReadyInfo,
    metrics_task: tokio::task::JoinHandle<()>,
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
        let ingest = Ingest::start(ingest_config, store, Arc::clone(&metrics))?;

        let listener = tokio::net::TcpListener::bind(settings.metrics)
            .await
            .with_context(|| format!("binding the metrics endpoint {}", settings.metrics))?;
        let metrics_addr = listener.local_addr()?;
        let registry = Arc::new(registry);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let registry = Arc::clone(&registry);
                async move { render(&registry) }
            }),
        );
        let metrics_task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
        let ready = ReadyInfo {
            pid: std::process::id(),
            data: settings.data_dir,
            flows: ingest.bound().to_vec(),
            metrics: metrics_addr,
        };
        Ok(Node {
            ingest,
            ready,
            metrics_task,
        })
    }

    /// Stops ingest and seals every open window.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.metrics_task.abort();
        tokio::task::spawn_blocking(move || self.ingest.shutdown()).await??;
        Ok(())
    }
}
