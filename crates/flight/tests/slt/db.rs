//! The database under test: client SQL through [`QueryRunner`] (`plan`, then `run`, results
//! collected), exactly the path of a Flight SQL query. Errors are the `QueryError` text;
//! output and errors have the data directory replaced by `DATA`.

use std::path::Path;
use std::sync::Arc;

use engine::profiles::ProfileCatalog;
use flowfold_flight::runner::result_schema;
use flowfold_flight::{QueryLimits, QueryMetrics, QueryRunner};
use futures::TryStreamExt;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

use crate::mask::DataDirMask;
use crate::render;

/// Threads a query's plan is split across: fixed, so plans are the same on every machine.
pub const TARGET_PARTITIONS: usize = 2;

/// A failed statement: the error's display text, data directory masked.
#[derive(Debug)]
pub struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// One connection: a fresh flow session over the fixture's data directory.
pub struct FlowDb {
    runner: QueryRunner,
    mask: DataDirMask,
}

impl FlowDb {
    /// A connection to the flows in `data_dir`, with `profiles`, answering from rollups if
    /// `rollups`.
    pub fn open(data_dir: &Path, profiles: &Arc<ProfileCatalog>, rollups: bool) -> Result<FlowDb, SltError> {
        let resources = engine::sql::QueryResources {
            target_partitions: TARGET_PARTITIONS,
            rollups,
            ..Default::default()
        };
        let ctx = engine::sql::flow_session(data_dir, &resources, Some(Arc::clone(profiles)))
            .map_err(|e| SltError(e.to_string()))?;
        Ok(FlowDb {
            runner: QueryRunner::new(ctx, QueryLimits::default(), QueryMetrics::new()),
            mask: DataDirMask::new(data_dir),
        })
    }

    /// A connection to the master of an in-process cluster (see `cluster.rs`), answering from
    /// rollups if `rollups`, with `threads` query threads.
    pub fn master(
        cluster: &Arc<planner::ClusterState>,
        channels: &Arc<planner::ChannelCache>,
        profiles: &Arc<ProfileCatalog>,
        rollups: bool,
        threads: usize,
    ) -> Result<FlowDb, SltError> {
        let resources = engine::sql::QueryResources {
            target_partitions: threads,
            rollups,
            ..Default::default()
        };
        let ctx = planner::master_session(
            Arc::clone(cluster),
            Arc::clone(channels),
            Some(Arc::clone(profiles)),
            &resources,
        )
        .map_err(|e| SltError(e.to_string()))?;
        let runner = QueryRunner::new(ctx, QueryLimits::default(), QueryMetrics::new());
        Ok(FlowDb {
            runner: runner.with_failover(Arc::clone(cluster)),
            mask: DataDirMask::new(Path::new("/nonexistent")),
        })
    }

    async fn query(&self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let plan = self.runner.plan(sql).await.map_err(|e| self.error(e))?;
        let types = render::column_types(&result_schema(&plan));
        let running = self.runner.run(plan, None).await.map_err(|e| self.error(e))?;
        let batches: Vec<_> = running.try_collect().await.map_err(|e| self.error(e))?;
        let rows = render::rows(&batches).map_err(|e| self.error(e))?;
        let rows = rows
            .into_iter()
            .map(|row| row.iter().map(|value| self.mask.apply(value)).collect())
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    fn error(&self, err: impl std::fmt::Display) -> SltError {
        SltError(self.mask.apply(&err.to_string()))
    }
}

#[async_trait::async_trait]
impl AsyncDB for FlowDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        self.query(sql).await
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "flowfold"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}
