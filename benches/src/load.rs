//! The offered load: `flowfold gen` sending NetFlow v9 to a collector, and its JSON summary.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::procs::Proc;

/// One generator run.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    /// Generator binary (run as `GEN gen ...`).
    pub generator: &'a Path,
    /// Collector address.
    pub target: SocketAddr,
    /// Simulated exporters.
    pub exporters: u32,
    /// Flows to send.
    pub flows: u64,
    /// Target rate in flows/s (0 = as fast as possible).
    pub rate: u64,
    /// Seed.
    pub seed: u64,
}

/// What the generator reports having sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    /// Flows sent.
    pub flows: u64,
    /// Datagrams sent.
    pub datagrams: u64,
    /// Datagrams the kernel refused to send (their flows are counted in `flows`).
    pub send_errors: u64,
    /// Seconds spent sending.
    pub seconds: f64,
    /// Achieved rate in flows/s.
    pub rate: f64,
    /// CPU seconds the generator used (it shares the 2 cores with the collector).
    pub cpu_seconds: f64,
}

impl Load<'_> {
    /// Runs the generator to completion (bounded by a timeout) and parses its summary.
    pub fn run(&self, name: &str, log_dir: &Path) -> anyhow::Result<Sent> {
        let mut cmd = Command::new(self.generator);
        cmd.arg("gen")
            .args(["--target", &self.target.to_string()])
            .args(["--exporters", &self.exporters.to_string()])
            .args(["--flows", &self.flows.to_string()])
            .args(["--rate", &self.rate.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--formats", "v9"]);
        let expected = if self.rate > 0 {
            self.flows as f64 / self.rate as f64
        } else {
            0.0
        };
        let timeout = Duration::from_secs_f64(expected * 3.0 + 60.0);
        let mut proc = Proc::spawn(name, cmd, log_dir)?;
        let Some(exit) = proc.wait_timeout(timeout)? else {
            proc.kill();
            bail!("generator {name} did not finish within {timeout:?}");
        };
        if exit.code != 0 {
            bail!(
                "generator {name} failed with code {}: {}",
                exit.code,
                proc.stderr_tail()
            );
        }
        let (stdout, _) = proc.output();
        let mut sent = parse_summary(&stdout).with_context(|| format!("generator {name} printed no summary"))?;
        sent.cpu_seconds = exit.cpu_seconds;
        Ok(sent)
    }
}

/// The last JSON object line of the generator's stdout. The achieved rate is taken from the first
/// of `rate`, `achieved_rate`, `flows_per_second`, `flows_per_sec` present, else flows / seconds.
pub fn parse_summary(stdout: &str) -> anyhow::Result<Sent> {
    let value = stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find(|v| v.is_object())
        .context("no JSON object line")?;
    let number = |key: &str| value.get(key).and_then(serde_json::Value::as_f64);
    let flows = value
        .get("flows")
        .and_then(serde_json::Value::as_u64)
        .context("summary has no integer `flows`")?;
    let count = |key: &str| value.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let (datagrams, send_errors) = (count("datagrams"), count("send_errors"));
    let seconds = number("seconds").unwrap_or(0.0);
    let rate = ["rate", "achieved_rate", "flows_per_second", "flows_per_sec"]
        .into_iter()
        .find_map(number)
        .unwrap_or(if seconds > 0.0 { flows as f64 / seconds } else { 0.0 });
    Ok(Sent {
        flows,
        datagrams,
        send_errors,
        seconds,
        rate,
        cpu_seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_the_last_json_line() {
        let out = "starting\n{\"flows\": 1}\n{\"flows\":80000,\"datagrams\":2000,\"send_errors\":3,\"seconds\":2.0,\"flows_per_second\":39990.5,\"exporters\":[]}\n";
        let sent = parse_summary(out).expect("summary");
        assert_eq!(sent.flows, 80_000);
        assert_eq!(sent.datagrams, 2000);
        assert_eq!(sent.send_errors, 3);
        assert_eq!(sent.rate, 39_990.5);
    }

    #[test]
    fn rate_falls_back_to_flows_over_seconds() {
        let sent = parse_summary("{\"flows\":1000,\"seconds\":0.5}").expect("summary");
        assert_eq!(sent.rate, 2000.0);
        assert_eq!(sent.send_errors, 0);
        assert!(parse_summary("no json here").is_err());
        assert!(parse_summary("{\"datagrams\":3}").is_err());
    }
}
