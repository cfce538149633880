//! The 128-bit view of stored addresses the IP functions compute on: a stored address read as a
//! big-endian `u128`, the IPv4-mapped test, and prefix masks. One integer AND and compare per row
//! is all a subnet test or a network address costs.

use arrow::array::{Array, FixedSizeBinaryArray};

use crate::addr::{ADDR_WIDTH, Addr16};

/// Bytes in a stored address.
pub(crate) const ADDR_BYTES: usize = ADDR_WIDTH as usize;

/// Bits an IPv4 prefix length is shifted by over the mapped form (`::ffff:0:0/96`).
pub(crate) const V4_OFFSET: u32 = 96;

/// The bits of one stored address (16 bytes, big-endian).
#[inline]
pub(crate) fn to_bits(addr: &[u8]) -> u128 {
    let mut bytes: Addr16 = [0; ADDR_BYTES];
    bytes.copy_from_slice(addr);
    u128::from_be_bytes(bytes)
}

/// `true` if the bits are an IPv4-mapped address (`::ffff:a.b.c.d`).
#[inline]
pub(crate) fn is_v4_bits(bits: u128) -> bool {
    bits >> 32 == 0xffff
}

/// The mask keeping the first `len` bits of 128 (`len` at most 128).
#[inline]
pub(crate) fn prefix_mask(len: u32) -> u128 {
    match len {
        0 => 0,
        len => u128::MAX << (128 - len.min(128)),
    }
}

/// The bits of every value of an address array, in order (null slots give arbitrary bits).
pub(crate) fn array_bits(array: &FixedSizeBinaryArray) -> impl Iterator<Item = u128> + '_ {
    array.value_data()[..array.len() * ADDR_BYTES]
        .chunks_exact(ADDR_BYTES)
        .map(to_bits)
}

/// The bits of the `i`th value of the raw value bytes of an address array.
#[inline]
pub(crate) fn bits_at(values: &[u8], i: usize) -> u128 {
    to_bits(&values[i * ADDR_BYTES..(i + 1) * ADDR_BYTES])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_ip;

    fn bits(text: &str) -> u128 {
        to_bits(&from_ip(text.parse().unwrap()))
    }

    #[test]
    fn mapped_v4_is_detected_and_v6_is_not() {
        assert!(is_v4_bits(bits("10.0.0.1")));
        assert!(is_v4_bits(bits("0.0.0.0")));
        assert!(!is_v4_bits(bits("2001:db8::1")));
        assert!(!is_v4_bits(bits("::a00:1")));
        assert!(!is_v4_bits(bits("::")));
    }

    #[test]
    fn masks_keep_leading_bits() {
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(128), u128::MAX);
        assert_eq!(prefix_mask(1), 1 << 127);
        assert_eq!(bits("10.1.2.3") & prefix_mask(V4_OFFSET + 8), bits("10.0.0.0"));
    }
}
