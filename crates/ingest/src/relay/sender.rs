//! Batched, non-blocking sending of relay frames (`sendmmsg`).
//!
//! Each message is two pieces gathered by the kernel: the 22-byte frame header, kept in the
//! sender, and the payload, borrowed straight from the receive buffer. Nothing is copied and
//! nothing is allocated per datagram.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::frame::{FRAME_HEADER_LEN, frame_header};
use crate::error::IngestError;
use crate::listener::BATCH;

/// One datagram to forward.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Handed back with the outcome, so the caller can tell which datagram it was.
    pub tag: usize,
    /// Index of the destination in the sender's target list.
    pub target: usize,
    /// The original sender, written into the frame header.
    pub source: SocketAddr,
    /// The export datagram.
    pub payload: &'a [u8],
}

/// Sends relay frames to a fixed list of targets, up to [`BATCH`] per system call.
pub struct BatchSender {
    socket: UdpSocket,
    /// The socket is dual-stack IPv6 (some target was IPv6 at start).
    any_v6: bool,
    targets: Vec<SockAddr>,
    headers: Vec<[u8; FRAME_HEADER_LEN]>,
    iovecs: Vec<[libc::iovec; 2]>,
    messages: Vec<libc::mmsghdr>,
    queued_targets: Vec<usize>,
    queued_tags: Vec<usize>,
}

// The raw pointers inside only point into the sender's own heap buffers (never resized), or,
// during one `send` call, into payloads borrowed for that call.
unsafe impl Send for BatchSender {}

impl std::fmt::Debug for BatchSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSender")
            .field("socket", &self.socket)
            .field("targets", &self.targets.len())
            .finish()
    }
}

impl BatchSender {
    /// Opens an unbound-port UDP socket that can reach every target (dual-stack IPv6 if any
    /// target is IPv6, IPv4 otherwise), asking for `send_buffer` bytes of send buffer.
    pub fn new(targets: &[SocketAddr], send_buffer: usize) -> Result<Self, IngestError> {
        let any_v6 = targets.iter().any(|t| t.ip().to_canonical().is_ipv6());
        let local: SocketAddr = if any_v6 {
            "[::]:0".parse().expect("literal address")
        } else {
            "0.0.0.0:0".parse().expect("literal address")
        };
        let fail = |source: io::Error| IngestError::Io {
            op: "open the forwarding socket",
            source,
        };
        let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
        if any_v6 {
            socket.set_only_v6(false).map_err(fail)?;
        }
        if socket.set_send_buffer_size(send_buffer).is_err() {
            tracing::warn!(wanted = send_buffer, "send buffer size not set");
        }
        socket.bind(&SockAddr::from(local)).map_err(fail)?;
        let targets = targets.iter().map(|t| target_addr(any_v6, *t)).collect();
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_iov: libc::iovec = unsafe { MaybeUninit::zeroed().assume_init() };
        let zero_msg: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        Ok(Self {
            socket: socket.into(),
            any_v6,
            targets,
            headers: vec![[0; FRAME_HEADER_LEN]; BATCH],
            iovecs: vec![[zero_iov; 2]; BATCH],
            messages: vec![zero_msg; BATCH],
            queued_targets: vec![0; BATCH],
            queued_tags: vec![0; BATCH],
        })
    }

    /// Appends a target (its index is the next one). An IPv6 target needs a socket opened
    /// dual-stack, that is with an IPv6 target at start.
    pub fn add_target(&mut self, target: SocketAddr) -> Result<(), IngestError> {
        if !self.any_v6 && target.ip().to_canonical().is_ipv6() {
            return Err(IngestError::RelayConfig {
                setting: "slaves",
                reason: format!("IPv6 slave {target} added to a proxy whose slaves were all IPv4 at start: restart it"),
            });
        }
        self.targets.push(target_addr(self.any_v6, target));
        Ok(())
    }

    /// The local address datagrams are sent from.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends every datagram as a frame without blocking, and reports each outcome to
    /// `report(tag, target, result)`: the datagram's [`Outgoing::tag`], its target, and the bytes
    /// sent or the error (a full send buffer is [`io::ErrorKind::WouldBlock`]). Datagrams with a
    /// target out of range are reported as [`io::ErrorKind::InvalidInput`].
    pub fn send<'a>(
        &mut self,
        datagrams: impl IntoIterator<Item = Outgoing<'a>>,
        mut report: impl FnMut(usize, usize, io::Result<usize>),
    ) {
        let mut datagrams = datagrams.into_iter();
        loop {
            let mut queued = 0;
            while queued < BATCH {
                let Some(d) = datagrams.next() else { break };
                if d.target >= self.targets.len() {
                    report(d.tag, d.target, Err(io::ErrorKind::InvalidInput.into()));
                    continue;
                }
                self.queue(queued, d);
                queued += 1;
            }
            if queued == 0 {
                return;
            }
            self.flush(queued, &mut report);
            // The payload pointers of this round die here: clear them before the borrow ends.
            for iov in &mut self.iovecs[..queued] {
                iov[1].iov_base = std::ptr::null_mut();
                iov[1].iov_len = 0;
            }
        }
    }

    fn queue(&mut self, slot: usize, d: Outgoing<'_>) {
        self.headers[slot] = frame_header(d.source);
        self.queued_targets[slot] = d.target;
        self.queued_tags[slot] = d.tag;
        self.iovecs[slot] = [
            libc::iovec {
                iov_base: self.headers[slot].as_mut_ptr().cast(),
                iov_len: FRAME_HEADER_LEN,
            },
            libc::iovec {
                // sendmmsg only reads through this pointer.
                iov_base: d.payload.as_ptr().cast_mut().cast(),
                iov_len: d.payload.len(),
            },
        ];
        let target = &self.targets[d.target];
        let msg = &mut self.messages[slot];
        msg.msg_len = 0;
        msg.msg_hdr.msg_name = target.as_ptr().cast_mut().cast();
        msg.msg_hdr.msg_namelen = target.len();
        msg.msg_hdr.msg_iov = self.iovecs[slot].as_mut_ptr();
        msg.msg_hdr.msg_iovlen = 2;
        msg.msg_hdr.msg_control = std::ptr::null_mut();
        msg.msg_hdr.msg_controllen = 0;
        msg.msg_hdr.msg_flags = 0;
    }

    fn flush(&mut self, queued: usize, report: &mut impl FnMut(usize, usize, io::Result<usize>)) {
        let mut start = 0;
        while start < queued {
            // SAFETY: messages[start..queued] point at live headers, iovecs and targets owned
            // by `self` and at payloads borrowed for the duration of `send`; the kernel only
            // reads them (and writes `msg_len`).
            let sent = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    self.messages.as_mut_ptr().add(start),
                    (queued - start) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if sent > 0 {
                let end = start + sent as usize;
                for slot in start..end {
                    report(
                        self.queued_tags[slot],
                        self.queued_targets[slot],
                        Ok(self.messages[slot].msg_len as usize),
                    );
                }
                start = end;
                continue;
            }
            let err = if sent == 0 {
                io::Error::other("sendmmsg sent nothing")
            } else {
                io::Error::last_os_error()
            };
            match err.kind() {
                io::ErrorKind::Interrupted => {}
                // The socket's buffer is shared by all targets: the rest would fail alike.
                io::ErrorKind::WouldBlock => {
                    for slot in start..queued {
                        report(
                            self.queued_tags[slot],
                            self.queued_targets[slot],
                            Err(io::ErrorKind::WouldBlock.into()),
                        );
                    }
                    return;
                }
                // Anything else belongs to the first message; carry on with the next.
                _ => {
                    report(self.queued_tags[start], self.queued_targets[start], Err(err));
                    start += 1;
                }
            }
        }
    }
}

/// `target` as the socket address the sending socket uses (IPv4-mapped on a dual-stack socket).
fn target_addr(any_v6: bool, target: SocketAddr) -> SockAddr {
    let ip = target.ip().to_canonical();
    match (any_v6, ip) {
        (true, std::net::IpAddr::V4(v4)) => SockAddr::from(SocketAddr::new(v4.to_ipv6_mapped().into(), target.port())),
        _ => SockAddr::from(SocketAddr::new(ip, target.port())),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::relay::frame::decode_frame;

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    #[test]
    fn frames_reach_their_targets_with_the_original_source() {
        let (a, b) = (receiver(), receiver());
        let targets = [a.local_addr().unwrap(), b.local_addr().unwrap()];
        let mut tx = BatchSender::new(&targets, 1 << 20).unwrap();
        let sources: [SocketAddr; 3] = [
            "192.0.2.1:2055".parse().unwrap(),
            "[2001:db8::1]:4739".parse().unwrap(),
            "192.0.2.3:9996".parse().unwrap(),
        ];
        let payloads: [&[u8]; 3] = [b"one", b"", &[7u8; 1400]];
        let mut outcomes = Vec::new();
        tx.send(
            (0..3).map(|i| Outgoing {
                tag: 10 + i,
                target: i % 2,
                source: sources[i],
                payload: payloads[i],
            }),
            |tag, target, result| outcomes.push((tag, target, result.unwrap())),
        );
        assert_eq!(outcomes, [(10, 0, 25), (11, 1, 22), (12, 0, 1422)]);

        let mut buf = [0u8; 2048];
        for (socket, expected) in [(&a, 0), (&b, 1), (&a, 2)] {
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            let (source, payload) = decode_frame(&buf[..n]).unwrap();
            assert_eq!(source, sources[expected]);
            assert_eq!(payload, payloads[expected]);
        }
    }

    #[test]
    fn more_than_a_batch_is_sent_in_several_calls() {
        let a = receiver();
        let mut tx = BatchSender::new(&[a.local_addr().unwrap()], 1 << 20).unwrap();
        let source: SocketAddr = "192.0.2.1:2055".parse().unwrap();
        let payloads: Vec<[u8; 2]> = (0..BATCH as u16 + 3).map(u16::to_be_bytes).collect();
        let mut sent = 0;
        tx.send(
            payloads.iter().enumerate().map(|(tag, p)| Outgoing {
                tag,
                target: 0,
                source,
                payload: p,
            }),
            |tag, _, result| {
                result.unwrap();
                assert_eq!(tag, sent, "outcomes come in order");
                sent += 1;
            },
        );
        assert_eq!(sent, payloads.len());
        let mut buf = [0u8; 64];
        for p in &payloads {
            let (n, _) = a.recv_from(&mut buf).unwrap();
            assert_eq!(decode_frame(&buf[..n]).unwrap().1, p);
        }
    }

    #[test]
    fn a_target_out_of_range_is_reported_not_sent() {
        let a = receiver();
        let mut tx = BatchSender::new(&[a.local_addr().unwrap()], 1 << 20).unwrap();
        let mut errors = Vec::new();
        tx.send(
            [Outgoing {
                tag: 3,
                target: 5,
                source: "192.0.2.1:1".parse().unwrap(),
                payload: b"x",
            }],
            |tag, target, result| errors.push((tag, target, result.unwrap_err().kind())),
        );
        assert_eq!(errors, [(3, 5, io::ErrorKind::InvalidInput)]);
    }
}
