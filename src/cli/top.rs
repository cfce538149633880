//! `flowfold top`: the top N values of a flow element (addresses, ports, protocols, AS numbers,
//! interfaces, exporters) by flows, packets, bytes or rates, in the spirit of `nfdump -s`. It
//! builds one SQL query (`query.rs`; `--show-sql` prints it) and runs it like `flowfold sql`,
//! against a node (`--connect`) or a data directory (`--data`); `render.rs` prints the result as
//! nfdump does, `rows.rs` reads it, `stat.rs` names the stats and orders.

mod query;
mod render;
mod rows;
mod stat;

use std::path::PathBuf;

use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use engine::sql::nfdump_filter::parse_filter;

use crate::cli::sql::{query, remote};
use crate::output::Format;
use query::TopQuery;
use stat::{Order, Stat};

/// The profile of the flows as collected.
const LIVE_PROFILE: &str = "live";

/// Flags of `flowfold top`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "connect"])))]
pub struct TopArgs {
    /// Data directory of a node (it may be running); the query runs in this process.
    #[arg(long, env = "FLOWFOLD_DATA")]
    pub data: Option<PathBuf>,
    /// Flight SQL address of a running node (`host:port`, e.g. `127.0.0.1:4210`).
    #[arg(long, env = "FLOWFOLD_CONNECT")]
    pub connect: Option<String>,
    /// Profile to read: `live` (the flows as collected) or a sub-profile (`flowfold admin
    /// profile list`).
    #[arg(long, default_value = LIVE_PROFILE)]
    pub profile: String,
    /// Table of the profile: `flows` (every channel) or one channel; the live profile's channels
    /// are `exporter_<address>` such as `exporter_10_0_0_1` (see `SHOW TABLES`).
    #[arg(long, default_value = "flows")]
    pub channel: String,
    /// The flow element ranked; `ip`, `port`, `as` and `if` count a flow under both its source
    /// (input) and destination (output) value, as nfdump does.
    #[arg(long, short = 's', value_enum)]
    pub stat: Stat,
    /// What the ranking is ordered by, largest first.
    #[arg(long, value_enum, default_value_t = Order::Flows)]
    pub order: Order,
    /// Values shown; 0 shows all.
    #[arg(short = 'n', long = "limit", default_value_t = 10)]
    pub limit: usize,
    /// Only flows this nfdump filter selects (`proto tcp and dst port 443`); shares are of the
    /// flows it passes.
    #[arg(long)]
    pub filter: Option<String>,
    /// Only flows starting at or after this time: RFC 3339 (`2026-11-22T15:00:00Z`) or
    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only flows starting before this time (same forms as --since).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// Output: nfdump's table with its summary line (numbers scaled as `1.8 M`), nfdump's CSV
    /// columns with exact numbers, or JSON lines with the CSV's keys.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print the SQL query instead of running it.
    #[arg(long)]
    pub show_sql: bool,
}

/// A `--since`/`--until` time as epoch milliseconds.
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let nanos = string_to_timestamp_nanos(text.trim()).map_err(|e| {
        format!("'{text}' is not a time: give RFC 3339 (2026-11-22T15:00:00Z) or YYYY-MM-DD HH:MM:SS in UTC ({e})")
    })?;
    Ok(nanos.div_euclid(1_000_000))
}

/// The query the flags ask for, after checking them.
pub fn top_query(args: &TopArgs) -> anyhow::Result<TopQuery> {
    let plain = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    anyhow::ensure!(
        plain(&args.profile),
        "--profile '{}' is not a profile name: lower case letters, digits and _",
        args.profile
    );
    anyhow::ensure!(
        plain(&args.channel),
        "--channel '{}' is not a table name of profile {}: give flows or a channel such as exporter_10_0_0_1 \
         (live) or https",
        args.channel,
        args.profile
    );
    if let Some(filter) = &args.filter {
        // The node compiles it again; checking here reports a bad filter without a round trip.
        parse_filter(filter).map_err(|e| anyhow::anyhow!("--filter '{filter}': {e}"))?;
    }
    if let (Some(since), Some(until)) = (args.since, args.until) {
        anyhow::ensure!(since < until, "--since must be before --until");
    }
    Ok(TopQuery {
        table: format!("{}.{}", args.profile, args.channel),
        stat: args.stat,
        order: args.order,
        limit: args.limit,
        filter: args.filter.clone(),
        since_ms: args.since,
        until_ms: args.until,
    })
}

/// Runs `flowfold top`: checks the flags, builds the query, runs it and prints the ranking.
pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let sql = top_query(&args)?.sql();
    if args.show_sql {
        println!("{sql}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let batches = runtime.block_on(async {
        match (&args.connect, &args.data) {
            (Some(addr), _) => remote(addr, &sql).await,
            (None, Some(dir)) => query(dir, &sql).await,
            (None, None) => anyhow::bail!("give --connect ADDR or --data DIR"),
        }
    })?;
    let (groups, totals) = rows::read(&batches)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Table => render::table(&mut out, args.stat, args.order, args.limit, &groups, &totals)?,
        Format::Csv => render::csv(&mut out, &groups)?,
        Format::Json => render::json(&mut out, args.stat.kind(), &groups)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests;
