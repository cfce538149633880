//! NetFlow v9 (RFC 3954): a 20-byte header, then flowsets: 0 templates, 1 options templates,
//! 256+ data. Templates are keyed by exporter + source id. The sequence number counts export
//! packets per source id. v9 scope fields of options templates are kept as element 0 (they
//! use their own type numbers, which would collide with element ids).

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
pub(crate) const HEADER: usize = 20;

impl Decoder {
    pub(crate) fn decode_v9(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        received_ms: i64,
        out: &mut dyn FlowSink,
        report: &mut DecodeReport,
    ) {
        if d.len() < HEADER {
            return report.fail(DecodeError::Truncated {
                what: "v9 header",
                need: HEADER,
                have: d.len(),
            });
        }
        let h = |off| u32_at(d, off).unwrap_or(0);
        let (uptime, secs, seq, source) = (h(4), h(8), h(12), h(16));
        let export_ms = if secs == 0 { received_ms } else { i64::from(secs) * 1000 };
        let addr = from_ip(exporter);
        let key = DomainKey {
            exporter: addr,
            version: 9,
            domain: source,
        };
        let ctx = ExportCtx {
            exporter: addr,
            domain: source,
            export_ms,
            uptime_ms: Some(uptime),
        };
        let mut spare = DomainState::default();
        let mut s = self.session(key, ctx, exporter, report, out, &mut spare);
        s.report.sequence_gap = s.st.seq.observe(seq, Some(1));

        let walked = for_each_set(d, HEADER, |id, body| match id {
            0 => templates(&mut s, body),
            1 => options_templates(&mut s, body),
            2..=255 => s.fail(DecodeError::ReservedSetId { set_id: id }),
            _ => s.data(id, body),
        });
        if let Err(e) = walked {
            s.fail(e);
        }
        s.release_held();
    }
}

/// Reads `n` (type, length) pairs at `pos`; `scope` pairs get element id 0.
fn field_list(b: &[u8], pos: usize, n: usize, scope: bool, fields: &mut Vec<FieldSpec>) -> Option<()> {
    for i in 0..n {
        let ie = u16_at(b, pos + 4 * i)?;
        let len = u16_at(b, pos + 4 * i + 2)?;
        fields.push(FieldSpec {
            ie: if scope { 0 } else { ie },
            len,
            pen: 0,
        });
    }
    Some(())
}

/// A template flowset: records of (id, count, count x (type, length)).
fn templates(s: &mut Session<'_>, b: &[u8]) {
    let mut pos = 0;
    while b.len() - pos >= 4 {
        let id = u16_at(b, pos).unwrap_or(0);
        let count = usize::from(u16_at(b, pos + 2).unwrap_or(0));
        if id == 0 && count == 0 {
            break; // padding
        }
        let need = 4 + 4 * count;
        if b.len() - pos < need {
            return s.fail(DecodeError::Truncated {
                what: "v9 template",
                need,
                have: b.len() - pos,
            });
        }
        let mut fields = Vec::with_capacity(count);
        field_list(b, pos + 4, count, false, &mut fields);
        s.define(TemplateDef {
            id,
            options: false,
            fields,
        });
        pos += need;
    }
}

/// An options template flowset: (id, scope bytes, option bytes, scope fields, option fields).
fn options_templates(s: &mut Session<'_>, b: &[u8]) {
    let mut pos = 0;
    while b.len() - pos >= 6 {
        let id = u16_at(b, pos).unwrap_or(0);
        let scope_len = usize::from(u16_at(b, pos + 2).unwrap_or(0));
        let opt_len = usize::from(u16_at(b, pos + 4).unwrap_or(0));
        if id == 0 {
            break; // padding
        }
        if scope_len % 4 != 0 || opt_len % 4 != 0 {
            let e = s.bad_template(id, "scope or option length not a multiple of 4");
            return s.fail(e);
        }
        let need = 6 + scope_len + opt_len;
        if b.len() - pos < need {
            return s.fail(DecodeError::Truncated {
                what: "v9 options template",
                need,
                have: b.len() - pos,
            });
        }
        let mut fields = Vec::with_capacity((scope_len + opt_len) / 4);
        field_list(b, pos + 6, scope_len / 4, true, &mut fields);
        field_list(b, pos + 6 + scope_len, opt_len / 4, false, &mut fields);
        s.define(TemplateDef {
            id,
            options: true,
            fields,
        });
        pos += need;
    }
}
