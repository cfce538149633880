//! The timed rounds: every query on both engines, the engine order flipping every round so that
//! neither always runs on the caches the other just warmed. Answers are compared on every run.

use std::time::Duration;

use anyhow::bail;

use crate::answer::{self, Row};
use crate::duck::Duck;
use crate::node::Node;
use crate::procs;
use crate::queries::Query;

/// Medians live in their own module, shared with the distributed benchmark.
pub use crate::median::median;

/// Timings of one query on both engines.
#[derive(Debug, Clone, Default)]
pub struct QueryTimes {
    /// flowfold, timed runs, ms.
    pub flowfold: Vec<f64>,
    /// DuckDB, timed runs, ms.
    pub duckdb: Vec<f64>,
    /// The answer both engines gave.
    pub answer: Vec<Row>,
}

/// What all rounds measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Per query, in the order of the queries.
    pub queries: Vec<QueryTimes>,
    /// Sum of every run's time (warm-ups included) per engine: flowfold, DuckDB.
    pub busy: (Duration, Duration),
}

/// Runs `warmup` untimed and `runs` timed rounds.
pub fn run(
    queries: &[Query],
    node: &mut Node,
    duck: &mut Duck,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<Measured> {
    let mut measured = Measured {
        queries: vec![QueryTimes::default(); queries.len()],
        ..Measured::default()
    };
    for round in 0..warmup + runs {
        let timed = round >= warmup;
        let flowfold_first = round % 2 == 0;
        eprint!(
            "round {}/{}{}:",
            round + 1,
            warmup + runs,
            if timed { "" } else { " (warm-up)" }
        );
        for (i, query) in queries.iter().enumerate() {
            if procs::interrupted() {
                bail!("interrupted");
            }
            let (ours, theirs) = if flowfold_first {
                let ours = node.run(&query.sql)?;
                (ours, duck.run(i)?)
            } else {
                let theirs = duck.run(i)?;
                (node.run(&query.sql)?, theirs)
            };
            answer::check(query.name, &ours.1, &theirs.1)?;
            measured.busy.0 += ours.0;
            measured.busy.1 += theirs.0;
            let times = &mut measured.queries[i];
            if timed {
                times.flowfold.push(ms(ours.0));
                times.duckdb.push(ms(theirs.0));
            }
            times.answer = ours.1;
            eprint!(" {} {:.0}/{:.0} ms", query.name, ms(ours.0), ms(theirs.0));
        }
        eprintln!();
    }
    Ok(measured)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
