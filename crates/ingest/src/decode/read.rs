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

/// Walks the sets (v9 flowsets, IPFIX sets) of a message from `start`: calls `each(set_id,
/// body)` for every set, and stops at the first set whose length is shorter than its header or
/// runs past the end, returning that error. Trailing bytes too short for a set header are padding.
pub(crate) fn for_each_set(
    d: &[u8],
    start: usize,
    mut each: impl FnMut(u16, &[u8]),
) -> Result<(), crate::error::DecodeError> {
    let mut pos = start;
    while d.len().saturating_sub(pos) >= 4 {
        let set_id = u16_at(d, pos).unwrap_or(0);
        let length = usize::from(u16_at(d, pos + 2).unwrap_or(0));
        let remaining = d.len() - pos;
        if length < 4 || length > remaining {
            return Err(crate::error::DecodeError::BadSetLength {
                set_id,
                length,
                remaining,
            });
        }
        each(set_id, &d[pos + 4..pos + length]);
        pos += length;
    }
    Ok(())
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
    fn sets_are_walked_until_a_bad_length() {
        // Set 256 with 2 body bytes, set 0 with none, then a set claiming 9 bytes in 6.
        let d = [0, 1, 0, 6, 7, 8, 0, 0, 0, 4, 1, 0, 0, 9, 1, 2];
        let mut seen = Vec::new();
        let result = for_each_set(&d, 0, |id, body| seen.push((id, body.to_vec())));
        assert_eq!(seen, vec![(1, vec![7, 8]), (0, vec![])]);
        assert!(matches!(
            result,
            Err(crate::error::DecodeError::BadSetLength {
                set_id: 256,
                length: 9,
                remaining: 6
            })
        ));
        assert!(
            for_each_set(&[0, 2, 0, 4, 0], 0, |_, _| {}).is_ok(),
            "a trailing byte is padding"
        );
    }

    #[test]
    fn reads_past_the_end_are_none() {
        assert_eq!(u16_at(&[1], 0), None);
        assert_eq!(u32_at(&[1, 2, 3, 4], 1), None);
        assert_eq!(u32_at(&[1, 2, 3, 4], usize::MAX), None);
        assert_eq!(u16_at(&[1, 2], 0), Some(0x0102));
    }
}
