use std::path::Path;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;

use super::*;
use crate::addr::from_v4_u32;
use crate::batch::{FlowBatchBuilder, FlowRecord};
use crate::rollup::sum::read_rollup;
use crate::rollup::{SumLevel, refresh_day};
use crate::schema::flow_schema;
use std::ffi::OsStr;

/// A window of `n` flows from one exporter, with repeated keys, nulls and a sum that wraps.
fn window(seed: u32, n: u32) -> RecordBatch {
    let mut builder = FlowBatchBuilder::with_capacity(n as usize);
    for i in 0..n {
        let k = (i * 7 + seed) % 5;
        builder.append(&FlowRecord {
            flow_start: 1_000 * i64::from(seed) + i64::from(i),
            exporter: from_v4_u32(0x7f00_0001),
            src_addr: (k != 4).then(|| from_v4_u32(0x0a00_0000 + k)),
            dst_addr: Some(from_v4_u32(0x0b00_0000 + (i % 3))),
            protocol: Some(if k.is_multiple_of(2) { 6 } else { 17 }),
            dst_port: (k != 3).then_some(443 + k as u16),
            packets: (k != 1).then_some(u64::from(i)),
            bytes: Some(if i == 0 { u64::MAX - 5 } else { u64::from(i) * 100 }),
            ..FlowRecord::default()
        });
    }
    builder.finish()
}

/// Writes a sealed part (an empty file: refreshing reads names only) and its rollups.
fn part(dir: &Path, stem: &str, flows: &RecordBatch, kinds: &[RollupKind]) {
    let stem = dir.join(stem);
    std::fs::write(crate::layout::with_kind(&stem, FileKind::Sealed), b"").unwrap();
    for &kind in kinds {
        let batch = crate::rollup::build_rollup(flows, kind).unwrap().unwrap();
        write_rollup(&RollupFile::new(&stem, kind, 0, 1), &batch).unwrap();
    }
}

/// `r` holds what a rollup of all of `flows` would.
fn assert_sums(r: &RollupFile, flows: &RecordBatch) {
    let expected = crate::rollup::build_rollup(flows, r.kind).unwrap().unwrap();
    let read = read_rollup(&r.path).unwrap();
    assert_eq!(
        concat_batches(&r.kind.schema(), &read).unwrap(),
        expected,
        "{:?}",
        r.kind
    );
}

fn hourly(dir: &Path) -> Vec<RollupFile> {
    let mut out: Vec<RollupFile> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| RollupFile::parse(&e.unwrap().path()))
        .filter(|r| PartSet::of_rollup(r).is_some())
        .collect();
    out.sort_by_key(|r| r.kind);
    out
}

#[test]
fn an_hour_sums_its_parts_rollups_as_one_window_of_all_their_flows_would() {
    let dir = tempfile::tempdir().unwrap();
    let windows = [window(1, 40), window(2, 25), window(3, 33)];
    for (i, w) in windows.iter().enumerate() {
        part(dir.path(), &format!("20260101T00{:02}Z", i * 5), w, &RollupKind::ALL);
    }
    let done = refresh_hour(dir.path(), Duration::ZERO).unwrap();
    assert_eq!((done.written, done.removed), (3, 0));
    let all = concat_batches(&flow_schema(), &windows).unwrap();
    let found = hourly(dir.path());
    assert_eq!(found.len(), 3);
    for r in &found {
        assert_sums(r, &all);
        assert_eq!((r.first_start_ms, r.last_start_ms), (0, 1));
        assert_eq!(PartSet::of_rollup(r).unwrap().parts, 3);
    }
    // Up to date: nothing to do.
    assert_eq!(refresh_hour(dir.path(), Duration::ZERO).unwrap(), SumRefresh::default());
}

#[test]
fn a_new_part_makes_the_hour_stale_and_the_refresh_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    part(dir.path(), "20260101T0000Z", &window(1, 10), &RollupKind::ALL);
    part(dir.path(), "20260101T0005Z", &window(2, 10), &RollupKind::ALL);
    refresh_hour(dir.path(), Duration::ZERO).unwrap();
    let before = hourly(dir.path());
    part(dir.path(), "20260101T0005Z-1", &window(3, 10), &RollupKind::ALL);
    let done = refresh_hour(dir.path(), Duration::ZERO).unwrap();
    assert_eq!((done.written, done.removed), (3, 3));
    let after = hourly(dir.path());
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|r| !before.contains(r)));
    assert_eq!(PartSet::of_rollup(&after[0]).unwrap().parts, 3);
}

#[test]
fn a_kind_some_part_lacks_and_a_single_part_get_no_hourly_rollup() {
    let dir = tempfile::tempdir().unwrap();
    part(dir.path(), "20260101T0000Z", &window(1, 10), &RollupKind::ALL);
    assert_eq!(refresh_hour(dir.path(), Duration::ZERO).unwrap().written, 0, "one part");
    part(
        dir.path(),
        "20260101T0005Z",
        &window(2, 10),
        &[RollupKind::Src, RollupKind::Dst],
    );
    assert_eq!(refresh_hour(dir.path(), Duration::ZERO).unwrap().written, 2);
    let kinds: Vec<RollupKind> = hourly(dir.path()).iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RollupKind::Src, RollupKind::Dst]);
}

#[test]
fn an_expired_part_leaves_the_set() {
    let dir = tempfile::tempdir().unwrap();
    for (i, stem) in ["20260101T0000Z", "20260101T0005Z", "20260101T0010Z"]
        .iter()
        .enumerate()
    {
        part(dir.path(), stem, &window(i as u32, 10), &RollupKind::ALL);
    }
    refresh_hour(dir.path(), Duration::ZERO).unwrap();
    let stem = dir.path().join("20260101T0000Z");
    std::fs::write(crate::layout::with_kind(&stem, FileKind::Expired), b"").unwrap();
    let done = refresh_hour(dir.path(), Duration::ZERO).unwrap();
    assert_eq!((done.written, done.removed), (3, 3));
    let set = PartSet::of_rollup(&hourly(dir.path())[0]).unwrap();
    assert_eq!(
        set,
        PartSet::of(
            SumLevel::Hour,
            [
                OsStr::new("20260101T0005Z.parquet"),
                OsStr::new("20260101T0010Z.parquet")
            ]
        )
    );
}

#[test]
fn part_sets_name_hourly_stems_only() {
    let hour = SumLevel::Hour;
    let set = PartSet::of(hour, [OsStr::new("b.parquet"), OsStr::new("a.parquet")]);
    assert_eq!(
        set,
        PartSet::of(hour, [OsStr::new("a.parquet"), OsStr::new("b.parquet")])
    );
    assert_ne!(set, PartSet::of(hour, [OsStr::new("a.parquet")]));
    assert_ne!(
        set,
        PartSet::of(hour, [OsStr::new("a.parquetb"), OsStr::new(".parquet")])
    );
    let day = PartSet::of(SumLevel::Day, [OsStr::new("b.parquet"), OsStr::new("a.parquet")]);
    assert_ne!(set, day);
    assert_eq!(PartSet::from_stem(&day.stem()), Some(day));
    assert!(day.stem().starts_with("day-"));
    assert_eq!(PartSet::from_stem(&set.stem()), Some(set));
    assert_eq!(PartSet::from_stem("20260101T0000Z"), None);
    let part = RollupFile::parse(Path::new("/d/20260101T0000Z.src.1.2.rollup")).unwrap();
    assert_eq!(PartSet::of_rollup(&part), None);
    let summed = RollupFile::parse(&Path::new("/d").join(format!("{}.port.1.2.rollup", set.stem()))).unwrap();
    assert_eq!(PartSet::of_rollup(&summed), Some(set));
}

#[test]
fn a_stale_hourly_rollup_stays_for_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    part(dir.path(), "20260101T0000Z", &window(1, 10), &RollupKind::ALL);
    part(dir.path(), "20260101T0005Z", &window(2, 10), &RollupKind::ALL);
    refresh_hour(dir.path(), STALE_GRACE).unwrap();
    part(dir.path(), "20260101T0010Z", &window(3, 10), &RollupKind::ALL);
    let done = refresh_hour(dir.path(), STALE_GRACE).unwrap();
    assert_eq!(
        (done.written, done.removed),
        (3, 0),
        "a query may still read the old ones"
    );
    assert_eq!(hourly(dir.path()).len(), 6);
    let done = refresh_hour(dir.path(), Duration::ZERO).unwrap();
    assert_eq!((done.written, done.removed), (0, 3));
}

#[test]
fn a_day_sums_its_hours_from_their_hourly_rollups_or_their_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (h0, h1) = (dir.path().join("hour=00"), dir.path().join("hour=01"));
    std::fs::create_dir_all(&h0).unwrap();
    std::fs::create_dir_all(&h1).unwrap();
    let windows = [window(1, 20), window(2, 30), window(3, 15), window(4, 12)];
    part(&h0, "20260101T0000Z", &windows[0], &RollupKind::ALL);
    part(&h0, "20260101T0005Z", &windows[1], &RollupKind::ALL);
    part(&h1, "20260101T0100Z", &windows[2], &RollupKind::ALL);
    part(&h1, "20260101T0105Z", &windows[3], &[RollupKind::Src, RollupKind::Dst]);
    refresh_hour(&h0, Duration::ZERO).unwrap();
    // Hour 00 from its hourly rollups; hour 01 (none: not refreshed) from its parts' rollups,
    // so the kind one part lacks gets no daily rollup.
    let done = refresh_day(dir.path(), Duration::ZERO).unwrap();
    assert_eq!((done.written, done.removed), (2, 0));
    let all = concat_batches(&flow_schema(), &windows).unwrap();
    let days = hourly(dir.path());
    assert_eq!(
        days.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [RollupKind::Src, RollupKind::Dst]
    );
    for r in &days {
        let set = PartSet::of_rollup(r).unwrap();
        assert_eq!((set.level, set.parts), (SumLevel::Day, 4));
        assert_sums(r, &all);
    }
    assert_eq!(refresh_day(dir.path(), Duration::ZERO).unwrap(), SumRefresh::default());
    // A part more in hour 01: the day's set changes.
    part(&h1, "20260101T0110Z", &window(5, 9), &[RollupKind::Src]);
    let done = refresh_day(dir.path(), Duration::ZERO).unwrap();
    assert_eq!((done.written, done.removed), (1, 2));
}
