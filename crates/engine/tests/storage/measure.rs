//! Measurement (ignored by default): bytes per stored flow and seal speed on ~1M synthetic flows
//! of one exporter in one window, for every sort key. Run in release:
//! `cargo test -p flowfold-engine --release --test storage -- --ignored --nocapture measure`
//! (`FLOWFOLD_MEASURE_FLOWS` overrides the flow count, `FLOWFOLD_MEASURE_ZSTD` the level).

use std::time::Instant;

use arrow::array::RecordBatch;
use engine::addr::{from_ip, from_v4_u32};
use engine::{FlowBatchBuilder, FlowRecord, FlowStore, SortKey, StoreConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Zipf};

use crate::common::{T0, W, exporter};

/// Skewed traffic: few hosts (Zipf), Zipf ports, ~90% IPv4, TCP/UDP/ICMP mix, heavy-tailed
/// bytes and packets, start times in export order (by end, so not sorted by start).
fn synthetic(n: usize, seed: u64) -> Vec<RecordBatch> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let hosts = Zipf::new(2000.0, 1.1).unwrap();
    let ports = Zipf::new(2000.0, 1.2).unwrap();
    let bytes_per_packet = LogNormal::new(5.5, 1.0).unwrap();
    let packets = Zipf::new(100_000.0, 1.6).unwrap();
    let duration = LogNormal::new(7.0, 2.0).unwrap();
    let common_ports = [443u16, 80, 53, 123, 22, 25, 993, 8080, 3389, 5060];
    let host = |rng: &mut SmallRng, k: u32| -> [u8; 16] {
        if k % 10 == 9 {
            from_ip(std::net::IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 0, k as u16, 0, 0, 0, 1,
            )))
        } else if rng.random_bool(0.5) {
            from_v4_u32(0x0a00_0000 | k)
        } else {
            from_v4_u32(0xc000_0000 | (k << 4))
        }
    };
    let mut batches = Vec::new();
    let mut b = FlowBatchBuilder::with_capacity(8192);
    for i in 0..n {
        let end = T0 + (i as i64 * (W - 1)) / n as i64;
        let dur = (duration.sample(&mut rng) as i64).min(120_000);
        let start = (end - dur).max(T0);
        let src_k = hosts.sample(&mut rng) as u32;
        let dst_k = hosts.sample(&mut rng) as u32 + 5000;
        let proto = match rng.random_range(0..100) {
            0..80 => 6u8,
            80..98 => 17,
            _ => 1,
        };
        let (sport, dport) = if proto == 1 {
            (0, 0)
        } else {
            let p = ports.sample(&mut rng) as usize;
            let service = if p <= common_ports.len() {
                common_ports[p - 1]
            } else {
                1024 + p as u16
            };
            (rng.random_range(32768..61000), service)
        };
        let pk = packets.sample(&mut rng) as u64;
        let by = pk * (bytes_per_packet.sample(&mut rng) as u64).clamp(40, 1500);
        b.append(&FlowRecord {
            flow_start: start,
            flow_end: Some(end),
            exporter: exporter(1),
            observation_domain: 0,
            src_addr: Some(host(&mut rng, src_k)),
            dst_addr: Some(host(&mut rng, dst_k)),
            next_hop: Some(from_v4_u32(0x0a00_ff01 + (dst_k % 4))),
            src_port: Some(sport),
            dst_port: Some(dport),
            protocol: Some(proto),
            tcp_flags: (proto == 6).then(|| [0x1b, 0x18, 0x02, 0x12, 0x1f][rng.random_range(0..5)]),
            tos: Some(if rng.random_bool(0.9) { 0 } else { 0x28 }),
            packets: Some(pk),
            bytes: Some(by),
            sampling_interval: Some(1),
            input_if: Some(1 + src_k % 8),
            output_if: Some(1 + dst_k % 8),
            src_as: Some(if src_k < 50 { 64_512 } else { 15_169 + src_k % 20 }),
            dst_as: Some(if dst_k < 5050 { 64_512 } else { 13_335 + dst_k % 20 }),
            src_mask: Some(24),
            dst_mask: Some(24),
            vlan: None,
            direction: Some(0),
        });
        if b.len() == 8192 {
            batches.push(b.finish());
        }
    }
    if !b.is_empty() {
        batches.push(b.finish());
    }
    batches
}

#[test]
#[ignore = "measurement: run in release with --ignored --nocapture"]
fn measure_bytes_per_flow_and_seal_speed() {
    let n: usize = std::env::var("FLOWFOLD_MEASURE_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let zstd: i32 = std::env::var("FLOWFOLD_MEASURE_ZSTD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let batches = synthetic(n, 42);
    for sort in [
        SortKey::FlowStart,
        SortKey::ExporterSrcDstStart,
        SortKey::ProtocolDstPortStart,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            sort,
            zstd_level: zstd,
            ..StoreConfig::new(dir.path())
        };
        let (mut store, _) = FlowStore::open(cfg).unwrap();
        let t = Instant::now();
        for b in &batches {
            store.append(b).unwrap();
        }
        let append_s = t.elapsed().as_secs_f64();
        let wal_bytes: u64 = engine::layout::list_files(dir.path())
            .unwrap()
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .sum();
        let t = Instant::now();
        let closed = store.close().unwrap();
        let seal_s = t.elapsed().as_secs_f64();
        assert_eq!(closed.stats.rows_sealed, n as u64);
        let bytes = closed.stats.parquet_bytes;
        println!(
            "sort={sort:?} zstd={zstd} flows={n} parquet={bytes} B bytes/flow={:.2} wal bytes/flow={:.1} \
             append={:.2} Mflows/s seal={:.2} s ({:.2} Mflows/s)",
            bytes as f64 / n as f64,
            wal_bytes as f64 / n as f64,
            n as f64 / append_s / 1e6,
            seal_s,
            n as f64 / seal_s / 1e6
        );
    }
}
