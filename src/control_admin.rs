//! The master's control route, on its admin (metrics) endpoint: `GET /units`, every unit that
//! registered over the control plane (name, role, group, version, addresses, connected, last
//! heartbeat, the configuration version it runs, the exporters it reported) and the master's
//! configuration version. `flowfold admin units` prints it.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flight::control::{ConfigPublisher, UnitRegistry, UnitsView};

#[derive(Clone)]
struct UnitsState {
    registry: Arc<UnitRegistry>,
    publisher: Arc<ConfigPublisher>,
}

/// The control routes of a master.
pub fn routes(registry: Arc<UnitRegistry>, publisher: Arc<ConfigPublisher>) -> Router {
    Router::new()
        .route("/units", get(units))
        .with_state(UnitsState { registry, publisher })
}

async fn units(State(state): State<UnitsState>) -> Json<UnitsView> {
    Json(UnitsView {
        config_version: state.publisher.current().version,
        units: state.registry.snapshot(),
    })
}
