//! The measurement: for one forwarder and one number of targets, steps of rising offered rate
//! (fresh sinks and a fresh forwarder per step) until the first step that is not lossless.

use std::path::Path;
use std::time::Duration;

use crate::args::{Args, ForwarderKind};
use crate::forwarders::Running;
use crate::load::{Load, Sent};
use crate::procs;
use crate::proctree;
use crate::sink::{self, Sinks, Tally};

/// How long a forwarder may keep working after the generator ends.
const DRAIN_MAX: Duration = Duration::from_secs(15);
/// Sinks are done when nothing arrived for this long.
const SINK_QUIET: Duration = Duration::from_millis(300);

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every flow reached every target it should, at (close to) the offered rate.
    Lossless,
    /// Some flow or copy did not arrive.
    Lossy,
    /// Nothing lost, but the generator could not reach the offered rate.
    SenderBound,
    /// The generator failed to send some datagrams: the step says nothing about the forwarder.
    SendErrors,
    /// A sink's socket dropped datagrams: the harness, not the forwarder, lost them.
    SinkDrops,
}

impl Outcome {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Lossless => "lossless",
            Outcome::Lossy => "lossy",
            Outcome::SenderBound => "sender-bound",
            Outcome::SendErrors => "send-errors",
            Outcome::SinkDrops => "sink-drops",
        }
    }
}

/// One offered rate through one forwarder.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offered rate in flows/s.
    pub offered: u64,
    /// What the generator sent.
    pub sent: Sent,
    /// Flows that reached at least one sink.
    pub delivered: u64,
    /// Flow records received over all sinks (copies included).
    pub copies: u64,
    /// Copies owed: sent flows x copies per flow.
    pub expected_copies: u64,
    /// Datagrams received over all sinks (what the forwarder sent: its cost is mostly per
    /// datagram).
    pub datagrams: u64,
    /// Per sink: flows received.
    pub per_sink: Vec<u64>,
    /// Data sets the sinks could not count (template unknown) and malformed datagrams.
    pub uncounted: u64,
    /// Forwarder (process tree) CPU seconds from before the load until it was idle.
    pub cpu: f64,
    /// The user-space part of `cpu` (the rest is the kernel: receiving, sending, loopback
    /// delivery to the sinks).
    pub cpu_user: f64,
    /// Harness CPU seconds over the same span (the sinks' threads, mostly).
    pub sink_cpu: f64,
    /// Kernel drops on the forwarder's listening socket.
    pub rx_drops: u64,
    /// Kernel drops on the sinks' sockets.
    pub sink_drops: u64,
    /// Verdict.
    pub outcome: Outcome,
}

impl Step {
    /// Forwarded flows (delivered at least once) per forwarder CPU-second.
    pub fn flows_per_cpu_s(&self) -> Option<f64> {
        (self.cpu > 0.0).then(|| self.delivered as f64 / self.cpu)
    }
}

/// Every step of one forwarder with one number of targets.
#[derive(Debug, Clone)]
pub struct Run {
    /// Which forwarder.
    pub kind: ForwarderKind,
    /// Downstream targets.
    pub targets: usize,
    /// Steps in order of rising rate.
    pub steps: Vec<Step>,
    /// Why the run stopped early, if it failed.
    pub error: Option<String>,
}

/// Runs every rate for `kind` with `targets` sinks, stopping at the first step that is not
/// lossless.
pub fn run(kind: ForwarderKind, targets: usize, args: &Args, work: &Path) -> Run {
    let mut run = Run {
        kind,
        targets,
        steps: Vec::new(),
        error: None,
    };
    for (index, &rate) in args.rates.iter().enumerate() {
        if procs::interrupted() {
            run.error = Some("interrupted".to_string());
            break;
        }
        let label = format!("{} x{targets}", kind.name());
        eprintln!("[{label}] offering {rate} flows/s ({} flows)", args.flows_for(rate));
        match step(kind, targets, args, work, index, rate) {
            Ok(step) => {
                eprintln!(
                    "[{label}]   sent {} at {:.0}/s; {} datagrams at the sinks; delivered {} ({} copies of {} owed), \
                     CPU {:.2} s: {}",
                    step.sent.flows,
                    step.sent.rate,
                    step.datagrams,
                    step.delivered,
                    step.copies,
                    step.expected_copies,
                    step.cpu,
                    step.outcome.name()
                );
                let done = step.outcome != Outcome::Lossless;
                run.steps.push(step);
                if done {
                    break;
                }
            }
            Err(e) => {
                eprintln!("[{label}]   failed: {e:#}");
                run.error = Some(format!("at {rate} flows/s: {e:#}"));
                break;
            }
        }
    }
    run
}

fn step(
    kind: ForwarderKind,
    targets: usize,
    args: &Args,
    work: &Path,
    index: usize,
    rate: u64,
) -> anyhow::Result<Step> {
    let slug: String = kind
        .name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("{slug}-x{targets}-{index}");
    let dir = work.join(&name);
    let sinks = Sinks::start(targets)?;
    let mut forwarder = Running::start(kind, args, sinks.addrs(), &dir, &name)?;
    let pid = forwarder.pid();
    let me = std::process::id() as i32;
    let (cpu_before, me_before) = (proctree::tree_cpu(pid)?, procs::cpu_seconds(me)?);
    let rx_before = proctree::udp_drops(forwarder.listen.port());
    let sink_before: u64 = sinks.addrs().iter().map(|a| proctree::udp_drops(a.port())).sum();
    let load = Load {
        generator: args.generator(),
        target: forwarder.listen,
        exporters: args.exporters,
        flows: args.flows_for(rate),
        rate,
        seed: args.seed,
    };
    let sent = load.run(&format!("gen-{name}"), &dir)?;
    forwarder.check_alive()?;
    proctree::wait_tree_idle(pid, DRAIN_MAX)?;
    sinks.wait_quiet(SINK_QUIET, DRAIN_MAX);
    let cpu_after = proctree::tree_cpu(pid)?;
    let cpu = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let sink_cpu = procs::cpu_seconds(me)? - me_before;
    let rx_drops = proctree::udp_drops(forwarder.listen.port()).saturating_sub(rx_before);
    let sink_drops = sinks
        .addrs()
        .iter()
        .map(|a| proctree::udp_drops(a.port()))
        .sum::<u64>()
        .saturating_sub(sink_before);
    forwarder.stop()?;
    let tallies = sinks.finish()?;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(tally_step(
        kind,
        targets,
        rate,
        sent,
        &tallies,
        cpu,
        sink_cpu,
        rx_drops,
        sink_drops,
        args.sender_tolerance,
    ))
}

#[allow(clippy::too_many_arguments)]
fn tally_step(
    kind: ForwarderKind,
    targets: usize,
    offered: u64,
    sent: Sent,
    tallies: &[Tally],
    cpu: (f64, f64),
    sink_cpu: f64,
    rx_drops: u64,
    sink_drops: u64,
    tolerance: f64,
) -> Step {
    let delivered = sink::delivered_once(tallies);
    let copies = tallies.iter().map(|t| t.flows).sum();
    let expected_copies = sent.flows * kind.copies(targets);
    let mut step = Step {
        offered,
        sent,
        delivered,
        copies,
        expected_copies,
        datagrams: tallies.iter().map(|t| t.datagrams).sum(),
        per_sink: tallies.iter().map(|t| t.flows).collect(),
        uncounted: tallies.iter().map(|t| t.unknown_sets + t.malformed).sum(),
        cpu: cpu.0 + cpu.1,
        cpu_user: cpu.0,
        sink_cpu,
        rx_drops,
        sink_drops,
        outcome: Outcome::Lossless,
    };
    step.outcome = classify(&step, tolerance);
    step
}

/// Send errors first (those flows were never offered); then drops at a sink (the harness's
/// loss); then lossy if a flow reached no sink or a copy is missing; else sender-bound if the
/// generator fell short of the offered rate by more than the tolerance; else lossless.
pub fn classify(step: &Step, tolerance: f64) -> Outcome {
    if step.sent.send_errors > 0 {
        Outcome::SendErrors
    } else if step.sink_drops > 0 {
        Outcome::SinkDrops
    } else if step.delivered < step.sent.flows || step.copies < step.expected_copies {
        Outcome::Lossy
    } else if step.sent.rate < step.offered as f64 * tolerance {
        Outcome::SenderBound
    } else {
        Outcome::Lossless
    }
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
            cpu_seconds: 1.0,
        }
    }

    fn tally(seen: &[(u64, u32)]) -> Tally {
        Tally {
            datagrams: seen.len() as u64,
            flows: seen.iter().map(|s| u64::from(s.1)).sum(),
            seen: seen.to_vec(),
            ..Tally::default()
        }
    }

    #[test]
    fn a_repeater_owes_every_copy_a_proxy_each_flow_once() {
        // 30 flows in three datagrams; the repeater got all three to the first sink but one
        // copy short on the second: every flow arrived once, yet a copy is missing.
        let full = tally(&[(1, 10), (2, 10), (3, 10)]);
        let short = tally(&[(1, 10), (3, 10)]);
        let s = tally_step(
            ForwarderKind::Nfcapd,
            2,
            100,
            sent(30, 100.0),
            &[full.clone(), short],
            (0.3, 0.2),
            0.1,
            0,
            0,
            0.95,
        );
        assert_eq!((s.delivered, s.copies, s.expected_copies), (30, 50, 60));
        assert_eq!(s.outcome, Outcome::Lossy);
        assert_eq!(s.per_sink, vec![30, 20]);
        assert_eq!(s.flows_per_cpu_s(), Some(60.0));
        // A proxy that split the same datagrams over two sinks delivered everything.
        let split = [tally(&[(1, 10), (3, 10)]), tally(&[(2, 10)])];
        let s = tally_step(
            ForwarderKind::FlowSource,
            2,
            100,
            sent(30, 100.0),
            &split,
            (0.3, 0.2),
            0.1,
            0,
            0,
            0.95,
        );
        assert_eq!(s.outcome, Outcome::Lossless);
        let s = tally_step(
            ForwarderKind::FlowSource,
            2,
            100,
            sent(30, 80.0),
            &split,
            (0.3, 0.2),
            0.1,
            0,
            0,
            0.95,
        );
        assert_eq!(s.outcome, Outcome::SenderBound);
    }

    #[test]
    fn sink_drops_and_send_errors_void_a_step() {
        let all = [tally(&[(1, 10), (2, 10), (3, 10)])];
        let s = tally_step(
            ForwarderKind::Tee,
            1,
            100,
            sent(30, 100.0),
            &all,
            (0.3, 0.2),
            0.1,
            0,
            3,
            0.95,
        );
        assert_eq!(s.outcome, Outcome::SinkDrops);
        let mut refused = sent(30, 100.0);
        refused.send_errors = 1;
        let s = tally_step(ForwarderKind::Tee, 1, 100, refused, &all, (0.3, 0.2), 0.1, 0, 0, 0.95);
        assert_eq!(s.outcome, Outcome::SendErrors);
        let s = tally_step(
            ForwarderKind::Tee,
            1,
            100,
            sent(31, 100.0),
            &all,
            (0.3, 0.2),
            0.1,
            7,
            0,
            0.95,
        );
        assert_eq!(s.outcome, Outcome::Lossy);
        assert_eq!(s.rx_drops, 7);
    }
}
