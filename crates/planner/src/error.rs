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
    /// A slave's query address is not `host:port`.
    #[error("slave {slave}: bad query address {address:?}: {reason}")]
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
    /// A partial answer was asked for, but no source group can answer.
    #[error("no source group can answer (all of {} are down)", missing.join(", "))]
    NothingToRead { missing: Vec<String> },
}

impl From<PlannerError> for datafusion::error::DataFusionError {
    fn from(e: PlannerError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}
