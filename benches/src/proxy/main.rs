//! `flowfold-proxy-bench`: the proxy forwarding benchmark of issue 5. In one run, for every
//! number of downstream targets (`--targets`, default 1 and 3) and every forwarder
//! (`flowfold proxy` in the flow-source and round-robin models, `nfcapd -R`, pmacct's `nfacctd`
//! tee plugin), it offers `flowfold gen`'s NetFlow v9 at rising rates and counts what arrives at
//! lightweight UDP sinks behind the forwarder: flows delivered at least once, copies, loss,
//! forwarder CPU. The report is a Markdown section for `benches/RESULTS.md`; see
//! `benches/README.md`.
//!
//! - `args`: flags and the forwarders.
//! - `count`: relay frames and v5 / v9 / IPFIX record counting, message digests.
//! - `sink`: the counting UDP sinks (`recvmmsg` threads).
//! - `forwarders`: starting and stopping each forwarder with the sinks as targets.
//! - `proctree`: CPU of a process tree, kernel drops of UDP sockets.
//! - `steps`: the rising-rate loop and the outcome of a step.
//! - `report`: tables, ratios and targets.
//!
//! Shared with the ingest benchmark (`src/`): child processes and `/proc` sampling, the
//! generator run, rate parsing; with the query benchmark: machine facts.

mod args;
mod count;
mod forwarders;
// For `parse_rate`; the rest is the ingest benchmark's own flags.
#[allow(dead_code)]
#[path = "../args.rs"]
mod ingest_args;
#[path = "../load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../query/machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "../procs.rs"]
mod procs;
mod proctree;
mod report;
mod sink;
mod steps;

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::Parser;

use crate::args::{Args, ForwarderKind};

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

/// Runs every forwarder with every number of targets; `Ok(false)` when a run failed part-way
/// (the report is still printed).
fn run(args: &Args) -> anyhow::Result<bool> {
    args.check()?;
    if !args.flowfold.is_file() || !args.generator().is_file() {
        bail!(
            "{} not found (build it with `cargo build --release --bin flowfold`)",
            args.flowfold.display()
        );
    }
    let mut skipped = Vec::new();
    let forwarders: Vec<ForwarderKind> = args
        .forwarders
        .iter()
        .copied()
        .filter(|&kind| match missing(kind, args) {
            Some(why) => {
                eprintln!("skipping {}: {why}", kind.name());
                skipped.push(format!("{}: {why}", kind.name()));
                false
            }
            None => true,
        })
        .collect();
    let parent = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix("flowfold-proxy-bench-")
        .tempdir_in(&parent)?;
    eprintln!("working in {}", work.path().display());

    procs::catch_interrupt();
    let load_before = machine::load_average();
    let mut runs = Vec::new();
    for &targets in &args.targets {
        // With one target, a pool per target is the by-exporter pool: the same configuration.
        for &kind in forwarders
            .iter()
            .filter(|&&k| !(k == ForwarderKind::TeeCopy && targets == 1 && forwarders.contains(&ForwarderKind::Tee)))
        {
            if procs::interrupted() {
                break;
            }
            runs.push(steps::run(kind, targets, args, work.path()));
        }
    }
    let load_after = machine::load_average();

    let context = report::Context {
        command: machine::command_line(),
        facts: facts(args, (load_before, load_after)),
        skipped,
    };
    let text = report::markdown(&runs, &context);
    println!("{text}");
    if let Some(path) = &args.append_results {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        write!(file, "\n{text}").with_context(|| format!("appending to {}", path.display()))?;
    }
    if args.keep {
        eprintln!("kept {}", work.keep().display());
    }
    Ok(runs.iter().all(|r| r.error.is_none()))
}

/// Why a peer cannot run here, if it cannot.
fn missing(kind: ForwarderKind, args: &Args) -> Option<String> {
    let (bin, flag, package) = match kind {
        ForwarderKind::Nfcapd => (&args.nfcapd, "-V", "nfdump"),
        ForwarderKind::Tee | ForwarderKind::TeeCopy => (&args.nfacctd, "-V", "pmacct (`apt-get install -y pmacct`)"),
        _ => return None,
    };
    match version(bin, flag) {
        Some(_) => None,
        None => Some(format!("{} does not run (install {package})", bin.display())),
    }
}

/// First line of `BIN FLAG`'s output, if it runs.
fn version(bin: &Path, flag: &str) -> Option<String> {
    let out = Command::new(bin).arg(flag).output().ok()?;
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

fn facts(args: &Args, loads: (Option<f64>, Option<f64>)) -> Vec<String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let load = |l: Option<f64>| l.map_or("?".to_string(), |v| format!("{v:.2}"));
    vec![
        format!(
            "{}; load average {} before, {} after",
            machine::describe(),
            load(loads.0),
            load(loads.1)
        ),
        format!(
            "{}; nfcapd {}; nfacctd {}",
            machine::flowfold_version(&args.flowfold),
            version(&args.nfcapd, "-V")
                .unwrap_or_else(|| "not found".into())
                .trim_start_matches("nfcapd: ")
                .trim_start_matches("Version: "),
            version(&args.nfacctd, "-V")
                .unwrap_or_else(|| "not found".into())
                .trim_start_matches("NetFlow Accounting Daemon, nfacctd ")
        ),
        format!(
            "Load: `flowfold gen --formats v9 --exporters {}` (seed {}, {} s per step) into the forwarder on \
             127.0.0.1; the generator, the forwarder and the sinks share the machine's cores",
            args.exporters, args.seed, args.seconds
        ),
        format!(
            "Receive buffer of each forwarder's socket: {} bytes asked (nfcapd `-B`, nfacctd `nfacctd_pipe_size`, \
             flowfold `[ingest] recv_buffer`); net.core.rmem_max = {}; nfacctd tee: `plugin_pipe_size` 10240000, \
             `plugin_buffer_size` 10240, non-transparent",
            args.recv_buffer,
            read("/proc/sys/net/core/rmem_max")
        ),
        "Sinks: one harness thread per target on 127.0.0.1, `recvmmsg`, 64 MiB receive buffer; they count v9 \
         records by template (relay frames unwrapped) and digest each message so that a repeated datagram counts \
         once in `delivered`"
            .to_string(),
        "A fresh forwarder and fresh sinks per step; fwd CPU s = utime+stime of the forwarder's process tree \
         (nfacctd: core and tee plugin) from /proc, from before the load until it is idle; flows per CPU s = \
         delivered / fwd CPU s"
            .to_string(),
    ]
}
