use std::path::{Path, PathBuf};

use super::*;
use crate::addr::from_v4_u32;
use crate::batch::{FlowBatchBuilder, FlowRecord};
use crate::layout::{FileKind, partition_dir, with_kind};
use crate::rollup::{RollupFile, RollupKind, build_rollup, write_rollup};

const DAY: i64 = 86_400_000;

/// A sealed part (an empty file: refreshing reads names only) of the window at `start`, with
/// its rollups; returns its stem path.
fn part(data: &Path, start: i64) -> PathBuf {
    let exporter = from_v4_u32(0x7f00_0001);
    let mut builder = FlowBatchBuilder::with_capacity(1);
    builder.append(&FlowRecord {
        flow_start: start,
        exporter,
        bytes: Some(10),
        ..FlowRecord::default()
    });
    let flows = builder.finish();
    let dir = partition_dir(data, &exporter, start).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let stem = dir.join(
        WindowName {
            start_ms: start,
            part: 0,
        }
        .stem()
        .unwrap(),
    );
    std::fs::write(with_kind(&stem, FileKind::Sealed), b"").unwrap();
    for kind in RollupKind::ALL {
        let batch = build_rollup(&flows, kind).unwrap().unwrap();
        write_rollup(&RollupFile::new(&stem, kind, start, start), &batch).unwrap();
    }
    stem
}

fn summed(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_str().unwrap();
            name.starts_with("hour-") || name.starts_with("day-")
        })
        .count()
}

#[test]
fn an_hour_sealed_into_waits_until_quiet_then_its_day_follows() {
    let data = tempfile::tempdir().unwrap();
    let day = 20_000 * DAY;
    let now = day + DAY + HOUR_MS;
    let (a, b) = (part(data.path(), day), part(data.path(), day + 300_000));
    let hour_dir = a.parent().unwrap().to_path_buf();
    let date_dir = hour_dir.parent().unwrap().to_path_buf();
    let mut queue = HourQueue::default();
    assert_eq!(queue.ready_in(now), None);
    queue.sealed(&a, now);
    queue.sealed(&b, now + 1_000);
    // Not quiet yet: nothing refreshed, and the wait is until 5 s after the last seal.
    assert_eq!(queue.ready_in(now + 2_000), Some(Duration::from_millis(4_000)));
    assert_eq!(queue.refresh_one(now + 2_000).bytes, 0);
    assert_eq!(summed(&hour_dir), 0);
    assert_eq!(queue.ready_in(now + 6_000), Some(Duration::ZERO));
    assert!(queue.refresh_one(now + 6_000).bytes > 0);
    assert_eq!(summed(&hour_dir), 3);
    // Then its passed day (from the one hourly rollup per kind: nothing to sum twice).
    assert_eq!(queue.ready_in(now + 6_000), Some(Duration::ZERO));
    queue.refresh_one(now + 6_000);
    assert_eq!(queue.ready_in(now + 6_000), None);
    assert_eq!(summed(&date_dir), 0);
}

#[test]
fn an_hour_not_yet_passed_is_not_queued_and_found_hours_are_only_passed_ones() {
    let data = tempfile::tempdir().unwrap();
    let day = 20_000 * DAY;
    let a = part(data.path(), day + HOUR_MS - 300_000);
    part(data.path(), day + HOUR_MS);
    let mut queue = HourQueue::default();
    queue.sealed(&a, day + HOUR_MS - 1);
    assert_eq!(queue.ready_in(day + DAY), None, "sealed before its hour ended");
    let found = HourQueue::found_at_open(data.path(), day + HOUR_MS + 1).unwrap();
    assert_eq!(found.found, [a.parent().unwrap()]);
}

#[test]
fn closing_refreshes_what_was_sealed_into_whether_quiet_or_not() {
    let data = tempfile::tempdir().unwrap();
    let day = 20_000 * DAY;
    let now = day + DAY + HOUR_MS;
    let stems = [part(data.path(), day), part(data.path(), day + HOUR_MS)];
    part(data.path(), day + HOUR_MS + 300_000);
    let mut queue = HourQueue::default();
    for stem in &stems {
        queue.sealed(stem, now);
    }
    let done = queue.refresh_sealed(now);
    assert_eq!(done.errors, 0);
    let date_dir = stems[0].parent().unwrap().parent().unwrap();
    // The second hour has two parts: summed; the day from hour 00's part and hour 01's sum.
    assert_eq!(summed(stems[1].parent().unwrap()), 3);
    assert_eq!(summed(date_dir), 3);
    assert_eq!(queue.ready_in(now), None);
}
