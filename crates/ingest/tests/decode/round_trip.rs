//! Encoder -> decoder round trips over v5, v9 and IPFIX, IPv4 and IPv6, with and without sampling.

use datasets::encode::{Encoder, EncoderConfig, Format};
use engine::FlowRecord;
use engine::addr::{from_ip, from_v4_u32};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::util::{decode_all, decoder};

const BASE_MS: i64 = 1_700_000_000_123;

/// Seeded flows, about 20% IPv6, some fields absent.
pub fn flows(n: usize, seed: u64) -> Vec<FlowRecord> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let v6 = rng.random_bool(0.2);
            let addr = |rng: &mut SmallRng| {
                if v6 {
                    let mut a = [0u8; 16];
                    a[0] = 0x20;
                    a[1] = 0x01;
                    rng.fill(&mut a[2..]);
                    a
                } else {
                    from_v4_u32(rng.random())
                }
            };
            let start = BASE_MS + rng.random_range(0..300_000);
            let proto = [6u8, 17, 1][rng.random_range(0..3)];
            FlowRecord {
                flow_start: start,
                flow_end: if i % 7 == 0 {
                    None
                } else {
                    Some(start + rng.random_range(0..60_000))
                },
                src_addr: Some(addr(&mut rng)),
                dst_addr: Some(addr(&mut rng)),
                next_hop: if i % 5 == 0 { None } else { Some(addr(&mut rng)) },
                src_port: Some(rng.random()),
                dst_port: Some(rng.random()),
                protocol: Some(proto),
                tcp_flags: Some(rng.random_range(0..0x200)),
                tos: Some(rng.random()),
                packets: Some(rng.random_range(1..1u64 << 36)),
                bytes: Some(rng.random_range(1..1u64 << 40)),
                input_if: Some(rng.random_range(0..100_000)),
                output_if: Some(rng.random()),
                src_as: Some(rng.random()),
                dst_as: if i % 3 == 0 { None } else { Some(rng.random()) },
                src_mask: Some(rng.random_range(0..=32)),
                dst_mask: Some(rng.random_range(0..=128)),
                vlan: if i % 4 == 0 {
                    None
                } else {
                    Some(rng.random_range(0..4096))
                },
                direction: Some(rng.random_range(0..2)),
                ..FlowRecord::default()
            }
        })
        .collect()
}

fn encode(cfg: EncoderConfig, flows: &[FlowRecord]) -> (Encoder, Vec<Vec<u8>>) {
    let mut enc = Encoder::new(cfg);
    let mut out = Vec::new();
    for (i, chunk) in flows.chunks(97).enumerate() {
        enc.encode(chunk, BASE_MS + 300_000 + i as i64 * 1_000, &mut out);
    }
    (enc, out)
}

fn check(format: Format, sampling: Option<u32>, max_datagram: usize) {
    let cfg = EncoderConfig {
        observation_domain: 0x0102,
        template_refresh_packets: 5,
        sampling_interval: sampling,
        max_datagram,
        ..EncoderConfig::new(format)
    };
    let input = flows(2_000, 42);
    let (enc, datagrams) = encode(cfg, &input);
    assert!(datagrams.len() > 10);
    assert!(
        datagrams.iter().all(|d| d.len() <= max_datagram),
        "{format:?} datagram too long"
    );
    let exporter: std::net::IpAddr = "2001:db8::7".parse().unwrap();
    let mut dec = decoder();
    let (got, reports) = decode_all(&mut dec, exporter, &datagrams);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.error, None, "{format:?} datagram {i}");
        assert_eq!(r.sequence_gap, 0, "{format:?} datagram {i}");
        assert_eq!(r.held_sets, 0);
    }
    let want: Vec<FlowRecord> = input
        .iter()
        .filter(|f| enc.carries(f))
        .map(|f| enc.expected(f, from_ip(exporter)))
        .collect();
    assert_eq!(got.len(), want.len(), "{format:?}");
    if format == Format::V5 {
        assert!(want.len() < input.len(), "v5 skips IPv6 flows");
    } else {
        assert_eq!(want.len(), input.len());
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{format:?} sampling {sampling:?} flow {i}");
    }
}

#[test]
fn v5_round_trips() {
    check(Format::V5, None, 1400);
    check(Format::V5, Some(64), 500);
}

#[test]
fn v9_round_trips() {
    check(Format::V9, None, 1400);
    check(Format::V9, Some(100), 400);
}

#[test]
fn ipfix_round_trips() {
    check(Format::Ipfix, None, 1400);
    check(Format::Ipfix, Some(1), 1400);
    check(Format::Ipfix, Some(1000), 400);
}

#[test]
fn expected_values_are_scaled_and_truncated() {
    let f = flows(1, 3)[0];
    let enc = Encoder::new(EncoderConfig {
        sampling_interval: Some(10),
        ..EncoderConfig::new(Format::V9)
    });
    let e = enc.expected(&f, [0; 16]);
    assert_eq!(e.packets, f.packets.map(|p| p * 10));
    assert_eq!(e.sampling_interval, Some(10));
    let v5 = Encoder::new(EncoderConfig {
        sampling_interval: Some(10),
        ..EncoderConfig::new(Format::V5)
    });
    let e = v5.expected(&f, [0; 16]);
    assert_eq!(e.packets, f.packets.map(|p| p & 0xffff_ffff));
    assert_eq!(e.vlan, None);
    assert_eq!(e.sampling_interval, Some(10));
}

/// Dropping one datagram shows up as a sequence gap in the unit each version counts.
#[test]
fn dropped_datagrams_are_counted_as_sequence_gaps() {
    for format in [Format::V5, Format::V9, Format::Ipfix] {
        let cfg = EncoderConfig {
            template_refresh_packets: 4,
            max_datagram: 600,
            ..EncoderConfig::new(format)
        };
        let (_, datagrams) = encode(cfg, &flows(500, 9));
        let exporter: std::net::IpAddr = "198.51.100.9".parse().unwrap();
        let (_, full) = decode_all(&mut decoder(), exporter, &datagrams);
        let k = 6; // not a template refresh datagram
        let mut kept = datagrams.clone();
        kept.remove(k);
        let (_, reports) = decode_all(&mut decoder(), exporter, &kept);
        let want = if format == Format::V9 {
            1
        } else {
            u64::from(full[k].flows)
        };
        assert!(want > 0);
        assert_eq!(reports[k].sequence_gap, want, "{format:?}");
        let total: u64 = reports.iter().map(|r| r.sequence_gap).sum();
        assert_eq!(total, want, "{format:?}: only one gap");
    }
}
