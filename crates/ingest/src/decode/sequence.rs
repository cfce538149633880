//! Sequence-number gap counting.
//!
//! Each exporter + observation domain keeps the sequence number it expects next. A datagram whose
//! number is ahead of it reports the difference as the gap (flows for v5, packets for v9, data
//! records for IPFIX). The first datagram, one that repeats the expected number, or one that goes
//! backwards reports 0. A small step back (within [`REORDER_WINDOW`]) is taken as reordering and
//! leaves the expectation alone, so a late packet is not counted twice; a larger step back is taken
//! as an exporter restart and resynchronises. When the number of records a datagram carried is
//! unknown (IPFIX data held for a missing template) the next datagram reports no gap.

/// How far back a sequence number may go and still be taken as a reordered datagram.
pub(crate) const REORDER_WINDOW: u32 = 1 << 16;

/// What one exporter + domain expects next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SeqState {
    next: Option<u32>,
}

impl SeqState {
    /// Observes a datagram with sequence number `seq` that advances the counter by `advance`
    /// (`None` when not known) and returns the gap before it.
    pub(crate) fn observe(&mut self, seq: u32, advance: Option<u32>) -> u64 {
        let (gap, resync) = match self.next {
            None => (0, true),
            Some(next) => {
                let ahead = seq.wrapping_sub(next);
                if ahead < 1 << 31 {
                    (u64::from(ahead), true)
                } else {
                    // Behind: reordered if close, restarted otherwise.
                    (0, next.wrapping_sub(seq) > REORDER_WINDOW)
                }
            }
        };
        if resync {
            self.next = advance.map(|a| seq.wrapping_add(a));
        }
        gap
    }

    /// The sequence number expected next; `None` before the first datagram or after one whose
    /// advance was unknown. The relay's template cache uses it to number the synthetic
    /// datagrams it sends to a new slave so that they fit the exporter's sequence.
    pub(crate) fn next(&self) -> Option<u32> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_missing_units_and_ignore_reorder_and_restart() {
        let mut s = SeqState::default();
        assert_eq!(s.observe(100, Some(10)), 0);
        assert_eq!(s.observe(110, Some(10)), 0);
        assert_eq!(s.observe(125, Some(10)), 5);
        // A late datagram: no gap, and the next in-order one is not counted again.
        assert_eq!(s.observe(120, Some(5)), 0);
        assert_eq!(s.observe(135, Some(1)), 0);
        // Restart far behind: resynchronise.
        assert_eq!(s.observe(1_000_000_000, Some(1)), 999_999_864);
        assert_eq!(s.observe(3, Some(1)), 0);
        assert_eq!(s.observe(4, Some(1)), 0);
        // Wrap around.
        let mut w = SeqState::default();
        w.observe(u32::MAX, Some(1));
        assert_eq!(w.observe(2, Some(1)), 2);
        // Unknown advance: the next one reports nothing.
        assert_eq!(w.observe(3, None), 0);
        assert_eq!(w.observe(50, Some(1)), 0);
    }
}
