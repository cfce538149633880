//! The timed rounds: every query on the master and on the standalone node, which goes first
//! flipping every round. Around each run on the master: the master's received bytes
//! (`netio::Sample`) and every cluster process's CPU time; around each run on the standalone
//! node, its CPU time. Both answers are compared on every run.
//!
//! Each timed run follows an untimed run of the same query on the same side (unless
//! `--no-rewarm`). Both sides share this machine's caches, so a run right after the other
//! side's finds its own code and data evicted, which separate machines would not do: a window
//! query took 16.3 ms distributed right after the standalone node's TCP/443 query and 11.6 ms
//! after one more run of its own; the standalone node 9.7 and 8.0 ms after the cluster's
//! (`benches/python/cross_side.py`, RESULTS 18:07 section).

use std::time::Duration;

use anyhow::bail;

use crate::answer::{self, Row};
use crate::cluster::Cluster;
use crate::netio::{Delta, Sample};
use crate::node::Node;
use crate::procs;
use crate::workload::Work;

/// The timed runs of one query.
#[derive(Debug, Clone, Default)]
pub struct QueryRuns {
    /// Standalone node, ms.
    pub standalone_ms: Vec<f64>,
    /// Through the master, ms.
    pub distributed_ms: Vec<f64>,
    /// What the master received per distributed run.
    pub master: Vec<Delta>,
    /// CPU ms of the standalone node per run.
    pub standalone_cpu_ms: Vec<f64>,
    /// CPU ms of each cluster process per distributed run, in the order of `Measured::processes`.
    pub cluster_cpu_ms: Vec<Vec<f64>>,
    /// The answer (both sides gave it).
    pub answer: Vec<Row>,
}

/// What all rounds measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Per query, in the order of the queries.
    pub queries: Vec<QueryRuns>,
    /// Names of the cluster processes (master, proxy, slaves).
    pub processes: Vec<String>,
}

/// Runs `warmup` untimed and `runs` timed rounds; `rewarm`: each timed run right after an
/// untimed one of the same query on the same side.
pub fn run(
    works: &[Work],
    cluster: &mut Cluster,
    standalone: &mut Node,
    warmup: usize,
    runs: usize,
    rewarm: bool,
) -> anyhow::Result<Measured> {
    let pids = cluster.pids();
    let mut measured = Measured {
        queries: vec![QueryRuns::default(); works.len()],
        processes: pids.iter().map(|(name, _)| name.clone()).collect(),
    };
    for round in 0..warmup + runs {
        let timed = round >= warmup;
        let master_first = round % 2 == 0;
        eprint!(
            "round {}/{}{}:",
            round + 1,
            warmup + runs,
            if timed { "" } else { " (warm-up)" }
        );
        for (i, work) in works.iter().enumerate() {
            if procs::interrupted() {
                bail!("interrupted");
            }
            let sql = &work.query.sql;
            let rewarm = rewarm && timed;
            let (dist, single) = if master_first {
                let dist = distributed(cluster, &pids, sql, rewarm)?;
                (dist, single(standalone, sql, rewarm)?)
            } else {
                let single = single(standalone, sql, rewarm)?;
                (distributed(cluster, &pids, sql, rewarm)?, single)
            };
            check(work.query.name, &dist.rows, &single.rows)?;
            eprint!(
                " {} {:.0}/{:.0} ms {} B",
                work.query.name,
                ms(dist.time),
                ms(single.time),
                dist.received.tcp
            );
            let runs = &mut measured.queries[i];
            if timed {
                runs.distributed_ms.push(ms(dist.time));
                runs.standalone_ms.push(ms(single.time));
                runs.master.push(dist.received);
                runs.cluster_cpu_ms.push(dist.cpu_ms);
                runs.standalone_cpu_ms.push(single.cpu_ms[0]);
            }
            runs.answer = single.rows;
        }
        eprintln!();
    }
    Ok(measured)
}

/// One run on one side.
struct Run {
    time: Duration,
    rows: Vec<Row>,
    received: Delta,
    cpu_ms: Vec<f64>,
}

fn distributed(cluster: &mut Cluster, pids: &[(String, i32)], sql: &str, rewarm: bool) -> anyhow::Result<Run> {
    if rewarm {
        cluster.master.run(sql)?;
    }
    let master = cluster.master.pid();
    let cpu_before = cpu(pids)?;
    let before = Sample::take(master)?;
    let (time, rows) = cluster.master.run(sql)?;
    let after = Sample::take(master)?;
    let cpu_after = cpu(pids)?;
    Ok(Run {
        time,
        rows,
        received: before.delta(&after),
        cpu_ms: cpu_after
            .iter()
            .zip(&cpu_before)
            .map(|(a, b)| (a - b) * 1000.0)
            .collect(),
    })
}

fn single(node: &mut Node, sql: &str, rewarm: bool) -> anyhow::Result<Run> {
    if rewarm {
        node.run(sql)?;
    }
    let before = node.cpu_seconds()?;
    let (time, rows) = node.run(sql)?;
    let after = node.cpu_seconds()?;
    Ok(Run {
        time,
        rows,
        received: Delta::default(),
        cpu_ms: vec![(after - before) * 1000.0],
    })
}

fn cpu(pids: &[(String, i32)]) -> anyhow::Result<Vec<f64>> {
    pids.iter().map(|(_, pid)| procs::cpu_seconds(*pid)).collect()
}

/// Fails, showing both answers, unless they are equal.
fn check(query: &str, distributed: &[Row], standalone: &[Row]) -> anyhow::Result<()> {
    if distributed == standalone {
        return Ok(());
    }
    bail!(
        "the master and the standalone node disagree on {query}:\n  master:     {}\n  standalone: {}",
        answer::show(distributed),
        answer::show(standalone)
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
