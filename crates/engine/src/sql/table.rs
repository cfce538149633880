//! A flow table for DataFusion: the sealed Parquet windows of the selected channels (a
//! `ListingTable`, so Parquet statistics and page indexes prune on time, addresses and ports)
//! UNION ALL their open windows (a `MemTable` of the logs' batches), with exactly the flow schema.
//!
//! The files are listed when the query is planned (`scan`), not when the table is registered,
//! so a long-lived session always sees the flows stored up to that moment, and filters on
//! `exporter` skip whole channel directories (see [`super::channels`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::FileStatisticsCache;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::SessionContext;

use super::channels::channels_for_filters;
use super::rollup::bounds::TimeRange;
use crate::error::Result;
use crate::layout::stem_path;
use crate::row_counts::RowCounts;
use crate::schema::flow_schema;
use crate::snapshot::{Channels, FlowSnapshot};

/// Name of the table of all channels.
pub const FLOWS_TABLE: &str = "flows";

/// Registers table `flows` (all channels of `data_dir`) in the session's default schema.
pub async fn register_flows(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    ctx.register_table(FLOWS_TABLE, Arc::new(FlowsTable::new(data_dir, Channels::All)))?;
    Ok(())
}

/// The flows of some channels of a data directory, read fresh at every scan.
#[derive(Debug, Clone)]
pub struct FlowsTable {
    data_dir: PathBuf,
    channels: Channels,
}

impl FlowsTable {
    /// A table over the `channels` of the flow table in `data_dir`.
    pub fn new(data_dir: &Path, channels: Channels) -> FlowsTable {
        FlowsTable {
            data_dir: data_dir.to_path_buf(),
            channels,
        }
    }

    /// The channels the table reads.
    pub(crate) fn channels(&self) -> &Channels {
        &self.channels
    }

    /// The flows of the table at this moment, counted without reading them (see
    /// [`RowCounts`]); `counts` remembers the sealed parts' counts between calls.
    pub async fn count_rows(&self, counts: Arc<RowCounts>) -> datafusion::error::Result<u64> {
        let (dir, channels) = (self.data_dir.clone(), self.channels.clone());
        on_blocking_thread(move || FlowSnapshot::take_channels(&dir, &channels).and_then(|s| counts.count(&s))).await
    }

    /// A snapshot of `channels` of the table's data directory holding at least the flows
    /// starting `within` (first, last ms; see [`FlowSnapshot::take_within`]).
    pub(crate) async fn snapshot(
        &self,
        channels: Channels,
        within: Option<(i64, i64)>,
    ) -> datafusion::error::Result<FlowSnapshot> {
        let dir = self.data_dir.clone();
        on_blocking_thread(move || FlowSnapshot::take_within(&dir, &channels, within)).await
    }
}

/// Runs the blocking file work `f` on Tokio's blocking threads.
async fn on_blocking_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> datafusion::error::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// The `flow_start` bounds among `filters`.
fn time_range(filters: &[Expr]) -> TimeRange {
    let mut range = TimeRange::default();
    for f in filters {
        range.narrow(f);
    }
    range
}

/// The sealed parts of `snapshot` that may hold flows within `range`. A part whose span (from
/// its rollups' names, see [`FlowSnapshot::part_spans`]) misses the range is left out before
/// any of its files is opened or even stat'ed; a part without rollups is kept (its statistics
/// prune it later).
pub(crate) fn parts_in_range(snapshot: &FlowSnapshot, range: &TimeRange) -> Vec<PathBuf> {
    if range.within().is_none() {
        return snapshot.parquet_files.clone();
    }
    let spans = snapshot.part_spans();
    let misses = |part: &PathBuf| {
        stem_path(part)
            .and_then(|stem| spans.get(&stem))
            .is_some_and(|&(first, last)| range.misses(first, last))
    };
    snapshot.parquet_files.iter().filter(|p| !misses(p)).cloned().collect()
}

/// The sealed files of a snapshot as a listing table (`None` if there are none).
pub(crate) fn sealed_table(state: &dyn Session, files: &[PathBuf]) -> datafusion::error::Result<Option<ListingTable>> {
    if files.is_empty() {
        return Ok(None);
    }
    let urls = files
        .iter()
        .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(flow_schema());
    Ok(Some(
        ListingTable::try_new(config)?.with_cache(file_statistics_cache(state)),
    ))
}

/// The session's cache of Parquet file statistics. A sealed file never changes, and the cache
/// checks each file's size and modification time, so statistics computed by one query serve the
/// next ones (the listing tables are made per query and would otherwise start empty).
pub(crate) fn file_statistics_cache(state: &dyn Session) -> Option<Arc<FileStatisticsCache>> {
    state.runtime_env().cache_manager.get_file_statistic_cache()
}

/// The open batches of a snapshot spread over up to `partitions` partitions.
pub(crate) fn open_table(snapshot: FlowSnapshot, partitions: usize) -> datafusion::error::Result<MemTable> {
    let parts = partitions.clamp(1, snapshot.open_batches.len().max(1));
    let mut partitioned = vec![Vec::new(); parts];
    for (i, batch) in snapshot.open_batches.into_iter().enumerate() {
        partitioned[i % parts].push(batch);
    }
    MemTable::try_new(flow_schema(), partitioned)
}

#[async_trait::async_trait]
impl TableProvider for FlowsTable {
    fn schema(&self) -> SchemaRef {
        flow_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let channels = self.channels.clone().intersect(channels_for_filters(filters));
        let range = time_range(filters);
        let snapshot = self.snapshot(channels, range.within()).await?;
        if snapshot.bytes_skipped > 0 || snapshot.bad_logs > 0 {
            tracing::debug!(
                torn_bytes = snapshot.bytes_skipped,
                bad_logs = snapshot.bad_logs,
                "snapshot skipped parts of open windows"
            );
        }
        let mut inputs = Vec::with_capacity(2);
        if let Some(sealed) = sealed_table(state, &parts_in_range(&snapshot, &range))? {
            inputs.push(sealed.scan(state, projection, filters, limit).await?);
        }
        let open = open_table(snapshot, state.config().target_partitions())?;
        inputs.push(open.scan(state, projection, filters, limit).await?);
        if inputs.len() == 1 {
            return Ok(inputs.remove(0));
        }
        UnionExec::try_new(inputs)
    }
}
