//! The proxy's admin routes, on its metrics endpoint: `GET /assignments` (each exporter's
//! slave) and `POST /rebalance?exporter=IP&slave=N` (move one exporter to slave N, an index into
//! `[distribution] slaves`). The control plane will send these commands from the master.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ingest::relay::Forwarder;
use serde::{Deserialize, Serialize};

/// `GET /assignments`.
#[derive(Debug, Serialize)]
struct AssignmentsView {
    /// The slaves' relay addresses, by index.
    slaves: Vec<String>,
    /// Exporter -> slave index.
    exporters: BTreeMap<String, usize>,
}

/// The query of `POST /rebalance`.
#[derive(Debug, Deserialize)]
struct RebalanceQuery {
    exporter: IpAddr,
    slave: usize,
}

/// The answer of `POST /rebalance`.
#[derive(Debug, Serialize)]
struct Rebalanced {
    exporter: IpAddr,
    from: Option<usize>,
    to: usize,
}

/// The admin routes over `forwarder`.
pub fn routes(forwarder: Arc<Forwarder>) -> Router {
    Router::new()
        .route("/assignments", get(assignments))
        .route("/rebalance", post(rebalance))
        .with_state(forwarder)
}

async fn assignments(State(forwarder): State<Arc<Forwarder>>) -> Json<AssignmentsView> {
    Json(AssignmentsView {
        slaves: forwarder.slaves().iter().map(ToString::to_string).collect(),
        exporters: forwarder
            .assignments()
            .into_iter()
            .map(|(exporter, slave)| (exporter.to_string(), slave))
            .collect(),
    })
}

async fn rebalance(
    State(forwarder): State<Arc<Forwarder>>,
    Query(query): Query<RebalanceQuery>,
) -> Result<Json<Rebalanced>, (StatusCode, String)> {
    let moved = tokio::task::spawn_blocking(move || forwarder.rebalance(query.exporter, query.slave))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match moved {
        Ok(from) => Ok(Json(Rebalanced {
            exporter: query.exporter,
            from,
            to: query.slave,
        })),
        Err(e) => Err((StatusCode::BAD_REQUEST, e.to_string())),
    }
}
