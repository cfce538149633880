//! `flowfold gen`: deterministic NetFlow v5/v9/IPFIX export over UDP, one source address per
//! exporter, paced to a flow rate, with its ground truth written as Parquet. Prints one JSON
//! summary line on stdout. `--flows 0` runs until SIGINT/SIGTERM with flow times following the
//! wall clock; either signal ends any run cleanly (truth closed, summary printed).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use datasets::generator::{ExportFormat, GenConfig, Generator};
use datasets::send::{self, SendConfig};
use datasets::truth::TruthWriter;

/// Flags of `flowfold gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Collector address.
    #[arg(long, default_value = "127.0.0.1:2055")]
    pub target: SocketAddr,
    /// Number of exporters, each sending from its own address.
    #[arg(long, default_value_t = 4)]
    pub exporters: usize,
    /// Flows to send; 0 = until killed, with flow times following the wall clock.
    #[arg(long, default_value_t = 1_000_000)]
    pub flows: u64,
    /// Flows per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 200_000)]
    pub rate: u64,
    /// Seed: the same seed and flags give the same flows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Export formats, assigned to exporters round-robin (v5, v9, ipfix).
    #[arg(long, default_value = "v9,ipfix,v5", value_parser = parse_formats)]
    pub formats: Formats,
    /// Write the ground truth here (Parquet, flow schema) and its totals beside it (.json).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// End time of the first flow: epoch milliseconds or `now`.
    #[arg(long, default_value = "now", value_parser = parse_start)]
    pub start_time: StartTime,
    /// Flow end times spread over this many ms [default: flows / rate, or 300000 at full speed].
    #[arg(long)]
    pub span_ms: Option<i64>,
    /// Address of the first exporter; exporter i sends from this address + i.
    #[arg(long, default_value = "127.0.1.1")]
    pub source_base: Ipv4Addr,
    /// Share of IPv6 flows (never on v5 exporters).
    #[arg(long, default_value_t = 0.10)]
    pub v6_share: f64,
    /// Sampling interval announced by every exporter (truth scaled accordingly).
    #[arg(long)]
    pub sampling_interval: Option<u32>,
    /// Re-send v9/IPFIX templates every N datagrams.
    #[arg(long, default_value_t = 20)]
    pub template_refresh: u32,
    /// Largest datagram in bytes.
    #[arg(long, default_value_t = 1400)]
    pub max_datagram: usize,
}

/// A parsed `--formats` list.
#[derive(Debug, Clone)]
pub struct Formats(pub Vec<ExportFormat>);

fn parse_formats(s: &str) -> Result<Formats, String> {
    let list = ExportFormat::parse_list(s).map_err(|e| e.to_string())?;
    if list.is_empty() {
        return Err("at least one format is needed".into());
    }
    Ok(Formats(list))
}

/// A parsed `--start-time`.
#[derive(Debug, Clone, Copy)]
pub enum StartTime {
    /// The wall clock at start.
    Now,
    /// Epoch milliseconds.
    Ms(i64),
}

fn parse_start(s: &str) -> Result<StartTime, String> {
    if s.eq_ignore_ascii_case("now") {
        return Ok(StartTime::Now);
    }
    s.parse()
        .map(StartTime::Ms)
        .map_err(|_| format!("{s:?} is neither epoch milliseconds nor `now`"))
}

/// The span used when `--span-ms` is not given.
fn default_span_ms(flows: u64, rate: u64) -> i64 {
    if flows > 0 && rate > 0 {
        (u128::from(flows) * 1000 / u128::from(rate)).min(i64::MAX as u128) as i64
    } else {
        300_000
    }
}

/// Sets `stop` on SIGINT or SIGTERM (a small signal thread; the run itself is synchronous).
fn stop_on_signal(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    std::thread::Builder::new().name("gen-signals".into()).spawn(move || {
        rt.block_on(async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.store(true, Ordering::Relaxed);
        });
    })?;
    Ok(())
}

/// Runs `flowfold gen`.
pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let start_ms = match args.start_time {
        StartTime::Now => send::now_ms(),
        StartTime::Ms(ms) => ms,
    };
    let cfg = GenConfig {
        seed: args.seed,
        exporters: args.exporters,
        flows: args.flows,
        start_ms,
        span_ms: args.span_ms.unwrap_or_else(|| default_span_ms(args.flows, args.rate)),
        v6_share: args.v6_share,
        formats: args.formats.0,
        exporter_base: args.source_base,
    };
    let mut generator = Generator::new(cfg).context("generator configuration")?;
    let send_cfg = SendConfig {
        rate: args.rate,
        follow_clock: args.flows == 0,
        template_refresh_packets: args.template_refresh,
        sampling_interval: args.sampling_interval,
        max_datagram: args.max_datagram,
        ..SendConfig::new(args.target)
    };
    let mut truth = match &args.truth {
        Some(path) => Some(TruthWriter::create(path, generator.exporters())?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(Arc::clone(&stop))?;
    let report = send::run(&mut generator, &send_cfg, truth.as_mut(), &stop)
        .with_context(|| format!("sending to {}", args.target))?;
    if let Some(t) = truth {
        t.finish()?;
    }
    let mut line = serde_json::to_value(&report)?;
    if let (Some(obj), Some(path)) = (line.as_object_mut(), &args.truth) {
        obj.insert("truth".into(), path.display().to_string().into());
    }
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        gen_args: GenArgs,
    }

    #[test]
    fn defaults_and_lists_parse() {
        let cli = Cli::try_parse_from(["gen", "--formats", "ipfix,v5", "--start-time", "1700000000000"]).unwrap();
        let a = cli.gen_args;
        assert_eq!(a.target, "127.0.0.1:2055".parse::<SocketAddr>().unwrap());
        assert_eq!(a.formats.0, vec![ExportFormat::Ipfix, ExportFormat::V5]);
        assert!(matches!(a.start_time, StartTime::Ms(1_700_000_000_000)));
        assert_eq!((a.exporters, a.flows, a.rate), (4, 1_000_000, 200_000));
        assert!(Cli::try_parse_from(["gen", "--formats", "v7"]).is_err());
        assert!(Cli::try_parse_from(["gen", "--start-time", "yesterday"]).is_err());
    }

    #[test]
    fn default_span_follows_the_rate() {
        assert_eq!(default_span_ms(1_000_000, 200_000), 5_000);
        assert_eq!(default_span_ms(1_000, 0), 300_000);
        assert_eq!(default_span_ms(0, 1_000), 300_000);
    }
}
