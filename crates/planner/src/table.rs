//! The master's flow tables: catalog `flowfold`, schema `live`, table `flows`: the flows of every
//! source group, read on the slaves of the proxy group selected for it when the query is
//! planned (recorded in the query's [`QueryReport`]; a query that accepts a partial answer skips
//! the source groups that cannot answer). Filters, projection and limit go down to the slaves'
//! scans.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::catalog::{MemoryCatalogProvider, MemorySchemaProvider, Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use engine::schema::flow_schema;
use engine::sql::{CATALOG, FLOWS_TABLE, LIVE_SCHEMA};

use crate::cluster::ClusterState;
use crate::error::PlannerError;
use crate::report::QueryReport;
use crate::scan::{ScanRequest, SlaveScanExec};

/// Table `flows` over the cluster.
#[derive(Debug)]
pub struct ClusterFlowsTable {
    cluster: Arc<ClusterState>,
}

impl ClusterFlowsTable {
    /// The flows of every source group of `cluster`.
    pub fn new(cluster: Arc<ClusterState>) -> ClusterFlowsTable {
        ClusterFlowsTable { cluster }
    }
}

#[async_trait::async_trait]
impl TableProvider for ClusterFlowsTable {
    fn schema(&self) -> SchemaRef {
        flow_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
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
        let slaves = selection.into_iter().flat_map(|s| s.slaves).collect();
        let request = ScanRequest {
            projection: projection.cloned(),
            filters: filters.to_vec(),
            limit,
        };
        Ok(Arc::new(SlaveScanExec::try_new(
            request,
            slaves,
            state.config().target_partitions(),
        )?))
    }
}

/// Catalog `flowfold` with schema `live` holding `flows` over the cluster.
pub fn cluster_catalog(cluster: Arc<ClusterState>) -> Result<Arc<dyn CatalogProvider>> {
    let live = MemorySchemaProvider::new();
    live.register_table(FLOWS_TABLE.to_string(), Arc::new(ClusterFlowsTable::new(cluster)))?;
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(LIVE_SCHEMA, Arc::new(live) as Arc<dyn SchemaProvider>)?;
    let _ = CATALOG;
    Ok(Arc::new(catalog))
}
