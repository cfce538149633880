//! The flowfold side: a `flowfold standalone` node over the data set (or any flowfold process
//! that serves Flight SQL, such as a master), queried through Flight SQL from this process, timed
//! end to end (planning, execution, transfer and decoding).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flight::SqlClient;

use crate::answer::{self, Row};
use crate::procs::{self, Exit, Proc};

/// How long the node may take to write its ready file.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the node may take to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running node and a Flight SQL connection to it.
#[derive(Debug)]
pub struct Node {
    proc: Proc,
    client: SqlClient,
    runtime: tokio::runtime::Runtime,
}

impl Node {
    /// Starts `flowfold standalone` on `data` with `threads` query threads (loopback ports picked
    /// by the node, logs in `log_dir`) and connects to its Flight SQL service.
    pub fn start(flowfold: &Path, data: &Path, threads: usize, log_dir: &Path) -> anyhow::Result<Node> {
        let mut cmd = Command::new(flowfold);
        cmd.arg("standalone")
            .arg("--data")
            .arg(data)
            .args([
                "--flows",
                "127.0.0.1:0",
                "--metrics",
                "127.0.0.1:0",
                "--query",
                "127.0.0.1:0",
            ])
            .arg("--query-threads")
            .arg(threads.to_string());
        let (proc, addr) = spawn_ready("flowfold", cmd, log_dir)?;
        Node::connect(proc, &addr)
    }

    /// Connects to the Flight SQL service at `addr` of the running flowfold process `proc` (a
    /// standalone node or a master), which is stopped with the returned node.
    pub fn connect(proc: Proc, addr: &str) -> anyhow::Result<Node> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = runtime
            .block_on(SqlClient::connect(addr))
            .with_context(|| format!("connecting to flowfold at {addr}"))?;
        Ok(Node { proc, client, runtime })
    }

    /// Process id of the node.
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }

    /// Runs `sql` and returns the time it took and the answer.
    pub fn run(&mut self, sql: &str) -> anyhow::Result<(Duration, Vec<Row>)> {
        let started = Instant::now();
        let (_, batches) = self
            .runtime
            .block_on(self.client.query(sql))
            .with_context(|| format!("flowfold: {sql}"))?;
        let elapsed = started.elapsed();
        Ok((elapsed, answer::from_batches(&batches)?))
    }

    /// The node's `EXPLAIN ANALYZE` of `sql` as text.
    pub fn explain(&mut self, sql: &str) -> anyhow::Result<String> {
        let explain = format!("EXPLAIN ANALYZE {sql}");
        let (_, batches) = self
            .runtime
            .block_on(self.client.query(&explain))
            .with_context(|| format!("flowfold: {explain}"))?;
        let rows = answer::from_batches(&batches)?;
        Ok(rows.iter().map(|r| r.join("\n")).collect::<Vec<_>>().join("\n\n"))
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        procs::peak_rss(self.pid())
    }

    /// User + system CPU seconds of the node so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        procs::cpu_seconds(self.pid())
    }

    /// Stops the node (SIGTERM) and waits for it.
    pub fn stop(mut self) -> anyhow::Result<Exit> {
        self.proc.stop(STOP_TIMEOUT)
    }
}

/// Spawns the flowfold process `cmd` (any role) with `--ready-file LOG_DIR/NAME.ready.json` and
/// its output in `log_dir`, and waits for the ready file; returns the process and the query
/// address in the file.
pub fn spawn_ready(name: &str, mut cmd: Command, log_dir: &Path) -> anyhow::Result<(Proc, String)> {
    let ready = log_dir.join(format!("{name}.ready.json"));
    let _ = std::fs::remove_file(&ready);
    cmd.arg("--ready-file").arg(&ready);
    let mut proc = Proc::spawn(name, cmd, log_dir)?;
    let addr = wait_ready(name, &mut proc, &ready)?;
    Ok((proc, addr))
}

/// Waits for the ready file and returns the query address in it.
fn wait_ready(name: &str, proc: &mut Proc, ready: &Path) -> anyhow::Result<String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(ready)
            && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(addr) = info.get("query").and_then(|a| a.as_str())
        {
            return Ok(addr.to_string());
        }
        if let Some(exit) = proc.try_reap()? {
            bail!("{name} exited early (code {}): {}", exit.code, proc.stderr_tail());
        }
        if Instant::now() >= deadline {
            bail!(
                "{name} wrote no ready file within {READY_TIMEOUT:?}: {}",
                proc.stderr_tail()
            );
        }
        if procs::interrupted() {
            bail!("interrupted while waiting for {name}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
