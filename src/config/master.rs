//! The master's configuration file (TOML): its Flight SQL service and limits, its metrics
//! endpoint, and the cluster it queries. Unknown keys are errors. See `config/master.toml`.

use std::path::Path;

use anyhow::Context;
use planner::{SourceGroup, Topology};
use serde::{Deserialize, Serialize};

use super::units::Span;
use super::{MetricsSection, QuerySection};

/// A master's configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MasterConfig {
    /// The catalog (SQLite): profiles and the topology; unset: both are kept in memory and lost
    /// at exit.
    pub catalog: Option<std::path::PathBuf>,
    /// The Flight SQL service clients use, and its limits.
    pub query: QuerySection,
    /// The Prometheus endpoint.
    pub metrics: MetricsSection,
    /// The source groups, proxy groups and slaves queries read: the initial state of the
    /// catalog's topology (used on the first start only, see `planner::store`).
    pub cluster: ClusterSection,
    /// The control service nodes register with.
    pub control: super::control::MasterControlSection,
}

/// `[cluster]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// Longest wait for a TCP connection to a slave.
    pub connect_timeout: Span,
    /// HTTP/2 keepalive interval and deadline on connections to slaves: a silent slave fails
    /// its query after about twice this.
    pub keepalive: Span,
    /// How long a proxy group that failed a query is skipped before it is tried again.
    pub down_for: Span,
    /// The topology: source groups, their proxy groups and slaves.
    pub source_groups: Vec<SourceGroup>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        let timeouts = planner::WorkerTimeouts::default();
        ClusterSection {
            connect_timeout: Span(timeouts.connect),
            keepalive: Span(timeouts.keepalive),
            down_for: Span(planner::DEFAULT_DOWN_FOR),
            source_groups: Vec::new(),
        }
    }
}

impl MasterConfig {
    /// Reads and checks a configuration file; the error names the file, the line and the key.
    pub fn load(path: &Path) -> anyhow::Result<MasterConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses configuration text and checks the topology.
    pub fn parse(text: &str) -> anyhow::Result<MasterConfig> {
        let config: MasterConfig = toml::from_str(text)?;
        config.cluster.topology().validate()?;
        config.control.check()?;
        Ok(config)
    }
}

impl ClusterSection {
    /// The declared topology.
    pub fn topology(&self) -> Topology {
        Topology {
            source_groups: self.source_groups.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses_with_its_topology() {
        let config = MasterConfig::parse(include_str!("../../config/master.toml")).expect("config/master.toml parses");
        let groups = &config.cluster.source_groups;
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].proxy_groups.len(), 2);
        assert_eq!(config.cluster.down_for, ClusterSection::default().down_for);
        assert_eq!(config.query, QuerySection::default());
    }

    #[test]
    fn a_bad_topology_is_named() {
        let text = "[[cluster.source_groups]]\nname = \"a\"\nproxy_groups = []\n";
        let err = format!("{:#}", MasterConfig::parse(text).unwrap_err());
        assert!(err.contains("group a has no members"), "{err}");
    }
}
