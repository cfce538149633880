//! Packet builders of the relay's unit tests: sets, templates, options templates, v9 and IPFIX
//! headers, and a small IPv4 template.

pub(crate) fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    b.extend_from_slice(body);
    b
}

pub(crate) fn fields(mut b: Vec<u8>, fields: &[(u16, u16)]) -> Vec<u8> {
    for (ie, len) in fields {
        b.extend_from_slice(&ie.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
    }
    b
}

/// A v9 / IPFIX template record.
pub(crate) fn template(id: u16, list: &[(u16, u16)]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&(list.len() as u16).to_be_bytes());
    fields(b, list)
}

pub(crate) fn v9_options_template(id: u16, scope: &[(u16, u16)], opts: &[(u16, u16)]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&((scope.len() * 4) as u16).to_be_bytes());
    b.extend_from_slice(&((opts.len() * 4) as u16).to_be_bytes());
    fields(fields(b, scope), opts)
}

pub(crate) fn ipfix_options_template(id: u16, scope: u16, list: &[(u16, u16)]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&(list.len() as u16).to_be_bytes());
    b.extend_from_slice(&scope.to_be_bytes());
    fields(b, list)
}

pub(crate) const SECS: u32 = 1_700_000_000;
pub(crate) const UPTIME: u32 = 3_600_000;

pub(crate) fn v9(seq: u32, source: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0, 9];
    b.extend_from_slice(&(sets.len() as u16).to_be_bytes());
    for v in [UPTIME, SECS, seq, source] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend(sets.concat());
    b
}

pub(crate) fn ipfix(seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body = sets.concat();
    let mut b = vec![0, 10];
    b.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
    for v in [SECS, seq, domain] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend(body);
    b
}

/// src, dst, packets, bytes, protocol: 17 bytes.
pub(crate) const SMALL_V4: [(u16, u16); 5] = [(8, 4), (12, 4), (2, 4), (1, 4), (4, 1)];
