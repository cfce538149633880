//! The results: one Markdown section (printed on stdout and pasteable into `benches/RESULTS.md`)
//! with every step, each collector's summary, and the ratios against the targets.

use std::fmt::Write;
use std::time::Duration;

use crate::args::CollectorKind;
use crate::steps::{CollectorRun, Outcome, Step};

/// Targets of issue 2.
const TARGET_RATIO: f64 = 2.0;
const TARGET_FLOWS_PER_CPU_S: f64 = 2.9e6;
const TARGET_BYTES_PER_FLOW: f64 = 18.0;
const TARGET_RSS: u64 = 256 << 20;
const RSS_RATE: u64 = 1_000_000;
const TARGET_FRESHNESS: Duration = Duration::from_secs(1);

/// Machine and command facts printed above the tables.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The command line of this run.
    pub command: String,
    /// Free-form facts (date, cores, kernel, receive-buffer limit).
    pub facts: Vec<String>,
}

/// One collector's headline figures, taken at its highest lossless step.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    /// Highest lossless step, if any.
    pub best: Option<&'a Step>,
    /// The collector never lost a flow (the run ended sender-bound or ran out of rates), so
    /// `best` is a lower bound of its lossless rate.
    pub lower_bound: bool,
}

impl<'a> Summary<'a> {
    /// Summarises a run.
    pub fn of(run: &'a CollectorRun) -> Self {
        let best = run
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::Lossless)
            .max_by_key(|s| s.offered);
        let lower_bound = run.error.is_none() && run.steps.last().is_some_and(|s| s.outcome != Outcome::Lossy);
        Summary { best, lower_bound }
    }

    /// Highest lossless offered rate (0 if none).
    pub fn lossless_rate(&self) -> u64 {
        self.best.map_or(0, |s| s.offered)
    }
}

/// Flows stored per CPU-second during the load.
fn flows_per_cpu_s(step: &Step) -> Option<f64> {
    (step.cpu_load > 0.0).then(|| step.stored as f64 / step.cpu_load)
}

/// CPU-seconds per million stored flows during the load (none when below the clock tick).
fn cpu_per_million(step: &Step) -> Option<f64> {
    (step.stored > 0 && step.cpu_load > 0.0).then(|| step.cpu_load * 1e6 / step.stored as f64)
}

/// Stored bytes per stored flow.
fn bytes_per_flow(step: &Step) -> Option<f64> {
    (step.stored > 0).then(|| step.bytes as f64 / step.stored as f64)
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

fn per_cpu_s(step: &Step) -> String {
    flows_per_cpu_s(step).map_or("-".to_string(), |v| format!("{:.2}M", v / 1e6))
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

fn rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else {
        format!("{:.0}k", value / 1e3)
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass { "met" } else { "NOT met" }
}

/// The whole Markdown section.
pub fn markdown(runs: &[CollectorRun], context: &Context) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Ingest: flowfold vs nfcapd (end-to-end, same run)\n");
    let _ = writeln!(out, "Command: `{}`\n", context.command);
    for fact in &context.facts {
        let _ = writeln!(out, "- {fact}");
    }
    let _ = writeln!(
        out,
        "- The generator runs on the same 2 cores as the collector, so a step is marked sender-bound when \
         it sent below the offered rate; its CPU is shown as `gen CPU s`.\n"
    );
    steps_table(&mut out, runs);
    summary_table(&mut out, runs);
    targets(&mut out, runs);
    out
}

fn steps_table(out: &mut String, runs: &[CollectorRun]) {
    let _ = writeln!(out, "### Steps\n");
    let _ = writeln!(
        out,
        "| collector | offered/s | achieved/s | sent | stored | lost | outcome | CPU s (load) | flows per CPU s | \
         CPU s per M flows | CPU s (life) | RSS MB (ingest) | RSS MB (life) | bytes/flow | gen CPU s |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut notes = Vec::new();
    for run in runs {
        for s in &run.steps {
            let per_m = cpu_per_million(s);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {:.2} | {} | {} | {} | {:.2} |",
                run.kind.name(),
                rate(s.offered as f64),
                rate(s.sent.rate),
                s.sent.flows,
                s.stored,
                s.sent.flows.saturating_sub(s.stored),
                s.outcome.name(),
                s.cpu_load,
                per_cpu_s(s),
                opt(per_m, 3),
                s.cpu_total,
                mb(s.peak_rss),
                mb(s.peak_rss_total),
                opt(bytes_per_flow(s), 1),
                s.sent.cpu_seconds,
            );
        }
        for s in run.steps.iter().filter(|s| s.sent.send_errors > 0) {
            notes.push(format!(
                "{} at {}: the generator could not send {} datagrams",
                run.kind.name(),
                rate(s.offered as f64),
                s.sent.send_errors
            ));
        }
        for s in run
            .steps
            .iter()
            .filter(|s| s.metrics_stored.is_some_and(|m| m != s.stored))
        {
            notes.push(format!(
                "{} at {}: `flowfold_flows_stored_total` was {} before SIGTERM, the stored count {}",
                run.kind.name(),
                rate(s.offered as f64),
                s.metrics_stored.unwrap_or_default(),
                s.stored
            ));
        }
        if let Some(error) = &run.error {
            notes.push(format!("{} failed {}", run.kind.name(), error.replace('|', "/")));
        }
    }
    let _ = writeln!(out);
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(out);
}

fn summary_table(out: &mut String, runs: &[CollectorRun]) {
    let _ = writeln!(out, "### Summary (at each collector's highest lossless rate)\n");
    let _ = writeln!(
        out,
        "| collector | highest lossless offered/s | CPU s per M flows | flows per CPU s | RSS MB | bytes/flow | freshness |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    for run in runs {
        let summary = Summary::of(run);
        let mut bound = if summary.lower_bound {
            " (no loss seen: at least)".to_string()
        } else {
            String::new()
        };
        if let Some(last) = run.steps.last().filter(|s| s.outcome == Outcome::SenderBound) {
            bound += &format!(
                "; lossless at {} achieved of {} offered (sender-bound)",
                rate(last.sent.rate),
                rate(last.offered as f64)
            );
        }
        let fresh = freshness_text(&run.freshness);
        match summary.best {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "| {} | {}{} | {} | {} | {} | {} | {} |",
                    run.kind.name(),
                    rate(s.offered as f64),
                    bound,
                    opt(cpu_per_million(s), 3),
                    per_cpu_s(s),
                    mb(s.peak_rss),
                    opt(bytes_per_flow(s), 1),
                    fresh,
                );
            }
            None => {
                let _ = writeln!(out, "| {} | none | - | - | - | - | {} |", run.kind.name(), fresh);
            }
        }
    }
    let _ = writeln!(out);
}

fn freshness_text(samples: &[Option<Duration>]) -> String {
    if samples.is_empty() {
        return "-".to_string();
    }
    let parts: Vec<String> = samples
        .iter()
        .map(|s| s.map_or("timeout".to_string(), |d| format!("{:.2} s", d.as_secs_f64())))
        .collect();
    parts.join(", ")
}

fn targets(out: &mut String, runs: &[CollectorRun]) {
    let find = |kind| runs.iter().find(|r| r.kind == kind);
    let _ = writeln!(out, "### Targets (issue 2)\n");
    let _ = writeln!(out, "| target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|");
    let flowfold = find(CollectorKind::Flowfold);
    let ff = flowfold.map(Summary::of);
    let nf = find(CollectorKind::Nfcapd).map(Summary::of);
    match (ff, nf) {
        (Some(ff), Some(nf)) if nf.lossless_rate() > 0 => {
            let ratio = ff.lossless_rate() as f64 / nf.lossless_rate() as f64;
            let bound = match (ff.lower_bound, nf.lower_bound) {
                (_, true) => " (nfcapd never lost flows: not conclusive)",
                (true, false) => " (flowfold never lost flows: a lower bound)",
                (false, false) => "",
            };
            let _ = writeln!(
                out,
                "| lossless rate >= {TARGET_RATIO}x nfcapd | {} / {} = {ratio:.2}x{bound} | {} |",
                rate(ff.lossless_rate() as f64),
                rate(nf.lossless_rate() as f64),
                verdict(ratio >= TARGET_RATIO)
            );
        }
        _ => {
            let _ = writeln!(out, "| lossless rate >= {TARGET_RATIO}x nfcapd | not measured | - |");
        }
    }
    let best = ff.and_then(|s| s.best);
    match best.and_then(flows_per_cpu_s) {
        Some(v) => {
            let _ = writeln!(
                out,
                "| >= 2.9M flows per CPU s | {} | {} |",
                rate(v),
                verdict(v >= TARGET_FLOWS_PER_CPU_S)
            );
        }
        None => {
            let _ = writeln!(out, "| >= 2.9M flows per CPU s | not measured | - |");
        }
    }
    match best.and_then(bytes_per_flow) {
        Some(v) => {
            let _ = writeln!(
                out,
                "| <= 18 bytes per flow | {v:.1} | {} |",
                verdict(v <= TARGET_BYTES_PER_FLOW)
            );
        }
        None => {
            let _ = writeln!(out, "| <= 18 bytes per flow | not measured | - |");
        }
    }
    let at_1m = flowfold.and_then(|r| {
        r.steps
            .iter()
            .filter(|s| s.offered >= RSS_RATE)
            .min_by_key(|s| s.offered)
    });
    match at_1m {
        Some(s) => {
            let _ = writeln!(
                out,
                "| RSS <= 256 MB at 1M flows/s | {} MB at {} offered ({}) | {} |",
                mb(s.peak_rss),
                rate(s.offered as f64),
                s.outcome.name(),
                verdict(s.peak_rss <= TARGET_RSS)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "| RSS <= 256 MB at 1M flows/s | no step at 1M flows/s or above | - |"
            );
        }
    }
    let samples = flowfold.map(|r| r.freshness.as_slice()).unwrap_or_default();
    if samples.is_empty() {
        let _ = writeln!(out, "| freshness <= 1 s | not measured | - |");
    } else {
        let worst = samples.iter().try_fold(Duration::ZERO, |w, s| s.map(|d| w.max(d)));
        let text = worst.map_or("timeout".to_string(), |d| format!("worst {:.2} s", d.as_secs_f64()));
        let _ = writeln!(
            out,
            "| freshness <= 1 s | {text} | {} |",
            verdict(worst.is_some_and(|d| d <= TARGET_FRESHNESS))
        );
    }
    let _ = writeln!(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Sent;

    fn step(offered: u64, stored: u64, outcome: Outcome) -> Step {
        Step {
            offered,
            sent: Sent {
                flows: offered * 4,
                datagrams: 0,
                send_errors: 0,
                seconds: 4.0,
                rate: offered as f64,
                cpu_seconds: 1.0,
            },
            stored,
            cpu_load: stored as f64 / 3e6,
            cpu_total: 1.0,
            peak_rss: 100 << 20,
            peak_rss_total: 120 << 20,
            bytes: stored * 16,
            metrics_stored: None,
            outcome,
        }
    }

    fn runs() -> Vec<CollectorRun> {
        let nfcapd = CollectorRun {
            kind: CollectorKind::Nfcapd,
            steps: vec![
                step(400_000, 1_600_000, Outcome::Lossless),
                step(800_000, 3_000_000, Outcome::Lossy),
            ],
            freshness: vec![],
            error: None,
        };
        let flowfold = CollectorRun {
            kind: CollectorKind::Flowfold,
            steps: vec![
                step(800_000, 3_200_000, Outcome::Lossless),
                step(1_000_000, 4_000_000, Outcome::Lossless),
                step(1_600_000, 6_000_000, Outcome::Lossy),
            ],
            freshness: vec![Some(Duration::from_millis(300)), Some(Duration::from_millis(700))],
            error: None,
        };
        vec![nfcapd, flowfold]
    }

    #[test]
    fn summary_takes_the_highest_lossless_step() {
        let runs = runs();
        let nf = Summary::of(&runs[0]);
        assert_eq!(nf.lossless_rate(), 400_000);
        assert!(!nf.lower_bound);
        assert_eq!(Summary::of(&runs[1]).lossless_rate(), 1_000_000);
    }

    #[test]
    fn markdown_reports_ratio_and_targets() {
        let text = markdown(
            &runs(),
            &Context {
                command: "bench".into(),
                facts: vec!["2 cores".into()],
            },
        );
        assert!(text.contains("| 1.00M / 400k = 2.50x | met |"), "{text}");
        assert!(text.contains("| >= 2.9M flows per CPU s | 3.00M | met |"), "{text}");
        assert!(text.contains("| <= 18 bytes per flow | 16.0 | met |"), "{text}");
        assert!(
            text.contains("| 100.0 MB at 1.00M offered (lossless) | met |"),
            "{text}"
        );
        assert!(text.contains("| worst 0.70 s | met |"), "{text}");
        assert!(
            text.contains("| nfcapd | 800k | 800k | 3200000 | 3000000 | 200000 | lossy |"),
            "{text}"
        );
    }

    #[test]
    fn a_run_without_loss_is_marked_as_a_lower_bound() {
        let mut all = runs();
        all[1].steps.pop();
        all[1].freshness = vec![None];
        let text = markdown(&all, &Context::default());
        assert!(
            text.contains("= 2.50x (flowfold never lost flows: a lower bound) | met |"),
            "{text}"
        );
        assert!(text.contains("| freshness <= 1 s | timeout | NOT met |"), "{text}");
        let mut short = step(1_600_000, 6_400_000, Outcome::SenderBound);
        short.sent.rate = 1.3e6;
        all[1].steps.push(short);
        let text = markdown(&all, &Context::default());
        assert!(
            text.contains(
                "| 1.00M (no loss seen: at least); lossless at 1.30M achieved of 1.60M offered (sender-bound) |"
            ),
            "{text}"
        );
    }

    #[test]
    fn send_errors_counter_mismatches_and_failures_become_notes() {
        let mut all = runs();
        all[0].steps[1].sent.send_errors = 5;
        all[0].steps[1].outcome = Outcome::SendErrors;
        all[1].steps[0].metrics_stored = Some(3_199_990);
        all[1].error = Some("freshness: flowfold | died".into());
        let text = markdown(&all, &Context::default());
        assert!(
            text.contains("- nfcapd at 800k: the generator could not send 5 datagrams"),
            "{text}"
        );
        assert!(
            text.contains("was 3199990 before SIGTERM, the stored count 3200000"),
            "{text}"
        );
        assert!(text.contains("- flowfold failed freshness: flowfold / died"), "{text}");
        // nfcapd's run ended without a lossy step, so its rate is only a lower bound.
        assert!(
            text.contains("= 2.50x (nfcapd never lost flows: not conclusive) | met |"),
            "{text}"
        );
    }
}
