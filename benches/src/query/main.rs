//! `flowfold-query-bench`: the query benchmark of issue 3. It builds (or reuses) a data set of
//! generated flows stored through `engine::FlowStore`, serves it with `flowfold standalone`, and
//! runs five flow queries on flowfold (Flight SQL, timed end to end from this process) and on
//! DuckDB (Python, over the same Parquet files) in the same run, alternating the engines, checking
//! that they agree, and prints per-query medians, ratios against the 0.5x target and peak memory
//! as a Markdown section for `benches/RESULTS.md`. See `benches/README.md`.
//!
//! - `args`: flags.
//! - `dataset`: building, caching and measuring the data set.
//! - `queries`: the five queries.
//! - `node`: the flowfold node and its Flight SQL client.
//! - `duck`: the DuckDB driver process.
//! - `answer`: comparable answers from both engines.
//! - `rounds`: the alternating timed rounds.
//! - `median`: medians of timings.
//! - `report`: the Markdown section.
//! - `machine`: the machine, versions and command line.
//! - `profiles`: `--profiles`, the profile benchmark of issue 6 (channel views against the same
//!   SQL written by hand, creating a profile), on the same data set and node.

mod answer;
mod args;
mod dataset;
mod duck;
mod machine;
mod median;
mod node;
// Shared with the ingest benchmark, which uses more of it.
#[allow(dead_code)]
#[path = "../procs.rs"]
mod procs;
mod profiles;
mod queries;
mod report;
mod rounds;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

use crate::args::Args;
use crate::duck::Duck;
use crate::node::Node;
use crate::report::{Inputs, Resources};

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
    // The profile benchmark does not run DuckDB.
    let script = (!args.profiles).then_some((&args.script, "the DuckDB driver script"));
    for (path, what) in [(&args.flowfold, "build it with `cargo build --release --bin flowfold`")]
        .into_iter()
        .chain(script)
    {
        if !path.is_file() {
            bail!("{} not found ({what})", path.display());
        }
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    procs::catch_interrupt();
    let row_group_rows = usize::try_from(args.row_group_rows).context("--row-group-rows")?;
    let spec = dataset::Spec::new(args.flows, args.seed, args.exporters).with_layout(args.sort.key(), row_group_rows);
    let dataset = dataset::prepare(&args.work_dir, &spec, args.rebuild)?;
    let queries = queries::all(&spec);
    let threads = args.threads();
    let log_dir = args.work_dir.join("logs");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;

    if args.profiles {
        let text = profiles::run(args, &dataset, threads, &log_dir)?;
        return publish(&text, args.append_results.as_deref());
    }

    let load_before = machine::load_average();
    let mut node = Node::start(&args.flowfold, &dataset.data_dir, threads, &log_dir)?;
    let mut duck = Duck::start(
        &args.python,
        &args.script,
        &dataset.parquet_glob(),
        threads,
        &queries,
        &log_dir,
    )?;
    eprintln!(
        "flowfold pid {}, DuckDB {}; {} threads each; {} warm-up + {} timed rounds (flowfold/DuckDB ms)",
        node.pid(),
        duck.version,
        threads,
        args.warmup,
        args.runs
    );
    let ff_start = (node.peak_rss()?, node.cpu_seconds()?);
    let duck_start = duck.usage()?;

    let measured = rounds::run(&queries, &mut node, &mut duck, args.warmup, args.runs)?;
    let load_after = machine::load_average();

    let flowfold = Resources {
        rss_at_start: ff_start.0,
        peak_rss: node.peak_rss()?,
        cpu_seconds: node.cpu_seconds()? - ff_start.1,
    };
    let duck_end = duck.usage()?;
    let duckdb = Resources {
        rss_at_start: duck.rss_at_start,
        peak_rss: duck_end.peak_rss,
        cpu_seconds: duck_end.cpu_seconds - duck_start.cpu_seconds,
    };
    if let Some(dir) = &args.explain {
        explain(dir, &queries, &mut node, &mut duck)?;
    }
    let inputs = Inputs {
        command: machine::command_line(),
        machine: machine::describe(),
        load: (load_before, load_after),
        flowfold_version: machine::flowfold_version(&args.flowfold),
        duckdb_version: duck.version.clone(),
        python_version: duck.python.clone(),
        duckdb_memory_limit: duck.memory_limit.clone(),
        threads,
        warmup: args.warmup,
        runs: args.runs,
        dataset: &dataset,
        queries: &queries,
        measured: &measured,
        flowfold,
        duckdb,
    };
    let text = report::markdown(&inputs);
    duck.quit()?;
    node.stop()?;
    publish(&text, args.append_results.as_deref())
}

/// Prints the report and appends it to `append` if given.
fn publish(text: &str, append: Option<&Path>) -> anyhow::Result<()> {
    println!("{text}");
    if let Some(path) = append {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        write!(file, "\n{text}").with_context(|| format!("appending to {}", path.display()))?;
    }
    Ok(())
}

/// Writes `NAME.flowfold.txt` and `NAME.duckdb.txt` with each engine's `EXPLAIN ANALYZE`.
fn explain(dir: &Path, queries: &[queries::Query], node: &mut Node, duck: &mut Duck) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, query) in queries.iter().enumerate() {
        let ours = node.explain(&query.sql)?;
        let theirs = duck.explain(i)?;
        for (engine, text) in [("flowfold", ours), ("duckdb", theirs)] {
            let path = dir.join(format!("{}.{engine}.txt", query.name));
            std::fs::write(&path, format!("{}\n\n{text}\n", query.sql))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    eprintln!("EXPLAIN ANALYZE of every query in {}", dir.display());
    Ok(())
}
