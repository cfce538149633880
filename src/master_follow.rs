//! A backup master (`[control] priority` above 1) follows the top-priority master: it opens a
//! control session to the first of its `[control] masters` that answers (role `master`), takes
//! every configuration version pushed to it into its own catalog (profiles and deleted flow
//! sources, topology), and republishes it with the same version number to the units connected
//! to it, so a node that fails over to the backup runs the same numbered configuration. Its
//! admin routes refuse configuration changes (HTTP 409 naming the masters to change instead).
//!
//! While no master it follows answers, it keeps the last configuration (its catalog holds it)
//! and goes on answering queries and serving its units. It never takes configuration changes by
//! itself: two masters that each believed themselves first during a partition would diverge.
//! To promote it, restart it with `priority = 1` and no `masters`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use engine::profiles::ProfileCatalog;
use flight::control::{
    ConfigPublisher, ControlClient, ControlClientMetrics, ControlClientSettings, ControlConfig, NodeStats, StatsSource,
    StoredConfig, UnitRole,
};
use planner::ClusterState;

use crate::config::control::MasterControlSection;

/// What a backup master keeps in step with the master it follows.
pub struct Followers {
    pub profiles: Arc<ProfileCatalog>,
    pub cluster: Arc<ClusterState>,
    pub publisher: Arc<ConfigPublisher>,
}

/// Starts following `section.masters`; received configurations are also stored under
/// `state_dir/control/`.
pub async fn start(
    section: &MasterControlSection,
    query: SocketAddr,
    metrics_addr: SocketAddr,
    state_dir: &Path,
    followers: Followers,
    metrics: Arc<ControlClientMetrics>,
) -> anyhow::Result<ControlClient> {
    let settings = ControlClientSettings {
        masters: section.masters.clone(),
        token: section.token()?,
        name: section.name.clone().unwrap_or_else(|| format!("master@{query}")),
        role: UnitRole::Master,
        group: None,
        query: query.to_string(),
        flows: Vec::new(),
        metrics: metrics_addr.to_string(),
        heartbeat: section.heartbeat.0,
        stored: StoredConfig::in_dir(state_dir),
    };
    tracing::info!(masters = ?section.masters, priority = section.priority, "backup master: following");
    let stats: StatsSource = Arc::new(NodeStats::default);
    let client = ControlClient::start(settings, stats, metrics).await;
    let mut configs = client.subscribe();
    tokio::spawn(async move {
        loop {
            let config = configs.borrow_and_update().clone();
            if let Some(config) = config {
                apply(&followers, &config).await;
            }
            if configs.changed().await.is_err() {
                break;
            }
        }
    });
    Ok(client)
}

/// Takes one configuration version into the catalog, then republishes it.
async fn apply(followers: &Followers, config: &Arc<ControlConfig>) {
    let version = config.version;
    let profiles = Arc::clone(&followers.profiles);
    let set = config.profiles.clone();
    let cluster = Arc::clone(&followers.cluster);
    let topology = config.topology.clone();
    let stored = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        profiles.replace_all(&set)?;
        if *cluster.topology() != topology {
            cluster.replace(topology)?;
        }
        Ok(())
    })
    .await;
    match stored {
        Ok(Ok(())) => {
            followers.publisher.mirror(ControlConfig::clone(config));
            tracing::info!(version, "following the top-priority master's configuration");
        }
        Ok(Err(e)) => tracing::error!(version, error = %e, "the top-priority master's configuration is not applied"),
        Err(e) => tracing::error!(version, error = %e, "the top-priority master's configuration is not applied"),
    }
}

/// `routes` with every configuration change (a non-GET request to `/profiles`, `/sources` or
/// `/topology`) refused with HTTP 409 naming the masters to change instead.
pub fn refuse_changes(routes: axum::Router, masters: Vec<String>) -> axum::Router {
    let answer = format!(
        "this is a backup master ([control] priority above 1): it follows {} and takes no \
         configuration change; make the change there",
        masters.join(", ")
    );
    routes.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let answer = answer.clone();
            async move {
                let path = request.uri().path();
                let change = request.method() != Method::GET
                    && ["/profiles", "/sources", "/topology"]
                        .iter()
                        .any(|p| path.starts_with(p));
                if change {
                    return (StatusCode::CONFLICT, answer).into_response();
                }
                next.run(request).await
            }
        },
    ))
}
