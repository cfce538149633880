//! A parsed CIDR over the stored address form: `10.0.0.0/8`, `2001:db8::/32`, or a bare address
//! (`/32` or `/128`). An IPv4 CIDR is its prefix plus 96 over the mapped form, so it matches only
//! IPv4 addresses; an IPv6 CIDR matches by the IPv6 prefix (`::ffff:0:0/96` matches all IPv4).
//! Host bits set in the text (`10.0.0.1/8`) are ignored, as nfdump does.

use std::fmt;
use std::net::IpAddr;

use crate::addr::{Addr16, from_ip};

use super::bits::{V4_OFFSET, prefix_mask, to_bits};

/// A subnet: the addresses whose bits under `mask` equal `net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: u128,
    mask: u128,
}

/// Why a text is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CidrError {
    /// The part before `/` is not an address.
    BadAddress(String),
    /// The part after `/` is not a number.
    BadPrefix(String),
    /// The prefix length is over the family's width.
    PrefixTooLong {
        len: String,
        max: u32,
        family: &'static str,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadAddress(text) => write!(f, "'{text}' is not an IPv4 or IPv6 address"),
            Self::BadPrefix(text) => write!(f, "prefix length '{text}' is not a number"),
            Self::PrefixTooLong { len, max, family } => {
                write!(f, "prefix length {len} is over {max} for {family}")
            }
        }
    }
}

impl Cidr {
    /// Parses `addr/len` or a bare address (surrounding blanks allowed).
    pub(crate) fn parse(text: &str) -> Result<Self, CidrError> {
        let text = text.trim();
        let (addr_text, len_text) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let ip: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::BadAddress(addr_text.to_string()))?;
        let (max, offset, family) = match ip {
            IpAddr::V4(_) => (32, V4_OFFSET, "IPv4"),
            IpAddr::V6(_) => (128, 0, "IPv6"),
        };
        let len = match len_text {
            None => max,
            Some(len) => {
                if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError::BadPrefix(len.to_string()));
                }
                match len.parse::<u32>() {
                    Ok(len) if len <= max => len,
                    _ => {
                        return Err(CidrError::PrefixTooLong {
                            len: len.to_string(),
                            max,
                            family,
                        });
                    }
                }
            }
        };
        let mask = prefix_mask(offset + len);
        Ok(Self {
            net: to_bits(&from_ip(ip)) & mask,
            mask,
        })
    }

    /// The lowest and highest address of the subnet, in the stored form: the subnet is exactly
    /// the addresses between them (inclusive), so a range filter can use Parquet statistics.
    pub(crate) fn bounds(&self) -> (Addr16, Addr16) {
        (self.net.to_be_bytes(), (self.net | !self.mask).to_be_bytes())
    }

    /// `true` if the address with these bits is in the subnet.
    #[inline]
    pub(crate) fn contains(&self, bits: u128) -> bool {
        bits & self.mask == self.net
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(text: &str) -> u128 {
        to_bits(&from_ip(text.parse().unwrap()))
    }

    fn contains(cidr: &str, addr: &str) -> bool {
        Cidr::parse(cidr).unwrap().contains(bits(addr))
    }

    #[test]
    fn v4_cidrs_match_only_v4() {
        assert!(contains("10.0.0.0/8", "10.255.0.1"));
        assert!(!contains("10.0.0.0/8", "11.0.0.1"));
        assert!(contains("0.0.0.0/0", "255.255.255.255"));
        assert!(!contains("0.0.0.0/0", "::"));
        assert!(!contains("0.0.0.0/0", "2001:db8::1"));
        assert!(!contains("10.0.0.1/32", "::a00:1"));
        assert!(contains("10.0.0.1", "10.0.0.1"));
        assert!(!contains("10.0.0.1", "10.0.0.2"));
    }

    #[test]
    fn v6_cidrs_match_by_v6_prefix() {
        assert!(contains("2001:db8::/32", "2001:db8:ffff::1"));
        assert!(!contains("2001:db8::/32", "2001:db9::1"));
        assert!(contains("::ffff:0:0/96", "192.0.2.1"));
        assert!(!contains("::ffff:0:0/96", "2001:db8::1"));
        assert!(contains("::/0", "10.0.0.1"));
        assert!(contains("2001:db8::1", "2001:db8::1"));
        assert!(!contains("2001:db8::1", "2001:db8::2"));
    }

    #[test]
    fn host_bits_are_ignored() {
        assert_eq!(Cidr::parse("10.1.2.3/8"), Cidr::parse("10.0.0.0/8"));
        assert_eq!(Cidr::parse("2001:db8::1/32"), Cidr::parse("2001:db8::/32"));
        assert!(contains("10.0.0.1/8", "10.200.0.1"));
    }

    #[test]
    fn bad_cidrs_say_why() {
        let err = |text: &str| Cidr::parse(text).unwrap_err().to_string();
        assert_eq!(err("10.0.0.0/33"), "prefix length 33 is over 32 for IPv4");
        assert_eq!(err("::/129"), "prefix length 129 is over 128 for IPv6");
        assert_eq!(err("10.0.0.0/"), "prefix length '' is not a number");
        assert_eq!(err("10.0.0.0/-1"), "prefix length '-1' is not a number");
        assert_eq!(
            err("10.0.0.0/99999999999999999999999"),
            "prefix length 99999999999999999999999 is over 32 for IPv4"
        );
        assert_eq!(err("10.0.0.256/8"), "'10.0.0.256' is not an IPv4 or IPv6 address");
        assert_eq!(err("host/8"), "'host' is not an IPv4 or IPv6 address");
    }
}
