//! Retention over windows written by the real store: age and size policies, per-exporter
//! overrides, open logs untouched, empty directories removed, SQL over what remains, and a query
//! planned before a window expired that still reads it to the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use engine::layout::FileKind;
use engine::store::retention::{Action, Reason, RetentionPolicy, RetentionRules, RetentionRun, enforce};
use engine::{FlowStore, StoreConfig, register_flows};

use crate::common::*;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// A run over 5-minute windows at `now_ms`, removing at once.
fn at_once(now_ms: i64) -> RetentionRun {
    RetentionRun {
        window: Duration::from_secs(300),
        grace: Duration::ZERO,
        now_ms,
        action: Action::Remove,
    }
}

/// The test configuration, filing every flow in its own window whatever the wall clock says.
fn cfg(dir: &Path) -> StoreConfig {
    StoreConfig {
        max_lateness: Duration::from_secs(100 * 365 * 86_400),
        max_lead: Duration::from_secs(100 * 365 * 86_400),
        ..config(dir)
    }
}

/// Sealed files of the window starting at `start` of exporter 10.0.0.`e`, with their sizes.
fn window_files(dir: &Path, e: u8, start: i64) -> Vec<(PathBuf, u64)> {
    let stem = engine::layout::WindowName {
        start_ms: start,
        part: 0,
    }
    .stem()
    .unwrap();
    let partition = engine::layout::partition_dir(dir, &exporter(e), start).unwrap();
    files(dir, FileKind::Sealed)
        .into_iter()
        .map(|p| dir.join(p))
        .filter(|p| p.parent() == Some(partition.as_path()))
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&stem))
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len() + rollup_bytes(dir, &p);
            (p, len)
        })
        .collect()
}

/// Bytes of the rollups of the sealed part at `part` (retention counts them with the part).
fn rollup_bytes(dir: &Path, part: &Path) -> u64 {
    let stem = engine::layout::stem_path(part).unwrap();
    files(dir, FileKind::Rollup)
        .into_iter()
        .map(|p| dir.join(p))
        .filter(|p| engine::layout::stem_path(p).as_deref() == Some(stem.as_path()))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn bytes_of(files: &[(PathBuf, u64)]) -> u64 {
    files.iter().map(|(_, b)| b).sum()
}

async fn count(dir: &Path) -> i64 {
    let ctx = SessionContext::new();
    register_flows(&ctx, dir).await.unwrap();
    let out = ctx
        .sql("SELECT count(*) FROM flows")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    out[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn age_removes_exactly_the_old_windows_and_keeps_open_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let old = T0 - 2 * DAY;
    let (mut store, _) = FlowStore::open(cfg(dir)).unwrap();
    store.append(&flows(1, old, 100, 500)).unwrap();
    store.append(&flows(1, old + W, 100, 400)).unwrap();
    store.append(&flows(1, T0, 100, 300)).unwrap();
    store.append(&flows(2, old, 100, 200)).unwrap();
    store.append(&flows(2, T0 - HOUR, 100, 100)).unwrap();
    store.append(&flows(3, old, 100, 50)).unwrap();
    store.close().unwrap();
    // A late part of an old window after it was sealed: two parts that go together.
    let (mut store, _) = FlowStore::open(cfg(dir)).unwrap();
    store.append(&flows(1, old + W, 1, 40)).unwrap();
    store.close().unwrap();
    // Still open while retention runs: an old window of exporter 1 and a current one.
    let (mut store, _) = FlowStore::open(cfg(dir)).unwrap();
    store.append(&flows(1, old + 2 * W, 100, 30)).unwrap();
    store.append(&flows(2, T0, 100, 20)).unwrap();
    let logs_before = files(dir, FileKind::Wal);
    assert_eq!(logs_before.len(), 2);

    let old_1 = [window_files(dir, 1, old), window_files(dir, 1, old + W)].concat();
    let old_2 = window_files(dir, 2, old);
    assert_eq!(old_1.len(), 3, "exporter 1's old windows: one part, then two");
    let hourly = |dir: &Path| {
        files(dir, FileKind::Rollup)
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("hour-"))
            .count()
    };
    assert_eq!(
        hourly(dir),
        6,
        "exporter 1's old hour: its first two parts summed (stale now, kept for a query that may read \
         them), then all three; one rollup per kind"
    );
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(Duration::from_secs(86_400)),
        max_bytes: None,
    })
    .with_exporter(exporter(3), RetentionPolicy::default());
    let now = T0 + W;
    let report = enforce(dir, &rules, at_once(now)).unwrap();

    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(report.files_expired(), 4);
    assert_eq!(report.files_removed(), 4);
    assert_eq!(report.bytes_freed(), bytes_of(&old_1) + bytes_of(&old_2));
    for (path, _) in old_1.iter().chain(&old_2) {
        assert!(!path.exists(), "{} should be removed", path.display());
    }
    let one = report.channel(&exporter(1)).unwrap();
    assert_eq!(
        one.expired.iter().map(|w| (w.start_ms, w.reason)).collect::<Vec<_>>(),
        vec![(old, Reason::Age), (old + W, Reason::Age)]
    );
    assert_eq!(one.bytes_freed(), bytes_of(&old_1));
    assert_eq!(one.oldest_kept_ms, Some(T0), "the open old window has no sealed part");
    assert_eq!(report.channel(&exporter(2)).unwrap().oldest_kept_ms, Some(T0 - HOUR));
    let three = report.channel(&exporter(3)).unwrap();
    assert_eq!((three.files_removed(), three.oldest_kept_ms), (0, Some(old)));

    assert_eq!(files(dir, FileKind::Wal), logs_before, "open logs are never removed");
    let sealed = files(dir, FileKind::Sealed);
    let rollups = files(dir, FileKind::Rollup);
    assert_eq!(rollups.len(), 3 * sealed.len(), "a removed part's rollups go with it");
    assert_eq!(hourly(dir), 0, "and so do its hour's");
    for rollup in &rollups {
        let stem = engine::layout::stem_path(rollup).unwrap();
        assert!(sealed.contains(&engine::layout::with_kind(&stem, FileKind::Sealed)));
    }
    let old_date = |e: u8| {
        engine::layout::partition_dir(dir, &exporter(e), old)
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf()
    };
    assert!(!old_date(2).exists(), "exporter 2's emptied date directory is removed");
    assert!(old_date(1).exists(), "exporter 1's old hour still holds an open log");
    assert!(old_date(3).exists());

    // What SQL sees is exactly the kept windows plus the open logs.
    assert_eq!(count(dir).await, 300 + 100 + 50 + 30 + 20);
    store.close().unwrap();
}

#[tokio::test]
async fn size_removes_the_oldest_windows_of_the_oversize_channel_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut store, _) = FlowStore::open(cfg(dir)).unwrap();
    for i in 0..4 {
        store.append(&flows(1, T0 + i * W, 100, 1000)).unwrap();
    }
    store.append(&flows(2, T0 - DAY, 100, 500)).unwrap();
    store.close().unwrap();
    let per_window: Vec<u64> = (0..4).map(|i| bytes_of(&window_files(dir, 1, T0 + i * W))).collect();
    let channel_2 = bytes_of(&window_files(dir, 2, T0 - DAY));
    // Room for exporter 1's two newest windows only; exporter 2 (older, but small) fits.
    let max = per_window[2] + per_window[3];
    assert!(channel_2 < max);
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: None,
        max_bytes: Some(max),
    });

    let dry_run = RetentionRun {
        action: Action::DryRun,
        ..at_once(T0)
    };
    let dry = enforce(dir, &rules, dry_run).unwrap();
    assert_eq!(dry.bytes_freed(), per_window[0] + per_window[1]);
    assert_eq!(count(dir).await, 4500, "a dry run removes nothing");

    let report = enforce(dir, &rules, at_once(T0)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    let one = report.channel(&exporter(1)).unwrap();
    assert_eq!(
        one.expired.iter().map(|w| (w.start_ms, w.reason)).collect::<Vec<_>>(),
        vec![(T0, Reason::ChannelSize), (T0 + W, Reason::ChannelSize)]
    );
    assert_eq!(report.bytes_freed(), per_window[0] + per_window[1]);
    assert_eq!((one.bytes_kept, one.oldest_kept_ms), (max, Some(T0 + 2 * W)));
    assert_eq!(report.channel(&exporter(2)).unwrap().files_removed(), 0);
    assert_eq!(count(dir).await, 2000 + 500);

    // The store-wide cap then takes the oldest window of any channel: exporter 2's.
    let capped = RetentionRules::default().with_max_total_bytes(Some(max));
    let report = enforce(dir, &capped, at_once(T0)).unwrap();
    assert_eq!(report.files_removed(), 1);
    assert_eq!(report.channel(&exporter(2)).unwrap().bytes_freed(), channel_2);
    assert_eq!(count(dir).await, 2000);
}

/// Runs `plan` to the end and returns `sum(bytes)`, or the error.
#[tokio::test]
async fn a_removed_days_summed_rollups_go_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let day = T0 - T0.rem_euclid(DAY) - 2 * DAY;
    let (mut store, _) = FlowStore::open(cfg(dir)).unwrap();
    for hour in [0, 1] {
        store.append(&flows(1, day + hour * HOUR, 100, 50)).unwrap();
        store.append(&flows(1, day + hour * HOUR + W, 100, 50)).unwrap();
    }
    store.close().unwrap();
    let summed = |prefix: &str| {
        files(dir, FileKind::Rollup)
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
            .count()
    };
    // Two parts an hour: each hour summed, and the day from its two hours.
    assert_eq!((summed("hour-"), summed("day-")), (6, 3));
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(Duration::from_secs(86_400)),
        max_bytes: None,
    });
    let report = enforce(dir, &rules, at_once(T0 + W)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(report.files_removed(), 4);
    assert!(
        files(dir, FileKind::Rollup).is_empty(),
        "{:?}",
        files(dir, FileKind::Rollup)
    );
    let date_dir = engine::layout::partition_dir(dir, &exporter(1), day).unwrap();
    assert!(
        !date_dir.parent().unwrap().exists(),
        "the emptied date directory is removed"
    );
}

async fn sum_of(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> Result<u64, String> {
    let out = collect(plan, ctx.task_ctx()).await.map_err(|e| e.to_string())?;
    Ok(out[0].column(0).as_primitive::<UInt64Type>().value(0))
}

#[tokio::test]
async fn a_query_planned_before_a_window_expired_still_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let old = T0 - 2 * DAY;
    let (mut store, _) = FlowStore::open(cfg(dir)).unwrap();
    store.append(&flows(1, old, 100, 500)).unwrap();
    store.append(&flows(1, T0, 100, 300)).unwrap();
    store.close().unwrap();
    let old_files = window_files(dir, 1, old);
    let ctx = SessionContext::new();
    register_flows(&ctx, dir).await.unwrap();
    // `sum` is not answered from Parquet statistics: a plan reads every file it listed.
    let plan = || async {
        ctx.sql("SELECT sum(bytes) FROM flows")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap()
    };
    let tri = |k: u64| k * (k + 1) / 2;
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(Duration::from_secs(86_400)),
        max_bytes: None,
    });
    let run = |now_ms| RetentionRun {
        grace: Duration::from_secs(300),
        ..at_once(now_ms)
    };
    let now = T0 + W;

    // Two queries planned (their files listed) before retention expires the old window.
    let running = plan().await;
    let overlong = plan().await;
    let report = enforce(dir, &rules, run(now)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(report.bytes_expired(), bytes_of(&old_files));
    assert_eq!(report.bytes_freed(), 0);
    // One runs within the grace: it still reads the expired window.
    assert_eq!(sum_of(running, &ctx).await, Ok(tri(500) + tri(300)));
    // A query planned now no longer sees it.
    assert_eq!(sum_of(plan().await, &ctx).await, Ok(tri(300)));

    // After the grace a run frees it.
    let report = enforce(dir, &rules, run(now + 300_000)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(
        (report.bytes_freed(), report.bytes_pending()),
        (bytes_of(&old_files), 0)
    );
    for (path, _) in &old_files {
        assert!(!path.exists(), "{} should be removed", path.display());
    }
    // The other ran longer than the grace (the node's query timeout forbids it): it fails, as
    // every query overlapping a deletion did before the grace.
    let err = sum_of(overlong, &ctx).await.unwrap_err();
    assert!(err.to_lowercase().contains("not found"), "{err}");
    assert_eq!(sum_of(plan().await, &ctx).await, Ok(tri(300)));
}
