//! What a sink received, counted without decoding a flow: the relay frame is unwrapped (a
//! flowfold proxy's `FFR1` header, see `crates/ingest/src/relay/frame.rs`), then the export
//! message's records are counted: NetFlow v5 from its header; NetFlow v9 and IPFIX by walking the
//! sets, learning each template's record length, and dividing each data set's length by it.
//! Options data records (sampling announcements) are counted apart from flows.
//!
//! Templates are keyed by the sender (the frame's exporter address, else the UDP peer), the
//! version, the source id / observation domain and the template id, so the exporters behind one
//! repeater socket stay apart through their source ids.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The relay frame's magic.
const FRAME_MAGIC: &[u8; 4] = b"FFR1";
/// Bytes before the payload of a relay frame.
pub const FRAME_HEADER_LEN: usize = 22;

/// The exporter named by a relay frame and its payload; `None` when `bytes` is not a frame.
pub fn unframe(bytes: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let (header, payload) = bytes.split_first_chunk::<FRAME_HEADER_LEN>()?;
    if &header[..4] != FRAME_MAGIC {
        return None;
    }
    let port = u16::from_be_bytes([header[4], header[5]]);
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&header[6..]);
    let ip = Ipv6Addr::from(octets);
    let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
    Some((SocketAddr::new(ip, port), payload))
}

/// What one datagram carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Flow records (v5 records; v9 / IPFIX data records of non-options templates).
    pub flows: u64,
    /// Options data records (v9 / IPFIX).
    pub options: u64,
    /// Data sets whose template was not known (their records are not counted).
    pub unknown_sets: u64,
    /// The message was cut or not v5 / v9 / IPFIX.
    pub malformed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TemplateKey {
    sender: SocketAddr,
    version: u16,
    domain: u32,
    id: u16,
}

#[derive(Debug, Clone, Copy)]
struct Template {
    /// Record length in bytes; 0 when a field has variable length (records not counted).
    len: usize,
    options: bool,
}

/// Per-sink template state.
#[derive(Debug, Default)]
pub struct Counter {
    templates: HashMap<TemplateKey, Template>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Counter {
    /// Counts the records of one export message sent by `sender`.
    pub fn message(&mut self, sender: SocketAddr, msg: &[u8]) -> Counted {
        if msg.len() < 2 {
            return Counted {
                malformed: true,
                ..Counted::default()
            };
        }
        match be16(msg, 0) {
            5 => v5(msg),
            9 => self.sets(sender, 9, msg, 20),
            10 => self.sets(sender, 10, msg, 16),
            _ => Counted {
                malformed: true,
                ..Counted::default()
            },
        }
    }

    /// Walks the sets of a v9 (header 20 bytes, source id at 16) or IPFIX message (header 16
    /// bytes, observation domain at 12, length at 2).
    fn sets(&mut self, sender: SocketAddr, version: u16, msg: &[u8], header: usize) -> Counted {
        let mut counted = Counted::default();
        if msg.len() < header {
            counted.malformed = true;
            return counted;
        }
        let domain = be32(msg, header - 4);
        let end = if version == 10 {
            let len = usize::from(be16(msg, 2));
            if len > msg.len() {
                counted.malformed = true;
            }
            len.min(msg.len())
        } else {
            msg.len()
        };
        let mut pos = header;
        while pos + 4 <= end {
            let id = be16(msg, pos);
            let len = usize::from(be16(msg, pos + 2));
            if len < 4 || pos + len > end {
                counted.malformed = true;
                break;
            }
            let body = &msg[pos + 4..pos + len];
            let key = |id| TemplateKey {
                sender,
                version,
                domain,
                id,
            };
            match (version, id) {
                (9, 0) | (10, 2) => self.templates(body, version, &key),
                (9, 1) | (10, 3) => self.options_templates(body, version, &key),
                (_, 256..) => match self.templates.get(&key(id)) {
                    Some(t) if t.len > 0 => {
                        let n = (body.len() / t.len) as u64;
                        if t.options {
                            counted.options += n;
                        } else {
                            counted.flows += n;
                        }
                    }
                    _ => counted.unknown_sets += 1,
                },
                _ => {}
            }
            pos += len;
        }
        counted
    }

    /// Template records: id, field count, fields (type, length; IPFIX enterprise fields carry
    /// 4 more bytes).
    fn templates(&mut self, body: &[u8], version: u16, key: &dyn Fn(u16) -> TemplateKey) {
        let mut pos = 0;
        while pos + 4 <= body.len() {
            let (id, fields) = (be16(body, pos), usize::from(be16(body, pos + 2)));
            if id < 256 {
                break; // padding
            }
            let Some((len, next)) = field_lengths(body, pos + 4, fields, version) else {
                break;
            };
            self.templates.insert(key(id), Template { len, options: false });
            pos = next;
        }
    }

    /// Options template records: v9 (id, scope bytes, option bytes, fields) or IPFIX (id, field
    /// count, scope field count, fields).
    fn options_templates(&mut self, body: &[u8], version: u16, key: &dyn Fn(u16) -> TemplateKey) {
        let mut pos = 0;
        while pos + 6 <= body.len() {
            let id = be16(body, pos);
            if id < 256 {
                break;
            }
            let fields = if version == 9 {
                (usize::from(be16(body, pos + 2)) + usize::from(be16(body, pos + 4))) / 4
            } else {
                usize::from(be16(body, pos + 2))
            };
            let Some((len, next)) = field_lengths(body, pos + 6, fields, version) else {
                break;
            };
            self.templates.insert(key(id), Template { len, options: true });
            pos = next;
        }
    }
}

/// The record length of `fields` field specifiers from `at` (0 if one is variable-length) and
/// the offset after them; `None` if cut.
fn field_lengths(body: &[u8], mut at: usize, fields: usize, version: u16) -> Option<(usize, usize)> {
    let mut len = 0;
    let mut variable = false;
    for _ in 0..fields {
        if at + 4 > body.len() {
            return None;
        }
        let (kind, field_len) = (be16(body, at), be16(body, at + 2));
        at += 4;
        if version == 10 && kind & 0x8000 != 0 {
            at += 4;
        }
        if version == 10 && field_len == 0xffff {
            variable = true;
        }
        len += usize::from(field_len);
    }
    if at > body.len() {
        return None;
    }
    Some((if variable { 0 } else { len }, at))
}

/// NetFlow v5: 24-byte header with the record count at 2, 48-byte records.
fn v5(msg: &[u8]) -> Counted {
    if msg.len() < 24 {
        return Counted {
            malformed: true,
            ..Counted::default()
        };
    }
    let count = usize::from(be16(msg, 2));
    let whole = (msg.len() - 24) / 48;
    Counted {
        flows: count.min(whole) as u64,
        malformed: whole < count,
        ..Counted::default()
    }
}

/// A 64-bit hash of a message (FxHash-style over 8-byte words), to recognise copies of the same
/// datagram arriving at several sinks.
pub fn digest(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().unwrap_or_default());
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put16(b: &mut Vec<u8>, v: u16) {
        b.extend_from_slice(&v.to_be_bytes());
    }

    fn put32(b: &mut Vec<u8>, v: u32) {
        b.extend_from_slice(&v.to_be_bytes());
    }

    /// A v9 message: template 256 (two fields, 4 + 2 bytes), options template 300 (scope 4
    /// bytes, option 2 bytes) and data sets as given `(template, records)`, padded to 4 bytes.
    fn v9(domain: u32, templates: bool, data: &[(u16, usize, usize)]) -> Vec<u8> {
        let mut m = Vec::new();
        put16(&mut m, 9);
        put16(&mut m, 0);
        put32(&mut m, 1000);
        put32(&mut m, 1_700_000_000);
        put32(&mut m, 7);
        put32(&mut m, domain);
        if templates {
            put16(&mut m, 0);
            put16(&mut m, 4 + 4 + 8);
            for v in [256, 2, 8, 4, 7, 2] {
                put16(&mut m, v);
            }
            put16(&mut m, 1);
            put16(&mut m, 4 + 6 + 8 + 2); // padded
            for v in [300, 4, 4, 1, 4, 34, 2, 0] {
                put16(&mut m, v);
            }
        }
        for &(id, records, len) in data {
            let body = records * len;
            let pad = (4 - body % 4) % 4;
            put16(&mut m, id);
            put16(&mut m, (4 + body + pad) as u16);
            m.extend(std::iter::repeat_n(0xab, body + pad));
        }
        m
    }

    fn sender() -> SocketAddr {
        "127.0.0.1:9000".parse().unwrap()
    }

    #[test]
    fn v9_data_records_are_counted_once_their_template_is_known() {
        let mut c = Counter::default();
        let early = c.message(sender(), &v9(1, false, &[(256, 10, 6)]));
        assert_eq!(early.unknown_sets, 1);
        assert_eq!(early.flows, 0);
        let first = c.message(sender(), &v9(1, true, &[(256, 10, 6), (300, 1, 6)]));
        assert_eq!(
            first,
            Counted {
                flows: 10,
                options: 1,
                unknown_sets: 0,
                malformed: false
            }
        );
        // Padding (6 records of 6 bytes = 36, no pad; 7 records = 42 + 2) is not a record.
        assert_eq!(c.message(sender(), &v9(1, false, &[(256, 7, 6)])).flows, 7);
        // Another source id behind the same sender has its own templates.
        assert_eq!(c.message(sender(), &v9(2, false, &[(256, 7, 6)])).unknown_sets, 1);
    }

    #[test]
    fn cut_or_foreign_messages_are_malformed() {
        let mut c = Counter::default();
        let mut m = v9(1, true, &[(256, 3, 6)]);
        m.truncate(m.len() - 2);
        assert!(c.message(sender(), &m).malformed);
        assert!(c.message(sender(), b"\x00\x07hello").malformed);
        assert!(c.message(sender(), b"").malformed);
    }

    #[test]
    fn ipfix_templates_with_enterprise_fields_and_variable_lengths() {
        let mut m = Vec::new();
        put16(&mut m, 10);
        put16(&mut m, 0); // length, set below
        put32(&mut m, 1_700_000_000);
        put32(&mut m, 1);
        put32(&mut m, 5);
        // Template set: 256 = 4 + 8 (enterprise) bytes; 257 has a variable-length field.
        put16(&mut m, 2);
        put16(&mut m, 4 + 4 + 4 + 8 + 4 + 4);
        for v in [256, 2, 8, 4, 0x8001, 8] {
            put16(&mut m, v);
        }
        put32(&mut m, 29305);
        for v in [257, 1, 82, 0xffff] {
            put16(&mut m, v);
        }
        put16(&mut m, 256);
        put16(&mut m, 4 + 3 * 12);
        m.extend([0u8; 36]);
        put16(&mut m, 257);
        put16(&mut m, 4 + 4);
        m.extend([3, b'e', b't', b'h']);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        let mut c = Counter::default();
        let counted = c.message(sender(), &m);
        assert_eq!(counted.flows, 3);
        assert_eq!(counted.unknown_sets, 1, "variable-length records are not counted");
        assert!(!counted.malformed);
    }

    #[test]
    fn v5_counts_from_the_header() {
        let mut m = vec![0u8; 24 + 2 * 48];
        m[..2].copy_from_slice(&5u16.to_be_bytes());
        m[2..4].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(v5(&m).flows, 2);
        m[2..4].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(
            v5(&m),
            Counted {
                flows: 2,
                malformed: true,
                ..Counted::default()
            }
        );
    }

    #[test]
    fn frames_name_the_exporter_and_plain_datagrams_are_not_frames() {
        let mut f = b"FFR1".to_vec();
        f.extend_from_slice(&2055u16.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 1, 3]);
        f.extend_from_slice(b"payload");
        let (exporter, payload) = unframe(&f).expect("a frame");
        assert_eq!(exporter, "127.0.1.3:2055".parse::<SocketAddr>().unwrap());
        assert_eq!(payload, b"payload");
        assert!(unframe(&v9(1, true, &[])).is_none());
        assert!(unframe(b"FFR1short").is_none());
    }

    #[test]
    fn digest_tells_copies_from_other_messages() {
        let a = v9(1, true, &[(256, 10, 6)]);
        let mut b = a.clone();
        assert_eq!(digest(&a), digest(&b));
        b[15] ^= 1;
        assert_ne!(digest(&a), digest(&b));
        assert_ne!(digest(b"abc"), digest(b"abc\0"));
    }
}
