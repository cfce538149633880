//! The Markdown section for `benches/RESULTS.md`: per-query medians and ratios against the
//! issue's target, peak memory, the data set, every run, the queries and their answers.

use std::fmt::Write;

use crate::answer;
use crate::dataset::Dataset;
use crate::queries::Query;
use crate::rounds::{Measured, median};

/// Issue 3's target: flowfold's median time at most this fraction of DuckDB's.
pub const TARGET_RATIO: f64 = 0.5;

/// Memory and CPU of one engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resources {
    /// Peak RSS once ready, before any query, bytes.
    pub rss_at_start: u64,
    /// Peak RSS after every timed round, bytes.
    pub peak_rss: u64,
    /// CPU seconds spent during the rounds.
    pub cpu_seconds: f64,
}

/// Everything the report shows.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The command line.
    pub command: String,
    /// Machine and date.
    pub machine: String,
    /// 1-minute load average before the engines started and after the last round.
    pub load: (Option<f64>, Option<f64>),
    /// `flowfold --version`.
    pub flowfold_version: String,
    /// DuckDB and Python versions, DuckDB's memory limit.
    pub duckdb_version: String,
    /// Python's version.
    pub python_version: String,
    /// DuckDB's memory limit.
    pub duckdb_memory_limit: String,
    /// Threads per engine.
    pub threads: usize,
    /// Warm-up and timed rounds.
    pub warmup: usize,
    /// Timed rounds.
    pub runs: usize,
    /// The data set.
    pub dataset: &'a Dataset,
    /// The queries.
    pub queries: &'a [Query],
    /// Their timings and answers.
    pub measured: &'a Measured,
    /// flowfold's node.
    pub flowfold: Resources,
    /// DuckDB's driver process.
    pub duckdb: Resources,
}

/// flowfold's median / DuckDB's median per query.
pub fn ratios(measured: &Measured) -> Vec<f64> {
    measured
        .queries
        .iter()
        .map(|q| median(&q.flowfold) / median(&q.duckdb).max(f64::MIN_POSITIVE))
        .collect()
}

fn verdict(ratio: f64) -> &'static str {
    if ratio <= TARGET_RATIO { "met" } else { "NOT met" }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The Markdown section.
pub fn markdown(x: &Inputs) -> String {
    let mut out = String::new();
    let d = x.dataset;
    let _ = writeln!(
        out,
        "## Queries (issue 3): flowfold vs DuckDB on the same Parquet files (same run)\n"
    );
    let _ = writeln!(out, "Command: `{}`\n", x.command);
    let load = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
    let _ = writeln!(
        out,
        "- {}; 1-minute load average {} before the engines started, {} after the last round \
         (the engines' own work adds up to about 2)",
        x.machine,
        load(x.load.0),
        load(x.load.1)
    );
    let _ = writeln!(
        out,
        "- {}: `flowfold standalone --query-threads {}` over the data set, timed end to end through Flight SQL \
         from the harness process (planning, execution, transfer and decoding; one connection)",
        x.flowfold_version, x.threads
    );
    let _ = writeln!(
        out,
        "- DuckDB {} (Python {}): `SET threads TO {}`, memory_limit {}; `flows` is a view over \
         `read_parquet('DATA/flows/**/*.parquet', hive_partitioning = false)`; timed in Python around \
         `execute(sql).fetchall()`",
        x.duckdb_version, x.python_version, x.threads, x.duckdb_memory_limit
    );
    let layout = if d.spec.default_layout() {
        "with a node's default settings (5-minute windows sorted by `flow_start`, row groups of up to 262,144 rows)"
            .to_string()
    } else {
        format!(
            "with a NON-default layout (5-minute windows sorted by {:?}, row groups of up to {} rows)",
            d.spec.sort, d.spec.row_group_rows
        )
    };
    let built = match d.built_in {
        Some(t) => format!("built in {:.0} s", t.as_secs_f64()),
        None => "reused from an earlier run".into(),
    };
    let _ = writeln!(
        out,
        "- Data set: {} flows (seed {}, {} exporters, flow ends spread over {} min from 2026-01-01 00:00 UTC), \
         stored through `engine::FlowStore` {layout}: {} Parquet files, {} row groups, {:.1} MB ({:.1} bytes/flow); {built}",
        d.rows,
        d.spec.seed,
        d.spec.exporters,
        d.spec.span_ms / 60_000,
        d.files,
        d.row_groups,
        mb(d.bytes),
        d.bytes as f64 / d.rows.max(1) as f64
    );
    let _ = writeln!(
        out,
        "- {} warm-up and {} timed runs per query and engine, the engine order flipping every round; \
         medians; both engines gave the same answer on every run\n",
        x.warmup, x.runs
    );

    let ratios = ratios(x.measured);
    let _ = writeln!(
        out,
        "| query | flowfold median ms | DuckDB median ms | ratio (flowfold/DuckDB) | target <= {TARGET_RATIO}x |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for ((query, times), ratio) in x.queries.iter().zip(&x.measured.queries).zip(&ratios) {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.2}x | {} |",
            query.label,
            median(&times.flowfold),
            median(&times.duckdb),
            ratio,
            verdict(*ratio)
        );
    }
    let overall = median(&ratios);
    let within = ratios.iter().filter(|r| **r <= TARGET_RATIO).count();
    let _ = writeln!(
        out,
        "\n**Median ratio: {overall:.2}x (target <= {TARGET_RATIO}x): {}** ({within} of {} queries within the target)\n",
        verdict(overall),
        ratios.len()
    );

    let (busy_ff, busy_duck) = x.measured.busy;
    let _ = writeln!(
        out,
        "| engine | RSS at start MB | peak RSS MB | CPU s during the runs | cores busy while querying |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (name, r, busy) in [
        ("flowfold (node, VmHWM)", x.flowfold, busy_ff),
        ("DuckDB (Python process, VmHWM)", x.duckdb, busy_duck),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.1} | {:.1} | {:.2} | {:.2} |",
            mb(r.rss_at_start),
            mb(r.peak_rss),
            r.cpu_seconds,
            r.cpu_seconds / busy.as_secs_f64().max(1e-9)
        );
    }
    let _ = writeln!(
        out,
        "\n(CPU s: the engine process's utime+stime over all rounds, warm-up included; cores busy = that CPU time / \
         the summed query times of that engine.)\n"
    );

    let _ = writeln!(out, "### Runs (ms, timed runs in order)\n");
    let _ = writeln!(out, "| query | flowfold | DuckDB |");
    let _ = writeln!(out, "|---|---|---|");
    let list = |v: &[f64]| v.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>().join(", ");
    for (query, times) in x.queries.iter().zip(&x.measured.queries) {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            query.name,
            list(&times.flowfold),
            list(&times.duckdb)
        );
    }

    let _ = writeln!(out, "\n### Queries and answers\n");
    for (query, times) in x.queries.iter().zip(&x.measured.queries) {
        let first = times.answer.first().map(|r| answer::show(std::slice::from_ref(r)));
        let _ = writeln!(
            out,
            "- `{}`: `{}`; first row: {}",
            query.name,
            query.sql,
            first.unwrap_or_else(|| "(none)".into())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Spec;
    use crate::rounds::QueryTimes;

    #[test]
    fn ratios_verdicts_and_the_table() {
        let spec = Spec::new(1000, 1, 4);
        let queries = crate::queries::all(&spec);
        let measured = Measured {
            queries: queries
                .iter()
                .enumerate()
                .map(|(i, _)| QueryTimes {
                    flowfold: vec![10.0, 13.0, 12.0],
                    duckdb: vec![[20.0, 24.0, 30.0, 40.0, 60.0][i]; 3],
                    answer: vec![vec!["1".into()]],
                })
                .collect(),
            busy: (std::time::Duration::from_secs(1), std::time::Duration::from_secs(2)),
        };
        let r = ratios(&measured);
        assert!((r[0] - 0.6).abs() < 1e-9 && (r[1] - 0.5).abs() < 1e-9);
        let dataset = Dataset {
            data_dir: "/d".into(),
            spec,
            files: 4,
            bytes: 16_000,
            row_groups: 4,
            rows: 1000,
            built_in: None,
        };
        let text = markdown(&Inputs {
            command: "cmd".into(),
            machine: "m".into(),
            load: (Some(0.1), None),
            flowfold_version: "flowfold 0".into(),
            duckdb_version: "2".into(),
            python_version: "3".into(),
            duckdb_memory_limit: "1 GiB".into(),
            threads: 2,
            warmup: 1,
            runs: 3,
            dataset: &dataset,
            queries: &queries,
            measured: &measured,
            flowfold: Resources::default(),
            duckdb: Resources::default(),
        });
        assert!(
            text.contains("| top 10 source addresses by bytes | 12.0 | 20.0 | 0.60x | NOT met |"),
            "{text}"
        );
        assert!(
            text.contains("**Median ratio: 0.40x (target <= 0.5x): met** (4 of 5"),
            "{text}"
        );
    }
}
