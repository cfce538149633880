//! The SQL schema of one profile: a view per channel and `flows`, each a filter over the live
//! schema's `flows` table, inlined into the query's plan.

use std::sync::Arc;

use datafusion::catalog::{SchemaProvider, TableProvider, view::ViewTable};
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlanBuilder;

use super::catalog::ProfileCatalog;
use super::predicate::{channel_predicate, profile_predicate};
use crate::sql::{CATALOG, FLOWS_TABLE, LIVE_SCHEMA};

/// Schema `<profile>`.
#[derive(Debug)]
pub struct ProfileSchema {
    profile: String,
    catalog: Arc<ProfileCatalog>,
    live: Arc<dyn SchemaProvider>,
}

impl ProfileSchema {
    /// The schema of `profile`, whose views read `live`'s `flows` table.
    pub fn new(profile: &str, catalog: Arc<ProfileCatalog>, live: Arc<dyn SchemaProvider>) -> ProfileSchema {
        ProfileSchema {
            profile: profile.to_string(),
            catalog,
            live,
        }
    }
}

#[async_trait::async_trait]
impl SchemaProvider for ProfileSchema {
    fn table_names(&self) -> Vec<String> {
        let set = self.catalog.snapshot();
        let Some(profile) = set.get(&self.profile) else {
            return Vec::new();
        };
        let mut names = vec![FLOWS_TABLE.to_string()];
        names.extend(profile.channels.iter().map(|c| c.name.clone()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let set = self.catalog.snapshot();
        let Some(profile) = set.get(&self.profile) else {
            return Ok(None);
        };
        let predicate = if name == FLOWS_TABLE {
            profile_predicate(&set, &self.profile)
        } else if profile.channel(name).is_some() {
            channel_predicate(&set, &self.profile, name)
        } else {
            return Ok(None);
        }
        .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let Some(flows) = self.live.table(FLOWS_TABLE).await? else {
            return Err(DataFusionError::Plan(format!("{LIVE_SCHEMA}.{FLOWS_TABLE} is missing")));
        };
        let source = TableReference::full(CATALOG, LIVE_SCHEMA, FLOWS_TABLE);
        let plan = LogicalPlanBuilder::scan(source, provider_as_source(flows), None)?
            .filter(predicate.clone())?
            .build()?;
        let definition = format!("{LIVE_SCHEMA}.{FLOWS_TABLE} WHERE {predicate}");
        Ok(Some(Arc::new(ViewTable::new(plan, Some(definition)))))
    }

    fn table_exist(&self, name: &str) -> bool {
        let set = self.catalog.snapshot();
        set.get(&self.profile)
            .is_some_and(|p| name == FLOWS_TABLE || p.channel(name).is_some())
    }
}
