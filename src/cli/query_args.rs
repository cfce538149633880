//! Query-service flags shared by the node commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::standalone::{parse_size, set};
use crate::config::QuerySection;
use crate::config::units::{Bytes, Span};

/// Flags of the Flight SQL service and its limits; each overrides the `[query]` section of the
/// configuration file.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// TCP address of the Flight SQL service (port 0 picks a free port). [config: query.listen;
    /// default 0.0.0.0:4210]
    #[arg(long)]
    pub query: Option<SocketAddr>,
    /// Memory all running queries share (k, M, G suffixes); sorts and GROUP BYs spill to disk
    /// beyond it, other operators fail with "resources exhausted". [config: query.memory; default 1G]
    #[arg(long, value_parser = parse_size)]
    pub query_memory: Option<usize>,
    /// Directory for spill files. [config: query.spill_dir; default DATA/spill]
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Longest a query may run; it is then cancelled with an error saying so. [config:
    /// query.timeout; default 5m]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub query_timeout: Option<Duration>,
    /// Queries that may run at once; more wait up to `--query-queue-wait`, then are refused.
    /// [config: query.max_queries; default 16]
    #[arg(long)]
    pub max_queries: Option<usize>,
    /// How long a query waits for a free slot. [config: query.queue_wait; default 10s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub query_queue_wait: Option<Duration>,
    /// Threads one query is split across (0: one per core). [config: query.threads; default 0]
    #[arg(long)]
    pub query_threads: Option<usize>,
    /// Answer counts and sums over whole windows from their rollups (`true`/`false`).
    /// [config: query.rollups; default true]
    #[arg(long)]
    pub query_rollups: Option<bool>,
}

impl QueryArgs {
    /// Applies the given flags over the `[query]` section.
    pub fn apply(&self, q: &mut QuerySection) {
        set(&mut q.listen, self.query);
        set(&mut q.memory, self.query_memory.map(Bytes));
        if let Some(dir) = &self.spill_dir {
            q.spill_dir = Some(dir.clone());
        }
        set(&mut q.timeout, self.query_timeout.map(Span));
        set(&mut q.max_queries, self.max_queries);
        set(&mut q.queue_wait, self.query_queue_wait.map(Span));
        set(&mut q.threads, self.query_threads);
        set(&mut q.rollups, self.query_rollups);
    }
}
