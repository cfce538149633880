//! A proxy following its master's topology (both models). The proxy finds its group in
//! each configuration the control plane delivers (the stored one at start, then every pushed
//! version): the proxy group whose `proxy` has the proxy's `name`, or else the one named by its
//! `[control] group`. When every slave of that group has a relay address, those addresses
//! become the proxy's slaves. Flow-source model (`Forwarder::set_slaves`): an added slave takes
//! the next new exporters (fewest first), a removed slave's exporters move to the remaining
//! slaves with their templates replayed. Round-robin model (`SpreaderSlaves::set`): the records
//! are spread over the new list from the next batch on, an added slave first given every
//! template and options record seen so far. A group missing from the topology, or with a slave
//! without a relay address, leaves the slaves as they are (`[distribution] slaves`), with a
//! warning.
//!
//! At start, the stored configuration's relay addresses are the initial slaves (instead of
//! `[distribution] slaves`), so a slave added by the master stays one across a restart (and a
//! flow-source proxy's exporters stay on it).

use std::net::SocketAddr;
use std::sync::Arc;

use flight::control::ControlClient;
use ingest::relay::{Forwarder, SpreaderSlaves};
use planner::Topology;

/// Who the proxy is in the topology.
#[derive(Debug, Clone)]
pub struct ProxyIdentity {
    /// Its name (`name` of its group's `proxy`).
    pub name: String,
    /// Its `[control] group`.
    pub group: Option<String>,
}

/// The relay addresses of the proxy's group in `topology`: `None` if the group is not there;
/// an error naming the slave whose relay address is missing or bad.
pub fn group_relays(topology: &Topology, me: &ProxyIdentity) -> Option<Result<Vec<SocketAddr>, String>> {
    let groups = || topology.source_groups.iter().flat_map(|s| &s.proxy_groups);
    let group = groups()
        .find(|g| g.proxy.as_ref().is_some_and(|p| p.name == me.name))
        .or_else(|| groups().find(|g| Some(&g.name) == me.group.as_ref()))?;
    let relays = group.slaves.iter().map(|slave| match slave.relay_addr() {
        Ok(Some(addr)) => Ok(addr),
        Ok(None) => Err(format!(
            "slave {} of proxy group {} has no relay address in the master's topology",
            slave.name, group.name
        )),
        Err(e) => Err(e.to_string()),
    });
    Some(relays.collect())
}

/// What a proxy distributes with: the slaves it follows.
#[derive(Clone)]
pub enum Followed {
    FlowSource(Arc<Forwarder>),
    RoundRobin(SpreaderSlaves),
}

/// Applies the proxy's group of every configuration `client` delivers to `followed`. The
/// task ends with the client.
pub fn follow_topology(client: &ControlClient, followed: Followed, me: ProxyIdentity) {
    let mut configs = client.subscribe();
    tokio::spawn(async move {
        loop {
            let config = configs.borrow_and_update().clone();
            if let Some(config) = config {
                match group_relays(&config.topology, &me) {
                    None => tracing::debug!(version = config.version, "the proxy's group is not in the topology"),
                    Some(Err(reason)) => tracing::warn!(
                        version = config.version,
                        %reason,
                        "not following the master's topology: keeping the slaves as they are"
                    ),
                    Some(Ok(relays)) => match &followed {
                        Followed::FlowSource(forwarder) => apply(forwarder, relays, config.version).await,
                        Followed::RoundRobin(slaves) => match slaves.set(&relays) {
                            Ok(true) => tracing::info!(
                                version = config.version,
                                slaves = ?relays,
                                "the proxy's slaves follow the master's topology"
                            ),
                            Ok(false) => {}
                            Err(e) => tracing::error!(
                                version = config.version,
                                error = %e,
                                "the master's topology is not applied"
                            ),
                        },
                    },
                }
            }
            if configs.changed().await.is_err() {
                break;
            }
        }
    });
}

/// Makes `relays` the forwarder's slaves, off the async threads (it may persist).
async fn apply(forwarder: &Arc<Forwarder>, relays: Vec<SocketAddr>, version: u64) {
    let mut now = forwarder.active_slaves();
    let mut wanted = relays.clone();
    now.sort();
    wanted.sort();
    if now == wanted {
        return;
    }
    let forwarder = Arc::clone(forwarder);
    match tokio::task::spawn_blocking(move || forwarder.set_slaves(&relays)).await {
        Ok(Ok(change)) => tracing::info!(
            version,
            added = ?change.added,
            removed = ?change.removed,
            moved = change.moved.len(),
            "the proxy's slaves follow the master's topology"
        ),
        Ok(Err(e)) => tracing::error!(version, error = %e, "the master's topology is not applied"),
        Err(e) => tracing::error!(version, error = %e, "the master's topology is not applied"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planner::{ProxyGroup, SlaveRef, SourceGroup};

    fn topology(relay_of_s2: Option<&str>) -> Topology {
        let mut s1 = SlaveRef::new("s1", "127.0.0.1:1");
        s1.relay = Some("127.0.0.1:32055".into());
        let mut s2 = SlaveRef::new("s2", "127.0.0.2:1");
        s2.relay = relay_of_s2.map(str::to_string);
        Topology {
            source_groups: vec![SourceGroup {
                name: "site".into(),
                proxy_groups: vec![ProxyGroup {
                    name: "g1".into(),
                    priority: 1,
                    proxy: Some(SlaveRef::new("p1", "127.0.0.9:1")),
                    slaves: vec![s1, s2],
                }],
            }],
        }
    }

    #[test]
    fn the_group_is_found_by_proxy_name_or_control_group() {
        let by_name = ProxyIdentity {
            name: "p1".into(),
            group: None,
        };
        let relays = group_relays(&topology(Some("127.0.0.2:32055")), &by_name)
            .unwrap()
            .unwrap();
        assert_eq!(
            relays,
            ["127.0.0.1:32055".parse().unwrap(), "127.0.0.2:32055".parse().unwrap()]
        );
        let by_group = ProxyIdentity {
            name: "other".into(),
            group: Some("g1".into()),
        };
        assert!(group_relays(&topology(Some("127.0.0.2:32055")), &by_group).is_some());
        let stranger = ProxyIdentity {
            name: "other".into(),
            group: Some("g9".into()),
        };
        assert!(group_relays(&topology(None), &stranger).is_none());
        let err = group_relays(&topology(None), &by_name).unwrap().unwrap_err();
        assert_eq!(
            err,
            "slave s2 of proxy group g1 has no relay address in the master's topology"
        );
    }
}
