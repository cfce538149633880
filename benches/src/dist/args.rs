//! Flags of the distributed query benchmark.

use std::path::PathBuf;

use crate::query_args::parse_count;

/// Distributed query benchmark: the same generated flows on N slaves behind a proxy and a master
/// versus one standalone node, in one run: latency ratio per query and the bytes the master
/// receives against the raw bytes of the rows scanned.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "flowfold-dist-bench", about)]
pub struct Args {
    /// The flowfold binary (every role: standalone, slave, proxy, master).
    #[arg(long, default_value = "target/release/flowfold")]
    pub flowfold: PathBuf,
    /// Flows in the data set (k and M suffixes allowed).
    #[arg(long, default_value = "10M", value_parser = parse_count)]
    pub flows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Exporters (channels) in the data set; they are dealt round-robin to the slaves, so a
    /// multiple of `--slaves` splits the flows evenly.
    #[arg(long, default_value_t = 6)]
    pub exporters: usize,
    /// Slaves of the one proxy group (127.0.0.11, .12, ...).
    #[arg(long, default_value_t = 3)]
    pub slaves: usize,
    /// Timed runs per query and side (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Untimed warm-up runs per query and side, before the timed ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Time each run right after the other side's, without first running the same query once
    /// more, untimed, on the same side (see `rounds`).
    #[arg(long)]
    pub no_rewarm: bool,
    /// `--query-threads` of every node (standalone, slaves, master); default: the number of
    /// cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the data set is built and kept between runs, with the slaves' data directories
    /// (hard links into it) and every node's logs.
    #[arg(long, default_value = "target/dist-bench")]
    pub work_dir: PathBuf,
    /// Rebuild the data set even if a matching one is cached.
    #[arg(long)]
    pub rebuild: bool,
    /// Also append the Markdown section to this file (e.g. `benches/RESULTS.md`).
    #[arg(long)]
    pub append_results: Option<PathBuf>,
    /// After the timed runs, write each query's distributed plan (`EXPLAIN` on the master) and
    /// `EXPLAIN ANALYZE` on the master and on the standalone node into this directory.
    #[arg(long)]
    pub explain: Option<PathBuf>,
}

/// Most slaves: their addresses are 127.0.0.11 to 127.0.0.39 (the master is on .40).
pub const MAX_SLAVES: usize = 29;

impl Args {
    /// Query threads per node.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Checks the flags that clap cannot.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.runs >= 1, "--runs must be at least 1");
        anyhow::ensure!(
            (1..=MAX_SLAVES).contains(&self.slaves),
            "--slaves must be 1 to {MAX_SLAVES}"
        );
        anyhow::ensure!(
            self.exporters >= self.slaves,
            "--exporters ({}) must be at least --slaves ({}): each slave gets whole exporters",
            self.exporters,
            self.slaves
        );
        Ok(())
    }
}
