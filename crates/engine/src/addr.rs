//! IP addresses in one fixed-width column type: IPv6 as is, IPv4 as IPv4-mapped IPv6
//! (`::ffff:a.b.c.d`), always 16 bytes, so v4 and v6 share a column and compare bytewise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Width in bytes of a stored address.
pub const ADDR_WIDTH: i32 = 16;

/// A stored address: 16 bytes, IPv4 mapped into IPv6.
pub type Addr16 = [u8; 16];

/// The stored form of an IPv4 address given as a big-endian `u32`.
#[inline]
pub fn from_v4_u32(v4: u32) -> Addr16 {
    let mut out = [0u8; 16];
    out[10] = 0xff;
    out[11] = 0xff;
    out[12..].copy_from_slice(&v4.to_be_bytes());
    out
}

/// The stored form of an IPv4 address given as its 4 network-order bytes.
#[inline]
pub fn from_v4_bytes(v4: [u8; 4]) -> Addr16 {
    from_v4_u32(u32::from_be_bytes(v4))
}

/// The stored form of any IP address.
pub fn from_ip(ip: IpAddr) -> Addr16 {
    match ip {
        IpAddr::V4(v4) => from_v4_bytes(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The IP address a stored value stands for (IPv4-mapped values come back as IPv4).
pub fn to_ip(addr: &[u8]) -> Option<IpAddr> {
    let bytes: Addr16 = addr.try_into().ok()?;
    let v6 = Ipv6Addr::from(bytes);
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// Text form of a stored address (`10.0.0.1`, `2001:db8::1`); `None` if not 16 bytes.
pub fn to_text(addr: &[u8]) -> Option<String> {
    to_ip(addr).map(|ip| ip.to_string())
}

/// Text form of an address suitable for a directory name (`:` replaced by `_` for IPv6).
pub fn to_path_segment(addr: &[u8]) -> String {
    to_text(addr)
        .map(|t| t.replace(':', "_"))
        .unwrap_or_else(|| "invalid".to_string())
}

/// Parses the directory-name form written by [`to_path_segment`].
pub fn from_path_segment(segment: &str) -> Option<Addr16> {
    segment.replace('_', ":").parse::<IpAddr>().ok().map(from_ip)
}

/// `true` if the stored address is IPv4 (mapped).
pub fn is_v4(addr: &[u8]) -> bool {
    addr.len() == 16 && addr[..10].iter().all(|b| *b == 0) && addr[10] == 0xff && addr[11] == 0xff
}

/// The unspecified IPv4 address, as stored.
pub fn unspecified_v4() -> Addr16 {
    from_v4_bytes(Ipv4Addr::UNSPECIFIED.octets())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_round_trips_through_mapped_form() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let stored = from_ip(ip);
        assert!(is_v4(&stored));
        assert_eq!(to_ip(&stored), Some(ip));
        assert_eq!(to_text(&stored).unwrap(), "192.0.2.7");
    }

    #[test]
    fn v6_round_trips_and_is_not_v4() {
        let ip: IpAddr = "2001:db8::42".parse().unwrap();
        let stored = from_ip(ip);
        assert!(!is_v4(&stored));
        assert_eq!(to_ip(&stored), Some(ip));
    }

    #[test]
    fn path_segment_round_trips_v6() {
        let stored = from_ip("2001:db8::1".parse().unwrap());
        let seg = to_path_segment(&stored);
        assert!(!seg.contains(':'));
        assert_eq!(from_path_segment(&seg), Some(stored));
    }

    #[test]
    fn wrong_width_is_rejected() {
        assert_eq!(to_ip(&[1, 2, 3]), None);
    }
}
