//! Child processes that are always reaped (killed on drop), and what `/proc` says about them:
//! CPU time, peak RSS, bound UDP ports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Turns SIGINT into a flag, so that a Ctrl-C ends the run through the normal error path (children
/// killed and reaped, work directory removed). Children get the default action again on exec.
pub fn catch_interrupt() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
}

/// Whether SIGINT was received.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// How a child ended, with its own resource usage (from `wait4`, so it includes the work done
/// after the last `/proc` sample, such as sealing on SIGTERM).
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// Exit code, or `128 + signal` when killed by a signal.
    pub code: i32,
    /// User + system CPU seconds over the whole life of the process.
    pub cpu_seconds: f64,
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub max_rss: u64,
}

/// A spawned child with stdout and stderr in files; killed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    pid: i32,
    exit: Option<Exit>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and its output in `log_dir/NAME.out` and `NAME.err`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> anyhow::Result<Proc> {
        let stdout = log_dir.join(format!("{name}.out"));
        let stderr = log_dir.join(format!("{name}.err"));
        let out = std::fs::File::create(&stdout).with_context(|| format!("creating {}", stdout.display()))?;
        let err = std::fs::File::create(&stderr).with_context(|| format!("creating {}", stderr.display()))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().with_context(|| format!("starting {name}: {cmd:?}"))?;
        let pid = i32::try_from(child.id()).context("pid out of range")?;
        // The child is reaped by `wait4` below; dropping `Child` neither waits nor kills.
        drop(child);
        Ok(Proc {
            name: name.to_string(),
            pid,
            exit: None,
            stdout,
            stderr,
        })
    }

    /// Process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` unless the child was already reaped.
    pub fn signal(&self, signal: i32) {
        if self.exit.is_none() {
            // SAFETY: plain syscall on a pid we spawned and have not reaped yet.
            unsafe { libc::kill(self.pid, signal) };
        }
    }

    /// Reaps the child if it has ended, without blocking.
    pub fn try_reap(&mut self) -> anyhow::Result<Option<Exit>> {
        if self.exit.is_some() {
            return Ok(self.exit);
        }
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals; pid is our own child.
        let r = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            bail!(
                "waiting for {} (pid {}): {}",
                self.name,
                self.pid,
                std::io::Error::last_os_error()
            );
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let exit = Exit {
            code,
            cpu_seconds: tv(usage.ru_utime) + tv(usage.ru_stime),
            max_rss: (usage.ru_maxrss.max(0) as u64) * 1024,
        };
        self.exit = Some(exit);
        Ok(Some(exit))
    }

    /// Waits up to `timeout` for the child to end.
    pub fn wait_timeout(&mut self, timeout: Duration) -> anyhow::Result<Option<Exit>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.try_reap()? {
                return Ok(Some(exit));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            if interrupted() {
                bail!("interrupted while waiting for {}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then waits up to `timeout`; SIGKILL and an error if it does not end in time.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<Exit> {
        self.signal(libc::SIGTERM);
        if let Some(exit) = self.wait_timeout(timeout)? {
            return Ok(exit);
        }
        self.kill();
        bail!(
            "{} (pid {}) did not stop within {timeout:?} of SIGTERM; killed",
            self.name,
            self.pid
        )
    }

    /// SIGKILL and reap (blocking briefly).
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        // After SIGKILL the kernel ends the process promptly; bounded anyway.
        let _ = self.wait_timeout(Duration::from_secs(10));
    }

    /// Stdout and stderr of the child so far.
    pub fn output(&self) -> (String, String) {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (read(&self.stdout), read(&self.stderr))
    }

    /// The last lines of stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let (_, err) = self.output();
        let lines: Vec<&str> = err.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill();
        }
    }
}

/// Clock ticks per second for `/proc/PID/stat`.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// User + system CPU seconds of a running process (all threads).
pub fn cpu_seconds(pid: i32) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading stat of {pid}"))?;
    let ticks = parse_stat_ticks(&stat).with_context(|| format!("parsing /proc/{pid}/stat"))?;
    Ok(ticks as f64 / clock_ticks())
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line; the command name may hold spaces.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set size (`VmHWM`) of a running process, in bytes.
pub fn peak_rss(pid: i32) -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("reading status of {pid}"))?;
    parse_vm_hwm(&status).with_context(|| format!("no VmHWM in /proc/{pid}/status"))
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Whether some socket is bound to UDP `port` (IPv4 or IPv6), per `/proc/net/udp*`.
pub fn udp_port_bound(port: u16) -> bool {
    let hex = format!("{port:04X}");
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|path| {
        std::fs::read_to_string(path).is_ok_and(|text| {
            text.lines().skip(1).any(|l| {
                let local = l.split_whitespace().nth(1).unwrap_or_default();
                local.rsplit(':').next() == Some(hex.as_str())
            })
        })
    })
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> anyhow::Result<u16> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(socket.local_addr()?.port())
}

/// Waits until the process's CPU time stops growing (it has drained its socket), at most `max`.
pub fn wait_idle(pid: i32, max: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + max;
    let mut last = cpu_seconds(pid)?;
    let mut still = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = cpu_seconds(pid)?;
        still = if now - last < 0.005 { still + 1 } else { 0 };
        if still >= 3 {
            break;
        }
        last = now;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_skip_a_command_name_with_spaces_and_parens() {
        let line = "1234 (tokio (rt) w) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 999 1 2";
        assert_eq!(parse_stat_ticks(line), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status = "Name:\tnfcapd\nVmPeak:\t  9000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(5120 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }

    #[test]
    fn own_process_is_measured_and_a_bound_port_is_seen() {
        let me = std::process::id() as i32;
        assert!(cpu_seconds(me).is_ok_and(|s| s >= 0.0));
        assert!(peak_rss(me).is_ok_and(|b| b > 1 << 20));
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        assert!(udp_port_bound(port));
        drop(socket);
        // A child forked by a parallel test may hold the socket until it execs: allow a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while udp_port_bound(port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!udp_port_bound(port));
    }

    #[test]
    fn a_child_is_reaped_with_its_exit_code_and_killed_on_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hi; exit 3"]);
        let mut quick = Proc::spawn("quick", cmd, dir.path()).expect("spawn");
        let exit = quick
            .wait_timeout(Duration::from_secs(10))
            .expect("wait")
            .expect("ended");
        assert_eq!(exit.code, 3);
        assert_eq!(quick.output().0, "hi\n");

        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut slow = Proc::spawn("slow", cmd, dir.path()).expect("spawn");
        assert!(slow.try_reap().expect("poll").is_none());
        let exit = slow.stop(Duration::from_secs(5)).expect("stopped");
        assert_eq!(exit.code, 128 + libc::SIGTERM);
    }
}
