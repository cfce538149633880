//! Splitting a NetFlow v9 or IPFIX message: templates, options templates and options data to
//! every slave, data records one slave after the other, sets of unknown templates whole to one
//! slave in turn; then each slave's header with its own sequence number.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::{DomainKey, Known, Outputs, SplitReport, Splitter, Spread, domain};
use crate::error::{DecodeError, SplitError};
use crate::relay::template_cache::{
    IPFIX_HEADER, Op, Shape, V9_HEADER, be16, be32, put16, put32, template_kind, template_records,
};

/// What the header of the input says.
struct Header {
    /// v9 `sys_uptime`, `unix_secs`; IPFIX export time, unused.
    time: [u32; 2],
    seq: u32,
    domain: u32,
    len: usize,
}

/// Splits a v9 (`version` 9) or IPFIX (10) datagram.
pub(super) fn split(
    sp: &mut Splitter,
    version: u16,
    source: SocketAddr,
    datagram: &[u8],
    out: &mut Outputs,
) -> Result<SplitReport, SplitError> {
    let (h, sets) = parse(version, datagram)?;
    validate(version, sets)?;
    let Splitter {
        slaves,
        cfg,
        domains,
        templates: learned,
        msgs,
        ..
    } = sp;
    let slaves = *slaves;
    let key = DomainKey {
        exporter: source.ip().to_canonical(),
        version,
        domain: h.domain,
    };
    let dom = domain(domains, cfg, slaves, key, h.seq)?;
    let mut report = SplitReport {
        version,
        ..SplitReport::default()
    };
    if version == 10 {
        dom.settle_unknown(h.seq);
    }
    // The slave that gets this datagram's sets of unknown templates (all of them).
    let mut unknown_to = None;
    // With `Spread::Datagram`, the slave that gets this datagram's data records.
    let mut data_to: Option<usize> = None;
    let per_datagram = cfg.spread == Spread::Datagram;
    let header = h.len;
    for (id, body) in walk(sets) {
        if let Some(options) = template_kind(version, id) {
            let mut n = 0u32;
            template_records(version, options, body, &mut |op| {
                n += 1;
                if !learn(op, version, &mut dom.templates, learned, cfg.max_templates) {
                    report.templates_not_learned += 1;
                }
            });
            for (s, m) in msgs.iter_mut().enumerate() {
                m.whole_set(out.arena(s), header, id, body);
                m.records += n;
            }
            if options {
                report.options_templates += n;
            } else {
                report.templates += n;
            }
            continue;
        }
        match dom.templates.get(&id) {
            Some(Known { options: true, shape }) => {
                let n = shape.split(body, |_, _| {});
                for (s, m) in msgs.iter_mut().enumerate() {
                    m.whole_set(out.arena(s), header, id, body);
                    m.records += n;
                    m.data += n;
                }
                report.options_records += n;
            }
            Some(Known { options: false, shape }) => {
                let cursor = &mut dom.cursor;
                let mut used = 0usize;
                let mut turn = || {
                    let s = *cursor;
                    *cursor = (s + 1) % slaves;
                    s
                };
                let chosen = match per_datagram {
                    true => Some(*data_to.get_or_insert_with(&mut turn)),
                    false => None,
                };
                let n = shape.split(body, |record, _| {
                    let s = chosen.unwrap_or_else(&mut turn);
                    let m = &mut msgs[s];
                    m.record(out.arena(s), header, id, record);
                    m.records += 1;
                    m.data += 1;
                    m.flows += 1;
                    used += record.len();
                });
                report.flows += n;
                let rest = body.len() - used;
                if matches!(shape, Shape::Var { .. }) && rest >= shape.min_len() && report.error.is_none() {
                    report.error = Some(DecodeError::Truncated {
                        what: "variable-length record",
                        need: shape.min_len(),
                        have: rest,
                    });
                }
            }
            None => {
                let s = *unknown_to.get_or_insert_with(|| dom.take_turn());
                msgs[s].whole_set(out.arena(s), header, id, body);
                msgs[s].records += 1;
                report.unknown_sets += 1;
            }
        }
    }

    // The decoder's rule: v9 counts packets; IPFIX counts data records, unknown when a set had
    // no template.
    let known = report.flows.wrapping_add(report.options_records);
    let advance = match (version, unknown_to) {
        (9, _) => Some(1),
        (_, None) => Some(known),
        (_, Some(_)) => None,
    };
    report.sequence_gap = dom.observe(h.seq, advance);
    if version == 9 {
        dom.skip_all(report.sequence_gap);
    } else {
        dom.skip(report.sequence_gap);
        if let Some(s) = unknown_to {
            dom.sent_unknown(s, h.seq.wrapping_add(known));
        }
    }

    for (s, m) in msgs.iter_mut().enumerate() {
        let arena = out.arena(s);
        if let Some(range) = m.finish(arena) {
            let b = &mut arena[range.clone()];
            put16(b, 0, version);
            if version == 9 {
                put16(b, 2, m.records.min(u32::from(u16::MAX)) as u16);
                put32(b, 4, h.time[0]);
                put32(b, 8, h.time[1]);
                put32(b, 12, dom.number(s, 1));
                put32(b, 16, h.domain);
            } else {
                put16(b, 2, range.len() as u16);
                put32(b, 4, h.time[0]);
                put32(b, 8, dom.number(s, m.data));
                put32(b, 12, h.domain);
            }
            out.push(s, source, m.flows, range);
        }
        m.reset();
    }
    Ok(report)
}

/// The header and the sets part of a message (an IPFIX message cut to its length).
fn parse(version: u16, d: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    let (len, what) = if version == 9 {
        (V9_HEADER, "v9 header")
    } else {
        (IPFIX_HEADER, "ipfix header")
    };
    if d.len() < len {
        return Err(DecodeError::Truncated {
            what,
            need: len,
            have: d.len(),
        });
    }
    let g = |at| be32(d, at).unwrap_or(0);
    if version == 9 {
        let h = Header {
            time: [g(4), g(8)],
            seq: g(12),
            domain: g(16),
            len,
        };
        return Ok((h, &d[len..]));
    }
    let length = usize::from(be16(d, 2).unwrap_or(0));
    if length < IPFIX_HEADER || length > d.len() {
        return Err(DecodeError::BadLength {
            what: "ipfix message length",
            declared: length,
            actual: d.len(),
        });
    }
    let h = Header {
        time: [g(4), 0],
        seq: g(8),
        domain: g(12),
        len,
    };
    Ok((h, &d[len..length]))
}

/// Checks the set structure: every set length covers its header and stays inside the message
/// (trailing bytes too short for a set header are padding), no reserved set id.
fn validate(version: u16, mut rest: &[u8]) -> Result<(), DecodeError> {
    while rest.len() >= 4 {
        let set_id = be16(rest, 0).unwrap_or(0);
        let length = usize::from(be16(rest, 2).unwrap_or(0));
        if length < 4 || length > rest.len() {
            return Err(DecodeError::BadSetLength {
                set_id,
                length,
                remaining: rest.len(),
            });
        }
        if set_id < 256 && template_kind(version, set_id).is_none() {
            return Err(DecodeError::ReservedSetId { set_id });
        }
        rest = &rest[length..];
    }
    Ok(())
}

/// The sets of a validated message.
fn walk(mut rest: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let id = be16(rest, 0)?;
        let len = usize::from(be16(rest, 2)?);
        let set = rest.get(4..len)?;
        rest = &rest[len..];
        Some((id, set))
    })
}

/// Applies one template record; `false` if a new template was not learned (bound reached).
fn learn(op: Op<'_>, version: u16, templates: &mut HashMap<u16, Known>, learned: &mut usize, max: usize) -> bool {
    match op {
        Op::Define { id, options, raw } => {
            // The decoder keeps its old template when the new one is bad: so does the splitter.
            let Some(shape) = Shape::parse(version, options, raw) else {
                return true;
            };
            if let Some(t) = templates.get_mut(&id) {
                *t = Known { options, shape };
                return true;
            }
            if *learned >= max {
                return false;
            }
            *learned += 1;
            templates.insert(id, Known { options, shape });
        }
        Op::Withdraw(id) => {
            if templates.remove(&id).is_some() {
                *learned -= 1;
            }
        }
        Op::WithdrawAll { options } => {
            let before = templates.len();
            templates.retain(|_, t| t.options != options);
            *learned -= before - templates.len();
        }
    }
    true
}
