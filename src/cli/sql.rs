//! `flowfold sql --data DIR "SQL"`: read-only SQL over a data directory, open windows included.

use std::path::PathBuf;

use anyhow::Context;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::output::{Format, print};

/// Flags of `flowfold sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// Data directory of a node (it may be running).
    #[arg(long, env = "FLOWFOLD_DATA")]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The query; table `flows` holds every stored flow.
    pub query: String,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let batches = runtime.block_on(query(&args.data, &args.query))?;
    print(&batches, args.format)
}

/// Runs one read-only statement over the flows of `data_dir`.
pub async fn query(data_dir: &std::path::Path, sql: &str) -> anyhow::Result<Vec<arrow::array::RecordBatch>> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    engine::table::register_flows(&ctx, data_dir)
        .await
        .with_context(|| format!("reading flows in {}", data_dir.display()))?;
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = ctx.sql_with_options(sql, read_only).await?;
    Ok(frame.collect().await?)
}
