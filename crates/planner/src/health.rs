//! Finding the proxy groups that cannot answer: after a query fails, every node (proxy and
//! slaves) of the groups it read is asked for its worker info (with the connection timeouts); a
//! group with a node that does not answer, or answers with another flowfold version, is marked
//! down, and the query is planned again on the remaining groups. [`probe_node`] also serves the
//! master's cluster listing.

use std::time::Duration;

use datafusion_distributed::{ChannelResolver, GetWorkerInfoRequest};

use crate::channel::TimedChannels;
use crate::cluster::ClusterState;
use crate::topology::SlaveRef;

/// What a probe found out about a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeStatus {
    /// It answered, running this flowfold version.
    Up { version: String },
    /// It did not answer (or could not be asked): why.
    Down { reason: String },
}

/// Asks `node` for its worker info within `limit`.
pub async fn probe_node(channels: &TimedChannels, node: &SlaveRef, limit: Duration) -> NodeStatus {
    let url = match node.url() {
        Ok(url) => url,
        Err(e) => return NodeStatus::Down { reason: e.to_string() },
    };
    let ask = async {
        let mut client = channels.get_worker_client_for_url(&url).await?;
        client.get_worker_info(GetWorkerInfoRequest {}).await
    };
    match tokio::time::timeout(limit, ask).await {
        Err(_) => NodeStatus::Down {
            reason: format!("no answer within {limit:?}"),
        },
        Ok(Err(e)) => NodeStatus::Down { reason: e.to_string() },
        Ok(Ok(info)) => NodeStatus::Up { version: info.version },
    }
}

/// Why a node failed its probe (no answer, or another flowfold version), or `None`.
async fn probe(channels: &TimedChannels, node: &SlaveRef, limit: Duration) -> Option<String> {
    match probe_node(channels, node, limit).await {
        NodeStatus::Down { reason } => Some(reason),
        NodeStatus::Up { version } if version != env!("CARGO_PKG_VERSION") => Some(format!(
            "runs flowfold {version} but the master runs {}",
            env!("CARGO_PKG_VERSION")
        )),
        NodeStatus::Up { .. } => None,
    }
}

/// Probes the slaves of every selected proxy group and marks down each group with a failed
/// slave. Returns the groups marked down.
pub async fn mark_failed_groups(cluster: &ClusterState) -> Vec<String> {
    let Ok(selection) = cluster.select() else {
        return Vec::new();
    };
    let timeouts = cluster.timeouts();
    let channels = TimedChannels::new(timeouts);
    let limit = timeouts.connect + timeouts.keepalive;
    let mut marked = Vec::new();
    for group in selection {
        for slave in group.proxy.iter().chain(&group.slaves) {
            if let Some(reason) = probe(&channels, slave, limit).await {
                tracing::warn!(proxy_group = %group.proxy_group, slave = %slave.name, %reason, "node failed its probe");
                cluster.mark_down(&group.proxy_group);
                marked.push(group.proxy_group.clone());
                break;
            }
        }
    }
    marked
}
