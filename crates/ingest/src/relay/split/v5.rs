//! Splitting a NetFlow v5 datagram: its 48-byte records one slave after the other, each slave's
//! datagram with the input's header (times, engine, sampling field), its own record count and
//! its own `flow_sequence` (which counts flows).

use std::net::SocketAddr;

use super::{DomainKey, Outputs, SplitReport, Splitter, Spread, domain};
use crate::error::{DecodeError, SplitError};
use crate::relay::template_cache::{be16, be32, put16, put32};

/// Header length.
const HEADER: usize = 24;
/// Record length.
const RECORD: usize = 48;

/// Splits a v5 datagram.
pub(super) fn split(
    sp: &mut Splitter,
    source: SocketAddr,
    d: &[u8],
    out: &mut Outputs,
) -> Result<SplitReport, SplitError> {
    if d.len() < HEADER {
        return Err(DecodeError::Truncated {
            what: "v5 header",
            need: HEADER,
            have: d.len(),
        }
        .into());
    }
    let count = usize::from(be16(d, 2).unwrap_or(0));
    let have = (d.len() - HEADER) / RECORD;
    if count > have {
        return Err(DecodeError::Truncated {
            what: "v5 records",
            need: HEADER + count * RECORD,
            have: d.len(),
        }
        .into());
    }
    if count < have {
        return Err(DecodeError::BadLength {
            what: "v5 count",
            declared: count,
            actual: have,
        }
        .into());
    }
    let seq = be32(d, 16).unwrap_or(0);
    let engine = (u32::from(d[20]) << 8) | u32::from(d[21]);
    let Splitter {
        slaves,
        cfg,
        domains,
        msgs,
        ..
    } = sp;
    let key = DomainKey {
        exporter: source.ip().to_canonical(),
        version: 5,
        domain: engine,
    };
    let dom = domain(domains, cfg, *slaves, key, seq)?;
    let chosen = (cfg.spread == Spread::Datagram && count > 0).then(|| dom.take_turn());
    for record in d[HEADER..].chunks_exact(RECORD).take(count) {
        let s = chosen.unwrap_or_else(|| dom.take_turn());
        let m = &mut msgs[s];
        m.extend(out.arena(s), HEADER, record);
        m.flows += 1;
    }
    let sequence_gap = dom.observe(seq, Some(count as u32));
    dom.skip(sequence_gap);
    for (s, m) in msgs.iter_mut().enumerate() {
        let arena = out.arena(s);
        if let Some(range) = m.finish(arena) {
            let b = &mut arena[range.clone()];
            b[..HEADER].copy_from_slice(&d[..HEADER]);
            put16(b, 2, m.flows as u16);
            put32(b, 16, dom.number(s, m.flows));
            out.push(s, source, m.flows, range);
        }
        m.reset();
    }
    Ok(SplitReport {
        version: 5,
        flows: count as u32,
        sequence_gap,
        ..SplitReport::default()
    })
}
