//! `flowfold master`: answer SQL over the cluster declared in the configuration file until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use planner::WorkerTimeouts;

use super::standalone::{set, wait_for_signal, write_ready_file};
use crate::config::master::MasterConfig;
use crate::master::{Master, MasterSettings};

/// Flags of `flowfold master`.
#[derive(Debug, clap::Args)]
pub struct MasterArgs {
    /// Configuration file (TOML; see config/master.toml): the cluster topology and limits.
    #[arg(long, env = "FLOWFOLD_CONFIG")]
    pub config: PathBuf,
    /// Address of the Prometheus `/metrics` endpoint. [config: metrics.listen]
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Write a JSON file with every bound address once the master is ready.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    #[command(flatten)]
    pub query: super::query_args::QueryArgs,
}

/// The settings of a master configuration.
fn settings(c: &MasterConfig) -> MasterSettings {
    MasterSettings {
        topology: c.cluster.topology(),
        timeouts: WorkerTimeouts {
            connect: c.cluster.connect_timeout.0,
            keepalive: c.cluster.keepalive.0,
        },
        down_for: c.cluster.down_for.0,
        query: c.query.listen,
        metrics: c.metrics.listen,
        query_resources: c.query.resources(),
        query_limits: c.query.limits(),
        catalog: c.catalog.clone(),
        control: c.control.clone(),
    }
}

pub fn run(args: MasterArgs) -> anyhow::Result<()> {
    let mut config = MasterConfig::load(&args.config)?;
    set(&mut config.metrics.listen, args.metrics);
    args.query.apply(&mut config.query);
    let settings = settings(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let master = Master::start(settings).await?;
        if let Some(path) = &args.ready_file {
            write_ready_file(path, &master.ready)?;
        }
        tracing::info!(ready = ?master.ready, "master ready");
        wait_for_signal().await?;
        master.shutdown().await;
        Ok(())
    })
}
