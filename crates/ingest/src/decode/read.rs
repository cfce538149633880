//! Big-endian reads that never panic: every read returns `None` past the end of the buffer.

/// The `u16` at `off`.
#[inline]
pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// The `u32` at `off`.
#[inline]
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// An unsigned big-endian integer of any width 1..=8 (reduced-size encoding). Longer slices keep
/// their last 8 bytes; an empty slice is 0.
#[inline]
pub(crate) fn uint(s: &[u8]) -> u64 {
    match s.len() {
        1 => u64::from(s[0]),
        2 => u64::from(u16::from_be_bytes([s[0], s[1]])),
        4 => u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        8 => u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
        _ => s.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_size_integers_read_big_endian() {
        assert_eq!(uint(&[0x01, 0x02, 0x03]), 0x010203);
        assert_eq!(uint(&[0xff]), 255);
        assert_eq!(uint(&[1, 2, 3, 4, 5, 6, 7]), 0x01020304050607);
        assert_eq!(uint(&[0, 0, 0, 0, 0, 0, 1, 0]), 256);
        assert_eq!(uint(&[]), 0);
    }

    #[test]
    fn reads_past_the_end_are_none() {
        assert_eq!(u16_at(&[1], 0), None);
        assert_eq!(u32_at(&[1, 2, 3, 4], 1), None);
        assert_eq!(u32_at(&[1, 2, 3, 4], usize::MAX), None);
        assert_eq!(u16_at(&[1, 2], 0), Some(0x0102));
    }
}
