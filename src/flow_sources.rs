//! Flow-source discovery on the master: every exporter report that reaches its control service
//! (a slave's stored exporters, a flow-source proxy's assignments) is placed in the topology now
//! and recorded in the catalog (`planner::flow_sources`); a new exporter refreshes the master's
//! channel tables at once, so its live channel is a SQL table on the master as soon as it is
//! reported. `GET /flow-sources` lists them (`flowfold admin source list`).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use engine::profiles::ProfileCatalog;
use flight::control::UnitRegistry;
use planner::{ChannelCache, ClusterState, FlowSource, FlowSourceStore, Placement, SourceState};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// Flow sources discovered, by how they map (`mapped`, `unmapped`, `conflict`).
#[derive(Debug, Clone, Default)]
pub struct DiscoveryMetrics {
    discovered: Family<Vec<(String, String)>, Counter>,
    conflicts: Counter,
}

impl DiscoveryMetrics {
    /// Registers `flowfold_flow_sources_discovered_total{state}` and
    /// `flowfold_flow_source_conflicts_total`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "flowfold_flow_source_conflicts",
            "Exporters that came to be reported from more than one source group",
            self.conflicts.clone(),
        );
        registry.register(
            "flowfold_flow_sources_discovered",
            "Exporters first reported to the master, by how they map to the source groups",
            self.discovered.clone(),
        );
    }

    fn discovered(&self, state: SourceState) {
        let label = vec![("state".to_string(), state.name().to_string())];
        self.discovered.get_or_create(&label).inc();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A flow source that is new, or whose state changed, after a report.
struct Change {
    source: FlowSource,
    new: bool,
}

/// What was recorded last for each unit: its placement and its exporters.
type Recorded = HashMap<String, (Option<Placement>, BTreeSet<String>)>;

/// Records the exporters of every unit whose set or placement (in `topology`) changed since
/// `recorded`; returns the sources that are new or changed state.
fn record(
    store: &FlowSourceStore,
    units: &[flight::control::UnitView],
    topology: &planner::Topology,
    recorded: &mut Recorded,
) -> Result<Vec<Change>, planner::PlannerError> {
    let now = now_ms();
    let changed: Vec<_> = units
        .iter()
        .filter(|u| !u.exporters.is_empty())
        .map(|u| (u, topology.place_unit(&u.name, u.group.as_deref())))
        .filter(|(u, placement)| {
            recorded
                .get(&u.name)
                .is_none_or(|(p, e)| p != placement || *e != u.exporters)
        })
        .collect();
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let before: std::collections::BTreeMap<String, SourceState> =
        store.list()?.into_iter().map(|s| (s.exporter, s.state)).collect();
    for (unit, placement) in changed {
        store.record(&unit.name, placement.as_ref(), &unit.exporters, now)?;
        recorded.insert(unit.name.clone(), (placement, unit.exporters.clone()));
    }
    Ok(store
        .list()?
        .into_iter()
        .filter_map(|source| match before.get(&source.exporter) {
            None => Some(Change { source, new: true }),
            Some(state) if *state != source.state => Some(Change { source, new: false }),
            Some(_) => None,
        })
        .collect())
}

/// How often the discovery looks for a topology edit.
const TOPOLOGY_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Records every unit's reported exporters after each report and after each topology edit,
/// until the registry goes away.
pub fn spawn_discovery(
    registry: Arc<UnitRegistry>,
    cluster: Arc<ClusterState>,
    store: Arc<FlowSourceStore>,
    channels: Arc<ChannelCache>,
    metrics: DiscoveryMetrics,
) -> tokio::task::JoinHandle<()> {
    let mut reports = registry.exporter_reports();
    tokio::spawn(async move {
        let mut recorded = Some(Recorded::new());
        // A topology edit can place a unit that reported before: look again after one.
        let mut topology_check = tokio::time::interval(TOPOLOGY_CHECK);
        let mut placed_with = 0;
        loop {
            tokio::select! {
                changed = reports.changed() => if changed.is_err() { break },
                _ = topology_check.tick() => if cluster.versioned().0 == placed_with { continue },
            }
            let units = registry.snapshot();
            let (version, topology) = cluster.versioned();
            placed_with = version;
            let store = Arc::clone(&store);
            let mut last = recorded.take().unwrap_or_default();
            let result = tokio::task::spawn_blocking(move || {
                let changes = record(&store, &units, &topology, &mut last);
                (changes, last)
            })
            .await;
            let changes = match result {
                Ok((changes, last)) => {
                    recorded = Some(last);
                    changes
                }
                Err(e) => Err(planner::PlannerError::Store {
                    op: "record reported flow sources",
                    reason: e.to_string(),
                }),
            };
            let changes = match changes {
                Ok(changes) => changes,
                Err(e) => {
                    tracing::error!(error = %e, "recording reported flow sources failed");
                    continue;
                }
            };
            let mut new = false;
            for change in &changes {
                let source = &change.source;
                if change.new {
                    new = true;
                    metrics.discovered(source.state);
                }
                match source.state {
                    SourceState::Mapped => tracing::info!(
                        exporter = %source.exporter,
                        source_group = ?source.source_groups,
                        units = ?source.units,
                        "new flow source"
                    ),
                    SourceState::Unmapped => tracing::warn!(
                        exporter = %source.exporter,
                        units = ?source.units,
                        "flow source reported by units the topology does not place"
                    ),
                    SourceState::Conflict => {
                        metrics.conflicts.inc();
                        tracing::warn!(
                            exporter = %source.exporter,
                            source_groups = ?source.source_groups,
                            "flow source reported from more than one source group"
                        )
                    }
                }
            }
            if new {
                channels.refresh().await;
            }
        }
    })
}

/// One flow source as `GET /flow-sources` shows it.
#[derive(Debug, Serialize)]
struct SourceView {
    #[serde(flatten)]
    source: FlowSource,
    /// Deleted from the live profile (`flowfold admin source delete`).
    deleted: bool,
}

#[derive(Clone)]
struct SourcesState {
    store: Arc<FlowSourceStore>,
    profiles: Arc<ProfileCatalog>,
}

/// The master's `GET /flow-sources`.
pub fn routes(store: Arc<FlowSourceStore>, profiles: Arc<ProfileCatalog>) -> Router {
    Router::new()
        .route("/flow-sources", get(list))
        .with_state(SourcesState { store, profiles })
}

async fn list(State(state): State<SourcesState>) -> Result<Json<Vec<SourceView>>, (StatusCode, String)> {
    let store = Arc::clone(&state.store);
    let sources = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let deleted: BTreeSet<IpAddr> = state
        .profiles
        .snapshot()
        .deleted_sources
        .keys()
        .filter_map(|a| a.parse().ok())
        .collect();
    Ok(Json(
        sources
            .into_iter()
            .map(|source| SourceView {
                deleted: source.exporter.parse().is_ok_and(|ip: IpAddr| deleted.contains(&ip)),
                source,
            })
            .collect(),
    ))
}
