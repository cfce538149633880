//! The two collectors under test: start on a fresh data directory, stop with SIGTERM, count the
//! flows they stored and the bytes they used.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::args::{Args, CollectorKind};
use crate::procs::{self, Exit, Proc};

/// nfcapd's socket buffer, as the issue specifies (`-B`).
const NFCAPD_BUFFER: &str = "4194304";
/// How long a collector may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a collector may take to stop (flowfold seals its windows on SIGTERM).
const STOP_TIMEOUT: Duration = Duration::from_secs(180);

/// A running collector.
#[derive(Debug)]
pub struct Collector {
    kind: CollectorKind,
    proc: Proc,
    /// Where the load is sent.
    pub target: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
    metrics: Option<SocketAddr>,
    flowfold: PathBuf,
    nfdump: PathBuf,
    log_dir: PathBuf,
}

/// What a collector stored, counted after it stopped.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    /// Flows stored.
    pub flows: u64,
    /// Bytes of its data files (flowfold: sealed Parquet only).
    pub bytes: u64,
    /// Its exit and whole-life resource usage.
    pub exit: Exit,
}

impl Collector {
    /// Starts `kind` on `data` (created if needed) and waits until it listens.
    pub fn start(kind: CollectorKind, args: &Args, data: &Path, log_dir: &Path, name: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let (proc, target, metrics) = match kind {
            CollectorKind::Nfcapd => start_nfcapd(args, data, log_dir, name)?,
            CollectorKind::Flowfold => start_flowfold(args, data, log_dir, name)?,
        };
        Ok(Collector {
            kind,
            proc,
            target,
            data: data.to_path_buf(),
            metrics,
            flowfold: args.flowfold.clone(),
            nfdump: args.nfdump.clone(),
            log_dir: log_dir.to_path_buf(),
        })
    }

    /// Process id.
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }

    /// Fails if the collector has already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(exit) = self.proc.try_reap()? {
            bail!(
                "{} exited early (code {}): {}",
                self.kind.name(),
                exit.code,
                self.proc.stderr_tail()
            );
        }
        Ok(())
    }

    /// flowfold only: the sum of `flowfold_flows_stored_total` over exporters, from `/metrics`.
    pub fn metrics_stored(&self) -> anyhow::Result<Option<u64>> {
        let Some(addr) = self.metrics else { return Ok(None) };
        let text = http_get(addr, "/metrics")?;
        Ok(Some(sum_counter(&text, "flowfold_flows_stored_total")))
    }

    /// flowfold only: `SELECT count(*)` through `flowfold sql` (works while it runs).
    pub fn sql_count(&self) -> anyhow::Result<u64> {
        sql_count(&self.flowfold, &self.data, &self.log_dir)
    }

    /// SIGTERM, wait for it to end (flowfold seals its windows), then count what it stored.
    pub fn finish(mut self) -> anyhow::Result<Stored> {
        let exit = self.proc.stop(STOP_TIMEOUT)?;
        if exit.code != 0 && exit.code != 128 + libc::SIGTERM {
            bail!(
                "{} ended with code {}: {}",
                self.kind.name(),
                exit.code,
                self.proc.stderr_tail()
            );
        }
        let (flows, bytes) = match self.kind {
            CollectorKind::Nfcapd => {
                let (out, err) = self.proc.output();
                let flows = match parse_nfcapd_summary(&out).or_else(|| parse_nfcapd_summary(&err)) {
                    Some(n) => n,
                    None => nfdump_count(&self.nfdump, &self.data, &self.log_dir)?,
                };
                (flows, dir_bytes(&self.data, &|_| true))
            }
            CollectorKind::Flowfold => {
                let flows = sql_count(&self.flowfold, &self.data, &self.log_dir)?;
                // Sealed windows and their rollups: everything stored per flow.
                let stored = |p: &Path| p.extension().is_some_and(|e| e == "parquet" || e == "rollup");
                (flows, dir_bytes(&self.data.join("flows"), &stored))
            }
        };
        Ok(Stored { flows, bytes, exit })
    }
}

fn start_nfcapd(
    args: &Args,
    data: &Path,
    log_dir: &Path,
    name: &str,
) -> anyhow::Result<(Proc, SocketAddr, Option<SocketAddr>)> {
    // The free port is probed and then handed over, so another process may take it in between:
    // retry a few times with a new port.
    let mut last_error = None;
    for _ in 0..3 {
        let port = procs::free_udp_port()?;
        let mut cmd = Command::new(&args.nfcapd);
        cmd.arg("-w")
            .arg(data)
            .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-B", NFCAPD_BUFFER]);
        let mut proc = Proc::spawn(name, cmd, log_dir)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if procs::udp_port_bound(port) {
                return Ok((proc, SocketAddr::from(([127, 0, 0, 1], port)), None));
            }
            if let Some(exit) = proc.try_reap()? {
                last_error = Some(format!("nfcapd exited with code {}: {}", exit.code, proc.stderr_tail()));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if last_error.is_none() {
            bail!("nfcapd did not bind port {port} within {READY_TIMEOUT:?}");
        }
    }
    bail!("{}", last_error.unwrap_or_else(|| "nfcapd did not start".to_string()))
}

fn start_flowfold(
    args: &Args,
    data: &Path,
    log_dir: &Path,
    name: &str,
) -> anyhow::Result<(Proc, SocketAddr, Option<SocketAddr>)> {
    let ready = log_dir.join(format!("{name}.ready.json"));
    let _ = std::fs::remove_file(&ready);
    let mut cmd = Command::new(&args.flowfold);
    cmd.arg("standalone").arg("--data").arg(data);
    cmd.args(["--flows", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--ready-file"])
        .arg(&ready);
    cmd.env("FLOWFOLD_LOG", "warn");
    let mut proc = Proc::spawn(name, cmd, log_dir)?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let (target, metrics) = parse_ready(&text).with_context(|| format!("ready file {}", ready.display()))?;
            return Ok((proc, target, Some(metrics)));
        }
        if let Some(exit) = proc.try_reap()? {
            bail!("flowfold exited with code {}: {}", exit.code, proc.stderr_tail());
        }
        if Instant::now() >= deadline {
            bail!("flowfold wrote no ready file within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// First flow address and the metrics address of flowfold's ready file.
fn parse_ready(text: &str) -> anyhow::Result<(SocketAddr, SocketAddr)> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let addr = |v: Option<&serde_json::Value>| -> anyhow::Result<SocketAddr> {
        Ok(v.and_then(serde_json::Value::as_str)
            .context("missing address")?
            .parse()?)
    };
    let flows = addr(value.get("flows").and_then(|f| f.get(0))).context("flows[0]")?;
    let metrics = addr(value.get("metrics")).context("metrics")?;
    Ok((flows, metrics))
}

/// `flowfold sql --format json "SELECT count(*) AS n FROM flows"` over `data`.
pub fn sql_count(flowfold: &Path, data: &Path, log_dir: &Path) -> anyhow::Result<u64> {
    let mut cmd = Command::new(flowfold);
    cmd.args(["sql", "--format", "json", "--data"])
        .arg(data)
        .arg("SELECT count(*) AS n FROM flows");
    cmd.env("FLOWFOLD_LOG", "warn");
    let mut proc = Proc::spawn("flowfold-sql", cmd, log_dir)?;
    let Some(exit) = proc.wait_timeout(Duration::from_secs(120))? else {
        proc.kill();
        bail!("flowfold sql did not finish within 120 s");
    };
    if exit.code != 0 {
        bail!("flowfold sql failed with code {}: {}", exit.code, proc.stderr_tail());
    }
    let (out, _) = proc.output();
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find_map(|v| v.get("n").and_then(serde_json::Value::as_u64))
        .with_context(|| format!("no count in flowfold sql output: {out:?}"))
}

/// `nfdump -R DIR -q -o csv`, one line per flow.
fn nfdump_count(nfdump: &Path, data: &Path, log_dir: &Path) -> anyhow::Result<u64> {
    let mut cmd = Command::new(nfdump);
    cmd.arg("-R").arg(data).args(["-q", "-o", "csv"]);
    let mut proc = Proc::spawn("nfdump", cmd, log_dir)?;
    if proc.wait_timeout(Duration::from_secs(300))?.is_none() {
        proc.kill();
        bail!("nfdump did not finish within 300 s");
    }
    let (out, _) = proc.output();
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count() as u64)
}

/// The flow count of nfcapd's summary line (`Ident: 'none' Flows: 20000, Packets: ...`).
fn parse_nfcapd_summary(output: &str) -> Option<u64> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with("Ident:") && l.contains("Flows:"))?;
    let rest = &line[line.find("Flows:")? + "Flows:".len()..];
    rest.split(',').next()?.trim().parse().ok()
}

/// Total size of the files under `dir` accepted by `keep`.
fn dir_bytes(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(m) if m.is_dir() => total += dir_bytes(&path, keep),
            Ok(m) if keep(&path) => total += m.len(),
            _ => {}
        }
    }
    total
}

/// A minimal HTTP/1.0 GET, returning the body.
fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200") => Ok(body.to_string()),
        _ => bail!(
            "GET {path} from {addr}: unexpected response {:?}",
            response.lines().next()
        ),
    }
}

/// Sum of every sample of counter `name` (all label sets) in Prometheus text format.
fn sum_counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfcapd_summary_gives_the_flow_count() {
        let out = "Process_v9: New v9 exporter\nIdent: 'none' Flows: 20000, Packets: 40000, Bytes: 2199\nTerminating nfcapd.\n";
        assert_eq!(parse_nfcapd_summary(out), Some(20_000));
        assert_eq!(parse_nfcapd_summary("Terminating nfcapd.\n"), None);
    }

    #[test]
    fn stored_counter_is_summed_over_exporters_only() {
        let text = "# TYPE flowfold_flows_stored counter\n\
                    flowfold_flows_stored_total{exporter=\"127.0.0.10\"} 300\n\
                    flowfold_flows_stored_total{exporter=\"127.0.0.11\"} 200\n\
                    flowfold_flows_stored_total_extra 99\n\
                    flowfold_flows_dropped_total{stage=\"store_queue\"} 7\n";
        assert_eq!(sum_counter(text, "flowfold_flows_stored_total"), 500);
    }

    #[test]
    fn ready_file_gives_flow_and_metrics_addresses() {
        let text = r#"{"pid":7,"data":"/d","flows":["127.0.0.1:40001"],"metrics":"127.0.0.1:40002"}"#;
        let (flows, metrics) = parse_ready(text).expect("ready");
        assert_eq!(flows.port(), 40001);
        assert_eq!(metrics.port(), 40002);
        assert!(parse_ready(r#"{"flows":[]}"#).is_err());
    }

    #[test]
    fn dir_bytes_filters_recursively() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("a/b")).expect("mkdir");
        std::fs::write(dir.path().join("a/b/x.parquet"), [0u8; 100]).expect("write");
        std::fs::write(dir.path().join("a/y.arrow"), [0u8; 50]).expect("write");
        let parquet = |p: &Path| p.extension().is_some_and(|e| e == "parquet");
        assert_eq!(dir_bytes(dir.path(), &parquet), 100);
        assert_eq!(dir_bytes(dir.path(), &|_| true), 150);
        assert_eq!(dir_bytes(&dir.path().join("missing"), &|_| true), 0);
    }
}
