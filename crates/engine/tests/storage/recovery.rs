//! Recovery at open: torn logs, crashes between rename and delete, stray temporary files.

use std::fs::OpenOptions;

use engine::layout::FileKind;
use engine::{FlowSnapshot, FlowStore};

use crate::common::*;

/// Appends two batches and "crashes" (drops the store without sealing); returns the log path
/// and its size after the first batch.
fn crash_with_two_batches(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let (mut store, _) = FlowStore::open(config(dir)).unwrap();
    store.append(&flows(1, T0, 10, 300)).unwrap();
    let wal = dir.join(&files(dir, FileKind::Wal)[0]);
    let after_first = std::fs::metadata(&wal).unwrap().len();
    store.append(&flows(1, T0 + 5, 10, 200)).unwrap();
    drop(store);
    (wal, after_first)
}

#[test]
fn a_torn_log_keeps_its_complete_batches_and_counts_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, after_first) = crash_with_two_batches(dir.path());
    let full = std::fs::metadata(&wal).unwrap().len();
    let cut_at = after_first + (full - after_first) / 2;
    OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(cut_at)
        .unwrap();

    // A reader before recovery sees the complete batch and skips the torn tail.
    let snap = FlowSnapshot::take(dir.path()).unwrap();
    assert_eq!((snap.open_rows(), snap.bytes_skipped), (300, cut_at - after_first));

    let (store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!(report.wal_files, 1);
    assert_eq!(report.rows_recovered, 300);
    assert_eq!(report.bytes_cut, cut_at - after_first);
    assert_eq!(report.windows_sealed, 1);
    store.close().unwrap();
    assert!(files(dir.path(), FileKind::Wal).is_empty());
    let sealed = files(dir.path(), FileKind::Sealed);
    let batches = read_parquet(&dir.path().join(&sealed[0]));
    assert_eq!(rows(&batches), 300);
    assert_eq!(sum_bytes(&batches), 300 * 301 / 2);
}

#[test]
fn an_intact_log_without_end_marker_recovers_every_row() {
    let dir = tempfile::tempdir().unwrap();
    crash_with_two_batches(dir.path());
    let (store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!((report.rows_recovered, report.bytes_cut), (500, 0));
    store.close().unwrap();
}

#[test]
fn a_crash_between_rename_and_delete_does_not_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = crash_with_two_batches(dir.path());
    let saved = std::fs::read(&wal).unwrap();
    let (store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!(report.rows_recovered, 500);
    drop(store);
    // Put the log back beside its Parquet file, and leave a stray temporary file.
    std::fs::write(&wal, &saved).unwrap();
    let stray = wal.with_file_name("20261122T1105Z-7.parquet.tmp");
    std::fs::write(&stray, b"partial").unwrap();

    let snap = FlowSnapshot::take(dir.path()).unwrap();
    assert_eq!(
        (snap.parquet_files.len(), snap.open_rows()),
        (1, 0),
        "the log is not counted twice"
    );

    let (store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!(report.duplicates_removed, 1);
    assert_eq!(report.tmp_removed, 1);
    assert_eq!(report.rows_recovered, 0);
    store.close().unwrap();
    assert!(!stray.exists() && !wal.exists());
    let sealed = files(dir.path(), FileKind::Sealed);
    assert_eq!(sealed.len(), 1);
    assert_eq!(rows(&read_parquet(&dir.path().join(&sealed[0]))), 500);
}

#[test]
fn a_log_of_garbage_is_cut_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("flows/exporter=10.0.0.1/date=2026-11-22/hour=11");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::write(part.join("20261122T1105Z.arrows"), vec![0xab; 1000]).unwrap();
    let (store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!(
        (report.wal_files, report.rows_recovered, report.bytes_cut),
        (1, 0, 1000)
    );
    store.close().unwrap();
    assert!(files(dir.path(), FileKind::Wal).is_empty());
}

#[test]
fn rollups_are_written_per_part_and_strays_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0, 10, 300)).unwrap();
    store.append(&flows(2, T0, 10, 100)).unwrap();
    let closed = store.close().unwrap();
    let sealed = files(dir.path(), FileKind::Sealed);
    let rollups = files(dir.path(), FileKind::Rollup);
    assert_eq!(sealed.len(), 2);
    assert_eq!(rollups.len(), 3 * sealed.len(), "{rollups:?}");
    let on_disk: u64 = rollups
        .iter()
        .map(|p| std::fs::metadata(dir.path().join(p)).unwrap().len())
        .sum();
    assert_eq!(closed.stats.rollup_bytes, on_disk);
    // A rollup whose part is gone (a seal that crashed before its rename, then sealed again
    // with another span), and a rollup being written when the node died.
    let kept = dir.path().join(&rollups[0]);
    let stray = kept.with_file_name(kept.file_name().unwrap().to_str().unwrap().replacen('Z', "Z-7", 1));
    std::fs::copy(&kept, &stray).unwrap();
    let tmp = stray.with_extension("rollup.tmp");
    std::fs::write(&tmp, b"half").unwrap();
    let (store, report) = FlowStore::open(config(dir.path())).unwrap();
    assert_eq!((report.rollups_removed, report.tmp_removed), (1, 1));
    assert!(!stray.exists() && !tmp.exists() && kept.exists());
    assert_eq!(files(dir.path(), FileKind::Rollup), rollups);
    store.close().unwrap();
}
