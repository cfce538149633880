//! What a process has received, from outside it.
//!
//! - `rchar` of `/proc/PID/io`: bytes of every read(2)-like call. Linux adds to it in `read`,
//!   `readv` and friends, but not in `recv`/`recvfrom`/`recvmsg`, which is how Rust's
//!   `TcpStream::read` (so tokio, hyper and tonic) reads a socket: it misses the network streams.
//! - TCP payload: `tcpi_bytes_received` of `TCP_INFO` on every TCP socket the process holds,
//!   read through a duplicate of each socket taken with `pidfd_getfd(2)` (the harness is the
//!   process's parent, so it may). Keyed by socket inode, so a delta counts sockets opened since
//!   the first sample in full, and tells how many sockets closed in between (their last bytes are
//!   not seen). Each socket's peer address tells who sent the bytes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, bail};

/// Offset of `tcpi_bytes_received` (u64) in `struct tcp_info` (Linux >= 4.6).
const BYTES_RECEIVED_OFFSET: usize = 128;

/// A TCP socket of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    /// The address of its peer (`None` for a listening socket).
    pub peer: Option<IpAddr>,
    /// `tcpi_bytes_received`.
    pub received: u64,
}

/// One look at a process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// `rchar` of `/proc/PID/io`.
    pub rchar: u64,
    /// Every TCP socket, by inode.
    pub tcp: BTreeMap<u64, Socket>,
}

/// What a process received between two samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Growth of `rchar`.
    pub rchar: u64,
    /// TCP payload received on the sockets of the second sample (new sockets in full).
    pub tcp: u64,
    /// `tcp` by the peer's address.
    pub by_peer: BTreeMap<IpAddr, u64>,
    /// Sockets of the first sample gone in the second: what they received after the first
    /// sample is missing from `tcp`.
    pub closed: usize,
}

impl Sample {
    /// Samples process `pid`.
    pub fn take(pid: i32) -> anyhow::Result<Sample> {
        Ok(Sample {
            rchar: rchar(pid)?,
            tcp: tcp_received(pid)?,
        })
    }

    /// What was received from `self` to `later`.
    pub fn delta(&self, later: &Sample) -> Delta {
        let mut delta = Delta {
            rchar: later.rchar.saturating_sub(self.rchar),
            closed: self.tcp.keys().filter(|inode| !later.tcp.contains_key(inode)).count(),
            ..Delta::default()
        };
        for (inode, socket) in &later.tcp {
            let before = self.tcp.get(inode).map_or(0, |s| s.received);
            let bytes = socket.received.saturating_sub(before);
            delta.tcp += bytes;
            if let Some(peer) = socket.peer
                && bytes > 0
            {
                *delta.by_peer.entry(peer).or_default() += bytes;
            }
        }
        delta
    }
}

/// `rchar` of `/proc/PID/io`.
pub fn rchar(pid: i32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).with_context(|| format!("reading /proc/{pid}/io"))?;
    parse_rchar(&text).with_context(|| format!("no rchar in /proc/{pid}/io"))
}

fn parse_rchar(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Every TCP socket of `pid`, by inode.
pub fn tcp_received(pid: i32) -> anyhow::Result<BTreeMap<u64, Socket>> {
    let pidfd = Fd::pidfd_open(pid)?;
    let dir = format!("/proc/{pid}/fd");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let entry = entry?;
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue; // closed since the listing
        };
        let Some(inode) = socket_inode(&link.to_string_lossy()) else {
            continue;
        };
        let Ok(target) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // A socket closed (or its number reused) since the listing is skipped.
        let Ok(fd) = pidfd.getfd(target) else { continue };
        if let Some(received) = fd.tcp_bytes_received() {
            out.insert(
                inode,
                Socket {
                    peer: fd.peer(),
                    received,
                },
            );
        }
    }
    Ok(out)
}

/// The inode of a `/proc/PID/fd` link `socket:[INODE]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// An owned file descriptor of this process.
#[derive(Debug)]
struct Fd(libc::c_int);

impl Fd {
    fn pidfd_open(pid: i32) -> anyhow::Result<Fd> {
        // SAFETY: plain syscall; the result is a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            bail!("pidfd_open({pid}): {}", std::io::Error::last_os_error());
        }
        Ok(Fd(fd as libc::c_int))
    }

    /// A duplicate, in this process, of descriptor `target` of the pidfd's process.
    fn getfd(&self, target: i32) -> std::io::Result<Fd> {
        // SAFETY: plain syscall on our own pidfd; the result is a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.0, target, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Fd(fd as libc::c_int))
    }

    /// `tcpi_bytes_received` if this is a TCP socket.
    fn tcp_bytes_received(&self) -> Option<u64> {
        let mut protocol: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: valid pointer and length to a local int.
        let r = unsafe {
            libc::getsockopt(
                self.0,
                libc::SOL_SOCKET,
                libc::SO_PROTOCOL,
                (&mut protocol as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r != 0 || protocol != libc::IPPROTO_TCP {
            return None;
        }
        let mut info = [0u8; 256];
        let mut len = info.len() as libc::socklen_t;
        // SAFETY: valid pointer and length to a local buffer; the kernel writes at most `len`.
        let r = unsafe {
            libc::getsockopt(
                self.0,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if r != 0 || (len as usize) < BYTES_RECEIVED_OFFSET + 8 {
            return None;
        }
        let bytes = info[BYTES_RECEIVED_OFFSET..BYTES_RECEIVED_OFFSET + 8].try_into().ok()?;
        Some(u64::from_ne_bytes(bytes))
    }

    /// The peer's address of a connected IPv4 or IPv6 socket.
    fn peer(&self) -> Option<IpAddr> {
        // SAFETY: an all-zero sockaddr_storage is a valid value.
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: valid pointer and length to a local sockaddr_storage.
        let r = unsafe { libc::getpeername(self.0, (&mut addr as *mut libc::sockaddr_storage).cast(), &mut len) };
        if r != 0 {
            return None;
        }
        match i32::from(addr.ss_family) {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in for AF_INET; storage is large and aligned enough.
                let v4 = unsafe { *(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                Some(IpAddr::from(v4.sin_addr.s_addr.to_ne_bytes()))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, a sockaddr_in6 for AF_INET6.
                let v6 = unsafe { *(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
                Some(ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4))
            }
            _ => None,
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn rchar_and_socket_links_parse() {
        assert_eq!(parse_rchar("rchar: 123\nwchar: 4\n"), Some(123));
        assert_eq!(parse_rchar("wchar: 4\n"), None);
        assert_eq!(socket_inode("socket:[98765]"), Some(98765));
        assert_eq!(socket_inode("pipe:[1]"), None);
    }

    #[test]
    fn tcp_payload_received_is_counted_and_rchar_misses_recv() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sender = std::thread::spawn(move || {
            let mut out = std::net::TcpStream::connect(addr).expect("connect");
            out.write_all(&[7u8; 300_000]).expect("send");
        });
        let (mut conn, _) = listener.accept().expect("accept");
        let me = std::process::id() as i32;
        let before = Sample::take(me).expect("sample");
        let mut got = Vec::new();
        conn.read_to_end(&mut got).expect("read");
        sender.join().expect("sender");
        let after = Sample::take(me).expect("sample");
        let delta = before.delta(&after);
        assert_eq!(got.len(), 300_000);
        // The connection was accepted before the first sample, so only what arrived after it
        // counts in the delta; the socket itself has received everything.
        assert!(delta.tcp <= 300_001, "{delta:?}");
        // The peer's FIN may advance the received sequence by one.
        let conn = after
            .tcp
            .values()
            .find(|s| (300_000..=300_001).contains(&s.received))
            .unwrap_or_else(|| panic!("the connection: {after:?}"));
        assert_eq!(conn.peer, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(delta.by_peer.values().sum::<u64>(), delta.tcp);
        assert!(delta.rchar < 300_000, "std reads sockets with recv(2): {delta:?}");
    }

    #[test]
    fn deltas_count_new_sockets_in_full_and_note_closed_ones() {
        let a = IpAddr::from([127, 0, 0, 11]);
        let b = IpAddr::from([127, 0, 0, 12]);
        let socket = |peer, received| Socket { peer, received };
        let before = Sample {
            rchar: 10,
            tcp: BTreeMap::from([
                (1, socket(Some(a), 100)),
                (2, socket(Some(b), 50)),
                (4, socket(None, 0)),
            ]),
        };
        let after = Sample {
            rchar: 15,
            tcp: BTreeMap::from([
                (1, socket(Some(a), 160)),
                (3, socket(Some(b), 40)),
                (4, socket(None, 0)),
            ]),
        };
        assert_eq!(
            before.delta(&after),
            Delta {
                rchar: 5,
                tcp: 100,
                by_peer: BTreeMap::from([(a, 60), (b, 40)]),
                closed: 1
            }
        );
    }
}
