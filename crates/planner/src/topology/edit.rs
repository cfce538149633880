//! Editing the topology: adding a slave to a proxy group and removing one. Each edit returns a
//! new, validated [`Topology`] and leaves `self` as it was, so the caller stores the result
//! before anyone sees it (see `ClusterState::edit`).

use super::{SlaveRef, Topology};
use crate::error::PlannerError;

/// A slave to add: where it goes and how to reach it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewSlave {
    /// The source group of its proxy group.
    pub source_group: String,
    /// The proxy group it joins.
    pub proxy_group: String,
    /// Its configured `name`.
    pub name: String,
    /// `host:port` of its query service.
    pub query: String,
    /// `host:port` of its relay listener; required when the group has a proxy.
    #[serde(default)]
    pub relay: Option<String>,
}

impl Topology {
    /// The topology with `slave` appended to its proxy group. Refused: an unknown source or
    /// proxy group, a name already used by a node, an address that is not `host:port`, and a
    /// group with a proxy but no relay address given.
    pub fn with_slave(&self, slave: NewSlave) -> Result<Topology, PlannerError> {
        let mut next = self.clone();
        let source = next
            .source_groups
            .iter_mut()
            .find(|s| s.name == slave.source_group)
            .ok_or_else(|| PlannerError::UnknownSourceGroup(slave.source_group.clone()))?;
        let group = source
            .proxy_groups
            .iter_mut()
            .find(|g| g.name == slave.proxy_group)
            .ok_or_else(|| PlannerError::UnknownProxyGroup {
                source_group: slave.source_group.clone(),
                proxy_group: slave.proxy_group.clone(),
            })?;
        if slave.name.trim().is_empty() {
            return Err(PlannerError::BadAddress {
                slave: slave.name,
                address: slave.query,
                reason: "the slave has no name".into(),
            });
        }
        if group.proxy.is_some() && slave.relay.is_none() {
            return Err(PlannerError::RelayRequired {
                slave: slave.name,
                proxy_group: slave.proxy_group,
            });
        }
        let added = SlaveRef {
            name: slave.name,
            query: slave.query,
            relay: slave.relay,
        };
        check_host_port(&added.name, &added.query)?;
        added.relay_addr()?;
        group.slaves.push(added);
        next.validate()?;
        Ok(next)
    }

    /// The topology without slave `name`, and the proxy group it left. Refused: an unknown
    /// slave, and the last slave of its group.
    pub fn without_slave(&self, name: &str) -> Result<(Topology, String), PlannerError> {
        let mut next = self.clone();
        let group = next
            .source_groups
            .iter_mut()
            .flat_map(|s| s.proxy_groups.iter_mut())
            .find(|g| g.slaves.iter().any(|s| s.name == name))
            .ok_or_else(|| PlannerError::UnknownSlave(name.to_string()))?;
        if group.slaves.len() == 1 {
            return Err(PlannerError::LastSlave {
                slave: name.to_string(),
                proxy_group: group.name.clone(),
            });
        }
        group.slaves.retain(|s| s.name != name);
        let left = group.name.clone();
        next.validate()?;
        Ok((next, left))
    }

    /// Every slave (not proxies), with its proxy group's name.
    pub fn slaves(&self) -> impl Iterator<Item = (&str, &SlaveRef)> {
        self.source_groups
            .iter()
            .flat_map(|s| &s.proxy_groups)
            .flat_map(|g| g.slaves.iter().map(move |s| (g.name.as_str(), s)))
    }
}

/// `address` must be `host:port` with a numeric port (a query address the master dials).
fn check_host_port(slave: &str, address: &str) -> Result<(), PlannerError> {
    let bad = |reason: &str| PlannerError::BadAddress {
        slave: slave.to_string(),
        address: address.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(bad("expected host:port"));
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
    Ok(())
}

#[cfg(test)]
mod tests;
