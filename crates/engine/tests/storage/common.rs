//! Shared helpers: flow batches with known values, file listings, Parquet readers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{TimestampMillisecondType, UInt64Type};
use engine::addr::from_v4_u32;
use engine::layout::{FileKind, list_files};
use engine::{FlowBatchBuilder, FlowRecord, StoreConfig};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// 2026-11-22 11:05:00 UTC: the start of a 5-minute window.
pub const T0: i64 = 1_795_345_500_000;
/// Five minutes in ms.
pub const W: i64 = 300_000;

/// The stored address of exporter 10.0.0.`n`.
pub fn exporter(n: u8) -> [u8; 16] {
    from_v4_u32(0x0a00_0000 | u32::from(n))
}

/// `n` flows of exporter 10.0.0.`e`, starting at `start` and `step` ms apart (in reverse order,
/// so sorting is visible), with `bytes` = 1, 2, 3... so sums are known.
pub fn flows(e: u8, start: i64, step: i64, n: usize) -> RecordBatch {
    let mut b = FlowBatchBuilder::with_capacity(n);
    for i in (0..n).rev() {
        b.append(&FlowRecord {
            flow_start: start + i as i64 * step,
            flow_end: Some(start + i as i64 * step + 10),
            exporter: exporter(e),
            src_addr: Some(from_v4_u32(0xc000_0200 | (i as u32 % 7))),
            dst_addr: Some(from_v4_u32(0xc633_6400 | (i as u32 % 5))),
            src_port: Some(1024 + (i % 100) as u16),
            dst_port: Some(443),
            protocol: Some(6),
            packets: Some(1),
            bytes: Some(i as u64 + 1),
            ..Default::default()
        });
    }
    b.finish()
}

/// A store configuration for tests: 5-minute windows, flow_start order.
pub fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        sort: engine::SortKey::FlowStart,
        fsync_interval: Duration::from_millis(0),
        ..StoreConfig::new(dir)
    }
}

/// Files of `kind` under the flow table, relative to the data dir.
pub fn files(dir: &Path, kind: FileKind) -> Vec<PathBuf> {
    list_files(dir)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, p)| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

/// Every batch of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// `flow_start` values of batches, in order.
pub fn starts(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("flow_start")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Sum of `bytes` over batches.
pub fn sum_bytes(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .map(|b| {
            b.column_by_name("bytes")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .values()
                .iter()
                .sum::<u64>()
        })
        .sum()
}

/// Rows over batches.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}
