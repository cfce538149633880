//! The control plane's wiring (see `flight::control`): a node's client (slave, standalone,
//! proxy) with what it reports, and the master's control service with the push of every profile
//! change. `control_admin.rs` has the master's `GET /units`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::profiles::ProfileCatalog;
use flight::control::{
    ConfigPublisher, ControlClient, ControlClientMetrics, ControlClientSettings, ControlServerMetrics, ControlService,
    NodeStats, StatsSource, StoredConfig, UnitRegistry, UnitRole,
};
use ingest::metrics::IngestMetrics;
use planner::Topology;
use prometheus_client::registry::Registry;

use crate::config::control::{ControlSection, MasterControlSection};

/// How a node takes part in the control plane.
#[derive(Debug, Clone)]
pub struct NodeControl {
    /// Its masters' control addresses.
    pub masters: Vec<String>,
    /// The token it presents.
    pub token: Option<String>,
    /// Its proxy group, if configured.
    pub group: Option<String>,
    /// Time between heartbeats.
    pub heartbeat: Duration,
    /// Its role.
    pub role: UnitRole,
}

impl NodeControl {
    /// The control settings of a `[control]` section; `None` when it names no master.
    pub fn of(section: &ControlSection, role: UnitRole) -> anyhow::Result<Option<NodeControl>> {
        if section.masters.is_empty() {
            return Ok(None);
        }
        Ok(Some(NodeControl {
            masters: section.masters.clone(),
            token: section.token()?,
            group: section.group.clone(),
            heartbeat: section.heartbeat.0,
            role,
        }))
    }
}

/// A node's bound addresses, as it registers them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub query: SocketAddr,
    pub flows: Vec<SocketAddr>,
    pub metrics: SocketAddr,
}

/// Starts the control client of a node whose listeners are bound; its configuration is stored
/// under `state_dir/control/`.
pub async fn start_client(
    control: &NodeControl,
    identity: Identity,
    state_dir: &Path,
    stats: StatsSource,
    metrics: Arc<ControlClientMetrics>,
) -> ControlClient {
    tracing::info!(masters = ?control.masters, role = control.role.name(), "control plane on");
    let settings = ControlClientSettings {
        masters: control.masters.clone(),
        token: control.token.clone(),
        name: identity.name,
        role: control.role,
        group: control.group.clone(),
        query: identity.query.to_string(),
        flows: identity.flows.iter().map(ToString::to_string).collect(),
        metrics: identity.metrics.to_string(),
        heartbeat: control.heartbeat,
        stored: StoredConfig::in_dir(state_dir),
    };
    ControlClient::start(settings, stats, metrics).await
}

/// Keeps `profiles` equal to the profiles and deleted sources of the master's configuration, as
/// it arrives (the stored one first): the node's retention then applies the profiles' wishes and
/// removes deleted sources' windows, and its own SQL sees the profiles. The task ends with the
/// client.
pub fn follow_profiles(client: &ControlClient, profiles: Arc<ProfileCatalog>) {
    let mut configs = client.subscribe();
    tokio::spawn(async move {
        loop {
            let config = configs.borrow_and_update().clone();
            if let Some(config) = config {
                let set = config.profiles.clone();
                let catalog = Arc::clone(&profiles);
                match tokio::task::spawn_blocking(move || catalog.replace_all(&set)).await {
                    Ok(Ok(true)) => tracing::info!(version = config.version, "profiles follow the master's"),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "storing the master's profiles failed"),
                    Err(e) => tracing::error!(error = %e, "storing the master's profiles failed"),
                }
            }
            if configs.changed().await.is_err() {
                break;
            }
        }
    });
}

/// What a node with a store reports: flows stored since start (its ingest counters) and the
/// exporters it has stored flows of (`DATA/flows/exporter=*`, from this and earlier runs).
pub fn node_stats(ingest: &Arc<IngestMetrics>, data_dir: PathBuf) -> StatsSource {
    let mut counters = Registry::default();
    ingest.register(&mut counters);
    Arc::new(move || NodeStats {
        flows_stored: stored_flows(&ingest::metrics::render(&counters)),
        exporters: stored_exporters(&data_dir.join("flows")),
    })
}

/// The sum of `flowfold_flows_stored_total` in Prometheus text.
fn stored_flows(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("flowfold_flows_stored_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The exporter addresses of the `exporter=<addr>` directories under `flows` (IPv6 with `_`
/// for `:`).
fn stored_exporters(flows: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(flows) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_prefix("exporter=")?.replace('_', ":"))
        })
        .collect()
}

/// How a proxy takes part in the control plane.
#[derive(Debug, Clone)]
pub struct ProxyControl {
    control: NodeControl,
    name: String,
    /// Where its configurations are kept: the directory of `[distribution] state`.
    state_dir: PathBuf,
}

impl ProxyControl {
    /// The control settings of a proxy configuration; `None` when it names no master.
    pub fn of(config: &crate::config::proxy::ProxyConfig) -> anyhow::Result<Option<ProxyControl>> {
        let Some(control) = NodeControl::of(&config.control, UnitRole::Proxy)? else {
            return Ok(None);
        };
        let state = &config.distribution.state;
        let state_dir = state
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok(Some(ProxyControl {
            control,
            name: config.name.clone().unwrap_or_else(|| "proxy".to_string()),
            state_dir: std::path::absolute(state_dir)?,
        }))
    }

    /// Who the proxy is in the master's topology.
    pub fn identity(&self) -> crate::proxy_follow::ProxyIdentity {
        crate::proxy_follow::ProxyIdentity {
            name: self.name.clone(),
            group: self.control.group.clone(),
        }
    }

    /// The relay addresses of the proxy's group in the stored configuration (the last one its
    /// master sent), if it has them all.
    pub fn stored_relays(&self) -> Option<Vec<SocketAddr>> {
        let stored = match StoredConfig::in_dir(&self.state_dir).load() {
            Ok(stored) => stored?,
            Err(e) => {
                tracing::warn!(error = %e, "the stored control configuration is not read");
                return None;
            }
        };
        match crate::proxy_follow::group_relays(&stored.topology, &self.identity())? {
            Ok(relays) => Some(relays),
            Err(reason) => {
                tracing::warn!(%reason, "the stored topology's slaves are not used");
                None
            }
        }
    }

    /// Starts the client of a proxy whose listeners are bound; it reports the exporters
    /// `exporters` lists (its distribution's: assigned, or seen by the round-robin spreader) and
    /// no stored flows.
    pub async fn start(
        self,
        ready: &crate::proxy::ProxyReady,
        exporters: ExporterList,
        metrics: Arc<ControlClientMetrics>,
    ) -> ControlClient {
        let identity = Identity {
            name: self.name,
            query: ready.query,
            flows: ready.flows.clone(),
            metrics: ready.metrics,
        };
        let stats: StatsSource = Arc::new(move || NodeStats {
            flows_stored: 0,
            exporters: exporters(),
        });
        start_client(&self.control, identity, &self.state_dir, stats, metrics).await
    }
}

/// The exporters a proxy reports, as text, when asked.
pub type ExporterList = Arc<dyn Fn() -> BTreeSet<String> + Send + Sync>;

/// The master's control service, running.
pub struct MasterControl {
    /// The bound control address.
    pub addr: SocketAddr,
    /// The registered units.
    pub registry: Arc<UnitRegistry>,
    /// The configuration pushed to them.
    pub publisher: Arc<ConfigPublisher>,
    /// The server task.
    pub task: tokio::task::JoinHandle<()>,
}

impl MasterControl {
    /// Binds `[control] listen`, publishes the first configuration (the catalog's profiles and
    /// `topology` at its `topology_version`) and serves until `shutdown`; its counters go into
    /// `registry`.
    pub async fn start(
        section: &MasterControlSection,
        profiles: &ProfileCatalog,
        (topology_version, topology): (u64, Topology),
        registry: &mut Registry,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<MasterControl> {
        let metrics = ControlServerMetrics::new();
        metrics.register(registry);
        let profiles = profiles.snapshot().as_ref().clone();
        let floor = profiles.version + topology_version;
        let publisher = Arc::new(ConfigPublisher::starting_at(
            profiles,
            topology,
            floor,
            Arc::clone(&metrics),
        ));
        let units = Arc::new(UnitRegistry::new());
        let service = ControlService::new(section.token()?, Arc::clone(&units), Arc::clone(&publisher), metrics);
        let listener = tokio::net::TcpListener::bind(section.listen)
            .await
            .with_context(|| format!("binding the control port {}", section.listen))?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = flight::control::serve_control(listener, service, shutdown).await {
                tracing::error!(error = %e, "control service stopped");
            }
        });
        Ok(MasterControl {
            addr,
            registry: units,
            publisher,
            task,
        })
    }
}

/// `routes` (admin routes including the profile routes over `catalog`), publishing a new
/// configuration version after every change to `/profiles` or `/sources` that succeeded. A layer rather than a
/// call in each handler: every way a profile changes is covered, and a change the handlers also
/// report publishes once (see `ConfigPublisher::publish_profiles`).
pub fn publish_profile_changes(
    routes: axum::Router,
    catalog: Arc<ProfileCatalog>,
    publisher: Arc<ConfigPublisher>,
) -> axum::Router {
    routes.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let catalog = Arc::clone(&catalog);
            let publisher = Arc::clone(&publisher);
            async move {
                let path = request.uri().path();
                let changes = request.method() != axum::http::Method::GET
                    && (path.starts_with("/profiles") || path.starts_with("/sources"));
                let response = next.run(request).await;
                if changes && response.status().is_success() {
                    publisher.publish_profiles(catalog.snapshot().as_ref().clone());
                }
                response
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_flows_and_exporters_are_read() {
        let text = "# HELP x\nflowfold_flows_stored_total{exporter=\"10.0.0.1\"} 5\n\
                    flowfold_flows_stored_total{exporter=\"10.0.0.2\"} 7\nflowfold_flows_decoded_total 99\n";
        assert_eq!(stored_flows(text), 12);
        let dir = tempfile::tempdir().unwrap();
        for name in ["exporter=10.0.0.1", "exporter=2001_db8__1", "other"] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
        }
        let exporters: Vec<String> = stored_exporters(dir.path()).into_iter().collect();
        assert_eq!(exporters, ["10.0.0.1", "2001:db8::1"]);
        assert!(stored_exporters(&dir.path().join("missing")).is_empty());
    }
}
