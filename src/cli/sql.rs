//! `flowfold sql`: run one read-only statement, against a running node's Flight SQL service
//! (`--connect`) or directly over a data directory (`--data`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use arrow::array::RecordBatch;
use engine::profiles::{PROFILES_FILE, ProfileCatalog};
use engine::sql::{QueryResources, flow_session, read_only};

use crate::output::{Format, print};

/// Flags of `flowfold sql`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "connect"])))]
pub struct SqlArgs {
    /// Data directory of a node (it may be running); the query runs in this process.
    #[arg(long, env = "FLOWFOLD_DATA")]
    pub data: Option<PathBuf>,
    /// Flight SQL address of a running node (`host:port`, e.g. `127.0.0.1:4210`).
    #[arg(long, env = "FLOWFOLD_CONNECT")]
    pub connect: Option<String>,
    /// With --connect to a master: answer without the source groups that cannot answer (named
    /// on stderr) instead of failing.
    #[arg(long, requires = "connect")]
    pub partial: bool,
    /// With --connect to a master: print on stderr which proxy group served each source group.
    #[arg(long, requires = "connect")]
    pub served_by: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The query: table `flows` holds every stored flow, `exporter_<addr>` one channel's flows.
    pub query: String,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let batches = runtime.block_on(async {
        match (&args.connect, &args.data) {
            (Some(addr), _) => remote_answer(addr, &args).await,
            (None, Some(dir)) => query(dir, &args.query).await,
            (None, None) => anyhow::bail!("give --connect ADDR or --data DIR"),
        }
    })?;
    print(&batches, args.format)
}

/// Runs the statement of `args` on the Flight SQL service at `addr`; reports on stderr what a
/// master says about the answer.
async fn remote_answer(addr: &str, args: &SqlArgs) -> anyhow::Result<Vec<RecordBatch>> {
    let client = flight::SqlClient::connect(addr).await?;
    let answer = client.with_partial_results(args.partial).answer(&args.query).await?;
    if let Some(missing) = answer.metadata.get(planner::MISSING_KEY) {
        eprintln!("warning: partial answer: no proxy group of source group(s) {missing} could answer");
    }
    if args.served_by
        && let Some(served) = answer.metadata.get(planner::SERVED_BY_KEY)
    {
        eprintln!("served by: {served}");
    }
    Ok(answer.batches)
}

/// Runs one statement on the Flight SQL service at `addr`.
pub async fn remote(addr: &str, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let mut client = flight::SqlClient::connect(addr).await?;
    let (_, batches) = client.query(sql).await?;
    Ok(batches)
}

/// Runs one read-only statement over the flows of `data_dir`, in this process, with the node's
/// profiles when it has a profile catalog.
pub async fn query(data_dir: &Path, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    anyhow::ensure!(
        data_dir.join(engine::layout::FLOWS_DIR).is_dir(),
        "{} holds no flow table (no flows/ directory)",
        data_dir.display()
    );
    let catalog = data_dir.join(PROFILES_FILE);
    let profiles = match catalog.is_file() {
        true => {
            Some(Arc::new(ProfileCatalog::open(&catalog).with_context(|| {
                format!("opening the profile catalog {}", catalog.display())
            })?))
        }
        false => None,
    };
    let ctx = flow_session(data_dir, &QueryResources::default(), profiles)
        .with_context(|| format!("opening the flows in {}", data_dir.display()))?;
    let frame = ctx.sql_with_options(sql, read_only()).await?;
    Ok(frame.collect().await?)
}
