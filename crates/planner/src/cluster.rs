//! The master's live view of the cluster: the topology (from its catalog, see `store.rs`) plus
//! the proxy groups found down. A group marked down is skipped for `down_for`, then tried again;
//! a query that finds it still dead marks it again. Every query plans on the topology and the
//! groups selected at that moment: the topology is an `Arc` snapshot behind a lock, replaced
//! whole by an edit (stored first), so a query that is running keeps the slaves it planned on,
//! and the channel cache and the health probes read the new one on their next round.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use url::Url;

use crate::channel::WorkerTimeouts;
use crate::error::PlannerError;
use crate::store::{StoredTopology, TopologyStore};
use crate::topology::{Selection, Topology};

/// How long a failed proxy group is skipped before it is tried again.
pub const DEFAULT_DOWN_FOR: Duration = Duration::from_secs(30);

/// Topology and health, shared by the master's planner and its query runner.
#[derive(Debug)]
pub struct ClusterState {
    /// The topology now and its version.
    current: RwLock<(u64, Arc<Topology>)>,
    /// Where edits are stored before they are visible.
    store: TopologyStore,
    /// Serialises edits (read, change, store, swap).
    edits: Mutex<()>,
    timeouts: WorkerTimeouts,
    down_for: Duration,
    down: Mutex<BTreeMap<String, Instant>>,
}

impl ClusterState {
    /// A cluster of `topology` (validated) with every group presumed up; edits are kept in
    /// memory only.
    pub fn new(topology: Topology, timeouts: WorkerTimeouts, down_for: Duration) -> Result<ClusterState, PlannerError> {
        Self::open(topology, TopologyStore::in_memory()?, timeouts, down_for)
    }

    /// A cluster of the topology stored in `store`, or (first start) of `initial`, stored as
    /// version 1. The stored topology wins over `initial` (see `store.rs`).
    pub fn open(
        initial: Topology,
        store: TopologyStore,
        timeouts: WorkerTimeouts,
        down_for: Duration,
    ) -> Result<ClusterState, PlannerError> {
        initial.validate()?;
        let StoredTopology { version, topology } = store.load_or_init(&initial)?;
        topology.validate()?;
        Ok(ClusterState {
            current: RwLock::new((version, Arc::new(topology))),
            store,
            edits: Mutex::new(()),
            timeouts,
            down_for,
            down: Mutex::new(BTreeMap::new()),
        })
    }

    /// The topology now (a snapshot: later edits replace it, never change it).
    pub fn topology(&self) -> Arc<Topology> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()).1)
    }

    /// The topology now and its version (1: as first stored; one more per edit).
    pub fn versioned(&self) -> (u64, Arc<Topology>) {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        (current.0, Arc::clone(&current.1))
    }

    /// Applies `change` to the topology now: the result is validated, stored at the next
    /// version, then visible to the next query. Nothing changes if any step fails. Blocking
    /// (SQLite): call it off the async threads.
    pub fn edit(
        &self,
        change: impl FnOnce(&Topology) -> Result<Topology, PlannerError>,
    ) -> Result<(u64, Arc<Topology>), PlannerError> {
        let _one_at_a_time = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let (version, now) = self.versioned();
        let next = change(&now)?;
        next.validate()?;
        let version = version + 1;
        self.store.save(version, &next)?;
        let next = Arc::new(next);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (version, Arc::clone(&next));
        tracing::info!(version, "cluster topology changed");
        Ok((version, next))
    }

    /// Replaces the whole topology (validated and stored as the next version).
    pub fn replace(&self, topology: Topology) -> Result<u64, PlannerError> {
        self.edit(|_| Ok(topology)).map(|(version, _)| version)
    }

    /// Timeouts of connections to slaves.
    pub fn timeouts(&self) -> WorkerTimeouts {
        self.timeouts
    }

    /// Marks a proxy group down (skipped by the next queries).
    pub fn mark_down(&self, proxy_group: &str) {
        tracing::warn!(proxy_group, "proxy group marked down");
        self.lock().insert(proxy_group.to_string(), Instant::now());
    }

    /// The proxy groups currently skipped.
    pub fn down_groups(&self) -> BTreeSet<String> {
        let mut down = self.lock();
        down.retain(|_, since| since.elapsed() < self.down_for);
        down.keys().cloned().collect()
    }

    /// The proxy group serving each source group now.
    pub fn select(&self) -> Result<Vec<Selection>, PlannerError> {
        self.topology().select(&self.down_groups())
    }

    /// For each source group that can answer, its proxy group; and the names of those that
    /// cannot (for partial answers).
    pub fn select_available(&self) -> (Vec<Selection>, Vec<String>) {
        let down = self.down_groups();
        let mut chosen = Vec::new();
        let mut missing = Vec::new();
        for source in &self.topology().source_groups {
            let one = Topology {
                source_groups: vec![source.clone()],
            };
            match one.select(&down) {
                Ok(mut selection) => chosen.append(&mut selection),
                Err(_) => missing.push(source.name.clone()),
            }
        }
        (chosen, missing)
    }

    /// Worker URLs of the selected slaves, at least two (repeated if needed): a stage over one
    /// slave still needs two tasks, or the engine would run it on the master (see `routing`).
    /// The selection of the source groups that can answer: a query that may not miss one has
    /// failed already when its scan was planned, and a partial answer needs the others' slaves.
    pub fn worker_urls(&self) -> Result<Vec<Url>, PlannerError> {
        let mut urls = Vec::new();
        for selection in self.select_available().0 {
            for slave in &selection.slaves {
                urls.push(slave.url()?);
            }
        }
        if urls.len() == 1 {
            urls.push(urls[0].clone());
        }
        Ok(urls)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Instant>> {
        self.down.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{NewSlave, ProxyGroup, SlaveRef, SourceGroup};

    fn site() -> Topology {
        Topology {
            source_groups: vec![SourceGroup {
                name: "site".into(),
                proxy_groups: vec![ProxyGroup {
                    name: "g".into(),
                    priority: 1,
                    proxy: None,
                    slaves: vec![SlaveRef::new("s1", "127.0.0.1:1")],
                }],
            }],
        }
    }

    #[test]
    fn an_edit_is_stored_then_seen_by_the_next_selection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.db");
        let open = || {
            let store = TopologyStore::open(&path).unwrap();
            ClusterState::open(site(), store, WorkerTimeouts::default(), DEFAULT_DOWN_FOR).unwrap()
        };
        let cluster = open();
        let before = cluster.topology();
        let add = NewSlave {
            source_group: "site".into(),
            proxy_group: "g".into(),
            name: "s2".into(),
            query: "127.0.0.1:2".into(),
            relay: None,
        };
        let (version, _) = cluster.edit(|t| t.with_slave(add)).unwrap();
        assert_eq!(version, 2);
        assert_eq!(
            before.source_groups[0].proxy_groups[0].slaves.len(),
            1,
            "a snapshot stays"
        );
        assert_eq!(cluster.select().unwrap()[0].slaves.len(), 2);
        assert_eq!(cluster.worker_urls().unwrap().len(), 2);

        // A refused edit changes nothing; a restart reads the stored topology.
        assert!(cluster.edit(|t| t.without_slave("nobody").map(|(t, _)| t)).is_err());
        assert_eq!(cluster.versioned().0, 2);
        drop(cluster);
        let again = open();
        assert_eq!(again.versioned().0, 2);
        assert_eq!(again.topology().source_groups[0].proxy_groups[0].slaves[1].name, "s2");
        let (version, _) = again.edit(|t| t.without_slave("s1").map(|(t, _)| t)).unwrap();
        assert_eq!(version, 3);
        assert_eq!(
            again.worker_urls().unwrap().len(),
            2,
            "one slave is padded to two tasks"
        );
    }
}
