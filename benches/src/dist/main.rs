//! `flowfold-dist-bench`: the same data set of generated flows served by a cluster (N slaves,
//! each holding whole exporters, behind one proxy and a master) and by one standalone node, in
//! one run: per query the latency ratio distributed / standalone (target <= 1.3x) and the bytes
//! the master receives against the raw bytes of the rows scanned (target <= 1% for top-N), as a
//! Markdown section for `benches/RESULTS.md`. See `benches/README.md`.
//!
//! - `args`: flags.
//! - `split`: the slaves' data directories, hard links to whole exporter directories.
//! - `cluster`: slaves, proxy and master processes, the master's configuration.
//! - `workload`: the queries, the columns each scans and their widths.
//! - `netio`: bytes a process received (TCP_INFO of its sockets; `rchar`).
//! - `rounds`: the alternating timed rounds with bytes and CPU around each run.
//! - `explain`: the master's distributed plans, `--explain` files.
//! - `report`: the Markdown section.
//!
//! Shared with `flowfold-query-bench` (`src/query/`): the data set, the Flight SQL node, answers,
//! queries, medians and machine facts.

#[allow(dead_code)]
#[path = "../query/answer.rs"]
mod answer;
mod args;
mod cluster;
// Layout experiments are the query benchmark's.
#[allow(dead_code)]
#[path = "../query/dataset.rs"]
mod dataset;
mod explain;
#[path = "../query/machine.rs"]
mod machine;
#[path = "../query/median.rs"]
mod median;
mod netio;
#[allow(dead_code)]
#[path = "../query/node.rs"]
mod node;
#[allow(dead_code)]
#[path = "../procs.rs"]
mod procs;
#[path = "../query/queries.rs"]
mod queries;
// For `parse_count`; the rest is the query benchmark's own flags.
#[allow(dead_code)]
#[path = "../query/args.rs"]
mod query_args;
mod report;
mod rounds;
mod split;
mod workload;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

use crate::args::Args;
use crate::cluster::Cluster;
use crate::node::Node;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if !args.flowfold.is_file() {
        bail!(
            "{} not found (build it with `cargo build --release --bin flowfold`)",
            args.flowfold.display()
        );
    }
    args.check()?;
    procs::catch_interrupt();
    let spec = dataset::Spec::new(args.flows, args.seed, args.exporters);
    let dataset = dataset::prepare(&args.work_dir, &spec, args.rebuild)?;
    let work_dir = args.work_dir.canonicalize().context("resolving --work-dir")?;
    let shares = split::split(&dataset.data_dir, &work_dir.join("slaves"), args.slaves)?;
    let works = workload::all(&spec);
    let threads = args.threads();
    let log_dir = work_dir.join("logs");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;

    let load_before = machine::load_average();
    let mut standalone = Node::start(&args.flowfold, &dataset.data_dir, threads, &log_dir)?;
    let mut cluster = Cluster::start(&args.flowfold, &shares, threads, &log_dir)?;
    eprintln!(
        "standalone pid {}, cluster {:?}; {threads} query threads each; {} warm-up + {} timed rounds \
         (distributed/standalone ms, master bytes)",
        standalone.pid(),
        cluster.pids(),
        args.warmup,
        args.runs
    );
    let plans = works
        .iter()
        .map(|w| explain::distributed_plan(&mut cluster.master, &w.query.sql))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let scanned = rows_scanned(&works, &mut standalone)?;

    let measured = rounds::run(
        &works,
        &mut cluster,
        &mut standalone,
        args.warmup,
        args.runs,
        !args.no_rewarm,
    )?;
    let load_after = machine::load_average();
    let peers = cluster.peers();
    if let Some(dir) = &args.explain {
        explain::write(dir, &works, &plans, &mut cluster.master, &mut standalone)?;
    }
    let text = report::markdown(&report::Inputs {
        command: machine::command_line(),
        machine: machine::describe(),
        load: (load_before, load_after),
        flowfold_version: machine::flowfold_version(&args.flowfold),
        threads,
        warmup: args.warmup,
        runs: args.runs,
        rewarm: !args.no_rewarm,
        dataset: &dataset,
        shares: &shares,
        works: &works,
        plans: &plans,
        scanned: &scanned,
        measured: &measured,
        peers: &peers,
    });
    cluster.stop()?;
    standalone.stop()?;

    println!("{text}");
    if let Some(path) = &args.append_results {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        write!(file, "\n{text}").with_context(|| format!("appending to {}", path.display()))?;
    }
    Ok(())
}

/// Rows each query's scan reads: `count(*)` with its filter, on the standalone node.
fn rows_scanned(works: &[workload::Work], node: &mut Node) -> anyhow::Result<Vec<u64>> {
    works
        .iter()
        .map(|w| {
            let sql = w.count_sql();
            let (_, rows) = node.run(&sql)?;
            rows.first()
                .and_then(|r| r.first())
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("no count from {sql}"))
        })
        .collect()
}
