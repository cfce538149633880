//! IPFIX (RFC 7011): a 16-byte message header, then sets: 2 templates, 3 options templates,
//! 256+ data. Enterprise-specific fields (high bit of the element id, then a 4-byte PEN) and
//! variable-length fields are parsed and skipped. A template record with field count 0 withdraws
//! its template; id 2 (set 2) / id 3 (set 3) withdraw all data / options templates. The sequence
//! number counts data records per observation domain.

use std::net::IpAddr;

use engine::addr::from_ip;

use super::fields::FieldSpec;
use super::read::{for_each_set, u16_at, u32_at};
use super::record::ExportCtx;
use super::sets::Session;
use super::template::{DomainKey, DomainState, TemplateDef};
use super::{DecodeReport, Decoder};
use crate::columns::FlowSink;
use crate::error::DecodeError;

/// Header length.
pub(crate) const HEADER: usize = 16;

impl Decoder {
    pub(crate) fn decode_ipfix(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        received_ms: i64,
        out: &mut dyn FlowSink,
        report: &mut DecodeReport,
    ) {
        if datagram.len() < HEADER {
            let e = DecodeError::Truncated {
                what: "ipfix header",
                need: HEADER,
                have: datagram.len(),
            };
            return report.fail(e);
        }
        let length = usize::from(u16_at(datagram, 2).unwrap_or(0));
        let d = if length < HEADER || length > datagram.len() {
            report.fail(DecodeError::BadLength {
                what: "ipfix message length",
                declared: length,
                actual: datagram.len(),
            });
            if length < HEADER {
                return;
            }
            datagram
        } else {
            &datagram[..length]
        };
        let h = |off| u32_at(d, off).unwrap_or(0);
        let (secs, seq, domain) = (h(4), h(8), h(12));
        let export_ms = if secs == 0 { received_ms } else { i64::from(secs) * 1000 };
        let addr = from_ip(exporter);
        let key = DomainKey {
            exporter: addr,
            version: 10,
            domain,
        };
        let ctx = ExportCtx {
            exporter: addr,
            domain,
            export_ms,
            uptime_ms: None,
        };
        let mut spare = DomainState::default();
        let mut s = self.session(key, ctx, exporter, report, out, &mut spare);

        let walked = for_each_set(d, HEADER, |id, body| match id {
            2 => templates(&mut s, body, false),
            3 => templates(&mut s, body, true),
            0..=255 => s.fail(DecodeError::ReservedSetId { set_id: id }),
            _ => s.data(id, body),
        });
        if let Err(e) = walked {
            s.fail(e);
        }
        let advance = (!s.held_any).then_some(s.records);
        s.report.sequence_gap = s.st.seq.observe(seq, advance);
        s.release_held();
    }
}

/// Reads `n` field specifiers at `*pos`, advancing it; `None` if they run past the end.
fn field_list(b: &[u8], pos: &mut usize, n: usize, fields: &mut Vec<FieldSpec>) -> Option<()> {
    for _ in 0..n {
        let raw = u16_at(b, *pos)?;
        let len = u16_at(b, *pos + 2)?;
        *pos += 4;
        let pen = if raw & 0x8000 != 0 {
            let pen = u32_at(b, *pos)?;
            *pos += 4;
            pen
        } else {
            0
        };
        fields.push(FieldSpec {
            ie: raw & 0x7fff,
            len,
            pen,
        });
    }
    Some(())
}

/// A template set (`options == false`) or an options template set.
fn templates(s: &mut Session<'_>, b: &[u8], options: bool) {
    let head = if options { 6 } else { 4 };
    let mut pos = 0;
    while b.len() - pos >= 4 {
        let id = u16_at(b, pos).unwrap_or(0);
        let count = usize::from(u16_at(b, pos + 2).unwrap_or(0));
        if id == 0 && count == 0 {
            break; // padding
        }
        if count == 0 {
            match (id, options) {
                (2, false) | (3, true) => s.withdraw_all(options),
                _ => s.withdraw(id),
            }
            pos += 4;
            continue;
        }
        if b.len() - pos < head {
            return s.fail(DecodeError::Truncated {
                what: "ipfix options template",
                need: head,
                have: b.len() - pos,
            });
        }
        let scope = if options {
            usize::from(u16_at(b, pos + 4).unwrap_or(0))
        } else {
            0
        };
        if options && (scope == 0 || scope > count) {
            let e = s.bad_template(id, "scope field count is 0 or above the field count");
            return s.fail(e);
        }
        let mut end = pos + head;
        let mut fields = Vec::with_capacity(count);
        if field_list(b, &mut end, count, &mut fields).is_none() {
            let what = if options {
                "ipfix options template"
            } else {
                "ipfix template"
            };
            return s.fail(DecodeError::Truncated {
                what,
                need: end + 4,
                have: b.len(),
            });
        }
        s.define(TemplateDef { id, options, fields });
        pos = end;
    }
}
