//! The fields the v9 and IPFIX encoders send, and how a flow's value is written for each.

use engine::FlowRecord;

/// A flow column as carried by a template field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Src,
    Dst,
    NextHop,
    SrcPort,
    DstPort,
    Protocol,
    Tos,
    TcpFlags,
    Packets,
    Bytes,
    InputIf,
    OutputIf,
    SrcAs,
    DstAs,
    SrcMask,
    DstMask,
    Vlan,
    Direction,
    /// v9 FIRST_SWITCHED / IPFIX flowStartMilliseconds.
    Start,
    /// v9 LAST_SWITCHED / IPFIX flowEndMilliseconds.
    End,
}

/// One template field: element id, length, column.
pub(crate) type Field = (u16, u16, Col);

/// Fields shared by every data template, after the addresses.
const COMMON: [Field; 15] = [
    (7, 2, Col::SrcPort),
    (11, 2, Col::DstPort),
    (4, 1, Col::Protocol),
    (5, 1, Col::Tos),
    (2, 8, Col::Packets),
    (1, 8, Col::Bytes),
    (10, 4, Col::InputIf),
    (14, 4, Col::OutputIf),
    (16, 4, Col::SrcAs),
    (17, 4, Col::DstAs),
    (58, 2, Col::Vlan),
    (61, 1, Col::Direction),
    (0, 0, Col::TcpFlags), // placeholder, replaced per format
    (0, 0, Col::Start),
    (0, 0, Col::End),
];

/// The data template fields for a format (`ipfix`) and address family (`v6`).
pub(crate) fn data_fields(ipfix: bool, v6: bool) -> Vec<Field> {
    let mut f: Vec<Field> = if v6 {
        vec![
            (27, 16, Col::Src),
            (28, 16, Col::Dst),
            (62, 16, Col::NextHop),
            (29, 1, Col::SrcMask),
            (30, 1, Col::DstMask),
        ]
    } else {
        vec![
            (8, 4, Col::Src),
            (12, 4, Col::Dst),
            (15, 4, Col::NextHop),
            (9, 1, Col::SrcMask),
            (13, 1, Col::DstMask),
        ]
    };
    for field in COMMON {
        f.push(match (field.2, ipfix) {
            (Col::TcpFlags, false) => (6, 1, Col::TcpFlags),
            (Col::TcpFlags, true) => (6, 2, Col::TcpFlags),
            (Col::Start, false) => (22, 4, Col::Start),
            (Col::Start, true) => (152, 8, Col::Start),
            (Col::End, false) => (21, 4, Col::End),
            (Col::End, true) => (153, 8, Col::End),
            _ => field,
        });
    }
    f
}

/// Record length of a field list.
pub(crate) fn record_len(fields: &[Field]) -> usize {
    fields.iter().map(|f| usize::from(f.1)).sum()
}

/// How times are written: v9 as ms of sysUpTime (`boot_ms` = epoch ms of uptime 0, modulo
/// 2^32), IPFIX as epoch ms.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    Uptime { boot_ms: i64 },
    Epoch,
}

fn put_uint(buf: &mut Vec<u8>, v: u64, len: u16) {
    let bytes = v.to_be_bytes();
    buf.extend_from_slice(&bytes[8 - usize::from(len).min(8)..]);
}

fn put_addr(buf: &mut Vec<u8>, a: Option<[u8; 16]>, len: u16) {
    let a = a.unwrap_or([0; 16]);
    if len == 4 {
        buf.extend_from_slice(&a[12..])
    } else {
        buf.extend_from_slice(&a)
    }
}

/// Appends one record of `fields` for `r`. Absent values are written as zeros.
pub(crate) fn put_record(buf: &mut Vec<u8>, fields: &[Field], r: &FlowRecord, clock: Clock) {
    let end = r.flow_end.unwrap_or(r.flow_start);
    let time = |t: i64| -> u64 {
        match clock {
            Clock::Uptime { boot_ms } => u64::from(t.wrapping_sub(boot_ms) as u32),
            Clock::Epoch => t.max(0) as u64,
        }
    };
    for &(_, len, col) in fields {
        let v: u64 = match col {
            Col::Src => {
                put_addr(buf, r.src_addr, len);
                continue;
            }
            Col::Dst => {
                put_addr(buf, r.dst_addr, len);
                continue;
            }
            Col::NextHop => {
                put_addr(buf, r.next_hop, len);
                continue;
            }
            Col::SrcPort => u64::from(r.src_port.unwrap_or(0)),
            Col::DstPort => u64::from(r.dst_port.unwrap_or(0)),
            Col::Protocol => u64::from(r.protocol.unwrap_or(0)),
            Col::Tos => u64::from(r.tos.unwrap_or(0)),
            Col::TcpFlags => u64::from(r.tcp_flags.unwrap_or(0)),
            Col::Packets => r.packets.unwrap_or(0),
            Col::Bytes => r.bytes.unwrap_or(0),
            Col::InputIf => u64::from(r.input_if.unwrap_or(0)),
            Col::OutputIf => u64::from(r.output_if.unwrap_or(0)),
            Col::SrcAs => u64::from(r.src_as.unwrap_or(0)),
            Col::DstAs => u64::from(r.dst_as.unwrap_or(0)),
            Col::SrcMask => u64::from(r.src_mask.unwrap_or(0)),
            Col::DstMask => u64::from(r.dst_mask.unwrap_or(0)),
            Col::Vlan => u64::from(r.vlan.unwrap_or(0)),
            Col::Direction => u64::from(r.direction.unwrap_or(0)),
            Col::Start => time(r.flow_start),
            Col::End => time(end),
        };
        put_uint(buf, v, len);
    }
}
