//! UDP flow listeners: a socket with a large receive buffer and batched receive (`recvmmsg`).

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::IngestError;

/// Largest datagram we accept whole; longer ones are counted as truncated.
pub const MAX_DATAGRAM: usize = 16 * 1024;
/// Datagrams taken from the kernel per `recvmmsg` call.
pub const BATCH: usize = 64;

/// Binds a UDP socket for flow export with the requested receive buffer and read timeout.
///
/// The buffer is asked for with `SO_RCVBUFFORCE` first (allowed to root, it passes
/// `net.core.rmem_max`), then `SO_RCVBUF`; the size the kernel granted is returned.
pub fn bind_flow_socket(
    addr: SocketAddr,
    recv_buffer: usize,
    read_timeout: Duration,
) -> Result<(UdpSocket, usize), IngestError> {
    let fail = |source: io::Error| IngestError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_reuse_address(true).map_err(fail)?;
    if force_recv_buffer(&socket, recv_buffer).is_err() {
        socket.set_recv_buffer_size(recv_buffer).map_err(fail)?;
    }
    let granted = socket.recv_buffer_size().map_err(fail)?;
    socket.set_read_timeout(Some(read_timeout)).map_err(fail)?;
    socket.bind(&SockAddr::from(addr)).map_err(fail)?;
    Ok((socket.into(), granted))
}

/// Sets `SO_RCVBUFFORCE`, which only a privileged process may use.
fn force_recv_buffer(socket: &Socket, size: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: plain setsockopt on an open socket with a correctly sized int option.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One received datagram, borrowed from a [`BatchReceiver`].
#[derive(Debug)]
pub struct Datagram<'a> {
    /// The sender (the exporter, or the proxy for proxied export).
    pub source: SocketAddr,
    /// The payload.
    pub payload: &'a [u8],
    /// `true` if the datagram was longer than [`MAX_DATAGRAM`] and got cut.
    pub truncated: bool,
}

/// Receives up to [`BATCH`] datagrams per system call into reusable buffers.
pub struct BatchReceiver {
    socket: UdpSocket,
    buffers: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: usize,
}

// The raw pointers inside only point into the receiver's own heap buffers.
unsafe impl Send for BatchReceiver {}

impl std::fmt::Debug for BatchReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReceiver").field("socket", &self.socket).finish()
    }
}

impl BatchReceiver {
    /// Wraps a bound socket.
    pub fn new(socket: UdpSocket) -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        let zero_hdr: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        let mut receiver = Self {
            socket,
            buffers: vec![0u8; BATCH * MAX_DATAGRAM],
            addrs: vec![zero_addr; BATCH],
            iovecs: Vec::with_capacity(BATCH),
            headers: vec![zero_hdr; BATCH],
            received: 0,
        };
        for i in 0..BATCH {
            // SAFETY: the offset stays inside `buffers`, which is never resized.
            let base = unsafe { receiver.buffers.as_mut_ptr().add(i * MAX_DATAGRAM) };
            receiver.iovecs.push(libc::iovec {
                iov_base: base.cast(),
                iov_len: MAX_DATAGRAM,
            });
        }
        for i in 0..BATCH {
            let hdr = &mut receiver.headers[i].msg_hdr;
            hdr.msg_name = (&mut receiver.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut receiver.iovecs[i];
            hdr.msg_iovlen = 1;
        }
        receiver
    }

    /// The socket's bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Waits (up to the socket's read timeout) for datagrams and returns how many arrived;
    /// 0 on timeout.
    pub fn receive(&mut self) -> io::Result<usize> {
        for i in 0..BATCH {
            self.headers[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            self.headers[i].msg_hdr.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
        // SAFETY: every header points at a live iovec, buffer and address owned by `self`,
        // sized as declared; the kernel writes at most that much.
        let n = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            self.received = 0;
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// The `i`-th datagram of the last [`receive`](Self::receive); `None` past the count or for
    /// an unknown address family.
    pub fn datagram(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.received {
            return None;
        }
        let hdr = &self.headers[i];
        let len = (hdr.msg_len as usize).min(MAX_DATAGRAM);
        let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let source = sockaddr_to_std(&self.addrs[i], hdr.msg_hdr.msg_namelen)?;
        let start = i * MAX_DATAGRAM;
        Some(Datagram {
            source,
            payload: &self.buffers[start..start + len],
            truncated,
        })
    }
}

fn sockaddr_to_std(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a sockaddr_in into the storage (family and length checked).
            let sin: &libc::sockaddr_in = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the kernel wrote a sockaddr_in6 into the storage (family and length checked).
            let sin6: &libc::sockaddr_in6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Datagrams the kernel dropped on the UDP socket bound to `port` (from `/proc/net/udp{,6}`).
pub fn kernel_drops(port: u16) -> Option<u64> {
    let mut total = None;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let Some(local) = cols.get(1) else { continue };
            let Some((_, port_hex)) = local.rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(port_hex, 16).ok() != Some(port) {
                continue;
            }
            if let Some(drops) = cols.last().and_then(|d| d.parse::<u64>().ok()) {
                *total.get_or_insert(0) += drops;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receives_a_batch_with_sources() {
        let (socket, granted) =
            bind_flow_socket("127.0.0.1:0".parse().unwrap(), 1 << 20, Duration::from_millis(200)).unwrap();
        assert!(granted >= 1 << 20, "granted {granted}");
        let mut rx = BatchReceiver::new(socket);
        let target = rx.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..10u8 {
            tx.send_to(&[i; 100], target).unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 10 {
            let n = rx.receive().unwrap();
            assert!(n > 0, "timed out after {} datagrams", seen.len());
            for i in 0..n {
                let d = rx.datagram(i).unwrap();
                assert_eq!(d.source, tx.local_addr().unwrap());
                assert_eq!(d.payload.len(), 100);
                assert!(!d.truncated);
                seen.push(d.payload[0]);
            }
        }
        assert_eq!(seen, (0..10).collect::<Vec<u8>>());
        assert_eq!(rx.receive().unwrap(), 0, "a quiet socket times out with 0");
    }

    #[test]
    fn oversized_datagrams_are_flagged() {
        let (socket, _) =
            bind_flow_socket("127.0.0.1:0".parse().unwrap(), 1 << 20, Duration::from_millis(200)).unwrap();
        let mut rx = BatchReceiver::new(socket);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(&vec![7u8; MAX_DATAGRAM + 10], rx.local_addr().unwrap())
            .unwrap();
        assert_eq!(rx.receive().unwrap(), 1);
        let d = rx.datagram(0).unwrap();
        assert!(d.truncated);
        assert_eq!(d.payload.len(), MAX_DATAGRAM);
    }
}
