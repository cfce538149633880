//! Decoding throughput (flows/s per core) for NetFlow v5, v9 and IPFIX.
//!
//! Seeded flows are encoded once with the datasets encoder (templates refreshed every 20
//! datagrams, 1400-byte datagrams, ~10% IPv6 for v9/IPFIX); each iteration decodes every
//! datagram into a `FlowBatchBuilder` that is finished every 8192 flows.
//!
//! Run: `cargo bench -p flowfold-ingest --bench decode`

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datasets::encode::{Encoder, EncoderConfig, Format};
use engine::addr::from_v4_u32;
use engine::{FlowBatchBuilder, FlowRecord};
use flowfold_ingest::decode::{Decoder, DecoderConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const FLOWS: usize = 100_000;
const BATCH: usize = 8192;
const EXPORT_MS: i64 = 1_700_000_000_000;

fn flows(n: usize) -> Vec<FlowRecord> {
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    (0..n)
        .map(|_| {
            let v6 = rng.random_bool(0.1);
            let mut addr = || {
                if v6 {
                    let mut a = [0u8; 16];
                    a[0] = 0x20;
                    a[1] = 0x01;
                    rng.fill(&mut a[8..]);
                    a
                } else {
                    from_v4_u32(0x0a00_0000 | rng.random_range(0..1u32 << 20))
                }
            };
            let (src, dst, hop) = (addr(), addr(), addr());
            let start = EXPORT_MS - rng.random_range(1_000..120_000);
            FlowRecord {
                flow_start: start,
                flow_end: Some(start + rng.random_range(0..60_000)),
                src_addr: Some(src),
                dst_addr: Some(dst),
                next_hop: Some(hop),
                src_port: Some(rng.random()),
                dst_port: Some([80, 443, 53, 22][rng.random_range(0..4)]),
                protocol: Some([6, 17, 1][rng.random_range(0..3)]),
                tcp_flags: Some(rng.random_range(0..64)),
                tos: Some(0),
                packets: Some(rng.random_range(1..1000)),
                bytes: Some(rng.random_range(40..1_500_000)),
                input_if: Some(rng.random_range(1..48)),
                output_if: Some(rng.random_range(1..48)),
                src_as: Some(rng.random_range(0..65_536)),
                dst_as: Some(rng.random_range(0..65_536)),
                src_mask: Some(24),
                dst_mask: Some(16),
                vlan: Some(rng.random_range(1..4096)),
                direction: Some(0),
                ..FlowRecord::default()
            }
        })
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let input = flows(FLOWS);
    let exporter: IpAddr = "192.0.2.1".parse().expect("literal address");
    let mut group = c.benchmark_group("decode");
    for (name, format) in [("v5", Format::V5), ("v9", Format::V9), ("ipfix", Format::Ipfix)] {
        let mut enc = Encoder::new(EncoderConfig {
            observation_domain: 1,
            ..EncoderConfig::new(format)
        });
        let mut datagrams = Vec::new();
        enc.encode(&input, EXPORT_MS, &mut datagrams);
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut out = FlowBatchBuilder::with_capacity(BATCH + 64);
        let decode_all = |dec: &mut Decoder, out: &mut FlowBatchBuilder| {
            let mut flows = 0u64;
            for d in &datagrams {
                flows += u64::from(dec.decode(exporter, d, EXPORT_MS, out).flows);
                if out.len() >= BATCH {
                    black_box(out.finish());
                }
            }
            black_box(out.finish());
            flows
        };
        let total = decode_all(&mut dec, &mut out);
        assert!(total as usize >= FLOWS * 8 / 10, "{name}: decoded {total}");
        group.throughput(Throughput::Elements(total));
        group.bench_function(name, |b| b.iter(|| decode_all(&mut dec, &mut out)));
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
