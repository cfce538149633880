//! Flags of the proxy forwarding benchmark.

use std::path::{Path, PathBuf};

use crate::ingest_args::parse_rate;

/// Proxy forwarding benchmark (issue 5): `flowfold proxy` in both models against nfcapd's
/// repeater (`-R`) and pmacct's tee plugin (nfacctd), in one run: the generator's NetFlow v9 at
/// rising rates into each forwarder, counting sinks behind it.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "flowfold-proxy-bench", about)]
pub struct Args {
    /// The flowfold binary (the proxy under test and the generator).
    #[arg(long, default_value = "target/release/flowfold")]
    pub flowfold: PathBuf,
    /// The generator binary, run as `GEN gen --target ...` (defaults to `--flowfold`).
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// The nfcapd binary (peer: `nfcapd -R`).
    #[arg(long, default_value = "nfcapd")]
    pub nfcapd: PathBuf,
    /// The nfacctd binary (peer: pmacct's tee plugin).
    #[arg(long, default_value = "nfacctd")]
    pub nfacctd: PathBuf,
    /// Forwarders under test, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "flow-source,round-robin,nfcapd,tee,tee-copy"
    )]
    pub forwarders: Vec<ForwarderKind>,
    /// Downstream target counts to run every forwarder with (each a full rising-rate run).
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    pub targets: Vec<usize>,
    /// Offered rates in flows/s, rising (k and M suffixes allowed).
    #[arg(long, value_delimiter = ',', value_parser = parse_rate,
          default_value = "100k,200k,400k,800k,1.2M,1.6M,2M")]
    pub rates: Vec<u64>,
    /// Seconds of load per step.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Exporters the generator simulates (127.0.1.1, .2, ...; each its own v9 source id). A
    /// multiple of 3 spreads them evenly over 3 targets in the flow-source model.
    #[arg(long, default_value_t = 6)]
    pub exporters: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A step whose achieved send rate is below this fraction of the offered rate is sender-bound.
    #[arg(long, default_value_t = 0.95)]
    pub sender_tolerance: f64,
    /// Receive buffer of every forwarder's listening socket (nfcapd `-B`, nfacctd
    /// `nfacctd_pipe_size`, flowfold `[ingest] recv_buffer`), capped by `net.core.rmem_max`.
    #[arg(long, default_value_t = 4 << 20)]
    pub recv_buffer: usize,
    /// Directory for the work files (a fresh temporary directory inside it is used and removed
    /// afterwards, unless --keep).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep the work directory (logs, configurations) for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Also append the Markdown section to this file (e.g. `benches/RESULTS.md`).
    #[arg(long)]
    pub append_results: Option<PathBuf>,
}

impl Args {
    /// The generator binary.
    pub fn generator(&self) -> &Path {
        self.generator.as_deref().unwrap_or(&self.flowfold)
    }

    /// Flows offered at one step of `rate` flows/s.
    pub fn flows_for(&self, rate: u64) -> u64 {
        ((rate as f64) * self.seconds).round().max(1.0) as u64
    }

    /// Rejects flag combinations that cannot run.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.rates.windows(2).any(|w| w[0] >= w[1]) {
            anyhow::bail!("--rates must rise: {:?}", self.rates);
        }
        if let Some(&n) = self.targets.iter().find(|&&n| !(1..=MAX_TARGETS).contains(&n)) {
            anyhow::bail!("--targets: {n} is not between 1 and {MAX_TARGETS} (nfcapd repeats to at most 8)");
        }
        if self.seconds <= 0.0 {
            anyhow::bail!("--seconds must be positive");
        }
        Ok(())
    }
}

/// Most downstream targets (nfcapd's `-R` limit).
pub const MAX_TARGETS: usize = 8;

/// A forwarder under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwarderKind {
    /// `flowfold proxy --model flow-source`: each exporter's datagrams, unchanged in a relay
    /// frame, to the one target that owns the exporter.
    FlowSource,
    /// `flowfold proxy --model round-robin` (`spread = "datagram"`, the default): each
    /// datagram's records to one target in turn, re-packed, in relay frames; templates to
    /// every target.
    RoundRobin,
    /// `flowfold proxy --model round-robin` with `spread = "record"`: every datagram's records
    /// dealt over all targets one by one (one datagram per target per datagram).
    RoundRobinRecord,
    /// nfdump's `nfcapd -R`: a collector (it also stores the flows) that repeats every datagram
    /// to every target.
    Nfcapd,
    /// pmacct's `nfacctd` with `plugins: tee`, one pool of the targets balanced by exporter
    /// address (`balance-alg=hash-crc32`): every datagram to one target, like the flow-source
    /// model.
    Tee,
    /// pmacct's tee with one pool per target: every datagram to every target, like `nfcapd -R`.
    TeeCopy,
}

impl ForwarderKind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            ForwarderKind::FlowSource => "flowfold flow-source",
            ForwarderKind::RoundRobin => "flowfold round-robin",
            ForwarderKind::RoundRobinRecord => "flowfold round-robin (by record)",
            ForwarderKind::Nfcapd => "nfcapd -R",
            ForwarderKind::Tee => "nfacctd tee (by exporter)",
            ForwarderKind::TeeCopy => "nfacctd tee (copy)",
        }
    }

    /// Whether this is flowfold (the rest are the peers).
    pub fn is_flowfold(self) -> bool {
        matches!(
            self,
            ForwarderKind::FlowSource | ForwarderKind::RoundRobin | ForwarderKind::RoundRobinRecord
        )
    }

    /// Copies of each flow it should deliver with `targets` targets: a repeater duplicates, the
    /// others partition.
    pub fn copies(self, targets: usize) -> u64 {
        match self {
            ForwarderKind::Nfcapd | ForwarderKind::TeeCopy => targets as u64,
            _ => 1,
        }
    }

    /// What it does with a datagram, for the report.
    pub fn job(self) -> &'static str {
        match self {
            ForwarderKind::FlowSource => "each datagram once, to its exporter's target (framed)",
            ForwarderKind::RoundRobin => "each datagram's records to one target in turn, re-packed (framed)",
            ForwarderKind::RoundRobinRecord => "records split over the targets, re-packed (framed)",
            ForwarderKind::Nfcapd => "every datagram to every target, and stores the flows",
            ForwarderKind::Tee => "each datagram once, to a target chosen by exporter",
            ForwarderKind::TeeCopy => "every datagram to every target",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_run_every_forwarder_with_one_and_three_targets() {
        let args = Args::parse_from(["b"]);
        assert_eq!(args.targets, vec![1, 3]);
        assert_eq!(args.forwarders.len(), 5);
        assert!(args.check().is_ok());
        assert_eq!(args.flows_for(200_000), 600_000);
        let quick = Args::parse_from(["b", "--rates", "20k,40k", "--seconds", "1", "--forwarders", "tee-copy"]);
        assert_eq!(quick.rates, vec![20_000, 40_000]);
        assert_eq!(quick.forwarders, vec![ForwarderKind::TeeCopy]);
        assert!(Args::parse_from(["b", "--rates", "40k,20k"]).check().is_err());
        assert!(Args::parse_from(["b", "--targets", "9"]).check().is_err());
    }

    #[test]
    fn repeaters_owe_a_copy_per_target_the_others_one() {
        assert_eq!(ForwarderKind::Nfcapd.copies(3), 3);
        assert_eq!(ForwarderKind::TeeCopy.copies(3), 3);
        assert_eq!(ForwarderKind::Tee.copies(3), 1);
        assert_eq!(ForwarderKind::FlowSource.copies(3), 1);
        assert_eq!(ForwarderKind::RoundRobin.copies(1), 1);
        assert!(ForwarderKind::RoundRobin.is_flowfold() && !ForwarderKind::Tee.is_flowfold());
    }
}
