//! The splitter's output: one byte arena per slave holding the re-packed datagrams of a receive
//! batch, and the builder of the one message a slave gets from one input datagram.
//!
//! An input datagram gives each slave at most one message, built in place at the end of that
//! slave's arena while the input's sets are walked (records of one data set alternate between
//! slaves, so all slaves' messages grow at once). Nothing is copied twice and, once the arenas
//! have grown to a batch's size, nothing is allocated.

use std::net::SocketAddr;
use std::ops::Range;

use crate::relay::template_cache::put16;

/// Arena capacity kept across batches; a larger one is shrunk back on [`Outputs::clear`].
const KEEP_CAPACITY: usize = 4 << 20;

/// The datagrams a [`Splitter`](super::Splitter) built, per slave (cleared and reused).
#[derive(Debug, Default)]
pub struct Outputs {
    arenas: Vec<Vec<u8>>,
    list: Vec<Output>,
}

/// One datagram for one slave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Index of the slave it goes to.
    pub slave: usize,
    /// The exporter's address and port, for the relay frame.
    pub source: SocketAddr,
    /// Flow records it carries (data records of data templates, or v5 records; options data
    /// and sets of unknown templates are not counted).
    pub flows: u32,
    start: usize,
    end: usize,
}

impl Outputs {
    /// Empty outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every datagram, keeping the buffers.
    pub fn clear(&mut self) {
        self.list.clear();
        for a in &mut self.arenas {
            a.clear();
            if a.capacity() > KEEP_CAPACITY {
                a.shrink_to(KEEP_CAPACITY / 4);
            }
        }
    }

    /// Number of datagrams.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// `true` if there is no datagram.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The `i`-th datagram and its payload (the export datagram, not yet framed).
    pub fn get(&self, i: usize) -> Option<(&Output, &[u8])> {
        let o = self.list.get(i)?;
        Some((o, self.arenas.get(o.slave)?.get(o.start..o.end)?))
    }

    /// Every datagram in the order built.
    pub fn iter(&self) -> impl Iterator<Item = (&Output, &[u8])> {
        (0..self.list.len()).filter_map(|i| self.get(i))
    }

    /// The arena of `slave`, created on first use.
    pub(super) fn arena(&mut self, slave: usize) -> &mut Vec<u8> {
        if self.arenas.len() <= slave {
            self.arenas.resize_with(slave + 1, Vec::new);
        }
        &mut self.arenas[slave]
    }

    /// Appends `bytes` as a whole datagram for `slave` (a datagram passed through unchanged).
    pub(super) fn push_whole(&mut self, slave: usize, source: SocketAddr, bytes: &[u8]) {
        let arena = self.arena(slave);
        let start = arena.len();
        arena.extend_from_slice(bytes);
        let end = arena.len();
        self.list.push(Output {
            slave,
            source,
            flows: 0,
            start,
            end,
        });
    }

    /// Records a message built in `slave`'s arena.
    pub(super) fn push(&mut self, slave: usize, source: SocketAddr, flows: u32, range: Range<usize>) {
        self.list.push(Output {
            slave,
            source,
            flows,
            start: range.start,
            end: range.end,
        });
    }
}

/// The message one slave gets from the input datagram being split.
#[derive(Debug, Default, Clone)]
pub(super) struct Msg {
    /// Start of the message in the slave's arena, once it has content.
    start: Option<usize>,
    /// Start and id of the open set.
    set: Option<(usize, u16)>,
    /// Records of any kind (the v9 header's count).
    pub records: u32,
    /// Data records, options data included (what the IPFIX sequence number counts).
    pub data: u32,
    /// Flow records.
    pub flows: u32,
}

impl Msg {
    /// Reserves the header (`header` zero bytes) on first use.
    pub fn begin(&mut self, arena: &mut Vec<u8>, header: usize) {
        if self.start.is_none() {
            self.start = Some(arena.len());
            arena.resize(arena.len() + header, 0);
        }
    }

    /// Appends bytes to the message (v5 records).
    pub fn extend(&mut self, arena: &mut Vec<u8>, header: usize, bytes: &[u8]) {
        self.begin(arena, header);
        arena.extend_from_slice(bytes);
    }

    /// Appends one record to set `set_id`, opening the set if it is not the open one.
    pub fn record(&mut self, arena: &mut Vec<u8>, header: usize, set_id: u16, record: &[u8]) {
        self.begin(arena, header);
        if self.set.is_none_or(|(_, id)| id != set_id) {
            self.close_set(arena);
            self.set = Some((arena.len(), set_id));
            arena.extend_from_slice(&set_id.to_be_bytes());
            arena.extend_from_slice(&[0, 0]);
        }
        arena.extend_from_slice(record);
    }

    /// Appends a whole set (its body as received, padding included) as a set of its own.
    pub fn whole_set(&mut self, arena: &mut Vec<u8>, header: usize, set_id: u16, body: &[u8]) {
        self.begin(arena, header);
        self.close_set(arena);
        arena.extend_from_slice(&set_id.to_be_bytes());
        // The input set had the same length, so it fits 16 bits.
        arena.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        arena.extend_from_slice(body);
    }

    fn close_set(&mut self, arena: &mut [u8]) {
        if let Some((start, _)) = self.set.take() {
            let len = arena.len() - start;
            put16(arena, start + 2, len as u16);
        }
    }

    /// Closes the message: its byte range in the arena (header included, not yet written), or
    /// `None` if nothing was added. The builder is reset for the next datagram.
    pub fn finish(&mut self, arena: &mut [u8]) -> Option<Range<usize>> {
        self.close_set(arena);
        let start = self.start.take()?;
        Some(start..arena.len())
    }

    /// Resets the counters for the next datagram.
    pub fn reset(&mut self) {
        *self = Msg::default();
    }
}
