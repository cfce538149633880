//! Flags of the ingest benchmark, and parsing of rates such as `800k` or `1.2M`.

use std::path::PathBuf;

/// End-to-end ingest benchmark: the generator's NetFlow v9 stream at rising rates, offered to
/// nfcapd and then to flowfold in the same run.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "flowfold-benches", about)]
pub struct Args {
    /// The flowfold binary (collector under test, and `flowfold sql`).
    #[arg(long, default_value = "target/release/flowfold")]
    pub flowfold: PathBuf,
    /// The generator binary, run as `GEN gen --target ...` (defaults to `--flowfold`).
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// The nfcapd binary.
    #[arg(long, default_value = "nfcapd")]
    pub nfcapd: PathBuf,
    /// The nfdump binary (fallback flow count for nfcapd).
    #[arg(long, default_value = "nfdump")]
    pub nfdump: PathBuf,
    /// Offered rates in flows/s, rising (k and M suffixes allowed).
    #[arg(long, value_delimiter = ',', value_parser = parse_rate,
          default_value = "100k,200k,400k,800k,1M,1.2M,1.6M,2M")]
    pub rates: Vec<u64>,
    /// Seconds of load per step (flows per step = rate x seconds, unless --flows-per-step).
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Fixed number of flows per step (overrides --seconds).
    #[arg(long, value_parser = parse_rate)]
    pub flows_per_step: Option<u64>,
    /// Number of exporters the generator simulates.
    #[arg(long, default_value_t = 4)]
    pub exporters: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A step whose achieved send rate is below this fraction of the offered rate is sender-bound.
    #[arg(long, default_value_t = 0.95)]
    pub sender_tolerance: f64,
    /// Which collectors to run.
    #[arg(long, value_delimiter = ',', default_value = "nfcapd,flowfold")]
    pub collectors: Vec<CollectorKind>,
    /// Freshness samples taken on flowfold (0 skips the measurement).
    #[arg(long, default_value_t = 3)]
    pub freshness_samples: u32,
    /// Directory for the collectors' data (a fresh temporary directory inside it is used and
    /// removed afterwards, unless --keep).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep the data directories for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Also write the Markdown section to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

impl Args {
    /// The generator binary.
    pub fn generator(&self) -> &std::path::Path {
        self.generator.as_deref().unwrap_or(&self.flowfold)
    }

    /// Flows offered at one step of `rate` flows/s.
    pub fn flows_for(&self, rate: u64) -> u64 {
        match self.flows_per_step {
            Some(n) => n,
            None => ((rate as f64) * self.seconds).round().max(1.0) as u64,
        }
    }
}

/// A collector under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CollectorKind {
    /// nfdump's nfcapd (the peer).
    Nfcapd,
    /// `flowfold standalone`.
    Flowfold,
}

impl CollectorKind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            CollectorKind::Nfcapd => "nfcapd",
            CollectorKind::Flowfold => "flowfold",
        }
    }
}

/// Parses a count or rate such as `20000`, `400k`, `1.2M` (powers of 1000).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, scale) = match text.chars().last() {
        Some('k' | 'K') => (&text[..text.len() - 1], 1e3),
        Some('m' | 'M') => (&text[..text.len() - 1], 1e6),
        _ => (text, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| format!("not a rate: {text:?}"))?;
    let scaled = (value * scale).round();
    if !(1.0..=1e12).contains(&scaled) {
        return Err(format!("rate out of range: {text:?}"));
    }
    Ok(scaled as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn rates_parse_with_decimal_suffixes() {
        assert_eq!(parse_rate("20000"), Ok(20_000));
        assert_eq!(parse_rate("400k"), Ok(400_000));
        assert_eq!(parse_rate("1.2M"), Ok(1_200_000));
        assert_eq!(parse_rate(" 2m "), Ok(2_000_000));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("").is_err());
    }

    #[test]
    fn flows_per_step_follow_seconds_unless_fixed() {
        let args = Args::parse_from(["b", "--rates", "20000,40k", "--seconds", "2"]);
        assert_eq!(args.rates, vec![20_000, 40_000]);
        assert_eq!(args.flows_for(40_000), 80_000);
        assert_eq!(args.generator(), std::path::Path::new("target/release/flowfold"));
        let fixed = Args::parse_from(["b", "--flows-per-step", "1M", "--collectors", "flowfold"]);
        assert_eq!(fixed.flows_for(40_000), 1_000_000);
        assert_eq!(fixed.collectors, vec![CollectorKind::Flowfold]);
    }
}
