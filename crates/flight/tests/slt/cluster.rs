//! An in-process cluster over the fixture's flows, for the `distributed*.slt` files: two slaves
//! (Flight SQL and the worker service on one port each, as `flowfold slave` serves them) and a
//! proxy (the worker service), each on its own 127.0.0.1 port, and the master's session.
//!
//! | source group | proxy group | proxy | slaves | channels |
//! |--------------|-------------|-------|--------|----------|
//! | site-a | a1 | p1 | s1 | 10.0.0.1 (sealed and open) |
//! | site-b | b1 | (none: s2 merges) | s2 | 10.0.0.2, 2001:db8::1 |
//!
//! Each slave's data directory holds hard links of its channels' files, so together the slaves
//! store exactly the fixture's flows and every answer must equal the single-node one.

use std::path::Path;
use std::sync::Arc;

use engine::sql::QueryResources;
use flowfold_flight::{FlowSqlService, QueryLimits, QueryMetrics, QueryRunner, serve};
use planner::{LocalFlows, ProxyGroup, SlaveRef, SourceGroup, Topology, WorkerTimeouts, flow_worker, serve_worker};
use tempfile::TempDir;

/// The running cluster; its worker services stop with the runtime.
pub struct Cluster {
    /// The master's view of it.
    pub state: Arc<planner::ClusterState>,
    /// The channel tables the slaves reported.
    pub channels: Arc<planner::ChannelCache>,
    _dirs: TempDir,
}

impl Cluster {
    /// Splits the fixture in `data_dir` over two slaves and starts every worker service.
    pub async fn start(data_dir: &Path) -> Result<Cluster, String> {
        let dirs = tempfile::tempdir().map_err(|e| e.to_string())?;
        let s1 = dirs.path().join("s1");
        let s2 = dirs.path().join("s2");
        link_channel(data_dir, &s1, "exporter=10.0.0.1")?;
        link_channel(data_dir, &s2, "exporter=10.0.0.2")?;
        link_channel(data_dir, &s2, "exporter=2001_db8__1")?;
        let s1 = start_worker(Some(("s1", &s1))).await?;
        let s2 = start_worker(Some(("s2", &s2))).await?;
        let p1 = start_worker(None).await?;
        let node = |name: &str, query: String| SlaveRef::new(name, query);
        let topology = Topology {
            source_groups: vec![
                SourceGroup {
                    name: "site-a".into(),
                    proxy_groups: vec![ProxyGroup {
                        name: "a1".into(),
                        priority: 1,
                        proxy: Some(node("p1", p1)),
                        slaves: vec![node("s1", s1)],
                    }],
                },
                SourceGroup {
                    name: "site-b".into(),
                    proxy_groups: vec![ProxyGroup {
                        name: "b1".into(),
                        priority: 1,
                        proxy: None,
                        slaves: vec![node("s2", s2)],
                    }],
                },
            ],
        };
        let state = planner::ClusterState::new(topology, WorkerTimeouts::default(), planner::DEFAULT_DOWN_FOR)
            .map_err(|e| e.to_string())?;
        let state = Arc::new(state);
        let channels = Arc::new(planner::ChannelCache::new(Arc::clone(&state)));
        channels.refresh().await;
        Ok(Cluster {
            state,
            channels,
            _dirs: dirs,
        })
    }
}

/// Hard-links `from/flows/CHANNEL` into `to/flows/CHANNEL`.
fn link_channel(from: &Path, to: &Path, channel: &str) -> Result<(), String> {
    link_tree(&from.join("flows").join(channel), &to.join("flows").join(channel))
}

fn link_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else {
            std::fs::hard_link(entry.path(), &target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// Serves a worker (a slave's, over `name` and `data_dir`, or a proxy's) on 127.0.0.1; its
/// address.
async fn start_worker(slave: Option<(&str, &Path)>) -> Result<String, String> {
    let local = slave.map(|(name, dir)| LocalFlows::new(name, dir));
    let resources = QueryResources {
        target_partitions: 2,
        ..QueryResources::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    match local {
        // A slave serves Flight SQL over its own flows (the master lists its channels there)
        // and the worker service on one port, as `flowfold slave` does.
        Some(local) => {
            let data_dir = local.data_dir.clone();
            let ctx = engine::sql::flow_session(&data_dir, &resources, None).map_err(|e| e.to_string())?;
            let runner = Arc::new(QueryRunner::new(ctx, QueryLimits::default(), QueryMetrics::new()));
            let worker = flow_worker(Some(local), &resources, WorkerTimeouts::default()).map_err(|e| e.to_string())?;
            tokio::spawn(serve(
                listener,
                FlowSqlService::new(runner).with_data_dir(data_dir),
                Some(worker),
                std::future::pending(),
            ));
        }
        None => {
            let worker = flow_worker(None, &resources, WorkerTimeouts::default()).map_err(|e| e.to_string())?;
            tokio::spawn(serve_worker(listener, worker, std::future::pending()));
        }
    }
    Ok(addr.to_string())
}
