//! The measurement: for one collector, steps of rising offered rate (a fresh collector and data
//! directory per step) until the first step that is not lossless; then flowfold's freshness.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::args::{Args, CollectorKind};
use crate::collectors::Collector;
use crate::load::{Load, Sent};
use crate::procs;

/// How long a collector may keep working after the generator ends before its counters are read.
const DRAIN_MAX: Duration = Duration::from_secs(15);
/// How long one freshness sample may wait for its flow to appear.
const FRESHNESS_TIMEOUT: Duration = Duration::from_secs(10);

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every sent flow was stored, at (close to) the offered rate.
    Lossless,
    /// Some flows were not stored.
    Lossy,
    /// Every flow was stored, but the generator could not reach the offered rate.
    SenderBound,
    /// The generator failed to send some datagrams, so the step says nothing about the collector.
    SendErrors,
}

impl Outcome {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Lossless => "lossless",
            Outcome::Lossy => "lossy",
            Outcome::SenderBound => "sender-bound",
            Outcome::SendErrors => "send-errors",
        }
    }
}

/// One offered rate against one collector.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offered rate in flows/s.
    pub offered: u64,
    /// What the generator sent.
    pub sent: Sent,
    /// Flows the collector stored.
    pub stored: u64,
    /// Collector CPU seconds from just before the load to when it went idle after it.
    pub cpu_load: f64,
    /// Collector CPU seconds over its whole life (start-up, load, stop and sealing).
    pub cpu_total: f64,
    /// Collector peak RSS (`VmHWM`) in bytes while ingesting, read before it was stopped.
    pub peak_rss: u64,
    /// Collector peak RSS over its whole life, sealing on SIGTERM included (`ru_maxrss`).
    pub peak_rss_total: u64,
    /// Bytes of stored data (flowfold: sealed Parquet; nfcapd: its files).
    pub bytes: u64,
    /// flowfold: `flowfold_flows_stored_total` before stopping, as a cross-check.
    pub metrics_stored: Option<u64>,
    /// Verdict.
    pub outcome: Outcome,
}

/// Every step of one collector, and how the run ended.
#[derive(Debug, Clone)]
pub struct CollectorRun {
    /// Which collector.
    pub kind: CollectorKind,
    /// Steps in order of rising rate.
    pub steps: Vec<Step>,
    /// flowfold: seconds from sending a datagram to its flow answering `flowfold sql` (None =
    /// not visible within the timeout).
    pub freshness: Vec<Option<Duration>>,
    /// Why the run stopped early, if it failed.
    pub error: Option<String>,
}

/// Runs every step for `kind` under `work`, stopping at the first step that is not lossless.
pub fn run_collector(kind: CollectorKind, args: &Args, work: &Path) -> CollectorRun {
    let mut run = CollectorRun {
        kind,
        steps: Vec::new(),
        freshness: Vec::new(),
        error: None,
    };
    for (index, &rate) in args.rates.iter().enumerate() {
        if procs::interrupted() {
            run.error = Some("interrupted".to_string());
            return run;
        }
        eprintln!(
            "[{}] offering {rate} flows/s ({} flows)",
            kind.name(),
            args.flows_for(rate)
        );
        match run_step(kind, args, work, index, rate) {
            Ok(step) => {
                eprintln!(
                    "[{}]   sent {} at {:.0}/s, stored {}: {}",
                    kind.name(),
                    step.sent.flows,
                    step.sent.rate,
                    step.stored,
                    step.outcome.name()
                );
                let done = step.outcome != Outcome::Lossless;
                run.steps.push(step);
                if done {
                    break;
                }
            }
            Err(e) => {
                eprintln!("[{}]   failed: {e:#}", kind.name());
                run.error = Some(format!("at {rate} flows/s: {e:#}"));
                return run;
            }
        }
    }
    if kind == CollectorKind::Flowfold && args.freshness_samples > 0 {
        match freshness(args, work) {
            Ok(samples) => run.freshness = samples,
            Err(e) => run.error = Some(format!("freshness: {e:#}")),
        }
    }
    run
}

fn run_step(kind: CollectorKind, args: &Args, work: &Path, index: usize, rate: u64) -> anyhow::Result<Step> {
    let name = format!("{}-{index}", kind.name());
    let data = work.join(&name);
    let mut collector = Collector::start(kind, args, &data, work, &name)?;
    let pid = collector.pid();
    let cpu_before = procs::cpu_seconds(pid)?;
    let load = Load {
        generator: args.generator(),
        target: collector.target,
        exporters: args.exporters,
        flows: args.flows_for(rate),
        rate,
        seed: args.seed,
    };
    let sent = load.run(&format!("gen-{name}"), work)?;
    collector.check_alive()?;
    procs::wait_idle(pid, DRAIN_MAX)?;
    let cpu_load = procs::cpu_seconds(pid)? - cpu_before;
    let peak_rss = procs::peak_rss(pid)?;
    let metrics_stored = collector.metrics_stored().unwrap_or(None);
    let stored = collector.finish()?;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(Step {
        offered: rate,
        sent,
        stored: stored.flows,
        cpu_load,
        cpu_total: stored.exit.cpu_seconds,
        peak_rss,
        peak_rss_total: stored.exit.max_rss.max(peak_rss),
        bytes: stored.bytes,
        metrics_stored,
        outcome: classify(rate, &sent, stored.flows, args.sender_tolerance),
    })
}

/// Send errors first (those flows were never offered); then lossy if any sent flow is missing;
/// else sender-bound if the generator fell short of the offered rate by more than the tolerance;
/// else lossless.
pub fn classify(offered: u64, sent: &Sent, stored: u64, tolerance: f64) -> Outcome {
    if sent.send_errors > 0 {
        Outcome::SendErrors
    } else if stored < sent.flows {
        Outcome::Lossy
    } else if sent.rate < offered as f64 * tolerance {
        Outcome::SenderBound
    } else {
        Outcome::Lossless
    }
}

/// Sends one flow at a time to a fresh flowfold and polls `flowfold sql` until it is counted.
/// The clock starts before the generator is spawned, so its start-up is included (an upper bound).
fn freshness(args: &Args, work: &Path) -> anyhow::Result<Vec<Option<Duration>>> {
    eprintln!("[flowfold] freshness: {} samples", args.freshness_samples);
    let data = work.join("flowfold-freshness");
    let collector = Collector::start(CollectorKind::Flowfold, args, &data, work, "flowfold-freshness")?;
    let mut expected = 0;
    let mut samples = Vec::new();
    for i in 0..args.freshness_samples {
        let start = Instant::now();
        let load = Load {
            generator: args.generator(),
            target: collector.target,
            exporters: 1,
            flows: 1,
            rate: 0,
            seed: args.seed + 1000 + u64::from(i),
        };
        expected += load.run("gen-freshness", work)?.flows;
        let mut seen = None;
        while start.elapsed() < FRESHNESS_TIMEOUT {
            if collector.sql_count().is_ok_and(|n| n >= expected) {
                seen = Some(start.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("[flowfold]   sample {i}: {seen:?}");
        samples.push(seen);
    }
    collector.finish()?;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(flows: u64, rate: f64) -> Sent {
        Sent {
            flows,
            datagrams: flows / 30,
            send_errors: 0,
            seconds: flows as f64 / rate,
            rate,
            cpu_seconds: 0.0,
        }
    }

    #[test]
    fn refused_datagrams_void_a_step() {
        let refused = Sent {
            send_errors: 2,
            ..sent(400_000, 100_000.0)
        };
        assert_eq!(classify(100_000, &refused, 399_000, 0.95), Outcome::SendErrors);
        assert_eq!(classify(100_000, &refused, 400_000, 0.95), Outcome::SendErrors);
    }

    #[test]
    fn missing_flows_make_a_step_lossy_even_when_sender_bound() {
        assert_eq!(
            classify(100_000, &sent(400_000, 99_000.0), 400_000, 0.95),
            Outcome::Lossless
        );
        assert_eq!(
            classify(100_000, &sent(400_000, 99_000.0), 399_999, 0.95),
            Outcome::Lossy
        );
        assert_eq!(
            classify(2_000_000, &sent(8_000_000, 1_500_000.0), 8_000_000, 0.95),
            Outcome::SenderBound
        );
        assert_eq!(
            classify(2_000_000, &sent(8_000_000, 1_500_000.0), 7_000_000, 0.95),
            Outcome::Lossy
        );
    }
}
