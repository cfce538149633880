//! Builders for hand-made v5, v9 and IPFIX packets.

/// Big-endian byte writer.
#[derive(Default, Clone)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// A set (flowset): id, length, body.
pub fn set(id: u16, body: &[u8]) -> Vec<u8> {
    Bytes::default().u16(id).u16((body.len() + 4) as u16).raw(body).0
}

/// A v9/IPFIX template record without enterprise fields.
pub fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut b = Bytes::default().u16(id).u16(fields.len() as u16);
    for &(ie, len) in fields {
        b = b.u16(ie).u16(len);
    }
    b.0
}

/// A v9 options template record: scope fields, then option fields.
pub fn v9_options_template(id: u16, scope: &[(u16, u16)], opts: &[(u16, u16)]) -> Vec<u8> {
    let mut b = Bytes::default()
        .u16(id)
        .u16((scope.len() * 4) as u16)
        .u16((opts.len() * 4) as u16);
    for &(ie, len) in scope.iter().chain(opts) {
        b = b.u16(ie).u16(len);
    }
    b.0
}

/// An IPFIX options template record (`scope` = number of leading scope fields).
pub fn ipfix_options_template(id: u16, scope: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut b = Bytes::default().u16(id).u16(fields.len() as u16).u16(scope);
    for &(ie, len) in fields {
        b = b.u16(ie).u16(len);
    }
    b.0
}

/// A v9 packet.
pub fn v9(uptime: u32, secs: u32, seq: u32, source: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Bytes::default()
        .u16(9)
        .u16(sets.len() as u16)
        .u32(uptime)
        .u32(secs)
        .u32(seq)
        .u32(source);
    for s in sets {
        b = b.raw(s);
    }
    b.0
}

/// An IPFIX message.
pub fn ipfix(secs: u32, seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = sets.concat();
    Bytes::default()
        .u16(10)
        .u16((16 + body.len()) as u16)
        .u32(secs)
        .u32(seq)
        .u32(domain)
        .raw(&body)
        .0
}

/// A v5 header (`count` records follow, written by the caller).
pub fn v5_header(count: u16, uptime: u32, secs: u32, seq: u32, engine: (u8, u8), sampling: u16) -> Bytes {
    Bytes::default()
        .u16(5)
        .u16(count)
        .u32(uptime)
        .u32(secs)
        .u32(0)
        .u32(seq)
        .u8(engine.0)
        .u8(engine.1)
        .u16(sampling)
}

/// A v5 record from 10.0.0.1:1000 to 10.0.0.2:80, TCP, with the given counts and times.
pub fn v5_record(packets: u32, bytes: u32, first: u32, last: u32) -> Vec<u8> {
    Bytes::default()
        .raw(&[10, 0, 0, 1])
        .raw(&[10, 0, 0, 2])
        .raw(&[10, 0, 0, 254])
        .u16(3)
        .u16(4)
        .u32(packets)
        .u32(bytes)
        .u32(first)
        .u32(last)
        .u16(1000)
        .u16(80)
        .u8(0)
        .u8(0x12)
        .u8(6)
        .u8(0x10)
        .u16(64512)
        .u16(15169)
        .u8(24)
        .u8(16)
        .u16(0)
        .0
}

/// A minimal IPv4 data template: src, dst, packets (4 bytes), bytes (4 bytes), protocol.
pub const SMALL_V4: [(u16, u16); 5] = [(8, 4), (12, 4), (2, 4), (1, 4), (4, 1)];

/// A record of [`SMALL_V4`].
pub fn small_v4(src: [u8; 4], dst: [u8; 4], packets: u32, bytes: u32, proto: u8) -> Vec<u8> {
    Bytes::default().raw(&src).raw(&dst).u32(packets).u32(bytes).u8(proto).0
}
