//! Appending, sealing, late flows, rollover and the open-window cap.

use std::fs::File;

use engine::layout::FileKind;
use engine::{FlowSnapshot, FlowStore, SortKey, StoreConfig};
use parquet::basic::Compression;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};

use crate::common::*;

const PARTITION: &str = "flows/exporter=10.0.0.1/date=2026-11-22/hour=11";

#[test]
fn appended_flows_are_visible_before_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!(report.wal_files, 0);
    let r = store.append(&flows(1, T0, 100, 1000)).unwrap();
    assert_eq!((r.rows, r.windows_opened, r.windows_queued), (1000, 1, 0));
    assert_eq!(
        files(dir.path(), FileKind::Wal),
        vec![std::path::PathBuf::from(format!("{PARTITION}/20261122T1105Z.arrows"))]
    );
    let snap = FlowSnapshot::take(dir.path()).unwrap();
    assert!(snap.parquet_files.is_empty());
    assert_eq!(snap.open_rows(), 1000);
    assert_eq!(sum_bytes(&snap.open_batches), 1000 * 1001 / 2);
    // Nothing is due before the window end plus grace; the fsync interval (0) has passed.
    let m = store.maintain(T0 + W + 29_000).unwrap();
    assert_eq!((m.windows_queued, m.files_synced), (0, 1));
    assert_eq!(store.stats().rows_appended, 1000);
    store.close().unwrap();
}

#[test]
fn sealing_writes_sorted_zstd_parquet_with_statistics_in_the_hive_path() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0, 100, 1500)).unwrap();
    store.append(&flows(1, T0 + 50, 100, 500)).unwrap();
    let m = store.maintain(T0 + W + 30_000).unwrap();
    assert_eq!(m.windows_queued, 1);
    assert_eq!(store.open_windows(), 0);
    let closed = store.close().unwrap();
    assert_eq!(closed.windows_closed, 0);
    assert_eq!((closed.stats.windows_sealed, closed.stats.rows_sealed), (1, 2000));
    assert_eq!(closed.stats.seal_errors, 0);

    assert!(files(dir.path(), FileKind::Wal).is_empty());
    let sealed = files(dir.path(), FileKind::Sealed);
    assert_eq!(
        sealed,
        vec![std::path::PathBuf::from(format!("{PARTITION}/20261122T1105Z.parquet"))]
    );
    let path = dir.path().join(&sealed[0]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), closed.stats.parquet_bytes);

    let batches = read_parquet(&path);
    assert_eq!(rows(&batches), 2000);
    let s = starts(&batches);
    assert!(s.windows(2).all(|w| w[0] <= w[1]), "sorted by flow_start");
    assert_eq!((s[0], s[1999]), (T0, T0 + 1499 * 100));
    assert_eq!(sum_bytes(&batches), 1500 * 1501 / 2 + 500 * 501 / 2);
    assert_eq!(batches[0].schema().fields(), engine::flow_schema().fields());

    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&File::open(&path).unwrap())
        .unwrap();
    assert_eq!(meta.file_metadata().num_rows(), 2000);
    let rg = meta.row_group(0);
    for c in rg.columns() {
        assert!(
            matches!(c.compression(), Compression::ZSTD(_)),
            "{} is zstd",
            c.column_path()
        );
        assert!(c.statistics().is_some(), "{} has statistics", c.column_path());
    }
    let start_stats = rg.column(0).statistics().unwrap();
    assert_eq!(
        start_stats
            .min_bytes_opt()
            .map(|b| i64::from_le_bytes(b.try_into().unwrap())),
        Some(T0)
    );
    assert!(
        meta.column_index().is_some() && meta.offset_index().is_some(),
        "page index written"
    );
    assert_eq!(rg.sorting_columns().map(|s| s[0].column_idx), Some(0));
}

#[test]
fn late_flows_land_in_their_window_and_get_a_part_after_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0, 1000, 10)).unwrap();
    store.maintain(T0 + W + 31_000).unwrap();
    // One batch spanning the sealed window (late) and the next one.
    let mixed = arrow::compute::concat_batches(
        &engine::flow_schema(),
        &[flows(1, T0 + 100_000, 1, 4), flows(1, T0 + W, 1, 6)],
    )
    .unwrap();
    let r = store.append(&mixed).unwrap();
    assert_eq!((r.rows, r.windows_opened), (10, 2));
    assert_eq!(store.open_windows(), 2);
    store.close().unwrap();

    let sealed = files(dir.path(), FileKind::Sealed);
    let names: Vec<String> = sealed
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![
            "20261122T1105Z-1.parquet",
            "20261122T1105Z.parquet",
            "20261122T1110Z.parquet"
        ]
    );
    let counts: Vec<usize> = sealed
        .iter()
        .map(|p| rows(&read_parquet(&dir.path().join(p))))
        .collect();
    assert_eq!(counts, vec![4, 10, 6]);
}

#[test]
fn a_full_segment_rolls_to_a_new_part() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        segment_rows: 100,
        ..config(dir.path())
    };
    let (mut store, _) = FlowStore::open(cfg).unwrap();
    let r = store.append(&flows(1, T0, 10, 250)).unwrap();
    assert_eq!((r.rows, r.windows_opened, r.windows_queued), (250, 3, 2));
    store.close().unwrap();
    let sealed = files(dir.path(), FileKind::Sealed);
    let counts: Vec<(String, usize)> = sealed
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                rows(&read_parquet(&dir.path().join(p))),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("20261122T1105Z-1.parquet".to_string(), 100),
            ("20261122T1105Z-2.parquet".to_string(), 50),
            ("20261122T1105Z.parquet".to_string(), 100),
        ]
    );
}

#[test]
fn too_many_open_windows_seal_the_oldest_and_exporters_are_channels() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        max_open_windows: 2,
        ..config(dir.path())
    };
    let (mut store, _) = FlowStore::open(cfg).unwrap();
    for k in 0..3 {
        store.append(&flows(1, T0 + k * W, 1, 5)).unwrap();
    }
    store.append(&flows(2, T0, 1, 7)).unwrap();
    assert_eq!(store.open_windows(), 3, "two of exporter 1, one of exporter 2");
    let snap = FlowSnapshot::take(dir.path()).unwrap();
    assert_eq!(snap.open_rows() + snap.parquet_files.len() * 5, 22);
    let closed = store.close().unwrap();
    assert_eq!(closed.windows_closed, 3);
    assert_eq!(closed.stats.rows_sealed, 22);
    let sealed = files(dir.path(), FileKind::Sealed);
    assert_eq!(sealed.len(), 4);
    assert!(
        sealed
            .iter()
            .any(|p| p.starts_with("flows/exporter=10.0.0.2/date=2026-11-22/hour=11"))
    );
}

#[test]
fn other_sort_keys_order_rows_by_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        sort: SortKey::ExporterSrcDstStart,
        ..config(dir.path())
    };
    let (mut store, _) = FlowStore::open(cfg).unwrap();
    store.append(&flows(1, T0, 10, 100)).unwrap();
    store.close().unwrap();
    let sealed = files(dir.path(), FileKind::Sealed);
    let batches = read_parquet(&dir.path().join(&sealed[0]));
    let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let src = arrow::array::AsArray::as_fixed_size_binary(b.column_by_name("src_addr").unwrap());
    let s = starts(std::slice::from_ref(&b));
    for i in 1..b.num_rows() {
        let (a, c) = (src.value(i - 1), src.value(i));
        assert!(a <= c, "src_addr ascending");
        if a == c {
            let dst = arrow::array::AsArray::as_fixed_size_binary(b.column_by_name("dst_addr").unwrap());
            assert!(dst.value(i - 1) < dst.value(i) || (dst.value(i - 1) == dst.value(i) && s[i - 1] <= s[i]));
        }
    }
}

#[test]
fn a_batch_without_the_flow_schema_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    let narrow = flows(1, T0, 1, 3).project(&[0, 1]).unwrap();
    assert!(matches!(
        store.append(&narrow),
        Err(engine::EngineError::BadBatch { .. })
    ));
    assert_eq!(store.append(&flows(1, T0, 1, 0)).unwrap().rows, 0);
}
