//! The software we did not write: nfcapd and nfdump (collector and reader), softflowd
//! (exporter), and Python DuckDB (Parquet reader).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::wait_for;

/// Flow, packet and byte totals of one exporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// A running nfcapd writing into its own directory.
#[derive(Debug)]
pub struct Nfcapd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub addr: SocketAddr,
}

impl Nfcapd {
    /// Starts nfcapd on a free port of 127.0.0.1, writing into `dir`.
    ///
    /// nfcapd has no ready signal and no "port 0": try ports outside the kernel's ephemeral
    /// range (where other tests' sockets land) until one nfcapd binds and stays up.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos() as u64;
        for attempt in 0..20u64 {
            let port = 20_000 + ((seed.wrapping_mul(6364136223846793005).wrapping_add(attempt * 7919)) % 10_000) as u16;
            if udp_port_bound(port) {
                continue;
            }
            let mut child = Command::new("nfcapd")
                .arg("-w")
                .arg(dir)
                .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-B", "4194304"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting nfcapd")?;
            let bound = wait_for("nfcapd to bind", Duration::from_secs(10), || {
                udp_port_bound(port).then_some(())
            })
            .is_ok();
            std::thread::sleep(Duration::from_millis(100));
            if bound && child.try_wait()?.is_none() {
                return Ok(Nfcapd {
                    child: Some(child),
                    dir: dir.to_path_buf(),
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        bail!("nfcapd could not bind any port")
    }

    /// Stops nfcapd (SIGTERM flushes its file) and returns per-exporter totals read by nfdump.
    ///
    /// nfcapd exits on SIGTERM without reading what is still queued on its socket, so first wait
    /// until the kernel's receive queue for its port stays empty.
    pub fn stop_and_read(mut self) -> anyhow::Result<BTreeMap<String, Totals>> {
        let port = self.addr.port();
        let mut empty_polls = 0;
        wait_for("nfcapd to drain its socket", Duration::from_secs(20), || {
            empty_polls = if udp_rx_queue(port) == Some(0) {
                empty_polls + 1
            } else {
                0
            };
            (empty_polls >= 4).then_some(())
        })?;
        if let Some(mut child) = self.child.take() {
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
            wait_for("nfcapd to exit", Duration::from_secs(20), || {
                child.try_wait().ok().flatten()
            })?;
        }
        nfdump_totals(&self.dir)
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Bytes queued for reading on the UDP socket bound to `port` (from `/proc/net/udp`).
fn udp_rx_queue(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let local_port = u16::from_str_radix(cols.get(1)?.rsplit_once(':')?.1, 16).ok()?;
        let rx_hex = cols.get(4)?.split_once(':')?.1;
        (local_port == port).then(|| u64::from_str_radix(rx_hex, 16).ok())?
    })
}

fn udp_port_bound(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// Per-exporter totals of every nfcapd file under `dir`, from `nfdump -o csv`.
pub fn nfdump_totals(dir: &Path) -> anyhow::Result<BTreeMap<String, Totals>> {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .args(["-q", "-o", "csv"])
        .output()
        .context("running nfdump")?;
    if !out.status.success() {
        bail!("nfdump failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let header = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr";
    let columns: Vec<&str> = header.split(',').collect();
    let index = |name: &str| columns.iter().position(|c| *c == name).expect("known column");
    let (ipkt, ibyt, ra) = (index("ipkt"), index("ibyt"), index("ra"));
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for line in String::from_utf8(out.stdout)?.lines() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < columns.len() {
            continue;
        }
        let t = totals.entry(fields[ra].to_string()).or_default();
        t.flows += 1;
        t.packets += fields[ipkt].parse::<u64>().context("ipkt")?;
        t.bytes += fields[ibyt].parse::<u64>().context("ibyt")?;
    }
    Ok(totals)
}

/// Replays `pcap` through softflowd, exporting `version` (9 or 10) to `target`, and waits
/// until softflowd has exported every flow and exited.
pub fn softflowd_replay(pcap: &Path, target: SocketAddr, version: u8, scratch: &Path) -> anyhow::Result<()> {
    let ctl = scratch.join(format!("softflowd-{version}-{}.ctl", target.port()));
    let mut cmd = Command::new("softflowd");
    cmd.arg("-r")
        .arg(pcap)
        .arg("-n")
        .arg(target.to_string())
        .args(["-v", &version.to_string(), "-d", "-c"])
        .arg(&ctl)
        // Its own pid file: the default /var/run/softflowd.pid is shared by concurrent runs.
        .arg("-p")
        .arg(ctl.with_extension("pid"));
    if version == 10 {
        cmd.args(["-A", "milli"]);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting softflowd")?;
    // softflowd 1.1.0 with -r reads the file, then blocks on its control socket; asking it for
    // statistics lets it finish: it expires and exports every flow, then exits.
    wait_for("softflowd's control socket", Duration::from_secs(20), || {
        ctl.exists().then_some(())
    })?;
    let status = wait_for("softflowd to finish", Duration::from_secs(30), || {
        let _ = Command::new("softflowctl")
            .arg("-c")
            .arg(&ctl)
            .arg("statistics")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        child.try_wait().ok().flatten()
    })?;
    if !status.success() {
        bail!("softflowd exited with {status}");
    }
    Ok(())
}

/// Runs a Python script from `tests/python` with arguments; returns its stdout.
pub fn python(script: &str, args: &[&str]) -> anyhow::Result<String> {
    let path = crate::workspace_root().join("tests/python").join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .context("running python3")?;
    if !out.status.success() {
        bail!(
            "{script} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Starts a Python script from `tests/python` in the background (stdout and stderr piped).
pub fn python_spawn(script: &str, args: &[&str]) -> anyhow::Result<std::process::Child> {
    let path = crate::workspace_root().join("tests/python").join(script);
    Command::new("python3")
        .arg(&path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting python3")
}
