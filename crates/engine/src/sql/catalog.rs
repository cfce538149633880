//! The `flowfold` catalog: schema `live` holds table `flows` (every channel) and one table per
//! live channel (flow source), named `exporter_<address>` with `.` and `:` written as `_`
//! (`exporter_10_0_0_1`, `exporter_2001_db8__1`). Channels are listed from the data directory
//! when asked, so a new exporter's table appears as soon as its first flow is stored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

use super::table::{FLOWS_TABLE, FlowsTable};
use crate::addr::{Addr16, to_path_segment};
use crate::layout::list_exporters;
use crate::profiles::{LiveView, ProfileCatalog, ProfileSchema};
use crate::snapshot::Channels;

/// Name of the catalog.
pub const CATALOG: &str = "flowfold";
/// Name of the live profile's schema.
pub const LIVE_SCHEMA: &str = "live";
/// Prefix of a live channel's table name.
pub const CHANNEL_PREFIX: &str = "exporter_";

/// The table name of an exporter's live channel.
pub fn channel_table_name(exporter: &Addr16) -> String {
    format!("{CHANNEL_PREFIX}{}", to_path_segment(exporter).replace(['.', ':'], "_"))
}

/// The exporter whose live channel table in `data_dir` is named `table`, if there is one.
pub fn find_channel(data_dir: &Path, table: &str) -> Option<Addr16> {
    LiveSchema {
        data_dir: data_dir.to_path_buf(),
    }
    .channel(table)
}

/// Catalog `flowfold`: schema `live` (the stored flows) and, with a profile catalog, one schema
/// per profile (views over `live.flows`, see [`profiles`](crate::profiles)).
#[derive(Debug)]
pub struct FlowCatalog {
    live: Arc<dyn SchemaProvider>,
    profiles: Option<Arc<ProfileCatalog>>,
}

impl FlowCatalog {
    /// The catalog of the flows stored in `data_dir`.
    pub fn new(data_dir: &Path) -> FlowCatalog {
        FlowCatalog::over(Arc::new(LiveSchema {
            data_dir: data_dir.to_path_buf(),
        }))
    }

    /// The catalog whose schema `live` is `live` (the master's: the cluster's flows).
    pub fn over(live: Arc<dyn SchemaProvider>) -> FlowCatalog {
        FlowCatalog { live, profiles: None }
    }

    /// The same catalog with the profiles of `profiles` as schemas.
    pub fn with_profiles(mut self, profiles: Arc<ProfileCatalog>) -> FlowCatalog {
        self.profiles = Some(profiles);
        self
    }
}

impl CatalogProvider for FlowCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = vec![LIVE_SCHEMA.to_string()];
        if let Some(profiles) = &self.profiles {
            names.extend(profiles.snapshot().profiles.keys().cloned());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == LIVE_SCHEMA {
            return Some(match &self.profiles {
                Some(profiles) => Arc::new(LiveView::new(Arc::clone(&self.live), Arc::clone(profiles))),
                None => Arc::clone(&self.live),
            });
        }
        let profiles = self.profiles.as_ref()?;
        profiles.snapshot().get(name)?;
        Some(Arc::new(ProfileSchema::new(
            name,
            Arc::clone(profiles),
            Arc::clone(&self.live),
        )))
    }
}

/// Schema `live`: `flows` and the channel tables.
#[derive(Debug)]
pub struct LiveSchema {
    data_dir: PathBuf,
}

impl LiveSchema {
    fn exporters(&self) -> Vec<Addr16> {
        list_exporters(&self.data_dir).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "listing channels failed");
            Vec::new()
        })
    }

    fn channel(&self, name: &str) -> Option<Addr16> {
        if !name.starts_with(CHANNEL_PREFIX) {
            return None;
        }
        self.exporters().into_iter().find(|e| channel_table_name(e) == name)
    }
}

#[async_trait::async_trait]
impl SchemaProvider for LiveSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = vec![FLOWS_TABLE.to_string()];
        names.extend(self.exporters().iter().map(channel_table_name));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if name == FLOWS_TABLE {
            return Ok(Some(Arc::new(FlowsTable::new(&self.data_dir, Channels::All))));
        }
        Ok(self.channel(name).map(|exporter| {
            let only = Channels::Only([exporter].into_iter().collect());
            Arc::new(FlowsTable::new(&self.data_dir, only)) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == FLOWS_TABLE || self.channel(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_ip;

    #[test]
    fn channel_names_are_plain_identifiers() {
        assert_eq!(
            channel_table_name(&from_ip("10.0.0.1".parse().unwrap())),
            "exporter_10_0_0_1"
        );
        assert_eq!(
            channel_table_name(&from_ip("2001:db8::1".parse().unwrap())),
            "exporter_2001_db8__1"
        );
    }
}
