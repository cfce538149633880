//! Flows for tests over a real data directory: two exporters, sealed as Parquet by the store.

use tempfile::TempDir;

use crate::addr::from_v4_u32;
use crate::clock::now_ms;
use crate::{FlowBatchBuilder, FlowRecord, FlowStore, SortKey, StoreConfig};

/// Flows of exporter 10.0.0.1: 40 flows, `i` = 0..40, from 10.1.0.(i % 4) to 192.0.2.(i % 5),
/// destination port 443, 80, 53, 22 by `i % 4` (TCP, TCP, UDP, TCP), `i + 1` packets.
/// Exporter 10.0.0.2: 20 UDP flows to port 53 from 10.2.0.1.
pub(crate) fn flows() -> Vec<FlowRecord> {
    let start = now_ms() - 3_600_000;
    let one = (0..40u32).map(|i| FlowRecord {
        flow_start: start + i64::from(i) * 1000,
        flow_end: Some(start + i64::from(i) * 1000 + 500),
        exporter: from_v4_u32(0x0a00_0001),
        src_addr: Some(from_v4_u32(0x0a01_0000 | (i % 4))),
        dst_addr: Some(from_v4_u32(0xc000_0200 | (i % 5))),
        src_port: Some(40_000 + i as u16),
        dst_port: Some([443, 80, 53, 22][i as usize % 4]),
        protocol: Some([6, 6, 17, 6][i as usize % 4]),
        packets: Some(u64::from(i) + 1),
        bytes: Some(100 * (u64::from(i) + 1)),
        ..FlowRecord::default()
    });
    let two = (0..20u32).map(|i| FlowRecord {
        flow_start: start + i64::from(i) * 1000,
        flow_end: Some(start + i64::from(i) * 1000 + 10),
        exporter: from_v4_u32(0x0a00_0002),
        src_addr: Some(from_v4_u32(0x0a02_0001)),
        dst_addr: Some(from_v4_u32(0xc000_0201)),
        src_port: Some(50_000 + i as u16),
        dst_port: Some(53),
        protocol: Some(17),
        packets: Some(1),
        bytes: Some(80),
        ..FlowRecord::default()
    });
    one.chain(two).collect()
}

/// A data directory holding `records` as sealed Parquet.
pub(crate) fn write_flows(records: &[FlowRecord]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        sort: SortKey::FlowStart,
        fsync_interval: std::time::Duration::ZERO,
        ..StoreConfig::new(dir.path())
    };
    let (mut store, _) = FlowStore::open(config).unwrap();
    let mut builder = FlowBatchBuilder::with_capacity(records.len());
    records.iter().for_each(|r| builder.append(r));
    store.append(&builder.finish()).unwrap();
    store.close().unwrap();
    dir
}
