//! `flowfold standalone` and `flowfold slave`: collect flows into a data directory and answer
//! queries over them (Flight SQL, and the fragments a master sends) until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::NodeConfig;
use crate::config::units::{Bytes, Span};
use crate::node::{Node, NodeSettings};

/// Flags of `flowfold standalone`. Each overrides the configuration file's value; without
/// either, the default in `config/standalone.toml` applies.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// Configuration file (TOML; see config/standalone.toml for every key and its default).
    #[arg(long, env = "FLOWFOLD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (file + flags) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// The node's name in the master's cluster topology. [config: name; default standalone]
    #[arg(long, env = "FLOWFOLD_NAME")]
    pub name: Option<String>,
    /// Data directory (flows, write-ahead logs, decoder state). [config: data]
    #[arg(long, env = "FLOWFOLD_DATA")]
    pub data: Option<PathBuf>,
    /// UDP address to receive flow export on (repeatable; port 0 picks a free port).
    /// [config: ingest.listen; default 0.0.0.0:2055, :4739, :9996]
    #[arg(long = "flows")]
    pub flows: Vec<SocketAddr>,
    /// Address of the Prometheus `/metrics` endpoint. [config: metrics.listen; default 127.0.0.1:9464]
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Write a JSON file with every bound address once the node is ready.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Socket receive buffer per listener (k, M, G suffixes). [config: ingest.recv_buffer; default 8M]
    #[arg(long, value_parser = parse_size)]
    pub recv_buffer: Option<usize>,
    /// Length of a storage window. [config: storage.window; default 5m]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub window: Option<Duration>,
    /// How often open windows' logs are fsynced. [config: storage.fsync_interval; default 1s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub fsync_interval: Option<Duration>,
    /// How long after its end a window stays open for late flows. [config: storage.seal_grace; default 30s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub seal_grace: Option<Duration>,
    /// Flows that started longer ago than this when stored are filed in the current window
    /// (keeping their own `flow_start`). [config: storage.max_lateness; default 30d]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_lateness: Option<Duration>,
    /// Likewise for flows dated further ahead than this. [config: storage.max_lead; default 1h]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_lead: Option<Duration>,
    /// Write rollups beside sealed windows (`true`/`false`). [config: storage.rollups; default true]
    #[arg(long)]
    pub rollups: Option<bool>,
    #[command(flatten)]
    pub query: super::query_args::QueryArgs,
}

impl StandaloneArgs {
    /// The configuration file (or the defaults) with every given flag applied.
    pub fn config(&self) -> anyhow::Result<NodeConfig> {
        let mut c = match &self.config {
            Some(path) => NodeConfig::load(path)?,
            None => NodeConfig::default(),
        };
        if let Some(name) = &self.name {
            c.name = Some(name.clone());
        }
        if let Some(data) = &self.data {
            c.data = Some(data.clone());
        }
        if !self.flows.is_empty() {
            c.ingest.listen = self.flows.clone();
        }
        set(&mut c.metrics.listen, self.metrics);
        set(&mut c.ingest.recv_buffer, self.recv_buffer.map(Bytes));
        set(&mut c.storage.window, self.window.map(Span));
        set(&mut c.storage.fsync_interval, self.fsync_interval.map(Span));
        set(&mut c.storage.seal_grace, self.seal_grace.map(Span));
        set(&mut c.storage.max_lateness, self.max_lateness.map(Span));
        set(&mut c.storage.max_lead, self.max_lead.map(Span));
        set(&mut c.storage.rollups, self.rollups);
        self.query.apply(&mut c.query);
        Ok(c)
    }
}

/// Overrides `slot` when a flag was given.
pub fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

/// The node settings of a configuration.
pub fn settings(c: &NodeConfig) -> anyhow::Result<NodeSettings> {
    let data_dir = c
        .data
        .clone()
        .context("no data directory: give --data DIR or `data = \"DIR\"` in the configuration file")?;
    // Relative to the working directory at start (the store creates parents of its paths).
    let data_dir = std::path::absolute(&data_dir).with_context(|| format!("data directory {}", data_dir.display()))?;
    Ok(NodeSettings {
        name: c.name.clone().unwrap_or_else(|| "standalone".to_string()),
        data_dir,
        flows: c.ingest.listen.clone(),
        relays: c.ingest.relay_listen.clone(),
        metrics: c.metrics.listen,
        recv_buffer: c.ingest.recv_buffer.0,
        window: c.storage.window.0,
        fsync_interval: c.storage.fsync_interval.0,
        seal_grace: c.storage.seal_grace.0,
        max_lateness: c.storage.max_lateness.0,
        max_lead: c.storage.max_lead.0,
        rollups: c.storage.rollups,
        query: c.query.listen,
        query_resources: c.query.resources(),
        query_limits: c.query.limits(),
        retention: c.retention.rules(),
        retention_interval: c.retention.check_interval.0,
        retention_grace: c.retention.grace(c.query.timeout.0),
        control: None,
    })
}

pub use crate::config::units::parse_size;

/// Which subcommand runs the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `flowfold standalone`: relay listeners only if configured.
    Standalone,
    /// `flowfold slave`: relay listeners on each flow port + 30000 unless configured.
    Slave,
}

/// Offset from a flow listener's port to the relay port a slave opens for its proxy.
pub const RELAY_PORT_OFFSET: u16 = 30000;

/// The relay listeners a slave opens by default: each flow listener's port + 30000 (port 0 stays
/// 0: any free port).
pub fn default_relays(flows: &[SocketAddr]) -> anyhow::Result<Vec<SocketAddr>> {
    flows
        .iter()
        .map(|a| {
            let port = match a.port() {
                0 => 0,
                p => p.checked_add(RELAY_PORT_OFFSET).with_context(|| {
                    format!("flow port {p} + {RELAY_PORT_OFFSET} is not a port: set ingest.relay_listen")
                })?,
            };
            Ok(SocketAddr::new(a.ip(), port))
        })
        .collect()
}

pub fn run(args: StandaloneArgs, role: Role) -> anyhow::Result<()> {
    let mut config = args.config()?;
    if role == Role::Slave && config.ingest.relay_listen.is_empty() {
        config.ingest.relay_listen = default_relays(&config.ingest.listen)?;
    }
    if args.print_config {
        print!("{}", config.to_toml()?);
        return Ok(());
    }
    let mut settings = settings(&config)?;
    let unit_role = match role {
        Role::Standalone => flight::control::UnitRole::Standalone,
        Role::Slave => flight::control::UnitRole::Slave,
    };
    settings.control = crate::control::NodeControl::of(&config.control, unit_role)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = Node::start(settings).await?;
        if let Some(path) = &args.ready_file {
            write_ready_file(path, &node.ready)?;
        }
        tracing::info!(ready = ?node.ready, "node ready");
        wait_for_signal().await?;
        tracing::info!("stopping: sealing open windows");
        node.shutdown().await
    })
}

pub fn write_ready_file(path: &std::path::Path, ready: &impl serde::Serialize) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(ready)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slave_relays_on_each_flow_port_plus_30000() {
        let flows: Vec<SocketAddr> = vec!["0.0.0.0:2055".parse().unwrap(), "127.0.0.2:0".parse().unwrap()];
        let relays = default_relays(&flows).unwrap();
        assert_eq!(
            relays,
            vec!["0.0.0.0:32055".parse().unwrap(), "127.0.0.2:0".parse().unwrap()]
        );
        let err = default_relays(&["0.0.0.0:40000".parse().unwrap()]).unwrap_err();
        assert!(format!("{err:#}").contains("relay_listen"), "{err:#}");
    }
}
