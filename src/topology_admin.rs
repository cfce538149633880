//! The master's topology routes, on its admin (metrics) endpoint:
//!
//! - `GET /topology`: the topology now (as stored in the catalog) and its version;
//! - `POST /topology/slaves` (body: `{source_group, proxy_group, name, query, relay?}`): add a
//!   slave to a proxy group;
//! - `DELETE /topology/slaves/{name}`: remove a slave.
//!
//! An edit is stored in the catalog, then seen by the next query (and the channel listing and
//! the health probes), then published to every node over the control plane as a new
//! configuration version (a proxy applies its group's slaves, see `proxy_follow.rs`). A refused
//! edit answers 400 (bad address, relay address missing), 404 (unknown group or slave) or 409
//! (name in use, last slave of its group) with the reason as text; `flowfold admin slave`
//! prints it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use flight::control::ConfigPublisher;
use planner::{ClusterState, NewSlave, PlannerError, Topology};

#[derive(Clone)]
struct TopologyState {
    cluster: Arc<ClusterState>,
    publisher: Arc<ConfigPublisher>,
}

/// The topology routes of a master.
pub fn routes(cluster: Arc<ClusterState>, publisher: Arc<ConfigPublisher>) -> Router {
    Router::new()
        .route("/topology", get(show))
        .route("/topology/slaves", post(add))
        .route("/topology/slaves/{name}", delete(remove))
        .with_state(TopologyState { cluster, publisher })
}

async fn show(State(state): State<TopologyState>) -> Json<serde_json::Value> {
    let (version, topology) = state.cluster.versioned();
    Json(serde_json::json!({ "version": version, "topology": *topology }))
}

async fn add(State(state): State<TopologyState>, Json(slave): Json<NewSlave>) -> Response {
    let name = slave.name.clone();
    let group = slave.proxy_group.clone();
    let cluster = Arc::clone(&state.cluster);
    let edited = tokio::task::spawn_blocking(move || cluster.edit(|t| t.with_slave(slave))).await;
    match settle(&state, edited) {
        Ok((version, config_version)) => {
            tracing::info!(slave = %name, proxy_group = %group, version, config_version, "slave added");
            let body = serde_json::json!({
                "change": "added", "version": version, "config_version": config_version, "slave": name,
                "proxy_group": group,
            });
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}

async fn remove(State(state): State<TopologyState>, Path(name): Path<String>) -> Response {
    let (cluster, slave) = (Arc::clone(&state.cluster), name.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let mut group = String::new();
        let edited = cluster.edit(|t| {
            let (next, from) = t.without_slave(&slave)?;
            group = from;
            Ok(next)
        });
        (edited, group)
    })
    .await;
    let (edited, group) = match outcome {
        Ok((edited, group)) => (Ok(edited), group),
        Err(e) => (Err(e), String::new()),
    };
    match settle(&state, edited) {
        Ok((version, config_version)) => {
            tracing::info!(slave = %name, proxy_group = %group, version, config_version, "slave removed");
            let body = serde_json::json!({
                "change": "removed", "version": version, "config_version": config_version, "slave": name,
                "proxy_group": group,
            });
            Json(body).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}

type Edited = Result<Result<(u64, Arc<Topology>), PlannerError>, tokio::task::JoinError>;

/// Publishes a stored edit over the control plane: its topology version and the configuration
/// version; or the refusal as a response.
fn settle(state: &TopologyState, edited: Edited) -> Result<(u64, u64), (StatusCode, String)> {
    match edited {
        Ok(Ok((version, topology))) => Ok((version, state.publisher.publish_topology(Topology::clone(&topology)))),
        Ok(Err(e)) => Err((status_of(&e), e.to_string())),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// The HTTP status of a refused topology edit.
fn status_of(e: &PlannerError) -> StatusCode {
    match e {
        PlannerError::UnknownSourceGroup(_)
        | PlannerError::UnknownProxyGroup { .. }
        | PlannerError::UnknownSlave(_) => StatusCode::NOT_FOUND,
        PlannerError::DuplicateName(_) | PlannerError::LastSlave { .. } => StatusCode::CONFLICT,
        PlannerError::BadAddress { .. } | PlannerError::RelayRequired { .. } | PlannerError::EmptyGroup(_) => {
            StatusCode::BAD_REQUEST
        }
        PlannerError::Store { .. } | PlannerError::SourceGroupDown { .. } | PlannerError::NothingToRead { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}
