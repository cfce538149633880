//! The forwarder's template cache: the latest template, options-template and options-data
//! records of every v9 / IPFIX exporter, so that a slave that takes over an exporter (after
//! [`Forwarder::rebalance`](super::Forwarder::rebalance)) can decode its data at once instead of
//! waiting, flows lost, for the exporter's next template refresh.
//!
//! **What is kept**, per exporter address, export version and observation domain (v9 source id),
//! exactly as the slave's decoder keys its templates:
//!
//! - every template record (v9 flowset 0, IPFIX set 2) and options-template record (v9 flowset
//!   1, IPFIX set 3), raw bytes, by template id. A re-sent template replaces the one with its id
//!   (kept as is if the bytes are the same); an IPFIX withdrawal (field count 0) removes it, and
//!   template id 2 (set 2) / 3 (set 3) with field count 0 removes every template / options
//!   template of the domain. Records the decoder would reject (id below 256, no fields, records of
//!   zero length or longer than a set, IPFIX options scope count 0) are not kept.
//! - the latest options data record per options template and scope value (the sampling interval
//!   of a sampler, the system init time, ...): a template alone does not tell the slave the
//!   sampling interval, the options data does.
//! - the last header values (v9 `sys_uptime` and `unix_secs`, IPFIX export time), the last
//!   sequence number and the sequence number expected next, tracked with the decoder's own
//!   `SeqState`.
//!
//! Flow data is never kept nor replayed, so a replay cannot add a flow: every flow is still
//! stored once, by the one slave its datagram went to.
//!
//! **Cost on the forwarding path** ([`TemplateCache::forward`]): datagrams that are not v9 or
//! IPFIX (v5, sFlow) cost one version check. A v9 / IPFIX datagram costs a header check, a walk
//! over its set headers and, for an exporter with cached templates, one hash lookup and one
//! template lookup per data set (options data is recognised by its template id; IPFIX data
//! records are counted, a division for fixed-length templates, to follow the sequence number,
//! which counts records). Only datagrams that carry template or changed options data records
//! allocate; data-only datagrams never do.
//!
//! **Replay**: when a datagram of an exporter goes to a slave other than the one that got its
//! templates, the cache first appends synthetic datagrams for that slave to a [`Replay`]; the
//! forwarder sends them, framed like forwarded datagrams (the exporter's address and last source
//! port), just before the datagram, from the same socket. Per domain they carry a valid header
//! and the cached sets (templates, then options templates, then options data), packed into
//! datagrams of at most [`TemplateCacheConfig::replay_datagram_size`] bytes (a record too large
//! for that goes alone; none exceeds [`MAX_RELAY_PAYLOAD`]).
//!
//! **Sequence numbers** of synthetic datagrams are chosen so that the slave's loss accounting
//! sees no gap. The decoder expects, after a datagram with sequence number `s`, `s + 1` (v9: the
//! number counts export packets) or `s + records` (IPFIX: it counts data records, and the options
//! data records of a synthetic message are data records). With `N` the number the exporter's
//! next datagram carries (the cache's expectation), the synthetic datagrams take the numbers
//! just below it: v9 `N - n .. N - 1` for `n` datagrams (one datagram: the last sequence number
//! seen, reused), IPFIX `N - K` onwards, advancing by the options data records `K` they carry in
//! all. A new slave starts counting at the first synthetic datagram (no gap: it has no
//! expectation yet), expects `N` after the last one, and the exporter's next datagram carries
//! `N`: no gap, no false loss. Reusing the last IPFIX sequence number instead would report the
//! records of the last datagram as missing. A slave that had the exporter before expected an
//! older number and counts the datagrams that went elsewhere as missing, as it would with the
//! exporter's own next datagram; the replay adds nothing to that.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use super::frame::MAX_RELAY_PAYLOAD;
use crate::decode::SeqState;

/// v9 header length.
pub const V9_HEADER: usize = 20;
/// IPFIX message header length.
pub const IPFIX_HEADER: usize = 16;
/// Bytes counted per cached record on top of its own bytes (map entry, allocation).
pub const RECORD_OVERHEAD: usize = 64;
/// Most options data records (distinct scope values) kept per options template, as many as
/// the decoder keeps samplers.
pub const MAX_OPTIONS_RECORDS: usize = 256;
/// Field length announcing an IPFIX variable-length field.
const VARLEN: u16 = 65535;
/// Longest record the decoder accepts (a set holds 65535 bytes with its header).
const MAX_RECORD_LEN: usize = 65_535 - 4;
/// Smallest packing size accepted for synthetic datagrams.
const MIN_REPLAY_DATAGRAM: usize = 64;

/// Why a record was not cached: the labels of
/// [`RelayMetrics::template_cache_dropped`](super::RelayMetrics::template_cache_dropped), in
/// the order of [`CacheStats::dropped`].
pub const DROP_REASONS: [&str; 3] = ["templates_per_exporter", "cache_bytes", "options_records_per_template"];
const DROP_PER_EXPORTER: usize = 0;
const DROP_BYTES: usize = 1;
const DROP_OPTIONS: usize = 2;

/// Bounds of a template cache (one per forwarding thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateCacheConfig {
    /// Most template and options-template records kept per exporter, over all its domains
    /// (default 1024); further new ones are not cached (counted).
    pub max_templates_per_exporter: usize,
    /// Most bytes kept: records plus [`RECORD_OVERHEAD`] each (default 16 MiB). 0 disables
    /// the cache (every record dropped, counted).
    pub max_bytes: usize,
    /// Size synthetic datagrams are packed to (default 1400, below a 1500-byte MTU so they are
    /// not fragmented); at most [`MAX_RELAY_PAYLOAD`].
    pub replay_datagram_size: usize,
}

impl Default for TemplateCacheConfig {
    fn default() -> Self {
        Self {
            max_templates_per_exporter: 1024,
            max_bytes: 16 << 20,
            replay_datagram_size: 1400,
        }
    }
}

/// What a cache holds and has dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Exporters with cached records.
    pub exporters: usize,
    /// Template and options-template records kept.
    pub templates: usize,
    /// Options data records kept.
    pub options_records: usize,
    /// Bytes counted against [`TemplateCacheConfig::max_bytes`].
    pub bytes: usize,
    /// Records not cached (or evicted because a larger version did not fit), per
    /// [`DROP_REASONS`] entry.
    pub dropped: [u64; 3],
}

/// Synthetic datagrams built by a cache, one buffer for all of them (cleared and reused).
#[derive(Debug, Default)]
pub struct Replay {
    bytes: Vec<u8>,
    datagrams: Vec<ReplayDatagram>,
}

/// One synthetic datagram of a [`Replay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayDatagram {
    /// The exporter the templates belong to (canonical address).
    pub exporter: IpAddr,
    /// The source to put in the frame: the exporter's address and last source port.
    pub source: SocketAddr,
    /// The slave it is for.
    pub slave: usize,
    start: usize,
    end: usize,
}

impl Replay {
    /// Forgets every datagram, keeping the buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.datagrams.clear();
        // One replay of a huge template set must not pin its buffer forever.
        if self.bytes.capacity() > 4 << 20 {
            self.bytes.shrink_to(1 << 20);
        }
    }

    /// Number of datagrams.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// `true` if there is no datagram.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The `i`-th datagram and its payload (the export datagram, not yet framed).
    pub fn get(&self, i: usize) -> Option<(&ReplayDatagram, &[u8])> {
        let d = self.datagrams.get(i)?;
        Some((d, &self.bytes[d.start..d.end]))
    }

    /// Every datagram in order.
    pub fn iter(&self) -> impl Iterator<Item = (&ReplayDatagram, &[u8])> {
        self.datagrams.iter().map(|d| (d, &self.bytes[d.start..d.end]))
    }
}

/// How to split a data set of a template into records (mirrors the decoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    /// Records of `len` bytes, the first `scope` of them the options scope.
    Fixed { len: usize, scope: usize },
    /// Records with variable-length fields: every field length (65535 = variable), the number
    /// of scope fields, and the shortest record (the decoder's record length).
    Var {
        lens: Box<[u16]>,
        scope_fields: usize,
        min_len: usize,
    },
}

impl Shape {
    /// The shape of a template record (already cut to its length by the set parser), or
    /// `None` if the decoder would reject it.
    pub(super) fn parse(version: u16, options: bool, raw: &[u8]) -> Option<Shape> {
        if be16(raw, 0)? < 256 {
            return None;
        }
        let (start, count, scope_fields) = match (version, options) {
            (9, false) => (4, usize::from(be16(raw, 2)?), 0),
            (9, true) => {
                let scope = usize::from(be16(raw, 2)?) / 4;
                (6, scope + usize::from(be16(raw, 4)?) / 4, scope)
            }
            (_, false) => (4, usize::from(be16(raw, 2)?), 0),
            (_, true) => (6, usize::from(be16(raw, 2)?), usize::from(be16(raw, 4)?)),
        };
        if count == 0 {
            return None;
        }
        let mut lens = Vec::with_capacity(count);
        let mut pos = start;
        for _ in 0..count {
            let ie = be16(raw, pos)?;
            lens.push(be16(raw, pos + 2)?);
            pos += 4;
            if version == 10 && ie & 0x8000 != 0 {
                pos += 4;
            }
        }
        let fixed: usize = lens.iter().filter(|l| **l != VARLEN).map(|l| usize::from(*l)).sum();
        let varlen = lens.iter().filter(|l| **l == VARLEN).count();
        let min_len = fixed + varlen;
        if min_len == 0 || min_len > MAX_RECORD_LEN {
            return None;
        }
        Some(if varlen == 0 {
            let scope = lens.iter().take(scope_fields).map(|l| usize::from(*l)).sum();
            Shape::Fixed { len: min_len, scope }
        } else {
            Shape::Var {
                lens: lens.into_boxed_slice(),
                scope_fields,
                min_len,
            }
        })
    }

    /// The shortest record: the fixed length, or the fixed fields plus one length byte per
    /// variable-length field (the decoder's record length).
    pub(super) fn min_len(&self) -> usize {
        match self {
            Shape::Fixed { len, .. } => *len,
            Shape::Var { min_len, .. } => *min_len,
        }
    }

    /// Calls `each(record, scope_len)` for every record of a data set, as the decoder walks
    /// them (trailing bytes shorter than a record are padding; a variable-length record cut
    /// short ends the set); returns the number of records.
    pub(super) fn split(&self, body: &[u8], mut each: impl FnMut(&[u8], usize)) -> u32 {
        let mut n = 0u32;
        match self {
            Shape::Fixed { len, scope } => {
                for record in body.chunks_exact(*len) {
                    each(record, *scope);
                    n = n.wrapping_add(1);
                }
            }
            Shape::Var {
                lens,
                scope_fields,
                min_len,
            } => {
                let mut rest = body;
                while rest.len() >= *min_len {
                    let Some((used, scope)) = var_record(lens, *scope_fields, rest) else {
                        break;
                    };
                    each(&rest[..used], scope);
                    rest = &rest[used..];
                    n = n.wrapping_add(1);
                }
            }
        }
        n
    }
}

/// The length of the variable-length record at the start of `b` and of its scope part.
fn var_record(lens: &[u16], scope_fields: usize, b: &[u8]) -> Option<(usize, usize)> {
    let mut pos = 0usize;
    let mut scope = 0usize;
    for (i, &len) in lens.iter().enumerate() {
        if i == scope_fields {
            scope = pos;
        }
        let len = if len == VARLEN {
            let first = *b.get(pos)?;
            pos += 1;
            if first < 255 {
                usize::from(first)
            } else {
                let long = be16(b, pos)?;
                pos += 2;
                usize::from(long)
            }
        } else {
            usize::from(len)
        };
        pos = pos.checked_add(len).filter(|end| *end <= b.len())?;
    }
    if scope_fields >= lens.len() {
        scope = pos;
    }
    Some((pos, scope))
}

/// One options data record.
#[derive(Debug)]
struct OptionsRecord {
    /// Length of the scope part (the key).
    scope: usize,
    bytes: Box<[u8]>,
}

impl OptionsRecord {
    fn key(&self) -> &[u8] {
        &self.bytes[..self.scope]
    }
}

/// One cached template or options template.
#[derive(Debug)]
struct Cached {
    options: bool,
    raw: Box<[u8]>,
    shape: Shape,
    /// The latest options data records (options templates only), one per scope value.
    records: Vec<OptionsRecord>,
}

/// One exporter + version + observation domain.
#[derive(Debug)]
struct Domain {
    version: u16,
    id: u32,
    /// v9: `sys_uptime`, `unix_secs`; IPFIX: export time, 0.
    time: [u32; 2],
    last_seq: u32,
    seq: SeqState,
    templates: BTreeMap<u16, Cached>,
}

/// Everything cached for one exporter address.
#[derive(Debug)]
struct Exporter {
    /// Source port of its last datagram (put in replayed frames).
    port: u16,
    /// The slave known to have this exporter's current templates.
    synced: Option<usize>,
    /// Template and options-template records over all domains.
    templates: usize,
    domains: Vec<Domain>,
}

/// Byte accounting and drop counts shared by all exporters.
#[derive(Debug)]
struct Budget {
    cfg: TemplateCacheConfig,
    bytes: usize,
    templates: usize,
    options_records: usize,
    dropped: [u64; 3],
}

impl Budget {
    /// Takes `n` bytes if they fit.
    fn take(&mut self, n: usize) -> bool {
        if self.bytes.saturating_add(n) > self.cfg.max_bytes {
            return false;
        }
        self.bytes += n;
        true
    }

    fn drop_one(&mut self, reason: usize) {
        self.dropped[reason] += 1;
    }

    /// Releases a template with its options records.
    fn release(&mut self, t: &Cached) {
        self.templates -= 1;
        self.options_records -= t.records.len();
        self.bytes -= cost(t.raw.len()) + t.records.iter().map(|r| cost(r.bytes.len())).sum::<usize>();
    }
}

fn cost(len: usize) -> usize {
    len + RECORD_OVERHEAD
}

/// The template records of v9 and IPFIX datagrams seen by one forwarding thread, by exporter
/// and observation domain, bounded by [`TemplateCacheConfig`].
#[derive(Debug)]
pub struct TemplateCache {
    exporters: HashMap<IpAddr, Exporter>,
    budget: Budget,
}

impl TemplateCache {
    /// An empty cache.
    pub fn new(cfg: TemplateCacheConfig) -> Self {
        Self {
            exporters: HashMap::new(),
            budget: Budget {
                cfg,
                bytes: 0,
                templates: 0,
                options_records: 0,
                dropped: [0; 3],
            },
        }
    }

    /// Handles a datagram from `source` about to be forwarded to `slave`.
    ///
    /// If the exporter has cached records and `slave` is not known to have them (the exporter
    /// moved, or an earlier replay failed), first appends to `replay` the synthetic datagrams
    /// that give `slave` the records cached so far, to be sent before this datagram; returns
    /// how many. Then takes the datagram's templates, withdrawals, options data and sequence
    /// number into the cache. Datagrams longer than [`MAX_RELAY_PAYLOAD`], and any that is not
    /// v9 or IPFIX, are ignored. Never panics, whatever the bytes.
    pub fn forward(&mut self, source: SocketAddr, slave: usize, datagram: &[u8], replay: &mut Replay) -> usize {
        if datagram.len() > MAX_RELAY_PAYLOAD {
            return 0;
        }
        let Some(h) = Header::parse(datagram) else {
            return 0;
        };
        let ip = source.ip().to_canonical();
        let exporter = match self.exporters.get_mut(&ip) {
            Some(e) => e,
            None => {
                if !h.has_template_sets() {
                    return 0;
                }
                self.exporters.entry(ip).or_insert(Exporter {
                    port: source.port(),
                    synced: Some(slave),
                    templates: 0,
                    domains: Vec::new(),
                })
            }
        };
        let mut appended = 0;
        if exporter.synced != Some(slave) {
            appended = build_replay(ip, exporter, slave, self.budget.cfg.replay_datagram_size, replay);
            exporter.synced = Some(slave);
        }
        exporter.port = source.port();
        observe(&mut self.budget, exporter, &h);
        if exporter.domains.is_empty() {
            self.exporters.remove(&ip);
        }
        appended
    }

    /// Records that a synthetic datagram for `exporter` was not sent: its current slave may
    /// lack templates, so they are replayed again before its next datagram.
    pub fn replay_failed(&mut self, exporter: IpAddr) {
        if let Some(e) = self.exporters.get_mut(&exporter.to_canonical()) {
            e.synced = None;
        }
    }

    /// Appends to `replay` the synthetic datagrams that carry everything cached for
    /// `exporter` to `slave` (without marking `slave` as having them); returns how many.
    pub fn replay(&self, exporter: IpAddr, slave: usize, replay: &mut Replay) -> usize {
        let ip = exporter.to_canonical();
        match self.exporters.get(&ip) {
            Some(e) => build_replay(ip, e, slave, self.budget.cfg.replay_datagram_size, replay),
            None => 0,
        }
    }

    /// The cached template ids of a domain with `true` for options templates, by id.
    pub fn template_ids(&self, exporter: IpAddr, version: u16, domain: u32) -> Vec<(u16, bool)> {
        self.domain(exporter, version, domain)
            .map(|d| d.templates.iter().map(|(id, t)| (*id, t.options)).collect())
            .unwrap_or_default()
    }

    /// Options data records cached for options template `id` of a domain.
    pub fn options_records(&self, exporter: IpAddr, version: u16, domain: u32, id: u16) -> usize {
        self.domain(exporter, version, domain)
            .and_then(|d| d.templates.get(&id))
            .map_or(0, |t| t.records.len())
    }

    /// What the cache holds and has dropped so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            exporters: self.exporters.len(),
            templates: self.budget.templates,
            options_records: self.budget.options_records,
            bytes: self.budget.bytes,
            dropped: self.budget.dropped,
        }
    }

    fn domain(&self, exporter: IpAddr, version: u16, domain: u32) -> Option<&Domain> {
        self.exporters
            .get(&exporter.to_canonical())?
            .domains
            .iter()
            .find(|d| d.version == version && d.id == domain)
    }
}

/// What the cache reads of a v9 / IPFIX header.
struct Header<'a> {
    version: u16,
    domain: u32,
    seq: u32,
    time: [u32; 2],
    /// The bytes after the header (an IPFIX message cut to its length, as the decoder does).
    sets: &'a [u8],
}

impl<'a> Header<'a> {
    fn parse(d: &'a [u8]) -> Option<Self> {
        match d.first_chunk::<2>()? {
            [0, 9] => Some(Header {
                version: 9,
                time: [be32(d, 4)?, be32(d, 8)?],
                seq: be32(d, 12)?,
                domain: be32(d, 16)?,
                sets: d.get(V9_HEADER..)?,
            }),
            [0, 10] => {
                let length = usize::from(be16(d, 2)?);
                let end = if length > d.len() { d.len() } else { length };
                Some(Header {
                    version: 10,
                    time: [be32(d, 4)?, 0],
                    seq: be32(d, 8)?,
                    domain: be32(d, 12)?,
                    sets: d.get(IPFIX_HEADER..end)?,
                })
            }
            _ => None,
        }
    }

    fn has_template_sets(&self) -> bool {
        sets(self.sets).any(|(id, _)| template_kind(self.version, id).is_some())
    }
}

/// `Some(options)` for a template set id of `version`.
pub(super) fn template_kind(version: u16, set_id: u16) -> Option<bool> {
    match (version, set_id) {
        (9, 0) | (10, 2) => Some(false),
        (9, 1) | (10, 3) => Some(true),
        _ => None,
    }
}

/// The sets of a message body, as the decoder walks them: up to the first set whose length is
/// shorter than its header or runs past the end.
fn sets(mut rest: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let id = be16(rest, 0)?;
        let len = usize::from(be16(rest, 2)?);
        if len < 4 || len > rest.len() {
            rest = &[];
            return None;
        }
        let (set, tail) = rest.split_at(len);
        rest = tail;
        Some((id, &set[4..]))
    })
}

/// What one record of a template set does.
pub(super) enum Op<'a> {
    Define { id: u16, options: bool, raw: &'a [u8] },
    Withdraw(u16),
    WithdrawAll { options: bool },
}

/// Walks the records of a template set like the decoder does, stopping where it stops.
pub(super) fn template_records<'a>(version: u16, options: bool, b: &'a [u8], each: &mut impl FnMut(Op<'a>)) {
    let mut pos = 0usize;
    match (version, options) {
        (9, false) => {
            while b.len() - pos >= 4 {
                let (Some(id), Some(count)) = (be16(b, pos), be16(b, pos + 2)) else {
                    return;
                };
                if id == 0 && count == 0 {
                    return; // padding
                }
                let end = pos + 4 + 4 * usize::from(count);
                let Some(raw) = b.get(pos..end) else { return };
                each(Op::Define { id, options, raw });
                pos = end;
            }
        }
        (9, true) => {
            while b.len() - pos >= 6 {
                let (Some(id), Some(scope), Some(opt)) = (be16(b, pos), be16(b, pos + 2), be16(b, pos + 4)) else {
                    return;
                };
                if id == 0 || scope % 4 != 0 || opt % 4 != 0 {
                    return;
                }
                let end = pos + 6 + usize::from(scope) + usize::from(opt);
                let Some(raw) = b.get(pos..end) else { return };
                each(Op::Define { id, options, raw });
                pos = end;
            }
        }
        _ => {
            let head = if options { 6 } else { 4 };
            while b.len() - pos >= 4 {
                let (Some(id), Some(count)) = (be16(b, pos), be16(b, pos + 2)) else {
                    return;
                };
                if id == 0 && count == 0 {
                    return; // padding
                }
                if count == 0 {
                    each(match (id, options) {
                        (2, false) | (3, true) => Op::WithdrawAll { options },
                        _ => Op::Withdraw(id),
                    });
                    pos += 4;
                    continue;
                }
                if b.len() - pos < head {
                    return;
                }
                if options {
                    let scope = be16(b, pos + 4).unwrap_or(0);
                    if scope == 0 || scope > count {
                        return;
                    }
                }
                let mut end = pos + head;
                for _ in 0..count {
                    let Some(ie) = be16(b, end).filter(|_| end + 4 <= b.len()) else {
                        return;
                    };
                    end += 4;
                    if ie & 0x8000 != 0 {
                        if end + 4 > b.len() {
                            return;
                        }
                        end += 4;
                    }
                }
                each(Op::Define {
                    id,
                    options,
                    raw: &b[pos..end],
                });
                pos = end;
            }
        }
    }
}

/// Applies one template record to a domain's templates.
fn apply(op: Op<'_>, version: u16, budget: &mut Budget, count: &mut usize, templates: &mut BTreeMap<u16, Cached>) {
    match op {
        Op::Define { id, options, raw } => {
            if templates
                .get(&id)
                .is_some_and(|t| t.options == options && *t.raw == *raw)
            {
                return; // a refresh: nothing changes, nothing allocated
            }
            // The decoder keeps its old template when the new one is bad: so does the cache.
            let Some(shape) = Shape::parse(version, options, raw) else {
                return;
            };
            if let Some(old) = templates.remove(&id) {
                budget.release(&old);
                *count -= 1;
            }
            if *count >= budget.cfg.max_templates_per_exporter {
                return budget.drop_one(DROP_PER_EXPORTER);
            }
            if !budget.take(cost(raw.len())) {
                // A stale version is not kept either: replaying it would mis-decode data.
                return budget.drop_one(DROP_BYTES);
            }
            budget.templates += 1;
            *count += 1;
            templates.insert(
                id,
                Cached {
                    options,
                    raw: raw.into(),
                    shape,
                    records: Vec::new(),
                },
            );
        }
        Op::Withdraw(id) => {
            if let Some(old) = templates.remove(&id) {
                budget.release(&old);
                *count -= 1;
            }
        }
        Op::WithdrawAll { options } => templates.retain(|_, t| {
            if t.options != options {
                return true;
            }
            budget.release(t);
            *count -= 1;
            false
        }),
    }
}

/// Keeps the options data records of a set, the latest per scope value; returns the number of
/// records in the set.
fn cache_options(budget: &mut Budget, t: &mut Cached, body: &[u8]) -> u32 {
    let Cached { shape, records, .. } = t;
    shape.split(body, |record, scope| {
        let key = &record[..scope];
        if let Some(i) = records.iter().position(|r| r.key() == key) {
            if *records[i].bytes == *record {
                return;
            }
            let old = records.swap_remove(i);
            budget.bytes -= cost(old.bytes.len());
            budget.options_records -= 1;
        } else if records.len() >= MAX_OPTIONS_RECORDS {
            return budget.drop_one(DROP_OPTIONS);
        }
        if !budget.take(cost(record.len())) {
            return budget.drop_one(DROP_BYTES);
        }
        budget.options_records += 1;
        records.push(OptionsRecord {
            scope,
            bytes: record.into(),
        });
    })
}

/// Takes a datagram's sets and sequence number into the exporter's entry.
fn observe(budget: &mut Budget, exporter: &mut Exporter, h: &Header<'_>) {
    let index = match exporter
        .domains
        .iter()
        .position(|d| d.version == h.version && d.id == h.domain)
    {
        Some(i) => i,
        None => {
            if !h.has_template_sets() {
                return; // no template of this domain is cached: nothing to follow
            }
            exporter.domains.push(Domain {
                version: h.version,
                id: h.domain,
                time: h.time,
                last_seq: h.seq,
                seq: SeqState::default(),
                templates: BTreeMap::new(),
            });
            exporter.domains.len() - 1
        }
    };
    let Exporter {
        templates: count,
        domains,
        ..
    } = exporter;
    let d = &mut domains[index];
    d.time = h.time;
    d.last_seq = h.seq;
    let mut records = 0u32;
    let mut unknown = false;
    for (id, body) in sets(h.sets) {
        if let Some(options) = template_kind(h.version, id) {
            template_records(h.version, options, body, &mut |op| {
                apply(op, h.version, budget, count, &mut d.templates);
            });
        } else if id >= 256 {
            match d.templates.get_mut(&id) {
                Some(t) if t.options => records = records.wrapping_add(cache_options(budget, t, body)),
                Some(t) if h.version == 10 => records = records.wrapping_add(t.shape.split(body, |_, _| {})),
                Some(_) => {}
                None => unknown = true,
            }
        }
    }
    // The decoder's rule: v9 counts packets; IPFIX counts data records, unknown when a data set
    // had no template.
    let advance = if h.version == 9 {
        Some(1)
    } else {
        (!unknown).then_some(records)
    };
    d.seq.observe(h.seq, advance);
    if d.templates.is_empty() {
        domains.swap_remove(index);
    }
}

/// Appends the synthetic datagrams carrying everything cached for an exporter.
fn build_replay(ip: IpAddr, exporter: &Exporter, slave: usize, size: usize, out: &mut Replay) -> usize {
    let before = out.datagrams.len();
    let limit = size.clamp(MIN_REPLAY_DATAGRAM, MAX_RELAY_PAYLOAD);
    let source = SocketAddr::new(ip, exporter.port);
    for d in &exporter.domains {
        let (template_set, options_set) = if d.version == 9 { (0, 1) } else { (2, 3) };
        let mut p = Packer {
            first: out.datagrams.len(),
            out: &mut *out,
            exporter: ip,
            source,
            slave,
            limit,
            header: if d.version == 9 { V9_HEADER } else { IPFIX_HEADER },
            set: None,
            open: false,
            records: 0,
            data: 0,
            data_counts: Vec::new(),
        };
        for t in d.templates.values().filter(|t| !t.options) {
            p.push(template_set, &t.raw, false);
        }
        for t in d.templates.values().filter(|t| t.options) {
            p.push(options_set, &t.raw, false);
        }
        for (id, t) in d.templates.iter().filter(|(_, t)| t.options) {
            for r in &t.records {
                p.push(*id, &r.bytes, true);
            }
        }
        p.finish(d);
    }
    out.datagrams.len() - before
}

/// Packs records into sets and datagrams of one domain.
struct Packer<'a> {
    out: &'a mut Replay,
    exporter: IpAddr,
    source: SocketAddr,
    slave: usize,
    limit: usize,
    header: usize,
    /// Index of the domain's first datagram in `out`.
    first: usize,
    /// Start and id of the open set.
    set: Option<(usize, u16)>,
    open: bool,
    /// Records in the open datagram (the v9 header's count).
    records: u16,
    /// Data (options) records in the open datagram.
    data: u32,
    /// Data records per closed datagram.
    data_counts: Vec<u32>,
}

impl Packer<'_> {
    fn open_datagram(&mut self) {
        let start = self.out.bytes.len();
        self.out.bytes.resize(start + self.header, 0);
        self.out.datagrams.push(ReplayDatagram {
            exporter: self.exporter,
            source: self.source,
            slave: self.slave,
            start,
            end: start,
        });
        self.open = true;
        self.records = 0;
        self.data = 0;
    }

    fn close_set(&mut self) {
        if let Some((start, _)) = self.set.take() {
            let len = self.out.bytes.len() - start;
            put16(&mut self.out.bytes, start + 2, len as u16);
        }
    }

    fn close_datagram(&mut self) {
        self.close_set();
        let end = self.out.bytes.len();
        let records = self.records;
        if let Some(d) = self.out.datagrams.last_mut() {
            d.end = end;
            let field = if self.header == V9_HEADER {
                records
            } else {
                (end - d.start) as u16
            };
            put16(&mut self.out.bytes, d.start + 2, field);
        }
        self.data_counts.push(self.data);
        self.open = false;
    }

    fn push(&mut self, set_id: u16, record: &[u8], data: bool) {
        if !self.open {
            self.open_datagram();
        }
        let start = self.out.datagrams.last().map_or(0, |d| d.start);
        let used = self.out.bytes.len() - start;
        let same_set = self.set.is_some_and(|(_, id)| id == set_id);
        let need = record.len() + if same_set { 0 } else { 4 };
        if used + need > self.limit && used > self.header {
            self.close_datagram();
            self.open_datagram();
        }
        if self.set.is_none_or(|(_, id)| id != set_id) {
            self.close_set();
            self.set = Some((self.out.bytes.len(), set_id));
            self.out.bytes.extend_from_slice(&set_id.to_be_bytes());
            self.out.bytes.extend_from_slice(&[0, 0]);
        }
        self.out.bytes.extend_from_slice(record);
        self.records = self.records.saturating_add(1);
        if data {
            self.data += 1;
        }
    }

    /// Closes the last datagram and writes every header of the domain.
    fn finish(mut self, d: &Domain) {
        if self.open {
            self.close_datagram();
        }
        let next = d.seq.next().unwrap_or(d.last_seq);
        let n = self.data_counts.len() as u32;
        let data: u32 = self.data_counts.iter().fold(0u32, |a, k| a.wrapping_add(*k));
        // v9: n packets ending just before `next`; IPFIX: numbered by the options records
        // they carry, the last one ending at `next`.
        let mut seq = if d.version == 9 {
            next.wrapping_sub(n)
        } else {
            next.wrapping_sub(data)
        };
        let bytes = &mut self.out.bytes;
        for (dg, k) in self.out.datagrams[self.first..].iter().zip(&self.data_counts) {
            let s = dg.start;
            put16(bytes, s, d.version);
            if d.version == 9 {
                put32(bytes, s + 4, d.time[0]);
                put32(bytes, s + 8, d.time[1]);
                put32(bytes, s + 12, seq);
                put32(bytes, s + 16, d.id);
                seq = seq.wrapping_add(1);
            } else {
                put32(bytes, s + 4, d.time[0]);
                put32(bytes, s + 8, seq);
                put32(bytes, s + 12, d.id);
                seq = seq.wrapping_add(*k);
            }
        }
    }
}

pub(super) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

pub(super) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub(super) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub(super) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
pub(super) mod tests;
