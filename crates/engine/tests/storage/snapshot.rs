//! Snapshots while a writer seals concurrently: never a window twice, never one missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::{FlowSnapshot, FlowStore, StoreConfig};

use crate::common::*;

#[test]
fn snapshots_during_sealing_always_see_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        segment_rows: 80,
        window: Duration::from_secs(60),
        ..config(dir.path())
    };
    let (mut store, _) = FlowStore::open(cfg).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader_done = Arc::clone(&done);
    let data_dir = dir.path().to_path_buf();
    // The reader checks that every snapshot's total is one of the totals the writer passed.
    let reader = std::thread::spawn(move || {
        let mut checked = 0;
        while !reader_done.load(Ordering::Acquire) {
            let snap = FlowSnapshot::take(&data_dir).unwrap();
            let mut total: usize = snap.open_rows();
            for p in &snap.parquet_files {
                total += rows(&read_parquet(p));
            }
            assert_eq!(
                total % 40,
                0,
                "a snapshot saw a partial batch or a window twice: {total}"
            );
            checked += 1;
        }
        checked
    });
    for k in 0..60 {
        store.append(&flows(1, T0 + k * 20_000, 1, 40)).unwrap();
        store.maintain(T0 + k * 20_000).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let closed = store.close().unwrap();
    done.store(true, Ordering::Release);
    let checked = reader.join().unwrap();
    assert!(checked > 0);
    assert_eq!(closed.stats.rows_sealed, 2400);
    let snap = FlowSnapshot::take(dir.path()).unwrap();
    let total: usize = snap.parquet_files.iter().map(|p| rows(&read_parquet(p))).sum();
    assert_eq!((total, snap.open_rows()), (2400, 0));
}
