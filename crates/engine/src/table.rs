//! The `flows` table for DataFusion: sealed Parquet windows (a `ListingTable` over the
//! snapshot's files, so Parquet statistics and page indexes prune) UNION ALL the open windows
//! (a `MemTable`), with exactly the flow schema (no Hive partition columns added).

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::SessionContext;

use crate::error::{EngineError, Result};
use crate::schema::flow_schema;
use crate::snapshot::FlowSnapshot;

/// Name of the table registered by [`register_flows`].
pub const FLOWS_TABLE: &str = "flows";

/// Registers table `flows` over the flow table in `data_dir` (a snapshot taken now).
pub async fn register_flows(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    let dir = data_dir.to_path_buf();
    let snapshot = tokio::task::spawn_blocking(move || FlowSnapshot::take(&dir))
        .await
        .map_err(|e| EngineError::Query(DataFusionError::External(Box::new(e))))??;
    let table = FlowsTable::try_new(snapshot, ctx.copied_config().target_partitions())?;
    ctx.register_table(FLOWS_TABLE, Arc::new(table))?;
    Ok(())
}

/// Sealed and open windows of a snapshot as one table.
#[derive(Debug)]
pub struct FlowsTable {
    sealed: Option<ListingTable>,
    open: MemTable,
}

impl FlowsTable {
    /// A table over `snapshot`, its open batches spread over up to `partitions` partitions.
    pub fn try_new(snapshot: FlowSnapshot, partitions: usize) -> Result<FlowsTable> {
        let schema = flow_schema();
        let sealed = if snapshot.parquet_files.is_empty() {
            None
        } else {
            let urls = snapshot
                .parquet_files
                .iter()
                .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
                .collect::<Result<Vec<_>, _>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(Arc::clone(&schema));
            Some(ListingTable::try_new(config)?)
        };
        let parts = partitions.clamp(1, snapshot.open_batches.len().max(1));
        let mut partitioned = vec![Vec::new(); parts];
        for (i, batch) in snapshot.open_batches.into_iter().enumerate() {
            partitioned[i % parts].push(batch);
        }
        let open = MemTable::try_new(schema, partitioned)?;
        Ok(FlowsTable { sealed, open })
    }
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
        let mut inputs = Vec::with_capacity(2);
        if let Some(sealed) = &self.sealed {
            inputs.push(sealed.scan(state, projection, filters, limit).await?);
        }
        inputs.push(self.open.scan(state, projection, filters, limit).await?);
        UnionExec::try_new(inputs)
    }
}
