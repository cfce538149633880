//! The cluster as the master sees it: source groups, each read from one of its replicated proxy
//! groups (by priority), each proxy group a set of slaves. Declared in the master's
//! configuration (`[[cluster.source_groups]]`) as the initial state of the master's catalog,
//! then edited by `flowfold admin slave add|remove` (`topology/edit.rs`) and stored
//! (`store.rs`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::PlannerError;

/// Every source group of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Source groups: flow sources whose flows are stored by the same proxy groups.
    #[serde(default)]
    pub source_groups: Vec<SourceGroup>,
}

/// Flow sources exported to 1-2 (or more) replicated proxy groups.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceGroup {
    /// Unique name, used in errors and in the answer's `served_by`.
    pub name: String,
    /// The replicas; the one with the lowest `priority` number that can answer is read.
    pub proxy_groups: Vec<ProxyGroup>,
}

/// A proxy and its slaves, or one standalone slave.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyGroup {
    /// Unique name across the cluster.
    pub name: String,
    /// 1 is the primary; higher numbers are read when every lower one is down.
    #[serde(default = "primary")]
    pub priority: u32,
    /// The group's proxy: it merges its slaves' partial aggregates (`None`: the first slave
    /// does, as a standalone slave does for itself).
    #[serde(default)]
    pub proxy: Option<SlaveRef>,
    /// The slaves storing this group's flows.
    pub slaves: Vec<SlaveRef>,
}

/// Name of [`SlaveRef::master_local`].
pub const MASTER_LOCAL_NAME: &str = "master";
/// Address of [`SlaveRef::master_local`]: never dialled.
pub const MASTER_LOCAL_ADDR: &str = "flowfold-master.invalid:1";

/// One node (a slave or a proxy): its name and its query (worker) address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaveRef {
    /// The node's configured `name`: a scan routed to another slave is refused.
    pub name: String,
    /// `host:port` of its query service.
    pub query: String,
    /// `host:port` of its relay listener (its flow port + 30000): where its group's proxy
    /// forwards the export. Required for the slaves of a group with a proxy that follows the
    /// topology (a slave added by `flowfold admin slave add`); unset otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
}

fn primary() -> u32 {
    1
}

impl SlaveRef {
    /// A node without a relay address.
    pub fn new(name: impl Into<String>, query: impl Into<String>) -> SlaveRef {
        SlaveRef {
            name: name.into(),
            query: query.into(),
            relay: None,
        }
    }

    /// The relay address as a socket address, if set.
    pub fn relay_addr(&self) -> Result<Option<std::net::SocketAddr>, PlannerError> {
        let Some(relay) = &self.relay else { return Ok(None) };
        relay
            .parse()
            .map(Some)
            .map_err(|e: std::net::AddrParseError| PlannerError::BadAddress {
                slave: self.name.clone(),
                address: relay.clone(),
                reason: e.to_string(),
            })
    }

    /// The master's own in-process worker, where the reduce tree puts the tasks that only pad
    /// a plan's shape (they read and merge nothing). Its address is in `.invalid` (RFC 2606):
    /// only the master reaches it, in-process, and any other node fails to resolve it.
    pub fn master_local() -> SlaveRef {
        SlaveRef::new(MASTER_LOCAL_NAME, MASTER_LOCAL_ADDR)
    }

    /// Whether this is [`SlaveRef::master_local`].
    pub fn is_master_local(&self) -> bool {
        self.query == MASTER_LOCAL_ADDR
    }

    /// The worker URL of the slave.
    pub fn url(&self) -> Result<url::Url, PlannerError> {
        url::Url::parse(&format!("http://{}", self.query)).map_err(|e| PlannerError::BadAddress {
            slave: self.name.clone(),
            address: self.query.clone(),
            reason: e.to_string(),
        })
    }
}

/// The proxy group chosen to answer for one source group.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The source group.
    pub source_group: String,
    /// The proxy group that serves it.
    pub proxy_group: String,
    /// Its proxy, if it has one.
    pub proxy: Option<SlaveRef>,
    /// Its slaves.
    pub slaves: Vec<SlaveRef>,
}

impl Topology {
    /// Checks names are unique, every group has slaves and every address parses.
    pub fn validate(&self) -> Result<(), PlannerError> {
        let mut names = BTreeSet::new();
        let mut slaves = BTreeSet::new();
        for source in &self.source_groups {
            if !names.insert(&source.name) {
                return Err(PlannerError::DuplicateName(source.name.clone()));
            }
            if source.proxy_groups.is_empty() {
                return Err(PlannerError::EmptyGroup(source.name.clone()));
            }
            for group in &source.proxy_groups {
                if !names.insert(&group.name) {
                    return Err(PlannerError::DuplicateName(group.name.clone()));
                }
                if group.slaves.is_empty() {
                    return Err(PlannerError::EmptyGroup(group.name.clone()));
                }
                if let Some(proxy) = &group.proxy {
                    proxy.url()?;
                    if !slaves.insert(&proxy.name) {
                        return Err(PlannerError::DuplicateName(proxy.name.clone()));
                    }
                }
                for slave in &group.slaves {
                    slave.url()?;
                    slave.relay_addr()?;
                    if !slaves.insert(&slave.name) {
                        return Err(PlannerError::DuplicateName(slave.name.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    /// For each source group, its highest-priority proxy group not in `down`. Fails naming the
    /// first source group with no proxy group left.
    pub fn select(&self, down: &BTreeSet<String>) -> Result<Vec<Selection>, PlannerError> {
        self.source_groups
            .iter()
            .map(|source| {
                let mut groups: Vec<&ProxyGroup> = source.proxy_groups.iter().collect();
                groups.sort_by_key(|g| g.priority);
                groups
                    .into_iter()
                    .find(|g| !down.contains(&g.name))
                    .map(|g| Selection {
                        source_group: source.name.clone(),
                        proxy_group: g.name.clone(),
                        proxy: g.proxy.clone(),
                        slaves: g.slaves.clone(),
                    })
                    .ok_or_else(|| PlannerError::SourceGroupDown {
                        source_group: source.name.clone(),
                        proxy_groups: source.proxy_groups.iter().map(|g| g.name.clone()).collect(),
                    })
            })
            .collect()
    }

    /// The node that merges a group's partial aggregates: its proxy, or its first slave.
    pub fn merger(group: &ProxyGroup) -> &SlaveRef {
        group.proxy.as_ref().unwrap_or(&group.slaves[0])
    }

    /// The proxy group a slave belongs to.
    pub fn group_of(&self, slave: &str) -> Option<&ProxyGroup> {
        self.source_groups
            .iter()
            .flat_map(|s| &s.proxy_groups)
            .find(|g| g.slaves.iter().any(|s| s.name == slave))
    }
}

mod edit;
pub use edit::NewSlave;

#[cfg(test)]
mod tests;
