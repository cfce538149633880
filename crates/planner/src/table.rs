//! The master's flow tables: catalog `flowfold`, schema `live`, table `flows`: the flows of every
//! source group, read on the slaves of the proxy group selected for it when the query is
//! planned (recorded in the query's [`QueryReport`]; a query that accepts a partial answer skips
//! the source groups that cannot answer). Filters, projection and limit go down to the slaves'
//! scans. A query that names exporters (or a channel table) reads only the slaves that list one
//! of those channels when it is planned.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use engine::profiles::ProfileCatalog;
use engine::rollup::RollupKind;
use engine::schema::flow_schema;
use engine::snapshot::Channels;
use engine::sql::channels::channels_for_filters;
use engine::sql::rollup::{RollupFor, flow_start_bounds, rollup_filter_pushdown, rollup_table_schema};
use engine::sql::{CHANNEL_PREFIX, FLOWS_TABLE, FlowCatalog, channel_table_name};

use crate::channels::ChannelCache;
use crate::cluster::ClusterState;
use crate::error::PlannerError;
use crate::report::QueryReport;
use crate::scan::{ScanRequest, SlaveScanExec};

/// Table `flows` (or one channel's table) over the cluster.
#[derive(Debug)]
pub struct ClusterFlowsTable {
    cluster: Arc<ClusterState>,
    /// Asks the slaves which channels they store (exporter pruning).
    channels: Arc<ChannelCache>,
    /// `Some(table name)`: only that live channel.
    channel: Option<String>,
    /// `Some(kind)`: the rollup of that kind over these flows, read on the slaves (see
    /// [`engine::sql::rollup`]).
    rollup: Option<RollupKind>,
}

impl ClusterFlowsTable {
    /// The flows of every source group of `cluster`.
    pub fn new(cluster: Arc<ClusterState>, channels: Arc<ChannelCache>) -> ClusterFlowsTable {
        ClusterFlowsTable {
            cluster,
            channels,
            channel: None,
            rollup: None,
        }
    }

    /// The flows of one live channel (table name `exporter_...`).
    pub fn channel(cluster: Arc<ClusterState>, channels: Arc<ChannelCache>, name: &str) -> ClusterFlowsTable {
        ClusterFlowsTable {
            cluster,
            channels,
            channel: Some(name.to_string()),
            rollup: None,
        }
    }
}

/// The rollup of `kind` over a cluster flow table (the [`RollupFor`] of the master's
/// [`UseRollups`](engine::sql::rollup::UseRollups) rule).
pub fn cluster_rollup(table: &Arc<dyn TableProvider>, kind: RollupKind) -> Option<Arc<dyn TableProvider>> {
    let flows = table.downcast_ref::<ClusterFlowsTable>()?;
    if flows.rollup.is_some() {
        return None;
    }
    Some(Arc::new(ClusterFlowsTable {
        cluster: Arc::clone(&flows.cluster),
        channels: Arc::clone(&flows.channels),
        channel: flows.channel.clone(),
        rollup: Some(kind),
    }))
}

/// Keeps the signature of [`cluster_rollup`] checked against the rule's.
const _: RollupFor = cluster_rollup;

impl ClusterFlowsTable {
    /// The channel tables a query can read (`None`: any): this table's channel, and the
    /// exporters its filters name (`exporter = ip(..)`, `IN`, `OR`).
    fn wanted_channels(&self, filters: &[Expr]) -> Option<BTreeSet<String>> {
        let by_filter = match channels_for_filters(filters) {
            Channels::All => None,
            Channels::Only(exporters) => Some(exporters.iter().map(channel_table_name).collect::<BTreeSet<_>>()),
        };
        match (&self.channel, by_filter) {
            (None, wanted) => wanted,
            (Some(channel), None) => Some(BTreeSet::from([channel.clone()])),
            (Some(channel), Some(wanted)) => Some(wanted.into_iter().filter(|w| w == channel).collect()),
        }
    }
}

#[async_trait::async_trait]
impl TableProvider for ClusterFlowsTable {
    fn schema(&self) -> SchemaRef {
        match self.rollup {
            Some(kind) => rollup_table_schema(kind),
            None => flow_schema(),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(match self.rollup {
            Some(_) => rollup_filter_pushdown(filters),
            None => vec![TableProviderFilterPushDown::Inexact; filters.len()],
        })
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let report = state.config().get_extension::<QueryReport>();
        let (selection, missing) = match report.as_ref().is_some_and(|r| r.partial_allowed()) {
            true => self.cluster.select_available(),
            false => (self.cluster.select().map_err(DataFusionError::from)?, Vec::new()),
        };
        if selection.is_empty() {
            return Err(PlannerError::NothingToRead { missing }.into());
        }
        if let Some(report) = &report {
            report.record(&selection, &missing);
        }
        let mut slaves: Vec<_> = selection.into_iter().flat_map(|s| s.slaves).collect();
        let wanted = self.wanted_channels(filters);
        if let Some(wanted) = &wanted {
            slaves = self.channels.slaves_with_channels(slaves, wanted).await;
        }
        if let Some(within) = flow_start_bounds(filters) {
            slaves = self.channels.slaves_in_range(slaves, wanted.as_ref(), within).await;
        }
        let request = ScanRequest {
            projection: projection.cloned(),
            filters: filters.to_vec(),
            limit,
            channel: self.channel.clone(),
            rollup: self.rollup,
        };
        Ok(Arc::new(SlaveScanExec::try_new(
            request,
            slaves,
            state.config().target_partitions(),
        )?))
    }
}

/// Schema `live` on the master: `flows` and the channel tables the slaves report.
#[derive(Debug)]
pub struct ClusterLiveSchema {
    cluster: Arc<ClusterState>,
    channels: Arc<ChannelCache>,
}

#[async_trait::async_trait]
impl SchemaProvider for ClusterLiveSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = vec![FLOWS_TABLE.to_string()];
        names.extend(self.channels.names());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let cluster = Arc::clone(&self.cluster);
        if name == FLOWS_TABLE {
            return Ok(Some(Arc::new(ClusterFlowsTable::new(
                cluster,
                Arc::clone(&self.channels),
            ))));
        }
        if !name.starts_with(CHANNEL_PREFIX) {
            return Ok(None);
        }
        if !self.channels.names().contains(name) {
            // A channel newer than the last refresh: ask the slaves now.
            self.channels.refresh().await;
        }
        Ok(self.channels.names().contains(name).then(|| {
            let channels = Arc::clone(&self.channels);
            Arc::new(ClusterFlowsTable::channel(cluster, channels, name)) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == FLOWS_TABLE || self.channels.names().contains(name)
    }
}

/// Catalog `flowfold` with schema `live` over the cluster (`channels` lists its channel
/// tables) and a schema per profile of `profiles`.
pub fn cluster_catalog(
    cluster: Arc<ClusterState>,
    channels: Arc<ChannelCache>,
    profiles: Option<Arc<ProfileCatalog>>,
) -> Arc<dyn CatalogProvider> {
    let catalog = FlowCatalog::over(Arc::new(ClusterLiveSchema { cluster, channels }));
    Arc::new(match profiles {
        Some(profiles) => catalog.with_profiles(profiles),
        None => catalog,
    })
}
