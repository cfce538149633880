//! `flowfold standalone`: collect flows into a data directory until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::node::{Node, NodeSettings};

/// Flags of `flowfold standalone`.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// Data directory (flows, write-ahead logs, decoder state).
    #[arg(long, env = "FLOWFOLD_DATA")]
    pub data: PathBuf,
    /// UDP address to receive flow export on (repeatable; port 0 picks a free port).
    #[arg(long = "flows", default_values = ["0.0.0.0:2055", "0.0.0.0:4739", "0.0.0.0:9996"])]
    pub flows: Vec<SocketAddr>,
    /// Address of the Prometheus `/metrics` endpoint (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics: SocketAddr,
    /// Write a JSON file with every bound address once the node is ready.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Socket receive buffer asked for per listener (bytes; k, M, G suffixes allowed).
    #[arg(long, default_value = "8M", value_parser = parse_size)]
    pub recv_buffer: usize,
    /// Length of a storage window (sealed into one Parquet file per channel).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// How often the open window's write-ahead log is fsynced.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub fsync_interval: Duration,
    /// How long after a window's end it stays open for late flows before it is sealed.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub seal_grace: Duration,
    /// Flows that started longer ago than this when stored are filed in the current window
    /// (keeping their own `flow_start`), so a wrong exporter clock cannot open a file per flow.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub max_lateness: Duration,
    /// Likewise for flows dated further ahead than this.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub max_lead: Duration,
    #[command(flatten)]
    pub query: super::query_args::QueryArgs,
}

impl StandaloneArgs {
    pub fn settings(&self) -> NodeSettings {
        NodeSettings {
            data_dir: self.data.clone(),
            flows: self.flows.clone(),
            metrics: self.metrics,
            recv_buffer: self.recv_buffer,
            window: self.window,
            fsync_interval: self.fsync_interval,
            seal_grace: self.seal_grace,
            max_lateness: self.max_lateness,
            max_lead: self.max_lead,
            query: self.query.query,
            query_resources: self.query.resources(),
            query_limits: self.query.limits(),
        }
    }
}

/// Parses a byte size such as `8388608`, `512k`, `8M` or `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let value: usize = digits.parse().map_err(|_| format!("not a size: {text:?}"))?;
    let shift = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

pub fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = Node::start(args.settings()).await?;
        if let Some(path) = &args.ready_file {
            write_ready_file(path, &node.ready)?;
        }
        tracing::info!(ready = ?node.ready, "standalone node ready");
        wait_for_signal().await?;
        tracing::info!("stopping: sealing open windows");
        node.shutdown().await
    })
}

fn write_ready_file(path: &std::path::Path, ready: &crate::node::ReadyInfo) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(ready)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
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
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("").is_err());
    }
}
