//! The session every query runs in: catalog `flowfold` (schema `live` by default), the flow
//! functions, information_schema, a memory pool shared by all queries with spilling to disk, and
//! read-only statement options.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::catalog::{CATALOG, FlowCatalog, LIVE_SCHEMA};
use super::count_rows::CountFromFooters;
use super::functions::register_flow_functions;
use super::rollup::UseRollups;
use crate::error::Result;
use crate::profiles::ProfileCatalog;

/// Resources a node's queries may use together.
#[derive(Debug, Clone)]
pub struct QueryResources {
    /// Memory all running queries share; operators that can spill (sort, group by, join) spill
    /// to disk beyond it, the others fail with a "resources exhausted" error.
    pub memory_bytes: usize,
    /// Where spill files go (`None`: the system temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Most bytes of spill files at once.
    pub max_spill_bytes: u64,
    /// Threads a query's plan is split across (0: the number of cores).
    pub target_partitions: usize,
    /// Answer aggregations over whole windows from the rollups (see [`super::rollup`]).
    pub rollups: bool,
}

impl Default for QueryResources {
    fn default() -> Self {
        QueryResources {
            memory_bytes: 1 << 30,
            spill_dir: None,
            max_spill_bytes: 64 << 30,
            target_partitions: 0,
            rollups: true,
        }
    }
}

/// A session over the flows in `data_dir`, limited by `resources`, with the profiles of
/// `profiles` as schemas.
pub fn flow_session(
    data_dir: &Path,
    resources: &QueryResources,
    profiles: Option<Arc<ProfileCatalog>>,
) -> Result<SessionContext> {
    let ctx = SessionContext::new_with_config_rt(query_config(resources), query_runtime(resources)?);
    ctx.add_optimizer_rule(Arc::new(CountFromFooters::default()));
    if resources.rollups {
        ctx.add_optimizer_rule(Arc::new(UseRollups::default()));
    }
    let catalog = FlowCatalog::new(data_dir);
    let catalog = match profiles {
        Some(profiles) => catalog.with_profiles(profiles),
        None => catalog,
    };
    ctx.register_catalog(CATALOG, Arc::new(catalog));
    register_flow_functions(&ctx);
    Ok(ctx)
}

/// The runtime of a node's queries: a fair spilling memory pool of `resources.memory_bytes`
/// and the spill directory.
pub fn query_runtime(resources: &QueryResources) -> Result<Arc<RuntimeEnv>> {
    let disk = match &resources.spill_dir {
        Some(dir) => DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
        None => DiskManagerBuilder::default().with_mode(DiskManagerMode::OsTmpDirectory),
    }
    .with_max_temp_directory_size(resources.max_spill_bytes);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(resources.memory_bytes)))
        .with_disk_manager_builder(disk)
        .build_arc()?;
    // Local files: `head` without opening the file (see `local_files`).
    let file = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
    runtime.register_object_store(file.as_ref(), super::local_files::local_files());
    Ok(runtime)
}

/// Session options of every query: information schema, catalog `flowfold` schema `live` by
/// default, `resources.target_partitions` threads.
pub fn query_config(resources: &QueryResources) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(CATALOG, LIVE_SCHEMA)
        .with_create_default_catalog_and_schema(false);
    if resources.target_partitions > 0 {
        config = config.with_target_partitions(resources.target_partitions);
    }
    config
}

/// Statement options of client SQL: queries only. DDL (`CREATE EXTERNAL TABLE`, `CREATE VIEW`),
/// DML (`INSERT`, `COPY`) and statements (`SET`, transactions) are rejected before planning.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}
