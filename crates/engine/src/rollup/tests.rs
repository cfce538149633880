use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, UInt8Type, UInt16Type, UInt64Type};

use super::*;
use crate::addr::from_v4_u32;
use crate::batch::{FlowBatchBuilder, FlowRecord};

fn flow(src: u32, proto: Option<u8>, port: Option<u16>, packets: Option<u64>, bytes: Option<u64>) -> FlowRecord {
    FlowRecord {
        flow_start: 1_000,
        exporter: from_v4_u32(0x7f00_0001),
        src_addr: Some(from_v4_u32(src)),
        protocol: proto,
        dst_port: port,
        packets,
        bytes,
        ..FlowRecord::default()
    }
}

fn window(flows: &[FlowRecord]) -> RecordBatch {
    let mut builder = FlowBatchBuilder::with_capacity(4);
    for f in flows {
        builder.append(f);
    }
    builder.finish()
}

#[test]
fn sums_skip_nulls_and_keys_are_sorted_with_null_first() {
    let w = window(&[
        flow(2, Some(6), Some(443), Some(3), Some(300)),
        flow(1, Some(17), None, None, Some(10)),
        flow(2, Some(6), Some(443), Some(4), None),
        FlowRecord {
            src_addr: None,
            ..flow(9, None, Some(53), None, None)
        },
    ]);
    let src = build_rollup(&w, RollupKind::Src).unwrap().unwrap();
    assert_eq!(src.schema(), RollupKind::Src.schema());
    assert_eq!(src.num_rows(), 3);
    let addrs = src.column(1).as_fixed_size_binary();
    assert!(addrs.is_null(0));
    assert_eq!(addrs.value(1), from_v4_u32(1));
    assert_eq!(addrs.value(2), from_v4_u32(2));
    let flows = src.column(2).as_primitive::<Int64Type>();
    assert_eq!(flows.values(), &[1, 1, 2]);
    let packets = src.column(3).as_primitive::<UInt64Type>();
    assert!(packets.is_null(0) && packets.is_null(1));
    assert_eq!(packets.value(2), 7);
    let bytes = src.column(4).as_primitive::<UInt64Type>();
    assert!(bytes.is_null(0));
    assert_eq!((bytes.value(1), bytes.value(2)), (10, 300));

    let port = build_rollup(&w, RollupKind::Port).unwrap().unwrap();
    assert_eq!(port.num_rows(), 3);
    let protocols = port.column(1).as_primitive::<UInt8Type>();
    let ports = port.column(2).as_primitive::<UInt16Type>();
    assert!(protocols.is_null(0));
    assert_eq!(ports.value(0), 53);
    assert_eq!((protocols.value(1), ports.value(1)), (6, 443));
    assert_eq!(protocols.value(2), 17);
    assert!(ports.is_null(2));
}

#[test]
fn sums_wrap_like_sql_sum_over_u64() {
    let w = window(&[
        flow(1, Some(6), Some(1), Some(u64::MAX), Some(u64::MAX)),
        flow(1, Some(6), Some(1), Some(2), Some(3)),
    ]);
    let dst = build_rollup(&w, RollupKind::Dst).unwrap().unwrap();
    assert_eq!(dst.column(3).as_primitive::<UInt64Type>().value(0), 1);
    assert_eq!(dst.column(4).as_primitive::<UInt64Type>().value(0), 2);
}

#[test]
fn no_rollup_for_an_empty_window_or_two_exporters() {
    assert!(build_rollup(&window(&[]), RollupKind::Src).unwrap().is_none());
    let mut other = flow(1, None, None, None, None);
    other.exporter = from_v4_u32(0x7f00_0002);
    let w = window(&[flow(1, None, None, None, None), other]);
    assert!(build_rollup(&w, RollupKind::Src).unwrap().is_none());
}

#[test]
fn names_carry_kind_and_span_and_round_trip() {
    let stem = Path::new("/d/flows/exporter=10.0.0.1/date=2026-01-01/hour=00/20260101T0005Z-1");
    let file = RollupFile::new(stem, RollupKind::Port, -5, 1_767_225_900_000);
    assert_eq!(
        file.path,
        Path::new("/d/flows/exporter=10.0.0.1/date=2026-01-01/hour=00/20260101T0005Z-1.port.-5.1767225900000.rollup")
    );
    assert_eq!(RollupFile::parse(&file.path), Some(file.clone()));
    assert_eq!(crate::layout::stem_path(&file.path).as_deref(), Some(stem));
    assert_eq!(RollupFile::parse(Path::new("/d/x.parquet")), None);
    assert_eq!(RollupFile::parse(Path::new("/d/x.nope.1.2.rollup")), None);
    assert_eq!(RollupFile::parse(Path::new("/d/x.src.a.2.rollup")), None);
}
