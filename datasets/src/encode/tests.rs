//! Packet-level checks of the encoders (decoding round trips live in the ingest crate's tests).

use engine::FlowRecord;
use engine::addr::{from_ip, from_v4_u32};

use super::*;

fn flow(i: u32, v6: bool) -> FlowRecord {
    let a = if v6 {
        from_ip(format!("2001:db8::{i:x}").parse().unwrap())
    } else {
        from_v4_u32(0x0a00_0000 + i)
    };
    FlowRecord {
        flow_start: 1_700_000_000_000 + i64::from(i),
        src_addr: Some(a),
        dst_addr: Some(a),
        packets: Some(1),
        ..FlowRecord::default()
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[test]
fn v5_skips_ipv6_and_fills_30_records_per_datagram() {
    let flows: Vec<_> = (0..70).map(|i| flow(i, i % 10 == 0)).collect();
    let cfg = EncoderConfig {
        observation_domain: 0x0203,
        max_datagram: 1464,
        ..EncoderConfig::new(Format::V5)
    };
    let mut enc = Encoder::new(cfg);
    let mut out = Vec::new();
    enc.encode(&flows, 1_700_000_001_500, &mut out);
    let counts: Vec<u16> = out.iter().map(|d| u16_at(d, 2)).collect();
    assert_eq!(counts, vec![30, 30, 3]);
    assert!(out.iter().all(|d| d.len() == 24 + 48 * usize::from(u16_at(d, 2))));
    let seqs: Vec<u32> = out.iter().map(|d| u32_at(d, 16)).collect();
    assert_eq!(seqs, vec![0, 30, 60]);
    assert_eq!((out[0][20], out[0][21]), (2, 3));
    assert_eq!(u32_at(&out[0], 12), 500_000_000, "unix_nsecs");
    assert!(!enc.carries(&flows[0]) && enc.carries(&flows[1]));
}

#[test]
fn templates_lead_and_are_refreshed() {
    for format in [Format::V9, Format::Ipfix] {
        let cfg = EncoderConfig {
            template_refresh_packets: 3,
            max_datagram: 200,
            ..EncoderConfig::new(format)
        };
        let mut enc = Encoder::new(cfg);
        let mut out = Vec::new();
        let flows: Vec<_> = (0..40).map(|i| flow(i, i % 3 == 0)).collect();
        enc.encode(&flows, 1_700_000_010_000, &mut out);
        assert!(out.len() > 6);
        let (header, tpl_set) = if format == Format::Ipfix { (16, 2) } else { (20, 0) };
        for (i, d) in out.iter().enumerate() {
            let first_set = u16_at(d, header);
            assert_eq!(first_set == tpl_set, i % 3 == 0, "{format:?} datagram {i}");
        }
        if format == Format::V9 {
            let seqs: Vec<u32> = out.iter().map(|d| u32_at(d, 12)).collect();
            assert_eq!(seqs, (0..out.len() as u32).collect::<Vec<_>>());
        } else {
            assert!(out.iter().all(|d| usize::from(u16_at(d, 2)) == d.len()));
            assert_eq!(u32_at(&out[0], 8), 0);
            assert!(u32_at(&out[1], 8) > 0);
        }
    }
}
