//! The Markdown section for `benches/RESULTS.md`: per query the latency ratio distributed /
//! standalone against the 1.3x target and the master's received bytes against the raw bytes of
//! the rows scanned (1% target for top-N queries); then where the CPU time went, the split of the
//! data set, every run, the queries and their answers.

use std::fmt::Write;
use std::net::IpAddr;

use crate::answer;
use crate::dataset::Dataset;
use crate::median::median;
use crate::rounds::Measured;
use crate::split::Share;
use crate::workload::Work;

/// Distributed median latency at most this multiple of the standalone one.
pub const TARGET_RATIO: f64 = 1.3;
/// For top-N queries, the master receives at most this share of the raw bytes scanned.
pub const TARGET_SHARE: f64 = 0.01;

/// Everything the report shows.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The command line.
    pub command: String,
    /// Machine and date.
    pub machine: String,
    /// 1-minute load average before the nodes started and after the last round.
    pub load: (Option<f64>, Option<f64>),
    /// `flowfold --version`.
    pub flowfold_version: String,
    /// `--query-threads` of every node.
    pub threads: usize,
    /// Warm-up rounds.
    pub warmup: usize,
    /// Timed rounds.
    pub runs: usize,
    /// Whether each timed run followed an untimed one of the same query on the same side.
    pub rewarm: bool,
    /// The data set.
    pub dataset: &'a Dataset,
    /// Its split over the slaves.
    pub shares: &'a [Share],
    /// The queries.
    pub works: &'a [Work],
    /// The master's distributed plan of each query.
    pub plans: &'a [String],
    /// Rows each query's scan reads (count with the same filter).
    pub scanned: &'a [u64],
    /// The rounds.
    pub measured: &'a Measured,
    /// Who is behind each peer address of the master's sockets.
    pub peers: &'a [(IpAddr, String)],
}

/// One query's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Median standalone ms.
    pub standalone_ms: f64,
    /// Median distributed ms.
    pub distributed_ms: f64,
    /// distributed / standalone.
    pub ratio: f64,
    /// Median bytes the master received (TCP payload).
    pub received: f64,
    /// Raw bytes of the rows scanned.
    pub raw: u64,
    /// received / raw, when raw > 0.
    pub share: Option<f64>,
}

/// The figures of query `i`.
pub fn figures(x: &Inputs, i: usize) -> Figures {
    let runs = &x.measured.queries[i];
    let standalone_ms = median(&runs.standalone_ms);
    let distributed_ms = median(&runs.distributed_ms);
    let received = median(&runs.master.iter().map(|d| d.tcp as f64).collect::<Vec<_>>());
    let raw = x.scanned[i] * x.works[i].row_width() as u64;
    Figures {
        standalone_ms,
        distributed_ms,
        ratio: distributed_ms / standalone_ms.max(f64::MIN_POSITIVE),
        received,
        raw,
        share: (raw > 0).then(|| received / raw as f64),
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// A byte count with a decimal unit.
pub fn bytes(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.2} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n:.0} B"),
    }
}

/// A share as a percentage with enough digits to be read.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p >= 0.1 {
        format!("{p:.2}%")
    } else {
        format!("{p:.4}%")
    }
}

/// The Markdown section.
pub fn markdown(x: &Inputs) -> String {
    let mut out = String::new();
    let d = x.dataset;
    let slaves = x.shares.len();
    let _ = writeln!(
        out,
        "## Distributed queries: {} flows on {slaves} slaves behind a proxy vs one standalone node (same run)\n",
        d.rows
    );
    let _ = writeln!(out, "Command: `{}`\n", x.command);
    let load = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
    let _ = writeln!(
        out,
        "- {}; 1-minute load average {} before the nodes started, {} after the last round",
        x.machine,
        load(x.load.0),
        load(x.load.1)
    );
    let _ = writeln!(
        out,
        "- {}; every process on this one machine and its cores, on loopback: the standalone node \
         (127.0.0.1, full data set), {slaves} `flowfold slave` (127.0.0.11...), one `flowfold proxy` (127.0.0.10) \
         and `flowfold master` (127.0.0.40, one source group, one proxy group); `--query-threads {}` on every node. \
         Idle processes of one side stay up while the other side runs",
        x.flowfold_version, x.threads
    );
    let built = match d.built_in {
        Some(t) => format!("built in {:.0} s", t.as_secs_f64()),
        None => "reused from an earlier run".into(),
    };
    let _ = writeln!(
        out,
        "- Data set: {} flows (seed {}, {} exporters, flow ends spread over {} min from 2026-01-01 00:00 UTC) \
         stored through `engine::FlowStore` with a node's default settings: {} Parquet files, {:.1} MB; {built}. \
         Each slave's data directory holds hard links to whole exporter directories (below)",
        d.rows,
        d.spec.seed,
        d.spec.exporters,
        d.spec.span_ms / 60_000,
        d.files,
        d.bytes as f64 / 1e6
    );
    let rewarm = match x.rewarm {
        true => ", each right after an untimed run of the same query on the same side (see `rounds.rs`)",
        false => ", each right after the other side's run (`--no-rewarm`)",
    };
    let _ = writeln!(
        out,
        "- {} warm-up and {} timed runs per query and side{rewarm}, which side goes first flipping every \
         round; wall time of the Flight SQL query from the harness (end to end); medians; the master's \
         answer equalled the standalone node's on every run",
        x.warmup, x.runs
    );
    let _ = writeln!(
        out,
        "- Master received: TCP payload over all the master's TCP sockets (`tcpi_bytes_received` of `TCP_INFO`, \
         read via `pidfd_getfd`) between just before and just after the query: the workers' result streams, \
         the client's request and HTTP/2 framing. Raw bytes scanned: rows matching the query's filter \
         (`SELECT count(*) FROM flows WHERE <same filter>` on the standalone node) x the Arrow widths of \
         the columns the query reads (addresses 16, timestamps and u64 8, u16 2, u8 1)\n"
    );

    let all: Vec<Figures> = (0..x.works.len()).map(|i| figures(x, i)).collect();
    let _ = writeln!(
        out,
        "| query | plan on the master | standalone ms | distributed ms | ratio | target <= {TARGET_RATIO}x | \
         master received | rows scanned | raw bytes scanned | received / raw | target <= 1% (top-N) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|");
    for (i, (work, f)) in x.works.iter().zip(&all).enumerate() {
        let share = f.share.map_or("-".to_string(), percent);
        let share_verdict = match (work.top_n, f.share) {
            (true, Some(s)) => verdict(s <= TARGET_SHARE).to_string(),
            (true, None) => "-".into(),
            (false, _) => "(not top-N)".into(),
        };
        let columns: Vec<&str> = work.columns.iter().map(|(c, _)| *c).collect();
        let raw = if f.raw > 0 {
            format!(
                "{} ({} B/row: {})",
                bytes(f.raw as f64),
                work.row_width(),
                columns.join(", ")
            )
        } else {
            "0 (no column read)".into()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.2}x | {} | {} | {} | {raw} | {share} | {share_verdict} |",
            work.query.label,
            crate::explain::shape(&x.plans[i]),
            f.standalone_ms,
            f.distributed_ms,
            f.ratio,
            verdict(f.ratio <= TARGET_RATIO),
            bytes(f.received),
            x.scanned[i],
        );
    }
    let ratios: Vec<f64> = all.iter().map(|f| f.ratio).collect();
    let within = ratios.iter().filter(|r| **r <= TARGET_RATIO).count();
    let top: Vec<&Figures> = x
        .works
        .iter()
        .zip(&all)
        .filter(|(w, _)| w.top_n)
        .map(|(_, f)| f)
        .collect();
    let top_within = top
        .iter()
        .filter(|f| f.share.is_some_and(|s| s <= TARGET_SHARE))
        .count();
    let worst_top = top.iter().filter_map(|f| f.share).fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "\n**Latency: {within} of {} queries within {TARGET_RATIO}x** (median ratio {:.2}x, worst {:.2}x). \
         **Master bytes: {top_within} of {} top-N queries within 1%** of the raw bytes scanned (worst {}).\n",
        ratios.len(),
        median(&ratios),
        ratios.iter().copied().fold(0.0, f64::max),
        top.len(),
        percent(worst_top)
    );
    let closed: usize = x
        .measured
        .queries
        .iter()
        .flat_map(|q| &q.master)
        .map(|d| d.closed)
        .sum();
    if closed > 0 {
        let _ = writeln!(
            out,
            "Warning: {closed} of the master's TCP sockets closed during timed runs; what they received after \
             the first sample is missing from the master's bytes.\n"
        );
    }

    senders_table(&mut out, x);
    cpu_table(&mut out, x);
    split_table(&mut out, x);
    runs_table(&mut out, x);

    let _ = writeln!(out, "\n### Queries and answers\n");
    for ((work, runs), scanned) in x.works.iter().zip(&x.measured.queries).zip(x.scanned) {
        let first = runs.answer.first().map(|r| answer::show(std::slice::from_ref(r)));
        let _ = writeln!(
            out,
            "- `{}`: `{}`; rows scanned ({scanned}): `{}`; first row: {}",
            work.query.name,
            work.query.sql,
            work.count_sql(),
            first.unwrap_or_else(|| "(none)".into())
        );
    }
    out
}

/// The master's received bytes by sender.
fn senders_table(out: &mut String, x: &Inputs) {
    let mut peers: Vec<IpAddr> = x.peers.iter().map(|(ip, _)| *ip).collect();
    for runs in &x.measured.queries {
        for delta in &runs.master {
            peers.extend(
                delta
                    .by_peer
                    .keys()
                    .filter(|ip| !peers.contains(ip))
                    .copied()
                    .collect::<Vec<_>>(),
            );
        }
    }
    let name = |ip: &IpAddr| {
        x.peers
            .iter()
            .find(|(p, _)| p == ip)
            .map_or_else(|| ip.to_string(), |(_, n)| n.clone())
    };
    let _ = writeln!(
        out,
        "### What the master received, by sender (bytes, medians over the timed runs)\n"
    );
    let names: Vec<String> = peers.iter().map(name).collect();
    let _ = writeln!(out, "| query | total | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|---:|{}", "---:|".repeat(peers.len()));
    for (work, runs) in x.works.iter().zip(&x.measured.queries) {
        let total = median(&runs.master.iter().map(|d| d.tcp as f64).collect::<Vec<_>>());
        let cells: Vec<String> = peers
            .iter()
            .map(|ip| {
                let from: Vec<f64> = runs
                    .master
                    .iter()
                    .map(|d| d.by_peer.get(ip).copied().unwrap_or(0) as f64)
                    .collect();
                format!("{:.0}", median(&from))
            })
            .collect();
        let _ = writeln!(out, "| {} | {total:.0} | {} |", work.query.name, cells.join(" | "));
    }
    let _ = writeln!(
        out,
        "\n(client: the harness's Flight SQL connection, i.e. the request; the others: the workers' streams.)\n"
    );
}

/// Where the CPU time went: the standalone node against each cluster process, medians per run.
fn cpu_table(out: &mut String, x: &Inputs) {
    let procs = &x.measured.processes;
    let _ = writeln!(
        out,
        "### Where the time goes (CPU ms per run, medians; utime+stime from `/proc/PID/stat`)\n"
    );
    let _ = writeln!(
        out,
        "| query | standalone wall ms | standalone CPU ms | distributed wall ms | cluster CPU ms | {} | master `rchar` |",
        procs.join(" | ")
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|{}---:|", "---:|".repeat(procs.len()));
    for (i, (work, runs)) in x.works.iter().zip(&x.measured.queries).enumerate() {
        let f = figures(x, i);
        let per_proc: Vec<f64> = (0..procs.len())
            .map(|p| median(&runs.cluster_cpu_ms.iter().map(|r| r[p]).collect::<Vec<_>>()))
            .collect();
        let total = median(&runs.cluster_cpu_ms.iter().map(|r| r.iter().sum()).collect::<Vec<_>>());
        let rchar = median(&runs.master.iter().map(|d| d.rchar as f64).collect::<Vec<_>>());
        let cells: Vec<String> = per_proc.iter().map(|c| format!("{c:.0}")).collect();
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.0} | {:.1} | {total:.0} | {} | {} |",
            work.query.name,
            f.standalone_ms,
            median(&runs.standalone_cpu_ms),
            f.distributed_ms,
            cells.join(" | "),
            bytes(rchar)
        );
    }
    let _ = writeln!(
        out,
        "\n(CPU ms are sampled at 10 ms ticks. `rchar` of the master's `/proc/PID/io` does not count its network \
         reads: Linux adds to it in read(2) but not in recv(2), which Rust's `TcpStream` uses.)\n"
    );
}

/// The data set per slave.
fn split_table(out: &mut String, x: &Inputs) {
    let _ = writeln!(out, "### The data set per slave\n");
    let _ = writeln!(out, "| slave | exporter directories | files | MB | flows |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for s in x.shares {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {} |",
            s.name,
            s.exporters.join(", "),
            s.files,
            s.bytes as f64 / 1e6,
            s.rows
        );
    }
}

/// Every timed run.
fn runs_table(out: &mut String, x: &Inputs) {
    let _ = writeln!(out, "\n### Runs (timed runs in order)\n");
    let _ = writeln!(
        out,
        "| query | standalone ms | distributed ms | master received bytes |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let list = |v: &[f64]| v.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>().join(", ");
    for (work, runs) in x.works.iter().zip(&x.measured.queries) {
        let received: Vec<String> = runs.master.iter().map(|d| d.tcp.to_string()).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            work.query.name,
            list(&runs.standalone_ms),
            list(&runs.distributed_ms),
            received.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Spec;
    use crate::netio::Delta;
    use crate::rounds::QueryRuns;

    #[test]
    fn ratios_shares_and_verdicts() {
        let spec = Spec::new(1000, 1, 6);
        let works = crate::workload::all(&spec);
        let n = works.len();
        let measured = Measured {
            queries: (0..n)
                .map(|i| QueryRuns {
                    standalone_ms: vec![10.0, 11.0, 12.0],
                    distributed_ms: vec![12.0, 13.0, 14.0 + i as f64],
                    master: vec![
                        Delta {
                            rchar: 5,
                            tcp: 240,
                            by_peer: [(IpAddr::from([127, 0, 0, 10]), 200), (IpAddr::from([127, 0, 0, 1]), 40)].into(),
                            closed: 0
                        };
                        3
                    ],
                    standalone_cpu_ms: vec![20.0; 3],
                    cluster_cpu_ms: vec![vec![1.0, 2.0, 3.0]; 3],
                    answer: vec![vec!["1".into()]],
                })
                .collect(),
            processes: vec!["master".into(), "p1".into(), "s1".into()],
        };
        let dataset = Dataset {
            data_dir: "/d".into(),
            spec,
            files: 6,
            bytes: 16_000,
            row_groups: 6,
            rows: 1000,
            built_in: None,
        };
        let plans = vec!["ProxyMergeExec PartialReduce".to_string(); n];
        let scanned = vec![1000u64; n];
        let inputs = Inputs {
            command: "cmd".into(),
            machine: "m".into(),
            load: (None, None),
            flowfold_version: "flowfold 0".into(),
            threads: 2,
            warmup: 1,
            runs: 3,
            rewarm: true,
            dataset: &dataset,
            shares: &[],
            works: &works,
            plans: &plans,
            scanned: &scanned,
            measured: &measured,
            peers: &[(IpAddr::from([127, 0, 0, 10]), "p1".into())],
        };
        // top_src_bytes: 1000 rows x 24 B = 24 kB scanned, 240 B received: exactly 1%.
        let f = figures(&inputs, 0);
        assert!((f.ratio - 1.3 / 1.1).abs() < 1e-9, "{f:?}");
        assert_eq!(f.raw, 24_000);
        assert_eq!(f.share, Some(0.01));
        let text = markdown(&inputs);
        assert!(
            text.contains("| top 10 source addresses by bytes | Partial -> proxy -> Final | 11.0 | 13.0 | 1.18x | met | 240 B | 1000 | 24.0 kB (24 B/row: src_addr, bytes) | 1.00% | met |"),
            "{text}"
        );
        assert!(text.contains("| count of all flows |"), "{text}");
        assert!(text.contains("0 (no column read) | - | (not top-N) |"), "{text}");
        // top_dst_ports reads 2 B/row: 240 of 2000 B is 12%.
        assert!(text.contains("| 12.00% | NOT met |"), "{text}");
        assert!(
            text.contains("**Master bytes: 3 of 4 top-N queries within 1%**"),
            "{text}"
        );
        assert!(text.contains("**Latency: 7 of 7 queries within 1.3x**"), "{text}");
        assert!(text.contains("| query | total | p1 | 127.0.0.1 |"), "{text}");
        assert!(text.contains("| top_src_bytes | 240 | 200 | 40 |"), "{text}");
    }

    #[test]
    fn bytes_and_percentages_read_well() {
        assert_eq!(bytes(812.0), "812 B");
        assert_eq!(bytes(45_600.0), "45.6 kB");
        assert_eq!(bytes(1_234_000.0), "1.23 MB");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(percent(0.000_012_3), "0.0012%");
    }
}
