//! A proxy's configuration file (TOML): its worker service and metrics endpoint. Unknown keys are
//! errors. See `config/proxy.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::MetricsSection;
use super::units::Bytes;

/// A proxy's configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// The proxy's name (its group's `proxy = { name, .. }` in the master's topology), as it
    /// registers over the control plane. Default: `proxy`.
    pub name: Option<String>,
    /// The site's export: the UDP listeners exporters send to.
    pub ingest: ProxyIngestSection,
    /// Where the export goes: the group's slaves.
    pub distribution: DistributionSection,
    /// The worker service the master sends merge stages to.
    pub query: ProxyQuerySection,
    /// The Prometheus endpoint.
    pub metrics: MetricsSection,
    /// The masters this proxy registers with (control plane); configurations are kept beside
    /// `[distribution] state`, in `control/config.json`.
    pub control: super::control::ControlSection,
}

/// `[ingest]` of a proxy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyIngestSection {
    /// UDP addresses exporters send to (port 0 picks a free port).
    pub listen: Vec<SocketAddr>,
    /// Socket receive buffer per listener.
    pub recv_buffer: Bytes,
}

impl Default for ProxyIngestSection {
    fn default() -> Self {
        ProxyIngestSection {
            listen: ["0.0.0.0:2055", "0.0.0.0:4739", "0.0.0.0:9996"]
                .iter()
                .map(|a| a.parse().expect("a valid address"))
                .collect(),
            recv_buffer: Bytes(8 << 20),
        }
    }
}

/// How a proxy spreads its site's export over the slaves (`[distribution] model`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DistributionModel {
    /// Each exporter sticks to one slave; its datagrams are forwarded unchanged.
    #[default]
    FlowSource,
    /// Every exporter's flow records are spread evenly over all slaves; templates and options
    /// records go to every slave.
    RoundRobin,
}

impl DistributionModel {
    /// The name used in the configuration file and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DistributionModel::FlowSource => "flow-source",
            DistributionModel::RoundRobin => "round-robin",
        }
    }
}

/// How a round-robin proxy deals each datagram's flow records (`[distribution] spread`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpreadUnit {
    /// All of a datagram's records to one slave, the slaves in turn (per exporter): one
    /// datagram out per datagram in, so the proxy's work does not grow with its slaves; shares
    /// even to within one datagram's records per exporter.
    #[default]
    Datagram,
    /// Each record to the next slave: shares even to the record, but every datagram becomes
    /// one per slave (the proxy sends, and the slaves receive, that many more).
    Record,
}

impl SpreadUnit {
    /// The splitter's setting.
    pub fn to_spread(self) -> ingest::relay::Spread {
        match self {
            SpreadUnit::Datagram => ingest::relay::Spread::Datagram,
            SpreadUnit::Record => ingest::relay::Spread::Record,
        }
    }
}

/// `[distribution]` of a proxy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributionSection {
    /// `flow-source` (default) or `round-robin`.
    pub model: DistributionModel,
    /// The slaves' relay addresses (their flow port + 30000). Empty: the proxy only merges.
    pub slaves: Vec<SocketAddr>,
    /// The file keeping each exporter's slave across restarts (flow-source model only).
    pub state: PathBuf,
    /// Round-robin model: `datagram` (default) or `record`.
    pub spread: SpreadUnit,
}

impl Default for DistributionSection {
    fn default() -> Self {
        DistributionSection {
            model: DistributionModel::default(),
            slaves: Vec::new(),
            state: PathBuf::from("/var/lib/flowfold-proxy/assignments.json"),
            spread: SpreadUnit::default(),
        }
    }
}

/// `[query]` of a proxy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyQuerySection {
    /// TCP address of the worker service (the group's `proxy.query` in the master's topology).
    pub listen: SocketAddr,
    /// Memory the proxy's merges share; they spill beyond it.
    pub memory: Bytes,
}

impl Default for ProxyQuerySection {
    fn default() -> Self {
        ProxyQuerySection {
            listen: "0.0.0.0:4210".parse().expect("a valid address"),
            memory: Bytes(1 << 30),
        }
    }
}

impl ProxyConfig {
    /// Reads and checks a configuration file; the error names the file, the line and the key.
    pub fn load(path: &Path) -> anyhow::Result<ProxyConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: ProxyConfig = toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        config
            .control
            .check()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_states_the_defaults() {
        let example: ProxyConfig =
            toml::from_str(include_str!("../../config/proxy.toml")).expect("config/proxy.toml parses");
        assert_eq!(example, ProxyConfig::default());
    }

    #[test]
    fn the_model_is_read_by_name() {
        let config: ProxyConfig = toml::from_str("[distribution]\nmodel = \"round-robin\"\n").unwrap();
        assert_eq!(config.distribution.model, DistributionModel::RoundRobin);
        assert_eq!(config.distribution.model.name(), "round-robin");
        let err = toml::from_str::<ProxyConfig>("[distribution]\nmodel = \"random\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("flow-source") && err.contains("round-robin"), "{err}");
    }

    #[test]
    fn the_spread_is_read_by_name() {
        let config: ProxyConfig = toml::from_str("[distribution]\nspread = \"record\"\n").unwrap();
        assert_eq!(config.distribution.spread, SpreadUnit::Record);
        assert_eq!(ProxyConfig::default().distribution.spread, SpreadUnit::Datagram);
        assert!(toml::from_str::<ProxyConfig>("[distribution]\nspread = \"flow\"\n").is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<ProxyConfig>("[query]\nthreads = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("threads"), "{err}");
    }
}
