//! `flowfold proxy`: a site's export target: distribute the export over the group's slaves (each
//! exporter to one slave, or every exporter's records over all of them), and merge the slaves'
//! partial aggregates for the master, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use engine::sql::QueryResources;

use super::standalone::{set, wait_for_signal, write_ready_file};
use crate::config::proxy::{DistributionModel, ProxyConfig};
use crate::config::units::Bytes;
use crate::proxy::{Distribution, Proxy};

/// Flags of `flowfold proxy`; each overrides the configuration file (`config/proxy.toml`).
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Configuration file (TOML; see config/proxy.toml).
    #[arg(long, env = "FLOWFOLD_CONFIG")]
    pub config: Option<PathBuf>,
    /// TCP address of the worker service the master sends merge stages to (the group's `proxy`
    /// in the master's topology). [config: query.listen; default 0.0.0.0:4210]
    #[arg(long)]
    pub query: Option<SocketAddr>,
    /// Address of the Prometheus `/metrics` endpoint. [config: metrics.listen]
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// UDP address exporters send to (repeatable). [config: ingest.listen]
    #[arg(long = "flows")]
    pub flows: Vec<SocketAddr>,
    /// A slave's relay address (its flow port + 30000; repeatable, in the group's order).
    /// [config: distribution.slaves]
    #[arg(long = "slave")]
    pub slaves: Vec<SocketAddr>,
    /// How the export is spread over the slaves: each exporter to one slave (flow-source), or
    /// every exporter's records over all slaves (round-robin). [config: distribution.model]
    #[arg(long, value_enum)]
    pub model: Option<DistributionModel>,
    /// File keeping each exporter's slave across restarts (flow-source model).
    /// [config: distribution.state]
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Memory the proxy's merges may use together (spilling beyond it). [config: query.memory]
    #[arg(long, value_parser = super::standalone::parse_size)]
    pub query_memory: Option<usize>,
    /// Write a JSON file with every bound address once the proxy is ready.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => ProxyConfig::load(path)?,
        None => ProxyConfig::default(),
    };
    set(&mut config.query.listen, args.query);
    set(&mut config.metrics.listen, args.metrics);
    set(&mut config.query.memory, args.query_memory.map(Bytes));
    if !args.flows.is_empty() {
        config.ingest.listen = args.flows.clone();
    }
    if !args.slaves.is_empty() {
        config.distribution.slaves = args.slaves.clone();
    }
    set(&mut config.distribution.state, args.state.clone());
    set(&mut config.distribution.model, args.model);
    let control = crate::control::ProxyControl::of(&config)?;
    // A proxy that followed its master's topology starts with its slaves.
    if let Some(control) = &control
        && let Some(relays) = control.stored_relays()
    {
        tracing::info!(slaves = ?relays, "slaves of the stored topology, not [distribution] slaves");
        config.distribution.slaves = relays;
    }
    let distribution = (!config.distribution.slaves.is_empty()).then(|| Distribution {
        model: config.distribution.model,
        listen: config.ingest.listen.clone(),
        recv_buffer: config.ingest.recv_buffer.0,
        slaves: config.distribution.slaves.clone(),
        state: config.distribution.state.clone(),
        spread: config.distribution.spread.to_spread(),
    });
    let resources = QueryResources {
        memory_bytes: config.query.memory.0,
        ..QueryResources::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let proxy = Proxy::start(
            config.query.listen,
            config.metrics.listen,
            &resources,
            distribution,
            control,
        )
        .await?;
        if let Some(path) = &args.ready_file {
            write_ready_file(path, &proxy.ready)?;
        }
        tracing::info!(ready = ?proxy.ready, "proxy ready");
        wait_for_signal().await?;
        proxy.shutdown().await
    })
}
