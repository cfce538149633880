//! Batched, non-blocking sending of relay frames (`sendmmsg`).
//!
//! Each frame is two pieces gathered by the kernel: the 22-byte frame header, kept in the
//! sender, and the payload, borrowed straight from the receive buffer. Nothing is copied and
//! nothing is allocated per datagram.
//!
//! **UDP GSO**: within a batch, consecutive frames to the same target with the same length go
//! out as one message with `UDP_SEGMENT` (up to [`MAX_SEGMENTS`] frames, [`MAX_GSO_BYTES`] in
//! all), which the kernel cuts into the same datagrams: one trip down the send path instead of
//! one per frame. The batch is ordered by target first, each target's frames in the order they
//! were given (so an exporter's datagrams, templates before data, keep their order). A message
//! the kernel refuses as GSO (a path MTU below the frame, no GSO support) is sent frame by
//! frame; a kernel without UDP GSO turns it off for the sender.

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

/// Most frames in one GSO message.
pub const MAX_SEGMENTS: usize = 64;
/// Most bytes in one GSO message (below the 65,507 bytes of a UDP datagram).
pub const MAX_GSO_BYTES: usize = 65_000;
/// `UDP_SEGMENT` (linux/udp.h), the control message that sets a send's segment size.
const UDP_SEGMENT: libc::c_int = 103;

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
    /// Whether to send GSO messages (off after the kernel said it has no UDP GSO).
    gso: bool,
    /// The queued slots ordered by target (each target's in the given order).
    order: Vec<usize>,
    /// `iovecs` in that order: a GSO message's frames are consecutive here.
    sorted: Vec<[libc::iovec; 2]>,
    /// Per message: its first position in `order` and its frame count.
    runs: Vec<(usize, usize)>,
    /// Per message: its control buffer (the `UDP_SEGMENT` size), 8-byte aligned.
    controls: Vec<[u64; 4]>,
    /// Frames sent inside GSO messages so far.
    gso_frames: u64,
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
            gso: true,
            order: Vec::with_capacity(BATCH),
            sorted: vec![[zero_iov; 2]; BATCH],
            runs: vec![(0, 0); BATCH],
            controls: vec![[0; 4]; BATCH],
            gso_frames: 0,
        })
    }

    /// Frames sent inside GSO messages so far.
    pub fn gso_frames(&self) -> u64 {
        self.gso_frames
    }

    /// Turns UDP GSO off (every frame its own message), as on a kernel without it.
    pub fn without_gso(mut self) -> Self {
        self.gso = false;
        self
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
    /// target out of range are reported as [`io::ErrorKind::InvalidInput`]. Each target's
    /// datagrams are sent, and reported, in the order given; targets may interleave differently.
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
            for iov in self.iovecs[..queued].iter_mut().chain(&mut self.sorted[..queued]) {
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
    }

    /// The frame length of queued slot `slot`.
    fn frame_len(&self, slot: usize) -> usize {
        FRAME_HEADER_LEN + self.iovecs[slot][1].iov_len
    }

    /// Sends the `queued` slots: runs of equal frames to one target as GSO messages (see the
    /// module doc), every frame its own message without GSO.
    fn flush(&mut self, queued: usize, report: &mut impl FnMut(usize, usize, io::Result<usize>)) {
        let max_run = if self.gso { MAX_SEGMENTS } else { 1 };
        self.order.clear();
        self.order.extend(0..queued);
        let targets = &self.queued_targets;
        self.order.sort_unstable_by_key(|&slot| (targets[slot], slot));
        for (k, &slot) in self.order.iter().enumerate() {
            self.sorted[k] = self.iovecs[slot];
        }
        let mut count = 0;
        let mut k = 0;
        while k < queued {
            let first = self.order[k];
            let (target, len) = (self.queued_targets[first], self.frame_len(first));
            let mut n = 1;
            while k + n < queued
                && n < max_run
                && (n + 1) * len <= MAX_GSO_BYTES
                && self.queued_targets[self.order[k + n]] == target
                && self.frame_len(self.order[k + n]) == len
            {
                n += 1;
            }
            self.runs[count] = (k, n);
            let addr = &self.targets[target];
            let msg = &mut self.messages[count];
            msg.msg_len = 0;
            msg.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            msg.msg_hdr.msg_namelen = addr.len();
            msg.msg_hdr.msg_iov = self.sorted[k].as_mut_ptr();
            msg.msg_hdr.msg_iovlen = 2 * n;
            msg.msg_hdr.msg_flags = 0;
            if n > 1 {
                let control = &mut self.controls[count];
                msg.msg_hdr.msg_control = control.as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE of a u16 is 24 bytes, within the 32-byte aligned buffer.
                unsafe {
                    msg.msg_hdr.msg_controllen = libc::CMSG_SPACE(2) as usize;
                    let cmsg = libc::CMSG_FIRSTHDR(&msg.msg_hdr);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(2) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), len as u16);
                }
            } else {
                msg.msg_hdr.msg_control = std::ptr::null_mut();
                msg.msg_hdr.msg_controllen = 0;
            }
            count += 1;
            k += n;
        }
        let mut start = 0;
        while start < count {
            // SAFETY: messages[start..count] point at live headers, iovecs, controls and targets
            // owned by `self` and at payloads borrowed for the duration of `send`; the kernel
            // only reads them (and writes `msg_len`).
            let sent = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    self.messages.as_mut_ptr().add(start),
                    (count - start) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if sent > 0 {
                for m in start..start + sent as usize {
                    let (_, n) = self.runs[m];
                    if n > 1 {
                        self.gso_frames += n as u64;
                    }
                    self.report_run(m, Ok(()), report);
                }
                start += sent as usize;
                continue;
            }
            let err = if sent == 0 {
                io::Error::other("sendmmsg sent nothing")
            } else {
                io::Error::last_os_error()
            };
            let (_, n) = self.runs[start];
            match (err.kind(), err.raw_os_error()) {
                (io::ErrorKind::Interrupted, _) => {}
                (io::ErrorKind::WouldBlock, _) => {
                    for m in start..count {
                        self.report_run(m, Err(io::ErrorKind::WouldBlock), report);
                    }
                    return;
                }
                // The kernel refused the GSO message (MTU, no GSO): its frames one by one.
                (_, Some(code))
                    if n > 1
                        && [
                            libc::EINVAL,
                            libc::EIO,
                            libc::EMSGSIZE,
                            libc::ENOPROTOOPT,
                            libc::EOPNOTSUPP,
                        ]
                        .contains(&code) =>
                {
                    if [libc::ENOPROTOOPT, libc::EOPNOTSUPP].contains(&code) {
                        tracing::warn!(error = %err, "no UDP GSO here: frames go one per message");
                        self.gso = false;
                    }
                    let (first, n) = self.runs[start];
                    for k in first..first + n {
                        let slot = self.order[k];
                        let result = self.send_one(k).map(|_| ());
                        report(
                            self.queued_tags[slot],
                            self.queued_targets[slot],
                            result.map(|()| self.frame_len(slot)),
                        );
                    }
                    start += 1;
                }
                // Anything else belongs to the first message; carry on with the next.
                _ => {
                    let (first, n) = self.runs[start];
                    for k in first..first + n {
                        let slot = self.order[k];
                        report(
                            self.queued_tags[slot],
                            self.queued_targets[slot],
                            Err(io::Error::new(err.kind(), err.to_string())),
                        );
                    }
                    start += 1;
                }
            }
        }
    }

    /// Reports every frame of message `m` as sent (`Ok`), or as failed with the error kind.
    fn report_run(
        &self,
        m: usize,
        outcome: Result<(), io::ErrorKind>,
        report: &mut impl FnMut(usize, usize, io::Result<usize>),
    ) {
        let (first, n) = self.runs[m];
        for &slot in &self.order[first..first + n] {
            let result = outcome.map(|()| self.frame_len(slot)).map_err(io::Error::from);
            report(self.queued_tags[slot], self.queued_targets[slot], result);
        }
    }

    /// Sends the frame at position `k` of `sorted` alone.
    fn send_one(&self, k: usize) -> io::Result<usize> {
        let slot = self.order[k];
        let addr = &self.targets[self.queued_targets[slot]];
        // SAFETY: all-zero is a valid msghdr; it points at live buffers owned by `self` and at a
        // payload borrowed for the duration of `send`, which the kernel only reads.
        let sent = unsafe {
            let mut msg: libc::msghdr = MaybeUninit::zeroed().assume_init();
            msg.msg_name = addr.as_ptr().cast_mut().cast();
            msg.msg_namelen = addr.len();
            msg.msg_iov = self.sorted[k].as_ptr().cast_mut();
            msg.msg_iovlen = 2;
            libc::sendmsg(self.socket.as_raw_fd(), &msg, libc::MSG_DONTWAIT)
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
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
        outcomes.sort();
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

    /// Equal frames to one target go out as GSO messages and arrive as the same datagrams, each
    /// target's in order, with or without GSO; a frame of another length starts a new message.
    #[test]
    fn runs_of_equal_frames_arrive_as_the_datagrams_they_were() {
        for gso in [true, false] {
            let (a, b) = (receiver(), receiver());
            let targets = [a.local_addr().unwrap(), b.local_addr().unwrap()];
            let tx = BatchSender::new(&targets, 4 << 20).unwrap();
            let mut tx = if gso { tx } else { tx.without_gso() };
            let source: SocketAddr = "192.0.2.7:2055".parse().unwrap();
            // 150 frames (more than a batch): to a and b in turn, 1,400 bytes each, but every
            // 10th to a is 300 bytes; each numbered in its first two bytes.
            let payloads: Vec<Vec<u8>> = (0..150u16)
                .map(|i| {
                    let len = if i % 2 == 0 && i % 20 == 10 { 300 } else { 1400 };
                    let mut p = vec![(i % 251) as u8; len];
                    p[..2].copy_from_slice(&i.to_be_bytes());
                    p
                })
                .collect();
            let mut outcomes = Vec::new();
            tx.send(
                payloads.iter().enumerate().map(|(i, p)| Outgoing {
                    tag: i,
                    target: i % 2,
                    source,
                    payload: p,
                }),
                |tag, target, result| outcomes.push((tag, target, result.unwrap())),
            );
            outcomes.sort();
            let want: Vec<(usize, usize, usize)> = payloads
                .iter()
                .enumerate()
                .map(|(i, p)| (i, i % 2, FRAME_HEADER_LEN + p.len()))
                .collect();
            assert_eq!(outcomes, want, "gso {gso}");
            // 75 frames to b, all 1,400 bytes: at least those went as GSO runs.
            assert_eq!(tx.gso_frames() >= 75, gso, "{} frames in GSO messages", tx.gso_frames());
            let mut buf = [0u8; 2048];
            for (socket, parity) in [(&a, 0), (&b, 1)] {
                for (i, p) in payloads.iter().enumerate().filter(|(i, _)| i % 2 == parity) {
                    let (n, _) = socket.recv_from(&mut buf).unwrap();
                    let (from, got) = decode_frame(&buf[..n]).unwrap();
                    assert_eq!(from, source);
                    assert_eq!(got, p.as_slice(), "frame {i} (gso {gso})");
                }
            }
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
