//! Compiling a template's field list into a short list of [`Op`]s: which bytes of a record go to
//! which flow column and how. Fallback fields (totals for deltas, BGP next hop for next hop,
//! protocol-specific ports, the several time encodings) are resolved here, once per template, so
//! the per-record loop only copies integers.

use serde::{Deserialize, Serialize};

/// Field length announcing an IPFIX variable-length field.
pub(crate) const VARLEN: u16 = 65535;

/// One field of a template as it was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Information element id (v9 field type) without the enterprise bit; 0 for v9 scope fields.
    pub ie: u16,
    /// Field length in bytes, 65535 for variable length.
    pub len: u16,
    /// Private enterprise number, 0 for IANA elements.
    pub pen: u32,
}

/// Where a field's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Bytes,
    Packets,
    Protocol,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    NextHopV4,
    NextHopV6,
    SrcMask,
    DstMask,
    InputIf,
    OutputIf,
    SrcAs,
    DstAs,
    Vlan,
    Direction,
    IcmpTypeCode,
    /// Raw start time, in the template's `start_unit`.
    Start,
    /// Raw end time, in the template's `end_unit`.
    End,
    SamplerId,
    SamplingInterval,
    SamplingSpace,
    SystemInit,
}

/// How a template encodes a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TimeUnit {
    /// The template has no such time.
    #[default]
    None,
    /// Milliseconds of the exporter's sysUpTime (v9 FIRST/LAST_SWITCHED, IPFIX 22/21).
    Uptime,
    /// Seconds since the epoch.
    Secs,
    /// Milliseconds since the epoch.
    Millis,
    /// Microseconds since the epoch (NTP format on the wire is handled by `Ntp`).
    Micros,
    /// NTP timestamp (32-bit seconds since 1900, 32-bit fraction).
    Ntp,
    /// Microseconds before the export time.
    DeltaMicros,
}

/// Copy `len` bytes at `offset` (field number `field`) into `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    pub field: u16,
    pub offset: u16,
    pub len: u16,
    pub target: Target,
}

/// Where one column's bytes sit in a fixed-length record (`len == 0`: absent).
///
/// Integers of 1..=8 bytes are read without branching on their width: one big-endian 8-byte
/// load of the window starting at `win`, shifted right by `shift` and masked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    pub off: u16,
    pub len: u16,
    /// Start of the 8-byte window, `u16::MAX` when the record is too short for one.
    pub win: u16,
    pub shift: u8,
    pub mask: u64,
}

impl Slot {
    pub(crate) fn new(off: u16, len: u16, record_len: usize) -> Self {
        let mut s = Slot {
            off,
            len,
            win: u16::MAX,
            shift: 0,
            mask: u64::MAX,
        };
        if !(1..=8).contains(&len) || record_len < 8 {
            return s;
        }
        if len < 8 {
            s.mask = (1u64 << (8 * len)) - 1;
        }
        // The window ends at or after the field and starts at or before it: record_len >= 8 and
        // off + len <= record_len.
        let end = usize::from(off) + usize::from(len);
        let win = usize::from(off).min(record_len - 8);
        if win + 8 < end {
            return s;
        }
        s.win = win as u16;
        s.shift = (8 * (win + 8 - end)) as u8;
        s
    }
}

/// The ops of a fixed-length template laid out by destination: decoding a record reads every
/// slot in a fixed order, with branches that are the same for every record of the template
/// (well predicted) instead of one indirect jump per field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub bytes: Slot,
    pub packets: Slot,
    pub protocol: Slot,
    pub tos: Slot,
    pub tcp_flags: Slot,
    pub src_port: Slot,
    pub dst_port: Slot,
    /// 4 bytes: IPv4, 16: IPv6.
    pub src: Slot,
    pub dst: Slot,
    pub next_hop: Slot,
    pub src_mask: Slot,
    pub dst_mask: Slot,
    pub input_if: Slot,
    pub output_if: Slot,
    pub src_as: Slot,
    pub dst_as: Slot,
    pub vlan: Slot,
    pub direction: Slot,
    pub icmp: Slot,
    pub start: Slot,
    pub end: Slot,
    /// Any of the sampling and system-init fields is present (rare in data records).
    pub extras: bool,
}

impl Layout {
    fn from_ops(ops: &[Op], record_len: usize) -> Self {
        use Target::*;
        let mut l = Layout::default();
        for op in ops {
            let slot = Slot::new(op.offset, op.len, record_len);
            let cell = match op.target {
                Bytes => &mut l.bytes,
                Packets => &mut l.packets,
                Protocol => &mut l.protocol,
                Tos => &mut l.tos,
                TcpFlags => &mut l.tcp_flags,
                SrcPort => &mut l.src_port,
                DstPort => &mut l.dst_port,
                SrcV4 | SrcV6 => &mut l.src,
                DstV4 | DstV6 => &mut l.dst,
                NextHopV4 | NextHopV6 => &mut l.next_hop,
                SrcMask => &mut l.src_mask,
                DstMask => &mut l.dst_mask,
                InputIf => &mut l.input_if,
                OutputIf => &mut l.output_if,
                SrcAs => &mut l.src_as,
                DstAs => &mut l.dst_as,
                Vlan => &mut l.vlan,
                Direction => &mut l.direction,
                IcmpTypeCode => &mut l.icmp,
                Start => &mut l.start,
                End => &mut l.end,
                SamplerId | SamplingInterval | SamplingSpace | SystemInit => {
                    l.extras = true;
                    continue;
                }
            };
            *cell = slot;
        }
        l
    }
}

/// A template compiled for decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compiled {
    pub ops: Vec<Op>,
    /// The same ops by destination, for the fixed-length path.
    pub layout: Layout,
    /// Length of a record (minimum length when `varlen`: one byte per variable field).
    pub record_len: usize,
    /// The template has variable-length fields: records take the slower per-field path.
    pub varlen: bool,
    pub start_unit: TimeUnit,
    pub end_unit: TimeUnit,
}

/// Slot (one per destination), priority (lower wins), target, and time unit of a known element.
fn classify(ie: u16) -> Option<(u8, u8, Target, TimeUnit)> {
    use Target::*;
    use TimeUnit as U;
    let n = U::None;
    Some(match ie {
        1 => (0, 0, Bytes, n),
        85 => (0, 1, Bytes, n),
        23 => (0, 2, Bytes, n),
        2 => (1, 0, Packets, n),
        86 => (1, 1, Packets, n),
        24 => (1, 2, Packets, n),
        4 => (2, 0, Protocol, n),
        5 => (3, 0, Tos, n),
        6 => (4, 0, TcpFlags, n),
        7 => (5, 0, SrcPort, n),
        180 | 182 => (5, 1, SrcPort, n),
        11 => (6, 0, DstPort, n),
        181 | 183 => (6, 1, DstPort, n),
        8 => (7, 0, SrcV4, n),
        27 => (7, 1, SrcV6, n),
        12 => (8, 0, DstV4, n),
        28 => (8, 1, DstV6, n),
        15 => (9, 0, NextHopV4, n),
        62 => (9, 1, NextHopV6, n),
        18 => (9, 2, NextHopV4, n),
        63 => (9, 3, NextHopV6, n),
        9 => (10, 0, SrcMask, n),
        29 => (10, 1, SrcMask, n),
        13 => (11, 0, DstMask, n),
        30 => (11, 1, DstMask, n),
        10 => (12, 0, InputIf, n),
        14 => (13, 0, OutputIf, n),
        16 => (14, 0, SrcAs, n),
        17 => (15, 0, DstAs, n),
        58 => (16, 0, Vlan, n),
        243 => (16, 1, Vlan, n),
        61 => (17, 0, Direction, n),
        32 => (18, 0, IcmpTypeCode, n),
        139 => (18, 1, IcmpTypeCode, n),
        152 => (19, 0, Start, U::Millis),
        150 => (19, 1, Start, U::Secs),
        154 => (19, 2, Start, U::Micros),
        156 => (19, 3, Start, U::Ntp),
        22 => (19, 4, Start, U::Uptime),
        158 => (19, 5, Start, U::DeltaMicros),
        153 => (20, 0, End, U::Millis),
        151 => (20, 1, End, U::Secs),
        155 => (20, 2, End, U::Micros),
        157 => (20, 3, End, U::Ntp),
        21 => (20, 4, End, U::Uptime),
        159 => (20, 5, End, U::DeltaMicros),
        302 => (21, 0, SamplerId, n),
        48 => (21, 1, SamplerId, n),
        34 => (22, 0, SamplingInterval, n),
        50 => (22, 1, SamplingInterval, n),
        305 => (22, 2, SamplingInterval, n),
        306 => (23, 0, SamplingSpace, n),
        160 => (24, 0, SystemInit, n),
        _ => return None,
    })
}

const SLOTS: usize = 25;

/// `true` if a field of this target and length can be decoded.
fn usable(target: Target, unit: TimeUnit, len: u16) -> bool {
    use Target::*;
    match target {
        SrcV4 | DstV4 | NextHopV4 => len == 4,
        SrcV6 | DstV6 | NextHopV6 => len == 16,
        _ if unit == TimeUnit::Ntp => len == 8,
        _ => (1..=8).contains(&len),
    }
}

/// Why a field list cannot be compiled.
pub(crate) type CompileError = &'static str;

/// Compiles a field list. Unknown, enterprise and variable-length fields are skipped.
pub(crate) fn compile(fields: &[FieldSpec]) -> Result<Compiled, CompileError> {
    if fields.is_empty() {
        return Err("no fields");
    }
    if fields.len() > usize::from(u16::MAX) {
        return Err("too many fields");
    }
    let mut best: [Option<(u8, usize)>; SLOTS] = [None; SLOTS];
    let mut offsets = Vec::with_capacity(fields.len());
    let mut record_len = 0usize;
    let mut varlen = false;
    for (i, f) in fields.iter().enumerate() {
        offsets.push(record_len);
        if f.len == VARLEN {
            varlen = true;
            record_len += 1;
            continue;
        }
        record_len += usize::from(f.len);
        if f.pen != 0 {
            continue;
        }
        if let Some((slot, prio, target, unit)) = classify(f.ie)
            && usable(target, unit, f.len)
        {
            let cell = &mut best[usize::from(slot)];
            if cell.is_none_or(|(p, _)| prio < p) {
                *cell = Some((prio, i));
            }
        }
    }
    if record_len == 0 {
        return Err("records have zero length");
    }
    if record_len > 65_535 - 4 {
        return Err("record longer than a set");
    }
    let mut c = Compiled {
        record_len,
        varlen,
        ..Compiled::default()
    };
    for (i, f) in fields.iter().enumerate() {
        let Some((slot, _, target, unit)) = (if f.pen == 0 && f.len != VARLEN {
            classify(f.ie)
        } else {
            None
        }) else {
            continue;
        };
        if best[usize::from(slot)].map(|(_, idx)| idx) != Some(i) {
            continue;
        }
        match target {
            Target::Start => c.start_unit = unit,
            Target::End => c.end_unit = unit,
            _ => {}
        }
        // Offsets fit in u16: the record length was checked above; field counts too.
        c.ops.push(Op {
            field: i as u16,
            offset: offsets[i] as u16,
            len: f.len,
            target,
        });
    }
    c.layout = Layout::from_ops(&c.ops, c.record_len);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(ie: u16, len: u16) -> FieldSpec {
        FieldSpec { ie, len, pen: 0 }
    }

    #[test]
    fn deltas_win_over_totals_and_offsets_accumulate() {
        let c = compile(&[f(85, 8), f(1, 4), f(8, 4), f(2, 2)]).unwrap();
        assert_eq!(c.record_len, 18);
        assert!(!c.varlen);
        let targets: Vec<_> = c.ops.iter().map(|o| (o.target, o.offset, o.len)).collect();
        assert_eq!(
            targets,
            vec![(Target::Bytes, 8, 4), (Target::SrcV4, 12, 4), (Target::Packets, 16, 2)]
        );
    }

    #[test]
    fn totals_used_when_deltas_absent_and_bad_widths_skipped() {
        let c = compile(&[f(86, 8), f(8, 3), f(27, 16), f(22, 4), f(153, 8)]).unwrap();
        let targets: Vec<_> = c.ops.iter().map(|o| o.target).collect();
        assert_eq!(
            targets,
            vec![Target::Packets, Target::SrcV6, Target::Start, Target::End]
        );
        assert_eq!(c.start_unit, TimeUnit::Uptime);
        assert_eq!(c.end_unit, TimeUnit::Millis);
    }

    #[test]
    fn varlen_and_enterprise_fields_are_skipped() {
        let fields = [f(8, 4), FieldSpec { ie: 1, len: 8, pen: 9 }, f(96, VARLEN), f(12, 4)];
        let c = compile(&fields).unwrap();
        assert!(c.varlen);
        assert_eq!(c.record_len, 4 + 8 + 1 + 4);
        assert_eq!(c.ops.len(), 2);
        assert_eq!(c.ops[1].field, 3);
    }

    #[test]
    fn empty_templates_are_rejected() {
        assert!(compile(&[]).is_err());
        assert!(compile(&[f(8, 0)]).is_err());
    }
}
