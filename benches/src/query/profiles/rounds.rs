//! The timed rounds of the profile benchmark: every pair on the one node, the channel query and
//! the hand-written one alternating which goes first, their answers compared on every run.

use std::time::Duration;

use anyhow::bail;

use super::workload::Pair;
use crate::answer::{self, Row};
use crate::node::Node;
use crate::procs;

/// Timings of one pair.
#[derive(Debug, Clone, Default)]
pub struct PairTimes {
    /// The channel (view) query, timed runs, ms.
    pub view: Vec<f64>,
    /// The hand-written query, timed runs, ms.
    pub hand: Vec<f64>,
    /// The answer both gave.
    pub answer: Vec<Row>,
}

/// Fails, showing both answers, unless the view's answer equals the hand-written query's.
pub fn check(name: &str, view: &[Row], hand: &[Row]) -> anyhow::Result<()> {
    if view == hand {
        return Ok(());
    }
    bail!(
        "the channel view and the hand-written query disagree on {name}:\n  view: {}\n  hand: {}",
        answer::show(view),
        answer::show(hand)
    )
}

/// Runs `warmup` untimed and `runs` timed rounds of every pair.
pub fn run(pairs: &[Pair], node: &mut Node, warmup: usize, runs: usize) -> anyhow::Result<Vec<PairTimes>> {
    let mut measured = vec![PairTimes::default(); pairs.len()];
    for round in 0..warmup + runs {
        let timed = round >= warmup;
        let view_first = round % 2 == 0;
        eprint!(
            "round {}/{}{}:",
            round + 1,
            warmup + runs,
            if timed { "" } else { " (warm-up)" }
        );
        for (pair, times) in pairs.iter().zip(&mut measured) {
            if procs::interrupted() {
                bail!("interrupted");
            }
            let (view, hand) = if view_first {
                let view = node.run(&pair.view_sql)?;
                (view, node.run(&pair.hand_sql)?)
            } else {
                let hand = node.run(&pair.hand_sql)?;
                (node.run(&pair.view_sql)?, hand)
            };
            check(&pair.name, &view.1, &hand.1)?;
            if timed {
                times.view.push(ms(view.0));
                times.hand.push(ms(hand.0));
            }
            times.answer = view.1;
            eprint!(" {} {:.0}/{:.0}", pair.name, ms(view.0), ms(hand.0));
        }
        eprintln!(" (view/hand ms)");
    }
    Ok(measured)
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_different_answer_fails_loudly() {
        let a = vec![vec!["1".to_string()]];
        let b = vec![vec!["2".to_string()]];
        assert!(check("q", &a, &a).is_ok());
        let err = check("web.https/count", &a, &b).expect_err("differs").to_string();
        assert!(
            err.contains("web.https/count") && err.contains("view: 1") && err.contains("hand: 2"),
            "{err}"
        );
    }
}
