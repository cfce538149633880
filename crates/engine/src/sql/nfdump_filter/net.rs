//! Networks of a filter: an address and a prefix length, host bits cleared, and the range of
//! stored addresses (`FixedSizeBinary(16)`, IPv4 mapped into IPv6) they cover. An IPv4 network
//! covers only IPv4 addresses; an IPv6 one covers what its IPv6 prefix covers.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::addr::{Addr16, from_ip};

/// Prefix bits the IPv4-mapped form puts before an IPv4 address (`::ffff:0:0/96`).
const V4_MAPPED_BITS: u32 = 96;

/// A network: `addr/len` with the bits after `len` cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Net {
    addr: IpAddr,
    len: u8,
}

impl Net {
    /// The network of `addr` with a `len`-bit prefix; `None` if `len` is over the family's
    /// width (32 or 128).
    pub(crate) fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let width = family_width(addr);
        if u32::from(len) > width {
            return None;
        }
        let (low, _) = range(addr, len);
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes([low[12], low[13], low[14], low[15]]))),
            IpAddr::V6(_) => IpAddr::V6(low.into()),
        };
        Some(Self { addr, len })
    }

    /// The one-address network of a host.
    pub(crate) fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            len: family_width(addr) as u8,
        }
    }

    /// `true` if the network is a single address.
    pub(crate) fn is_host(&self) -> bool {
        u32::from(self.len) == family_width(self.addr)
    }

    /// The lowest and highest stored address of the network (inclusive).
    pub(crate) fn bounds(&self) -> (Addr16, Addr16) {
        range(self.addr, self.len)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// 32 for IPv4, 128 for IPv6.
fn family_width(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The stored addresses of `addr/len`, lowest and highest.
fn range(addr: IpAddr, len: u8) -> (Addr16, Addr16) {
    let bits = u128::from_be_bytes(from_ip(addr));
    let prefix = match addr {
        IpAddr::V4(_) => V4_MAPPED_BITS + u32::from(len),
        IpAddr::V6(_) => u32::from(len),
    };
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    ((bits & mask).to_be_bytes(), (bits | !mask).to_be_bytes())
}

/// The prefix length of a contiguous IPv4 netmask (`255.255.240.0` is 20); `None` if the mask's
/// one bits are not all in front.
pub(crate) fn mask_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// An IPv4 address possibly written with fewer than 4 parts (`172.16` is `172.16.0.0`), as
/// nfdump accepts before a prefix length; returns the address and how many parts were given.
pub(crate) fn abbreviated_v4(text: &str) -> Option<(Ipv4Addr, usize)> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    Some((Ipv4Addr::from(octets), parts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::to_text;

    fn net(text: &str, len: u8) -> Net {
        Net::new(text.parse().unwrap(), len).unwrap()
    }

    fn bounds_text(n: Net) -> (String, String) {
        let (low, high) = n.bounds();
        (to_text(&low).unwrap(), to_text(&high).unwrap())
    }

    #[test]
    fn host_bits_are_cleared_and_bounds_cover_the_prefix() {
        let n = net("10.1.2.3", 8);
        assert_eq!(n.to_string(), "10.0.0.0/8");
        assert_eq!(bounds_text(n), ("10.0.0.0".into(), "10.255.255.255".into()));
        let n = net("2001:db8:100::1", 48);
        assert_eq!(n.to_string(), "2001:db8:100::/48");
        assert_eq!(
            bounds_text(n),
            ("2001:db8:100::".into(), "2001:db8:100:ffff:ffff:ffff:ffff:ffff".into())
        );
        let n = net("2001:db8::5", 127);
        assert_eq!(bounds_text(n), ("2001:db8::4".into(), "2001:db8::5".into()));
    }

    #[test]
    fn zero_length_prefixes_cover_a_whole_family() {
        assert_eq!(
            bounds_text(net("0.0.0.0", 0)),
            ("0.0.0.0".into(), "255.255.255.255".into())
        );
        let (low, high) = net("::", 0).bounds();
        assert_eq!((low, high), ([0; 16], [0xff; 16]));
    }

    #[test]
    fn hosts_print_without_a_length_and_long_prefixes_are_refused() {
        let host = Net::host("192.0.2.1".parse().unwrap());
        assert!(host.is_host());
        assert_eq!(host.to_string(), "192.0.2.1");
        assert_eq!(bounds_text(host), ("192.0.2.1".into(), "192.0.2.1".into()));
        assert_eq!(Net::new("10.0.0.0".parse().unwrap(), 33), None);
        assert_eq!(Net::new("::".parse().unwrap(), 129), None);
    }

    #[test]
    fn netmasks_and_abbreviated_addresses() {
        assert_eq!(mask_len("255.255.240.0".parse().unwrap()), Some(20));
        assert_eq!(mask_len("0.0.0.0".parse().unwrap()), Some(0));
        assert_eq!(mask_len("255.255.255.255".parse().unwrap()), Some(32));
        assert_eq!(mask_len("255.0.255.0".parse().unwrap()), None);
        assert_eq!(abbreviated_v4("172.16"), Some(("172.16.0.0".parse().unwrap(), 2)));
        assert_eq!(abbreviated_v4("10"), Some(("10.0.0.0".parse().unwrap(), 1)));
        assert_eq!(abbreviated_v4("10..1"), None);
        assert_eq!(abbreviated_v4("300.1"), None);
        assert_eq!(abbreviated_v4("1.2.3.4.5"), None);
    }
}
