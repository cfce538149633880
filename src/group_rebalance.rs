//! `POST /groups/{name}/rebalance` on the master: evens out the exporters of a proxy group over
//! its slaves. The master finds the group's proxy in its topology and the proxy's admin address
//! among the units registered over the control plane, and asks it (`POST /rebalance/even`); the
//! proxy moves exporters losslessly (templates replayed) and answers the moves, which are
//! passed on. `flowfold admin rebalance-group NAME --master ADDR` calls it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use flight::control::UnitRegistry;
use planner::ClusterState;

#[derive(Clone)]
struct GroupState {
    cluster: Arc<ClusterState>,
    registry: Arc<UnitRegistry>,
}

/// The master's group routes.
pub fn routes(cluster: Arc<ClusterState>, registry: Arc<UnitRegistry>) -> Router {
    Router::new()
        .route("/groups/{name}/rebalance", post(rebalance))
        .with_state(GroupState { cluster, registry })
}

async fn rebalance(State(state): State<GroupState>, Path(name): Path<String>) -> (StatusCode, String) {
    let topology = state.cluster.topology();
    let Some(group) = topology
        .source_groups
        .iter()
        .flat_map(|s| &s.proxy_groups)
        .find(|g| g.name == name)
    else {
        return (StatusCode::NOT_FOUND, format!("no proxy group {name} in the topology"));
    };
    let Some(proxy) = &group.proxy else {
        return (
            StatusCode::CONFLICT,
            format!("proxy group {name} has no proxy: its slave takes its export directly, nothing to rebalance"),
        );
    };
    let unit = state
        .registry
        .snapshot()
        .into_iter()
        .find(|u| u.name == proxy.name && u.connected);
    let Some(admin) = unit.and_then(|u| u.metrics.parse::<SocketAddr>().ok()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the proxy {} of group {name} is not registered with this master (its admin address is \
                 learned over the control plane)",
                proxy.name
            ),
        );
    };
    let answer =
        tokio::task::spawn_blocking(move || crate::cli::admin::request(admin, "POST", "/rebalance/even", None)).await;
    match answer {
        Ok(Ok(moves)) => (StatusCode::OK, moves),
        Ok(Err(e)) => (StatusCode::BAD_GATEWAY, format!("the proxy {}: {e:#}", proxy.name)),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
