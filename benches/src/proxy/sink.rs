//! The downstream targets: lightweight UDP sinks in the harness, one thread each, that receive
//! with `recvmmsg`, unwrap relay frames, count datagrams and flow records (`count`) and remember
//! each message's digest, so that copies of one datagram arriving at several sinks count once
//! ("delivered at least once"). Each asks for a 64 MiB receive buffer (`SO_RCVBUFFORCE` as root)
//! so that a sink is not where flows are lost; the kernel's drop counter of its socket is read
//! anyway (`procs_extra::udp_drops`).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::count::{Counter, digest, unframe};

/// Receive buffer asked for on every sink.
const SINK_BUFFER: usize = 64 << 20;
/// Datagrams per `recvmmsg`.
const BATCH: usize = 64;
/// Largest datagram a sink takes whole (longer ones are counted as truncated).
const MAX_DATAGRAM: usize = 65_536;

/// What one sink received.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Datagrams received.
    pub datagrams: u64,
    /// Flow records in them.
    pub flows: u64,
    /// Options data records in them.
    pub options: u64,
    /// Data sets with an unknown template.
    pub unknown_sets: u64,
    /// Datagrams that were cut or not an export message.
    pub malformed: u64,
    /// Datagrams that arrived framed (`FFR1`).
    pub framed: u64,
    /// `(digest, flows)` of every message carrying flows.
    pub seen: Vec<(u64, u32)>,
}

/// Running sinks.
#[derive(Debug)]
pub struct Sinks {
    addrs: Vec<SocketAddr>,
    received: Vec<Arc<AtomicU64>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<anyhow::Result<Tally>>>,
}

impl Sinks {
    /// Binds `n` sinks on 127.0.0.1 (free ports) and starts their threads.
    pub fn start(n: usize) -> anyhow::Result<Sinks> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut sinks = Sinks {
            addrs: Vec::new(),
            received: Vec::new(),
            stop: Arc::clone(&stop),
            threads: Vec::new(),
        };
        for i in 0..n {
            let socket = UdpSocket::bind("127.0.0.1:0").context("binding a sink")?;
            set_recv_buffer(&socket, SINK_BUFFER);
            socket.set_read_timeout(Some(Duration::from_millis(50)))?;
            sinks.addrs.push(socket.local_addr()?);
            let received = Arc::new(AtomicU64::new(0));
            sinks.received.push(Arc::clone(&received));
            let stop = Arc::clone(&stop);
            let thread = std::thread::Builder::new()
                .name(format!("sink-{i}"))
                .spawn(move || receive(&socket, &stop, &received))
                .context("starting a sink thread")?;
            sinks.threads.push(thread);
        }
        Ok(sinks)
    }

    /// Where the sinks listen.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Datagrams received so far, over all sinks.
    pub fn received(&self) -> u64 {
        self.received.iter().map(|r| r.load(Ordering::Relaxed)).sum()
    }

    /// Waits until no sink has received anything for `quiet`, at most `max`.
    pub fn wait_quiet(&self, quiet: Duration, max: Duration) {
        let deadline = Instant::now() + max;
        let mut last = self.received();
        let mut since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.received();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    /// Stops the threads and returns each sink's tally.
    pub fn finish(mut self) -> anyhow::Result<Vec<Tally>> {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.threads);
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("a sink thread panicked"))?)
            .collect()
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

/// Flows delivered at least once over all sinks: the union of their messages by digest.
pub fn delivered_once(tallies: &[Tally]) -> u64 {
    let mut union: HashMap<u64, u32> = HashMap::new();
    for tally in tallies {
        for &(digest, flows) in &tally.seen {
            union.insert(digest, flows);
        }
    }
    union.values().map(|&n| u64::from(n)).sum()
}

fn set_recv_buffer(socket: &UdpSocket, bytes: usize) {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let fd = socket.as_raw_fd();
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid fd and a pointer to a c_int of the given size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// The sink loop: `recvmmsg` batches until stopped.
fn receive(socket: &UdpSocket, stop: &AtomicBool, received: &AtomicU64) -> anyhow::Result<Tally> {
    let mut buffers = vec![0u8; BATCH * MAX_DATAGRAM];
    // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid values; pointers are set below.
    let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovecs: Vec<libc::iovec> = buffers
        .chunks_mut(MAX_DATAGRAM)
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut counter = Counter::default();
    let mut tally = Tally::default();
    let fd = socket.as_raw_fd();
    while !stop.load(Ordering::Relaxed) {
        for i in 0..BATCH {
            let h = &mut headers[i].msg_hdr;
            h.msg_name = (&raw mut names[i]).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &raw mut iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        // SAFETY: `headers` points at BATCH valid message headers whose buffers outlive the call;
        // the socket's receive timeout bounds the wait.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted => {
                    continue;
                }
                _ => return Err(e).context("recvmmsg on a sink"),
            }
        }
        let n = n as usize;
        for i in 0..n {
            let len = headers[i].msg_len as usize;
            let bytes = &buffers[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len.min(MAX_DATAGRAM)];
            let peer = sockaddr(&names[i]);
            tally.datagrams += 1;
            if headers[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                tally.malformed += 1;
                continue;
            }
            let (sender, msg) = match unframe(bytes) {
                Some(framed) => {
                    tally.framed += 1;
                    framed
                }
                None => (peer, bytes),
            };
            let counted = counter.message(sender, msg);
            tally.flows += counted.flows;
            tally.options += counted.options;
            tally.unknown_sets += counted.unknown_sets;
            tally.malformed += u64::from(counted.malformed);
            if counted.flows > 0 {
                tally.seen.push((digest(msg), counted.flows as u32));
            }
        }
        received.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(tally)
}

/// The IPv4 / IPv6 address in a `sockaddr_storage` filled by the kernel (unspecified otherwise).
fn sockaddr(storage: &libc::sockaddr_storage) -> SocketAddr {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which fits in sockaddr_storage.
            let sin = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in>()) };
            SocketAddr::from((
                u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let sin6 = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>()) };
            SocketAddr::from((sin6.sin6_addr.s6_addr, u16::from_be(sin6.sin6_port)))
        }
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v9 message with its template and `records` 8-byte records, sequence `seq`.
    fn message(seq: u32, records: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for v in [9u16, 0] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        for v in [0u32, 0, seq, 1] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        for v in [0u16, 12, 256, 1, 1, 8] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        for v in [256u16, (4 + 8 * records) as u16] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend(std::iter::repeat_n(seq as u8, 8 * records));
        m
    }

    #[test]
    fn sinks_count_flows_and_copies_count_once() {
        let sinks = Sinks::start(2).expect("sinks");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let [a, b] = [sinks.addrs()[0], sinks.addrs()[1]];
        // The same two messages to both sinks (a repeater), one more to the first only, and one
        // framed message to the second (a proxy).
        for seq in [1, 2] {
            tx.send_to(&message(seq, 5), a).expect("send");
            tx.send_to(&message(seq, 5), b).expect("send");
        }
        tx.send_to(&message(3, 4), a).expect("send");
        let mut framed = b"FFR1".to_vec();
        framed.extend_from_slice(&9u16.to_be_bytes());
        framed.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 1, 1]);
        framed.extend_from_slice(&message(4, 3));
        tx.send_to(&framed, b).expect("send");
        tx.send_to(b"junk", b).expect("send");
        let deadline = Instant::now() + Duration::from_secs(10);
        while sinks.received() < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        sinks.wait_quiet(Duration::from_millis(100), Duration::from_secs(2));
        let tallies = sinks.finish().expect("tallies");
        assert_eq!(tallies[0].datagrams, 3);
        assert_eq!(tallies[0].flows, 14);
        assert_eq!(tallies[1].datagrams, 4);
        assert_eq!(tallies[1].flows, 13);
        assert_eq!(tallies[1].framed, 1);
        assert_eq!(tallies[1].malformed, 1);
        assert_eq!(delivered_once(&tallies), 5 + 5 + 4 + 3);
    }
}
