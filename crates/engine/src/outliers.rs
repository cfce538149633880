//! The index of a channel's parts that hold flows dated outside their hour directory, so a query
//! over a time range lists only the hour directories of that range (see
//! [`crate::layout::list_files_within`]) and still finds every flow in it.
//!
//! A flow is stored in the window of its `flow_start`, in the directory of that window's hour,
//! with two exceptions: a flow whose `flow_start` is implausible (see `store::split`) is filed in
//! the window of the moment it was stored, and a window longer than an hour holds flows past its
//! hour. A part holding such a flow gets a marker, `exporter=<addr>/outliers/<stem>` (an empty
//! file named after the part's stem), written before the flow reaches the part's log.
//!
//! The index of a channel is trusted only once `outliers/complete` exists. The store writes it
//! when it creates a channel, and, for a channel written before the index existed, at open after
//! marking the parts whose rollups' span leaves their hour (or that have no rollups). A channel
//! without it is walked whole. Retention removes a part's marker with the part.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::layout::{HOUR_MS, WindowName, hour_dir, list_dirs, parse_exporter_dir, sync_dir};
use crate::snapshot::{Channels, FlowSnapshot};

/// Name of the index directory in a channel directory.
pub const OUTLIERS_DIR: &str = "outliers";
/// Name of the file that says a channel's index is complete.
const COMPLETE: &str = "complete";

/// The channel directory of a part (`<channel>/date=D/hour=H/<stem>`).
fn channel_of(stem_path: &Path) -> Option<&Path> {
    stem_path.parent()?.parent()?.parent()
}

/// The marker of the part `stem_path` (a path without extension).
pub fn marker_of(stem_path: &Path) -> Option<PathBuf> {
    Some(channel_of(stem_path)?.join(OUTLIERS_DIR).join(stem_path.file_name()?))
}

/// Whether a part of the window starting at `window_start_ms` holding flows that start from
/// `first_ms` to `last_ms` has flows outside its hour directory.
pub fn leaves_hour(window_start_ms: i64, first_ms: i64, last_ms: i64) -> bool {
    let hour = window_start_ms - window_start_ms.rem_euclid(HOUR_MS);
    first_ms < hour || last_ms >= hour + HOUR_MS
}

/// Writes the marker of the part `stem_path`, durably (the file and its directory entry are
/// fsynced before this returns).
pub fn mark(stem_path: &Path) -> Result<()> {
    let marker = marker_of(stem_path).ok_or_else(|| EngineError::BadBatch {
        reason: format!("{} is not a part of a channel", stem_path.display()),
    })?;
    write_empty(&marker, "write outlier marker")
}

/// Creates the empty file `path` and its directory, durably (the file and its directory entry
/// are fsynced); `what` names the write in an error.
fn write_empty(path: &Path, what: &'static str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::layout::ensure_dir(dir)?;
    fs::File::create(path)
        .and_then(|f| f.sync_all())
        .map_err(EngineError::io(what, path))?;
    sync_dir(dir)
}

/// Removes the marker of the part `stem_path`, if it has one.
pub fn unmark(stem_path: &Path) -> std::io::Result<()> {
    let Some(marker) = marker_of(stem_path) else {
        return Ok(());
    };
    match fs::remove_file(marker) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether the index of `channel_dir` is complete.
pub fn is_complete(channel_dir: &Path) -> bool {
    channel_dir.join(OUTLIERS_DIR).join(COMPLETE).is_file()
}

/// Says the index of `channel_dir` is complete (durably).
pub fn complete(channel_dir: &Path) -> Result<()> {
    write_empty(
        &channel_dir.join(OUTLIERS_DIR).join(COMPLETE),
        "write outlier index flag",
    )
}

/// The parts marked in `channel_dir`'s index, as stem paths (`<channel>/date=D/hour=H/<stem>`),
/// sorted.
pub fn marked_parts(channel_dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = channel_dir.join(OUTLIERS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EngineError::io("list directory", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str() else { continue };
        if let Some(window) = WindowName::parse(stem) {
            out.push(hour_dir(channel_dir, window.start_ms)?.join(stem));
        }
    }
    out.sort();
    Ok(out)
}

/// The hour directories of the parts marked in `channel_dir`'s index.
pub fn marked_dirs(channel_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = marked_parts(channel_dir)?
        .into_iter()
        .filter_map(|stem| stem.parent().map(Path::to_path_buf))
        .collect();
    out.dedup();
    Ok(out)
}

/// Completes the index of every channel of `data_dir` written before it existed: marks each
/// part whose rollups do not show it within its hour, then says the index is complete. Runs
/// when the store opens, after recovery (so no log is left).
pub fn index_old_channels(data_dir: &Path) -> Result<usize> {
    let mut indexed = 0;
    for (_, channel) in list_dirs(&crate::layout::flows_root(data_dir))? {
        if is_complete(&channel) {
            continue;
        }
        let Some(exporter) = channel
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_exporter_dir)
        else {
            continue;
        };
        let only = Channels::Only([exporter].into());
        let snapshot = FlowSnapshot::take_channels(data_dir, &only)?;
        let spans = snapshot.part_spans();
        let parts = snapshot
            .parquet_files
            .iter()
            .filter_map(|p| crate::layout::stem_path(p));
        for stem in parts {
            let window = stem.file_name().and_then(|n| n.to_str()).and_then(WindowName::parse);
            let inside = match (window, spans.get(&stem)) {
                (Some(w), Some(&(first, last))) => !leaves_hour(w.start_ms, first, last),
                _ => false,
            };
            if !inside {
                mark(&stem)?;
            }
        }
        complete(&channel)?;
        indexed += 1;
    }
    Ok(indexed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_leaves_its_hour_only_past_either_end() {
        let window = 10 * HOUR_MS + 5 * 60_000;
        assert!(!leaves_hour(window, 10 * HOUR_MS, 11 * HOUR_MS - 1));
        assert!(leaves_hour(window, 10 * HOUR_MS - 1, 10 * HOUR_MS + 1));
        assert!(leaves_hour(window, 10 * HOUR_MS, 11 * HOUR_MS));
    }

    #[test]
    fn markers_name_their_parts_hour_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let channel = tmp.path().join("flows/exporter=10.0.0.1");
        let start = 1_795_345_500_000; // 2026-11-22 11:05 UTC
        let hour = hour_dir(&channel, start).unwrap();
        let stem = hour.join(
            WindowName {
                start_ms: start,
                part: 1,
            }
            .stem()
            .unwrap(),
        );
        assert!(!is_complete(&channel));
        mark(&stem).unwrap();
        assert_eq!(marked_dirs(&channel).unwrap(), vec![hour.clone()]);
        complete(&channel).unwrap();
        assert!(is_complete(&channel));
        assert_eq!(marked_dirs(&channel).unwrap(), vec![hour], "the flag is no marker");
        unmark(&stem).unwrap();
        unmark(&stem).unwrap();
        assert!(marked_dirs(&channel).unwrap().is_empty());
    }

    /// Flows every 10 minutes over the last 6 hours, and 5 dated 3 days ahead (beyond the
    /// store's lead, so filed in the current window).
    fn store_six_hours(data_dir: &Path) -> (i64, i64) {
        use crate::{FlowBatchBuilder, FlowRecord, FlowStore, StoreConfig};
        let now = crate::clock::now_ms();
        let ahead = now + 3 * 24 * HOUR_MS;
        let mut b = FlowBatchBuilder::with_capacity(64);
        let starts = (1..=36).map(|i| now - i * 600_000).chain((0..5).map(|i| ahead + i));
        for t in starts {
            b.append(&FlowRecord {
                flow_start: t,
                exporter: crate::addr::from_v4_u32(0x0a00_0001),
                ..Default::default()
            });
        }
        let config = StoreConfig {
            fsync_interval: std::time::Duration::ZERO,
            ..StoreConfig::new(data_dir)
        };
        let (mut store, _) = FlowStore::open(config).unwrap();
        store.append(&b.finish()).unwrap();
        store.close().unwrap();
        (now, ahead)
    }

    fn hour_dirs(snapshot: &FlowSnapshot) -> std::collections::BTreeSet<PathBuf> {
        snapshot
            .parquet_files
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect()
    }

    #[test]
    fn a_time_range_walks_its_hours_and_the_marked_parts_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (now, ahead) = store_six_hours(tmp.path());
        let channel = crate::layout::channel_dir(tmp.path(), &crate::addr::from_v4_u32(0x0a00_0001));
        assert!(is_complete(&channel));
        let current = hour_dir(&channel, now - now.rem_euclid(300_000)).unwrap();
        assert_eq!(marked_dirs(&channel).unwrap(), vec![current.clone()]);

        let all = FlowSnapshot::take(tmp.path()).unwrap();
        assert!(hour_dirs(&all).len() >= 6, "{:?}", hour_dirs(&all));
        // 20 minutes, 5 hours ago: its hour (or two), and the marked part's hour.
        let old = now - 5 * HOUR_MS;
        let some = FlowSnapshot::take_within(tmp.path(), &Channels::All, Some((old, old + 1_200_000))).unwrap();
        let dirs = hour_dirs(&some);
        assert!(dirs.len() <= 3 && dirs.contains(&current), "{dirs:?}");
        assert!(some.parquet_files.len() < all.parquet_files.len());
        assert!(some.parquet_files.iter().any(|p| p.parent() != Some(current.as_path())));
        // Three days ahead: no hour directory of its own, found through the index.
        let later = FlowSnapshot::take_within(tmp.path(), &Channels::All, Some((ahead, ahead + 10))).unwrap();
        assert_eq!(hour_dirs(&later), [current.clone()].into());
    }

    #[test]
    fn a_channel_stored_before_the_index_is_indexed_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (now, _) = store_six_hours(tmp.path());
        let channel = crate::layout::channel_dir(tmp.path(), &crate::addr::from_v4_u32(0x0a00_0001));
        let before = marked_dirs(&channel).unwrap();
        fs::remove_dir_all(channel.join(OUTLIERS_DIR)).unwrap();
        let whole = FlowSnapshot::take_within(tmp.path(), &Channels::All, Some((now, now))).unwrap();
        assert_eq!(
            whole.parquet_files.len(),
            FlowSnapshot::take(tmp.path()).unwrap().parquet_files.len()
        );

        let config = crate::StoreConfig::new(tmp.path());
        let (store, report) = crate::FlowStore::open(config).unwrap();
        assert_eq!(report.channels_indexed, 1);
        assert!(is_complete(&channel));
        assert_eq!(
            marked_dirs(&channel).unwrap(),
            before,
            "the part with flows 3 days ahead"
        );
        store.close().unwrap();
        let (_, again) = crate::FlowStore::open(crate::StoreConfig::new(tmp.path())).unwrap();
        assert_eq!(again.channels_indexed, 0);
    }

    #[test]
    fn a_window_longer_than_an_hour_marks_the_parts_that_spill_past_it() {
        use crate::{FlowBatchBuilder, FlowRecord, FlowStore, StoreConfig};
        let tmp = tempfile::tempdir().unwrap();
        let now = crate::clock::now_ms();
        let window = 2 * HOUR_MS;
        // One flow in each hour of the last two-hour window that has ended.
        let start = now - now.rem_euclid(window) - window;
        let mut b = FlowBatchBuilder::with_capacity(2);
        for t in [start + 60_000, start + HOUR_MS + 60_000] {
            b.append(&FlowRecord {
                flow_start: t,
                exporter: crate::addr::from_v4_u32(0x0a00_0002),
                ..Default::default()
            });
        }
        let config = StoreConfig {
            window: std::time::Duration::from_secs(7200),
            ..StoreConfig::new(tmp.path())
        };
        let (mut store, _) = FlowStore::open(config).unwrap();
        store.append(&b.finish()).unwrap();
        store.close().unwrap();
        let channel = crate::layout::channel_dir(tmp.path(), &crate::addr::from_v4_u32(0x0a00_0002));
        let first_hour = hour_dir(&channel, start).unwrap();
        assert_eq!(marked_dirs(&channel).unwrap(), vec![first_hour.clone()]);
        // The second hour has no directory of its own: its flow is found in the first's.
        let second = start + HOUR_MS;
        let snapshot =
            FlowSnapshot::take_within(tmp.path(), &Channels::All, Some((second, second + HOUR_MS - 1))).unwrap();
        assert_eq!(hour_dirs(&snapshot), [first_hour].into());
    }
}
