//! NetFlow v5: a 24-byte header and fixed 48-byte records, IPv4 only.
//!
//! Times: `start = unix_secs*1000 + unix_nsecs/1e6 - sys_uptime + first` (uptime differences
//! modulo 2^32). Observation domain = `engine_type << 8 | engine_id`. The header sampling field
//! (2-bit mode, 14-bit interval) sets `sampling_interval` (0 = none, null); counts are not scaled.

use std::net::IpAddr;

use engine::FlowRecord;
use engine::addr::{from_ip, from_v4_bytes};

use super::read::{u16_at, u32_at};
use super::template::DomainKey;
use super::{DecodeReport, Decoder};
use crate::columns::FlowSink;
use crate::error::DecodeError;

/// Header length.
pub(crate) const HEADER: usize = 24;
/// Record length.
pub(crate) const RECORD: usize = 48;

#[inline]
fn v4(r: &[u8], off: usize) -> Option<[u8; 16]> {
    let b: [u8; 4] = r.get(off..off + 4)?.try_into().ok()?;
    Some(from_v4_bytes(b))
}

impl Decoder {
    pub(crate) fn decode_v5(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        received_ms: i64,
        out: &mut dyn FlowSink,
        report: &mut DecodeReport,
    ) {
        if d.len() < HEADER {
            return report.fail(DecodeError::Truncated {
                what: "v5 header",
                need: HEADER,
                have: d.len(),
            });
        }
        let h = |off| u32_at(d, off).unwrap_or(0);
        let count = usize::from(u16_at(d, 2).unwrap_or(0));
        let uptime = h(4);
        let secs = h(8);
        let nsecs = h(12);
        let seq = h(16);
        let domain = (u32::from(d[20]) << 8) | u32::from(d[21]);
        let interval = u16_at(d, 22).unwrap_or(0) & 0x3fff;
        let export_ms = if secs == 0 {
            received_ms
        } else {
            i64::from(secs) * 1000 + i64::from(nsecs / 1_000_000)
        };

        let have = (d.len() - HEADER) / RECORD;
        if count > have {
            report.fail(DecodeError::Truncated {
                what: "v5 records",
                need: HEADER + count * RECORD,
                have: d.len(),
            });
        } else if count < have {
            report.fail(DecodeError::BadLength {
                what: "v5 count",
                declared: count,
                actual: have,
            });
        }
        let n = count.min(have);

        let key = DomainKey {
            exporter: from_ip(exporter),
            version: 5,
            domain,
        };
        if self.domains.len() < self.cfg.max_domains || self.domains.contains_key(&key) {
            let st = self.domains.entry(key).or_default();
            report.sequence_gap = st.seq.observe(seq, Some(n as u32));
        }

        let time = |first: u32| export_ms + i64::from(first.wrapping_sub(uptime) as i32);
        let base = FlowRecord {
            exporter: key.exporter,
            observation_domain: domain,
            sampling_interval: (interval != 0).then_some(u32::from(interval)),
            ..FlowRecord::default()
        };
        for r in d[HEADER..].chunks_exact(RECORD).take(n) {
            let g16 = |off| u16_at(r, off).unwrap_or(0);
            let g32 = |off| u32_at(r, off).unwrap_or(0);
            let rec = FlowRecord {
                src_addr: v4(r, 0),
                dst_addr: v4(r, 4),
                next_hop: v4(r, 8),
                input_if: Some(u32::from(g16(12))),
                output_if: Some(u32::from(g16(14))),
                packets: Some(u64::from(g32(16))),
                bytes: Some(u64::from(g32(20))),
                flow_start: time(g32(24)),
                flow_end: Some(time(g32(28))),
                src_port: Some(g16(32)),
                dst_port: Some(g16(34)),
                tcp_flags: Some(u16::from(r[37])),
                protocol: Some(r[38]),
                tos: Some(r[39]),
                src_as: Some(u32::from(g16(40))),
                dst_as: Some(u32::from(g16(42))),
                src_mask: Some(r[44]),
                dst_mask: Some(r[45]),
                ..base
            };
            out.append_flow(&rec);
        }
        report.flows = n as u32;
    }
}
