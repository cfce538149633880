//! Finding the proxy groups that cannot answer: after a query fails, every node (proxy and
//! slaves) of the groups it read is asked for its worker info (with the connection timeouts); a group with a slave that
//! does not answer, or answers with another flowfold version, is marked down, and the query is
//! planned again on the remaining groups.

use std::time::Duration;

use datafusion_distributed::{ChannelResolver, GetWorkerInfoRequest};

use crate::channel::TimedChannels;
use crate::cluster::ClusterState;
use crate::topology::SlaveRef;

/// Why a node failed its probe, or `None` when it answered.
async fn probe(channels: &TimedChannels, slave: &SlaveRef, limit: Duration) -> Option<String> {
    let url = match slave.url() {
        Ok(url) => url,
        Err(e) => return Some(e.to_string()),
    };
    let ask = async {
        let mut client = channels.get_worker_client_for_url(&url).await?;
        client.get_worker_info(GetWorkerInfoRequest {}).await
    };
    match tokio::time::timeout(limit, ask).await {
        Err(_) => Some(format!("no answer within {limit:?}")),
        Ok(Err(e)) => Some(e.to_string()),
        Ok(Ok(info)) if info.version != env!("CARGO_PKG_VERSION") => Some(format!(
            "runs flowfold {} but the master runs {}",
            info.version,
            env!("CARGO_PKG_VERSION")
        )),
        Ok(Ok(_)) => None,
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
