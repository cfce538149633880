//! `flowfold-benches`: the end-to-end ingest benchmark. It offers `flowfold gen`'s NetFlow v9
//! stream at rising rates to nfcapd and then to `flowfold standalone` in the same run, and prints
//! each one's highest lossless rate, CPU per flow, peak RSS, bytes per stored flow and flowfold's
//! freshness as a Markdown section for `benches/RESULTS.md`. See `benches/README.md`.
//!
//! - `args`: flags and rate parsing.
//! - `procs`: child processes reaped on drop, `/proc` sampling.
//! - `load`: the generator run and its summary.
//! - `collectors`: starting, stopping and counting nfcapd and flowfold.
//! - `steps`: the rising-rate loop and the freshness probe.
//! - `report`: tables, ratios and targets.

mod args;
mod collectors;
mod load;
mod procs;
mod report;
mod steps;

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::Parser;

use crate::args::{Args, CollectorKind};

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every collector; `Ok(false)` when a collector's run failed part-way (the report is still
/// printed).
fn run(args: &Args) -> anyhow::Result<bool> {
    check_binaries(args)?;
    let parent = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix("flowfold-ingest-bench-")
        .tempdir_in(&parent)?;
    eprintln!("working in {}", work.path().display());

    procs::catch_interrupt();
    let runs: Vec<_> = args
        .collectors
        .iter()
        .filter(|_| !procs::interrupted())
        .map(|&kind| steps::run_collector(kind, args, work.path()))
        .collect();

    let context = report::Context {
        command: command_line(),
        facts: facts(args),
    };
    let text = report::markdown(&runs, &context);
    println!("{text}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.keep {
        eprintln!("kept {}", work.keep().display());
    }
    Ok(runs.iter().all(|r| r.error.is_none()))
}

fn check_binaries(args: &Args) -> anyhow::Result<()> {
    let uses_flowfold = args.collectors.contains(&CollectorKind::Flowfold);
    for (path, needed) in [(args.flowfold.as_path(), uses_flowfold), (args.generator(), true)] {
        if needed && !path.is_file() {
            bail!(
                "{} not found (build it with `cargo build --release --bin flowfold`)",
                path.display()
            );
        }
    }
    if args.collectors.contains(&CollectorKind::Nfcapd) && version(&args.nfcapd, "-V").is_none() {
        bail!("{} does not run (install nfdump)", args.nfcapd.display());
    }
    if args.rates.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--rates must rise: {:?}", args.rates);
    }
    Ok(())
}

fn command_line() -> String {
    let mut parts = vec!["cargo run --release -p flowfold-benches --".to_string()];
    parts.extend(std::env::args().skip(1));
    parts.join(" ")
}

/// First line of `BIN FLAG`'s output, if it runs.
fn version(bin: &Path, flag: &str) -> Option<String> {
    let out = Command::new(bin).arg(flag).output().ok()?;
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

fn facts(args: &Args) -> Vec<String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output().ok();
    let date = date
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string());
    vec![
        format!(
            "Run {date} on {cores} cores ({}), kernel {}",
            model.unwrap_or_default(),
            read("/proc/sys/kernel/osrelease")
        ),
        format!(
            "nfcapd: {} (`-B 4194304`); flowfold: {}",
            version(&args.nfcapd, "-V")
                .unwrap_or_default()
                .trim_start_matches("nfcapd: ")
                .to_string(),
            version(&args.flowfold, "--version").unwrap_or_default()
        ),
        format!(
            "net.core.rmem_max = {} (caps SO_RCVBUF: nfcapd asks for 4 MiB with `-B`, flowfold for 8 MiB)",
            read("/proc/sys/net/core/rmem_max")
        ),
        format!(
            "{} exporters, seed {}, {} per step; a fresh collector and data directory per step",
            args.exporters,
            args.seed,
            match args.flows_per_step {
                Some(n) => format!("{n} flows"),
                None => format!("{} s", args.seconds),
            }
        ),
        "CPU s (load): collector utime+stime from /proc/PID/stat, from before the load until it is idle; \
         CPU s (life) and RSS (life) include start-up and stopping (flowfold seals Parquet on SIGTERM)"
            .to_string(),
        "bytes/flow: flowfold's sealed `flows/**/*.parquet` and their rollups (`*.rollup`); nfcapd's files (reference)"
            .to_string(),
    ]
}
