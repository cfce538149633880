//! What `/proc` says about a forwarder that may be several processes (nfacctd runs its tee plugin
//! as a child of the core process): CPU of the whole process tree, and the kernel's drop counters
//! of UDP sockets by port.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The parent pid of a `/proc/PID/stat` line (field 4; the command name may hold spaces).
fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every process below it.
pub fn tree(pid: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(ppid) = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| parse_ppid(&s))
            {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        if let Some(kids) = children.get(&all[i]) {
            all.extend(kids);
        }
        i += 1;
    }
    all
}

/// utime and stime (fields 14 and 15, clock ticks) of a `/proc/PID/stat` line.
fn parse_user_system(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// User and system CPU seconds of `pid` and its descendants (processes that already ended are
/// not counted; the forwarders' children live as long as they do). Fails if `pid` is gone.
pub fn tree_cpu(pid: i32) -> anyhow::Result<(f64, f64)> {
    // SAFETY: sysconf has no preconditions.
    let ticks = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    };
    let read = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| parse_user_system(&s))
    };
    let (mut user, mut system) = read(pid).with_context(|| format!("reading /proc/{pid}/stat"))?;
    for p in tree(pid).into_iter().skip(1) {
        let (u, s) = read(p).unwrap_or_default();
        user += u;
        system += s;
    }
    Ok((user as f64 / ticks, system as f64 / ticks))
}

/// User + system CPU seconds of `pid` and its descendants.
pub fn tree_cpu_seconds(pid: i32) -> anyhow::Result<f64> {
    let (user, system) = tree_cpu(pid)?;
    Ok(user + system)
}

/// Waits until the tree's CPU time stops growing (its sockets are drained), at most `max`.
pub fn wait_tree_idle(pid: i32, max: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + max;
    let mut last = tree_cpu_seconds(pid)?;
    let mut still = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = tree_cpu_seconds(pid)?;
        still = if now - last < 0.005 { still + 1 } else { 0 };
        if still >= 3 {
            break;
        }
        last = now;
    }
    Ok(())
}

/// The drops counter summed over the UDP sockets bound to `port` (any address), from
/// `/proc/net/udp` and `/proc/net/udp6`.
pub fn udp_drops(port: u16) -> u64 {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| parse_udp_drops(&text, port))
        .sum()
}

/// Drops (last column) of the lines whose local address has port `port`.
fn parse_udp_drops(text: &str, port: u16) -> u64 {
    let hex = format!("{port:04X}");
    text.lines()
        .skip(1)
        .filter(|l| {
            let local = l.split_whitespace().nth(1).unwrap_or_default();
            local.rsplit(':').next() == Some(hex.as_str())
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_and_times_follow_a_command_name_with_spaces() {
        assert_eq!(parse_ppid("4242 (nfacctd: Tee Plugin [t]) S 4241 4241 1 0"), Some(4241));
        assert_eq!(parse_ppid("nonsense"), None);
        let line = "1234 (tokio (rt) w) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 999 1 2";
        assert_eq!(parse_user_system(line), Some((250, 75)));
    }

    #[test]
    fn drops_are_summed_for_the_port_only() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    1: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 12\n\
                    2: 0100007F:0808 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 5\n\
                    3: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 1\n";
        assert_eq!(parse_udp_drops(text, 0x807), 13);
        assert_eq!(parse_udp_drops(text, 9), 0);
    }

    #[test]
    fn the_tree_of_this_process_holds_a_child() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("spawn");
        let me = std::process::id() as i32;
        let pids = tree(me);
        assert_eq!(pids[0], me);
        assert!(pids.contains(&(child.id() as i32)), "{pids:?}");
        assert!(tree_cpu_seconds(me).is_ok_and(|s| s >= 0.0));
        let _ = child.kill();
        let _ = child.wait();
    }
}
