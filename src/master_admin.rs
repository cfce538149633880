//! The master's admin route, on its metrics endpoint: `GET /cluster`, every source group, proxy
//! group and node of the topology now (as edited by `flowfold admin slave`, see
//! `topology_admin.rs`) with whether it answers now and the flowfold version it runs,
//! which proxy group serves each source group, and the channels (flow sources) each slave
//! reported. `flowfold admin cluster` prints it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use planner::{ChannelCache, ClusterState, NodeStatus, SlaveRef, TimedChannels, probe_node};
use serde::Serialize;

/// `GET /cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// The version of the topology shown (one more per `flowfold admin slave` edit).
    pub topology_version: u64,
    pub source_groups: Vec<SourceGroupView>,
}

/// One source group.
#[derive(Debug, Serialize)]
pub struct SourceGroupView {
    pub name: String,
    /// The proxy group queries read now (`None`: none can answer).
    pub serving: Option<String>,
    pub proxy_groups: Vec<ProxyGroupView>,
}

/// One proxy group.
#[derive(Debug, Serialize)]
pub struct ProxyGroupView {
    pub name: String,
    pub priority: u32,
    /// Skipped after a failed query, until `down_for` passes.
    pub marked_down: bool,
    pub proxy: Option<NodeView>,
    pub slaves: Vec<NodeView>,
}

/// One node.
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub name: String,
    pub query: String,
    /// Its relay address, where its group's proxy forwards the export (if set).
    pub relay: Option<String>,
    /// `up` or `down`.
    pub state: &'static str,
    /// Its flowfold version, when it answered.
    pub version: Option<String>,
    /// Why it did not answer.
    pub error: Option<String>,
    /// Its channels (slaves only), as last reported.
    pub channels: Vec<String>,
}

#[derive(Clone)]
struct AdminState {
    cluster: Arc<ClusterState>,
    channels: Arc<ChannelCache>,
}

/// The admin routes of a master.
pub fn routes(cluster: Arc<ClusterState>, channels: Arc<ChannelCache>) -> Router {
    Router::new()
        .route("/cluster", get(cluster_view))
        .with_state(AdminState { cluster, channels })
}

async fn cluster_view(State(state): State<AdminState>) -> Json<ClusterView> {
    let timeouts = state.cluster.timeouts();
    let probes = TimedChannels::new(timeouts);
    let limit = timeouts.connect + timeouts.keepalive;
    let down = state.cluster.down_groups();
    let serving = state.cluster.select_available().0;
    let mut source_groups = Vec::new();
    let (topology_version, topology) = state.cluster.versioned();
    for source in &topology.source_groups {
        let mut proxy_groups = Vec::new();
        for group in &source.proxy_groups {
            let proxy = match &group.proxy {
                Some(p) => Some(node_view(&probes, limit, p, Vec::new()).await),
                None => None,
            };
            let mut slaves = Vec::new();
            for slave in &group.slaves {
                let channels = state.channels.of_slave(&slave.name).into_iter().collect();
                slaves.push(node_view(&probes, limit, slave, channels).await);
            }
            proxy_groups.push(ProxyGroupView {
                name: group.name.clone(),
                priority: group.priority,
                marked_down: down.contains(&group.name),
                proxy,
                slaves,
            });
        }
        source_groups.push(SourceGroupView {
            name: source.name.clone(),
            serving: serving
                .iter()
                .find(|s| s.source_group == source.name)
                .map(|s| s.proxy_group.clone()),
            proxy_groups,
        });
    }
    Json(ClusterView {
        topology_version,
        source_groups,
    })
}

/// A node's view: probed now, with `channels`.
async fn node_view(probes: &TimedChannels, limit: Duration, node: &SlaveRef, channels: Vec<String>) -> NodeView {
    let (state, version, error) = match probe_node(probes, node, limit).await {
        NodeStatus::Up { version } => ("up", Some(version), None),
        NodeStatus::Down { reason } => ("down", None, Some(reason)),
    };
    NodeView {
        name: node.name.clone(),
        query: node.query.clone(),
        relay: node.relay.clone(),
        state,
        version,
        error,
        channels,
    }
}
