//! The proxy's admin routes, on its metrics endpoint: `GET /assignments` (each exporter's
//! slave), `POST /rebalance/even` (even out the exporters over the slaves; the moves are
//! answered) and `POST /rebalance?exporter=IP&slave=N` (move one exporter to slave N, an index into
//! `slaves` of `GET /assignments`: `[distribution] slaves` at start, then the slaves added by the
//! master's topology, in order; a removed slave keeps its index and is listed in `removed`).
//!
//! A round-robin proxy has no assignments: both routes answer `409 Conflict` saying so.

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
    /// Slaves removed from the group (they take no exporters).
    removed: Vec<String>,
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
        .route("/rebalance/even", post(even_out))
        .with_state(forwarder)
}

/// Why a round-robin proxy has nothing to list or move.
const NO_ASSIGNMENTS: &str = "this proxy distributes round-robin ([distribution] model = \"round-robin\"): \
every exporter's flow records are spread over all slaves, so there are no exporter assignments to \
list or rebalance; use model = \"flow-source\" for sticky, rebalanceable assignments";

/// The admin routes of a round-robin proxy over `slaves`: `/assignments` and `/rebalance`
/// answer `409 Conflict` with the reason and the slaves.
pub fn round_robin_routes(slaves: ingest::relay::SpreaderSlaves) -> Router {
    // The slaves now: they follow the master's topology.
    let answer = move || {
        let slaves = slaves.list();
        (
            StatusCode::CONFLICT,
            format!(
                "{NO_ASSIGNMENTS} (slaves: {})\n",
                slaves.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        )
    };
    let listing = answer.clone();
    let evening = answer.clone();
    Router::new()
        .route("/assignments", get(move || async move { listing() }))
        .route("/rebalance", post(move || async move { answer() }))
        .route("/rebalance/even", post(move || async move { evening() }))
}

async fn even_out(
    State(forwarder): State<Arc<Forwarder>>,
) -> Result<Json<Vec<ingest::relay::Moved>>, (StatusCode, String)> {
    tokio::task::spawn_blocking(move || forwarder.even_out())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map(Json)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn assignments(State(forwarder): State<Arc<Forwarder>>) -> Json<AssignmentsView> {
    let active = forwarder.active_slaves();
    let slaves = forwarder.slaves();
    Json(AssignmentsView {
        removed: slaves
            .iter()
            .filter(|s| !active.contains(s))
            .map(ToString::to_string)
            .collect(),
        slaves: slaves.iter().map(ToString::to_string).collect(),
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
