//! The master's live view of the cluster: the declared topology plus the proxy groups found
//! down. A group marked down is skipped for `down_for`, then tried again; a query that finds it
//! still dead marks it again. Every query plans on the groups selected at that moment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use crate::channel::WorkerTimeouts;
use crate::error::PlannerError;
use crate::topology::{Selection, Topology};

/// How long a failed proxy group is skipped before it is tried again.
pub const DEFAULT_DOWN_FOR: Duration = Duration::from_secs(30);

/// Topology and health, shared by the master's planner and its query runner.
#[derive(Debug)]
pub struct ClusterState {
    topology: Topology,
    timeouts: WorkerTimeouts,
    down_for: Duration,
    down: Mutex<BTreeMap<String, Instant>>,
}

impl ClusterState {
    /// A cluster of `topology` (validated) with every group presumed up.
    pub fn new(topology: Topology, timeouts: WorkerTimeouts, down_for: Duration) -> Result<ClusterState, PlannerError> {
        topology.validate()?;
        Ok(ClusterState {
            topology,
            timeouts,
            down_for,
            down: Mutex::new(BTreeMap::new()),
        })
    }

    /// The declared topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
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
        self.topology.select(&self.down_groups())
    }

    /// For each source group that can answer, its proxy group; and the names of those that
    /// cannot (for partial answers).
    pub fn select_available(&self) -> (Vec<Selection>, Vec<String>) {
        let down = self.down_groups();
        let mut chosen = Vec::new();
        let mut missing = Vec::new();
        for source in &self.topology.source_groups {
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
    pub fn worker_urls(&self) -> Result<Vec<Url>, PlannerError> {
        let mut urls = Vec::new();
        for selection in self.select()? {
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
