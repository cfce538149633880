//! Schema `live` as users see it: the stored channels without the deleted flow sources (see
//! `profiles/sources.rs`). Profiles read the schema underneath, which still has them.

use std::sync::Arc;

use datafusion::catalog::{SchemaProvider, TableProvider, view::ViewTable};
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlanBuilder;

use super::catalog::ProfileCatalog;
use super::predicate::live_source;
use super::sources::not_deleted;
use crate::sql::{CATALOG, FLOWS_TABLE, LIVE_SCHEMA};

/// `live` without the deleted flow sources of `profiles`.
#[derive(Debug)]
pub struct LiveView {
    stored: Arc<dyn SchemaProvider>,
    profiles: Arc<ProfileCatalog>,
}

impl LiveView {
    /// The view of `stored` (every stored channel).
    pub fn new(stored: Arc<dyn SchemaProvider>, profiles: Arc<ProfileCatalog>) -> LiveView {
        LiveView { stored, profiles }
    }

    fn deleted_channel(&self, name: &str) -> bool {
        let deleted = self.profiles.snapshot().deleted_exporters();
        !deleted.is_empty() && live_source(name).is_some_and(|e| deleted.contains(&e))
    }
}

#[async_trait::async_trait]
impl SchemaProvider for LiveView {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.stored.table_names();
        names.retain(|n| !self.deleted_channel(n));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if self.deleted_channel(name) {
            return Ok(None);
        }
        let table = self.stored.table(name).await?;
        let (Some(flows), true) = (&table, name == FLOWS_TABLE) else {
            return Ok(table);
        };
        let Some(filter) = not_deleted(&self.profiles.snapshot()) else {
            return Ok(table);
        };
        let source = TableReference::full(CATALOG, LIVE_SCHEMA, FLOWS_TABLE);
        let plan = LogicalPlanBuilder::scan(source, provider_as_source(Arc::clone(flows)), None)?
            .filter(filter.clone())?
            .build()?;
        Ok(Some(Arc::new(ViewTable::new(
            plan,
            Some(format!("{LIVE_SCHEMA}.{FLOWS_TABLE} WHERE {filter}")),
        ))))
    }

    fn table_exist(&self, name: &str) -> bool {
        !self.deleted_channel(name) && self.stored.table_exist(name)
    }
}
