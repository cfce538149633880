//! The relay frame: how a proxy hands a slave an export datagram together with the address of
//! the exporter that sent it (the slave sees the proxy as the UDP sender).
//!
//! ```text
//! offset  size  field
//!      0     4  magic "FFR1"
//!      4     2  original source port, big-endian
//!      6    16  original source address (IPv4 as IPv4-mapped IPv6 ::ffff:a.b.c.d)
//!     22     n  the export datagram, unchanged
//! ```
//!
//! Decoding borrows the payload from the received buffer: no copy, no allocation.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub use crate::error::FrameError;
use crate::listener::MAX_DATAGRAM;

/// The first four bytes of every frame (version 1 of the format).
pub const FRAME_MAGIC: [u8; 4] = *b"FFR1";
/// Bytes before the payload.
pub const FRAME_HEADER_LEN: usize = 22;
/// Largest payload a frame may carry so that the frame fits a receive buffer
/// ([`MAX_DATAGRAM`]); a proxy drops longer datagrams as `oversized_datagram`.
pub const MAX_RELAY_PAYLOAD: usize = MAX_DATAGRAM - FRAME_HEADER_LEN;

/// The frame header naming `source` as the original sender.
pub fn frame_header(source: SocketAddr) -> [u8; FRAME_HEADER_LEN] {
    let octets = match source.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&FRAME_MAGIC);
    header[4..6].copy_from_slice(&source.port().to_be_bytes());
    header[6..].copy_from_slice(&octets);
    header
}

/// Appends the frame of `payload` sent by `source` to `out` (which is not cleared).
pub fn encode_frame(source: SocketAddr, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&frame_header(source));
    out.extend_from_slice(payload);
}

/// The original source and the payload of a frame.
///
/// IPv4-mapped addresses come back as [`SocketAddr::V4`] (the canonical form the receive path
/// keys exporters by); IPv6 flow info and scope id are not carried. A datagram of at least four
/// bytes with the wrong magic is [`FrameError::BadMagic`] (more telling than its length), a
/// shorter one or one cut inside the header is [`FrameError::TooShort`].
pub fn decode_frame(bytes: &[u8]) -> Result<(SocketAddr, &[u8]), FrameError> {
    if let Some(magic) = bytes.first_chunk::<4>()
        && *magic != FRAME_MAGIC
    {
        return Err(FrameError::BadMagic { found: *magic });
    }
    let Some((header, payload)) = bytes.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Err(FrameError::TooShort { len: bytes.len() });
    };
    let port = u16::from_be_bytes([header[4], header[5]]);
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&header[6..]);
    let ip = Ipv6Addr::from(octets);
    let source = match ip.to_ipv4_mapped() {
        Some(v4) => SocketAddr::from((v4, port)),
        None => SocketAddr::from((ip, port)),
    };
    Ok((source, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn round_trip(source: SocketAddr, payload: &[u8]) -> (SocketAddr, Vec<u8>) {
        let mut out = Vec::new();
        encode_frame(source, payload, &mut out);
        assert_eq!(out.len(), FRAME_HEADER_LEN + payload.len());
        let (decoded, body) = decode_frame(&out).unwrap();
        (decoded, body.to_vec())
    }

    #[test]
    fn ipv4_source_round_trips_with_the_documented_layout() {
        let source: SocketAddr = "192.0.2.7:2055".parse().unwrap();
        let mut out = vec![0xaa];
        encode_frame(source, b"v5 datagram", &mut out);
        assert_eq!(out[0], 0xaa, "encode appends");
        let frame = &out[1..];
        assert_eq!(&frame[..4], b"FFR1");
        assert_eq!(&frame[4..6], &2055u16.to_be_bytes());
        assert_eq!(&frame[6..22], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7]);
        assert_eq!(&frame[22..], b"v5 datagram");
        assert_eq!(decode_frame(frame).unwrap(), (source, &b"v5 datagram"[..]));
    }

    #[test]
    fn ipv6_source_round_trips() {
        let source: SocketAddr = "[2001:db8::42]:4739".parse().unwrap();
        assert_eq!(round_trip(source, &[1, 2, 3]), (source, vec![1, 2, 3]));
    }

    #[test]
    fn mapped_ipv6_source_comes_back_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:198.51.100.1]:9996".parse().unwrap();
        let v4: SocketAddr = "198.51.100.1:9996".parse().unwrap();
        assert_eq!(round_trip(mapped, b"x").0, v4);
    }

    #[test]
    fn empty_payload_is_a_valid_frame() {
        let source: SocketAddr = "10.0.0.1:1".parse().unwrap();
        assert_eq!(round_trip(source, &[]), (source, vec![]));
    }

    #[test]
    fn truncated_frames_are_too_short() {
        let mut out = Vec::new();
        encode_frame("10.0.0.1:2055".parse().unwrap(), b"payload", &mut out);
        for len in 0..FRAME_HEADER_LEN {
            assert_eq!(
                decode_frame(&out[..len]),
                Err(FrameError::TooShort { len }),
                "len {len}"
            );
        }
        assert!(decode_frame(&out[..FRAME_HEADER_LEN]).is_ok());
    }

    #[test]
    fn wrong_magic_is_reported_before_length() {
        let mut out = Vec::new();
        encode_frame("10.0.0.1:2055".parse().unwrap(), b"payload", &mut out);
        out[3] = b'2';
        assert_eq!(decode_frame(&out), Err(FrameError::BadMagic { found: *b"FFR2" }));
        // A raw NetFlow v5 datagram sent straight to a relay port.
        let v5 = [0u8, 5, 0, 1, 0, 0];
        let err = decode_frame(&v5).unwrap_err();
        assert_eq!(err, FrameError::BadMagic { found: [0, 5, 0, 1] });
        assert_eq!(err.kind(), "bad_frame_magic");
        assert!(FrameError::KINDS.contains(&FrameError::TooShort { len: 0 }.kind()));
    }

    #[test]
    fn random_sources_and_payloads_round_trip() {
        let mut rng = SmallRng::seed_from_u64(0x5eed_f0f0);
        let mut out = Vec::new();
        for _ in 0..2000 {
            let ip: IpAddr = if rng.random_bool(0.5) {
                IpAddr::from(rng.random::<[u8; 4]>())
            } else {
                IpAddr::from(rng.random::<[u8; 16]>())
            };
            let source = SocketAddr::new(ip, rng.random());
            let len = rng.random_range(0..=MAX_RELAY_PAYLOAD.min(3000));
            let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            out.clear();
            encode_frame(source, &payload, &mut out);
            let (decoded, body) = decode_frame(&out).unwrap();
            assert_eq!(decoded, SocketAddr::new(source.ip().to_canonical(), source.port()));
            assert_eq!(body, &payload[..]);
            // Any cut inside the header is an error, never a panic.
            let cut = rng.random_range(0..FRAME_HEADER_LEN);
            assert!(decode_frame(&out[..cut]).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..2000 {
            let len = rng.random_range(0..64);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) && bytes.len() >= 4 {
                bytes[..4].copy_from_slice(&FRAME_MAGIC);
            }
            let _ = decode_frame(&bytes);
        }
    }
}
