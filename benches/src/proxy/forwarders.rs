//! The forwarders under test, started fresh for every step with the sinks as their targets:
//! `flowfold proxy` (flow-source or round-robin model, a configuration file), `nfcapd -R` (one
//! `-R` per target; it also stores the flows in a data directory) and `nfacctd` with the tee
//! plugin (a configuration file and a receivers map). Each runs in its own process group, so
//! the tee plugin (a child of nfacctd's core process) is killed with it.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::args::{Args, ForwarderKind};
use crate::procs::{self, Proc};

/// How long a forwarder may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a forwarder may take to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// After a peer binds its port: time for its other threads or plugin processes to start.
const PEER_SETTLE: Duration = Duration::from_millis(500);

/// A running forwarder.
#[derive(Debug)]
pub struct Running {
    kind: ForwarderKind,
    proc: Proc,
    /// Where the load is sent.
    pub listen: SocketAddr,
}

impl Running {
    /// Starts `kind` forwarding to `targets`; its files and logs go to `dir` (created).
    pub fn start(
        kind: ForwarderKind,
        args: &Args,
        targets: &[SocketAddr],
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Running> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // The peers' ports are probed and then handed over, so another process may take one in
        // between: retry a few times with a new port.
        let mut last_error = None;
        for _ in 0..3 {
            let attempt = match kind {
                ForwarderKind::FlowSource | ForwarderKind::RoundRobin | ForwarderKind::RoundRobinRecord => {
                    start_flowfold(kind, args, targets, dir, name)
                }
                ForwarderKind::Nfcapd => start_peer(kind, nfcapd_command(args, targets, dir)?, dir, name),
                ForwarderKind::Tee | ForwarderKind::TeeCopy => {
                    start_peer(kind, nfacctd_command(kind, args, targets, dir)?, dir, name)
                }
            };
            match attempt {
                Ok(running) => return Ok(running),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("{} did not start", kind.name())))
    }

    /// The pid of its main process.
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }

    /// Fails if it has already exited.
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

    /// Asks it to end (SIGTERM; nfacctd ends gracefully on SIGINT and ignores SIGTERM), waits,
    /// and kills it with an error if it does not end in time.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let signal = match self.kind {
            ForwarderKind::Tee | ForwarderKind::TeeCopy => libc::SIGINT,
            _ => libc::SIGTERM,
        };
        self.proc.signal(signal);
        if self.proc.wait_timeout(STOP_TIMEOUT)?.is_none() {
            self.proc.kill();
            bail!("{} did not stop within {STOP_TIMEOUT:?}; killed", self.kind.name());
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.proc.kill();
        // Whatever is left of its process group (nfacctd's plugin), which we started through it.
        // SAFETY: plain syscall; the group id is the pid of the leader we spawned.
        unsafe { libc::kill(-self.proc.pid(), libc::SIGKILL) };
    }
}

fn spawn(name: &str, mut cmd: Command, dir: &Path) -> anyhow::Result<Proc> {
    cmd.process_group(0);
    Proc::spawn(name, cmd, dir)
}

fn start_flowfold(
    kind: ForwarderKind,
    args: &Args,
    targets: &[SocketAddr],
    dir: &Path,
    name: &str,
) -> anyhow::Result<Running> {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        proxy_toml(kind, args.recv_buffer, targets, &dir.join("assignments.json")),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    let ready = dir.join(format!("{name}.ready.json"));
    let _ = std::fs::remove_file(&ready);
    let mut cmd = Command::new(&args.flowfold);
    cmd.arg("proxy")
        .arg("--config")
        .arg(&config)
        .arg("--ready-file")
        .arg(&ready);
    cmd.env("FLOWFOLD_LOG", "warn");
    let mut proc = spawn(name, cmd, dir)?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        {
            let listen = value["flows"][0]
                .as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("no flow address in {text}"))?;
            return Ok(Running { kind, proc, listen });
        }
        if let Some(exit) = proc.try_reap()? {
            bail!("flowfold proxy exited with code {}: {}", exit.code, proc.stderr_tail());
        }
        if Instant::now() >= deadline {
            bail!("flowfold proxy wrote no ready file within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The proxy's configuration: one listener on loopback, the sinks as its slaves.
pub fn proxy_toml(kind: ForwarderKind, recv_buffer: usize, targets: &[SocketAddr], state: &Path) -> String {
    let (model, spread) = match kind {
        ForwarderKind::RoundRobin => ("round-robin", "datagram"),
        ForwarderKind::RoundRobinRecord => ("round-robin", "record"),
        _ => ("flow-source", "datagram"),
    };
    let slaves: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[ingest]\nlisten = [\"127.0.0.1:0\"]\nrecv_buffer = {recv_buffer}\n\
         [distribution]\nmodel = \"{model}\"\nspread = \"{spread}\"\nslaves = [{}]\nstate = \"{}\"\n\
         [query]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        slaves.join(", "),
        state.display()
    )
}

/// A peer on a free port; ready when the port is bound (and a moment after).
fn start_peer(kind: ForwarderKind, (cmd, port): (Command, u16), dir: &Path, name: &str) -> anyhow::Result<Running> {
    let mut proc = spawn(name, cmd, dir)?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if procs::udp_port_bound(port) {
            std::thread::sleep(PEER_SETTLE);
            if let Some(exit) = proc.try_reap()? {
                bail!("{} exited with code {}: {}", kind.name(), exit.code, proc.stderr_tail());
            }
            return Ok(Running {
                kind,
                proc,
                listen: SocketAddr::from(([127, 0, 0, 1], port)),
            });
        }
        if let Some(exit) = proc.try_reap()? {
            bail!("{} exited with code {}: {}", kind.name(), exit.code, proc.stderr_tail());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{} did not bind port {port} within {READY_TIMEOUT:?}", kind.name())
}

/// `nfcapd -w DIR/data -b 127.0.0.1 -p PORT -B BUF -R 127.0.0.1/P1 ...`.
fn nfcapd_command(args: &Args, targets: &[SocketAddr], dir: &Path) -> anyhow::Result<(Command, u16)> {
    let data = dir.join("nfcapd-data");
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let port = procs::free_udp_port()?;
    let mut cmd = Command::new(&args.nfcapd);
    cmd.arg("-w").arg(&data).args([
        "-b",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-B",
        &args.recv_buffer.to_string(),
    ]);
    for t in targets {
        cmd.args(["-R", &format!("{}/{}", t.ip(), t.port())]);
    }
    Ok((cmd, port))
}

/// `nfacctd -f DIR/nfacctd.conf` with the tee plugin and its receivers map.
fn nfacctd_command(
    kind: ForwarderKind,
    args: &Args,
    targets: &[SocketAddr],
    dir: &Path,
) -> anyhow::Result<(Command, u16)> {
    let port = procs::free_udp_port()?;
    let receivers = dir.join("tee_receivers.lst");
    std::fs::write(&receivers, tee_receivers(kind, targets))
        .with_context(|| format!("writing {}", receivers.display()))?;
    let config = dir.join("nfacctd.conf");
    std::fs::write(&config, nfacctd_conf(port, args.recv_buffer, &receivers))
        .with_context(|| format!("writing {}", config.display()))?;
    let mut cmd = Command::new(&args.nfacctd);
    cmd.arg("-f").arg(&config);
    Ok((cmd, port))
}

/// nfacctd's configuration: listen on loopback, one tee plugin, non-transparent (it sends from
/// its own socket, as `nfcapd -R` does), the pipe between core and plugin as pmacct's
/// replicator guide sizes it, scaled up for high rates.
pub fn nfacctd_conf(port: u16, recv_buffer: usize, receivers: &Path) -> String {
    format!(
        "daemonize: false\n\
         nfacctd_ip: 127.0.0.1\n\
         nfacctd_port: {port}\n\
         nfacctd_pipe_size: {recv_buffer}\n\
         plugins: tee[t]\n\
         tee_receivers[t]: {}\n\
         tee_transparent[t]: false\n\
         tee_pipe_size[t]: {recv_buffer}\n\
         plugin_pipe_size[t]: 10240000\n\
         plugin_buffer_size[t]: 10240\n",
        receivers.display()
    )
}

/// The tee receivers map: one pool balanced by exporter address (`Tee`; `hash-crc32`, since
/// pmacct's `hash-agent` sent all of 127.0.1.1-6 to one receiver) or one pool per target
/// (`TeeCopy`: every pool gets every datagram).
pub fn tee_receivers(kind: ForwarderKind, targets: &[SocketAddr]) -> String {
    if kind == ForwarderKind::TeeCopy || targets.len() == 1 {
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| format!("id={}\tip={t}\n", i + 1))
            .collect()
    } else {
        let ips: Vec<String> = targets.iter().map(SocketAddr::to_string).collect();
        format!("id=1\tip={}\tbalance-alg=hash-crc32\n", ips.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<SocketAddr> {
        vec!["127.0.0.1:5001".parse().unwrap(), "127.0.0.1:5002".parse().unwrap()]
    }

    #[test]
    fn the_proxy_configuration_names_the_model_and_the_sinks() {
        let text = proxy_toml(ForwarderKind::RoundRobin, 4 << 20, &targets(), Path::new("/w/a.json"));
        assert!(text.contains("model = \"round-robin\""), "{text}");
        assert!(
            text.contains("slaves = [\"127.0.0.1:5001\", \"127.0.0.1:5002\"]"),
            "{text}"
        );
        assert!(text.contains("recv_buffer = 4194304"), "{text}");
        let text = proxy_toml(ForwarderKind::FlowSource, 1, &targets(), Path::new("/w/a.json"));
        assert!(text.contains("model = \"flow-source\"") && text.contains("state = \"/w/a.json\""));
    }

    #[test]
    fn tee_pools_balance_by_exporter_or_copy() {
        assert_eq!(
            tee_receivers(ForwarderKind::Tee, &targets()),
            "id=1\tip=127.0.0.1:5001,127.0.0.1:5002\tbalance-alg=hash-crc32\n"
        );
        assert_eq!(
            tee_receivers(ForwarderKind::TeeCopy, &targets()),
            "id=1\tip=127.0.0.1:5001\nid=2\tip=127.0.0.1:5002\n"
        );
        assert_eq!(
            tee_receivers(ForwarderKind::Tee, &targets()[..1]),
            "id=1\tip=127.0.0.1:5001\n"
        );
        let conf = nfacctd_conf(2100, 4 << 20, Path::new("/w/r.lst"));
        assert!(conf.contains("plugins: tee[t]\n") && conf.contains("tee_receivers[t]: /w/r.lst\n"));
        assert!(conf.contains("nfacctd_port: 2100\n"));
    }
}
