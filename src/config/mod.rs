//! The node's configuration file (TOML): what the deployment is. Every key is optional and has
//! the default shown in `config/standalone.toml`; unknown keys are errors, so a typo never passes
//! silently. Command-line flags override the file.

pub mod control;
pub mod master;
pub mod proxy;
pub mod retention;
pub mod units;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use retention::RetentionSection;
use units::{Bytes, Span};

/// A node's configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The node's name in the master's cluster topology (`slaves[].name`); a query fragment
    /// addressed to another name is refused. Default: `standalone`.
    pub name: Option<String>,
    /// Data directory: flows, write-ahead logs, decoder state, spill files.
    pub data: Option<PathBuf>,
    /// Flow listeners.
    pub ingest: IngestSection,
    /// Windows, sealing and late flows.
    pub storage: StorageSection,
    /// How long and how much sealed flow data is kept.
    pub retention: RetentionSection,
    /// The Flight SQL service and its limits.
    pub query: QuerySection,
    /// The Prometheus endpoint.
    pub metrics: MetricsSection,
    /// The masters this node registers with (control plane).
    pub control: control::ControlSection,
}

/// `[ingest]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// UDP addresses that receive flow export (port 0 picks a free port).
    pub listen: Vec<SocketAddr>,
    /// UDP addresses that receive export relayed by a proxy (framed with the exporter's
    /// address). Empty: none for `standalone`; for `slave`, each `listen` port + 30000.
    pub relay_listen: Vec<SocketAddr>,
    /// Socket receive buffer per listener.
    pub recv_buffer: Bytes,
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// Length of a window (one Parquet file per channel and window).
    pub window: Span,
    /// How often open windows' logs are fsynced (the crash-loss bound).
    pub fsync_interval: Span,
    /// How long a window stays open after its end for late flows.
    pub seal_grace: Span,
    /// Flows older than this when stored are filed in the current window.
    pub max_lateness: Span,
    /// Flows dated further ahead than this are filed in the current window.
    pub max_lead: Span,
    /// Write rollups (per-window summaries by source, destination and service) beside each
    /// sealed window.
    pub rollups: bool,
}

/// `[query]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySection {
    /// TCP address of the Flight SQL service.
    pub listen: SocketAddr,
    /// Memory all running queries share; sorts and GROUP BYs spill beyond it.
    pub memory: Bytes,
    /// Spill directory (default: DATA/spill).
    pub spill_dir: Option<PathBuf>,
    /// Longest a query may run.
    pub timeout: Span,
    /// Queries that may run at once.
    pub max_queries: usize,
    /// How long a query waits for a free slot before it is refused.
    pub queue_wait: Span,
    /// Threads one query is split across (0: one per core).
    pub threads: usize,
    /// Answer counts and sums over whole windows from their rollups.
    pub rollups: bool,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// TCP address of `GET /metrics`.
    pub listen: SocketAddr,
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("default addresses are valid")
}

fn span(secs: u64) -> Span {
    Span(Duration::from_secs(secs))
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            listen: vec![addr("0.0.0.0:2055"), addr("0.0.0.0:4739"), addr("0.0.0.0:9996")],
            relay_listen: Vec::new(),
            recv_buffer: Bytes(8 << 20),
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            window: span(300),
            fsync_interval: span(1),
            seal_grace: span(30),
            max_lateness: span(30 * 24 * 3600),
            max_lead: span(3600),
            rollups: true,
        }
    }
}

impl Default for QuerySection {
    fn default() -> Self {
        QuerySection {
            listen: addr("0.0.0.0:4210"),
            memory: Bytes(1 << 30),
            spill_dir: None,
            timeout: span(300),
            max_queries: 16,
            queue_wait: span(10),
            threads: 0,
            rollups: true,
        }
    }
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: addr("127.0.0.1:9464"),
        }
    }
}

impl QuerySection {
    /// The memory, spill and thread resources of the node's queries.
    pub fn resources(&self) -> engine::sql::QueryResources {
        engine::sql::QueryResources {
            memory_bytes: self.memory.0,
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.threads,
            rollups: self.rollups,
            ..engine::sql::QueryResources::default()
        }
    }

    /// The concurrency and time limits of the node's queries.
    pub fn limits(&self) -> flight::QueryLimits {
        flight::QueryLimits {
            max_queries: self.max_queries,
            queue_wait: self.queue_wait.0,
            timeout: self.timeout.0,
        }
    }
}

impl NodeConfig {
    /// Reads and checks a configuration file; the error names the file, the line and the key.
    pub fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses configuration text.
    pub fn parse(text: &str) -> anyhow::Result<NodeConfig> {
        let config: NodeConfig = toml::from_str(text)?;
        config.retention.check()?;
        config.control.check()?;
        Ok(config)
    }

    /// The configuration as TOML (what `--print-config` shows).
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> &'static str {
        include_str!("../../config/standalone.toml")
    }

    #[test]
    fn the_shipped_example_states_every_default() {
        let example = NodeConfig::parse(example()).expect("config/standalone.toml parses");
        let defaults = NodeConfig {
            data: example.data.clone(),
            ..NodeConfig::default()
        };
        assert_eq!(example, defaults, "config/standalone.toml differs from the defaults");
        assert!(example.data.is_some(), "the example names a data directory");
    }

    #[test]
    fn the_shipped_slave_example_names_the_slave() {
        let slave = NodeConfig::parse(include_str!("../../config/slave.toml")).expect("config/slave.toml parses");
        assert_eq!(slave.name.as_deref(), Some("a1-slave-1"));
        assert_eq!(slave.query, QuerySection::default());
        assert_eq!(slave.retention.max_age, Some(Span(Duration::from_secs(30 * 86_400))));
    }

    #[test]
    fn every_key_of_the_defaults_is_in_the_example() {
        let printed = NodeConfig::default().to_toml().unwrap();
        for line in printed.lines().filter(|l| l.contains(" = ")) {
            let key = line.split(" = ").next().unwrap().trim();
            assert!(
                example()
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{key} ="))),
                "key {key} is missing from config/standalone.toml"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = format!(
            "{:#}",
            NodeConfig::parse("[storage]\nwindow_size = \"5m\"").unwrap_err()
        );
        assert!(err.contains("window_size"), "{err}");
        let err = format!("{:#}", NodeConfig::parse("[query]\nmemory = \"lots\"").unwrap_err());
        assert!(err.contains("lots"), "{err}");
        let err = format!(
            "{:#}",
            NodeConfig::parse("[ingest]\nlisten = [\"nowhere\"]").unwrap_err()
        );
        assert!(err.contains("listen") || err.contains("nowhere"), "{err}");
    }

    #[test]
    fn retention_limits_parse_and_bad_ones_name_their_key() {
        let c = NodeConfig::parse("[retention]\nmax_age = \"30d\"\nmax_bytes = \"500GiB\"\ncheck_interval = \"10s\"")
            .unwrap();
        let rules = c.retention.rules();
        assert_eq!(rules.default.max_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(rules.default.max_bytes, None);
        assert_eq!(rules.max_total_bytes, Some(500 << 30));
        assert_eq!(c.retention.check_interval, Span(Duration::from_secs(10)));
        assert!(NodeConfig::default().retention.rules().keeps_everything());
        for (text, key) in [
            ("max_age = \"a month\"", "max_age"),
            ("max_bytes = \"big\"", "max_bytes"),
            ("check_interval = \"0s\"", "check_interval"),
            ("max_age = \"0s\"", "max_age"),
            ("channel_max_bytes = 0", "channel_max_bytes"),
            ("max_size = \"1G\"", "max_size"),
        ] {
            let err = format!("{:#}", NodeConfig::parse(&format!("[retention]\n{text}")).unwrap_err());
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn printed_configuration_reads_back_the_same() {
        let mut config = NodeConfig {
            data: Some("/var/lib/flowfold".into()),
            ..NodeConfig::default()
        };
        config.query.memory = Bytes(256 << 20);
        let again = NodeConfig::parse(&config.to_toml().unwrap()).unwrap();
        assert_eq!(again, config);
    }
}
