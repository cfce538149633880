//! Errors of distributed planning.

use thiserror::Error;

/// What can go wrong planning a query over the cluster.
#[derive(Debug, Error)]
pub enum PlannerError {
    /// Two source groups, proxy groups or slaves share a name.
    #[error("the name {0} is used twice in the cluster topology")]
    DuplicateName(String),
    /// A source group without proxy groups, or a proxy group without slaves.
    #[error("group {0} has no members")]
    EmptyGroup(String),
    /// A slave's query or relay address is not `host:port`.
    #[error("slave {slave}: bad address {address:?}: {reason}")]
    BadAddress {
        slave: String,
        address: String,
        reason: String,
    },
    /// Every proxy group of a source group is down or failed.
    #[error("no proxy group of source group {source_group} can answer (tried {})", proxy_groups.join(", "))]
    SourceGroupDown {
        source_group: String,
        proxy_groups: Vec<String>,
    },
    /// A topology edit names a source group the topology does not have.
    #[error("no source group named {0}")]
    UnknownSourceGroup(String),
    /// A topology edit names a proxy group its source group does not have.
    #[error("source group {source_group} has no proxy group named {proxy_group}")]
    UnknownProxyGroup { source_group: String, proxy_group: String },
    /// A topology edit names a slave the topology does not have.
    #[error("no slave named {0} in the topology")]
    UnknownSlave(String),
    /// Removing this slave would leave its proxy group without slaves.
    #[error("slave {slave} is the last slave of proxy group {proxy_group}: a group needs at least one")]
    LastSlave { slave: String, proxy_group: String },
    /// A slave added to a group with a proxy must say where the proxy forwards its export.
    #[error(
        "slave {slave}: proxy group {proxy_group} has a proxy, which needs the slave's relay address \
         (its flow port + 30000): give --relay HOST:PORT"
    )]
    RelayRequired { slave: String, proxy_group: String },
    /// The topology catalog could not be read or written.
    #[error("topology catalog: {op}: {reason}")]
    Store { op: &'static str, reason: String },
    /// A partial answer was asked for, but no source group can answer.
    #[error("no source group can answer (all of {} are down)", missing.join(", "))]
    NothingToRead { missing: Vec<String> },
}

impl From<PlannerError> for datafusion::error::DataFusionError {
    fn from(e: PlannerError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}
