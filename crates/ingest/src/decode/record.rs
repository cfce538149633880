//! Per-record decoding: the tight loop that applies a template's ops to each record of a data
//! set, and the finishing step (times, sampling, ICMP type/code) that turns raw values into a
//! [`FlowRecord`].

use engine::FlowRecord;
use engine::addr::{Addr16, from_v4_bytes};

use super::fields::{Compiled, FieldSpec, Layout, Op, Slot, Target, TimeUnit, VARLEN};
use super::read::uint;
use super::template::OptionsState;
use crate::error::DecodeError;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// What the packet header says about the records of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExportCtx {
    pub exporter: Addr16,
    pub domain: u32,
    /// Export time, ms since the epoch (header seconds * 1000).
    pub export_ms: i64,
    /// sysUpTime at export (v9 header); `None` for IPFIX.
    pub uptime_ms: Option<u32>,
}

/// Values of a record that need context to become flow columns.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extra {
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub icmp: Option<u16>,
    pub sampler_id: Option<u32>,
    pub interval: Option<u32>,
    pub space: Option<u32>,
    pub system_init: Option<u64>,
}

impl Extra {
    /// The sampling interval carried by the record itself (interval and space combined).
    pub(crate) fn own_interval(&self) -> Option<u32> {
        let n = self.interval.filter(|n| *n > 0)?;
        Some(match self.space {
            Some(space) => (u64::from(n) + u64::from(space))
                .div_ceil(u64::from(n))
                .min(u64::from(u32::MAX)) as u32,
            None => n,
        })
    }
}

#[inline]
fn addr4(s: &[u8]) -> Option<Addr16> {
    let b: [u8; 4] = s.try_into().ok()?;
    Some(from_v4_bytes(b))
}

#[inline]
fn addr6(s: &[u8]) -> Option<Addr16> {
    s.try_into().ok()
}

/// Stores one field value.
#[inline(always)]
fn apply(target: Target, s: &[u8], r: &mut FlowRecord, x: &mut Extra) {
    use Target::*;
    match target {
        Bytes => r.bytes = Some(uint(s)),
        Packets => r.packets = Some(uint(s)),
        Protocol => r.protocol = Some(uint(s) as u8),
        Tos => r.tos = Some(uint(s) as u8),
        TcpFlags => r.tcp_flags = Some(uint(s) as u16),
        SrcPort => r.src_port = Some(uint(s) as u16),
        DstPort => r.dst_port = Some(uint(s) as u16),
        SrcV4 => r.src_addr = addr4(s),
        DstV4 => r.dst_addr = addr4(s),
        SrcV6 => r.src_addr = addr6(s),
        DstV6 => r.dst_addr = addr6(s),
        NextHopV4 => r.next_hop = addr4(s),
        NextHopV6 => r.next_hop = addr6(s),
        SrcMask => r.src_mask = Some(uint(s) as u8),
        DstMask => r.dst_mask = Some(uint(s) as u8),
        InputIf => r.input_if = Some(uint(s) as u32),
        OutputIf => r.output_if = Some(uint(s) as u32),
        SrcAs => r.src_as = Some(uint(s) as u32),
        DstAs => r.dst_as = Some(uint(s) as u32),
        Vlan => r.vlan = Some(uint(s) as u16),
        Direction => r.direction = Some(uint(s) as u8),
        IcmpTypeCode => x.icmp = Some(uint(s) as u16),
        Start => x.start = Some(uint(s)),
        End => x.end = Some(uint(s)),
        SamplerId => x.sampler_id = Some(uint(s) as u32),
        SamplingInterval => x.interval = Some(uint(s).min(u64::from(u32::MAX)) as u32),
        SamplingSpace => x.space = Some(uint(s).min(u64::from(u32::MAX)) as u32),
        SystemInit => x.system_init = Some(uint(s)),
    }
}

/// The bytes of a slot, `None` when the template lacks it.
#[inline(always)]
fn slot(rec: &[u8], s: Slot) -> Option<&[u8]> {
    if s.len == 0 {
        return None;
    }
    let start = usize::from(s.off);
    rec.get(start..start + usize::from(s.len))
}

#[inline(always)]
fn int(rec: &[u8], s: Slot) -> Option<u64> {
    if s.len == 0 {
        return None;
    }
    let w = usize::from(s.win);
    match rec.get(w..w + 8) {
        Some(b) => {
            let v = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            Some((v >> s.shift) & s.mask)
        }
        None => slot(rec, s).map(uint),
    }
}

#[inline(always)]
fn addr(rec: &[u8], s: Slot) -> Option<Addr16> {
    let b = slot(rec, s)?;
    if b.len() == 4 { addr4(b) } else { addr6(b) }
}

/// Reads a fixed-length record through its layout (everything but the sampling fields).
#[inline(always)]
fn read_fixed(l: &Layout, rec: &[u8], r: &mut FlowRecord) -> Extra {
    r.bytes = int(rec, l.bytes);
    r.packets = int(rec, l.packets);
    r.protocol = int(rec, l.protocol).map(|v| v as u8);
    r.tos = int(rec, l.tos).map(|v| v as u8);
    r.tcp_flags = int(rec, l.tcp_flags).map(|v| v as u16);
    r.src_port = int(rec, l.src_port).map(|v| v as u16);
    r.dst_port = int(rec, l.dst_port).map(|v| v as u16);
    r.src_addr = addr(rec, l.src);
    r.dst_addr = addr(rec, l.dst);
    r.next_hop = addr(rec, l.next_hop);
    r.src_mask = int(rec, l.src_mask).map(|v| v as u8);
    r.dst_mask = int(rec, l.dst_mask).map(|v| v as u8);
    r.input_if = int(rec, l.input_if).map(|v| v as u32);
    r.output_if = int(rec, l.output_if).map(|v| v as u32);
    r.src_as = int(rec, l.src_as).map(|v| v as u32);
    r.dst_as = int(rec, l.dst_as).map(|v| v as u32);
    r.vlan = int(rec, l.vlan).map(|v| v as u16);
    r.direction = int(rec, l.direction).map(|v| v as u8);
    Extra {
        icmp: int(rec, l.icmp).map(|v| v as u16),
        start: int(rec, l.start),
        end: int(rec, l.end),
        ..Extra::default()
    }
}

/// Walks the records of a data set, filling a record per template and handing it to `done`.
/// Trailing bytes shorter than a record are padding. Returns the number of records.
#[inline]
pub(crate) fn walk_set<F>(
    fields: &[FieldSpec],
    c: &Compiled,
    body: &[u8],
    base: &FlowRecord,
    mut done: F,
) -> (u32, Option<DecodeError>)
where
    F: FnMut(FlowRecord, Extra),
{
    let mut n = 0u32;
    if !c.varlen {
        for chunk in body.chunks_exact(c.record_len) {
            let mut r = *base;
            let mut x = read_fixed(&c.layout, chunk, &mut r);
            if c.layout.extras {
                for op in &c.ops {
                    if matches!(
                        op.target,
                        Target::SamplerId | Target::SamplingInterval | Target::SamplingSpace | Target::SystemInit
                    ) {
                        let start = usize::from(op.offset);
                        if let Some(s) = chunk.get(start..start + usize::from(op.len)) {
                            apply(op.target, s, &mut r, &mut x);
                        }
                    }
                }
            }
            done(r, x);
            n += 1;
        }
        return (n, None);
    }
    let mut pos = 0usize;
    while body.len() - pos >= c.record_len {
        match varlen_record(fields, &c.ops, &body[pos..], base) {
            Ok((used, r, x)) => {
                done(r, x);
                n += 1;
                pos += used;
            }
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// Decodes one record of a template with variable-length fields; returns the bytes it used.
fn varlen_record(
    fields: &[FieldSpec],
    ops: &[Op],
    b: &[u8],
    base: &FlowRecord,
) -> Result<(usize, FlowRecord, Extra), DecodeError> {
    let mut r = *base;
    let mut x = Extra::default();
    let mut pos = 0usize;
    let mut ops = ops.iter().peekable();
    let short = |need: usize, have: usize| DecodeError::Truncated {
        what: "variable-length record",
        need,
        have,
    };
    for (i, f) in fields.iter().enumerate() {
        let len = if f.len == VARLEN {
            let first = *b.get(pos).ok_or(short(pos + 1, b.len()))?;
            pos += 1;
            if first < 255 {
                usize::from(first)
            } else {
                let hi = *b.get(pos).ok_or(short(pos + 2, b.len()))?;
                let lo = *b.get(pos + 1).ok_or(short(pos + 2, b.len()))?;
                pos += 2;
                usize::from(u16::from_be_bytes([hi, lo]))
            }
        } else {
            usize::from(f.len)
        };
        let s = b.get(pos..pos + len).ok_or(short(pos + len, b.len()))?;
        if let Some(op) = ops.next_if(|op| usize::from(op.field) == i) {
            apply(op.target, s, &mut r, &mut x);
        }
        pos += len;
    }
    Ok((pos, r, x))
}

/// How uptime-relative times map to the epoch.
#[derive(Debug, Clone, Copy)]
enum UptimeRef {
    /// Epoch ms of sysUpTime 0 (IPFIX systemInitTimeMilliseconds).
    Init(i64),
    /// sysUpTime `uptime` was at epoch ms `at`; differences are taken modulo 2^32 so that
    /// wrap-around of the 32-bit uptime works.
    Anchor { uptime: u32, at: i64 },
}

/// Converts a raw time to ms since the epoch.
#[inline]
fn to_ms(raw: u64, unit: TimeUnit, ctx: &ExportCtx, up: Option<UptimeRef>) -> Option<i64> {
    let v = raw.min(i64::MAX as u64) as i64;
    Some(match unit {
        TimeUnit::None => return None,
        TimeUnit::Millis => v,
        TimeUnit::Secs => v.saturating_mul(1000),
        TimeUnit::Micros => v / 1000,
        TimeUnit::Ntp => {
            let secs = (raw >> 32) as i64 - NTP_UNIX_OFFSET;
            let frac_ms = ((raw & 0xffff_ffff) * 1000) >> 32;
            secs * 1000 + frac_ms as i64
        }
        TimeUnit::DeltaMicros => ctx.export_ms.saturating_sub(v / 1000),
        TimeUnit::Uptime => match up? {
            UptimeRef::Init(init) => init.saturating_add(v),
            UptimeRef::Anchor { uptime, at } => at + i64::from((raw as u32).wrapping_sub(uptime) as i32),
        },
    })
}

/// The reference for uptime-relative times. v9: the header's sysUpTime at the export time.
/// IPFIX: systemInitTimeMilliseconds from options data; without it, the record's end (else
/// start) is taken to be the export time, which keeps durations exact.
fn uptime_ref(x: &Extra, c: &Compiled, ctx: &ExportCtx, opts: &OptionsState) -> Option<UptimeRef> {
    if let Some(uptime) = ctx.uptime_ms {
        return Some(UptimeRef::Anchor {
            uptime,
            at: ctx.export_ms,
        });
    }
    if let Some(init) = opts.system_init_ms {
        return Some(UptimeRef::Init(init));
    }
    let raw = if c.end_unit == TimeUnit::Uptime { x.end } else { x.start }?;
    Some(UptimeRef::Anchor {
        uptime: raw as u32,
        at: ctx.export_ms,
    })
}

/// Turns a filled record into a flow: times, sampling, ICMP type/code.
#[inline]
pub(crate) fn finish(r: &mut FlowRecord, x: &Extra, c: &Compiled, ctx: &ExportCtx, opts: &OptionsState) {
    let uptime = c.start_unit == TimeUnit::Uptime || c.end_unit == TimeUnit::Uptime;
    let up = if uptime { uptime_ref(x, c, ctx, opts) } else { None };
    let start = x.start.and_then(|v| to_ms(v, c.start_unit, ctx, up));
    let end = x.end.and_then(|v| to_ms(v, c.end_unit, ctx, up));
    r.flow_end = end;
    r.flow_start = start.or(end).unwrap_or(ctx.export_ms);

    let interval = x
        .own_interval()
        .or_else(|| opts.interval_for(x.sampler_id))
        .filter(|n| *n > 0);
    if let Some(n) = interval {
        r.sampling_interval = Some(n);
        if n > 1 {
            r.packets = r.packets.map(|p| p.saturating_mul(u64::from(n)));
            r.bytes = r.bytes.map(|b| b.saturating_mul(u64::from(n)));
        }
    }

    if let Some(tc) = x.icmp
        && matches!(r.protocol, Some(1 | 58))
        && r.src_port.unwrap_or(0) == 0
        && r.dst_port.unwrap_or(0) == 0
    {
        r.src_port = Some(0);
        r.dst_port = Some(tc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windowed_reads_match_plain_reads_at_every_offset() {
        for record_len in 1..=20usize {
            let rec: Vec<u8> = (0..record_len as u8)
                .map(|b| b.wrapping_mul(37).wrapping_add(11))
                .collect();
            for off in 0..record_len {
                for len in 1..=(record_len - off).min(8) {
                    let s = Slot::new(off as u16, len as u16, record_len);
                    assert_eq!(
                        int(&rec, s),
                        Some(uint(&rec[off..off + len])),
                        "{record_len} {off} {len}"
                    );
                }
            }
        }
        assert_eq!(int(&[1, 2], Slot::default()), None);
    }
}
