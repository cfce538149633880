//! What a splitter follows per exporter + version + observation domain: the templates it can cut
//! records of, the turn, and each slave's sequence counter.
//!
//! **Counters.** Each slave's counter advances by what its messages carry, in the unit the
//! decoder counts (v9: +1 per message; IPFIX: + data records, options data included; v5: +
//! records), so a slave's loss accounting sees an unbroken sequence. The counters are kept on a
//! *projection* of the exporter's own numbering, so that a restarted proxy (which knows nothing of
//! the numbers its previous run gave out) starts close to where the slaves' expectations are:
//!
//! - IPFIX and v5 count units that are spread one slave after the other, so each slave's share
//!   is the exporter's count divided by the number of slaves: counters start at
//!   `first sequence number / slaves`, and units lost before the proxy (a gap in the exporter's
//!   numbering) are handed out in turn like records ([`Domain::skip`]): each slave's counter is
//!   the start plus the units the rotation gave it, within one unit of the projection.
//! - v9 counts export packets and every packet gives (typically) every slave a message: counters
//!   start at the first sequence number, and a gap of `g` packets adds `g` to every counter
//!   ([`Domain::skip_all`]): each slave reports the lost packets, as it misses their messages.
//!
//! The exporter's gaps therefore reach the slaves: IPFIX and v5 slaves' gap counts sum to the
//! exporter's loss, v9 slaves each report it.
//!
//! **IPFIX sets of unknown templates** carry a record count the proxy cannot tell (the slave
//! may know the template: after a proxy restart it usually does). All such sets of a datagram go
//! to one slave, and the exporter's next sequence number settles the count: the slave's counter
//! takes what the numbering advanced beyond the records the proxy counted
//! ([`Domain::settle_unknown`]).

use std::collections::HashMap;

use super::Known;
use crate::decode::SeqState;

/// Everything followed for one exporter + version + domain.
#[derive(Debug)]
pub(super) struct Domain {
    pub templates: HashMap<u16, Known>,
    /// The exporter's own numbering.
    input: SeqState,
    /// The sequence number of each slave's next message.
    next: Box<[u32]>,
    /// The slave that gets the next record.
    pub cursor: usize,
    /// IPFIX: the slave that got the last datagram's unknown-template sets, and the sequence
    /// number the exporter's next datagram carries if those sets held no record.
    unknown: Option<(usize, u32)>,
}

impl Domain {
    /// A domain first seen with sequence number `seq` of `version`.
    pub fn new(slaves: usize, version: u16, seq: u32) -> Self {
        let start = if version == 9 { seq } else { seq / slaves as u32 };
        Self {
            templates: HashMap::new(),
            input: SeqState::default(),
            next: vec![start; slaves].into_boxed_slice(),
            cursor: 0,
            unknown: None,
        }
    }

    /// Follows a change of the slaves: position `i` of the new list held position
    /// `mapping[i]` of the old one (`None`: a slave added). A kept slave keeps its counter; an
    /// added one starts at the exporter's next sequence number, where the templates replayed
    /// to it end (see `template_cache`), so its decoder sees no gap. The turn starts over, and
    /// an unsettled unknown-template count of a removed slave is dropped.
    pub fn remap(&mut self, mapping: &[Option<usize>]) {
        let start = self.input.next().unwrap_or(0);
        self.next = mapping
            .iter()
            .map(|old| old.and_then(|o| self.next.get(o).copied()).unwrap_or(start))
            .collect();
        self.cursor = 0;
        self.unknown = self
            .unknown
            .and_then(|(slave, expected)| Some((mapping.iter().position(|m| *m == Some(slave))?, expected)));
    }

    /// The slave whose turn it is, moving the turn on.
    pub fn take_turn(&mut self) -> usize {
        let s = self.cursor;
        self.cursor = (s + 1) % self.next.len();
        s
    }

    /// The sequence number of `slave`'s next message, which carries `advance` units.
    pub fn number(&mut self, slave: usize, advance: u32) -> u32 {
        let seq = self.next[slave];
        self.next[slave] = seq.wrapping_add(advance);
        seq
    }

    /// Observes the exporter's sequence number of a datagram that advances it by `advance`
    /// (`None`: unknown); returns the units missing before it.
    pub fn observe(&mut self, seq: u32, advance: Option<u32>) -> u64 {
        self.input.observe(seq, advance)
    }

    /// Hands `units` lost before the proxy to the slaves in turn, as records are.
    pub fn skip(&mut self, units: u64) {
        let n = self.next.len() as u64;
        let each = (units / n) as u32;
        let rest = (units % n) as usize;
        for c in self.next.iter_mut() {
            *c = c.wrapping_add(each);
        }
        for _ in 0..rest {
            let s = self.take_turn();
            self.next[s] = self.next[s].wrapping_add(1);
        }
    }

    /// Adds `units` lost before the proxy to every slave's counter (v9 packets).
    pub fn skip_all(&mut self, units: u64) {
        for c in self.next.iter_mut() {
            *c = c.wrapping_add(units as u32);
        }
    }

    /// IPFIX: remembers that `slave` got sets of unknown templates in a datagram after which
    /// the exporter's numbering would be at `expected` had they held no record.
    pub fn sent_unknown(&mut self, slave: usize, expected: u32) {
        self.unknown = Some((slave, expected));
    }

    /// IPFIX: settles the record count of the last unknown-template sets with the exporter's
    /// sequence number `seq` of the next datagram (the difference goes to that slave's counter;
    /// a number that went back settles nothing).
    pub fn settle_unknown(&mut self, seq: u32) {
        if let Some((slave, expected)) = self.unknown.take() {
            let extra = seq.wrapping_sub(expected);
            if extra < 1 << 31 {
                self.next[slave] = self.next[slave].wrapping_add(extra);
            }
        }
    }
}
