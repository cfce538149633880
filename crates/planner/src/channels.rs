//! The live channels the master can name as tables (`exporter_10_0_0_1`): the union of the
//! channel tables of the selected slaves, asked of each slave's Flight SQL catalog
//! (`GetTables`) and refreshed every few seconds in the background. Until the control plane
//! reports new flow sources, a channel may appear on the master up to one refresh after its
//! first flow; its data is always read fresh on the slaves. With the names, it keeps each
//! slave's time coverage, the hint by which a time-bounded query leaves out the slaves that hold
//! nothing in its range (see `coverage`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow_flight::sql::CommandGetTables;
use arrow_flight::sql::client::FlightSqlServiceClient;
use engine::sql::CHANNEL_PREFIX;
use futures::TryStreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tonic::transport::Channel;

use crate::channel::TimedChannels;
use crate::cluster::ClusterState;
use crate::coverage::{Coverage, CoverageRequest, ask_coverage};
use crate::topology::SlaveRef;

/// What left a slave out of a query: `time` or `exporter`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PruneLabel {
    /// `time` (its coverage misses the query's range) or `exporter` (it lists none of the
    /// query's channels).
    pub by: String,
}

/// Counters of the slaves the master leaves out of queries.
#[derive(Debug, Default, Clone)]
pub struct PruningMetrics {
    /// Slaves asked again because their last answer ruled them out of a query.
    pub asked: Family<PruneLabel, Counter>,
    /// Slaves left out of a query (their fresh answer ruled them out too).
    pub left_out: Family<PruneLabel, Counter>,
}

impl PruningMetrics {
    /// Registers both counters in `registry` under `flowfold_query_slaves_*`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "flowfold_query_slaves_asked",
            "Slaves asked again at planning because their last answer ruled them out, by cause",
            self.asked.clone(),
        );
        registry.register(
            "flowfold_query_slaves_left_out",
            "Slaves left out of a query, by cause",
            self.left_out.clone(),
        );
    }
}

/// How often the background task asks the slaves.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// The channel table names last seen on the selected slaves.
#[derive(Debug)]
pub struct ChannelCache {
    cluster: Arc<ClusterState>,
    names: RwLock<BTreeSet<String>>,
    /// Each slave's channels, as it last answered.
    by_slave: RwLock<BTreeMap<String, BTreeSet<String>>>,
    /// Each slave's time coverage, as it last answered (none: not known, never ruled out).
    coverage: RwLock<BTreeMap<String, Coverage>>,
    /// Connections to the slaves, kept between listings.
    connections: TimedChannels,
    metrics: PruningMetrics,
}

impl ChannelCache {
    /// An empty cache over `cluster` (call [`ChannelCache::refresh`] or spawn
    /// [`ChannelCache::keep_fresh`]).
    pub fn new(cluster: Arc<ClusterState>) -> ChannelCache {
        let connections = TimedChannels::new(cluster.timeouts());
        ChannelCache {
            cluster,
            names: RwLock::new(BTreeSet::new()),
            by_slave: RwLock::new(BTreeMap::new()),
            coverage: RwLock::new(BTreeMap::new()),
            connections,
            metrics: PruningMetrics::default(),
        }
    }

    /// The counters of the slaves left out of queries.
    pub fn metrics(&self) -> &PruningMetrics {
        &self.metrics
    }

    /// The channel table names known now.
    pub fn names(&self) -> BTreeSet<String> {
        self.names.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The channels `slave` reported last (empty if it never answered).
    pub fn of_slave(&self, slave: &str) -> BTreeSet<String> {
        let by_slave = self.by_slave.read().unwrap_or_else(|p| p.into_inner());
        by_slave.get(slave).cloned().unwrap_or_default()
    }

    /// Asks every selected slave (of the topology now) for its channels and its time coverage;
    /// a slave that does not answer keeps the names it gave before (they are merged, never
    /// dropped, until a full answer) and loses its coverage. A slave removed from the topology is
    /// forgotten.
    pub async fn refresh(&self) {
        let Ok(selection) = self.cluster.select() else {
            return;
        };
        let slaves: Vec<SlaveRef> = selection.into_iter().flat_map(|s| s.slaves).collect();
        let everything = CoverageRequest::default();
        let (listed, coverages) = futures::join!(
            self.ask(&slaves),
            self.ask_each(&slaves, |c| ask_coverage(c, &everything))
        );
        let mut names = BTreeSet::new();
        let mut complete = true;
        for (slave, answer) in slaves.iter().zip(listed) {
            match answer {
                Ok(found) => {
                    names.extend(found.iter().cloned());
                    let mut by_slave = self.by_slave.write().unwrap_or_else(|p| p.into_inner());
                    by_slave.insert(slave.name.clone(), found.into_iter().collect());
                }
                Err(e) => {
                    complete = false;
                    tracing::debug!(slave = %slave.name, error = %e, "listing channels failed");
                }
            }
        }
        {
            let mut coverage = self.coverage.write().unwrap_or_else(|p| p.into_inner());
            for (slave, answer) in slaves.iter().zip(coverages) {
                match answer {
                    Ok(found) => coverage.insert(slave.name.clone(), found),
                    Err(_) => coverage.remove(&slave.name),
                };
            }
        }
        let topology = self.cluster.topology();
        let in_topology: BTreeSet<&str> = topology.slaves().map(|(_, s)| s.name.as_str()).collect();
        self.by_slave
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| in_topology.contains(name.as_str()));
        self.coverage
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| in_topology.contains(name.as_str()));
        let mut known = self.names.write().unwrap_or_else(|p| p.into_inner());
        if !complete {
            names.extend(known.iter().cloned());
        }
        *known = names;
    }

    /// The slaves of `slaves` that may store any of the channels `wanted` (table names). A slave
    /// whose last listing has none of them is asked again when the query is planned, so a
    /// channel that appeared a moment ago (a new or a rebalanced exporter) is found, and left
    /// out only if it still lists none. A slave that does not answer is kept (never a silently
    /// partial answer). At least one slave is kept, so the plan stays valid (its scan then
    /// returns nothing).
    pub async fn slaves_with_channels(&self, slaves: Vec<SlaveRef>, wanted: &BTreeSet<String>) -> Vec<SlaveRef> {
        let has_one = |names: &BTreeSet<String>| names.iter().any(|n| wanted.contains(n));
        let ruled_out: BTreeSet<String> = {
            let known = self.by_slave.read().unwrap_or_else(|p| p.into_inner());
            slaves
                .iter()
                .filter(|s| known.get(&s.name).is_some_and(|names| !has_one(names)))
                .map(|s| s.name.clone())
                .collect()
        };
        self.confirm_out("exporter", slaves, &ruled_out, channels_of, |names: &Vec<String>| {
            !names.iter().any(|n| wanted.contains(n))
        })
        .await
    }

    /// The slaves of `slaves` that may hold flows of the channels `wanted` (every channel if
    /// `None`) starting within `within`. The slaves whose last known coverage misses the range
    /// are asked again for that range alone, in parallel; those whose answer misses it too are
    /// left out, the others kept (see `coverage`). At least one slave is kept.
    pub async fn slaves_in_range(
        &self,
        slaves: Vec<SlaveRef>,
        wanted: Option<&BTreeSet<String>>,
        within: (i64, i64),
    ) -> Vec<SlaveRef> {
        let ruled_out: BTreeSet<String> = {
            let known = self.coverage.read().unwrap_or_else(|p| p.into_inner());
            slaves
                .iter()
                .filter(|s| known.get(&s.name).is_some_and(|c| !c.meets(wanted, within)))
                .map(|s| s.name.clone())
                .collect()
        };
        let request = CoverageRequest { within: Some(within) };
        self.confirm_out(
            "time",
            slaves,
            &ruled_out,
            |c| ask_coverage(c, &request),
            |c: &Coverage| !c.meets(wanted, within),
        )
        .await
    }

    /// `slaves` without those of `ruled_out` (by a cached answer) whose fresh answer to `ask`
    /// rules them out too (`still_out`); the others are not asked. At least one slave is kept.
    /// Counted under `by`.
    async fn confirm_out<T, E, F, Fut>(
        &self,
        by: &str,
        slaves: Vec<SlaveRef>,
        ruled_out: &BTreeSet<String>,
        ask: F,
        still_out: impl Fn(&T) -> bool,
    ) -> Vec<SlaveRef>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        if ruled_out.is_empty() {
            return slaves;
        }
        let doubtful: Vec<SlaveRef> = slaves.iter().filter(|s| ruled_out.contains(&s.name)).cloned().collect();
        let answers = self.ask_each(&doubtful, ask).await;
        let out: BTreeSet<&str> = doubtful
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| answer.as_ref().is_ok_and(&still_out))
            .map(|(slave, _)| slave.name.as_str())
            .collect();
        tracing::debug!(left_out = ?out, by, "slaves left out of a query");
        let first = slaves.first().cloned();
        let kept: Vec<SlaveRef> = slaves
            .iter()
            .filter(|s| !out.contains(s.name.as_str()))
            .cloned()
            .collect();
        let kept = match (kept.is_empty(), first) {
            (true, Some(first)) => vec![first],
            _ => kept,
        };
        let label = PruneLabel { by: by.to_string() };
        self.metrics.asked.get_or_create(&label).inc_by(doubtful.len() as u64);
        self.metrics
            .left_out
            .get_or_create(&label)
            .inc_by((slaves.len() - kept.len()) as u64);
        kept
    }

    /// Each slave's channel table names, asked in parallel over the kept connections.
    async fn ask(&self, slaves: &[SlaveRef]) -> Vec<Result<Vec<String>, String>> {
        self.ask_each(slaves, channels_of).await
    }

    /// `request` of each slave, in parallel over the kept connections, each within the connect
    /// timeout + keepalive.
    async fn ask_each<T, E, F, Fut>(&self, slaves: &[SlaveRef], request: F) -> Vec<Result<T, String>>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let timeouts = self.cluster.timeouts();
        let limit = timeouts.connect + timeouts.keepalive;
        let request = &request;
        let asks = slaves.iter().map(|slave| async move {
            let channel = slave
                .url()
                .map_err(|e| e.to_string())
                .and_then(|url| self.connections.channel(&url).map_err(|e| e.to_string()))?;
            match tokio::time::timeout(limit, request(channel)).await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {limit:?}")),
            }
        });
        futures::future::join_all(asks).await
    }

    /// Refreshes every [`REFRESH_EVERY`] until the cache is dropped elsewhere.
    pub async fn keep_fresh(cache: Arc<ChannelCache>) {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        loop {
            tick.tick().await;
            if Arc::strong_count(&cache) == 1 {
                return;
            }
            cache.refresh().await;
        }
    }
}

/// The channel table names of one slave, from its Flight SQL `GetTables` over `channel`.
async fn channels_of(channel: Channel) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut client = FlightSqlServiceClient::new(channel);
    let info = client
        .get_tables(CommandGetTables {
            table_name_filter_pattern: Some(format!("{CHANNEL_PREFIX}%")),
            ..CommandGetTables::default()
        })
        .await?;
    let mut names = Vec::new();
    for endpoint in info.endpoint {
        let Some(ticket) = endpoint.ticket else { continue };
        let batches: Vec<_> = client.do_get(ticket).await?.try_collect().await?;
        for batch in batches {
            let Some(column) = batch.column_by_name("table_name") else {
                continue;
            };
            let column = column.as_string::<i32>();
            names.extend((0..column.len()).map(|i| column.value(i).to_string()));
        }
    }
    names.retain(|n| n.starts_with(CHANNEL_PREFIX));
    Ok(names)
}
