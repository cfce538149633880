//! Flags of the query benchmark.

use std::path::PathBuf;

/// The DuckDB side, next to this crate's manifest so the harness runs from any directory.
const DEFAULT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/duckdb_queries.py");

/// Query benchmark (issue 3): five flow queries over the same generated Parquet files, timed on
/// flowfold (Flight SQL, end to end) and on DuckDB (Python) in the same run, engines alternating.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "flowfold-query-bench", about)]
pub struct Args {
    /// The flowfold binary (`flowfold standalone` serves the queries).
    #[arg(long, default_value = "target/release/flowfold")]
    pub flowfold: PathBuf,
    /// The Python interpreter with the `duckdb` module.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// The DuckDB driver script.
    #[arg(long, default_value = DEFAULT_SCRIPT)]
    pub script: PathBuf,
    /// Flows in the data set (k and M suffixes allowed).
    #[arg(long, default_value = "10M", value_parser = parse_count)]
    pub flows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Exporters (channels) in the data set.
    #[arg(long, default_value_t = 4)]
    pub exporters: usize,
    /// Timed runs per query and engine (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Untimed warm-up runs per query and engine, before the timed ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Row order of the sealed files (a node's default is `flow-start`); for layout experiments.
    #[arg(long, value_enum, default_value_t = Sort::FlowStart)]
    pub sort: Sort,
    /// Most rows per Parquet row group (a node's default is 262,144); for layout experiments.
    #[arg(long, default_value = "262144", value_parser = parse_count)]
    pub row_group_rows: u64,
    /// Threads each engine may use (flowfold `--query-threads`, DuckDB `SET threads`); default:
    /// the number of cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the data set is built and kept between runs (reused when the same data set flags
    /// are given), with the node's logs.
    #[arg(long, default_value = "target/query-bench")]
    pub work_dir: PathBuf,
    /// Rebuild the data set even if a matching one is cached.
    #[arg(long)]
    pub rebuild: bool,
    /// Also append the Markdown section to this file (e.g. `benches/RESULTS.md`).
    #[arg(long)]
    pub append_results: Option<PathBuf>,
    /// After the timed runs, write each query's `EXPLAIN ANALYZE` on both engines into this
    /// directory (with `--profiles`: of the channel and the hand-written query).
    #[arg(long)]
    pub explain: Option<PathBuf>,
    /// The profile benchmark (issue 6) instead of the DuckDB comparison: creates profiles on the
    /// node over the same data set, times each create and the first query on the new channel,
    /// and compares channel queries with the same SQL over `live.flows` written by hand.
    #[arg(long)]
    pub profiles: bool,
}

impl Args {
    /// Threads per engine.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

/// Row orders of the sealed files (`engine::SortKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[allow(clippy::enum_variant_names)] // the names of `engine::SortKey`, which all end in `Start`
pub enum Sort {
    /// `flow_start` (the node's default).
    FlowStart,
    /// `exporter, src_addr, dst_addr, flow_start`.
    ExporterSrcDstStart,
    /// `exporter, protocol, dst_port, flow_start`.
    ProtocolDstPortStart,
}

impl Sort {
    /// The store's sort key.
    pub fn key(self) -> engine::SortKey {
        match self {
            Sort::FlowStart => engine::SortKey::FlowStart,
            Sort::ExporterSrcDstStart => engine::SortKey::ExporterSrcDstStart,
            Sort::ProtocolDstPortStart => engine::SortKey::ProtocolDstPortStart,
        }
    }
}

/// Parses a count such as `10000000`, `10_000_000`, `200k` or `10M`.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let clean = text.trim().replace('_', "");
    let (digits, scale) = match clean.chars().last() {
        Some('k' | 'K') => (&clean[..clean.len() - 1], 1_000.0),
        Some('m' | 'M') => (&clean[..clean.len() - 1], 1_000_000.0),
        _ => (clean.as_str(), 1.0),
    };
    let value: f64 = digits.parse().map_err(|_| format!("not a count: {text:?}"))?;
    let n = (value * scale).round();
    if !(1.0..=1e12).contains(&n) {
        return Err(format!("count out of range: {text:?}"));
    }
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn counts_parse_with_suffixes() {
        assert_eq!(parse_count("10M"), Ok(10_000_000));
        assert_eq!(parse_count("200k"), Ok(200_000));
        assert_eq!(parse_count("1.5M"), Ok(1_500_000));
        assert_eq!(parse_count("10_000_000"), Ok(10_000_000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("ten").is_err());
    }
}
