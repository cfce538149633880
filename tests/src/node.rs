//! A real `flowfold standalone` process on free loopback ports, and `flowfold sql` against it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::wait_for;

/// What a started node reported in its ready file.
#[derive(Debug, Clone)]
pub struct Ready {
    pub flows: Vec<SocketAddr>,
    /// Relay listeners (export forwarded by a proxy; `slave` opens them).
    pub relays: Vec<SocketAddr>,
    pub metrics: SocketAddr,
    /// The Flight SQL service.
    pub query: SocketAddr,
}

/// A running standalone node; killed when dropped.
#[derive(Debug)]
pub struct Standalone {
    binary: PathBuf,
    data: PathBuf,
    child: Option<Child>,
    pub ready: Ready,
}

impl Standalone {
    /// Starts `binary standalone` on `data` with one flow listener on 127.0.0.1:0 and the
    /// extra flags given, and waits for its ready file.
    pub fn start(binary: &Path, data: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_role(binary, "standalone", data, "127.0.0.1", extra)
    }

    /// Starts `binary slave --name NAME` on `data` with every listener on `host` (a 127.0.0.x
    /// address), free ports.
    pub fn start_slave(binary: &Path, data: &Path, name: &str, host: &str) -> anyhow::Result<Self> {
        Self::start_role(binary, "slave", data, host, &["--name", name])
    }

    /// Like [`Standalone::start_slave`] with `extra` flags (e.g. `--config FILE`), its log
    /// (stderr) written to `DATA.log` instead of the test's output.
    pub fn start_slave_logged(
        binary: &Path,
        data: &Path,
        name: &str,
        host: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let mut args = vec!["--name", name];
        args.extend_from_slice(extra);
        Self::start_role_logged(binary, "slave", data, host, &args, Some(&data.with_extension("log")))
    }

    /// The log of a node started with [`Standalone::start_slave_logged`] (empty if none).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    fn start_role(binary: &Path, role: &str, data: &Path, host: &str, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_role_logged(binary, role, data, host, extra, None)
    }

    fn start_role_logged(
        binary: &Path,
        role: &str,
        data: &Path,
        host: &str,
        extra: &[&str],
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let stderr = match log {
            Some(path) => {
                Stdio::from(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?)
            }
            None => Stdio::inherit(),
        };
        let ready_file = data.with_extension("ready.json");
        let _ = std::fs::remove_file(&ready_file);
        let any_port = format!("{host}:0");
        let child = Command::new(binary)
            .arg(role)
            .arg("--data")
            .arg(data)
            .args(["--flows", &any_port, "--metrics", &any_port, "--query", &any_port])
            .arg("--ready-file")
            .arg(&ready_file)
            .args(extra)
            .env("FLOWFOLD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting flowfold {role}"))?;
        let mut node = Standalone {
            binary: binary.to_path_buf(),
            data: data.to_path_buf(),
            child: Some(child),
            ready: Ready {
                flows: Vec::new(),
                relays: Vec::new(),
                metrics: "127.0.0.1:0".parse()?,
                query: "127.0.0.1:0".parse()?,
            },
        };
        let json: Value = wait_for("the ready file", Duration::from_secs(30), || {
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Some(Err(anyhow::anyhow!("flowfold exited early: {status}")));
            }
            let text = std::fs::read_to_string(&ready_file).ok()?;
            serde_json::from_str(&text).ok().map(Ok)
        })??;
        node.ready = Ready {
            flows: json["flows"]
                .as_array()
                .context("ready file lists flows")?
                .iter()
                .filter_map(|v| v.as_str()?.parse().ok())
                .collect(),
            relays: addresses(&json["relays"]),
            metrics: json["metrics"].as_str().context("ready file names metrics")?.parse()?,
            query: json["query"].as_str().context("ready file names query")?.parse()?,
        };
        Ok(node)
    }

    /// The first flow listener.
    pub fn flow_addr(&self) -> SocketAddr {
        self.ready.flows[0]
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU time (user + system) the process has used so far, from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let pid = self.pid().context("not running")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let after_name = stat.rsplit_once(')').context("malformed /proc stat")?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_millis(ticks * 1000 / per_second))
    }

    /// Peak resident memory of the process so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        let pid = self.pid().context("not running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("VmHWM in /proc status")?;
        Ok(kb * 1024)
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> anyhow::Result<String> {
        crate::http_get(self.ready.metrics, "/metrics")
    }

    /// Sum of every sample of `metric` whose labels contain all of `labels` (e.g. `kind="truncated"`).
    pub fn metric_sum(&self, metric: &str, labels: &[&str]) -> anyhow::Result<f64> {
        Ok(sum_metric(&self.metrics()?, metric, labels))
    }

    /// Runs `flowfold sql --format json` on this node's data directory.
    pub fn sql(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        sql(&self.binary, &self.data, query)
    }

    /// Runs `flowfold sql --connect` against this node's Flight SQL service (JSON rows).
    pub fn sql_remote(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        sql_connect(&self.binary, self.ready.query, query)
    }

    /// Runs `flowfold sql SOURCE --format FORMAT QUERY` and returns its whole output, failed or not.
    pub fn sql_command(&self, source: &[&str], format: &str, query: &str) -> anyhow::Result<std::process::Output> {
        Command::new(&self.binary)
            .arg("sql")
            .args(source)
            .args(["--format", format])
            .arg(query)
            .env("FLOWFOLD_LOG", "warn")
            .output()
            .context("running flowfold sql")
    }

    /// Stops with SIGTERM (open windows are sealed) and waits for the exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("already stopped")?;
        signal(&child, "TERM")?;
        let status = wait_child(&mut child, Duration::from_secs(60))?;
        if !status.success() {
            bail!("flowfold exited with {status} after SIGTERM");
        }
        Ok(())
    }

    /// Stops the process with SIGSTOP: it keeps its sockets open but answers nothing, like a
    /// hung node. SIGKILL (drop) still ends it.
    pub fn pause(&self) -> anyhow::Result<()> {
        signal(self.child.as_ref().context("not running")?, "STOP")
    }

    /// Kills with SIGKILL, as a crash would.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("already stopped")?;
        signal(&child, "KILL")?;
        wait_child(&mut child, Duration::from_secs(10))?;
        Ok(())
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{name} failed");
    }
    Ok(())
}

fn wait_child(child: &mut Child, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    wait_for("the process to exit", limit, || child.try_wait().ok().flatten())
}

/// Runs `flowfold sql --format json QUERY` over `data` and parses its JSON lines.
pub fn sql(binary: &Path, data: &Path, query: &str) -> anyhow::Result<Vec<Value>> {
    let out = Command::new(binary)
        .args(["sql", "--format", "json", "--data"])
        .arg(data)
        .arg(query)
        .env("FLOWFOLD_LOG", "warn")
        .output()
        .context("running flowfold sql")?;
    if !out.status.success() {
        bail!("flowfold sql failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    json_rows(&out.stdout)
}

/// The socket addresses of a JSON array of strings (none if it is not one).
pub fn addresses(value: &Value) -> Vec<SocketAddr> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Runs `flowfold sql --connect ADDR --format json QUERY`; an error carries the server's message.
pub fn sql_connect(binary: &Path, addr: SocketAddr, query: &str) -> anyhow::Result<Vec<Value>> {
    let out = Command::new(binary)
        .args(["sql", "--format", "json", "--connect", &addr.to_string()])
        .arg(query)
        .env("FLOWFOLD_LOG", "warn")
        .output()
        .context("running flowfold sql --connect")?;
    if !out.status.success() {
        bail!(
            "flowfold sql --connect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    json_rows(&out.stdout)
}

/// Parses JSON lines.
fn json_rows(stdout: &[u8]) -> anyhow::Result<Vec<Value>> {
    std::str::from_utf8(stdout)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).context("parsing a JSON row"))
        .collect()
}

/// Sum of the samples of `metric` in Prometheus text whose label part contains every label.
pub fn sum_metric(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name_labels, value) = l.rsplit_once(' ')?;
            let name = name_labels.split('{').next()?;
            (name == metric && labels.iter().all(|want| name_labels.contains(want)))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}
