use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::decide::{Doomed, Reason, decide, due};
use super::inventory::{Channel, ExpiredPart, SealedPart, Window};
use super::*;
use crate::addr::from_v4_u32;
use crate::layout::{FileKind, WindowName, partition_dir, stem_path, with_kind};
use crate::snapshot::FlowSnapshot;

/// 2026-11-22 11:05:00 UTC.
const T0: i64 = 1_795_345_500_000;
const W: i64 = 300_000;
const HOUR: Duration = Duration::from_secs(3600);
const GRACE: Duration = Duration::from_secs(300);

/// A run of 5-minute windows with `grace`.
fn run(grace: Duration, now_ms: i64, action: Action) -> RetentionRun {
    RetentionRun {
        window: Duration::from_secs(300),
        grace,
        now_ms,
        action,
    }
}

fn exporter(n: u8) -> Addr16 {
    from_v4_u32(0x0a00_0000 | u32::from(n))
}

/// A channel with windows at `T0 + i * W` for each `(i, bytes, busy)`.
fn channel(n: u8, windows: &[(i64, u64, bool)]) -> Channel {
    let mut map = BTreeMap::new();
    for &(i, bytes, busy) in windows {
        let parts = if bytes == 0 {
            Vec::new()
        } else {
            vec![SealedPart {
                path: PathBuf::from(format!("/x/{n}/{i}.parquet")),
                bytes,
            }]
        };
        map.insert(
            T0 + i * W,
            Window {
                parts,
                expired: Vec::new(),
                busy,
            },
        );
    }
    Channel {
        exporter: exporter(n),
        dir: PathBuf::from(format!("/x/{n}")),
        windows: map,
    }
}

fn doomed(channel: usize, i: i64, reason: Reason) -> Doomed {
    Doomed {
        channel,
        start_ms: T0 + i * W,
        reason,
    }
}

#[test]
fn age_removes_windows_whose_end_is_before_the_cutoff() {
    let channels = [channel(1, &[(0, 10, false), (1, 10, false), (2, 10, false)])];
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(HOUR),
        max_bytes: None,
    });
    // Now = end of window 1 + 1 h: window 0 ended before the cutoff, window 1 exactly at it.
    let now = T0 + 2 * W + 3_600_000;
    assert_eq!(decide(&channels, &rules, W, now), vec![doomed(0, 0, Reason::Age)]);
    assert_eq!(
        decide(&channels, &rules, W, now + 1),
        vec![doomed(0, 0, Reason::Age), doomed(0, 1, Reason::Age)]
    );
    assert!(decide(&channels, &RetentionRules::default(), W, i64::MAX).is_empty());
}

#[test]
fn size_removes_the_oldest_windows_of_the_oversize_channel_only() {
    let channels = [
        channel(1, &[(0, 40, false), (1, 40, false), (2, 40, false)]),
        channel(2, &[(0, 40, false), (1, 40, false)]),
    ];
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: None,
        max_bytes: Some(80),
    });
    assert_eq!(
        decide(&channels, &rules, W, T0),
        vec![doomed(0, 0, Reason::ChannelSize)]
    );
    let tight = RetentionRules::new(RetentionPolicy {
        max_age: None,
        max_bytes: Some(79),
    });
    assert_eq!(
        decide(&channels, &tight, W, T0),
        vec![
            doomed(0, 0, Reason::ChannelSize),
            doomed(0, 1, Reason::ChannelSize),
            doomed(1, 0, Reason::ChannelSize)
        ]
    );
}

#[test]
fn busy_windows_count_but_stay_and_the_next_oldest_goes() {
    // Window 0 has a late part still open; it counts toward the size but cannot go.
    let channels = [channel(
        1,
        &[(0, 50, true), (1, 50, false), (2, 50, false), (3, 0, true)],
    )];
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(Duration::from_millis(1)),
        max_bytes: Some(100),
    });
    let d = decide(&channels, &rules, W, T0 + 4 * W);
    assert_eq!(d, vec![doomed(0, 1, Reason::Age), doomed(0, 2, Reason::Age)]);
    let sized = RetentionRules::new(RetentionPolicy {
        max_age: None,
        max_bytes: Some(60),
    });
    assert_eq!(
        decide(&channels, &sized, W, T0),
        vec![doomed(0, 1, Reason::ChannelSize), doomed(0, 2, Reason::ChannelSize)]
    );
}

#[test]
fn per_exporter_overrides_replace_the_default() {
    let channels = [
        channel(1, &[(0, 10, false), (1, 10, false)]),
        channel(2, &[(0, 10, false), (1, 10, false)]),
    ];
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(Duration::from_millis(1)),
        max_bytes: None,
    })
    .with_exporter(exporter(2), RetentionPolicy::default());
    assert!(!rules.keeps_everything());
    assert_eq!(
        decide(&channels, &rules, W, T0 + 10 * W),
        vec![doomed(0, 0, Reason::Age), doomed(0, 1, Reason::Age)]
    );
}

#[test]
fn the_total_cap_removes_the_oldest_windows_of_any_channel() {
    let channels = [
        channel(1, &[(1, 10, false), (2, 10, false)]),
        channel(2, &[(0, 10, false), (1, 10, false), (3, 10, false)]),
    ];
    let rules = RetentionRules::default().with_max_total_bytes(Some(25));
    // 50 bytes: remove window 0 (channel 2), then window 1 of channel 1 (tie: lower exporter), then
    // window 1 of channel 2.
    assert_eq!(
        decide(&channels, &rules, W, T0),
        vec![
            doomed(0, 1, Reason::TotalSize),
            doomed(1, 0, Reason::TotalSize),
            doomed(1, 1, Reason::TotalSize)
        ]
    );
}

/// Writes a fake window file of `bytes` bytes; retention never reads contents.
fn fake(data: &Path, e: u8, start: i64, part: u32, kind: FileKind, bytes: usize) -> PathBuf {
    let dir = partition_dir(data, &exporter(e), start).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let stem = dir.join(WindowName { start_ms: start, part }.stem().unwrap());
    let path = with_kind(&stem, kind);
    std::fs::write(&path, vec![7u8; bytes]).unwrap();
    path
}

#[test]
fn removal_keeps_logs_and_odd_files_and_prunes_empty_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let day = 86_400_000;
    // Channel 1: two old windows (one in two parts) a day ago, one recent window.
    let old_a = fake(data, 1, T0 - day, 0, FileKind::Sealed, 100);
    let old_a1 = fake(data, 1, T0 - day, 1, FileKind::Sealed, 30);
    let old_b = fake(data, 1, T0 - day + W, 0, FileKind::Sealed, 50);
    let recent = fake(data, 1, T0, 0, FileKind::Sealed, 70);
    // An old window with an open late part, and an old seal in progress: both kept.
    let busy = fake(data, 1, T0 - day + 2 * W, 0, FileKind::Sealed, 10);
    let log = fake(data, 1, T0 - day + 2 * W, 1, FileKind::Wal, 10);
    let tmp_seal = fake(data, 1, T0 - day + 3 * W, 0, FileKind::SealTmp, 10);
    // Odd files and directories are ignored.
    let odd = old_b.with_file_name("notes.txt");
    std::fs::write(&odd, "x").unwrap();
    std::fs::create_dir_all(data.join("flows/lost+found")).unwrap();
    std::fs::write(old_b.with_file_name("garbage.parquet"), "x").unwrap();
    // Channel 2: only old data; its whole directory goes.
    let other = fake(data, 2, T0 - 2 * day, 0, FileKind::Sealed, 20);

    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(HOUR),
        max_bytes: None,
    });
    let now = T0 + W;
    let dry = enforce(data, &rules, run(Duration::ZERO, now, Action::DryRun)).unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.files_expired(), dry.bytes_expired()), (4, 200));
    assert_eq!((dry.files_removed(), dry.bytes_freed()), (4, 200));
    assert!(old_a.exists() && other.exists(), "a dry run removes nothing");

    // A zero grace expires and removes in one run, without markers.
    let report = enforce(data, &rules, run(Duration::ZERO, now, Action::Remove)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!((report.bytes_expired(), report.bytes_pending()), (200, 0));
    assert_eq!(report.files_removed(), 4);
    assert_eq!(report.bytes_freed(), 100 + 30 + 50 + 20);
    for gone in [&old_a, &old_a1, &old_b, &other] {
        assert!(!gone.exists(), "{} should be removed", gone.display());
    }
    for kept in [&recent, &busy, &log, &tmp_seal, &odd] {
        assert!(kept.exists(), "{} should be kept", kept.display());
    }
    assert!(markers(data).is_empty(), "{:?}", markers(data));
    let one = report.channel(&exporter(1)).unwrap();
    assert_eq!((one.expired.len(), one.freed.len()), (2, 2));
    assert_eq!(one.oldest_kept_ms, Some(T0 - day + 2 * W));
    assert_eq!(one.bytes_kept, 80);
    let two = report.channel(&exporter(2)).unwrap();
    assert_eq!((two.bytes_freed(), two.windows_kept, two.oldest_kept_ms), (20, 0, None));
    assert!(
        !data.join("flows/exporter=10.0.0.2").exists(),
        "the emptied channel directory is removed"
    );
    assert!(data.join("flows/lost+found").exists());

    // A second run finds nothing more to do.
    let again = enforce(data, &rules, run(Duration::ZERO, now, Action::Remove)).unwrap();
    assert_eq!(
        (again.files_expired(), again.files_removed(), again.issues.len()),
        (0, 0, 0)
    );
}

#[test]
fn a_missing_flow_table_is_empty_and_a_zero_window_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(HOUR),
        max_bytes: None,
    });
    let report = enforce(tmp.path(), &rules, run(GRACE, T0, Action::Remove)).unwrap();
    assert!(report.channels.is_empty());
    let no_window = RetentionRun {
        window: Duration::ZERO,
        ..run(GRACE, T0, Action::Remove)
    };
    assert!(enforce(tmp.path(), &rules, no_window).is_err());
}

#[test]
fn a_failed_deletion_is_reported_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let stuck = fake(data, 1, T0 - 86_400_000, 0, FileKind::Sealed, 10);
    let free = fake(data, 2, T0 - 86_400_000, 0, FileKind::Sealed, 20);
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(HOUR),
        max_bytes: None,
    });
    let mut issues = Vec::new();
    let channels = inventory::take(data, &mut issues).unwrap();
    let chosen = decide(&channels, &rules, W, T0);
    assert_eq!(chosen.len(), 2);
    let expired = expire::expire(&channels, &chosen, T0, true, &mut issues);
    let fresh: Vec<_> = expired
        .iter()
        .map(|e| (e.channel, e.window.start_ms, e.parts.clone()))
        .collect();
    let due = due(&channels, &fresh, 0, T0);
    assert_eq!(due.len(), 2);
    // Between expiry and deletion the first file becomes something unlink refuses (a
    // directory, even for root).
    std::fs::remove_file(&stuck).unwrap();
    std::fs::create_dir_all(stuck.join("inside")).unwrap();
    let removed = remove::remove(data, &due, &mut issues);
    assert!(stuck.exists() && !free.exists());
    assert_eq!(removed.iter().map(|w| w.bytes_freed).sum::<u64>(), 20);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].kind, IssueKind::Remove);
    assert!(
        issues[0].error.to_string().contains("remove window"),
        "{}",
        issues[0].error
    );
    assert_eq!(
        markers(data),
        vec![marker_of(&stuck)],
        "a part that could not be removed stays hidden"
    );
}

/// The marker of the sealed part at `path`.
fn marker_of(path: &Path) -> PathBuf {
    with_kind(&stem_path(path).unwrap(), FileKind::Expired)
}

/// Every expiry marker under the flow table, sorted.
fn markers(data: &Path) -> Vec<PathBuf> {
    crate::layout::list_files(data)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| *k == FileKind::Expired)
        .map(|(_, p)| p)
        .collect()
}

fn snapshot_files(data: &Path) -> Vec<PathBuf> {
    FlowSnapshot::take(data).unwrap().parquet_files
}

#[test]
fn a_grace_hides_windows_first_and_removes_them_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let day = 86_400_000;
    let old_a = fake(data, 1, T0 - day, 0, FileKind::Sealed, 100);
    let old_a1 = fake(data, 1, T0 - day, 1, FileKind::Sealed, 30);
    let recent = fake(data, 1, T0, 0, FileKind::Sealed, 70);
    let other = fake(data, 2, T0 - 2 * day, 0, FileKind::Sealed, 20);
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(HOUR),
        max_bytes: None,
    });
    let now = T0 + W;

    // Phase 1: expired, hidden from new snapshots, still on disk.
    let report = enforce(data, &rules, run(GRACE, now, Action::Remove)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!((report.windows_expired(), report.bytes_expired()), (2, 150));
    assert_eq!((report.files_removed(), report.bytes_freed()), (0, 0));
    assert_eq!((report.bytes_kept(), report.bytes_pending()), (70, 150));
    let one = report.channel(&exporter(1)).unwrap();
    assert_eq!(one.expired[0].files, vec![old_a1.clone(), old_a.clone()], "by path");
    assert_eq!(one.expired[0].reason, Reason::Age);
    for path in [&old_a, &old_a1, &other] {
        assert!(path.exists(), "{} stays for the grace", path.display());
        let marker = std::fs::read_to_string(marker_of(path)).unwrap();
        assert_eq!(marker.trim(), now.to_string());
    }
    assert_eq!(snapshot_files(data), vec![recent.clone()]);

    // Within the grace: nothing more expires (expired windows are not decided again), nothing
    // is removed.
    let report = enforce(data, &rules, run(GRACE, now + 299_999, Action::Remove)).unwrap();
    assert_eq!((report.files_expired(), report.files_removed()), (0, 0));
    assert_eq!((report.bytes_kept(), report.bytes_pending()), (70, 150));
    let dry = enforce(data, &rules, run(GRACE, now + 300_000, Action::DryRun)).unwrap();
    assert_eq!((dry.files_removed(), dry.bytes_freed()), (3, 150));
    assert!(old_a.exists(), "a dry run removes nothing");

    // Phase 2: the grace has passed.
    let report = enforce(data, &rules, run(GRACE, now + 300_000, Action::Remove)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!((report.files_expired(), report.files_removed()), (0, 3));
    assert_eq!((report.bytes_freed(), report.bytes_pending()), (150, 0));
    assert_eq!(report.windows_freed(), 2);
    for path in [&old_a, &old_a1, &other] {
        assert!(!path.exists() && !marker_of(path).exists(), "{}", path.display());
    }
    assert!(recent.exists());
    assert!(
        !data.join("flows/exporter=10.0.0.2").exists(),
        "emptied directories are pruned"
    );
    assert_eq!(report.channel(&exporter(1)).unwrap().oldest_kept_ms, Some(T0));
}

#[test]
fn expired_windows_count_toward_no_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    for i in 0..4 {
        fake(data, 1, T0 + i * W, 0, FileKind::Sealed, 40);
    }
    fake(data, 2, T0 - W, 0, FileKind::Sealed, 40);
    let sized = RetentionRules::new(RetentionPolicy {
        max_age: None,
        max_bytes: Some(80),
    });
    let report = enforce(data, &sized, run(GRACE, T0, Action::Remove)).unwrap();
    let one = report.channel(&exporter(1)).unwrap();
    let reasons: Vec<_> = one.expired.iter().map(|w| (w.start_ms, w.reason)).collect();
    assert_eq!(reasons, vec![(T0, Reason::ChannelSize), (T0 + W, Reason::ChannelSize)]);
    assert_eq!((one.bytes_kept, one.bytes_pending), (80, 80));
    // Were the expired bytes still counted, the next run would expire the two newest too.
    let again = enforce(data, &sized, run(GRACE, T0 + 1, Action::Remove)).unwrap();
    assert_eq!(again.windows_expired(), 0);
    // The store-wide cap weighs only what queries still see: 80 + 40 bytes.
    let capped = RetentionRules::default().with_max_total_bytes(Some(120));
    let report = enforce(data, &capped, run(GRACE, T0 + 2, Action::Remove)).unwrap();
    assert_eq!(report.windows_expired(), 0);
    let capped = RetentionRules::default().with_max_total_bytes(Some(119));
    let report = enforce(data, &capped, run(GRACE, T0 + 3, Action::Remove)).unwrap();
    let two = report.channel(&exporter(2)).unwrap();
    assert_eq!(
        two.expired.iter().map(|w| w.reason).collect::<Vec<_>>(),
        vec![Reason::TotalSize]
    );
}

#[test]
fn a_late_part_after_expiry_is_a_part_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let old = T0 - 86_400_000;
    let first = fake(data, 1, old, 0, FileKind::Sealed, 100);
    let rules = RetentionRules::new(RetentionPolicy {
        max_age: Some(HOUR),
        max_bytes: None,
    });
    let report = enforce(data, &rules, run(GRACE, T0, Action::Remove)).unwrap();
    assert_eq!(report.bytes_expired(), 100);
    // The store files late flows of the window in a new part: the marker keeps part 0 taken.
    let dir = first.parent().unwrap();
    assert_eq!(crate::layout::next_part(dir, old).unwrap(), 1);
    let late = fake(data, 1, old, 1, FileKind::Sealed, 10);
    assert_eq!(
        snapshot_files(data),
        vec![late.clone()],
        "the late part is seen, not the expired one"
    );

    // The late part is expired in its turn; the first part is removed when its grace is over.
    let report = enforce(data, &rules, run(GRACE, T0 + 60_000, Action::Remove)).unwrap();
    assert_eq!((report.bytes_expired(), report.bytes_freed()), (10, 0));
    assert!(snapshot_files(data).is_empty());
    let report = enforce(data, &rules, run(GRACE, T0 + 300_000, Action::Remove)).unwrap();
    assert_eq!((report.bytes_freed(), report.bytes_pending()), (100, 10));
    assert!(!first.exists() && late.exists());
    let report = enforce(data, &rules, run(GRACE, T0 + 360_000, Action::Remove)).unwrap();
    assert_eq!((report.bytes_freed(), report.bytes_pending()), (10, 0));
    assert!(!data.join("flows/exporter=10.0.0.1").exists());
}

#[test]
fn a_lone_marker_goes_and_a_marker_without_its_time_uses_its_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    // A crash before a marker's content reached the disk.
    let torn = fake(data, 2, T0, 0, FileKind::Sealed, 10);
    std::fs::write(marker_of(&torn), "").unwrap();
    let wall = crate::clock::now_ms();
    // A run stopped between unlinking a part and its marker, 10 minutes ago.
    let gone = fake(data, 1, T0, 0, FileKind::Sealed, 10);
    std::fs::write(marker_of(&gone), (wall - 600_000).to_string()).unwrap();
    std::fs::remove_file(&gone).unwrap();
    assert!(
        snapshot_files(data).is_empty(),
        "a marker hides its part, whatever its content"
    );

    let mut issues = Vec::new();
    let channels = inventory::take(data, &mut issues).unwrap();
    assert!(issues.is_empty(), "{issues:?}");
    let expired: Vec<&ExpiredPart> = channels.iter().flat_map(|c| &c.windows[&T0].expired).collect();
    assert_eq!(expired.len(), 2);
    assert_eq!((expired[0].bytes, expired[0].expired_ms), (0, wall - 600_000));
    assert!(
        (wall - 60_000..=wall).contains(&expired[1].expired_ms),
        "{}",
        expired[1].expired_ms
    );

    let keep = RetentionRules::default();
    let report = enforce(data, &keep, run(GRACE, wall, Action::Remove)).unwrap();
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(report.windows_freed(), 0, "a lone marker frees nothing");
    assert!(!data.join("flows/exporter=10.0.0.1").exists(), "and goes");
    assert!(torn.exists(), "not due yet by its mtime");
    let report = enforce(data, &keep, run(GRACE, wall + 300_000, Action::Remove)).unwrap();
    assert_eq!(report.bytes_freed(), 10);
    assert!(!torn.exists());
}
