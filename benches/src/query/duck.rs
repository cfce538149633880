//! The DuckDB side: one long-lived Python process (`python/duckdb_queries.py`) that runs one
//! query per request, so the harness can alternate the engines. Timings are taken inside Python
//! around `execute().fetchall()`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::answer::{self, Row};
use crate::queries::Query;

/// A running DuckDB driver.
#[derive(Debug)]
pub struct Duck {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr_path: std::path::PathBuf,
    /// DuckDB's version.
    pub version: String,
    /// Python's version.
    pub python: String,
    /// DuckDB's `memory_limit` setting.
    pub memory_limit: String,
    /// Peak RSS of the driver once DuckDB was set up, before any query, in bytes.
    pub rss_at_start: u64,
}

/// Resource usage of the driver process (`getrusage`).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Peak resident set size, bytes.
    pub peak_rss: u64,
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
}

impl Duck {
    /// Starts `python script`, reading `files` with `threads` threads, and sends it the queries.
    pub fn start(
        python: &Path,
        script: &Path,
        files: &str,
        threads: usize,
        queries: &[Query],
        log_dir: &Path,
    ) -> anyhow::Result<Duck> {
        let stderr_path = log_dir.join("duckdb.err");
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no pipes to the DuckDB driver");
        };
        let mut duck = Duck {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr_path,
            version: String::new(),
            python: String::new(),
            memory_limit: String::new(),
            rss_at_start: 0,
        };
        let queries: Vec<Value> = queries.iter().map(|q| json!({"name": q.name, "sql": q.sql})).collect();
        let ready = duck.call(&json!({"files": files, "threads": threads, "queries": queries}))?;
        let text = |key: &str| ready.get(key).map(|v| v.as_str().map_or(v.to_string(), str::to_string));
        duck.version = text("version").unwrap_or_default();
        duck.python = text("python").unwrap_or_default();
        duck.memory_limit = text("memory_limit").unwrap_or_default();
        duck.rss_at_start = usage(&ready)?.peak_rss;
        let got = text("threads").unwrap_or_default();
        if got != threads.to_string() {
            bail!("DuckDB runs {got} threads, asked for {threads}");
        }
        Ok(duck)
    }

    /// Runs query `index`; its time (measured in Python) and answer.
    pub fn run(&mut self, index: usize) -> anyhow::Result<(Duration, Vec<Row>)> {
        let reply = self.call(&json!({"op": "run", "query": index}))?;
        let ms = reply
            .get("ms")
            .and_then(Value::as_f64)
            .context("no `ms` in DuckDB's reply")?;
        let rows = answer::from_json(reply.get("rows").context("no `rows` in DuckDB's reply")?)?;
        Ok((Duration::from_secs_f64(ms / 1000.0), rows))
    }

    /// DuckDB's `EXPLAIN ANALYZE` of query `index`.
    pub fn explain(&mut self, index: usize) -> anyhow::Result<String> {
        let reply = self.call(&json!({"op": "explain", "query": index}))?;
        Ok(reply
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Resource usage of the driver so far.
    pub fn usage(&mut self) -> anyhow::Result<Usage> {
        let reply = self.call(&json!({"op": "stats"}))?;
        usage(&reply)
    }

    /// Ends the driver.
    pub fn quit(mut self) -> anyhow::Result<()> {
        self.call(&json!({"op": "quit"}))?;
        self.child.wait()?;
        Ok(())
    }

    /// Sends one request line and reads one reply line; a reply with `error` is an error.
    fn call(&mut self, request: &Value) -> anyhow::Result<Value> {
        let sent = writeln!(self.stdin, "{request}").and_then(|()| self.stdin.flush());
        let mut line = String::new();
        let read = sent.and_then(|()| self.stdout.read_line(&mut line));
        if read.is_err() || line.is_empty() {
            bail!("the DuckDB driver stopped answering: {}", self.stderr_tail());
        }
        let reply: Value =
            serde_json::from_str(&line).with_context(|| format!("bad reply from the DuckDB driver: {line}"))?;
        if let Some(error) = reply.get("error") {
            bail!("DuckDB: {}", error.as_str().unwrap_or_default());
        }
        Ok(reply)
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Duck {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn usage(reply: &Value) -> anyhow::Result<Usage> {
    Ok(Usage {
        peak_rss: reply
            .get("peak_rss_bytes")
            .and_then(Value::as_u64)
            .context("no `peak_rss_bytes` in DuckDB's reply")?,
        cpu_seconds: reply.get("cpu_s").and_then(Value::as_f64).unwrap_or_default(),
    })
}
