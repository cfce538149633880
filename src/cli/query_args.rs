//! Query-service flags shared by the node commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use engine::sql::QueryResources;
use flight::QueryLimits;

use super::standalone::parse_size;

/// Flags of the Flight SQL service and its limits.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// TCP address of the Flight SQL service (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:4210")]
    pub query: SocketAddr,
    /// Memory all running queries share (k, M, G suffixes); sorts and GROUP BYs spill to disk
    /// beyond it, other operators fail with "resources exhausted".
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub query_memory: usize,
    /// Directory for spill files (default: DATA/spill).
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Longest a query may run; it is then cancelled with an error saying so.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub query_timeout: Duration,
    /// Queries that may run at once; more wait up to `--query-queue-wait`, then are refused.
    #[arg(long, default_value_t = 16)]
    pub max_queries: usize,
    /// How long a query waits for a free slot.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub query_queue_wait: Duration,
    /// Threads one query is split across (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub query_threads: usize,
}

impl QueryArgs {
    /// Resources of the session.
    pub fn resources(&self) -> QueryResources {
        QueryResources {
            memory_bytes: self.query_memory,
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.query_threads,
            ..QueryResources::default()
        }
    }

    /// Limits of the service.
    pub fn limits(&self) -> QueryLimits {
        QueryLimits {
            max_queries: self.max_queries,
            queue_wait: self.query_queue_wait,
            timeout: self.query_timeout,
        }
    }
}
